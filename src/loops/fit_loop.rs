//! `Trainer::fit`, top to bottom, in the order of Lightning's own hook test
//! (`tests/tests_pytorch/models/test_hooks.py`), which differs from the docs pseudocode in four
//! places: the batch reaches the device before `on_train_batch_start`; validation inside an
//! epoch runs before `on_train_epoch_end`; the epoch-end checkpoint is written after
//! `on_train_epoch_end`; and each callback hook fires before the module's.
//!
//! ```text
//! configure_callbacks  prepare_data  setup(fit)  [on_load_checkpoint]  configure_model
//! [resume: module weights, datamodule state, callbacks' on_load_checkpoint + load_state_dict]
//! configure_optimizers [train_dataloader, when it asks for estimated_stepping_batches]
//! on_fit_start
//! sanity check (validation loop on num_sanity_val_steps batches, metrics discarded)
//! train_dataloader  on_train_start
//! for epoch:
//!     on_train_epoch_start
//!     for batch:
//!         on_before_batch_transfer  transfer_batch_to_device  on_after_batch_transfer
//!         on_train_batch_start  training_step
//!         [first micro-batch of a window] on_before_zero_grad  optimizer_zero_grad
//!         on_before_backward  backward  on_after_backward
//!         [last micro-batch of a window] on_before_optimizer_step  configure_gradient_clipping
//!                                        optimizer_step  [lr_scheduler_step: step interval,
//!                                        and epoch interval on the epoch's last batch]
//!         on_train_batch_end  [checkpoint every_n_train_steps]
//!         [validation loop when due]
//!     on_train_epoch_end (callbacks, module, then ModelCheckpoint/EarlyStopping)
//!     [epoch checkpoint]  [plateau lr_scheduler_step]
//! on_train_end  on_fit_end  teardown(fit)
//! ```
//!
//! [`FitLoop`] holds the bounds and decides when training ends; each epoch's body (from
//! `on_train_epoch_start` to the plateau scheduler step) is the
//! [`TrainingEpochLoop`](crate::loops::training_epoch_loop::TrainingEpochLoop).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use burn::module::Module;

use crate::checkpoint::{Checkpoint, optimizer_section, parameter_shapes, scheduler_section};
use crate::config::trainer::{Limit, TrainerConfig, parse_duration};
use crate::data::DataLoader;
use crate::datamodule::LightningDataModule;
use crate::logging::MetricStore;
use crate::loops::evaluation_loop::run_evaluation;
use crate::loops::run::Run;
use crate::loops::training_epoch_loop::{EpochData, FitBounds, TrainingEpochLoop};
use crate::module::LightningModule;
use crate::optim::LightningOptimizer;
use crate::optimizer_setup::{OptimizerSetup, stepping_batches};
use crate::progress::Progress;
use crate::stage::{RunningStage, Stage};
use crate::strategy::broadcast_parameters;

/// The bounds of one `fit` and the decisions made from them; every decision is a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FitLoop {
    /// When training started in this process (for `max_time`).
    pub started: Instant,
    /// `max_epochs` (`None`: bounded by steps or time only).
    pub max_epochs: Option<usize>,
    /// `max_steps` (`None`: -1, no bound).
    pub max_steps: Option<usize>,
    /// `max_time`.
    pub max_time: Option<Duration>,
    /// `min_epochs`: a stop request is honoured only after these.
    pub min_epochs: usize,
    /// `min_steps`: a stop request is honoured only after these.
    pub min_steps: usize,
    /// Seconds trained in earlier processes (from a checkpoint, for `max_time` across resumes).
    pub elapsed_before: u64,
}

impl FitLoop {
    /// Whether another epoch may start under `max_epochs`.
    pub fn epochs_left(&self, progress: &Progress) -> bool {
        self.max_epochs.is_none_or(|m| progress.epoch < m)
    }

    /// Whether `max_steps` optimizer steps have been taken.
    pub fn steps_done(&self, progress: &Progress) -> bool {
        self.max_steps.is_some_and(|m| progress.global_step >= m)
    }

    /// Seconds trained in all, `this_process` of them in this process.
    pub fn elapsed_secs(&self, this_process: u64) -> u64 {
        // Saturating: `elapsed_before` comes from a checkpoint file.
        self.elapsed_before.saturating_add(this_process)
    }

    /// Whether `max_time` has run out after `this_process` seconds in this process.
    pub fn out_of_time(&self, this_process: u64) -> bool {
        self.max_time
            .is_some_and(|t| self.elapsed_secs(this_process) >= t.as_secs())
    }

    /// Whether `min_epochs` and `min_steps` are both reached.
    pub fn minimums_reached(&self, progress: &Progress) -> bool {
        progress.epoch >= self.min_epochs && progress.global_step >= self.min_steps
    }

    /// Whether training ends here: `max_steps` reached, out of time (as the ranks agreed), or an
    /// honoured stop request.
    pub fn done(&self, progress: &Progress, should_stop: bool, timed_out: bool) -> bool {
        self.steps_done(progress) || timed_out || self.can_stop_early(should_stop, progress)
    }

    /// Whether the train dataloader is reloaded before this epoch
    /// (`reload_dataloaders_every_n_epochs`; never mid-epoch, as when resuming inside one).
    pub fn should_reload_train_data(every_n_epochs: usize, progress: &Progress) -> bool {
        every_n_epochs > 0
            && progress.epoch > 0
            && progress.epoch.is_multiple_of(every_n_epochs)
            && progress.batch_in_epoch == 0
    }
}

impl FitBounds for FitLoop {
    /// A stop request is honoured once `min_epochs` and `min_steps` are reached.
    fn can_stop_early(&self, should_stop: bool, progress: &Progress) -> bool {
        should_stop && self.minimums_reached(progress)
    }
    /// [`done`](FitLoop::done), once the ranks agree on a stop request and on `max_time`
    /// (checked before every epoch and after every batch).
    fn should_end(&self, run: &mut Run) -> Result<bool> {
        run.agree_on_stop()?;
        // Every rank has the same `max_time`: without one, no rank asks the others (a
        // collective per batch saved under data parallel).
        let timed_out = self.max_time.is_some()
            && run.any_rank(
                "max_time",
                self.out_of_time(self.started.elapsed().as_secs()),
            )?;
        Ok(self.done(
            &run.cx.position.progress,
            run.cx.requests.should_stop,
            timed_out,
        ))
    }
    fn elapsed_now(&self) -> u64 {
        self.elapsed_secs(self.started.elapsed().as_secs())
    }
}

/// Everything `fit` runs after the Trainer has assembled callbacks and loggers.
pub(crate) fn fit<M: LightningModule, D: LightningDataModule<Batch = M::Batch> + ?Sized>(
    run: &mut Run,
    mut module: M,
    datamodule: &mut D,
    checkpoint: Option<(&Path, Checkpoint)>,
) -> Result<M> {
    // ----- set-up -------------------------------------------------------------------------
    // Rank 0's run recorded its entry point in `start_run`; a DDP follower's run is built
    // without it, and learns it here.
    run.cx.position.trainer_fn = Stage::Fit;
    datamodule
        .prepare_data()
        .context("datamodule prepare_data")?;
    if run.cx.local_rank() == 0 {
        module.prepare_data().context("module prepare_data")?;
    }
    datamodule
        .setup(Stage::Fit)
        .context("datamodule setup(fit)")?;
    run.call_hook(
        &mut module,
        None,
        |c, m, cx| c.setup(m, Stage::Fit, cx),
        |m, cx| m.setup(Stage::Fit, cx),
    )?;
    // As Lightning's `_call_setup_hook`: no rank goes on before every rank's set-up is done.
    run.cx.strategy.barrier("post_setup")?;
    if let Some((_, ck)) = &checkpoint {
        module.on_load_checkpoint(&ck.state)?;
    }
    // In turn: replicas sharing a device draw their initial weights from one generator, and
    // rank 0's weights (broadcast below) must not depend on thread timing.
    run.in_turn(|run| module.configure_model(&mut run.cx))??;
    let device = run.cx.device.clone();
    module = module.fork(&device).train();
    // Lightning's `_checkpoint_connector` order: the module's weights, the datamodule, then the
    // callbacks, which may read sections of their own and put weights into the module.
    if let Some((path, ck)) = &checkpoint {
        module = ck.load_module(module, path)?;
        datamodule.load_state_dict(ck.state.datamodule.clone())?;
        run.restore_callbacks(&mut module, ck, path, true)?;
    }
    module = broadcast_parameters(run.cx.strategy.as_ref(), module)
        .context("starting the replicas from rank 0's weights")?;
    let fast_dev = run.cfg.fast_dev_run.batches();
    let overfit = run.cfg.overfit_batches;
    let overfitting =
        !matches!(overfit, Limit::Fraction(f) if f == 0.0) && !matches!(overfit, Limit::Batches(0));
    let max_epochs = if fast_dev.is_some() {
        Some(1)
    } else {
        run.cfg.effective_max_epochs()
    };
    let max_steps = if fast_dev.is_some() {
        None
    } else {
        usize::try_from(run.cfg.max_steps).ok()
    };
    // Known from here on, so that `on_fit_start` and `configure_optimizers` hooks can read it.
    run.cx.limits.max_epochs = max_epochs;
    run.cx.limits.min_epochs = run.cfg.min_epochs.unwrap_or(0);
    run.cx.limits.min_steps = run.cfg.min_steps.unwrap_or(0);
    // Loaded here only when `configure_optimizers` asks for the stepping batches; the training
    // loop then reuses it.
    let mut early_train_loader: Option<DataLoader<M::Batch>> = None;
    let mut optimizers = {
        let cfg = &run.cfg;
        let mut estimate = || -> Result<usize> {
            stepping_batches(
                || {
                    let loader = match early_train_loader.take() {
                        Some(loader) => loader,
                        None => datamodule.train_dataloader()?,
                    };
                    let batches = train_batches(&loader, cfg, fast_dev, overfitting);
                    early_train_loader = Some(loader);
                    Ok(batches)
                },
                cfg.accumulate_grad_batches,
                max_epochs,
                max_steps,
            )
        };
        module
            .configure_optimizers(
                &mut OptimizerSetup::new(&mut estimate).with_max_epochs(max_epochs),
            )?
            .0
    };
    if optimizers.is_empty() {
        bail!("configure_optimizers returned no optimizer");
    }
    if module.automatic_optimization() && optimizers.len() > 1 {
        bail!(
            "automatic optimization supports one optimizer, configure_optimizers returned {}; set automatic_optimization() to false",
            optimizers.len()
        );
    }
    if let Some((path, ck)) = &checkpoint {
        restore_training_state(run, &mut optimizers, ck, path)?;
    }
    run.cx.logging.model_summary = summarize(&module);
    run.refresh_learning_rates(&optimizers);
    run.call_hook(
        &mut module,
        Some(&mut optimizers),
        |c, m, cx| c.on_fit_start(m, cx),
        |m, cx| m.on_fit_start(cx),
    )?;

    // ----- sanity check -------------------------------------------------------------------
    let val_limit = |loader: &DataLoader<M::Batch>, cfg: &TrainerConfig| {
        fast_dev.unwrap_or_else(|| cfg.limit_val_batches.apply(loader.num_batches()))
    };
    let sanity_steps = if fast_dev.is_some() || overfitting || checkpoint.is_some() {
        0
    } else {
        run.cfg.num_sanity_val_steps
    };
    let mut val_loader = None;
    if sanity_steps != 0 {
        run.cx.position.stage = RunningStage::SanityChecking;
        run.call_callback_hook(&mut module, Some(&mut optimizers), |c, m, cx| {
            c.on_sanity_check_start(m, cx)
        })?;
        val_loader = datamodule.val_dataloader()?;
        if let Some(loader) = &val_loader {
            let limit = val_limit(loader, &run.cfg);
            let n = if sanity_steps < 0 {
                limit
            } else {
                limit.min(sanity_steps as usize)
            };
            if n > 0 {
                module = run_evaluation(
                    run,
                    module,
                    Some(&mut optimizers),
                    loader,
                    n,
                    RunningStage::SanityChecking,
                )?;
            }
        }
        run.call_callback_hook(&mut module, Some(&mut optimizers), |c, m, cx| {
            c.on_sanity_check_end(m, cx)
        })?;
    } else if !overfitting {
        val_loader = datamodule.val_dataloader()?;
    }

    // ----- training -----------------------------------------------------------------------
    let mut train_loader = match early_train_loader {
        Some(loader) => loader,
        None => datamodule.train_dataloader()?,
    };
    if overfitting {
        train_loader = train_loader.sequential();
        val_loader = Some(train_loader.clone());
    }
    if train_loader.num_batches() == 0 {
        bail!(
            "train_dataloader yields no batches ({} examples, batch size {}, drop_last {}): check the data set and its split",
            train_loader.dataset_len(),
            train_loader.batch_size(),
            train_loader.is_drop_last()
        );
    }
    run.cx.limits.num_training_batches =
        train_batches(&train_loader, &run.cfg, fast_dev, overfitting);
    run.cx.limits.num_val_batches = match &val_loader {
        Some(l) if overfitting => run.cx.limits.num_training_batches.min(l.num_batches()),
        Some(l) => val_limit(l, &run.cfg),
        None => 0,
    };
    // Lightning's rule: checkpoints follow the epoch when validation closes every epoch (or
    // never runs), else they follow each validation.
    run.cx.limits.check_on_train_epoch_end = run.cx.limits.num_val_batches == 0
        || (run.cfg.check_val_every_n_epoch == Some(1)
            && matches!(run.cfg.val_check_interval, Limit::Fraction(f) if f == 1.0));
    let max_time = run
        .cfg
        .max_time
        .as_deref()
        .map(parse_duration)
        .transpose()
        .context("trainer.max_time")?;
    let bounds = FitLoop {
        started: Instant::now(),
        max_epochs,
        max_steps,
        max_time,
        min_epochs: run.cx.limits.min_epochs,
        min_steps: run.cx.limits.min_steps,
        elapsed_before: run.cx.position.progress.elapsed_secs,
    };

    run.cx.position.stage = RunningStage::Training;
    run.call_hook(
        &mut module,
        Some(&mut optimizers),
        |c, m, cx| c.on_train_start(m, cx),
        |m, cx| m.on_train_start(cx),
    )?;

    if run.cx.position.progress.epoch_finished {
        run.cx.position.progress.epoch += 1;
        run.cx.position.progress.batch_in_epoch = 0;
        run.cx.position.progress.epoch_finished = false;
    }
    while bounds.epochs_left(&run.cx.position.progress) {
        if bounds.should_end(run)? {
            break;
        }
        let epoch = run.cx.position.progress.epoch;
        if FitLoop::should_reload_train_data(
            run.cfg.reload_dataloaders_every_n_epochs,
            &run.cx.position.progress,
        ) {
            train_loader = datamodule.train_dataloader()?;
            run.cx.limits.num_training_batches =
                train_batches(&train_loader, &run.cfg, fast_dev, overfitting);
        }
        let epoch_loop = TrainingEpochLoop::new(
            &run.cfg,
            run.cx.limits.num_training_batches,
            epoch,
            val_loader.is_some() && run.cx.limits.num_val_batches > 0,
        )?;
        let data = EpochData {
            train: &train_loader,
            val: val_loader.as_ref(),
            datamodule: &*datamodule,
        };
        module = epoch_loop.run(run, module, &mut optimizers, &data, &bounds)?;
        run.cx.position.progress.epoch += 1;
        run.cx.position.progress.batch_in_epoch = 0;
        run.cx.position.progress.epoch_finished = false;
        if fast_dev.is_some() {
            break;
        }
    }

    // ----- wrap-up ------------------------------------------------------------------------
    run.call_hook(
        &mut module,
        Some(&mut optimizers),
        |c, m, cx| c.on_train_end(m, cx),
        |m, cx| m.on_train_end(cx),
    )?;
    run.call_hook(
        &mut module,
        Some(&mut optimizers),
        |c, m, cx| c.on_fit_end(m, cx),
        |m, cx| m.on_fit_end(cx),
    )?;
    run.call_hook(
        &mut module,
        Some(&mut optimizers),
        |c, m, cx| c.teardown(m, Stage::Fit, cx),
        |m, cx| m.teardown(Stage::Fit, cx),
    )?;
    datamodule.teardown(Stage::Fit)?;
    Ok(module)
}

/// Training batches per epoch: `fast_dev_run`'s count, `overfit_batches`, or
/// `limit_train_batches` of what `loader` yields.
fn train_batches<B: Send + 'static>(
    loader: &DataLoader<B>,
    cfg: &TrainerConfig,
    fast_dev: Option<usize>,
    overfitting: bool,
) -> usize {
    if let Some(n) = fast_dev {
        n.min(loader.num_batches())
    } else if overfitting {
        cfg.overfit_batches.apply(loader.num_batches()).max(1)
    } else {
        cfg.limit_train_batches.apply(loader.num_batches())
    }
}

/// Restores optimizer, scheduler, loop and metric state from a checkpoint.
fn restore_training_state(
    run: &mut Run,
    optimizers: &mut [LightningOptimizer],
    ck: &Checkpoint,
    path: &Path,
) -> Result<()> {
    ck.ensure_resumable(path)?;
    for (i, opt) in optimizers.iter_mut().enumerate() {
        let bytes = ck.section(
            &optimizer_section(i),
            path,
            &format!("state for optimizer {i}"),
        )?;
        opt.load_state_bytes(bytes)
            .with_context(|| format!("checkpoint {}", path.display()))?;
        if let Some(s) = opt.scheduler.as_mut() {
            let what = format!("state for the scheduler of optimizer {i}");
            s.load_bytes(ck.section(&scheduler_section(i), path, &what)?)
                .with_context(|| format!("checkpoint {}", path.display()))?;
        }
    }
    run.cx.position.progress = ck.state.progress.clone();
    if ck.state.grad_scaler.is_some() && run.scaler.is_some() {
        run.scaler = ck.state.grad_scaler.clone();
    }
    if !ck.state.metrics.is_null() {
        run.cx.logging.metrics = serde_json::from_value::<MetricStore>(ck.state.metrics.clone())
            .with_context(|| format!("checkpoint {}: metric state", path.display()))?;
    }
    if run.seed.is_none() {
        run.seed = ck.state.seed;
    }
    Ok(())
}

/// Parameter counts per top-level submodule.
fn summarize<M: Module>(module: &M) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for (path, shape) in parameter_shapes(module) {
        let top = path.split('.').next().unwrap_or("").to_string();
        let n: usize = shape.iter().product();
        match out.iter_mut().find(|(name, _)| *name == top) {
            Some((_, count)) => *count += n,
            None => out.push((top, n)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> FitLoop {
        FitLoop {
            started: Instant::now(),
            max_epochs: Some(3),
            max_steps: Some(10),
            max_time: Some(Duration::from_secs(60)),
            min_epochs: 1,
            min_steps: 4,
            elapsed_before: 50,
        }
    }

    fn at(epoch: usize, global_step: usize) -> Progress {
        Progress {
            epoch,
            global_step,
            ..Default::default()
        }
    }

    #[test]
    fn epochs_and_steps_bound_the_run() {
        let b = bounds();
        assert!(b.epochs_left(&at(2, 0)));
        assert!(!b.epochs_left(&at(3, 0)));
        assert!(!b.steps_done(&at(0, 9)));
        assert!(b.steps_done(&at(0, 10)));
        assert!(b.done(&at(0, 10), false, false));
        let unbounded = FitLoop {
            max_epochs: None,
            max_steps: None,
            ..bounds()
        };
        assert!(unbounded.epochs_left(&at(1000, 0)));
        assert!(!unbounded.done(&at(1000, 10_000), false, false));
    }

    #[test]
    fn max_time_counts_the_time_of_earlier_processes() {
        let b = bounds();
        assert!(!b.out_of_time(9));
        assert!(b.out_of_time(10));
        assert!(b.done(&at(0, 0), false, true));
        let huge = FitLoop {
            elapsed_before: u64::MAX,
            ..bounds()
        };
        assert!(huge.out_of_time(1), "saturates instead of overflowing");
    }

    #[test]
    fn a_stop_request_waits_for_the_minimums() {
        let b = bounds();
        assert!(
            !b.can_stop_early(true, &at(0, 20)),
            "min_epochs not reached"
        );
        assert!(!b.can_stop_early(true, &at(1, 3)), "min_steps not reached");
        assert!(b.can_stop_early(true, &at(1, 4)));
        assert!(!b.can_stop_early(false, &at(1, 4)));
    }

    #[test]
    fn train_data_reloads_at_the_start_of_every_nth_epoch_only() {
        assert!(!FitLoop::should_reload_train_data(0, &at(2, 0)));
        assert!(!FitLoop::should_reload_train_data(2, &at(0, 0)));
        assert!(!FitLoop::should_reload_train_data(2, &at(1, 0)));
        assert!(FitLoop::should_reload_train_data(2, &at(2, 0)));
        let mid_epoch = Progress {
            batch_in_epoch: 3,
            ..at(2, 0)
        };
        assert!(!FitLoop::should_reload_train_data(2, &mid_epoch));
    }
}
