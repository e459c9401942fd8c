//! [`DdpThreads`]: data parallel with one thread per rank in this process (as burn-train's DDP
//! runs one worker per device), the ranks meeting in a [`ProcessGroup`].

use std::sync::Arc;

use anyhow::Result;

use super::Strategy;
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
    fn process_group(&self) -> Option<&ProcessGroup> {
        Some(&self.group)
    }
    fn host_gradient_sync(&self) -> bool {
        self.host_gradient_sync
    }
}
