//! `Timer`: measures time per stage and stops training after a duration.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use burn::prelude::Tensor;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Callback;
use crate::context::HookContext;
use crate::module_handle::ModuleHandle;

/// Lightning's Timer: elapsed time of train/validate/test, and an optional time budget for
/// training that survives resumes (its state is checkpointed).
#[derive(Debug, Clone, Default)]
pub struct Timer {
    /// Stop training once this much training time has passed.
    pub duration: Option<Duration>,
    train_start: Option<Instant>,
    train_before: Duration,
    validation: Duration,
    validation_start: Option<Instant>,
    test: Duration,
    test_start: Option<Instant>,
}

/// `Timer`'s arguments in `trainer.callbacks`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimerConfig {
    /// Stop training after this much training time, `DD:HH:MM:SS` (null: no limit).
    pub duration: Option<String>,
}

impl TimerConfig {
    /// The callback these arguments describe.
    pub fn init(self) -> Result<Timer> {
        Ok(match &self.duration {
            Some(text) => Timer::with_duration(
                crate::duration::parse_duration(text).context("Timer: duration")?,
            ),
            None => Timer::default(),
        })
    }
}

impl Timer {
    /// A timer that stops training after `duration`.
    pub fn with_duration(duration: Duration) -> Self {
        Self {
            duration: Some(duration),
            ..Self::default()
        }
    }
    /// Training time so far, across resumes.
    pub fn train_elapsed(&self) -> Duration {
        self.train_before + self.train_start.map_or(Duration::ZERO, |s| s.elapsed())
    }
    /// Validation time so far.
    pub fn validation_elapsed(&self) -> Duration {
        self.validation
    }
    /// Test time so far.
    pub fn test_elapsed(&self) -> Duration {
        self.test
    }
}

impl Callback for Timer {
    fn state_key(&self) -> String {
        "Timer".into()
    }
    fn on_train_start(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _cx: &mut HookContext,
    ) -> Result<()> {
        self.train_start = Some(Instant::now());
        Ok(())
    }
    fn on_train_end(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _cx: &mut HookContext,
    ) -> Result<()> {
        self.train_before = self.train_elapsed();
        self.train_start = None;
        Ok(())
    }
    fn on_validation_start(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _cx: &mut HookContext,
    ) -> Result<()> {
        self.validation_start = Some(Instant::now());
        Ok(())
    }
    fn on_validation_end(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _cx: &mut HookContext,
    ) -> Result<()> {
        if let Some(s) = self.validation_start.take() {
            self.validation += s.elapsed();
        }
        Ok(())
    }
    fn on_test_start(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _cx: &mut HookContext,
    ) -> Result<()> {
        self.test_start = Some(Instant::now());
        Ok(())
    }
    fn on_test_end(&mut self, _module: &mut ModuleHandle<'_>, _cx: &mut HookContext) -> Result<()> {
        if let Some(s) = self.test_start.take() {
            self.test += s.elapsed();
        }
        Ok(())
    }
    fn on_train_batch_end(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _loss: &Tensor<1>,
        _batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        if let Some(limit) = self.duration
            && self.train_elapsed() >= limit
        {
            cx.request_stop();
        }
        Ok(())
    }
    fn state_dict(&self) -> Value {
        serde_json::json!({ "train_elapsed_secs": self.train_elapsed().as_secs_f64() })
    }
    fn load_state_dict(&mut self, state: Value) -> Result<()> {
        if let Some(elapsed) = elapsed_in(&state)? {
            self.train_before = elapsed;
        }
        Ok(())
    }
    fn check_state_dict(&self, state: &Value) -> Result<()> {
        elapsed_in(state).map(drop)
    }
}

/// The training time a checkpoint recorded; a negative or overflowing number is an error
/// (`Duration::from_secs_f64` would panic on it).
fn elapsed_in(state: &Value) -> Result<Option<Duration>> {
    state
        .get("train_elapsed_secs")
        .and_then(Value::as_f64)
        .map(|s| {
            Duration::try_from_secs_f64(s).map_err(|e| {
                anyhow::anyhow!("Timer state: train_elapsed_secs = {s} is not a duration: {e}")
            })
        })
        .transpose()
}
