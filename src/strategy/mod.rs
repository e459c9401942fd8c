//! [`Strategy`]: every operation across ranks (Lightning's `strategies/strategy.py`), and the
//! [`Launcher`] that starts a fit's ranks (Lightning's `strategy.launcher`). The loops ask the
//! strategy — agree on a stop, take rank 0's value, average a logged value or the gradients,
//! broadcast the initial weights, take turns on a shared generator — and never look at ranks
//! themselves. [`SingleDevice`] answers locally; [`DdpThreads`] runs one thread per rank over
//! a [`ProcessGroup`](crate::distributed::ProcessGroup). A multi-process strategy is one more
//! implementation of the trait and one more launcher: the module-wide collectives take flat
//! host buffers (`Vec<f32>`, `TensorData`), which is what a transport such as MPI sends.

mod ddp_threads;
mod launcher;
mod single_device;

pub(crate) use launcher::{Launcher, ThreadLauncher};
pub(crate) use single_device::SingleDevice;

use anyhow::Result;
use burn::module::Module;
use burn::tensor::TensorData;

use crate::distributed::{RankInfo, gradients};
use crate::optim::LightningOptimizer;

/// Who averages the gradients of a step across ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GradientSync {
    /// Nobody: there is one rank.
    None,
    /// The strategy, through host memory, once per optimizer step (burn has no collective for
    /// the device).
    Host,
    /// burn's backward, through the device collective, for parameters marked distributed.
    Backend,
}

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
    /// Rank 0's `tensors` (`Some` on rank 0 alone) on every rank.
    fn broadcast_tensors(
        &self,
        op: &str,
        tensors: Option<Vec<TensorData>>,
    ) -> Result<Vec<TensorData>>;
    /// The element-wise mean of `values` over the ranks (every rank passes the same length).
    fn all_reduce_mean(&self, op: &str, values: Vec<f32>) -> Result<Vec<f32>>;
    /// Who averages the gradients.
    fn gradient_sync(&self) -> GradientSync;

    /// Returns once every rank has reached the barrier named `op` (Lightning's
    /// `strategy.barrier`); a transport with a barrier of its own overrides it.
    fn barrier(&self, op: &str) -> Result<()> {
        self.any_rank(op, false).map(drop)
    }

    /// Whether there are other ranks to reduce with.
    fn is_distributed(&self) -> bool {
        self.ranks().world_size > 1
    }
}

/// Starts every replica from rank 0's weights (and marks the module for burn's device
/// collective where the backend has one).
pub(crate) fn broadcast_parameters<M: Module>(strategy: &dyn Strategy, module: M) -> Result<M> {
    if !strategy.is_distributed() {
        return Ok(module);
    }
    let rank = strategy.ranks().global_rank;
    let module = gradients::broadcast_parameters(module, rank, |mine| {
        strategy.broadcast_tensors("parameters", mine)
    })?;
    Ok(match strategy.gradient_sync() {
        GradientSync::Backend => gradients::mark_distributed(module),
        GradientSync::None | GradientSync::Host => module,
    })
}

/// Averages `optimizer`'s accumulated gradients over the ranks where that is the strategy's job
/// (a no-op on one device, or where burn's backward already averaged them).
pub(crate) fn reduce_gradients<M: Module>(
    strategy: &dyn Strategy,
    module: &M,
    optimizer: &mut LightningOptimizer,
) -> Result<()> {
    match strategy.gradient_sync() {
        GradientSync::Host => optimizer
            .all_reduce_gradients(module, |flat| strategy.all_reduce_mean("gradients", flat)),
        GradientSync::None | GradientSync::Backend => Ok(()),
    }
}
