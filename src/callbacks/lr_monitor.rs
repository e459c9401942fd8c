//! `LearningRateMonitor`: logs every optimizer's learning rate as `lr-<name>`.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::Callback;
use crate::context::HookContext;
use crate::logging::LogOptions;
use crate::module_handle::ModuleHandle;

/// When the monitor logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoggingInterval {
    /// After every training batch.
    #[default]
    Step,
    /// At the start of every epoch.
    Epoch,
}

/// `LearningRateMonitor`'s arguments in `trainer.callbacks`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LearningRateMonitorConfig {
    /// `step` (after every training batch) or `epoch` (at the start of every epoch); null
    /// (Lightning's default, each scheduler's own interval) logs every step here.
    pub logging_interval: Option<LoggingInterval>,
}

impl LearningRateMonitorConfig {
    /// The callback these arguments describe.
    pub fn init(self) -> LearningRateMonitor {
        LearningRateMonitor {
            logging_interval: self.logging_interval.unwrap_or_default(),
        }
    }
}

/// Lightning's LearningRateMonitor.
#[derive(Debug, Clone, Default)]
pub struct LearningRateMonitor {
    /// Step or epoch.
    pub logging_interval: LoggingInterval,
}

impl LearningRateMonitor {
    fn log(cx: &mut HookContext) {
        let rates: Vec<(String, f64)> = cx.learning_rates().to_vec();
        for (name, lr) in rates {
            cx.log_with(
                &format!("lr-{name}"),
                lr,
                LogOptions::default().on_step(true).on_epoch(false),
            );
        }
    }
}

impl Callback for LearningRateMonitor {
    fn state_key(&self) -> String {
        "LearningRateMonitor".into()
    }
    fn on_train_epoch_start(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        if self.logging_interval == LoggingInterval::Epoch {
            Self::log(cx);
        }
        Ok(())
    }
    fn on_train_batch_start(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        if self.logging_interval == LoggingInterval::Step {
            Self::log(cx);
        }
        Ok(())
    }
}
