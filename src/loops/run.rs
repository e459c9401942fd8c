//! State shared by the loops of one `fit`/`validate`/`test`/`predict` call: callbacks, loggers,
//! the hook context, and checkpoint writing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::callbacks::Callback;
use crate::checkpoint::{Checkpoint, optimizer_section, scheduler_section};
use crate::context::{CheckpointPaths, HookContext};
use crate::datamodule::LightningDataModule;
use crate::fs::atomic_write;
use crate::loggers::Logger;
use crate::logging::MetricStore;
use crate::module::LightningModule;
use crate::module_handle::ModuleHandle;
use crate::optim::LightningOptimizer;
use crate::progress::Progress;

use crate::config::trainer::{Precision, TrainerConfig};
use crate::grad_scaler::GradScaler;

/// What a finished run hands back to the Trainer: its results, moved out of the context.
#[derive(Default)]
pub(crate) struct RunOutcome {
    pub callback_metrics: BTreeMap<String, f64>,
    pub checkpoints: CheckpointPaths,
    pub progress: Progress,
    pub log_dir: Option<PathBuf>,
}

pub(crate) struct Run {
    pub cfg: TrainerConfig,
    pub callbacks: Vec<Box<dyn Callback>>,
    pub loggers: Vec<Box<dyn Logger>>,
    pub cx: HookContext,
    pub seed: Option<u64>,
    pub hparams: Value,
    pub steps_since_flush: usize,
    /// Loss scaling of a `16-mixed` run.
    pub scaler: Option<GradScaler>,
}

impl Run {
    /// A run of `cfg` on `cx`'s device, with these callbacks and loggers.
    pub fn new(
        cfg: TrainerConfig,
        cx: HookContext,
        seed: Option<u64>,
        hparams: Value,
        callbacks: Vec<Box<dyn Callback>>,
        loggers: Vec<Box<dyn Logger>>,
    ) -> Self {
        let scaler = (cfg.precision == Precision::F16Mixed).then(GradScaler::default);
        Self {
            cfg,
            callbacks,
            loggers,
            cx,
            seed,
            hparams,
            steps_since_flush: 0,
            scaler,
        }
    }

    /// The run's results (metrics, checkpoints, counters, directory), taken out of the context.
    pub fn take_outcome(&mut self) -> RunOutcome {
        let cx = &mut self.cx;
        RunOutcome {
            callback_metrics: std::mem::take(&mut cx.logging.metrics.callback_metrics),
            checkpoints: std::mem::take(&mut cx.checkpoints),
            progress: std::mem::take(&mut cx.position.progress),
            log_dir: cx.logging.log_dir.take(),
        }
    }

    /// Runs one hook everywhere it is defined: on every callback (in order, each with a handle on
    /// `module` and the optimizers), then on the module (Lightning's `_call_callback_hooks`
    /// followed by `_call_lightning_module_hook`). Every hook of the loops goes through here.
    pub fn call_hook<M: LightningModule>(
        &mut self,
        module: &mut M,
        optimizers: Option<&mut [LightningOptimizer]>,
        callback_hook: impl FnMut(
            &mut dyn Callback,
            &mut ModuleHandle<'_>,
            &mut HookContext,
        ) -> Result<()>,
        module_hook: impl FnOnce(&mut M, &mut HookContext) -> Result<()>,
    ) -> Result<()> {
        self.call_callbacks(module, optimizers, |_| true, callback_hook)?;
        module_hook(module, &mut self.cx)
    }

    /// A hook only callbacks have (`on_sanity_check_start`, `on_save_checkpoint`'s callback part…).
    pub fn call_callback_hook<M: LightningModule>(
        &mut self,
        module: &mut M,
        optimizers: Option<&mut [LightningOptimizer]>,
        callback_hook: impl FnMut(
            &mut dyn Callback,
            &mut ModuleHandle<'_>,
            &mut HookContext,
        ) -> Result<()>,
    ) -> Result<()> {
        self.call_callbacks(module, optimizers, |_| true, callback_hook)
    }

    /// `on_train_epoch_end` as Lightning runs it: the callbacks, the module, then `settle` (the
    /// epoch's metrics are reduced there), then the monitoring callbacks (`ModelCheckpoint`,
    /// `EarlyStopping`), so that they see what the module logged in its hook.
    pub fn call_train_epoch_end<M: LightningModule>(
        &mut self,
        module: &mut M,
        optimizers: &mut [LightningOptimizer],
        settle: impl FnOnce(&mut Self) -> Result<()>,
    ) -> Result<()> {
        self.call_callbacks(
            module,
            Some(&mut *optimizers),
            |c| !c.is_monitoring(),
            |c, m, cx| c.on_train_epoch_end(m, cx),
        )?;
        module.on_train_epoch_end(&mut self.cx)?;
        settle(self)?;
        self.call_callbacks(
            module,
            Some(optimizers),
            |c| c.is_monitoring(),
            |c, m, cx| c.on_train_epoch_end(m, cx),
        )
    }

    fn call_callbacks<M: LightningModule>(
        &mut self,
        module: &mut M,
        mut optimizers: Option<&mut [LightningOptimizer]>,
        selected: impl Fn(&dyn Callback) -> bool,
        mut callback_hook: impl FnMut(
            &mut dyn Callback,
            &mut ModuleHandle<'_>,
            &mut HookContext,
        ) -> Result<()>,
    ) -> Result<()> {
        self.cx.logging.in_callback = true;
        let cx = &mut self.cx;
        let result = self
            .callbacks
            .iter_mut()
            .filter(|c| selected(c.as_ref()))
            .try_for_each(|cb| {
                let mut handle = ModuleHandle::new(&mut *module, optimizers.as_deref_mut());
                callback_hook(cb.as_mut(), &mut handle, cx)
            });
        self.cx.logging.in_callback = false;
        result
    }

    /// Whether `flag` holds on any rank (itself on one device): the ranks must take the same
    /// branch, or one would wait forever in a collective the others skipped.
    /// `op` names the question in errors.
    pub fn any_rank(&self, op: &str, flag: bool) -> Result<bool> {
        self.cx.strategy.any_rank(op, flag)
    }

    /// Makes a stop requested on any rank (by a callback, which runs on rank 0, or a hook) a
    /// stop on every rank, as Lightning's `reduce_boolean_decision` does.
    pub fn agree_on_stop(&mut self) -> Result<()> {
        self.cx.requests.should_stop =
            self.any_rank("should_stop", self.cx.requests.should_stop)?;
        Ok(())
    }

    /// Rank 0's `value` on every rank (`op` names it in errors).
    pub fn rank_zero_value(&self, op: &str, value: Option<f64>) -> Result<Option<f64>> {
        self.cx.strategy.rank_zero_value(op, value)
    }

    /// Runs `f` (a forward pass) in this rank's turn among ranks sharing a device, so that its
    /// random draws do not depend on thread timing; `sync_dist` logs wait for the turn's end.
    pub fn in_turn<R>(&mut self, f: impl FnOnce(&mut Run) -> R) -> Result<R> {
        let strategy = self.cx.strategy.clone();
        let mut f = Some(f);
        let mut out = None;
        let took_turn = strategy.in_turn(&mut || {
            if let Some(f) = f.take() {
                self.cx.logging.deferred_sync = Some(Vec::new());
                out = Some(f(self));
            }
        });
        if self.cx.logging.deferred_sync.is_some() {
            self.cx.flush_deferred_sync();
        }
        took_turn?;
        let out = match (out, f) {
            (Some(out), _) => out,
            // Turns are not needed (one device, or devices of their own): run it here.
            (None, Some(f)) => return Ok(f(self)),
            (None, None) => anyhow::bail!("the forward pass ran but returned nothing"),
        };
        // A `sync_dist` reduction that failed (the ranks logged differently) ends the run.
        self.cx.take_collective_error()?;
        Ok(out)
    }

    /// Writes pending metrics, text and histograms at the current global step.
    pub fn write_logs(&mut self) -> Result<()> {
        let step = self.cx.position.progress.global_step;
        let mut metrics = self.cx.logging.metrics.take_pending();
        let texts = std::mem::take(&mut self.cx.logging.metrics.pending_text);
        let histograms = std::mem::take(&mut self.cx.logging.metrics.pending_histograms);
        if metrics.is_empty() && texts.is_empty() && histograms.is_empty() {
            return Ok(());
        }
        if !metrics.is_empty() {
            metrics.insert("epoch".into(), self.cx.position.progress.epoch as f64);
        }
        for logger in self.loggers.iter_mut() {
            logger.log_metrics(&metrics, step)?;
            for (tag, text) in &texts {
                logger.log_text(tag, text, step)?;
            }
            for (tag, values) in &histograms {
                logger.log_histogram(tag, values, step)?;
            }
        }
        Ok(())
    }

    pub fn flush_logs(&mut self) -> Result<()> {
        self.steps_since_flush = 0;
        for logger in self.loggers.iter_mut() {
            logger.flush()?;
        }
        Ok(())
    }

    pub fn refresh_learning_rates(&mut self, optimizers: &[LightningOptimizer]) {
        // Every batch: the entries are rewritten in place, so that the step allocates nothing
        // for them (the Trainer's per-step overhead is budgeted at 1%).
        let rates = &mut self.cx.logging.learning_rates;
        let mut at = 0;
        for optimizer in optimizers {
            optimizer.write_learning_rates(rates, &mut at);
        }
        rates.truncate(at);
    }

    /// Writes a checkpoint of everything: Lightning's order is callbacks' `state_dict`, their
    /// `on_save_checkpoint`, then the module's `on_save_checkpoint`. The module record goes in
    /// before the callbacks' `on_save_checkpoint`, so that a callback may replace it (an
    /// averaging callback saves its averaged weights as the module) or add sections of its own.
    ///
    /// `weights_only` (Lightning's `dump_checkpoint(weights_only=True)`): the module, loop
    /// counters, hparams, datamodule and the module's `on_save_checkpoint`; no optimizer,
    /// scheduler, loss-scaler or callback state, and the callbacks' `on_save_checkpoint` does
    /// not run.
    pub fn save_checkpoint<M: LightningModule, D: LightningDataModule + ?Sized>(
        &mut self,
        path: &Path,
        module: &mut M,
        optimizers: &mut [LightningOptimizer],
        datamodule: &D,
        weights_only: bool,
    ) -> Result<()> {
        if !self.cx.is_global_zero() {
            // The replicas are identical; rank 0 writes for all of them.
            return Ok(());
        }
        let mut ck = Checkpoint::default();
        ck.state.progress = self.cx.position.progress.clone();
        ck.state.seed = self.seed;
        ck.state.hparams = self.hparams.clone();
        ck.state.weights_only = weights_only;
        ck.put_module(module)?;
        if !weights_only {
            for cb in self.callbacks.iter() {
                ck.state.callbacks.insert(cb.state_key(), cb.state_dict());
            }
            for (i, opt) in optimizers.iter().enumerate() {
                ck.sections.insert(optimizer_section(i), opt.state_bytes()?);
                if let Some(s) = &opt.scheduler {
                    ck.sections.insert(scheduler_section(i), s.to_bytes()?);
                }
            }
            self.call_callback_hook(module, Some(&mut *optimizers), |c, m, cx| {
                c.on_save_checkpoint(m, &mut ck, cx)
            })?;
            ck.state.grad_scaler = self.scaler.clone();
        }
        module.on_save_checkpoint(&mut ck.state)?;
        ck.state.datamodule = datamodule.state_dict();
        ck.state.metrics = serde_json::to_value(&self.cx.logging.metrics)?;
        let bytes = ck.to_bytes()?;
        let optimizers: &[LightningOptimizer] = if weights_only { &[] } else { optimizers };
        self.check_resumable(&bytes, path, optimizers)
            .with_context(|| {
                format!(
                    "checkpoint {} was not written: read back, it would not resume (the previous file is kept)",
                    path.display()
                )
            })?;
        atomic_write(path, &bytes)
            .with_context(|| format!("saving checkpoint {}", path.display()))?;
        self.cx.checkpoints.last = Some(path.to_path_buf());
        Ok(())
    }

    /// Reads `bytes` back as a resume would, before they replace anything on disk: header and
    /// sections, module and optimizer records, scheduler, metric and callback states.
    fn check_resumable(
        &self,
        bytes: &[u8],
        path: &Path,
        optimizers: &[LightningOptimizer],
    ) -> Result<()> {
        let ck = Checkpoint::from_bytes(bytes, path)?;
        ck.module_record(path)?;
        for (i, opt) in optimizers.iter().enumerate() {
            let what = format!("state for optimizer {i}");
            opt.check_state_bytes(ck.section(&optimizer_section(i), path, &what)?)?;
            if let Some(s) = &opt.scheduler {
                let what = format!("state for the scheduler of optimizer {i}");
                s.check_bytes(ck.section(&scheduler_section(i), path, &what)?)?;
            }
        }
        serde_json::from_value::<MetricStore>(ck.state.metrics.clone()).context("metric state")?;
        for cb in &self.callbacks {
            if let Some(state) = ck.state.callbacks.get(&cb.state_key()) {
                cb.check_state_dict(state)
                    .with_context(|| format!("state of callback `{}`", cb.state_key()))?;
            }
        }
        Ok(())
    }

    /// Lightning's `restore_callbacks`, after the module's weights are loaded: every callback's
    /// `on_load_checkpoint` (with the module and the whole checkpoint), then, with
    /// `load_states`, every callback's `load_state_dict` (`fit` resumes them; evaluation does not).
    pub fn restore_callbacks<M: LightningModule>(
        &mut self,
        module: &mut M,
        ck: &Checkpoint,
        path: &Path,
        load_states: bool,
    ) -> Result<()> {
        self.call_callback_hook(module, None, |c, m, cx| c.on_load_checkpoint(m, ck, cx))?;
        if !load_states {
            return Ok(());
        }
        for cb in self.callbacks.iter_mut() {
            if let Some(state) = ck.state.callbacks.get(&cb.state_key()) {
                cb.load_state_dict(state.clone()).with_context(|| {
                    format!(
                        "restoring callback `{}` from {}",
                        cb.state_key(),
                        path.display()
                    )
                })?;
            }
        }
        Ok(())
    }

    /// Carries out the checkpoints callbacks asked for during the last hook.
    pub fn process_checkpoint_requests<M: LightningModule, D: LightningDataModule + ?Sized>(
        &mut self,
        module: &mut M,
        optimizers: &mut [LightningOptimizer],
        datamodule: &D,
    ) -> Result<()> {
        if self.cx.requests.checkpoints.is_empty() {
            return Ok(());
        }
        let requests = std::mem::take(&mut self.cx.requests.checkpoints);
        if !self.cx.is_global_zero() {
            return Ok(());
        }
        for request in requests {
            self.save_checkpoint(
                &request.path,
                module,
                optimizers,
                datamodule,
                request.weights_only,
            )?;
            for old in request.then_remove.iter().filter(|p| **p != request.path) {
                let _ = std::fs::remove_file(old);
            }
        }
        Ok(())
    }

    /// Runs `on_exception` on every callback, then hands the error back.
    pub fn fail(&mut self, error: anyhow::Error) -> anyhow::Error {
        for cb in self.callbacks.iter_mut() {
            let _ = cb.on_exception(&error, &mut self.cx);
        }
        for logger in self.loggers.iter_mut() {
            let _ = logger.finalize("failed");
        }
        error
    }
}
