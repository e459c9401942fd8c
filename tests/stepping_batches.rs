//! `estimated_stepping_batches` (what `configure_optimizers` sizes a schedule by) equals the
//! `global_step` the fit then ends at, across `limit_train_batches`, `accumulate_grad_batches`,
//! `max_epochs`, `max_steps` and two DDP ranks: a schedule sized by it ends exactly with the run.

mod common;

use std::sync::{Arc, Mutex};

use anyhow::Result;
use burn::prelude::*;
use burn_lightning::optim::Optimizers;
use burn_lightning::trainer::{Devices, Limit, Strategy};
use burn_lightning::{HookContext, LightningModule, OptimizerSetup, Trainer, TrainerConfig};
use common::mlp::{Batch, Mlp, TwoMoons};

/// Per rank: the estimate `configure_optimizers` got, and the `global_step` at `on_fit_end`.
type Seen = Arc<Mutex<Vec<(&'static str, usize)>>>;

#[derive(Module, Debug)]
struct Counted {
    inner: Mlp,
    #[module(skip)]
    seen: Seen,
}

impl LightningModule for Counted {
    type Batch = Batch;
    fn training_step(
        &mut self,
        batch: &Batch,
        i: usize,
        cx: &mut HookContext,
    ) -> Result<Tensor<1>> {
        self.inner.training_step(batch, i, cx)
    }
    fn configure_optimizers(&mut self, trainer: &mut OptimizerSetup<'_>) -> Result<Optimizers> {
        let estimate = trainer.estimated_stepping_batches()?;
        self.seen.lock().unwrap().push(("estimate", estimate));
        self.inner.configure_optimizers(trainer)
    }
    fn on_fit_end(&mut self, cx: &mut HookContext) -> Result<()> {
        self.seen
            .lock()
            .unwrap()
            .push(("global_step", cx.global_step()));
        Ok(())
    }
}

/// 200 two-moons points: 160 train, so 10 batches of 16 (or 7 of 24, the last one short).
fn run(batch_size: usize, edit: impl FnOnce(&mut TrainerConfig)) -> (usize, usize) {
    let dir = common::temp_dir("stepping-batches");
    let mut config = common::quiet_config(&dir);
    config.limit_val_batches = Limit::Batches(0);
    config.num_sanity_val_steps = 0;
    config.logger = false.into();
    config.enable_checkpointing = false;
    edit(&mut config);
    let seen = Seen::default();
    let module = Counted {
        inner: common::fixed_mlp(4),
        seen: seen.clone(),
    };
    Trainer::new(config)
        .seed(1)
        .fit(module, &mut TwoMoons::new(200, batch_size, 2), None)
        .unwrap();
    std::fs::remove_dir_all(dir).ok();
    let seen = seen.lock().unwrap().clone();
    let of = |what| -> Vec<usize> {
        seen.iter()
            .filter(|(name, _)| *name == what)
            .map(|(_, n)| *n)
            .collect()
    };
    let (estimates, ends) = (of("estimate"), of("global_step"));
    assert!(!estimates.is_empty(), "{seen:?}");
    assert!(
        estimates.iter().chain(&ends).all(|&n| n == estimates[0]),
        "every rank estimates and ends alike: {seen:?}"
    );
    (estimates[0], ends[0])
}

#[test]
fn the_estimate_is_the_step_the_fit_ends_at() {
    type Edit = Box<dyn FnOnce(&mut TrainerConfig)>;
    let cases: Vec<(&str, usize, usize, Edit)> = vec![
        (
            "10 batches, 3 epochs",
            16,
            30,
            Box::new(|c| c.max_epochs = Some(3)),
        ),
        (
            "accumulate 4 over 10 batches: the short last window steps too",
            16,
            9,
            Box::new(|c| {
                c.max_epochs = Some(3);
                c.accumulate_grad_batches = 4;
            }),
        ),
        (
            "limit 7 batches, accumulate 3",
            16,
            6,
            Box::new(|c| {
                c.max_epochs = Some(2);
                c.limit_train_batches = Limit::Batches(7);
                c.accumulate_grad_batches = 3;
            }),
        ),
        (
            "limit half of 7 batches (a short last batch), accumulate 2",
            24,
            4,
            Box::new(|c| {
                c.max_epochs = Some(2);
                c.limit_train_batches = Limit::Fraction(0.5);
                c.accumulate_grad_batches = 2;
            }),
        ),
        (
            "max_steps caps the epochs",
            16,
            7,
            Box::new(|c| {
                c.max_epochs = Some(3);
                c.max_steps = 7;
                c.accumulate_grad_batches = 2;
            }),
        ),
        (
            "max_steps alone, across epochs",
            16,
            13,
            Box::new(|c| {
                c.max_epochs = Some(-1);
                c.max_steps = 13;
            }),
        ),
        (
            "two DDP ranks: 80 examples each, 5 batches, accumulate 2",
            16,
            6,
            Box::new(|c| {
                c.max_epochs = Some(2);
                c.devices = Devices::Count(2);
                c.strategy = Strategy::Ddp;
                c.accumulate_grad_batches = 2;
            }),
        ),
    ];
    for (name, batch_size, expected, edit) in cases {
        let (estimate, end) = run(batch_size, edit);
        assert_eq!(estimate, expected, "{name}: the estimate");
        assert_eq!(end, estimate, "{name}: the fit's last global_step");
    }
}
