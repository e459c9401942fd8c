//! `etm -f configs/etm.yaml`: trains the Embedded Topic Model (see the crate's `cli` module).

fn main() -> std::process::ExitCode {
    burn_lightning::cli::main::<etm::cli::EtmApp>()
}
