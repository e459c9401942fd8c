//! `etm -f configs/etm.yaml`: trains the Embedded Topic Model (see the crate's `cli` module).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = etm::cli::run(&args) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
