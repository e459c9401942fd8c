//! A [`Trainer`] from an [`ExperimentConfig`]: here rather than in `config/`, so that the config
//! types (which the loops read) do not depend on the Trainer that runs the loops.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Trainer;
use crate::config::ExperimentConfig;

impl<M: DeserializeOwned + Serialize, D: DeserializeOwned + Serialize> ExperimentConfig<M, D> {
    /// A Trainer with these trainer options, seed and hparams.
    pub fn trainer(&self) -> Trainer {
        let mut trainer = Trainer::new(self.trainer.clone()).hparams(self.to_value());
        if let Some(seed) = self.seed {
            trainer = trainer.seed(seed);
        }
        trainer
    }
}
