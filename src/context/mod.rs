//! [`HookContext`]: what a hook sees of the running Trainer, and how it talks back to it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::prelude::*;

mod parts;

pub use parts::CheckpointPaths;
pub(crate) use parts::{DeferredLog, Limits, Logging, Position, Requests};

use crate::logging::LogOptions;
use crate::progress::Progress;
use crate::stage::{RunningStage, Stage};
use crate::strategy::{SingleDevice, Strategy};

/// A request from a callback to write a checkpoint now (the Trainer owns the state to save).
#[derive(Debug, Clone)]
pub struct CheckpointRequest {
    /// Where to write it.
    pub path: PathBuf,
    /// Files to delete once it is safely on disk (top-k bookkeeping).
    pub then_remove: Vec<PathBuf>,
    /// The module's weights alone (no optimizer, scheduler or callback state).
    pub weights_only: bool,
}

/// The Trainer as hooks and callbacks see it: loop position, device, logging, stop requests.
///
/// `global_step` counts optimizer steps and is the x-axis of every logged metric.
pub struct HookContext {
    /// Loop position (owner: the loop running now).
    pub(crate) position: Position,
    /// Run bounds and batch counts (owner: the fit loop's set-up).
    pub(crate) limits: Limits,
    /// Metrics, run directory, rates, summary (owner: `log` and the run).
    pub(crate) logging: Logging,
    /// Stop and checkpoint requests from hooks (owner: hooks write, loops clear).
    pub(crate) requests: Requests,
    /// Checkpoints written (owner: the checkpoint writer; `best` by `ModelCheckpoint`).
    pub(crate) checkpoints: CheckpointPaths,
    pub(crate) device: Device,
    /// Every cross-rank operation, and this rank's place in the run (owner: the strategy).
    pub(crate) strategy: Arc<dyn Strategy>,
}

impl HookContext {
    pub(crate) fn new(device: Device) -> Self {
        Self {
            position: Position::default(),
            limits: Limits::default(),
            logging: Logging::default(),
            requests: Requests::default(),
            checkpoints: CheckpointPaths::default(),
            device,
            strategy: Arc::new(SingleDevice),
        }
    }

    /// Whether monitoring callbacks (checkpoints, early stopping) act at the end of the training
    /// epoch (validation runs after every epoch's last batch, or never) or else after each
    /// validation, as Lightning decides.
    pub fn check_on_train_epoch_end(&self) -> bool {
        self.limits.check_on_train_epoch_end
    }

    /// In a validation inside `fit` after which monitoring callbacks act (the counterpart of
    /// [`check_on_train_epoch_end`](Self::check_on_train_epoch_end)).
    pub fn check_after_validation(&self) -> bool {
        self.position.stage == RunningStage::Validating
            && self.limits.num_training_batches > 0
            && !self.limits.check_on_train_epoch_end
    }

    /// Whether `fast_dev_run` is on (checkpointing callbacks write nothing then, as in Lightning).
    pub fn is_fast_dev_run(&self) -> bool {
        self.limits.fast_dev_run
    }

    /// Whether a validation loop inside this `fit` has run since it started (the sanity check
    /// does not count): before that, a monitored validation metric cannot exist yet.
    pub fn validation_has_run(&self) -> bool {
        self.position.validation_has_run
    }

    /// Logs `value` under `name` with the defaults of the current hook (Lightning's `self.log`).
    pub fn log(&mut self, name: &str, value: f64) {
        self.log_with(name, value, LogOptions::default());
    }

    /// Logs every `(name, value)` with the same options (Lightning's `self.log_dict`).
    pub fn log_dict<K: AsRef<str>>(
        &mut self,
        values: impl IntoIterator<Item = (K, f64)>,
        options: LogOptions,
    ) {
        for (name, value) in values {
            self.log_with(name.as_ref(), value, options.clone());
        }
    }

    /// Logs with explicit options (`on_step`, `on_epoch`, `prog_bar`, `sync_dist`, …).
    pub fn log_with(&mut self, name: &str, value: f64, options: LogOptions) {
        let step_default = self.position.stage == RunningStage::Training;
        let batch_size = self.position.current_batch_size;
        if options.sync_dist && self.strategy.is_distributed() && !self.logging.in_callback {
            if let Some(deferred) = self.logging.deferred_sync.as_mut() {
                deferred.push(DeferredLog {
                    name: name.to_string(),
                    value,
                    options,
                    step_default,
                    batch_size,
                });
                return;
            }
            let mean = self.reduce_mean(name, value);
            self.logging
                .metrics
                .log(name, mean, &options, step_default, batch_size);
            return;
        }
        self.logging
            .metrics
            .log(name, value, &options, step_default, batch_size);
    }

    /// The mean of `value` over all ranks (itself on one device). A failure (a peer failed,
    /// or the ranks logged differently) leaves the local value and is kept for the loop to end
    /// the run with ([`take_collective_error`](Self::take_collective_error)).
    fn reduce_mean(&mut self, name: &str, value: f64) -> f64 {
        if !self.strategy.is_distributed() {
            return value;
        }
        match self
            .strategy
            .all_gather(&format!("sync_dist {name:?}"), value)
        {
            Ok(all) => all.iter().sum::<f64>() / all.len() as f64,
            Err(e) => {
                self.logging.collective_error.get_or_insert(e);
                value
            }
        }
    }

    /// The error of a failed `sync_dist` reduction since the last call, if any.
    pub(crate) fn take_collective_error(&mut self) -> anyhow::Result<()> {
        match self.logging.collective_error.take() {
            Some(e) => Err(e.context(format!("sync_dist log on rank {}", self.global_rank()))),
            None => Ok(()),
        }
    }

    /// Records the `sync_dist` values logged during this rank's turn, reduced over the ranks.
    pub(crate) fn flush_deferred_sync(&mut self) {
        for log in self.logging.deferred_sync.take().unwrap_or_default() {
            let mean = self.reduce_mean(&log.name, log.value);
            self.logging.metrics.log(
                &log.name,
                mean,
                &log.options,
                log.step_default,
                log.batch_size,
            );
        }
    }

    /// Logs a scalar tensor (read back to the host once).
    pub fn log_tensor(&mut self, name: &str, value: &Tensor<1>, options: LogOptions) {
        let v: f64 = value.clone().into_scalar::<f32>() as f64;
        self.log_with(name, v, options);
    }

    /// Sends a text entry to the loggers (TensorBoard's text tab) at the current global step.
    pub fn log_text(&mut self, tag: &str, text: &str) {
        self.logging
            .metrics
            .pending_text
            .push((tag.to_string(), text.to_string()));
    }

    /// Sends a histogram of `values` to the loggers at the current global step.
    pub fn log_histogram(&mut self, tag: &str, values: Vec<f64>) {
        self.logging
            .metrics
            .pending_histograms
            .push((tag.to_string(), values));
    }

    /// Asks the Trainer to stop after the current batch (respecting `min_epochs`/`min_steps`).
    pub fn request_stop(&mut self) {
        self.requests.should_stop = true;
    }

    /// Sets `accumulate_grad_batches` for the training epoch starting; only takes effect from
    /// `on_train_epoch_start` (Lightning's `GradientAccumulationScheduler` sets it there), and
    /// rank 0's value holds on every rank.
    pub fn set_accumulate_grad_batches(&mut self, batches: usize) {
        self.requests.accumulate_grad_batches = Some(batches.max(1));
    }

    /// Whether a stop has been requested.
    pub fn should_stop(&self) -> bool {
        self.requests.should_stop
    }

    /// Asks the Trainer to write a checkpoint once the current hook returns.
    pub fn request_checkpoint(&mut self, request: CheckpointRequest) {
        self.requests.checkpoints.push(request);
    }

    /// This rank's index across all nodes (0 on one device).
    pub fn global_rank(&self) -> usize {
        self.strategy.ranks().global_rank
    }
    /// This rank's index on its node.
    pub fn local_rank(&self) -> usize {
        self.strategy.ranks().local_rank
    }
    /// Ranks in the run (1 on one device).
    pub fn world_size(&self) -> usize {
        self.strategy.ranks().world_size
    }
    /// Whether this is global rank 0, the rank that logs and writes checkpoints.
    pub fn is_global_zero(&self) -> bool {
        self.strategy.ranks().is_global_zero()
    }

    /// The stage running now.
    pub fn stage(&self) -> RunningStage {
        self.position.stage
    }
    /// The Trainer entry point running: fit, validate, test or predict (`trainer.state.fn`).
    pub fn trainer_fn(&self) -> Stage {
        self.position.trainer_fn
    }
    /// Current epoch, from 0.
    pub fn current_epoch(&self) -> usize {
        self.position.progress.epoch
    }
    /// Optimizer steps taken so far: the x-axis of every logged metric.
    pub fn global_step(&self) -> usize {
        self.position.progress.global_step
    }
    /// Loop counters (epoch, batch within epoch, global step, batches seen).
    pub fn progress(&self) -> &Progress {
        &self.position.progress
    }
    /// Size of this rank's batch in the step running now (how `log` weighs an epoch mean).
    pub fn current_batch_size(&self) -> usize {
        self.position.current_batch_size
    }
    /// The device the module trains on (autodiff enabled while training).
    pub fn device(&self) -> &Device {
        &self.device
    }
    /// Latest value of every logged key.
    pub fn callback_metrics(&self) -> &std::collections::BTreeMap<String, f64> {
        &self.logging.metrics.callback_metrics
    }
    /// Latest values marked `prog_bar`.
    pub fn progress_bar_metrics(&self) -> &std::collections::BTreeMap<String, f64> {
        &self.logging.metrics.progress_bar_metrics
    }
    /// The run directory (`<root>/lightning_logs/version_N`) when logging is on.
    pub fn log_dir(&self) -> Option<&Path> {
        self.logging.log_dir.as_deref()
    }
    /// `max_epochs` of this run (`None`: bounded by steps or time only).
    pub fn max_epochs(&self) -> Option<usize> {
        self.limits.max_epochs
    }
    /// Whether `min_epochs` and `min_steps` are both reached (a stop request is honoured then).
    pub fn minimums_reached(&self) -> bool {
        self.position.progress.epoch >= self.limits.min_epochs
            && self.position.progress.global_step >= self.limits.min_steps
    }
    /// Batches per training epoch after `limit_train_batches`.
    pub fn num_training_batches(&self) -> usize {
        self.limits.num_training_batches
    }
    /// Batches per validation run after `limit_val_batches`.
    pub fn num_val_batches(&self) -> usize {
        self.limits.num_val_batches
    }
    /// Current learning rate of every optimizer (name, base LR).
    pub fn learning_rates(&self) -> &[(String, f64)] {
        &self.logging.learning_rates
    }
    /// Parameter counts per top-level submodule (name, count), computed at fit start.
    pub fn model_summary(&self) -> &[(String, usize)] {
        &self.logging.model_summary
    }
    /// Path of the checkpoint the Trainer wrote last.
    pub fn last_checkpoint_path(&self) -> Option<&Path> {
        self.checkpoints.last.as_deref()
    }
    /// Path of the best checkpoint according to `ModelCheckpoint`.
    pub fn best_checkpoint_path(&self) -> Option<&Path> {
        self.checkpoints.best.as_deref()
    }
    /// Records the best checkpoint (used by `ModelCheckpoint`; `ckpt_path = "best"` reads it).
    pub fn set_best_checkpoint_path(&mut self, path: PathBuf) {
        self.checkpoints.best = Some(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_dict_logs_every_entry_with_the_options_given() {
        let mut cx = HookContext::new(Device::flex());
        cx.position.stage = RunningStage::Validating;
        let values = [("val_acc", 0.75), ("val_f1", 0.5)];
        cx.log_dict(values, LogOptions::default().prog_bar());
        assert_eq!(
            cx.callback_metrics().get("val_acc"),
            None,
            "epoch values come at its end"
        );
        cx.logging.metrics.finish_epoch();
        assert_eq!(cx.callback_metrics()["val_acc"], 0.75);
        assert_eq!(cx.callback_metrics()["val_f1"], 0.5);
        assert_eq!(cx.progress_bar_metrics()["val_f1"], 0.5);
    }
}
