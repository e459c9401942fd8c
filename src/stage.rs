//! [`Stage`] (the Trainer entry point running) and [`RunningStage`] (the loop running now).

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
