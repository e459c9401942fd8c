//! Bad runs end with a clear error that says what went wrong and where.

mod common;

use anyhow::Result;
use burn::module::Module;
use burn::prelude::*;
use burn_lightning::OptimizerSetup;
use burn_lightning::optim::Optimizers;
use burn_lightning::trainer::Limit;
use burn_lightning::{HookContext, LightningModule, Trainer};
use common::mlp::{Batch, Mlp, TwoMoons};

#[derive(Module, Debug)]
struct NanLoss {
    inner: Mlp,
}

impl LightningModule for NanLoss {
    type Batch = Batch;
    fn training_step(
        &mut self,
        batch: &Batch,
        i: usize,
        cx: &mut HookContext,
    ) -> Result<Tensor<1>> {
        let loss = self.inner.training_step(batch, i, cx)?;
        Ok(if i == 2 {
            loss.mul_scalar(f32::NAN)
        } else {
            loss
        })
    }
    fn configure_optimizers(&mut self, trainer: &mut OptimizerSetup<'_>) -> Result<Optimizers> {
        self.inner.configure_optimizers(trainer)
    }
}

fn trainer(dir: &std::path::Path) -> Trainer {
    let mut config = common::quiet_config(dir);
    config.max_epochs = Some(1);
    config.limit_val_batches = Limit::Batches(1);
    Trainer::new(config).seed(3)
}

fn message(e: anyhow::Error) -> String {
    format!("{e:#}")
}

#[test]
fn nan_loss_with_terminate_on_nan_names_epoch_and_batch() {
    let dir = common::temp_dir("nan");
    let mut config = common::quiet_config(&dir);
    config.max_epochs = Some(1);
    config.terminate_on_nan = true;
    let err = Trainer::new(config)
        .fit(
            NanLoss {
                inner: common::seeded_mlp(8),
            },
            &mut TwoMoons::new(200, 16, 1),
            None,
        )
        .unwrap_err();
    let msg = message(err);
    assert!(
        msg.contains("non-finite loss (NaN)") && msg.contains("epoch 0, batch 2"),
        "{msg}"
    );
}

#[test]
fn empty_dataloader_is_an_error() {
    let dir = common::temp_dir("empty");
    let err = trainer(&dir)
        .fit(common::seeded_mlp(8), &mut TwoMoons::new(0, 16, 1), None)
        .unwrap_err();
    let msg = message(err);
    assert!(
        msg.contains("train_dataloader yields no batches") && msg.contains("0 examples"),
        "{msg}"
    );
}

#[test]
fn missing_checkpoint_is_an_error_naming_the_path() {
    let dir = common::temp_dir("missing");
    let err = trainer(&dir)
        .fit(
            common::seeded_mlp(8),
            &mut TwoMoons::new(100, 16, 1),
            Some("/nonexistent/x.ckpt"),
        )
        .unwrap_err();
    assert!(message(err).contains("checkpoint /nonexistent/x.ckpt does not exist"));
    let err = trainer(&dir)
        .fit(
            common::seeded_mlp(8),
            &mut TwoMoons::new(100, 16, 1),
            Some("last"),
        )
        .unwrap_err();
    assert!(message(err).contains("ckpt_path=last: no last.ckpt"));
}

#[test]
fn corrupted_and_incompatible_checkpoints_are_errors() {
    let dir = common::temp_dir("corrupt");
    let mut t = trainer(&dir);
    t.fit(common::seeded_mlp(8), &mut TwoMoons::new(100, 16, 1), None)
        .unwrap();
    let good = t.last_checkpoint_path().unwrap().to_path_buf();

    let bad = dir.join("bad.ckpt");
    let mut bytes = std::fs::read(&good).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(&bad, &bytes).unwrap();
    let msg = message(
        trainer(&dir)
            .fit(
                common::seeded_mlp(8),
                &mut TwoMoons::new(100, 16, 1),
                Some(bad.to_str().unwrap()),
            )
            .unwrap_err(),
    );
    assert!(
        msg.contains("bad.ckpt") && msg.contains("corrupted"),
        "{msg}"
    );

    let truncated = dir.join("truncated.ckpt");
    std::fs::write(&truncated, &std::fs::read(&good).unwrap()[..100]).unwrap();
    let msg = message(
        trainer(&dir)
            .fit(
                common::seeded_mlp(8),
                &mut TwoMoons::new(100, 16, 1),
                Some(truncated.to_str().unwrap()),
            )
            .unwrap_err(),
    );
    assert!(msg.contains("truncated.ckpt"), "{msg}");

    let msg = message(
        trainer(&dir)
            .fit(
                common::seeded_mlp(4),
                &mut TwoMoons::new(100, 16, 1),
                Some(good.to_str().unwrap()),
            )
            .unwrap_err(),
    );
    assert!(
        msg.contains("incompatible")
            && msg.contains("hidden.weight")
            && msg.contains("[2, 8]")
            && msg.contains("[2, 4]"),
        "{msg}"
    );
}

#[test]
fn monitoring_a_metric_that_was_never_logged_is_an_error() {
    let dir = common::temp_dir("monitor");
    let mut config = common::quiet_config(&dir);
    config.max_epochs = Some(1);
    let mut t = Trainer::new(config).callback(
        burn_lightning::callbacks::ModelCheckpoint::new(dir.join("ck"))
            .monitor("val_los", burn_lightning::optim::Mode::Min),
    );
    let msg = message(
        t.fit(common::seeded_mlp(8), &mut TwoMoons::new(100, 16, 1), None)
            .unwrap_err(),
    );
    assert!(
        msg.contains("monitor=`val_los`") && msg.contains("val_loss"),
        "{msg}"
    );
}
