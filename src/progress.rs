//! [`Progress`]: the fit loop's counters, saved in checkpoints.

use serde::{Deserialize, Serialize};

/// Where the fit loop is. Saved in checkpoints; resume continues from exactly here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Current epoch, from 0.
    pub epoch: usize,
    /// Batches of the current epoch already processed.
    pub batch_in_epoch: usize,
    /// Optimizer steps taken (the x-axis of logged metrics).
    pub global_step: usize,
    /// Training batches processed since the start of the run (drives per-step RNG seeds).
    pub total_batches: usize,
    /// Whether the current epoch's end (validation, epoch hooks) has already run.
    pub epoch_finished: bool,
    /// Wall-clock seconds spent training in earlier processes (for `max_time` across resumes).
    pub elapsed_secs: u64,
}
