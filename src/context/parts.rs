//! The parts of a [`HookContext`](super::HookContext), one fact in one place, each written by
//! the one owner named on it; hooks read them through the context's accessor methods.

use std::path::PathBuf;

use crate::logging::{LogOptions, MetricStore};
use crate::progress::Progress;
use crate::stage::{RunningStage, Stage};

/// Where the loops are. Written by the loop running now (fit, training epoch, evaluation).
pub(crate) struct Position {
    /// The Trainer entry point running (Lightning's `trainer.state.fn`); written once, where the
    /// run starts.
    pub trainer_fn: Stage,
    pub stage: RunningStage,
    pub progress: Progress,
    /// Size of the batch in the step running now (the default weight of an epoch mean).
    pub current_batch_size: usize,
    /// Whether a validation loop inside this `fit` has run (the sanity check aside).
    pub validation_has_run: bool,
}

impl Default for Position {
    fn default() -> Self {
        Self {
            trainer_fn: Stage::Fit,
            stage: RunningStage::Training,
            progress: Progress::default(),
            current_batch_size: 1,
            validation_has_run: false,
        }
    }
}

/// The bounds of the run. Written by the fit loop's set-up (and when it reloads the train data).
pub(crate) struct Limits {
    pub max_epochs: Option<usize>,
    pub min_epochs: usize,
    pub min_steps: usize,
    pub num_training_batches: usize,
    pub num_val_batches: usize,
    /// Whether monitoring callbacks act at the end of the training epoch (else after each
    /// validation), decided from the validation schedule.
    pub check_on_train_epoch_end: bool,
    /// `fast_dev_run` is on: checkpoints are not written (as in Lightning).
    pub fast_dev_run: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_epochs: None,
            min_epochs: 0,
            min_steps: 0,
            num_training_batches: 0,
            num_val_batches: 0,
            check_on_train_epoch_end: true,
            fast_dev_run: false,
        }
    }
}

/// A `sync_dist` value waiting for the end of its rank's turn, with what `log` knew then.
pub(crate) struct DeferredLog {
    pub name: String,
    pub value: f64,
    pub options: LogOptions,
    pub step_default: bool,
    pub batch_size: usize,
}

/// What is logged and where. Written by `log` (the metrics) and by the run (directory, rates,
/// summary, the `sync_dist` bookkeeping).
#[derive(Default)]
pub(crate) struct Logging {
    pub metrics: MetricStore,
    /// The run directory (`<root>/lightning_logs/version_N`) when logging is on.
    pub log_dir: Option<PathBuf>,
    pub learning_rates: Vec<(String, f64)>,
    pub model_summary: Vec<(String, usize)>,
    /// `sync_dist` values logged while this rank holds its turn (the peers cannot join a
    /// reduction until it ends): reduced and recorded right after.
    pub deferred_sync: Option<Vec<DeferredLog>>,
    /// A callback's hook is running: callbacks run on rank 0 alone, so their `sync_dist` logs
    /// have no peers to reduce with and keep rank 0's value.
    pub in_callback: bool,
    /// A `sync_dist` reduction that failed (`log` cannot return it): the loop ends with it.
    pub collective_error: Option<anyhow::Error>,
}

/// What hooks ask of the loops. Written by hooks; read and cleared by the loops.
#[derive(Default)]
pub(crate) struct Requests {
    pub should_stop: bool,
    pub checkpoints: Vec<super::CheckpointRequest>,
    /// `accumulate_grad_batches` for the epoch starting (set in `on_train_epoch_start`).
    pub accumulate_grad_batches: Option<usize>,
}

/// The checkpoints of the run. `last` is written by the run's checkpoint writer, `best` by
/// `ModelCheckpoint`; the Trainer reads both from what the run returns.
#[derive(Debug, Clone, Default)]
pub struct CheckpointPaths {
    /// The checkpoint written last.
    pub last: Option<PathBuf>,
    /// The best checkpoint according to `ModelCheckpoint`.
    pub best: Option<PathBuf>,
}
