//! The loops a Trainer call runs, shaped as Lightning's `loops/`: the fit loop (epochs), the
//! training epoch (batches), the optimization step (automatic or manual), and the evaluation
//! loop (validation, test; predict). Each loop keeps its decisions as named methods on a small
//! state struct, tested on their own; [`run::Run`] is the state the loops share.

pub(crate) mod evaluation_loop;
pub(crate) mod fit_loop;
pub(crate) mod optimization;
pub(crate) mod run;
pub(crate) mod training_epoch_loop;

use anyhow::Result;
use burn::prelude::Device;

use crate::module::LightningModule;

/// The batch-transfer hooks, in Lightning's order: on the host batch, the move to `device`,
/// on the device batch (every loop runs them before its batch-start hooks).
pub(crate) fn transfer_batch<M: LightningModule>(
    module: &mut M,
    batch: M::Batch,
    device: &Device,
) -> Result<M::Batch> {
    let batch = module.on_before_batch_transfer(batch, 0)?;
    let batch = module.transfer_batch_to_device(batch, device, 0)?;
    module.on_after_batch_transfer(batch, 0)
}
