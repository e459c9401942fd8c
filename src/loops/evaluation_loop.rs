//! Validation and test loops (also the sanity check), in Lightning's hook order:
//!
//! ```text
//! on_validation_model_zero_grad (inside fit, not in the sanity check)   on_validation_model_eval
//! on_validation_start   on_validation_epoch_start
//! for batch: on_before_batch_transfer, transfer_batch_to_device, on_after_batch_transfer,
//!            on_validation_batch_start, validation_step, on_validation_batch_end
//! on_validation_epoch_end   (epoch metrics reduced)   on_validation_end
//! on_validation_model_train (inside fit)
//! ```
//! The test loop is the same with `test` hooks (`on_test_model_eval` … `on_test_model_train`).

use anyhow::{Context, Result, bail};

use crate::data::{Batch, DataLoader};
use crate::module::LightningModule;
use crate::optim::LightningOptimizer;

use super::run::Run;
use crate::stage::RunningStage;

/// Which evaluation loop runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EvalKind {
    /// Validation before training; its metrics are discarded afterwards.
    Sanity,
    /// Validation inside `fit`, or `Trainer::validate`.
    Validation { in_fit: bool },
    /// `Trainer::test`.
    Test,
}

impl EvalKind {
    fn stage(self) -> RunningStage {
        match self {
            EvalKind::Sanity => RunningStage::SanityChecking,
            EvalKind::Validation { .. } => RunningStage::Validating,
            EvalKind::Test => RunningStage::Testing,
        }
    }
    fn in_fit(self) -> bool {
        matches!(
            self,
            EvalKind::Sanity | EvalKind::Validation { in_fit: true }
        )
    }
}

/// Runs one evaluation epoch of at most `limit` batches; returns the module in training mode
/// when called inside `fit`, in eval mode otherwise.
pub(crate) fn run_evaluation<M: LightningModule>(
    run: &mut Run,
    mut module: M,
    mut optimizers: Option<&mut [LightningOptimizer]>,
    loader: &DataLoader<M::Batch>,
    limit: usize,
    kind: EvalKind,
) -> Result<M> {
    let previous_stage = run.cx.stage;
    let eval_device = run.cx.device.clone().inner();
    // Lightning zeroes gradients only before validation inside the training epoch
    // (`loops/training_epoch_loop.py`); the sanity check runs before any backward, and its
    // `test_hooks.py` sequence has no `on_validation_model_zero_grad`.
    if kind == (EvalKind::Validation { in_fit: true }) {
        module.on_validation_model_zero_grad()?;
    }
    let test = kind == EvalKind::Test;
    module = if test {
        module.on_test_model_eval()?
    } else {
        module.on_validation_model_eval()?
    };
    run.cx.stage = kind.stage();

    if test {
        run.call_hook(
            &mut module,
            optimizers.as_deref_mut(),
            |c, m, cx| c.on_test_start(m, cx),
            |m, cx| m.on_test_start(cx),
        )?;
        run.call_hook(
            &mut module,
            optimizers.as_deref_mut(),
            |c, m, cx| c.on_test_epoch_start(m, cx),
            |m, cx| m.on_test_epoch_start(cx),
        )?;
    } else {
        run.call_hook(
            &mut module,
            optimizers.as_deref_mut(),
            |c, m, cx| c.on_validation_start(m, cx),
            |m, cx| m.on_validation_start(cx),
        )?;
        run.call_hook(
            &mut module,
            optimizers.as_deref_mut(),
            |c, m, cx| c.on_validation_epoch_start(m, cx),
            |m, cx| m.on_validation_epoch_start(cx),
        )?;
    }

    let mut seen = 0;
    for (batch_idx, batch) in loader.iter(0, 0).take(limit).enumerate() {
        let batch = batch.with_context(|| {
            format!(
                "loading {} batch {batch_idx}",
                if test { "test" } else { "validation" }
            )
        })?;
        let batch = module.on_before_batch_transfer(batch, 0)?;
        let batch = module.transfer_batch_to_device(batch, &eval_device, 0)?;
        let batch = module.on_after_batch_transfer(batch, 0)?;
        run.cx.current_batch_size = batch.batch_size();
        if test {
            run.call_hook(
                &mut module,
                optimizers.as_deref_mut(),
                |c, m, cx| c.on_test_batch_start(m, batch_idx, cx),
                |m, cx| m.on_test_batch_start(&batch, batch_idx, cx),
            )?;
            let outputs = module.test_step(&batch, batch_idx, &mut run.cx)?;
            run.call_hook(
                &mut module,
                optimizers.as_deref_mut(),
                |c, m, cx| c.on_test_batch_end(m, outputs.as_ref(), batch_idx, cx),
                |m, cx| m.on_test_batch_end(&batch, batch_idx, cx),
            )?;
        } else {
            run.call_hook(
                &mut module,
                optimizers.as_deref_mut(),
                |c, m, cx| c.on_validation_batch_start(m, batch_idx, cx),
                |m, cx| m.on_validation_batch_start(&batch, batch_idx, cx),
            )?;
            let outputs = module.validation_step(&batch, batch_idx, &mut run.cx)?;
            run.call_hook(
                &mut module,
                optimizers.as_deref_mut(),
                |c, m, cx| c.on_validation_batch_end(m, outputs.as_ref(), batch_idx, cx),
                |m, cx| m.on_validation_batch_end(&batch, batch_idx, cx),
            )?;
        }
        seen += 1;
    }
    if seen == 0 && limit > 0 {
        bail!(
            "the {} dataloader yielded no batches",
            if test { "test" } else { "validation" }
        );
    }

    if test {
        run.call_hook(
            &mut module,
            optimizers.as_deref_mut(),
            |c, m, cx| c.on_test_epoch_end(m, cx),
            |m, cx| m.on_test_epoch_end(cx),
        )?;
    } else {
        run.call_hook(
            &mut module,
            optimizers.as_deref_mut(),
            |c, m, cx| c.on_validation_epoch_end(m, cx),
            |m, cx| m.on_validation_epoch_end(cx),
        )?;
    }
    if kind == EvalKind::Sanity {
        run.cx.metrics.discard_epoch();
    } else {
        run.cx.metrics.finish_epoch();
        run.write_logs()?;
        if kind.in_fit() {
            run.cx.validation_has_run = true;
        }
    }
    if test {
        run.call_hook(
            &mut module,
            optimizers,
            |c, m, cx| c.on_test_end(m, cx),
            |m, cx| m.on_test_end(cx),
        )?;
    } else {
        run.call_hook(
            &mut module,
            optimizers,
            |c, m, cx| c.on_validation_end(m, cx),
            |m, cx| m.on_validation_end(cx),
        )?;
    }
    if kind.in_fit() {
        module = module.on_validation_model_train()?;
    } else if test {
        module = module.on_test_model_train()?;
    }
    run.cx.stage = previous_stage;
    Ok(module)
}
