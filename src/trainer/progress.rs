//! Loop counters and stages.

use serde::{Deserialize, Serialize};

/// The Trainer entry point a hook runs under (Lightning's `stage` argument of `setup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// `Trainer::fit`.
    Fit,
    /// `Trainer::validate`.
    Validate,
    /// `Trainer::test`.
    Test,
    /// `Trainer::predict`.
    Predict,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Fit => "fit",
            Stage::Validate => "validate",
            Stage::Test => "test",
            Stage::Predict => "predict",
        })
    }
}

/// The loop running right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunningStage {
    /// Training batches.
    Training,
    /// The sanity-check validation before training.
    SanityChecking,
    /// Validation.
    Validating,
    /// Test.
    Testing,
    /// Predict.
    Predicting,
}

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
