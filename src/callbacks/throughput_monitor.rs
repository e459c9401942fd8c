//! `ThroughputMonitor`: training samples and batches per second, over all ranks.

use std::time::Instant;

use anyhow::Result;
use burn::prelude::Tensor;
use serde::{Deserialize, Serialize};

use super::Callback;
use crate::context::HookContext;
use crate::logging::LogOptions;
use crate::module_handle::ModuleHandle;

/// Lightning's ThroughputMonitor, reduced to what the loop knows: logs `train/samples_per_sec`
/// (every rank's examples, so 2 ranks at batch 32 count 64 per step) and
/// `train/batches_per_sec`, averaged from the end of the first `warmup` batches of the run
/// (allocator and caches warm up there) to the latest batch.
#[derive(Debug, Clone)]
pub struct ThroughputMonitor {
    warmup: usize,
    batches: usize,
    timed_batches: usize,
    timed_samples: usize,
    since: Option<Instant>,
}

impl Default for ThroughputMonitor {
    fn default() -> Self {
        Self::with_warmup(3)
    }
}

/// `ThroughputMonitor`'s arguments in `trainer.callbacks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThroughputMonitorConfig {
    /// Batches left out of the rates at the start (allocator and caches warm up there).
    pub warmup: usize,
}

impl Default for ThroughputMonitorConfig {
    fn default() -> Self {
        Self { warmup: 3 }
    }
}

impl ThroughputMonitorConfig {
    /// The callback these arguments describe.
    pub fn init(self) -> ThroughputMonitor {
        ThroughputMonitor::with_warmup(self.warmup)
    }
}

impl ThroughputMonitor {
    /// Leaves the first `warmup` batches out of the rates.
    pub fn with_warmup(warmup: usize) -> Self {
        Self {
            warmup,
            batches: 0,
            timed_batches: 0,
            timed_samples: 0,
            since: None,
        }
    }
}

impl Callback for ThroughputMonitor {
    fn state_key(&self) -> String {
        "ThroughputMonitor".into()
    }

    fn on_train_batch_end(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _loss: &Tensor<1>,
        _batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        self.batches += 1;
        let Some(since) = self.since else {
            if self.batches >= self.warmup {
                self.since = Some(Instant::now());
            }
            return Ok(());
        };
        self.timed_batches += 1;
        self.timed_samples += cx.current_batch_size() * cx.world_size();
        let secs = since.elapsed().as_secs_f64();
        let per_step = LogOptions::default().on_step(true).on_epoch(false);
        cx.log_with(
            "train/samples_per_sec",
            self.timed_samples as f64 / secs,
            per_step.clone(),
        );
        cx.log_with(
            "train/batches_per_sec",
            self.timed_batches as f64 / secs,
            per_step,
        );
        Ok(())
    }
}
