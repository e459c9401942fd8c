//! `EarlyStopping`: stop when a monitored metric stops improving, diverges or becomes NaN.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Callback;
use crate::context::HookContext;
use crate::module_handle::ModuleHandle;
use crate::optim::Mode;

/// Lightning's EarlyStopping, checked at the end of every training epoch (after validation).
#[derive(Debug, Clone)]
pub struct EarlyStopping {
    /// Metric to watch; it must have been logged (else an error).
    pub monitor: String,
    /// Smallest change that counts as an improvement.
    pub min_delta: f64,
    /// Checks without improvement before stopping.
    pub patience: usize,
    /// `min` or `max`.
    pub mode: Mode,
    /// Stop at once when the metric reaches this value.
    pub stopping_threshold: Option<f64>,
    /// Stop at once when the metric is worse than this value.
    pub divergence_threshold: Option<f64>,
    /// Stop when the metric is NaN or infinite.
    pub check_finite: bool,
    state: StoppingState,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct StoppingState {
    wait_count: usize,
    #[serde(with = "crate::float_serde::option")]
    best_score: Option<f64>,
    stopped_epoch: Option<usize>,
    reason: Option<String>,
}

/// `EarlyStopping`'s arguments in `trainer.callbacks`, with Lightning's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStoppingConfig {
    /// Metric to watch (required).
    pub monitor: String,
    /// Smallest change that counts as an improvement.
    #[serde(default)]
    pub min_delta: f64,
    /// Checks without improvement before stopping.
    #[serde(default = "default_patience")]
    pub patience: usize,
    /// `min` or `max`.
    #[serde(default)]
    pub mode: Mode,
    /// Stop at once when the metric reaches this value.
    #[serde(default)]
    pub stopping_threshold: Option<f64>,
    /// Stop at once when the metric is worse than this value.
    #[serde(default)]
    pub divergence_threshold: Option<f64>,
    /// Stop when the metric is NaN or infinite.
    #[serde(default = "default_check_finite")]
    pub check_finite: bool,
}

fn default_patience() -> usize {
    3
}

fn default_check_finite() -> bool {
    true
}

impl EarlyStoppingConfig {
    /// The callback these arguments describe.
    pub fn init(self) -> EarlyStopping {
        let mut callback = EarlyStopping::new(&self.monitor, self.mode)
            .patience(self.patience)
            .min_delta(self.min_delta);
        callback.stopping_threshold = self.stopping_threshold;
        callback.divergence_threshold = self.divergence_threshold;
        callback.check_finite = self.check_finite;
        callback
    }
}

impl EarlyStopping {
    /// Watches `monitor` with Lightning's defaults (patience 3, min_delta 0, check_finite).
    pub fn new(monitor: &str, mode: Mode) -> Self {
        Self {
            monitor: monitor.to_string(),
            min_delta: 0.0,
            patience: 3,
            mode,
            stopping_threshold: None,
            divergence_threshold: None,
            check_finite: true,
            state: StoppingState::default(),
        }
    }
    /// Sets the patience.
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }
    /// Sets the minimum improvement.
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.min_delta = min_delta.abs();
        self
    }
    /// Why training stopped, if this callback stopped it.
    pub fn stop_reason(&self) -> Option<&str> {
        self.state.reason.as_deref()
    }
    /// Epoch at which it stopped training.
    pub fn stopped_epoch(&self) -> Option<usize> {
        self.state.stopped_epoch
    }

    /// Reads the monitored value and requests a stop when it says so.
    fn check(&mut self, cx: &mut HookContext) -> Result<()> {
        let Some(&current) = cx.callback_metrics().get(&self.monitor) else {
            bail!(
                "EarlyStopping(monitor=`{}`) could not find `{}` among the logged metrics [{}]",
                self.monitor,
                self.monitor,
                cx.callback_metrics()
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        if let Some(reason) = self.evaluate(current) {
            self.state.stopped_epoch = Some(cx.current_epoch());
            eprintln!("EarlyStopping: {reason}; stopping.");
            self.state.reason = Some(reason);
            cx.request_stop();
        }
        Ok(())
    }

    /// Feeds one value; returns the reason to stop, if any.
    fn evaluate(&mut self, current: f64) -> Option<String> {
        let m = &self.monitor;
        if self.check_finite && !current.is_finite() {
            return Some(format!("{m} = {current} is not finite"));
        }
        if let Some(t) = self.stopping_threshold
            && self.mode.improved(current, t, 0.0) | (current == t)
        {
            return Some(format!(
                "{m} = {current} reached the stopping threshold {t}"
            ));
        }
        if let Some(t) = self.divergence_threshold
            && self.mode.improved(t, current, 0.0)
        {
            return Some(format!(
                "{m} = {current} is worse than the divergence threshold {t}"
            ));
        }
        let best = self.state.best_score.unwrap_or(self.mode.worst());
        if self.mode.improved(current, best, self.min_delta) {
            self.state.best_score = Some(current);
            self.state.wait_count = 0;
            None
        } else {
            self.state.wait_count += 1;
            (self.state.wait_count >= self.patience).then(|| {
                format!(
                    "{m} did not improve by more than {} for {} checks (best {best})",
                    self.min_delta, self.state.wait_count
                )
            })
        }
    }
}

impl Callback for EarlyStopping {
    fn state_key(&self) -> String {
        format!("EarlyStopping{{monitor={}}}", self.monitor)
    }
    fn is_monitoring(&self) -> bool {
        true
    }
    fn on_train_epoch_end(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        if cx.check_on_train_epoch_end() {
            self.check(cx)?;
        }
        Ok(())
    }
    fn on_validation_end(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        if cx.check_after_validation() {
            self.check(cx)?;
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
        serde_json::from_value::<StoppingState>(state.clone())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_after_patience_without_improvement() {
        let mut es = EarlyStopping::new("val_loss", Mode::Min)
            .patience(2)
            .min_delta(0.1);
        assert!(es.evaluate(1.0).is_none());
        assert!(es.evaluate(0.95).is_none()); // not better by 0.1
        assert!(es.evaluate(0.5).is_none()); // better: resets
        assert!(es.evaluate(0.5).is_none());
        assert!(es.evaluate(0.45).is_some());
    }

    #[test]
    fn thresholds_and_nan() {
        let mut es = EarlyStopping::new("acc", Mode::Max);
        es.stopping_threshold = Some(0.9);
        assert!(es.evaluate(0.5).is_none());
        assert!(es.evaluate(0.95).unwrap().contains("stopping threshold"));
        let mut es = EarlyStopping::new("loss", Mode::Min);
        es.divergence_threshold = Some(10.0);
        assert!(es.evaluate(11.0).unwrap().contains("divergence"));
        assert!(
            EarlyStopping::new("loss", Mode::Min)
                .evaluate(f64::NAN)
                .unwrap()
                .contains("not finite")
        );
    }
}
