//! `bert -f configs/bert.yaml`: pretrains BERT (see the crate's `cli` module).

fn main() -> std::process::ExitCode {
    burn_lightning::cli::main::<bert::cli::BertApp>()
}
