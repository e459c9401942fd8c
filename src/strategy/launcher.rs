//! How a fit's ranks start (Lightning's `strategies/launchers/`): [`Launcher`] is picked from
//! the Trainer's options; [`ThreadLauncher`] runs one thread per device, each rank with its
//! [`DdpThreads`] strategy. Rank 0 runs on the caller's thread with the callbacks, loggers and
//! datamodule; the others run the same loop on their replica with none of those, receiving
//! rank 0's dataloaders. A multi-process launcher (one process per rank, started by `mpirun`)
//! is one more variant.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use burn::prelude::Device;
use burn::tensor::distributed::{DistributedConfig, DistributedContext, ReduceOperation};
use serde_json::Value;

use super::Strategy;
use super::ddp_threads::DdpThreads;
use super::single_device::SingleDevice;
use crate::data::DataLoader;
use crate::datamodule::LightningDataModule;
use crate::distributed::{FollowerData, LeaderData, ProcessGroup, RankInfo, RankJob, run_ranks};
use crate::stage::Stage;

/// Rank > 0's part of a fit: given its strategy's view of the data (rank 0's dataloaders,
/// sharded), runs the loop on its replica.
pub(crate) type FollowerJob<B> =
    Box<dyn FnOnce(&mut dyn LightningDataModule<Batch = B>) -> Result<()> + Send>;

/// How a fit's ranks start (Lightning's `strategy.launcher`), picked from the Trainer's options.
pub(crate) enum Launcher {
    /// One rank, on the caller's thread.
    SingleDevice,
    /// One thread per device in this process.
    DdpThreads(ThreadLauncher),
}

impl Launcher {
    /// Ranks in the run.
    pub fn world_size(&self) -> usize {
        match self {
            Launcher::SingleDevice => 1,
            Launcher::DdpThreads(threads) => threads.world_size(),
        }
    }

    /// Runs `leader` as rank 0 on this thread with its strategy and `datamodule` (as the
    /// strategy shares it), and the job `follower(rank, device, strategy)` makes on every other
    /// rank; returns rank 0's value, or the first error.
    pub fn launch<D, R>(
        self,
        datamodule: &mut D,
        leader: impl FnOnce(
            Arc<dyn Strategy>,
            &mut dyn LightningDataModule<Batch = D::Batch>,
        ) -> Result<R>,
        follower: impl FnMut(usize, Device, Arc<dyn Strategy>) -> FollowerJob<D::Batch>,
    ) -> Result<R>
    where
        D: LightningDataModule + ?Sized,
        D::Batch: 'static,
    {
        match self {
            Launcher::SingleDevice => leader(Arc::new(SingleDevice), &mut Borrowed(datamodule)),
            Launcher::DdpThreads(threads) => threads.launch(datamodule, leader, follower),
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

    /// See [`Launcher::launch`]: rank 0 sees `datamodule` through
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

/// The caller's datamodule, handed on as `&mut dyn LightningDataModule` whatever its type (a
/// `dyn` datamodule included).
struct Borrowed<'a, D: ?Sized>(&'a mut D);

impl<D: LightningDataModule + ?Sized> LightningDataModule for Borrowed<'_, D> {
    type Batch = D::Batch;

    fn prepare_data(&mut self) -> Result<()> {
        self.0.prepare_data()
    }
    fn setup(&mut self, stage: Stage) -> Result<()> {
        self.0.setup(stage)
    }
    fn train_dataloader(&mut self) -> Result<DataLoader<Self::Batch>> {
        self.0.train_dataloader()
    }
    fn val_dataloader(&mut self) -> Result<Option<DataLoader<Self::Batch>>> {
        self.0.val_dataloader()
    }
    fn test_dataloader(&mut self) -> Result<DataLoader<Self::Batch>> {
        self.0.test_dataloader()
    }
    fn predict_dataloader(&mut self) -> Result<DataLoader<Self::Batch>> {
        self.0.predict_dataloader()
    }
    fn state_dict(&self) -> Value {
        self.0.state_dict()
    }
    fn load_state_dict(&mut self, state: Value) -> Result<()> {
        self.0.load_state_dict(state)
    }
    fn teardown(&mut self, stage: Stage) -> Result<()> {
        self.0.teardown(stage)
    }
}
