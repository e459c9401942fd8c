//! `Trainer::fit`, top to bottom, in the order of Lightning's own hook test
//! (`tests/tests_pytorch/models/test_hooks.py`), which differs from the docs pseudocode in four
//! places: the batch reaches the device before `on_train_batch_start`; validation inside an
//! epoch runs before `on_train_epoch_end`; the epoch-end checkpoint is written after
//! `on_train_epoch_end`; and each callback hook fires before the module's.
//!
//! ```text
//! configure_callbacks  prepare_data  setup(fit)  [on_load_checkpoint]  configure_model
//! [resume: module weights, datamodule state, callbacks' on_load_checkpoint + load_state_dict]
//! configure_optimizers [train_dataloader, when it asks for estimated_stepping_batches]
//! on_fit_start
//! sanity check (validation loop on num_sanity_val_steps batches, metrics discarded)
//! train_dataloader  on_train_start
//! for epoch:
//!     on_train_epoch_start
//!     for batch:
//!         on_before_batch_transfer  transfer_batch_to_device  on_after_batch_transfer
//!         on_train_batch_start  training_step
//!         [first micro-batch of a window] on_before_zero_grad  optimizer_zero_grad
//!         on_before_backward  backward  on_after_backward
//!         [last micro-batch of a window] on_before_optimizer_step  configure_gradient_clipping
//!                                        optimizer_step  [lr_scheduler_step: step interval,
//!                                        and epoch interval on the epoch's last batch]
//!         on_train_batch_end  [checkpoint every_n_train_steps]
//!         [validation loop when due]
//!     on_train_epoch_end (callbacks, module, then ModelCheckpoint/EarlyStopping)
//!     [epoch checkpoint]  [plateau lr_scheduler_step]
//! on_train_end  on_fit_end  teardown(fit)
//! ```

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;

use crate::checkpoint::{Checkpoint, optimizer_section, parameter_shapes, scheduler_section};
use crate::data::{Batch, DataLoader, mix};
use crate::datamodule::LightningDataModule;
use crate::distributed::gradients;
use crate::logging::MetricStore;
use crate::module::LightningModule;
use crate::optim::{Interval, LightningOptimizer, Schedule};
use crate::optimizer_setup::{OptimizerSetup, stepping_batches};

use super::evaluation_loop::{EvalKind, run_evaluation};
use super::run::Run;
use super::{RunningStage, Stage, config::parse_duration};

/// Everything `fit` runs after the Trainer has assembled callbacks and loggers.
pub(crate) fn fit<M: LightningModule, D: LightningDataModule<Batch = M::Batch> + ?Sized>(
    run: &mut Run,
    mut module: M,
    datamodule: &mut D,
    checkpoint: Option<(&Path, Checkpoint)>,
) -> Result<M> {
    // ----- set-up -------------------------------------------------------------------------
    datamodule
        .prepare_data()
        .context("datamodule prepare_data")?;
    if run.cx.ranks.local_rank == 0 {
        module.prepare_data().context("module prepare_data")?;
    }
    datamodule
        .setup(Stage::Fit)
        .context("datamodule setup(fit)")?;
    run.call_hook(
        &mut module,
        None,
        |c, m, cx| c.setup(m, Stage::Fit, cx),
        |m, cx| m.setup(Stage::Fit, cx),
    )?;
    if let Some((_, ck)) = &checkpoint {
        module.on_load_checkpoint(&ck.state)?;
    }
    module.configure_model(&mut run.cx)?;
    let device = run.cx.device.clone();
    module = module.fork(&device).train();
    // Lightning's `_checkpoint_connector` order: the module's weights, the datamodule, then the
    // callbacks, which may read sections of their own and put weights into the module.
    if let Some((path, ck)) = &checkpoint {
        module = ck.load_module(module, path)?;
        datamodule.load_state_dict(ck.state.datamodule.clone())?;
        run.restore_callbacks(&mut module, ck, path, true)?;
    }
    if let Some(group) = run.cx.group.clone() {
        let rank = run.cx.ranks.global_rank;
        module = gradients::broadcast_parameters(module, &group, rank)
            .context("starting the replicas from rank 0's weights")?;
        if !run.cx.host_gradient_sync {
            module = gradients::mark_distributed(module);
        }
    }
    let fast_dev = run.cfg.fast_dev_run.batches();
    let overfit = run.cfg.overfit_batches;
    let overfitting = !matches!(overfit, super::Limit::Fraction(f) if f == 0.0)
        && !matches!(overfit, super::Limit::Batches(0));
    let max_epochs = if fast_dev.is_some() {
        Some(1)
    } else {
        run.cfg.effective_max_epochs()
    };
    let max_steps = if fast_dev.is_some() {
        None
    } else {
        usize::try_from(run.cfg.max_steps).ok()
    };
    // Loaded here only when `configure_optimizers` asks for the stepping batches; the training
    // loop then reuses it.
    let mut early_train_loader: Option<DataLoader<M::Batch>> = None;
    let mut optimizers = {
        let cfg = &run.cfg;
        let mut estimate = || -> Result<usize> {
            stepping_batches(
                || {
                    let loader = match early_train_loader.take() {
                        Some(loader) => loader,
                        None => datamodule.train_dataloader()?,
                    };
                    let batches = train_batches(&loader, cfg, fast_dev, overfitting);
                    early_train_loader = Some(loader);
                    Ok(batches)
                },
                cfg.accumulate_grad_batches,
                max_epochs,
                max_steps,
            )
        };
        module
            .configure_optimizers(&mut OptimizerSetup::new(&mut estimate))?
            .0
    };
    if optimizers.is_empty() {
        bail!("configure_optimizers returned no optimizer");
    }
    if module.automatic_optimization() && optimizers.len() > 1 {
        bail!(
            "automatic optimization supports one optimizer, configure_optimizers returned {}; set automatic_optimization() to false",
            optimizers.len()
        );
    }
    if let Some((path, ck)) = &checkpoint {
        restore_training_state(run, &mut optimizers, ck, path)?;
    }
    run.cx.model_summary = summarize(&module);
    run.refresh_learning_rates(&optimizers);
    run.call_hook(
        &mut module,
        Some(&mut optimizers),
        |c, m, cx| c.on_fit_start(m, cx),
        |m, cx| m.on_fit_start(cx),
    )?;

    // ----- sanity check -------------------------------------------------------------------
    let val_limit = |loader: &DataLoader<M::Batch>, cfg: &super::TrainerConfig| {
        fast_dev.unwrap_or_else(|| cfg.limit_val_batches.apply(loader.num_batches()))
    };
    let sanity_steps = if fast_dev.is_some() || overfitting || checkpoint.is_some() {
        0
    } else {
        run.cfg.num_sanity_val_steps
    };
    let mut val_loader = None;
    if sanity_steps != 0 {
        run.cx.stage = RunningStage::SanityChecking;
        run.call_callback_hook(&mut module, Some(&mut optimizers), |c, m, cx| {
            c.on_sanity_check_start(m, cx)
        })?;
        val_loader = datamodule.val_dataloader()?;
        if let Some(loader) = &val_loader {
            let limit = val_limit(loader, &run.cfg);
            let n = if sanity_steps < 0 {
                limit
            } else {
                limit.min(sanity_steps as usize)
            };
            if n > 0 {
                module = run_evaluation(
                    run,
                    module,
                    Some(&mut optimizers),
                    loader,
                    n,
                    EvalKind::Sanity,
                )?;
            }
        }
        run.call_callback_hook(&mut module, Some(&mut optimizers), |c, m, cx| {
            c.on_sanity_check_end(m, cx)
        })?;
    } else if !overfitting {
        val_loader = datamodule.val_dataloader()?;
    }

    // ----- training -----------------------------------------------------------------------
    let mut train_loader = match early_train_loader {
        Some(loader) => loader,
        None => datamodule.train_dataloader()?,
    };
    if overfitting {
        train_loader = train_loader.sequential();
        val_loader = Some(train_loader.clone());
    }
    if train_loader.num_batches() == 0 {
        bail!(
            "train_dataloader yields no batches ({} examples, batch size {}, drop_last {}): check the data set and its split",
            train_loader.dataset_len(),
            train_loader.batch_size(),
            train_loader.is_drop_last()
        );
    }
    run.cx.num_training_batches = train_batches(&train_loader, &run.cfg, fast_dev, overfitting);
    run.cx.num_val_batches = match &val_loader {
        Some(l) if overfitting => run.cx.num_training_batches.min(l.num_batches()),
        Some(l) => val_limit(l, &run.cfg),
        None => 0,
    };
    // Lightning's rule: checkpoints follow the epoch when validation closes every epoch (or
    // never runs), else they follow each validation.
    run.cx.check_on_train_epoch_end = run.cx.num_val_batches == 0
        || (run.cfg.check_val_every_n_epoch == Some(1)
            && matches!(run.cfg.val_check_interval, super::Limit::Fraction(f) if f == 1.0));
    run.cx.max_epochs = max_epochs;
    let max_time = run
        .cfg
        .max_time
        .as_deref()
        .map(parse_duration)
        .transpose()?;
    let started = Instant::now();
    let elapsed_before = run.cx.progress.elapsed_secs;

    run.cx.stage = RunningStage::Training;
    run.call_hook(
        &mut module,
        Some(&mut optimizers),
        |c, m, cx| c.on_train_start(m, cx),
        |m, cx| m.on_train_start(cx),
    )?;

    if run.cx.progress.epoch_finished {
        run.cx.progress.epoch += 1;
        run.cx.progress.batch_in_epoch = 0;
        run.cx.progress.epoch_finished = false;
    }
    let accumulate = run.cfg.accumulate_grad_batches;
    let out_of_time = |_: &Run| {
        // Saturating: `elapsed_before` comes from a checkpoint file.
        max_time.is_some_and(|t| {
            started.elapsed().as_secs().saturating_add(elapsed_before) >= t.as_secs()
        })
    };
    let steps_done = |run: &Run| max_steps.is_some_and(|m| run.cx.progress.global_step >= m);

    'epochs: while max_epochs.is_none_or(|m| run.cx.progress.epoch < m) {
        run.agree_on_stop()?;
        let timed_out = run.any_rank("max_time", out_of_time(run))?;
        if steps_done(run) || timed_out || (run.cx.should_stop && run.cx.minimums_reached()) {
            break;
        }
        let epoch = run.cx.progress.epoch;
        let reload = run.cfg.reload_dataloaders_every_n_epochs;
        if reload > 0
            && epoch > 0
            && epoch.is_multiple_of(reload)
            && run.cx.progress.batch_in_epoch == 0
        {
            train_loader = datamodule.train_dataloader()?;
            run.cx.num_training_batches =
                train_batches(&train_loader, &run.cfg, fast_dev, overfitting);
        }
        let num_batches = run.cx.num_training_batches;
        let val_every = val_interval(&run.cfg, num_batches)?;
        let val_this_epoch = val_loader.is_some()
            && run.cx.num_val_batches > 0
            && run
                .cfg
                .check_val_every_n_epoch
                .is_none_or(|n| (epoch + 1).is_multiple_of(n));

        run.cx.stage = RunningStage::Training;
        run.call_hook(
            &mut module,
            Some(&mut optimizers),
            |c, m, cx| c.on_train_epoch_start(m, cx),
            |m, cx| m.on_train_epoch_start(cx),
        )?;

        let skip = run.cx.progress.batch_in_epoch;
        let batches = train_loader
            .iter(epoch, skip)
            .take(num_batches.saturating_sub(skip));
        for (offset, batch) in batches.enumerate() {
            let batch_idx = skip + offset;
            let batch = batch
                .with_context(|| format!("loading training batch {batch_idx} of epoch {epoch}"))?;
            let batch = module.on_before_batch_transfer(batch, 0)?;
            let batch = module.transfer_batch_to_device(batch, &device, 0)?;
            let batch = module.on_after_batch_transfer(batch, 0)?;
            run.cx.current_batch_size = batch.batch_size();
            run.call_hook(
                &mut module,
                Some(&mut optimizers),
                |c, m, cx| c.on_train_batch_start(m, batch_idx, cx),
                |m, cx| m.on_train_batch_start(&batch, batch_idx, cx),
            )?;
            run.agree_on_stop()?;
            if run.cx.should_stop && run.cx.minimums_reached() {
                break;
            }
            let last_of_epoch = batch_idx + 1 == num_batches;
            let loss = if module.automatic_optimization() {
                let (m, loss) = automatic_step(
                    run,
                    module,
                    &batch,
                    batch_idx,
                    &mut optimizers,
                    accumulate,
                    last_of_epoch,
                )?;
                module = m;
                loss
            } else {
                if let Some(seed) = step_seed(run) {
                    device.seed(seed);
                }
                let before: usize = optimizers.iter().map(LightningOptimizer::steps_taken).sum();
                run.cx.manual_callbacks = std::mem::take(&mut run.callbacks);
                let result =
                    module.training_step_manual(&batch, batch_idx, &mut optimizers, &mut run.cx);
                run.callbacks = std::mem::take(&mut run.cx.manual_callbacks);
                let (m, loss) = result?;
                module = m;
                check_finite(run, loss, batch_idx)?;
                let after: usize = optimizers.iter().map(LightningOptimizer::steps_taken).sum();
                run.cx.progress.global_step += usize::from(after > before);
                loss
            };
            run.cx.progress.batch_in_epoch = batch_idx + 1;
            run.cx.progress.total_batches += 1;
            run.refresh_learning_rates(&optimizers);
            run.call_hook(
                &mut module,
                Some(&mut optimizers),
                |c, m, cx| c.on_train_batch_end(m, loss, batch_idx, cx),
                |m, cx| m.on_train_batch_end(loss, &batch, batch_idx, cx),
            )?;
            run.process_checkpoint_requests(&mut module, &mut optimizers, datamodule)?;
            run.agree_on_stop()?;

            let stepped = (batch_idx + 1).is_multiple_of(accumulate) || last_of_epoch;
            if stepped
                && (run
                    .cx
                    .progress
                    .global_step
                    .is_multiple_of(run.cfg.log_every_n_steps)
                    || last_of_epoch)
            {
                run.write_logs()?;
            }
            run.steps_since_flush += usize::from(stepped);
            if run.steps_since_flush >= run.cfg.flush_logs_every_n_steps {
                run.flush_logs()?;
            }
            // Lightning counts the interval within the epoch, or across epochs when
            // check_val_every_n_epoch is null; a run about to stop early validates first.
            let position = if run.cfg.check_val_every_n_epoch.is_none() {
                run.cx.progress.total_batches - 1
            } else {
                batch_idx
            };
            let stopping = run.cx.should_stop && run.cx.minimums_reached();
            if val_this_epoch && ((position + 1) % val_every == 0 || stopping) {
                let loader = val_loader.as_ref().expect("checked above");
                let limit = run.cx.num_val_batches;
                module = run_evaluation(
                    run,
                    module,
                    Some(&mut optimizers),
                    loader,
                    limit,
                    EvalKind::Validation { in_fit: true },
                )?;
                run.cx.stage = RunningStage::Training;
                run.process_checkpoint_requests(&mut module, &mut optimizers, datamodule)?;
            }
            run.agree_on_stop()?;
            let timed_out = run.any_rank("max_time", out_of_time(run))?;
            if steps_done(run) || timed_out || (run.cx.should_stop && run.cx.minimums_reached()) {
                break;
            }
        }

        // ----- end of epoch ---------------------------------------------------------------
        run.call_train_epoch_end(&mut module, &mut optimizers, |run| {
            run.cx.metrics.finish_epoch();
            run.write_logs()?;
            run.cx.progress.epoch_finished = true;
            run.cx.progress.elapsed_secs =
                elapsed_before.saturating_add(started.elapsed().as_secs());
            Ok(())
        })?;
        run.process_checkpoint_requests(&mut module, &mut optimizers, datamodule)?;
        for opt in optimizers.iter_mut() {
            let plateau = opt.scheduler.as_ref().is_some_and(|s| {
                matches!(s.schedule, Schedule::Plateau(_)) && s.interval == Interval::Epoch
            });
            if plateau
                && (epoch + 1).is_multiple_of(opt.scheduler.as_ref().map_or(1, |s| s.frequency))
            {
                let monitor = opt
                    .scheduler
                    .as_ref()
                    .and_then(|s| s.monitor.clone())
                    .unwrap_or_default();
                // Every replica must step its rate alike: rank 0's value decides.
                let metric = run.rank_zero_value(
                    "plateau monitor",
                    run.cx.metrics.callback_metrics.get(&monitor).copied(),
                )?;
                let scheduler = opt.scheduler.as_mut().expect("checked above");
                module.lr_scheduler_step(scheduler, metric)?;
            }
        }
        run.refresh_learning_rates(&optimizers);
        run.cx.progress.epoch += 1;
        run.cx.progress.batch_in_epoch = 0;
        run.cx.progress.epoch_finished = false;
        if fast_dev.is_some() {
            break 'epochs;
        }
    }

    // ----- wrap-up ------------------------------------------------------------------------
    run.call_hook(
        &mut module,
        Some(&mut optimizers),
        |c, m, cx| c.on_train_end(m, cx),
        |m, cx| m.on_train_end(cx),
    )?;
    run.call_hook(
        &mut module,
        Some(&mut optimizers),
        |c, m, cx| c.on_fit_end(m, cx),
        |m, cx| m.on_fit_end(cx),
    )?;
    run.call_hook(
        &mut module,
        Some(&mut optimizers),
        |c, m, cx| c.teardown(m, Stage::Fit, cx),
        |m, cx| m.teardown(Stage::Fit, cx),
    )?;
    datamodule.teardown(Stage::Fit)?;
    Ok(module)
}

/// One training batch under automatic optimization; returns the module and the batch's loss.
fn automatic_step<M: LightningModule>(
    run: &mut Run,
    mut module: M,
    batch: &M::Batch,
    batch_idx: usize,
    optimizers: &mut [LightningOptimizer],
    accumulate: usize,
    last_of_epoch: bool,
) -> Result<(M, f64)> {
    let epoch = run.cx.progress.epoch;
    let seed = step_seed(run);
    let (m, loss) = run.in_turn(|run| -> Result<(M, burn::prelude::Tensor<1>)> {
        if let Some(seed) = seed {
            run.cx.device.seed(seed);
        }
        match run.cfg.precision.mixed_dtype() {
            Some(half) => {
                super::precision::mixed_training_step(module, batch, batch_idx, &mut run.cx, half)
            }
            None => {
                let loss = module.training_step(batch, batch_idx, &mut run.cx)?;
                Ok((module, loss))
            }
        }
    })??;
    module = m;
    let loss_value = loss.clone().into_scalar::<f32>() as f64;
    check_finite(run, loss_value, batch_idx)?;
    if batch_idx.is_multiple_of(accumulate) {
        run.call_hook(
            &mut module,
            Some(&mut *optimizers),
            |c, m, cx| c.on_before_zero_grad(m, cx),
            |m, cx| m.on_before_zero_grad(cx),
        )?;
        module.optimizer_zero_grad(epoch, batch_idx, &mut optimizers[0])?;
    }
    // Lightning divides the loss so that accumulated gradients are a mean, not a sum.
    let loss = if accumulate > 1 {
        loss.div_scalar(accumulate as f32)
    } else {
        loss
    };
    run.call_hook(
        &mut module,
        Some(&mut *optimizers),
        |c, m, cx| c.on_before_backward(m, loss_value, cx),
        |m, cx| m.on_before_backward(&loss, cx),
    )?;
    match &run.scaler {
        // Scaled so that small float16 gradients survive; unscaled before the step.
        Some(scaler) => optimizers[0].backward(&module, &loss.mul_scalar(scaler.scale)),
        None => optimizers[0].backward(&module, &loss),
    }
    run.call_hook(
        &mut module,
        Some(&mut *optimizers),
        |c, m, cx| c.on_after_backward(m, cx),
        |m, cx| m.on_after_backward(cx),
    )?;

    if (batch_idx + 1).is_multiple_of(accumulate) || last_of_epoch {
        run.cx.sync_gradients(&module, &mut optimizers[0])?;
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
        run.cx.progress.global_step += 1;
        let step = run.cx.progress.global_step;
        if let Some(scheduler) = optimizer.scheduler.as_mut() {
            let due = match (scheduler.interval, &scheduler.schedule) {
                (Interval::Step, _) => step.is_multiple_of(scheduler.frequency),
                // Epoch schedules step right after the epoch's last optimizer step, as in
                // Lightning; plateau schedules wait for the epoch's validation metrics.
                (Interval::Epoch, Schedule::Burn { .. }) => {
                    last_of_epoch && (epoch + 1).is_multiple_of(scheduler.frequency)
                }
                (Interval::Epoch, Schedule::Plateau(_)) => false,
            };
            if due {
                let metric = scheduler
                    .monitor
                    .as_ref()
                    .and_then(|m| run.cx.metrics.callback_metrics.get(m).copied());
                module.lr_scheduler_step(scheduler, metric)?;
            }
        }
    }
    Ok((module, loss_value))
}

/// The backend RNG's seed for the coming step (with a seed set): a function of the run's seed and
/// position, so a resumed run draws exactly what the uninterrupted one would have; under DDP the
/// rank is mixed in too, so that replicas draw different dropout masks.
fn step_seed(run: &Run) -> Option<u64> {
    let seed = run.seed?;
    let position = mix(seed, run.cx.progress.total_batches as u64);
    Some(match run.cx.ranks.world_size {
        1 => position,
        _ => mix(position, run.cx.ranks.global_rank as u64 + 1),
    })
}

fn check_finite(run: &Run, loss: f64, batch_idx: usize) -> Result<()> {
    if !run.cfg.terminate_on_nan {
        return Ok(());
    }
    let at = format!(
        "at epoch {}, batch {batch_idx}, global step {} (terminate_on_nan is on)",
        run.cx.progress.epoch, run.cx.progress.global_step
    );
    let Some(group) = &run.cx.group else {
        if !loss.is_finite() {
            bail!("training_step returned a non-finite loss ({loss}) {at}");
        }
        return Ok(());
    };
    // Under DDP the ranks stop together, before any enters the gradient all-reduce without
    // the others (burn's, on CUDA, cannot be woken by a failed peer).
    let rank = run.cx.ranks.global_rank;
    let losses = group.all_gather(rank, "terminate_on_nan loss check", loss)?;
    let bad: Vec<String> = losses
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.is_finite())
        .map(|(r, l)| format!("rank {r}: {l}"))
        .collect();
    if !bad.is_empty() {
        bail!(
            "training_step returned a non-finite loss ({}) {at}",
            bad.join(", ")
        );
    }
    Ok(())
}

/// Training batches per epoch: `fast_dev_run`'s count, `overfit_batches`, or
/// `limit_train_batches` of what `loader` yields.
fn train_batches<B: Send + 'static>(
    loader: &DataLoader<B>,
    cfg: &super::TrainerConfig,
    fast_dev: Option<usize>,
    overfitting: bool,
) -> usize {
    if let Some(n) = fast_dev {
        n.min(loader.num_batches())
    } else if overfitting {
        cfg.overfit_batches.apply(loader.num_batches()).max(1)
    } else {
        cfg.limit_train_batches.apply(loader.num_batches())
    }
}

/// Training batches between two validations within an epoch.
fn val_interval(cfg: &super::TrainerConfig, num_batches: usize) -> Result<usize> {
    Ok(match cfg.val_check_interval {
        super::Limit::Batches(n) => {
            if cfg.check_val_every_n_epoch.is_some() && n > num_batches {
                bail!(
                    "trainer.val_check_interval ({n}) must be at most the number of training batches per epoch ({num_batches}); set check_val_every_n_epoch to null to count batches across epochs"
                );
            }
            n.max(1)
        }
        super::Limit::Fraction(f) => ((num_batches as f64 * f) as usize).max(1),
    })
}

/// Restores optimizer, scheduler, loop and metric state from a checkpoint.
fn restore_training_state(
    run: &mut Run,
    optimizers: &mut [LightningOptimizer],
    ck: &Checkpoint,
    path: &Path,
) -> Result<()> {
    for (i, opt) in optimizers.iter_mut().enumerate() {
        let bytes = ck.section(
            &optimizer_section(i),
            path,
            &format!("state for optimizer {i}"),
        )?;
        opt.load_state_bytes(bytes)
            .with_context(|| format!("checkpoint {}", path.display()))?;
        if let Some(s) = opt.scheduler.as_mut() {
            let what = format!("state for the scheduler of optimizer {i}");
            s.load_bytes(ck.section(&scheduler_section(i), path, &what)?)
                .with_context(|| format!("checkpoint {}", path.display()))?;
        }
    }
    run.cx.progress = ck.state.progress.clone();
    if ck.state.grad_scaler.is_some() && run.scaler.is_some() {
        run.scaler = ck.state.grad_scaler.clone();
    }
    if !ck.state.metrics.is_null() {
        run.cx.metrics = serde_json::from_value::<MetricStore>(ck.state.metrics.clone())
            .with_context(|| format!("checkpoint {}: metric state", path.display()))?;
    }
    if run.seed.is_none() {
        run.seed = ck.state.seed;
    }
    Ok(())
}

/// Parameter counts per top-level submodule.
fn summarize<M: Module>(module: &M) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for (path, shape) in parameter_shapes(module) {
        let top = path.split('.').next().unwrap_or("").to_string();
        let n: usize = shape.iter().product();
        match out.iter_mut().find(|(name, _)| *name == top) {
            Some((_, count)) => *count += n,
            None => out.push((top, n)),
        }
    }
    out
}
