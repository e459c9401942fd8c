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
//! eval before it). The stage picks its hooks once, as a table ([`EvalHooks`]); the loop itself
//! has no branch on the stage.

use anyhow::{Context, Result, bail};
use burn::prelude::*;

use crate::callbacks::Callback;
use crate::context::HookContext;
use crate::data::{Batch, DataLoader};
use crate::loops::run::Run;
use crate::module::LightningModule;
use crate::module_handle::ModuleHandle;
use crate::optim::LightningOptimizer;
use crate::stage::{RunningStage, Stage};

use super::transfer_batch;

/// What one evaluation loop decides from its stage (sanity check, validation or test) and the
/// Trainer entry point it runs under; every decision is a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EvaluationLoop {
    /// `SanityChecking`, `Validating` or `Testing`.
    pub stage: RunningStage,
    /// The Trainer entry point (`Stage::Fit` for the sanity check and validation inside fit).
    pub trainer_fn: Stage,
}

impl EvaluationLoop {
    /// Whether the loop runs inside `fit`: the module goes back to training after it.
    pub fn in_fit(self) -> bool {
        self.trainer_fn == Stage::Fit
    }

    /// Whether gradients are zeroed first: only before validation inside the training epoch
    /// (Lightning's `loops/training_epoch_loop.py`); the sanity check runs before any backward,
    /// and its `test_hooks.py` sequence has no `on_validation_model_zero_grad`.
    pub fn zeroes_gradients(self) -> bool {
        self.in_fit() && self.stage == RunningStage::Validating
    }

    /// Whether the loop runs the test hooks (else the validation hooks).
    pub fn is_test(self) -> bool {
        self.stage == RunningStage::Testing
    }

    /// Whether the epoch's metrics are discarded (the sanity check's) instead of logged.
    pub fn discards_metrics(self) -> bool {
        self.stage == RunningStage::SanityChecking
    }

    /// Whether the loop counts as a validation of this `fit` (the sanity check does not).
    pub fn marks_validation_run(self) -> bool {
        self.in_fit() && self.stage == RunningStage::Validating
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

/// Runs one validation (`stage` `Validating`, or `SanityChecking` before training) or test
/// (`Testing`) epoch of at most `limit` batches; returns the module in training mode when called
/// inside `fit` (the context's Trainer entry point), in eval mode otherwise.
pub(crate) fn run_evaluation<M: LightningModule>(
    run: &mut Run,
    mut module: M,
    optimizers: Option<&mut [LightningOptimizer]>,
    loader: &DataLoader<M::Batch>,
    limit: usize,
    stage: RunningStage,
) -> Result<M> {
    let eval = EvaluationLoop {
        stage,
        trainer_fn: run.cx.position.trainer_fn,
    };
    let previous_stage = run.cx.position.stage;
    if eval.zeroes_gradients() {
        module.on_validation_model_zero_grad()?;
    }
    let hooks = if eval.is_test() {
        EvalHooks::test()
    } else {
        EvalHooks::validation()
    };
    module = if eval.is_test() {
        module.on_test_model_eval()?
    } else {
        module.on_validation_model_eval()?
    };
    run.cx.position.stage = stage;
    let after_epoch = |run: &mut Run| -> Result<()> {
        if eval.discards_metrics() {
            run.cx.logging.metrics.discard_epoch();
            return Ok(());
        }
        run.cx.logging.metrics.finish_epoch();
        run.write_logs()?;
        if eval.marks_validation_run() {
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
    if eval.in_fit() {
        module = module.on_validation_model_train()?;
    } else if eval.is_test() {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(stage: RunningStage, trainer_fn: Stage) -> EvaluationLoop {
        EvaluationLoop { stage, trainer_fn }
    }

    #[test]
    fn inside_fit_is_decided_by_the_trainer_entry_point() {
        let sanity = eval(RunningStage::SanityChecking, Stage::Fit);
        let in_fit = eval(RunningStage::Validating, Stage::Fit);
        let validate = eval(RunningStage::Validating, Stage::Validate);
        let test = eval(RunningStage::Testing, Stage::Test);
        assert!(sanity.in_fit() && in_fit.in_fit());
        assert!(!validate.in_fit() && !test.in_fit());
        assert!(in_fit.zeroes_gradients());
        assert!(
            !sanity.zeroes_gradients(),
            "the sanity check runs before any backward"
        );
        assert!(!validate.zeroes_gradients() && !test.zeroes_gradients());
        assert!(in_fit.marks_validation_run());
        assert!(!sanity.marks_validation_run() && !validate.marks_validation_run());
        assert!(sanity.discards_metrics() && !in_fit.discards_metrics());
        assert!(test.is_test() && !validate.is_test());
    }
}
