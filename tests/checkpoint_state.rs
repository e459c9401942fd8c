//! Checkpoints that always resume: non-finite floats in every state round-trip, a NaN metric
//! never becomes "best", a monitored metric that validation has not produced yet skips the
//! top-k save (as in Lightning) instead of failing, and a checkpoint whose state would not read
//! back is refused before it replaces the previous file.

mod common;

use std::path::PathBuf;

use anyhow::Result;
use burn::optim::AdamConfig;
use burn::prelude::*;
use burn_lightning::callbacks::{Callback, ModelCheckpoint};
use burn_lightning::checkpoint::Checkpoint;
use burn_lightning::optim::{LrSchedulerState, Mode, Optimizers, ReduceLrOnPlateau};
use burn_lightning::trainer::Limit;
use burn_lightning::{HookContext, LightningModule, Trainer};
use burn_lightning::{ModuleHandle, OptimizerSetup};
use common::mlp::{Batch, Mlp, TwoMoons};
use serde_json::Value;

/// The MLP with a plateau scheduler on `val_loss`, and a validation metric `val_score` that is
/// NaN in the epochs listed in `nan_epochs` and the validation loss otherwise.
#[derive(Module, Debug)]
struct PlateauMlp {
    inner: Mlp,
    nan_epochs: Vec<usize>,
    plateau: bool,
}

impl LightningModule for PlateauMlp {
    type Batch = Batch;

    fn training_step(
        &mut self,
        batch: &Batch,
        idx: usize,
        cx: &mut HookContext,
    ) -> Result<Tensor<1>> {
        self.inner.training_step(batch, idx, cx)
    }
    fn validation_step(
        &mut self,
        batch: &Batch,
        idx: usize,
        cx: &mut HookContext,
    ) -> Result<Option<Tensor<1>>> {
        let (loss, _) = self.inner.loss(batch);
        let loss = loss.into_scalar::<f32>() as f64;
        let score = if self.nan_epochs.contains(&cx.current_epoch()) {
            f64::NAN
        } else {
            loss
        };
        cx.log("val_score", score);
        // A metric that is NaN in every epoch: its epoch mean and latest value are NaN.
        cx.log("val_nan", f64::NAN);
        self.inner.validation_step(batch, idx, cx)
    }
    fn configure_optimizers(&mut self, _trainer: &mut OptimizerSetup<'_>) -> Result<Optimizers> {
        let optimizers = Optimizers::single(AdamConfig::new().init(), 1e-2);
        Ok(if self.plateau {
            optimizers.with_scheduler(LrSchedulerState::plateau(
                ReduceLrOnPlateau::new(1e-2, Mode::Min, 0.5, 0),
                "val_loss",
            ))
        } else {
            optimizers
        })
    }
}

fn module(nan_epochs: &[usize]) -> PlateauMlp {
    PlateauMlp {
        inner: common::fixed_mlp(8),
        nan_epochs: nan_epochs.to_vec(),
        plateau: true,
    }
}

/// The paper config's failure: the first epoch's checkpoint is written before the plateau
/// scheduler sees its first validation, so it holds `best = inf`; later ones hold NaN metrics.
/// All of them must resume.
#[test]
fn a_checkpoint_with_infinite_and_nan_state_resumes() {
    let dir = common::temp_dir("nonfinite-resume");
    let mut config = common::quiet_config(&dir);
    config.max_epochs = Some(1);
    config.num_sanity_val_steps = 0;
    let mut trainer = Trainer::new(config.clone()).seed(3);
    trainer
        .fit(module(&[]), &mut TwoMoons::new(200, 50, 1), None)
        .unwrap();
    let last = trainer.last_checkpoint_path().unwrap().to_path_buf();
    let ck = Checkpoint::load(&last).unwrap();
    let plateau = String::from_utf8(ck.sections["scheduler.0"].clone()).unwrap();
    assert!(plateau.contains("\"best\":\"inf\""), "{plateau}");

    // Resume to epoch 4: the plateau scheduler steps on each validation.
    config.max_epochs = Some(4);
    let mut trainer = Trainer::new(config.clone()).seed(3);
    trainer
        .fit(
            module(&[]),
            &mut TwoMoons::new(200, 50, 1),
            Some(last.to_str().unwrap()),
        )
        .unwrap();
    assert!(trainer.callback_metrics()["val_nan"].is_nan());
    // That checkpoint has NaN metrics in its state, and it resumes too.
    let last = trainer.last_checkpoint_path().unwrap().to_path_buf();
    let ck = Checkpoint::load(&last).unwrap();
    assert_eq!(
        ck.state.metrics["callback_metrics"]["val_nan"],
        Value::String("NaN".into())
    );
    config.max_epochs = Some(5);
    let mut trainer = Trainer::new(config).seed(3);
    trainer
        .fit(
            module(&[]),
            &mut TwoMoons::new(200, 50, 1),
            Some(last.to_str().unwrap()),
        )
        .unwrap();
    assert_eq!(trainer.progress().epoch, 5, "five epochs done");
    std::fs::remove_dir_all(dir).ok();
}

/// Trains `epochs` epochs with `val_score` NaN in `nan_epochs`, keeping the top 1 by it in
/// `mode`; returns the run's directory and its best checkpoint.
fn best_with_nan(name: &str, mode: Mode, epochs: i64, nan_epochs: &[usize]) -> (PathBuf, PathBuf) {
    let dir = common::temp_dir(name);
    let mut config = common::quiet_config(&dir);
    config.max_epochs = Some(epochs);
    config.num_sanity_val_steps = 0;
    let mut trainer = Trainer::new(config).seed(3).callback(
        ModelCheckpoint::new(dir.join("ck"))
            .monitor("val_score", mode)
            .filename("{epoch}")
            .save_top_k(1),
    );
    trainer
        .fit(module(nan_epochs), &mut TwoMoons::new(200, 50, 1), None)
        .unwrap();
    let best = trainer.best_checkpoint_path().unwrap().to_path_buf();
    (dir, best)
}

/// A NaN validation ranks worst, as in Lightning: with `save_top_k: 1` the first finite epoch
/// replaces it, and `best` resolves to that epoch.
#[test]
fn a_nan_metric_never_becomes_best() {
    let (dir, best) = best_with_nan("nan-best", Mode::Min, 3, &[0, 2]);
    assert_eq!(best, dir.join("ck/epoch=1.ckpt"));
    assert_eq!(
        test_support::tree(&dir.join("ck")),
        ["epoch=1.ckpt", "last.ckpt"]
    );
    // Mode max: NaN is still worst.
    let (dir2, best) = best_with_nan("nan-best-max", Mode::Max, 2, &[1]);
    assert_eq!(best, dir2.join("ck/epoch=0.ckpt"));
    std::fs::remove_dir_all(dir).ok();
    std::fs::remove_dir_all(dir2).ok();
}

/// Validation switched off: the monitored key can never appear, so ModelCheckpoint warns,
/// saves no top-k file and still keeps `last.ckpt` (Lightning's behaviour). Once validation has
/// run, a monitor that is still missing is an error naming it.
#[test]
fn a_monitor_missing_before_validation_keeps_last_only() {
    let dir = common::temp_dir("no-val");
    let mut config = common::quiet_config(&dir);
    config.max_epochs = Some(2);
    config.limit_val_batches = Limit::Batches(0);
    let mut trainer = Trainer::new(config.clone()).seed(3).callback(
        ModelCheckpoint::new(dir.join("ck"))
            .monitor("val_loss", Mode::Min)
            .save_top_k(1),
    );
    let without_plateau = || PlateauMlp {
        plateau: false,
        ..module(&[])
    };
    trainer
        .fit(without_plateau(), &mut TwoMoons::new(200, 50, 1), None)
        .unwrap();
    assert_eq!(test_support::tree(&dir.join("ck")), ["last.ckpt"]);
    assert!(trainer.best_checkpoint_path().is_none());
    Checkpoint::load(&dir.join("ck/last.ckpt")).unwrap();

    config.limit_val_batches = Limit::Fraction(1.0);
    config.num_sanity_val_steps = 0;
    let mut trainer = Trainer::new(config).seed(3).callback(
        ModelCheckpoint::new(dir.join("ck2"))
            .monitor("val_typo", Mode::Min)
            .save_top_k(1),
    );
    let err = trainer
        .fit(without_plateau(), &mut TwoMoons::new(200, 50, 1), None)
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("could not find `val_typo`"), "{text}");
    std::fs::remove_dir_all(dir).ok();
}

/// A callback whose state serde_json cannot represent (a plain `f64` NaN becomes `null`).
#[derive(Default)]
struct LossyState {
    value: f64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct LossyRecord {
    value: f64,
}

impl Callback for LossyState {
    fn state_key(&self) -> String {
        "LossyState".into()
    }
    fn on_train_epoch_end(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        // Finite in the first epoch, NaN afterwards.
        self.value = if cx.current_epoch() == 0 {
            1.0
        } else {
            f64::NAN
        };
        Ok(())
    }
    fn state_dict(&self) -> Value {
        serde_json::to_value(LossyRecord { value: self.value }).unwrap()
    }
    fn load_state_dict(&mut self, state: Value) -> Result<()> {
        self.value = serde_json::from_value::<LossyRecord>(state)?.value;
        Ok(())
    }
    fn check_state_dict(&self, state: &Value) -> Result<()> {
        serde_json::from_value::<LossyRecord>(state.clone())?;
        Ok(())
    }
}

/// The checkpoint is read back before it replaces anything: a state that would not restore is
/// an error naming the callback, and the previous `last.ckpt` stays, whole and loadable.
#[test]
fn an_unreadable_state_is_never_written() {
    let dir = common::temp_dir("read-back");
    let mut config = common::quiet_config(&dir);
    config.max_epochs = Some(2);
    config.num_sanity_val_steps = 0;
    let mut trainer = Trainer::new(config)
        .seed(3)
        .callback(LossyState::default())
        .callback(ModelCheckpoint::new(dir.join("ck")).save_top_k(0));
    let err = trainer
        .fit(module(&[]), &mut TwoMoons::new(200, 50, 1), None)
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("was not written") && text.contains("LossyState"),
        "{text}"
    );
    let last = dir.join("ck/last.ckpt");
    let ck = Checkpoint::load(&last).unwrap();
    assert_eq!(ck.state.progress.epoch, 0, "the epoch-0 checkpoint is kept");
    assert_eq!(ck.state.callbacks["LossyState"]["value"], 1.0);
    // No temporary file is left beside it.
    assert_eq!(test_support::tree(&dir.join("ck")), ["last.ckpt"]);
    std::fs::remove_dir_all(dir).ok();
}

/// Old checkpoints (written before non-finite floats round-tripped) hold `null` where the
/// plateau scheduler's best was ±inf; they resume as "no best yet".
#[test]
fn a_legacy_null_plateau_best_resumes() {
    let mut plateau =
        LrSchedulerState::plateau(ReduceLrOnPlateau::new(1.0, Mode::Min, 0.5, 0), "m");
    let bytes = plateau.to_bytes().unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains("\"best\":\"inf\""), "{text}");
    let legacy = text.replace("\"best\":\"inf\"", "\"best\":null");
    plateau.load_bytes(legacy.as_bytes()).unwrap();
    // The first value becomes the best; a worse one then counts as a bad epoch and halves the
    // rate (patience 0).
    plateau.step(Some(3.0)).unwrap();
    plateau.step(Some(4.0)).unwrap();
    let lr = plateau.to_bytes().unwrap();
    let state: Value = serde_json::from_slice(&lr).unwrap();
    assert_eq!(state["best"], 3.0);
    assert_eq!(state["lr"], 0.5);
}
