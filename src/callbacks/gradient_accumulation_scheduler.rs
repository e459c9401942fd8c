//! `GradientAccumulationScheduler`: changes `accumulate_grad_batches` by epoch.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use super::Callback;
use crate::context::HookContext;
use crate::module_handle::ModuleHandle;

/// Lightning's GradientAccumulationScheduler: `scheduling` maps a zero-based epoch to the
/// number of batches accumulated from that epoch on (`{0: 8, 4: 4, 8: 1}`); epochs before the
/// first key accumulate 1. `trainer.accumulate_grad_batches` must stay 1, and the module must
/// use automatic optimization, as Lightning requires.
#[derive(Debug, Clone, PartialEq)]
pub struct GradientAccumulationScheduler {
    scheduling: BTreeMap<usize, usize>,
}

impl GradientAccumulationScheduler {
    /// The schedule; every factor must be at least 1.
    pub fn new(scheduling: BTreeMap<usize, usize>) -> Result<Self> {
        if scheduling.is_empty() {
            bail!("GradientAccumulationScheduler: scheduling is empty");
        }
        if let Some((epoch, _)) = scheduling.iter().find(|(_, n)| **n == 0) {
            bail!(
                "GradientAccumulationScheduler: the factor for epoch {epoch} must be at least 1, got 0"
            );
        }
        Ok(Self { scheduling })
    }

    /// Batches accumulated in zero-based `epoch`.
    pub fn factor(&self, epoch: usize) -> usize {
        self.scheduling
            .range(..=epoch)
            .next_back()
            .map_or(1, |(_, n)| *n)
    }
}

/// `GradientAccumulationScheduler`'s arguments in `trainer.callbacks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradientAccumulationSchedulerConfig {
    /// Zero-based epoch → batches accumulated from it on, e.g. `{0: 8, 4: 4, 8: 1}`.
    pub scheduling: BTreeMap<usize, usize>,
}

impl GradientAccumulationSchedulerConfig {
    /// The callback these arguments describe.
    pub fn init(self) -> Result<GradientAccumulationScheduler> {
        GradientAccumulationScheduler::new(self.scheduling)
    }
}

impl Callback for GradientAccumulationScheduler {
    fn state_key(&self) -> String {
        "GradientAccumulationScheduler".into()
    }
    fn on_train_epoch_start(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        cx.set_accumulate_grad_batches(self.factor(cx.current_epoch()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_factor_in_force_is_the_latest_key_at_or_before_the_epoch() {
        let s =
            GradientAccumulationScheduler::new(BTreeMap::from([(2, 8), (4, 4), (8, 1)])).unwrap();
        let factors: Vec<usize> = (0..10).map(|e| s.factor(e)).collect();
        assert_eq!(factors, [1, 1, 8, 8, 4, 4, 4, 4, 1, 1]);
        assert!(GradientAccumulationScheduler::new(BTreeMap::new()).is_err());
        let e = GradientAccumulationScheduler::new(BTreeMap::from([(3, 0)])).unwrap_err();
        assert!(e.to_string().contains("epoch 3 must be at least 1"), "{e}");
    }

    #[test]
    fn yaml_integer_keys_read_as_epochs() {
        let config: GradientAccumulationSchedulerConfig =
            serde_json::from_value(serde_json::json!({"scheduling": {"0": 4, "2": 1}})).unwrap();
        assert_eq!(config.init().unwrap().factor(1), 4);
    }
}
