//! DDP scaling on the shipped ETM config (`configs/etm.yaml`: NYT, batch 64 per rank): training
//! documents per second on 1 and on 2 CPU ranks (`trainer.devices`), and their ratio. The batch
//! is per rank, as in Lightning, so a step of 2 ranks trains twice the documents.
//! Run: `cargo bench -p etm --bench ddp_scaling [-- STEPS]` (fetches NYT into `data/nyt` once).

use burn_lightning::Stage;
use burn_lightning::callbacks::ThroughputMonitor;
use etm::cli::{build_module, load_config, trainer_for};
use etm::datamodule::open_dataset;
use test_support::{print_scaling, scaling_overrides, workspace_root};

/// Documents per second over `steps` optimizer steps on `devices` ranks.
fn documents_per_second(devices: usize, steps: usize) -> f64 {
    let path = workspace_root().join("configs/etm.yaml");
    let config = load_config(&path, &scaling_overrides(devices, steps, "nyt")).unwrap();
    let p = &config.dataset.params;
    let mut data = open_dataset(&config.dataset.name, p, 1, config.model.params.bow_norm).unwrap();
    data.prepare_data().unwrap();
    data.setup(Stage::Fit).unwrap();
    let module = build_module(&config, data.as_ref(), &path).unwrap();
    let mut trainer = trainer_for(&config).callback(ThroughputMonitor::default());
    trainer.fit(module, data.as_mut(), None).unwrap();
    trainer.callback_metrics()["train/samples_per_sec"]
}

fn main() {
    let steps = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(300);
    println!("ETM, configs/etm.yaml (NYT, K 50, batch 64 per rank), {steps} steps, flex CPU");
    print_scaling("training documents", |devices| {
        documents_per_second(devices, steps)
    });
}
