//! The datamodule as each rank sees it. There is one datamodule (on rank 0's thread): it
//! prepares and sets up the data once, and every dataloader it makes is handed to all ranks,
//! each of which keeps its own shard.

use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

use super::ProcessGroup;
use crate::data::{Batch, DataLoader};
use crate::datamodule::LightningDataModule;
use crate::stage::Stage;

/// Rank 0's view: the user's datamodule, whose dataloaders it shares with the other ranks.
pub(crate) struct LeaderData<'a, D: ?Sized> {
    pub inner: &'a mut D,
    pub group: Arc<ProcessGroup>,
}

/// Shares `made` with the followers (which learn only that it failed) and keeps shard 0.
fn share<T: Clone + Send + Sync + 'static>(
    group: &ProcessGroup,
    what: &str,
    made: Result<T>,
    shard: impl Fn(T) -> T,
) -> Result<T> {
    let shared = made.as_ref().ok().cloned();
    group.broadcast(0, what, Some(shared))?;
    made.map(shard)
}

/// Receives what rank 0's datamodule made and keeps shard `rank`.
fn receive<T: Clone + Send + Sync + 'static>(
    group: &ProcessGroup,
    rank: usize,
    what: &str,
) -> Result<T> {
    group
        .broadcast::<Option<T>>(rank, what, None)?
        .ok_or_else(|| anyhow!("rank 0 could not make the {what}"))
}

impl<D> LightningDataModule for LeaderData<'_, D>
where
    D: LightningDataModule + ?Sized,
    D::Batch: 'static,
{
    type Batch = D::Batch;

    fn prepare_data(&mut self) -> Result<()> {
        self.inner.prepare_data()
    }
    fn setup(&mut self, stage: Stage) -> Result<()> {
        // The followers wait for this: their module's `configure_model` may read what `setup`
        // publishes (a `DataHandoff` shared by the replicas).
        share(
            &self.group,
            "datamodule setup",
            self.inner.setup(stage),
            |done| done,
        )
    }
    fn train_dataloader(&mut self) -> Result<DataLoader<Self::Batch>> {
        let world = self.group.world_size();
        share(
            &self.group,
            "train dataloader",
            self.inner.train_dataloader(),
            |l| l.shard(0, world),
        )
    }
    fn val_dataloader(&mut self) -> Result<Option<DataLoader<Self::Batch>>> {
        let world = self.group.world_size();
        share(
            &self.group,
            "val dataloader",
            self.inner.val_dataloader(),
            |l| l.map(|l| l.shard(0, world)),
        )
    }
    fn state_dict(&self) -> Value {
        self.inner.state_dict()
    }
    fn load_state_dict(&mut self, state: Value) -> Result<()> {
        self.inner.load_state_dict(state)
    }
    fn teardown(&mut self, stage: Stage) -> Result<()> {
        self.inner.teardown(stage)
    }
}

/// Rank `rank`'s view (rank > 0): rank 0's dataloaders, sharded; no state of its own.
pub(crate) struct FollowerData<B> {
    pub group: Arc<ProcessGroup>,
    pub rank: usize,
    pub _batch: std::marker::PhantomData<fn() -> B>,
}

impl<B: Batch + Clone> LightningDataModule for FollowerData<B> {
    type Batch = B;

    fn setup(&mut self, _stage: Stage) -> Result<()> {
        receive::<()>(&self.group, self.rank, "datamodule setup")
            .context("waiting for rank 0's datamodule setup")
    }

    fn train_dataloader(&mut self) -> Result<DataLoader<B>> {
        let loader: DataLoader<B> = receive(&self.group, self.rank, "train dataloader")?;
        Ok(loader.shard(self.rank, self.group.world_size()))
    }
    fn val_dataloader(&mut self) -> Result<Option<DataLoader<B>>> {
        let loader: Option<DataLoader<B>> = receive(&self.group, self.rank, "val dataloader")?;
        Ok(loader.map(|l| l.shard(self.rank, self.group.world_size())))
    }
}
