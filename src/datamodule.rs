//! The [`LightningDataModule`] trait: where data comes from, for every stage.

use anyhow::{Result, bail};
use serde_json::Value;

use crate::data::{Batch, DataLoader};
use crate::stage::Stage;

/// Everything about a data set: fetching, splitting and the dataloaders of each stage.
pub trait LightningDataModule {
    /// What the dataloaders yield (the module's `Batch`).
    type Batch: Batch + Clone;

    /// Once per machine (global rank 0), before `setup`: download or write files; no state on `self`.
    fn prepare_data(&mut self) -> Result<()> {
        Ok(())
    }
    /// On every process at the start of a stage: load, split and index the data.
    fn setup(&mut self, _stage: Stage) -> Result<()> {
        Ok(())
    }
    /// Batches for training (called after the sanity check, and again when reloading).
    fn train_dataloader(&mut self) -> Result<DataLoader<Self::Batch>> {
        bail!("this datamodule has no train_dataloader")
    }
    /// Batches for validation; `None` disables validation.
    fn val_dataloader(&mut self) -> Result<Option<DataLoader<Self::Batch>>> {
        Ok(None)
    }
    /// Batches for `Trainer::test`.
    fn test_dataloader(&mut self) -> Result<DataLoader<Self::Batch>> {
        bail!("this datamodule has no test_dataloader")
    }
    /// Batches for `Trainer::predict`.
    fn predict_dataloader(&mut self) -> Result<DataLoader<Self::Batch>> {
        bail!("this datamodule has no predict_dataloader")
    }
    /// State saved in checkpoints (e.g. a vocabulary or split seed).
    fn state_dict(&self) -> Value {
        Value::Null
    }
    /// Restores what `state_dict` returned, when resuming.
    fn load_state_dict(&mut self, _state: Value) -> Result<()> {
        Ok(())
    }
    /// At the end of every stage.
    fn teardown(&mut self, _stage: Stage) -> Result<()> {
        Ok(())
    }
}
