//! [`Strategy`]: every operation across ranks (Lightning's `strategies/strategy.py`). The loops
//! ask the strategy — agree on a stop, take rank 0's value, average a logged value or the
//! gradients, take turns on a shared generator — and never look at ranks themselves.
//! [`SingleDevice`] answers locally; [`DdpThreads`] runs one thread per rank over a
//! [`ProcessGroup`]. A multi-process strategy is one more implementation of this trait.

mod ddp_threads;
mod single_device;

pub(crate) use ddp_threads::DdpThreads;
pub(crate) use single_device::SingleDevice;

use anyhow::Result;
use burn::module::Module;

use crate::distributed::{ProcessGroup, RankInfo, gradients};
use crate::optim::LightningOptimizer;

/// The cross-rank operations of a run. `op` names the question in errors (a rank that asks a
/// different question, or none, is reported with it).
pub(crate) trait Strategy: Send + Sync {
    /// This rank's place in the run.
    fn ranks(&self) -> RankInfo;
    /// Whether `flag` holds on any rank: the ranks must take the same branch, or one would wait
    /// forever in a collective the others skipped (Lightning's `reduce_boolean_decision`).
    fn any_rank(&self, op: &str, flag: bool) -> Result<bool>;
    /// Rank 0's `value` on every rank (so that replicas decide alike).
    fn rank_zero_value(&self, op: &str, value: Option<f64>) -> Result<Option<f64>>;
    /// Every rank's `value`, in rank order.
    fn all_gather(&self, op: &str, value: f64) -> Result<Vec<f64>>;
    /// Runs `f` in this rank's turn among ranks that share a device (and its random generator),
    /// so that random draws do not depend on thread timing; `Ok(false)` when turns are not
    /// needed (`f` is not run then).
    fn in_turn(&self, f: &mut dyn FnMut()) -> Result<bool>;
    /// The group module-wide collectives run over (parameter broadcast, gradient averaging
    /// through host memory); `None` on one device.
    fn process_group(&self) -> Option<&ProcessGroup>;
    /// Whether gradients are averaged through host memory before each step (burn has no
    /// collective for the device; otherwise its backward averages them).
    fn host_gradient_sync(&self) -> bool;

    /// Whether there are other ranks to reduce with.
    fn is_distributed(&self) -> bool {
        self.ranks().world_size > 1
    }
}

/// Starts every replica from rank 0's weights (and marks the module for burn's device
/// collective where the backend has one).
pub(crate) fn broadcast_parameters<M: Module>(strategy: &dyn Strategy, module: M) -> Result<M> {
    let Some(group) = strategy.process_group() else {
        return Ok(module);
    };
    let rank = strategy.ranks().global_rank;
    let module = gradients::broadcast_parameters(module, group, rank)?;
    Ok(if strategy.host_gradient_sync() {
        module
    } else {
        gradients::mark_distributed(module)
    })
}

/// Averages `optimizer`'s accumulated gradients over the ranks where that is the strategy's job
/// (a no-op on one device, or where burn's backward already averaged them).
pub(crate) fn reduce_gradients<M: Module>(
    strategy: &dyn Strategy,
    module: &M,
    optimizer: &mut LightningOptimizer,
) -> Result<()> {
    match strategy.process_group() {
        Some(group) if strategy.host_gradient_sync() => {
            optimizer.all_reduce_gradients(module, group, strategy.ranks().global_rank)
        }
        _ => Ok(()),
    }
}
