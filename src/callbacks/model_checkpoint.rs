//! `ModelCheckpoint`: save the top-k checkpoints by a monitored metric, and/or the last one.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use burn::prelude::Tensor;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Callback;
use crate::context::{CheckpointRequest, HookContext};
use crate::module_handle::ModuleHandle;
use crate::optim::Mode;

/// Lightning's ModelCheckpoint. With no `monitor`, keeps the latest `save_top_k` checkpoints.
#[derive(Debug, Clone)]
pub struct ModelCheckpoint {
    /// Directory of the files (default: `<log_dir>/checkpoints`).
    pub dirpath: Option<PathBuf>,
    /// Name template, e.g. `{epoch}-{val_loss:.2f}` → `epoch=3-val_loss=0.12.ckpt`.
    pub filename: String,
    /// Metric to rank checkpoints by; it must have been logged (else an error).
    pub monitor: Option<String>,
    /// Whether lower (`min`) or higher (`max`) is better.
    pub mode: Mode,
    /// How many to keep (-1: all, 0: none).
    pub save_top_k: i64,
    /// Also write `last.ckpt` each time.
    pub save_last: bool,
    /// Save every N epochs (at epoch end).
    pub every_n_epochs: usize,
    /// Save every N optimizer steps instead (at batch end; mid-epoch checkpoints).
    pub every_n_train_steps: Option<usize>,
    /// Save after every this much training time instead (checked at batch end).
    pub train_time_interval: Option<Duration>,
    /// Save the module's weights alone: no optimizer, scheduler or callback state (such a file
    /// can be evaluated or fine-tuned from, not resumed).
    pub save_weights_only: bool,
    /// When the time interval was last checked (from `on_train_start`).
    last_time_check: Option<Instant>,
    /// The step of the last `last.ckpt` written alone at an epoch end.
    last_only_step: Option<usize>,
    /// `global_step` at the previous training batch end (an unchanged one: accumulating).
    last_seen_step: Option<usize>,
    state: CheckpointBook,
    /// The missing-monitor warning is printed once per run, as Lightning's warning cache does.
    warned_missing_monitor: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct CheckpointBook {
    #[serde(with = "crate::float_serde::pairs")]
    best_k_models: Vec<(PathBuf, f64)>,
    best_model_path: String,
    #[serde(with = "crate::float_serde::option")]
    best_model_score: Option<f64>,
    last_model_path: String,
    last_saved_step: Option<usize>,
}

/// `ModelCheckpoint`'s arguments in `trainer.callbacks`, with Lightning's names. Defaults are
/// the Trainer's own checkpointing (`last.ckpt` kept, one checkpoint per epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelCheckpointConfig {
    /// Directory of the files (null: `<log_dir>/checkpoints`).
    pub dirpath: Option<PathBuf>,
    /// Name template, e.g. `{epoch}-{val_loss:.2f}`.
    pub filename: String,
    /// Metric to rank checkpoints by (null: keep the latest).
    pub monitor: Option<String>,
    /// Whether lower (`min`) or higher (`max`) is better.
    pub mode: Mode,
    /// How many to keep (-1: all, 0: none).
    pub save_top_k: i64,
    /// Also write `last.ckpt` each time.
    pub save_last: bool,
    /// Save every N epochs (0: not at epoch ends).
    pub every_n_epochs: usize,
    /// Save every N optimizer steps instead (null or 0: at epoch ends).
    pub every_n_train_steps: Option<usize>,
    /// Save after every this much training time instead, `DD:HH:MM:SS` (null: off).
    pub train_time_interval: Option<String>,
    /// Save the module's weights alone (no optimizer, scheduler or callback state).
    pub save_weights_only: bool,
}

impl Default for ModelCheckpointConfig {
    fn default() -> Self {
        let defaults = ModelCheckpoint::default();
        Self {
            dirpath: defaults.dirpath,
            filename: defaults.filename,
            monitor: defaults.monitor,
            mode: defaults.mode,
            save_top_k: defaults.save_top_k,
            save_last: defaults.save_last,
            every_n_epochs: defaults.every_n_epochs,
            every_n_train_steps: defaults.every_n_train_steps,
            train_time_interval: None,
            save_weights_only: defaults.save_weights_only,
        }
    }
}

impl ModelCheckpointConfig {
    /// The callback these arguments describe.
    pub fn init(self) -> Result<ModelCheckpoint> {
        // As Lightning, 0 switches a trigger off.
        let every_n_train_steps = self.every_n_train_steps.filter(|n| *n > 0);
        // As Lightning: one trigger within the epoch.
        if every_n_train_steps.is_some() && self.train_time_interval.is_some() {
            bail!(
                "ModelCheckpoint: every_n_train_steps and train_time_interval are mutually exclusive"
            );
        }
        let train_time_interval = self
            .train_time_interval
            .as_deref()
            .map(crate::duration::parse_duration)
            .transpose()
            .map_err(|e| anyhow::anyhow!("ModelCheckpoint: train_time_interval {e}"))?;
        if train_time_interval.is_some_and(|d| d.is_zero()) {
            bail!("ModelCheckpoint: train_time_interval must be longer than 0 seconds");
        }
        if self.save_top_k < -1 {
            bail!(
                "ModelCheckpoint: save_top_k must be -1 (all), 0 (none) or a count, got {}",
                self.save_top_k
            );
        }
        Ok(ModelCheckpoint {
            dirpath: self.dirpath,
            filename: self.filename,
            monitor: self.monitor,
            mode: self.mode,
            save_top_k: self.save_top_k,
            save_last: self.save_last,
            every_n_epochs: self.every_n_epochs,
            every_n_train_steps,
            train_time_interval,
            save_weights_only: self.save_weights_only,
            ..ModelCheckpoint::default()
        })
    }
}

impl ModelCheckpoint {
    /// Checkpoints written into `dirpath`, one per epoch, plus `last.ckpt`.
    pub fn new(dirpath: impl Into<PathBuf>) -> Self {
        Self {
            dirpath: Some(dirpath.into()),
            ..Self::default()
        }
    }
    /// Ranks by `monitor` in `mode`.
    pub fn monitor(mut self, monitor: &str, mode: Mode) -> Self {
        self.monitor = Some(monitor.to_string());
        self.mode = mode;
        self
    }
    /// Sets the filename template.
    pub fn filename(mut self, template: &str) -> Self {
        self.filename = template.to_string();
        self
    }
    /// Keeps the k best.
    pub fn save_top_k(mut self, k: i64) -> Self {
        self.save_top_k = k;
        self
    }
    /// Saves every N optimizer steps.
    pub fn every_n_train_steps(mut self, n: usize) -> Self {
        self.every_n_train_steps = Some(n.max(1));
        self
    }
    /// Saves every N epochs.
    pub fn every_n_epochs(mut self, n: usize) -> Self {
        self.every_n_epochs = n.max(1);
        self
    }
    /// Saves after every `interval` of training time (instead of at epoch ends).
    pub fn train_time_interval(mut self, interval: Duration) -> Self {
        self.train_time_interval = Some(interval);
        self
    }
    /// Saves the module's weights alone.
    pub fn save_weights_only(mut self, on: bool) -> Self {
        self.save_weights_only = on;
        self
    }
    /// Whether to write `last.ckpt`.
    pub fn save_last(mut self, on: bool) -> Self {
        self.save_last = on;
        self
    }
    /// Path of the best checkpoint so far.
    pub fn best_model_path(&self) -> Option<&Path> {
        Some(Path::new(&self.state.best_model_path)).filter(|p| !p.as_os_str().is_empty())
    }

    fn epoch_due(&self, cx: &HookContext) -> bool {
        self.every_n_train_steps.is_none()
            && self.train_time_interval.is_none()
            && (cx.current_epoch() + 1).is_multiple_of(self.every_n_epochs)
    }

    fn dir(&self) -> PathBuf {
        self.dirpath
            .clone()
            .unwrap_or_else(|| PathBuf::from("checkpoints"))
    }

    fn save(&mut self, cx: &mut HookContext) -> Result<()> {
        if cx.is_fast_dev_run() {
            return Ok(());
        }
        let step = cx.global_step();
        if self.state.last_saved_step == Some(step) {
            return Ok(());
        }
        self.state.last_saved_step = Some(step);
        let score = match &self.monitor {
            // NaN ranks worst, as in Lightning: a diverged epoch must never become "best".
            Some(key) => match cx.callback_metrics().get(key) {
                Some(v) if v.is_nan() => Some(self.mode.worst()),
                Some(v) => Some(*v),
                None => {
                    let message = format!(
                        "ModelCheckpoint(monitor=`{key}`) could not find `{key}` among the logged metrics [{}]; log it with cx.log(\"{key}\", ..) or fix the monitor name",
                        cx.callback_metrics()
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    // Lightning's rule: an error once validation has run; before that (or with
                    // validation switched off) a warning, no top-k save, and `last.ckpt` still.
                    if cx.validation_has_run() {
                        bail!("{message}");
                    }
                    if !self.warned_missing_monitor {
                        self.warned_missing_monitor = true;
                        eprintln!(
                            "warning: {message}. Validation has not run yet: no top-k checkpoint is saved until `{key}` is logged{}",
                            if self.save_last {
                                " (last.ckpt still is)"
                            } else {
                                ""
                            }
                        );
                    }
                    return self.request_last(cx);
                }
            },
            None => None,
        };
        let name = format_filename(&self.filename, cx)?;
        let path = self.dir().join(format!("{name}.ckpt"));
        let mut then_remove = Vec::new();
        if self.save_top_k != 0 {
            let better = |a: f64, b: f64| match self.mode {
                Mode::Min => a < b,
                Mode::Max => a > b,
            };
            // With no monitor, "best" means most recent.
            let value = score.unwrap_or(-(step as f64));
            let keep = self.save_top_k < 0
                || (self.state.best_k_models.len() as i64) < self.save_top_k
                || self
                    .state
                    .best_k_models
                    .iter()
                    .any(|(_, v)| better(value, *v) || score.is_none());
            if keep {
                self.state.best_k_models.retain(|(p, _)| *p != path);
                self.state.best_k_models.push((path.clone(), value));
                let mode = if score.is_none() {
                    Mode::Min
                } else {
                    self.mode
                };
                self.state.best_k_models.sort_by(|a, b| match mode {
                    Mode::Min => a.1.total_cmp(&b.1),
                    Mode::Max => b.1.total_cmp(&a.1),
                });
                if self.save_top_k > 0 {
                    while self.state.best_k_models.len() as i64 > self.save_top_k {
                        then_remove.push(self.state.best_k_models.pop().expect("non-empty").0);
                    }
                }
                let (best, best_score) = self.state.best_k_models[0].clone();
                self.state.best_model_path = best.to_string_lossy().into_owned();
                self.state.best_model_score = score.map(|_| best_score);
                cx.set_best_checkpoint_path(best);
                cx.request_checkpoint(CheckpointRequest {
                    path: path.clone(),
                    then_remove: then_remove.clone(),
                    weights_only: self.save_weights_only,
                });
            }
        }
        self.request_last(cx)
    }

    /// At the end of an epoch: the top-k save when it is due, and `last.ckpt` in any case (as
    /// Lightning's `_save_last_checkpoint`), so that the end of training is always resumable
    /// even when saves are timed or every few epochs.
    fn epoch_end(&mut self, cx: &mut HookContext) -> Result<()> {
        if self.epoch_due(cx) {
            return self.save(cx);
        }
        let step = cx.global_step();
        if cx.is_fast_dev_run()
            || self.state.last_saved_step == Some(step)
            || self.last_only_step == Some(step)
        {
            return Ok(());
        }
        self.last_only_step = Some(step);
        self.request_last(cx)
    }

    /// Requests `last.ckpt` when `save_last` is on.
    fn request_last(&mut self, cx: &mut HookContext) -> Result<()> {
        if self.save_last {
            let last = self.dir().join("last.ckpt");
            self.state.last_model_path = last.to_string_lossy().into_owned();
            cx.request_checkpoint(CheckpointRequest {
                path: last,
                then_remove: Vec::new(),
                weights_only: self.save_weights_only,
            });
        }
        Ok(())
    }
}

impl Default for ModelCheckpoint {
    fn default() -> Self {
        Self {
            dirpath: None,
            filename: "{epoch}-{step}".into(),
            monitor: None,
            mode: Mode::Min,
            save_top_k: 1,
            save_last: true,
            every_n_epochs: 1,
            every_n_train_steps: None,
            train_time_interval: None,
            save_weights_only: false,
            last_time_check: None,
            last_only_step: None,
            last_seen_step: None,
            state: CheckpointBook::default(),
            warned_missing_monitor: false,
        }
    }
}

/// Expands `{name}` and `{name:.Nf}` to `name=value`; `epoch` and `step` come from the loop.
pub fn format_filename(template: &str, cx: &HookContext) -> Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map(|c| open + c);
        let Some(close) = close else {
            bail!("ModelCheckpoint filename `{template}` has an unclosed `{{`")
        };
        let token = &rest[open + 1..close];
        let (key, spec) = token.split_once(':').unwrap_or((token, ""));
        let value = match key {
            "epoch" => cx.current_epoch() as f64,
            "step" => cx.global_step() as f64,
            other => match cx.callback_metrics().get(other) {
                Some(v) => *v,
                None => bail!(
                    "ModelCheckpoint filename `{template}` uses `{other}`, which was never logged"
                ),
            },
        };
        let text = match spec
            .strip_prefix('.')
            .and_then(|s| s.strip_suffix('f'))
            .and_then(|d| d.parse::<usize>().ok())
        {
            Some(decimals) => format!("{value:.decimals$}"),
            None if key == "epoch" || key == "step" => format!("{}", value as u64),
            None => format!("{value}"),
        };
        out.push_str(&format!("{key}={text}"));
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Callback for ModelCheckpoint {
    fn state_key(&self) -> String {
        match &self.monitor {
            Some(m) => format!("ModelCheckpoint{{monitor={m}}}"),
            None => "ModelCheckpoint".into(),
        }
    }
    fn is_monitoring(&self) -> bool {
        true
    }
    fn set_log_dir(&mut self, log_dir: &Path) {
        if self.dirpath.is_none() {
            self.dirpath = Some(log_dir.join("checkpoints"));
        }
    }
    fn on_train_batch_end(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _loss: &Tensor<1>,
        _batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        if let Some(n) = self.every_n_train_steps
            && cx.global_step() > 0
            && cx.global_step().is_multiple_of(n)
        {
            self.save(cx)?;
        }
        // Only after an optimizer step (a checkpoint inside an accumulation window would
        // resume without the window's partial gradients), and at a step not saved yet.
        let stepped = self.last_seen_step != Some(cx.global_step());
        self.last_seen_step = Some(cx.global_step());
        if let Some(interval) = self.train_time_interval
            && stepped
            && self.state.last_saved_step != Some(cx.global_step())
        {
            let now = Instant::now();
            let last = *self.last_time_check.get_or_insert(now);
            if now.duration_since(last) >= interval {
                self.last_time_check = Some(now);
                self.save(cx)?;
            }
        }
        Ok(())
    }
    fn on_train_start(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        self.last_time_check = Some(Instant::now());
        self.last_seen_step = Some(cx.global_step());
        Ok(())
    }
    fn on_train_epoch_end(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        if cx.check_on_train_epoch_end() {
            self.epoch_end(cx)?;
        }
        Ok(())
    }
    fn on_validation_end(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        if cx.check_after_validation() {
            self.epoch_end(cx)?;
        }
        Ok(())
    }
    fn state_dict(&self) -> Value {
        serde_json::to_value(&self.state).unwrap_or(Value::Null)
    }
    fn load_state_dict(&mut self, state: Value) -> Result<()> {
        self.state = serde_json::from_value(state)?;
        Ok(())
    }
    fn check_state_dict(&self, state: &Value) -> Result<()> {
        serde_json::from_value::<CheckpointBook>(state.clone())?;
        Ok(())
    }
}
