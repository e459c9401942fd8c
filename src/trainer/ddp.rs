//! `fit` on several devices (`strategy: ddp`): one thread per rank, as burn-train's DDP runs
//! one worker per device. Rank 0 runs on the caller's thread with the callbacks, loggers and
//! datamodule; the others run the same loop (`fit_loop::fit`) on their replica with none of
//! those, receiving rank 0's dataloaders.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Result, anyhow};
use burn::prelude::*;
use burn::tensor::distributed::{DistributedConfig, DistributedContext, ReduceOperation};
use serde_json::Value;

use super::run::Run;
use super::{Stage, Trainer, fit_loop};
use crate::checkpoint::Checkpoint;
use crate::context::HookContext;
use crate::datamodule::LightningDataModule;
use crate::distributed::{FailOnPanic, FollowerData, LeaderData, ProcessGroup, RankInfo};
use crate::module::LightningModule;

impl Trainer {
    /// The rank of a follower: the Trainer's options, no callbacks or loggers.
    fn follower_run(&self, device: Device, ranks: RankInfo, group: &Arc<ProcessGroup>) -> Run {
        let mut cx = HookContext::new(device);
        cx.ranks = ranks;
        cx.group = Some(group.clone());
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
        let world = self.config.world_size()?;
        let devices = self
            .config
            .rank_devices()?
            .into_iter()
            .map(|device| self.stage_device(device, Stage::Fit))
            .collect::<Result<Vec<_>>>()?;
        let group = ProcessGroup::new(world);
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
        let mut run = self.start_run(module_callbacks, Stage::Fit)?;
        run.cx.ranks = RankInfo::single_node(0, world);
        run.cx.group = Some(group.clone());
        run.cx.host_gradient_sync = host_sync;
        let followers: Vec<(M, Run)> = (1..world)
            .map(|rank| {
                let mut follower = self.follower_run(
                    devices[rank].clone(),
                    RankInfo::single_node(rank, world),
                    &group,
                );
                follower.cx.host_gradient_sync = host_sync;
                (module.clone(), follower)
            })
            .collect();
        let mut trained = None;
        let result = std::thread::scope(|scope| {
            let handles: Vec<_> = followers
                .into_iter()
                .map(|(replica, mut run)| {
                    let group = group.clone();
                    let checkpoint = checkpoint.clone();
                    scope.spawn(move || -> Result<()> {
                        let rank = run.cx.ranks.global_rank;
                        let _guard = FailOnPanic {
                            group: &group,
                            rank,
                        };
                        let mut data = FollowerData {
                            group: group.clone(),
                            rank,
                            _batch: std::marker::PhantomData,
                        };
                        let ck = checkpoint.as_ref().map(|(p, c)| (p.as_path(), c.clone()));
                        let result = fit_loop::fit(&mut run, replica, &mut data, ck).map(drop);
                        if let Err(e) = &result {
                            group.fail(rank, &format!("{e:#}"));
                        }
                        result
                    })
                })
                .collect();
            let leader = {
                let _guard = FailOnPanic {
                    group: &group,
                    rank: 0,
                };
                let mut data = LeaderData {
                    inner: datamodule,
                    group: group.clone(),
                };
                let ck = checkpoint.as_ref().map(|(p, c)| (p.as_path(), c.clone()));
                let result = fit_loop::fit(&mut run, module, &mut data, ck);
                if let Err(e) = &result {
                    group.fail(0, &format!("{e:#}"));
                }
                result
            };
            let mut first_error = None;
            for (i, handle) in handles.into_iter().enumerate() {
                let outcome = handle
                    .join()
                    .unwrap_or_else(|_| Err(anyhow!("rank {} panicked", i + 1)));
                if let Err(e) = outcome {
                    first_error.get_or_insert(e.context(format!("rank {}", i + 1)));
                }
            }
            match (leader, first_error) {
                (Ok(m), None) => {
                    trained = Some(m);
                    Ok(())
                }
                (Err(e), _) => Err(e),
                (Ok(_), Some(e)) => Err(e),
            }
        });
        self.finish_run(run, result)?;
        Ok(trained.expect("fit succeeded"))
    }
}
