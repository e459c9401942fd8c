//! `fit` on several devices (`strategy: ddp`): one thread per rank, as burn-train's DDP runs
//! one worker per device. Rank 0 runs on the caller's thread with the callbacks, loggers and
//! datamodule; the others run the same loop (`fit_loop::fit`) on their replica with none of
//! those, receiving rank 0's dataloaders.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use burn::prelude::*;
use burn::tensor::distributed::{DistributedConfig, DistributedContext, ReduceOperation};
use serde_json::Value;

use super::{Stage, Trainer};
use crate::checkpoint::Checkpoint;
use crate::context::HookContext;
use crate::datamodule::LightningDataModule;
use crate::distributed::{FollowerData, LeaderData, ProcessGroup, RankInfo, RankJob, run_ranks};
use crate::loops::fit_loop;
use crate::loops::run::Run;
use crate::module::LightningModule;
use crate::strategy::DdpThreads;

impl Trainer {
    /// The rank of a follower: the Trainer's options, no callbacks or loggers.
    fn follower_run(
        &self,
        device: Device,
        ranks: RankInfo,
        group: &Arc<ProcessGroup>,
        host_sync: bool,
    ) -> Run {
        let mut cx = HookContext::new(device);
        cx.strategy = Arc::new(DdpThreads::new(ranks, group.clone(), host_sync));
        Run::new(
            self.config.clone(),
            cx,
            self.seed,
            Value::Null,
            Vec::new(),
            Vec::new(),
        )
    }

    pub(super) fn fit_ddp<M, D>(
        &mut self,
        mut module: M,
        datamodule: &mut D,
        checkpoint: Option<(PathBuf, Checkpoint)>,
    ) -> Result<M>
    where
        M: LightningModule,
        D: LightningDataModule<Batch = M::Batch> + ?Sized,
    {
        self.config.validate()?;
        let world = self.config.world_size()?;
        let timeout = self.config.ddp_timeout()?;
        let devices = self
            .config
            .rank_devices()?
            .into_iter()
            .map(|device| self.stage_device(device, Stage::Fit))
            .collect::<Result<Vec<_>>>()?;
        let group = ProcessGroup::with_timeout(world, timeout);
        let host_sync = !self.config.backend_has_collective();
        // burn's communication server lives as long as this context (CUDA only).
        let _collective = (!host_sync).then(|| {
            DistributedContext::init(
                devices.clone(),
                DistributedConfig {
                    all_reduce_op: ReduceOperation::Mean,
                },
            )
        });
        let module_callbacks = module.configure_callbacks();
        if let Some(cb) = (self.callbacks.iter())
            .chain(&module_callbacks)
            .find(|c| c.changes_module())
        {
            anyhow::bail!(
                "callback `{}` changes the module's weights or learning rates, and under trainer.devices > 1 callbacks run on rank 0 alone (the other replicas would drift apart): train on one device with it, or remove it",
                cb.state_key()
            );
        }
        let mut run = self.start_run(module_callbacks, Stage::Fit)?;
        run.cx.strategy = Arc::new(DdpThreads::new(
            RankInfo::single_node(0, world),
            group.clone(),
            host_sync,
        ));
        let followers: Vec<(usize, RankJob)> = (1..world)
            .map(|rank| {
                let mut run = self.follower_run(
                    devices[rank].clone(),
                    RankInfo::single_node(rank, world),
                    &group,
                    host_sync,
                );
                let replica = module.clone();
                let checkpoint = checkpoint.clone();
                let mut data = FollowerData {
                    group: group.clone(),
                    rank,
                    _batch: std::marker::PhantomData,
                };
                let job: RankJob = Box::new(move || {
                    let ck = checkpoint.as_ref().map(|(p, c)| (p.as_path(), c.clone()));
                    fit_loop::fit(&mut run, replica, &mut data, ck)?;
                    run.cx.take_collective_error()
                });
                (rank, job)
            })
            .collect();
        let thread = |rank: usize| std::thread::Builder::new().name(format!("ddp-rank-{rank}"));
        let mut data = LeaderData {
            inner: datamodule,
            group: group.clone(),
        };
        let result = run_ranks(&group, followers, thread, || {
            let ck = checkpoint.as_ref().map(|(p, c)| (p.as_path(), c.clone()));
            let trained = fit_loop::fit(&mut run, module, &mut data, ck)?;
            run.cx.take_collective_error()?;
            Ok(trained)
        });
        let mut trained = None;
        let result = result.map(|m| {
            trained = Some(m);
        });
        self.finish_run(run, result)?;
        Ok(trained.expect("fit succeeded"))
    }
}
