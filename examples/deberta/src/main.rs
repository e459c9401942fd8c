//! `deberta -f configs/deberta.yaml`: fine-tunes a DeBERTa-v3 classifier (see the crate's `cli`
//! module).

fn main() -> std::process::ExitCode {
    burn_lightning::cli::main::<deberta::cli::DebertaApp>()
}
