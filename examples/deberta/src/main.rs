//! `deberta -f configs/deberta.yaml`: trains the DeBERTa-v3 classifier (see the crate's `cli`
//! module).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = deberta::cli::run(&args) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
