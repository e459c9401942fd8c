//! The predict loop: `on_predict_start`, `on_predict_epoch_start`, per batch the transfer hooks,
//! `on_predict_batch_start`, `predict_step`, `on_predict_batch_end`; then the epoch and loop ends.

use anyhow::{Context, Result};
use burn::prelude::*;

use crate::data::{Batch, DataLoader};
use crate::module::LightningModule;

use super::run::Run;
use crate::stage::RunningStage;

pub(crate) fn run_predict<M: LightningModule>(
    run: &mut Run,
    module: &mut M,
    loader: &DataLoader<M::Batch>,
    limit: usize,
) -> Result<Vec<Tensor<2>>> {
    let device = run.cx.device.clone().inner();
    run.cx.stage = RunningStage::Predicting;
    run.call_hook(
        module,
        None,
        |c, m, cx| c.on_predict_start(m, cx),
        |m, cx| m.on_predict_start(cx),
    )?;
    run.call_hook(
        module,
        None,
        |c, m, cx| c.on_predict_epoch_start(m, cx),
        |m, cx| m.on_predict_epoch_start(cx),
    )?;
    let mut outputs = Vec::new();
    for (batch_idx, batch) in loader.iter(0, 0).take(limit).enumerate() {
        let batch = batch.with_context(|| format!("loading predict batch {batch_idx}"))?;
        let batch = module.on_before_batch_transfer(batch, 0)?;
        let batch = module.transfer_batch_to_device(batch, &device, 0)?;
        let batch = module.on_after_batch_transfer(batch, 0)?;
        run.cx.current_batch_size = batch.batch_size();
        run.call_hook(
            module,
            None,
            |c, m, cx| c.on_predict_batch_start(m, batch_idx, cx),
            |m, cx| m.on_predict_batch_start(&batch, batch_idx, cx),
        )?;
        let out = module.predict_step(&batch, batch_idx, &mut run.cx)?;
        run.call_hook(
            module,
            None,
            |c, m, cx| c.on_predict_batch_end(m, &out, batch_idx, cx),
            |m, cx| m.on_predict_batch_end(&out, batch_idx, cx),
        )?;
        outputs.push(out);
    }
    run.call_hook(
        module,
        None,
        |c, m, cx| c.on_predict_epoch_end(m, cx),
        |m, cx| m.on_predict_epoch_end(cx),
    )?;
    run.call_hook(
        module,
        None,
        |c, m, cx| c.on_predict_end(m, cx),
        |m, cx| m.on_predict_end(cx),
    )?;
    Ok(outputs)
}
