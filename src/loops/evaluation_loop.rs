//! The evaluation loop: validation (also the sanity check), test and predict, in Lightning's
//! hook order:
//!
//! ```text
//! on_validation_model_zero_grad (inside fit, not in the sanity check)   on_validation_model_eval
//! on_validation_start   on_validation_epoch_start
//! for batch: on_before_batch_transfer, transfer_batch_to_device, on_after_batch_transfer,
//!            on_validation_batch_start, validation_step, on_validation_batch_end
//! on_validation_epoch_end   (epoch metrics reduced)   on_validation_end
//! on_validation_model_train (inside fit)
//! ```
//! Test is the same with `test` hooks (`on_test_model_eval` … `on_test_model_train`); predict
//! with `predict` hooks, keeping each batch's prediction (the Trainer switches the module to
//! eval before it). The kind picks its hooks once, as a table ([`EvalHooks`]); the loop itself
//! has no branch on the kind.

use anyhow::{Context, Result, bail};
use burn::prelude::*;

use crate::callbacks::Callback;
use crate::context::HookContext;
use crate::data::{Batch, DataLoader};
use crate::loops::run::Run;
use crate::module::LightningModule;
use crate::module_handle::ModuleHandle;
use crate::optim::LightningOptimizer;
use crate::stage::RunningStage;

use super::transfer_batch;

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
    /// Whether the loop runs inside `fit` (the module goes back to training after it).
    fn in_fit(self) -> bool {
        matches!(
            self,
            EvalKind::Sanity | EvalKind::Validation { in_fit: true }
        )
    }
}

type CallbackHook = fn(&mut dyn Callback, &mut ModuleHandle<'_>, &mut HookContext) -> Result<()>;
type CallbackBatchStart =
    fn(&mut dyn Callback, &mut ModuleHandle<'_>, usize, &mut HookContext) -> Result<()>;
type ModuleHook<M> = fn(&mut M, &mut HookContext) -> Result<()>;
type ModuleBatchStart<M> =
    fn(&mut M, &<M as LightningModule>::Batch, usize, &mut HookContext) -> Result<()>;

/// One hook of the loop: the callbacks' version and the module's.
struct Hook<C, H> {
    callback: C,
    module: H,
}

/// The hooks of one kind of evaluation, chosen once; `O` is what its step returns.
pub(crate) struct EvalHooks<M: LightningModule, O> {
    /// Names the data in errors ("validation", "test", "predict").
    what: &'static str,
    start: Hook<CallbackHook, ModuleHook<M>>,
    epoch_start: Hook<CallbackHook, ModuleHook<M>>,
    batch_start: Hook<CallbackBatchStart, ModuleBatchStart<M>>,
    step: fn(&mut M, &M::Batch, usize, &mut HookContext) -> Result<O>,
    #[allow(clippy::type_complexity)]
    batch_end: Hook<
        fn(&mut dyn Callback, &mut ModuleHandle<'_>, &O, usize, &mut HookContext) -> Result<()>,
        fn(&mut M, &M::Batch, &O, usize, &mut HookContext) -> Result<()>,
    >,
    epoch_end: Hook<CallbackHook, ModuleHook<M>>,
    end: Hook<CallbackHook, ModuleHook<M>>,
}

impl<M: LightningModule> EvalHooks<M, Option<Tensor<1>>> {
    fn validation() -> Self {
        Self {
            what: "validation",
            start: Hook {
                callback: |c, m, cx| c.on_validation_start(m, cx),
                module: |m, cx| m.on_validation_start(cx),
            },
            epoch_start: Hook {
                callback: |c, m, cx| c.on_validation_epoch_start(m, cx),
                module: |m, cx| m.on_validation_epoch_start(cx),
            },
            batch_start: Hook {
                callback: |c, m, i, cx| c.on_validation_batch_start(m, i, cx),
                module: |m, b, i, cx| m.on_validation_batch_start(b, i, cx),
            },
            step: |m, b, i, cx| m.validation_step(b, i, cx),
            batch_end: Hook {
                callback: |c, m, o, i, cx| c.on_validation_batch_end(m, o.as_ref(), i, cx),
                module: |m, b, _, i, cx| m.on_validation_batch_end(b, i, cx),
            },
            epoch_end: Hook {
                callback: |c, m, cx| c.on_validation_epoch_end(m, cx),
                module: |m, cx| m.on_validation_epoch_end(cx),
            },
            end: Hook {
                callback: |c, m, cx| c.on_validation_end(m, cx),
                module: |m, cx| m.on_validation_end(cx),
            },
        }
    }

    fn test() -> Self {
        Self {
            what: "test",
            start: Hook {
                callback: |c, m, cx| c.on_test_start(m, cx),
                module: |m, cx| m.on_test_start(cx),
            },
            epoch_start: Hook {
                callback: |c, m, cx| c.on_test_epoch_start(m, cx),
                module: |m, cx| m.on_test_epoch_start(cx),
            },
            batch_start: Hook {
                callback: |c, m, i, cx| c.on_test_batch_start(m, i, cx),
                module: |m, b, i, cx| m.on_test_batch_start(b, i, cx),
            },
            step: |m, b, i, cx| m.test_step(b, i, cx),
            batch_end: Hook {
                callback: |c, m, o, i, cx| c.on_test_batch_end(m, o.as_ref(), i, cx),
                module: |m, b, _, i, cx| m.on_test_batch_end(b, i, cx),
            },
            epoch_end: Hook {
                callback: |c, m, cx| c.on_test_epoch_end(m, cx),
                module: |m, cx| m.on_test_epoch_end(cx),
            },
            end: Hook {
                callback: |c, m, cx| c.on_test_end(m, cx),
                module: |m, cx| m.on_test_end(cx),
            },
        }
    }
}

impl<M: LightningModule> EvalHooks<M, Tensor<2>> {
    fn predict() -> Self {
        Self {
            what: "predict",
            start: Hook {
                callback: |c, m, cx| c.on_predict_start(m, cx),
                module: |m, cx| m.on_predict_start(cx),
            },
            epoch_start: Hook {
                callback: |c, m, cx| c.on_predict_epoch_start(m, cx),
                module: |m, cx| m.on_predict_epoch_start(cx),
            },
            batch_start: Hook {
                callback: |c, m, i, cx| c.on_predict_batch_start(m, i, cx),
                module: |m, b, i, cx| m.on_predict_batch_start(b, i, cx),
            },
            step: |m, b, i, cx| m.predict_step(b, i, cx),
            batch_end: Hook {
                callback: |c, m, o, i, cx| c.on_predict_batch_end(m, o, i, cx),
                module: |m, _, o, i, cx| m.on_predict_batch_end(o, i, cx),
            },
            epoch_end: Hook {
                callback: |c, m, cx| c.on_predict_epoch_end(m, cx),
                module: |m, cx| m.on_predict_epoch_end(cx),
            },
            end: Hook {
                callback: |c, m, cx| c.on_predict_end(m, cx),
                module: |m, cx| m.on_predict_end(cx),
            },
        }
    }
}

/// The loop proper, the same for every kind: start and epoch-start hooks, at most `limit`
/// batches (each kept with `keep`), epoch-end hooks, `after_epoch`, end hooks.
#[allow(clippy::too_many_arguments)]
fn evaluation_epoch<M: LightningModule, O>(
    run: &mut Run,
    module: &mut M,
    mut optimizers: Option<&mut [LightningOptimizer]>,
    loader: &DataLoader<M::Batch>,
    limit: usize,
    hooks: &EvalHooks<M, O>,
    mut keep: impl FnMut(O),
    after_epoch: impl FnOnce(&mut Run) -> Result<()>,
) -> Result<()> {
    let device = run.cx.device.clone().inner();
    let call = |run: &mut Run,
                module: &mut M,
                optimizers: Option<&mut [LightningOptimizer]>,
                hook: &Hook<CallbackHook, ModuleHook<M>>| {
        run.call_hook(module, optimizers, hook.callback, hook.module)
    };
    call(run, module, optimizers.as_deref_mut(), &hooks.start)?;
    call(run, module, optimizers.as_deref_mut(), &hooks.epoch_start)?;
    let mut seen = 0;
    for (batch_idx, batch) in loader.iter(0, 0).take(limit).enumerate() {
        let batch = batch.with_context(|| format!("loading {} batch {batch_idx}", hooks.what))?;
        let batch = transfer_batch(module, batch, &device)?;
        run.cx.position.current_batch_size = batch.batch_size();
        run.call_hook(
            module,
            optimizers.as_deref_mut(),
            |c, m, cx| (hooks.batch_start.callback)(c, m, batch_idx, cx),
            |m, cx| (hooks.batch_start.module)(m, &batch, batch_idx, cx),
        )?;
        let out = (hooks.step)(module, &batch, batch_idx, &mut run.cx)?;
        run.call_hook(
            module,
            optimizers.as_deref_mut(),
            |c, m, cx| (hooks.batch_end.callback)(c, m, &out, batch_idx, cx),
            |m, cx| (hooks.batch_end.module)(m, &batch, &out, batch_idx, cx),
        )?;
        keep(out);
        seen += 1;
    }
    if seen == 0 && limit > 0 {
        bail!("the {} dataloader yielded no batches", hooks.what);
    }
    call(run, module, optimizers.as_deref_mut(), &hooks.epoch_end)?;
    after_epoch(run)?;
    call(run, module, optimizers, &hooks.end)
}

/// Runs one validation or test epoch of at most `limit` batches; returns the module in
/// training mode when called inside `fit`, in eval mode otherwise.
pub(crate) fn run_evaluation<M: LightningModule>(
    run: &mut Run,
    mut module: M,
    optimizers: Option<&mut [LightningOptimizer]>,
    loader: &DataLoader<M::Batch>,
    limit: usize,
    kind: EvalKind,
) -> Result<M> {
    let previous_stage = run.cx.position.stage;
    // Lightning zeroes gradients only before validation inside the training epoch
    // (`loops/training_epoch_loop.py`); the sanity check runs before any backward, and its
    // `test_hooks.py` sequence has no `on_validation_model_zero_grad`.
    if kind == (EvalKind::Validation { in_fit: true }) {
        module.on_validation_model_zero_grad()?;
    }
    let test = kind == EvalKind::Test;
    let hooks = if test {
        EvalHooks::test()
    } else {
        EvalHooks::validation()
    };
    module = if test {
        module.on_test_model_eval()?
    } else {
        module.on_validation_model_eval()?
    };
    run.cx.position.stage = kind.stage();
    let after_epoch = |run: &mut Run| -> Result<()> {
        if kind == EvalKind::Sanity {
            run.cx.logging.metrics.discard_epoch();
            return Ok(());
        }
        run.cx.logging.metrics.finish_epoch();
        run.write_logs()?;
        if kind.in_fit() {
            run.cx.position.validation_has_run = true;
        }
        Ok(())
    };
    evaluation_epoch(
        run,
        &mut module,
        optimizers,
        loader,
        limit,
        &hooks,
        drop,
        after_epoch,
    )?;
    if kind.in_fit() {
        module = module.on_validation_model_train()?;
    } else if test {
        module = module.on_test_model_train()?;
    }
    run.cx.position.stage = previous_stage;
    Ok(module)
}

/// Runs `predict_step` over at most `limit` batches; returns the predictions in order.
pub(crate) fn run_predict<M: LightningModule>(
    run: &mut Run,
    module: &mut M,
    loader: &DataLoader<M::Batch>,
    limit: usize,
) -> Result<Vec<Tensor<2>>> {
    run.cx.position.stage = RunningStage::Predicting;
    let mut outputs = Vec::new();
    evaluation_epoch(
        run,
        module,
        None,
        loader,
        limit,
        &EvalHooks::predict(),
        |out| outputs.push(out),
        |_| Ok(()),
    )?;
    Ok(outputs)
}
