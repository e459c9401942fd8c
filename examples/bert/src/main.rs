//! `bert -f configs/bert.yaml`: pretrains BERT with MLM and NSP (see the crate's `cli` module).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = bert::cli::run(&args) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
