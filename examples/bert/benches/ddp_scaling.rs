//! DDP scaling on the shipped BERT config (`configs/bert.yaml`: BERT-mini on the news corpus,
//! batch 32 × 128 per rank): training sequences per second on 1 and on 2 CPU ranks
//! (`trainer.devices`), and their ratio. The batch is per rank, as in Lightning, so a step of
//! 2 ranks trains twice the sequences.
//! Run: `cargo bench -p bert --bench ddp_scaling [-- STEPS]` (fetches the corpus into
//! `data/news` and builds its cache once).

use bert::cli::{build_module, load_config};
use bert::datamodule::PretrainingDataModule;
use burn_lightning::callbacks::ThroughputMonitor;
use burn_lightning::{LightningDataModule, Stage};
use test_support::{print_scaling, scaling_overrides, workspace_root};

/// Sequences per second over `steps` optimizer steps on `devices` ranks.
fn sequences_per_second(devices: usize, steps: usize) -> f64 {
    let path = workspace_root().join("configs/bert.yaml");
    let mut config = load_config(&path, &scaling_overrides(devices, steps, "news")).unwrap();
    // The schedule's length (warm-up included) does not change the cost of a step; a fixed one
    // keeps the warm-up longer than this short run valid.
    if let Some(scheduler) = config.scheduler.as_mut() {
        scheduler.params.num_training_steps = Some(10_000);
    }
    let mut data = PretrainingDataModule::new(
        config.dataset.params.clone(),
        config.seed.unwrap_or(0),
        config.model.params.pretrained.clone(),
    );
    data.prepare_data().unwrap();
    data.setup(Stage::Fit).unwrap();
    let (module, _) = build_module(&config, data.tokenizer().unwrap().as_ref()).unwrap();
    let mut trainer = config.trainer().callback(ThroughputMonitor::default());
    trainer.fit(module, &mut data, None).unwrap();
    trainer.callback_metrics()["train/samples_per_sec"]
}

fn main() {
    let steps = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    println!("BERT-mini, configs/bert.yaml (batch 32 x 128 per rank), {steps} steps, flex CPU");
    print_scaling("training sequences", |devices| {
        sequences_per_second(devices, steps)
    });
}
