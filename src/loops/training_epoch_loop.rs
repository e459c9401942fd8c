//! One training epoch (Lightning's `loops/training_epoch_loop.py`): the batches of an epoch, one
//! stage of a batch per method, and the epoch's decisions (which batch ends an accumulation
//! window, when to log, when validation is due within the epoch) as methods tested on their own.
//!
//! ```text
//! on_run_start     on_train_epoch_start  [accumulate_grad_batches a callback scheduled]
//! for batch:       on_before_batch_transfer  transfer_batch_to_device  on_after_batch_transfer
//!   on_batch_start   on_train_batch_start   [an honoured stop request ends the epoch here]
//!   advance          training step (automatic or manual)  on_train_batch_end
//!                    [checkpoint every_n_train_steps]
//!   on_advance_end   [write logs]  [validation loop when due]
//!   [the fit's bounds reached: the epoch ends]
//! on_run_end       on_train_epoch_end  [epoch checkpoint]  [plateau lr_scheduler_step]
//! ```

use anyhow::{Context, Result, bail};

use crate::config::trainer::{Limit, TrainerConfig};
use crate::data::{Batch, DataLoader};
use crate::datamodule::LightningDataModule;
use crate::loops::evaluation_loop::run_evaluation;
use crate::loops::optimization::automatic::automatic_step;
use crate::loops::optimization::manual::manual_step;
use crate::loops::optimization::{StepWindow, plateau_due};
use crate::loops::run::Run;
use crate::loops::transfer_batch;
use crate::module::LightningModule;
use crate::optim::{LightningOptimizer, Schedule};
use crate::progress::Progress;
use crate::stage::RunningStage;

/// The data one training epoch reads: its batches, the validation data of the validations due
/// within it, and the datamodule (its state goes into the checkpoints written during the epoch).
pub(crate) struct EpochData<'a, B, D: ?Sized> {
    /// The training batches.
    pub train: &'a DataLoader<B>,
    /// The validation batches (`None`: no validation in this fit).
    pub val: Option<&'a DataLoader<B>>,
    /// The datamodule, for checkpoints.
    pub datamodule: &'a D,
}

/// What a training epoch asks of the loop around it (the fit loop owns the run's bounds).
pub(crate) trait FitBounds {
    /// Whether a stop request (`should_stop`) ends training now (the minimums are reached).
    fn can_stop_early(&self, should_stop: bool, progress: &Progress) -> bool;
    /// After a batch: whether training is over (agreed stop, `max_steps`, `max_time`).
    fn should_end(&self, run: &mut Run) -> Result<bool>;
    /// Seconds trained so far, earlier processes included.
    fn elapsed_now(&self) -> u64;
}

/// What one training epoch knows of its own shape; every decision is a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TrainingEpochLoop {
    /// Batches this epoch runs (after `limit_train_batches`).
    pub num_batches: usize,
    /// `accumulate_grad_batches`.
    pub accumulate: usize,
    /// Training batches between two validations (`val_check_interval`).
    pub val_every: usize,
    /// Whether this epoch validates at all (a val loader, `check_val_every_n_epoch`).
    pub validates: bool,
    /// `check_val_every_n_epoch` is null: the interval counts batches across epochs.
    pub val_across_epochs: bool,
    /// `log_every_n_steps`.
    pub log_every_n_steps: usize,
}

impl TrainingEpochLoop {
    /// Epoch `epoch` of `num_batches` batches under `cfg`; `can_validate`: there is validation
    /// data (a loader with at least one batch to run).
    pub fn new(
        cfg: &TrainerConfig,
        num_batches: usize,
        epoch: usize,
        can_validate: bool,
    ) -> Result<Self> {
        Ok(Self {
            num_batches,
            accumulate: cfg.accumulate_grad_batches,
            val_every: val_interval(cfg, num_batches)?,
            validates: can_validate
                && cfg
                    .check_val_every_n_epoch
                    .is_none_or(|n| (epoch + 1).is_multiple_of(n)),
            val_across_epochs: cfg.check_val_every_n_epoch.is_none(),
            log_every_n_steps: cfg.log_every_n_steps,
        })
    }

    /// Runs the epoch (from the batch `progress.batch_in_epoch`, as when resuming inside it) until
    /// its last batch or until `fit`'s bounds end training; returns the module.
    pub fn run<M: LightningModule, D: LightningDataModule + ?Sized>(
        &self,
        run: &mut Run,
        mut module: M,
        optimizers: &mut [LightningOptimizer],
        data: &EpochData<'_, M::Batch, D>,
        fit: &dyn FitBounds,
    ) -> Result<M> {
        self.on_run_start(run, &mut module, optimizers)?;
        let this = self.with_scheduled_accumulation(run, module.automatic_optimization())?;
        this.run_batches(run, module, optimizers, data, fit)
    }

    /// The epoch with the accumulation a callback set for it in `on_train_epoch_start`
    /// (`GradientAccumulationScheduler`); rank 0's choice on every rank, since callbacks run
    /// there alone and every rank must step together.
    fn with_scheduled_accumulation(&self, run: &mut Run, automatic: bool) -> Result<Self> {
        let asked = run
            .cx
            .requests
            .accumulate_grad_batches
            .take()
            .map(|n| n as f64);
        let Some(batches) = run.rank_zero_value("accumulate_grad_batches", asked)? else {
            return Ok(self.clone());
        };
        // As Lightning: the schedule and the fixed option contradict each other.
        if run.cfg.accumulate_grad_batches != 1 {
            bail!(
                "trainer.accumulate_grad_batches is {} and a callback (GradientAccumulationScheduler) schedules it too: set trainer.accumulate_grad_batches to 1",
                run.cfg.accumulate_grad_batches
            );
        }
        if !automatic {
            bail!(
                "a callback (GradientAccumulationScheduler) schedules accumulate_grad_batches, which manual optimization does not use: accumulate in training_step_manual"
            );
        }
        Ok(Self {
            accumulate: (batches as usize).max(1),
            ..self.clone()
        })
    }

    /// The epoch's batches, after `on_train_epoch_start`, then [`on_run_end`](Self::on_run_end).
    fn run_batches<M: LightningModule, D: LightningDataModule + ?Sized>(
        &self,
        run: &mut Run,
        mut module: M,
        optimizers: &mut [LightningOptimizer],
        data: &EpochData<'_, M::Batch, D>,
        fit: &dyn FitBounds,
    ) -> Result<M> {
        let epoch = run.cx.position.progress.epoch;
        let device = run.cx.device.clone();
        let skip = run.cx.position.progress.batch_in_epoch;
        let batches = data
            .train
            .iter(epoch, skip)
            .take(self.num_batches.saturating_sub(skip));
        for (offset, batch) in batches.enumerate() {
            let batch_idx = skip + offset;
            let batch = batch
                .with_context(|| format!("loading training batch {batch_idx} of epoch {epoch}"))?;
            let batch = transfer_batch(&mut module, batch, &device)?;
            run.cx.position.current_batch_size = batch.batch_size();
            if !self.on_batch_start(run, &mut module, optimizers, &batch, batch_idx, fit)? {
                break;
            }
            module = self.advance(run, module, optimizers, &batch, batch_idx, data.datamodule)?;
            module = self.on_advance_end(run, module, optimizers, batch_idx, data, fit)?;
            if fit.should_end(run)? {
                break;
            }
        }
        self.on_run_end(run, module, optimizers, data.datamodule, fit)
    }

    /// `on_train_epoch_start`, in the training stage.
    fn on_run_start<M: LightningModule>(
        &self,
        run: &mut Run,
        module: &mut M,
        optimizers: &mut [LightningOptimizer],
    ) -> Result<()> {
        run.cx.position.stage = RunningStage::Training;
        run.call_hook(
            module,
            Some(&mut *optimizers),
            |c, m, cx| c.on_train_epoch_start(m, cx),
            |m, cx| m.on_train_epoch_start(cx),
        )?;
        // A callback may change rates here (BackboneFinetuning unfreezes with a new group).
        run.refresh_learning_rates(optimizers);
        Ok(())
    }

    /// `on_train_batch_start`; whether the batch trains (a stop request that `fit` honours now
    /// ends the epoch before its step).
    fn on_batch_start<M: LightningModule>(
        &self,
        run: &mut Run,
        module: &mut M,
        optimizers: &mut [LightningOptimizer],
        batch: &M::Batch,
        batch_idx: usize,
        fit: &dyn FitBounds,
    ) -> Result<bool> {
        run.call_hook(
            module,
            Some(optimizers),
            |c, m, cx| c.on_train_batch_start(m, batch_idx, cx),
            |m, cx| m.on_train_batch_start(batch, batch_idx, cx),
        )?;
        run.agree_on_stop()?;
        Ok(!fit.can_stop_early(run.cx.requests.should_stop, &run.cx.position.progress))
    }

    /// The batch's training step (automatic or manual optimization), its counters, then
    /// `on_train_batch_end` and the checkpoints it asked for; returns the module.
    fn advance<M: LightningModule, D: LightningDataModule + ?Sized>(
        &self,
        run: &mut Run,
        module: M,
        optimizers: &mut [LightningOptimizer],
        batch: &M::Batch,
        batch_idx: usize,
        datamodule: &D,
    ) -> Result<M> {
        let (mut module, loss) = if module.automatic_optimization() {
            automatic_step(
                run,
                module,
                batch,
                batch_idx,
                optimizers,
                self.window(batch_idx),
            )?
        } else {
            manual_step(run, module, batch, batch_idx, optimizers)?
        };
        run.cx.position.progress.batch_in_epoch = batch_idx + 1;
        run.cx.position.progress.total_batches += 1;
        run.refresh_learning_rates(optimizers);
        run.call_hook(
            &mut module,
            Some(&mut *optimizers),
            |c, m, cx| c.on_train_batch_end(m, &loss, batch_idx, cx),
            |m, cx| m.on_train_batch_end(&loss, batch, batch_idx, cx),
        )?;
        run.process_checkpoint_requests(&mut module, optimizers, datamodule)?;
        run.agree_on_stop()?;
        Ok(module)
    }

    /// After a batch: writes and flushes the logs when due, then runs the validation loop when
    /// due (and the checkpoints its callbacks asked for); returns the module.
    fn on_advance_end<M: LightningModule, D: LightningDataModule + ?Sized>(
        &self,
        run: &mut Run,
        mut module: M,
        optimizers: &mut [LightningOptimizer],
        batch_idx: usize,
        data: &EpochData<'_, M::Batch, D>,
        fit: &dyn FitBounds,
    ) -> Result<M> {
        if self.should_log(batch_idx, run.cx.position.progress.global_step) {
            run.write_logs()?;
        }
        run.steps_since_flush += usize::from(!self.should_accumulate(batch_idx));
        if run.steps_since_flush >= run.cfg.flush_logs_every_n_steps {
            run.flush_logs()?;
        }
        let stopping = fit.can_stop_early(run.cx.requests.should_stop, &run.cx.position.progress);
        let total_batches = run.cx.position.progress.total_batches;
        if let Some(loader) = data
            .val
            .filter(|_| self.should_validate(batch_idx, total_batches, stopping))
        {
            let limit = run.cx.limits.num_val_batches;
            module = run_evaluation(
                run,
                module,
                Some(&mut *optimizers),
                loader,
                limit,
                RunningStage::Validating,
            )?;
            run.cx.position.stage = RunningStage::Training;
            run.process_checkpoint_requests(&mut module, optimizers, data.datamodule)?;
        }
        Ok(module)
    }

    /// The end of the epoch: `on_train_epoch_end` (the epoch's metrics reduced and written
    /// between the module's hook and the monitoring callbacks'), the checkpoints it asked for,
    /// then the plateau schedulers due this epoch; returns the module.
    fn on_run_end<M: LightningModule, D: LightningDataModule + ?Sized>(
        &self,
        run: &mut Run,
        mut module: M,
        optimizers: &mut [LightningOptimizer],
        datamodule: &D,
        fit: &dyn FitBounds,
    ) -> Result<M> {
        let epoch = run.cx.position.progress.epoch;
        run.call_train_epoch_end(&mut module, optimizers, |run| {
            run.cx.logging.metrics.finish_epoch();
            run.write_logs()?;
            run.cx.position.progress.epoch_finished = true;
            run.cx.position.progress.elapsed_secs = fit.elapsed_now();
            Ok(())
        })?;
        run.process_checkpoint_requests(&mut module, optimizers, datamodule)?;
        for opt in optimizers.iter_mut() {
            let Some(scheduler) = opt.scheduler.as_mut() else {
                continue;
            };
            let plateau = matches!(scheduler.schedule, Schedule::Plateau(_));
            if plateau_due(scheduler.interval, plateau, scheduler.frequency, epoch) {
                let monitor = scheduler.monitor.clone().unwrap_or_default();
                // Every replica must step its rate alike: rank 0's value decides.
                let metric = run.rank_zero_value(
                    "plateau monitor",
                    run.cx
                        .logging
                        .metrics
                        .callback_metrics
                        .get(&monitor)
                        .copied(),
                )?;
                module.lr_scheduler_step(scheduler, metric)?;
            }
        }
        run.refresh_learning_rates(optimizers);
        Ok(module)
    }

    /// Where `batch_idx` sits in its accumulation window, for the optimization step.
    pub fn window(&self, batch_idx: usize) -> StepWindow {
        StepWindow {
            accumulate: self.accumulate,
            starts: self.starts_window(batch_idx),
            ends: !self.should_accumulate(batch_idx),
            last_of_epoch: self.is_last_batch(batch_idx),
        }
    }

    /// Whether `batch_idx` is the epoch's last batch.
    pub fn is_last_batch(&self, batch_idx: usize) -> bool {
        batch_idx + 1 == self.num_batches
    }

    /// Whether `batch_idx` opens an accumulation window (gradients are reset before it).
    pub fn starts_window(&self, batch_idx: usize) -> bool {
        batch_idx.is_multiple_of(self.accumulate)
    }

    /// Whether `batch_idx` only accumulates gradients: no optimizer step after it. The
    /// epoch's last batch always steps, even in a window left short.
    pub fn should_accumulate(&self, batch_idx: usize) -> bool {
        !((batch_idx + 1).is_multiple_of(self.accumulate) || self.is_last_batch(batch_idx))
    }

    /// Whether the logged values are written after `batch_idx`, `global_step` steps in: every
    /// `log_every_n_steps` optimizer steps, and at the end of the epoch.
    pub fn should_log(&self, batch_idx: usize, global_step: usize) -> bool {
        !self.should_accumulate(batch_idx)
            && (global_step.is_multiple_of(self.log_every_n_steps) || self.is_last_batch(batch_idx))
    }

    /// Whether validation runs after `batch_idx` (`total_batches` seen in the run so far,
    /// this one included); a run about to stop early validates first.
    pub fn should_validate(&self, batch_idx: usize, total_batches: usize, stopping: bool) -> bool {
        // Lightning counts the interval within the epoch, or across epochs when
        // check_val_every_n_epoch is null.
        let position = if self.val_across_epochs {
            total_batches - 1
        } else {
            batch_idx
        };
        self.validates && ((position + 1).is_multiple_of(self.val_every) || stopping)
    }
}

/// Training batches between two validations within an epoch.
fn val_interval(cfg: &TrainerConfig, num_batches: usize) -> Result<usize> {
    Ok(match cfg.val_check_interval {
        Limit::Batches(n) => {
            if cfg.check_val_every_n_epoch.is_some() && n > num_batches {
                bail!(
                    "trainer.val_check_interval ({n}) must be at most the number of training batches per epoch ({num_batches}); set check_val_every_n_epoch to null to count batches across epochs"
                );
            }
            n.max(1)
        }
        Limit::Fraction(f) => ((num_batches as f64 * f) as usize).max(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(num_batches: usize, accumulate: usize, val_every: usize) -> TrainingEpochLoop {
        TrainingEpochLoop {
            num_batches,
            accumulate,
            val_every,
            validates: true,
            val_across_epochs: false,
            log_every_n_steps: 2,
        }
    }

    #[test]
    fn windows_of_accumulation_and_the_short_last_window() {
        let e = epoch(5, 2, 5);
        let stepping: Vec<bool> = (0..5).map(|i| !e.should_accumulate(i)).collect();
        assert_eq!(stepping, [false, true, false, true, true]);
        let starts: Vec<bool> = (0..5).map(|i| e.starts_window(i)).collect();
        assert_eq!(starts, [true, false, true, false, true]);
    }

    #[test]
    fn logs_every_n_steps_and_at_the_epoch_end_never_mid_window() {
        let e = epoch(5, 1, 5);
        assert!(!e.should_log(0, 1));
        assert!(e.should_log(1, 2));
        assert!(e.should_log(4, 5), "the last batch always logs");
        let e = epoch(4, 2, 4);
        assert!(
            !e.should_log(0, 2),
            "a batch that only accumulates does not log"
        );
    }

    #[test]
    fn validates_on_the_interval_within_or_across_epochs_and_before_stopping() {
        let e = epoch(6, 1, 3);
        let due: Vec<bool> = (0..6)
            .map(|i| e.should_validate(i, 100 + i, false))
            .collect();
        assert_eq!(due, [false, false, true, false, false, true]);
        assert!(e.should_validate(0, 1, true));
        let across = TrainingEpochLoop {
            val_across_epochs: true,
            ..epoch(2, 1, 3)
        };
        assert!(
            across.should_validate(0, 3, false),
            "the third batch of the run"
        );
        assert!(!across.should_validate(1, 2, false));
        let off = TrainingEpochLoop {
            validates: false,
            ..epoch(6, 1, 3)
        };
        assert!(!off.should_validate(2, 3, true));
    }
}
