//! One training batch under automatic optimization (Lightning's
//! `loops/optimization/automatic.py`): forward in this rank's turn, zero_grad at a window's
//! start, backward, and at a window's end gradient sync, unscaling, clipping, the optimizer step
//! and a due scheduler step.

use anyhow::Result;
use burn::prelude::Tensor;

use crate::loops::run::Run;
use crate::module::LightningModule;
use crate::optim::{LightningOptimizer, Schedule};
use crate::precision::mixed_training_step;

use super::{StepWindow, check_finite, scheduler_due, step_seed};

/// One training batch under automatic optimization; returns the module and the batch's loss.
/// The loss is read back to the host only for `terminate_on_nan`: a read waits for the device,
/// and the hooks receive the tensor, as Lightning's do.
pub(crate) fn automatic_step<M: LightningModule>(
    run: &mut Run,
    mut module: M,
    batch: &M::Batch,
    batch_idx: usize,
    optimizers: &mut [LightningOptimizer],
    window: StepWindow,
) -> Result<(M, Tensor<1>)> {
    let accumulate = window.accumulate;
    let last_of_epoch = window.last_of_epoch;
    let epoch = run.cx.position.progress.epoch;
    let seed = step_seed(run);
    let (m, loss) = run.in_turn(|run| -> Result<(M, Tensor<1>)> {
        if let Some(seed) = seed {
            run.cx.device.seed(seed);
        }
        match run.cfg.precision.mixed_dtype() {
            Some(half) => mixed_training_step(module, batch, batch_idx, &mut run.cx, half),
            None => {
                let loss = module.training_step(batch, batch_idx, &mut run.cx)?;
                Ok((module, loss))
            }
        }
    })??;
    module = m;
    if run.cfg.terminate_on_nan {
        check_finite(run, loss.clone().into_scalar::<f32>() as f64, batch_idx)?;
    }
    if window.starts {
        run.call_hook(
            &mut module,
            Some(&mut *optimizers),
            |c, m, cx| c.on_before_zero_grad(m, cx),
            |m, cx| m.on_before_zero_grad(cx),
        )?;
        module.optimizer_zero_grad(epoch, batch_idx, &mut optimizers[0])?;
    }
    // Lightning divides the loss so that accumulated gradients are a mean, not a sum; the
    // batch-end hooks get the undivided loss, as training_step returned it.
    let divided = (accumulate > 1).then(|| loss.clone().div_scalar(accumulate as f32));
    let backward_loss = divided.as_ref().unwrap_or(&loss);
    run.call_hook(
        &mut module,
        Some(&mut *optimizers),
        |c, m, cx| c.on_before_backward(m, backward_loss, cx),
        |m, cx| m.on_before_backward(backward_loss, cx),
    )?;
    match &run.scaler {
        // Scaled so that small float16 gradients survive; unscaled before the step.
        Some(scaler) => {
            optimizers[0].backward(&module, &backward_loss.clone().mul_scalar(scaler.scale))
        }
        None => optimizers[0].backward(&module, backward_loss),
    }
    // The hooks after backward get the loss detached, as Lightning's `ClosureResult` hands on
    // `closure_loss.detach()`: what a hook keeps of it holds no autodiff node.
    drop(divided);
    let loss = loss.detach();
    run.call_hook(
        &mut module,
        Some(&mut *optimizers),
        |c, m, cx| c.on_after_backward(m, cx),
        |m, cx| m.on_after_backward(cx),
    )?;

    if window.ends {
        crate::strategy::reduce_gradients(run.cx.strategy.as_ref(), &module, &mut optimizers[0])?;
        // GradScaler: unscale, then skip the step when the gradients overflowed.
        if let Some(scaler) = run.scaler.as_mut() {
            let finite = optimizers[0].unscale_gradients(&module, scaler.scale);
            if !scaler.update(finite) {
                optimizers[0].zero_grad();
            }
        }
        // The module's hook reads the optimizer the callbacks' handles hold, so the two halves
        // of the dispatch run one after the other here.
        run.call_callback_hook(&mut module, Some(&mut *optimizers), |c, m, cx| {
            c.on_before_optimizer_step(m, cx)
        })?;
        let optimizer = &mut optimizers[0];
        module.on_before_optimizer_step(optimizer, &mut run.cx)?;
        if run.cfg.track_grad_norm > 0.0 {
            let p = run.cfg.track_grad_norm;
            let (per_param, total) = optimizer.grad_norms(&module, p);
            let opts = crate::logging::LogOptions::default()
                .on_step(true)
                .on_epoch(false);
            for (name, norm) in per_param {
                run.cx
                    .log_with(&format!("grad_{p}_norm/{name}"), norm, opts.clone());
            }
            run.cx
                .log_with(&format!("grad_{p}_norm_total"), total, opts);
        }
        module.configure_gradient_clipping(
            optimizer,
            run.cfg.gradient_clip_val,
            run.cfg.gradient_clip_algorithm,
        )?;
        module = module.optimizer_step(epoch, batch_idx, optimizer)?;
        run.cx.position.progress.global_step += 1;
        let step = run.cx.position.progress.global_step;
        if let Some(scheduler) = optimizer.scheduler.as_mut() {
            let plateau = matches!(scheduler.schedule, Schedule::Plateau(_));
            let due = scheduler_due(
                scheduler.interval,
                plateau,
                scheduler.frequency,
                step,
                epoch,
                last_of_epoch,
            );
            if due {
                let metric = scheduler
                    .monitor
                    .as_ref()
                    .and_then(|m| run.cx.logging.metrics.callback_metrics.get(m).copied());
                module.lr_scheduler_step(scheduler, metric)?;
            }
        }
    }
    Ok((module, loss))
}
