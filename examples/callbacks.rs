//! The callbacks that reach the module, each on the README's MLP:
//! `cargo run --release --example callbacks -- ema|swa|finetune|predict`.
#[path = "mlp.rs"]
mod mlp;

use anyhow::{Result, bail};
use burn_lightning::callbacks::{
    BackboneFinetuning, BasePredictionWriter, CsvPredictionWriter, LearningRateMonitor,
    StochasticWeightAveraging, SwaStart, WeightAveraging, WriteInterval,
};
use burn_lightning::{ModuleHandle, Trainer, TrainerConfig};
use mlp::{Mlp, TwoMoons};

fn main() -> Result<()> {
    let which = std::env::args().nth(1).unwrap_or_else(|| "ema".into());
    let config = TrainerConfig {
        max_epochs: Some(10),
        accelerator: burn_lightning::trainer::Accelerator::Cpu,
        enable_progress_bar: false,
        ..Default::default()
    };
    let mut data = TwoMoons::new(2000, 64, 7);
    match which.as_str() {
        // Validation, the returned module and checkpoints use the exponential moving average.
        "ema" => {
            let mut trainer = Trainer::new(config)
                .seed(7)
                .callback(WeightAveraging::ema(0.99));
            trainer.fit(Mlp::new(32), &mut data, None)?;
            println!(
                "val_acc of the EMA weights: {:.3}",
                trainer.callback_metrics()["val_acc"]
            );
        }
        // From epoch 6 on: the rate anneals to 1e-3 and the epoch-start weights are averaged.
        "swa" => {
            let swa = StochasticWeightAveraging::new(1e-3)?.swa_epoch_start(SwaStart::Epoch(6))?;
            let mut trainer = Trainer::new(config).seed(7).callback(swa);
            trainer.fit(Mlp::new(32), &mut data, None)?;
            println!(
                "val_acc of the SWA weights: {:.3}",
                trainer.callback_metrics()["val_acc"]
            );
        }
        // `hidden` is frozen for 3 epochs, then trained at a tenth of the rate, rising 1.5× per
        // epoch; the LR monitor logs `lr-optimizer/backbone`.
        "finetune" => {
            let finetune = BackboneFinetuning::new(3).backbone_prefix("hidden");
            let mut trainer = Trainer::new(config)
                .seed(7)
                .callback(finetune)
                .callback(LearningRateMonitor::default());
            let mut module = trainer.fit(Mlp::new(32), &mut data, None)?;
            let handle = ModuleHandle::new(&mut module, None);
            println!(
                "val_acc {:.3}; {} of {} parameters trainable; logs in {}",
                trainer.callback_metrics()["val_acc"],
                handle.num_trainable_parameters(),
                handle.num_parameters(),
                trainer
                    .log_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default()
            );
        }
        // Each predict batch is written to its own CSV as soon as it is made.
        "predict" => {
            let mut trainer = Trainer::new(config.clone()).seed(7);
            let module = trainer.fit(Mlp::new(32), &mut data, None)?;
            let dir = std::env::temp_dir().join("burn-lightning-predictions");
            let writer = BasePredictionWriter::new(
                CsvPredictionWriter::new(&dir),
                WriteInterval::BatchAndEpoch,
            );
            let mut predictor = Trainer::new(config).callback(writer);
            let batches = predictor.predict(module, &mut data, None)?;
            println!("{} batches written to {}", batches.len(), dir.display());
        }
        other => bail!("unknown example `{other}`: use ema, swa, finetune or predict"),
    }
    Ok(())
}
