//! One training batch under manual optimization (Lightning's `loops/optimization/manual.py`):
//! `training_step_manual` runs backward and the optimizer steps itself, through the provided
//! `LightningModule::manual_backward` and `manual_step`, which run the callbacks' hooks.

use anyhow::Result;
use burn::prelude::Tensor;

use crate::loops::run::Run;
use crate::manual_optimization::ManualOptimizers;
use crate::module::LightningModule;
use crate::optim::LightningOptimizer;

use super::{check_finite, step_seed};

/// Runs `training_step_manual` with the callbacks lent to the context; returns the module and
/// the loss. `global_step` advances when any optimizer stepped.
pub(crate) fn manual_step<M: LightningModule>(
    run: &mut Run,
    mut module: M,
    batch: &M::Batch,
    batch_idx: usize,
    optimizers: &mut [LightningOptimizer],
) -> Result<(M, Tensor<1>)> {
    if let Some(seed) = step_seed(run) {
        run.cx.device.seed(seed);
    }
    let before: usize = optimizers.iter().map(LightningOptimizer::steps_taken).sum();
    let mut manual = ManualOptimizers::new(optimizers, &mut run.callbacks);
    let (m, loss) = module.training_step_manual(batch, batch_idx, &mut manual, &mut run.cx)?;
    module = m;
    check_finite(run, loss, batch_idx)?;
    let after: usize = optimizers.iter().map(LightningOptimizer::steps_taken).sum();
    run.cx.position.progress.global_step += usize::from(after > before);
    // The batch-end hooks take the loss as a tensor, as the automatic step hands it on.
    Ok((module, Tensor::from_floats([loss as f32], &run.cx.device)))
}
