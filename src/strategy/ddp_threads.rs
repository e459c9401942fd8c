//! [`DdpThreads`]: data parallel with one thread per rank in this process (as burn-train's DDP
//! runs one worker per device), the ranks meeting in a [`ProcessGroup`]; [`ThreadLauncher`]
//! starts them. Rank 0 runs on the caller's thread with the callbacks, loggers and datamodule;
//! the others run the same loop on their replica with none of those, receiving rank 0's
//! dataloaders.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use burn::prelude::Device;
use burn::tensor::TensorData;
use burn::tensor::distributed::{DistributedConfig, DistributedContext, ReduceOperation};

use super::{FollowerJob, GradientSync, Strategy};
use crate::datamodule::LightningDataModule;
use crate::distributed::{FollowerData, LeaderData, ProcessGroup, RankInfo, RankJob, run_ranks};

/// One rank of a thread-based DDP run.
pub(crate) struct DdpThreads {
    ranks: RankInfo,
    group: Arc<ProcessGroup>,
    host_gradient_sync: bool,
}

impl DdpThreads {
    /// Rank `ranks.global_rank` of `group`; `host_gradient_sync` when the backend has no device
    /// collective (the ranks then share the device and take turns on its generator).
    pub fn new(ranks: RankInfo, group: Arc<ProcessGroup>, host_gradient_sync: bool) -> Self {
        Self {
            ranks,
            group,
            host_gradient_sync,
        }
    }
}

impl Strategy for DdpThreads {
    fn ranks(&self) -> RankInfo {
        self.ranks
    }
    fn any_rank(&self, op: &str, flag: bool) -> Result<bool> {
        self.group.any(self.ranks.global_rank, op, flag)
    }
    fn rank_zero_value(&self, op: &str, value: Option<f64>) -> Result<Option<f64>> {
        let rank = self.ranks.global_rank;
        self.group.broadcast(rank, op, (rank == 0).then_some(value))
    }
    fn all_gather(&self, op: &str, value: f64) -> Result<Vec<f64>> {
        self.group.all_gather(self.ranks.global_rank, op, value)
    }
    fn in_turn(&self, f: &mut dyn FnMut()) -> Result<bool> {
        // Ranks on devices of their own (CUDA) draw from their own generators.
        if !self.host_gradient_sync {
            return Ok(false);
        }
        self.group.in_turn(self.ranks.global_rank, f)?;
        Ok(true)
    }
    fn broadcast_tensors(
        &self,
        op: &str,
        tensors: Option<Vec<TensorData>>,
    ) -> Result<Vec<TensorData>> {
        self.group.broadcast(self.ranks.global_rank, op, tensors)
    }
    fn all_reduce_mean(&self, op: &str, values: Vec<f32>) -> Result<Vec<f32>> {
        self.group
            .all_reduce_mean(self.ranks.global_rank, op, values)
    }
    fn gradient_sync(&self) -> GradientSync {
        if self.host_gradient_sync {
            GradientSync::Host
        } else {
            GradientSync::Backend
        }
    }
}

/// Starts a thread-based DDP fit: one rank per device, each on its own thread.
pub(crate) struct ThreadLauncher {
    devices: Vec<Device>,
    timeout: Duration,
    host_gradient_sync: bool,
}

impl ThreadLauncher {
    /// One rank per entry of `devices` (already set up for training); `timeout` bounds every
    /// wait on a peer; `host_gradient_sync` when the backend has no device collective.
    pub fn new(devices: Vec<Device>, timeout: Duration, host_gradient_sync: bool) -> Self {
        Self {
            devices,
            timeout,
            host_gradient_sync,
        }
    }

    /// Ranks in the run.
    pub fn world_size(&self) -> usize {
        self.devices.len()
    }

    /// See [`Launcher::launch`](super::Launcher::launch): rank 0 sees `datamodule` through
    /// [`LeaderData`] (which shares every dataloader it makes), the others through
    /// [`FollowerData`] (which receives them); each rank keeps its shard.
    pub fn launch<D, R>(
        self,
        datamodule: &mut D,
        leader: impl FnOnce(
            Arc<dyn Strategy>,
            &mut dyn LightningDataModule<Batch = D::Batch>,
        ) -> Result<R>,
        mut follower: impl FnMut(usize, Device, Arc<dyn Strategy>) -> FollowerJob<D::Batch>,
    ) -> Result<R>
    where
        D: LightningDataModule + ?Sized,
        D::Batch: 'static,
    {
        let world = self.devices.len();
        let group = ProcessGroup::with_timeout(world, self.timeout);
        let strategy = |rank: usize| -> Arc<dyn Strategy> {
            Arc::new(DdpThreads::new(
                RankInfo::single_node(rank, world),
                group.clone(),
                self.host_gradient_sync,
            ))
        };
        // burn's communication server lives as long as this context (CUDA only).
        let _collective = (!self.host_gradient_sync).then(|| {
            DistributedContext::init(
                self.devices.clone(),
                DistributedConfig {
                    all_reduce_op: ReduceOperation::Mean,
                },
            )
        });
        let followers: Vec<(usize, RankJob)> = (1..world)
            .map(|rank| {
                let job = follower(rank, self.devices[rank].clone(), strategy(rank));
                let mut data = FollowerData::<D::Batch> {
                    group: group.clone(),
                    rank,
                    _batch: std::marker::PhantomData,
                };
                let job: RankJob = Box::new(move || job(&mut data));
                (rank, job)
            })
            .collect();
        let thread = |rank: usize| std::thread::Builder::new().name(format!("ddp-rank-{rank}"));
        let mut data = LeaderData {
            inner: datamodule,
            group: group.clone(),
        };
        run_ranks(&group, followers, thread, || leader(strategy(0), &mut data))
    }
}
