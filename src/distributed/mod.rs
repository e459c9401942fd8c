//! Data-parallel training over several devices (Lightning's `strategy: ddp`).
//!
//! Each rank is a thread with its own replica of the module, as in burn-train's DDP: the ranks
//! run the same loop on disjoint shards of every epoch ([`Shard`](crate::data::Shard)), average
//! their gradients before every optimizer step, and agree on when to stop. Rank 0 alone runs the
//! callbacks, writes logs and checkpoints, and calls `prepare_data`.
//!
//! Gradients are averaged by burn's own collective where burn 0.22 has one (CUDA devices), and
//! through host memory elsewhere (see [`gradients`]).

mod data;
pub mod gradients;
mod launch;
mod process_group;

pub(crate) use data::{FollowerData, LeaderData};
pub(crate) use launch::{RankJob, run_ranks};
pub(crate) use process_group::FailOnPanic;
pub use process_group::{DEFAULT_TIMEOUT, ProcessGroup};

use serde::{Deserialize, Serialize};

/// Where a rank sits in the run (Lightning's `global_rank`, `local_rank`, `world_size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RankInfo {
    /// Rank across all nodes, from 0.
    pub global_rank: usize,
    /// Rank within this node, from 0.
    pub local_rank: usize,
    /// Index of this node.
    pub node_rank: usize,
    /// Ranks in the run.
    pub world_size: usize,
}

impl Default for RankInfo {
    fn default() -> Self {
        Self::single_node(0, 1)
    }
}

impl RankInfo {
    /// Rank `rank` of `world_size` on one node.
    pub fn single_node(rank: usize, world_size: usize) -> Self {
        Self {
            global_rank: rank,
            local_rank: rank,
            node_rank: 0,
            world_size,
        }
    }
    /// Whether this is global rank 0 (the rank that logs and checkpoints).
    pub fn is_global_zero(&self) -> bool {
        self.global_rank == 0
    }
}
