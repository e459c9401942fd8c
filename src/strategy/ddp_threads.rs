//! [`DdpThreads`]: data parallel with one thread per rank in this process (as burn-train's DDP
//! runs one worker per device), the ranks meeting in a [`ProcessGroup`]; the thread launcher
//! (`launcher.rs`) starts them.

use std::sync::Arc;

use anyhow::Result;
use burn::tensor::TensorData;

use super::{GradientSync, Strategy};
use crate::distributed::{ProcessGroup, RankInfo};

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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_barrier_returns_only_once_every_rank_reached_it() {
        let group = ProcessGroup::new(2);
        let late_rank_arrived = AtomicBool::new(false);
        std::thread::scope(|s| {
            for rank in 0..2 {
                let strategy = DdpThreads::new(RankInfo::single_node(rank, 2), group.clone(), true);
                let arrived = &late_rank_arrived;
                s.spawn(move || {
                    if rank == 1 {
                        std::thread::sleep(Duration::from_millis(100));
                        arrived.store(true, Ordering::SeqCst);
                    }
                    strategy.barrier("test barrier").unwrap();
                    assert!(
                        arrived.load(Ordering::SeqCst),
                        "rank {rank} left the barrier early"
                    );
                });
            }
        });
    }

    #[test]
    fn gradients_and_tensors_go_through_the_group() {
        let group = ProcessGroup::new(2);
        let results: Vec<(Vec<f32>, Vec<TensorData>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|rank| {
                    let strategy =
                        DdpThreads::new(RankInfo::single_node(rank, 2), group.clone(), true);
                    s.spawn(move || {
                        let mean = strategy
                            .all_reduce_mean("g", vec![rank as f32, 2.0 * rank as f32])
                            .unwrap();
                        let mine = (rank == 0).then(|| vec![TensorData::from([7.0f32, 8.0])]);
                        let tensors = strategy.broadcast_tensors("p", mine).unwrap();
                        (mean, tensors)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (mean, tensors) in results {
            assert_eq!(mean, [0.5, 1.0]);
            assert_eq!(tensors.len(), 1);
            assert_eq!(tensors[0].try_to_vec::<f32>().unwrap(), [7.0, 8.0]);
        }
        let strategy = DdpThreads::new(RankInfo::single_node(0, 2), group, false);
        assert_eq!(strategy.gradient_sync(), GradientSync::Backend);
    }
}
