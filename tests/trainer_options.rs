//! Trainer options that change how many batches, epochs and validations run, observed from a
//! recording callback: fast_dev_run, overfit_batches, limit_*_batches, val_check_interval,
//! check_val_every_n_epoch, max_time, max_steps, reload_dataloaders_every_n_epochs, on_exception.

mod common;

use std::sync::{Arc, Mutex};

use anyhow::{Result, bail};
use burn::module::Module;
use burn::prelude::*;
use burn_lightning::data::DataLoader;
use burn_lightning::optim::Optimizers;
use burn_lightning::trainer::{FastDevRun, Limit};
use burn_lightning::{
    Callback, HookContext, LightningDataModule, LightningModule, Stage, Trainer, TrainerConfig,
};
use burn_lightning::{ModuleHandle, OptimizerSetup};
use common::mlp::{Batch, Mlp, TwoMoons};

/// What one fit did, as seen by callbacks.
#[derive(Default, Debug)]
struct Seen {
    /// (epoch, batch index) of every training batch.
    train_batches: Vec<(usize, usize)>,
    /// Global step at the start of every validation run (sanity check included).
    validations: Vec<usize>,
    val_batches: usize,
    sanity_checks: usize,
    exceptions: Vec<String>,
    final_step: usize,
}

#[derive(Clone)]
struct Recorder(Arc<Mutex<Seen>>);

impl Callback for Recorder {
    fn state_key(&self) -> String {
        "Recorder".into()
    }
    fn on_sanity_check_start(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _cx: &mut HookContext,
    ) -> Result<()> {
        self.0.lock().unwrap().sanity_checks += 1;
        Ok(())
    }
    fn on_train_batch_start(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        self.0
            .lock()
            .unwrap()
            .train_batches
            .push((cx.current_epoch(), batch_idx));
        Ok(())
    }
    fn on_validation_start(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        self.0.lock().unwrap().validations.push(cx.global_step());
        Ok(())
    }
    fn on_validation_batch_end(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _outputs: Option<&burn::prelude::Tensor<1>>,
        _batch_idx: usize,
        _cx: &mut HookContext,
    ) -> Result<()> {
        self.0.lock().unwrap().val_batches += 1;
        Ok(())
    }
    fn on_exception(&mut self, error: &anyhow::Error, _cx: &mut HookContext) -> Result<()> {
        self.0.lock().unwrap().exceptions.push(format!("{error:#}"));
        Ok(())
    }
    fn on_fit_end(&mut self, _module: &mut ModuleHandle<'_>, cx: &mut HookContext) -> Result<()> {
        self.0.lock().unwrap().final_step = cx.global_step();
        Ok(())
    }
}

/// 160 training examples in batches of 16 (10 batches), 40 validation examples (3 batches).
fn data() -> TwoMoons {
    TwoMoons::new(200, 16, 5)
}

fn fit_with(
    name: &str,
    change: impl FnOnce(&mut TrainerConfig),
) -> (Result<()>, Seen, std::path::PathBuf) {
    let dir = common::temp_dir(name);
    let mut config = common::quiet_config(&dir);
    config.max_epochs = Some(2);
    change(&mut config);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut trainer = Trainer::new(config)
        .seed(11)
        .callback(Recorder(seen.clone()));
    let result = trainer
        .fit(common::seeded_mlp(8), &mut data(), None)
        .map(|_| ());
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    (result, seen, dir)
}

fn checkpoints_under(dir: &std::path::Path) -> usize {
    fn walk(p: &std::path::Path, n: &mut usize) {
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, n);
            } else if path.extension().is_some_and(|x| x == "ckpt") {
                *n += 1;
            }
        }
    }
    let mut n = 0;
    walk(dir, &mut n);
    n
}

#[test]
fn default_run_sees_every_batch_validates_each_epoch_and_checkpoints() {
    let (result, seen, dir) = fit_with("defaults", |_| {});
    result.unwrap();
    assert_eq!(seen.train_batches.len(), 20);
    assert_eq!(seen.sanity_checks, 1);
    // Sanity check (2 batches) at step 0, then one validation (3 batches) per epoch.
    assert_eq!(seen.validations, vec![0, 10, 20]);
    assert_eq!(seen.val_batches, 2 + 3 + 3);
    assert_eq!(seen.final_step, 20);
    assert!(checkpoints_under(&dir) >= 1);
}

#[test]
fn fast_dev_run_runs_one_batch_of_each_loop_and_writes_nothing() {
    let (result, seen, dir) = fit_with("fastdev", |c| {
        c.max_epochs = Some(5);
        c.fast_dev_run = FastDevRun::Flag(true);
    });
    result.unwrap();
    assert_eq!(seen.train_batches, vec![(0, 0)]);
    assert_eq!(seen.sanity_checks, 0, "fast_dev_run skips the sanity check");
    assert_eq!(seen.val_batches, 1);
    assert_eq!(seen.final_step, 1);
    assert_eq!(
        checkpoints_under(&dir),
        0,
        "fast_dev_run writes no checkpoint"
    );

    let (result, seen, _) = fit_with("fastdev3", |c| c.fast_dev_run = FastDevRun::Batches(3));
    result.unwrap();
    assert_eq!(seen.train_batches, vec![(0, 0), (0, 1), (0, 2)]);
    assert_eq!(seen.val_batches, 3);
}

#[test]
fn limit_batches_by_count_and_fraction() {
    let (result, seen, _) = fit_with("limits", |c| {
        c.limit_train_batches = Limit::Fraction(0.5);
        c.limit_val_batches = Limit::Batches(1);
        c.num_sanity_val_steps = 0;
    });
    result.unwrap();
    assert_eq!(seen.train_batches.len(), 10, "half of 10 batches, 2 epochs");
    assert!(seen.train_batches.iter().all(|&(_, b)| b < 5));
    assert_eq!(seen.sanity_checks, 0);
    assert_eq!(seen.val_batches, 2);
}

#[test]
fn val_check_interval_fraction_and_count_and_every_n_epochs() {
    let (result, seen, _) = fit_with("vci-half", |c| {
        c.val_check_interval = Limit::Fraction(0.5);
        c.num_sanity_val_steps = 0;
    });
    result.unwrap();
    assert_eq!(seen.validations, vec![5, 10, 15, 20]);

    let (result, seen, _) = fit_with("vci-count", |c| {
        c.val_check_interval = Limit::Batches(4);
        c.num_sanity_val_steps = 0;
    });
    result.unwrap();
    // Lightning counts an integer interval within each epoch: batches 4 and 8 of each epoch.
    assert_eq!(seen.validations, vec![4, 8, 14, 18]);

    let (result, seen, _) = fit_with("vci-across", |c| {
        c.val_check_interval = Limit::Batches(4);
        c.check_val_every_n_epoch = None;
        c.num_sanity_val_steps = 0;
    });
    result.unwrap();
    assert_eq!(seen.validations, vec![4, 8, 12, 16, 20]);

    let (result, _, _) = fit_with("vci-too-big", |c| c.val_check_interval = Limit::Batches(11));
    let message = format!("{:#}", result.unwrap_err());
    assert!(
        message.contains("val_check_interval (11)") && message.contains("(10)"),
        "{message}"
    );

    let (result, seen, _) = fit_with("every-2", |c| {
        c.max_epochs = Some(4);
        c.check_val_every_n_epoch = Some(2);
        c.num_sanity_val_steps = 0;
    });
    result.unwrap();
    assert_eq!(seen.validations, vec![20, 40]);
}

#[test]
fn overfit_batches_repeats_the_same_training_batches_and_validates_on_them() {
    let (result, seen, _) = fit_with("overfit", |c| {
        c.max_epochs = Some(3);
        c.overfit_batches = Limit::Batches(2);
    });
    result.unwrap();
    assert_eq!(
        seen.train_batches,
        vec![(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    );
    assert_eq!(seen.sanity_checks, 0, "overfitting skips the sanity check");
    assert_eq!(
        seen.val_batches,
        3 * 2,
        "validation uses the 2 overfit batches"
    );
}

#[test]
fn max_steps_stops_mid_epoch() {
    let (result, seen, _) = fit_with("maxsteps", |c| {
        c.max_epochs = Some(10);
        c.max_steps = 13;
    });
    result.unwrap();
    assert_eq!(seen.final_step, 13);
    assert_eq!(seen.train_batches.last(), Some(&(1, 2)));
}

#[test]
fn max_time_stops_a_run_that_would_otherwise_go_on() {
    let started = std::time::Instant::now();
    let (result, seen, _) = fit_with("maxtime", |c| {
        c.max_epochs = Some(1_000_000);
        c.max_time = Some("00:00:00:01".into());
        c.num_sanity_val_steps = 0;
        c.limit_val_batches = Limit::Batches(0);
    });
    result.unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    assert!(elapsed >= 1.0, "stopped before max_time: {elapsed:.2}s");
    assert!(
        elapsed < 30.0,
        "max_time did not stop the run: {elapsed:.2}s"
    );
    assert!(seen.final_step < 10_000_000);
}

/// Counts how many times each dataloader is requested.
struct CountingData {
    inner: TwoMoons,
    train_loaders: Arc<Mutex<usize>>,
}

impl LightningDataModule for CountingData {
    type Batch = Batch;
    fn setup(&mut self, stage: Stage) -> Result<()> {
        self.inner.setup(stage)
    }
    fn train_dataloader(&mut self) -> Result<DataLoader<Batch>> {
        *self.train_loaders.lock().unwrap() += 1;
        self.inner.train_dataloader()
    }
    fn val_dataloader(&mut self) -> Result<Option<DataLoader<Batch>>> {
        self.inner.val_dataloader()
    }
}

#[test]
fn reload_dataloaders_every_n_epochs_asks_again() {
    for (every, expected) in [(0, 1), (1, 4), (2, 2)] {
        let dir = common::temp_dir("reload");
        let mut config = common::quiet_config(&dir);
        config.max_epochs = Some(4);
        config.limit_train_batches = Limit::Batches(2);
        config.reload_dataloaders_every_n_epochs = every;
        let count = Arc::new(Mutex::new(0));
        let mut data = CountingData {
            inner: data(),
            train_loaders: count.clone(),
        };
        Trainer::new(config)
            .fit(common::seeded_mlp(8), &mut data, None)
            .unwrap();
        assert_eq!(
            *count.lock().unwrap(),
            expected,
            "reload_dataloaders_every_n_epochs={every}"
        );
    }
}

#[derive(Module, Debug)]
struct FailsAtBatch3 {
    inner: Mlp,
}

impl LightningModule for FailsAtBatch3 {
    type Batch = Batch;
    fn training_step(
        &mut self,
        batch: &Batch,
        i: usize,
        cx: &mut HookContext,
    ) -> Result<Tensor<1>> {
        if i == 3 {
            bail!("boom at batch {i}");
        }
        self.inner.training_step(batch, i, cx)
    }
    fn configure_optimizers(&mut self, trainer: &mut OptimizerSetup<'_>) -> Result<Optimizers> {
        self.inner.configure_optimizers(trainer)
    }
}

#[test]
fn an_error_in_a_step_reaches_on_exception_and_fit_returns_it() {
    let dir = common::temp_dir("exception");
    let mut config = common::quiet_config(&dir);
    config.max_epochs = Some(1);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let err = Trainer::new(config)
        .callback(Recorder(seen.clone()))
        .fit(
            FailsAtBatch3 {
                inner: common::seeded_mlp(8),
            },
            &mut data(),
            None,
        )
        .unwrap_err();
    assert!(format!("{err:#}").contains("boom at batch 3"), "{err:#}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.exceptions.len(), 1);
    assert!(seen.exceptions[0].contains("boom at batch 3"));
    assert_eq!(seen.final_step, 0, "on_fit_end does not run after an error");
}

#[test]
fn monitored_checkpoints_follow_validation_when_it_skips_epochs() {
    let dir = common::temp_dir("ckpt-after-val");
    let mut config = common::quiet_config(&dir);
    config.max_epochs = Some(4);
    config.check_val_every_n_epoch = Some(2);
    let checkpoints = dir.join("ck");
    Trainer::new(config)
        .callback(
            burn_lightning::callbacks::ModelCheckpoint::new(&checkpoints)
                .monitor("val_loss", burn_lightning::optim::Mode::Min)
                .save_top_k(-1)
                .save_last(false),
        )
        .fit(common::seeded_mlp(8), &mut data(), None)
        .unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&checkpoints)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // Saved after the validations of epochs 1 and 3, none at the ends of epochs 0 and 2.
    assert_eq!(names, vec!["epoch=1-step=20.ckpt", "epoch=3-step=40.ckpt"]);
}
