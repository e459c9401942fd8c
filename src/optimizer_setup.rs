//! [`OptimizerSetup`]: what `configure_optimizers` may ask the Trainer, chiefly
//! [`estimated_stepping_batches`](OptimizerSetup::estimated_stepping_batches) (Lightning's
//! `trainer.estimated_stepping_batches`), to size a schedule to the whole run.

use anyhow::{Result, bail};

/// The Trainer as `configure_optimizers` sees it. Answers are computed on demand: asking for the
/// stepping batches loads the train dataloader early (the fit loop then reuses it), so a module
/// that does not ask sees the usual hook order.
pub struct OptimizerSetup<'a> {
    estimate: Option<&'a mut dyn FnMut() -> Result<usize>>,
    cached: Option<usize>,
}

impl<'a> OptimizerSetup<'a> {
    /// A setup whose estimate comes from `estimate` (called at most once).
    pub(crate) fn new(estimate: &'a mut dyn FnMut() -> Result<usize>) -> Self {
        Self {
            estimate: Some(estimate),
            cached: None,
        }
    }

    /// A setup with nothing to estimate from: for calling `configure_optimizers` outside `fit`
    /// (tests, tools); asking for the stepping batches is an error.
    pub fn detached() -> Self {
        Self {
            estimate: None,
            cached: None,
        }
    }

    /// Optimizer steps the whole `fit` will take: per epoch, the training batches (after
    /// `limit_train_batches`, on this rank's shard) divided by `accumulate_grad_batches`
    /// (rounded up: an epoch's last window steps too), times `max_epochs`, capped by
    /// `max_steps`; `max_steps` alone when epochs are unbounded.
    pub fn estimated_stepping_batches(&mut self) -> Result<usize> {
        if let Some(n) = self.cached {
            return Ok(n);
        }
        let Some(estimate) = self.estimate.as_mut() else {
            bail!(
                "estimated_stepping_batches: configure_optimizers was called outside Trainer::fit, so there is no run to estimate"
            );
        };
        let n = estimate()?;
        self.cached = Some(n);
        Ok(n)
    }
}

/// Lightning's formula: `ceil(batches / accumulate) * max(max_epochs, 1)`, capped by
/// `max_steps`; without an epoch bound, `max_steps` (an error when that is unbounded too).
pub(crate) fn stepping_batches(
    batches_per_epoch: impl FnOnce() -> Result<usize>,
    accumulate: usize,
    max_epochs: Option<usize>,
    max_steps: Option<usize>,
) -> Result<usize> {
    let Some(epochs) = max_epochs else {
        return match max_steps {
            Some(steps) => Ok(steps),
            None => bail!(
                "estimated_stepping_batches: the run is unbounded (no max_epochs, max_steps = -1); set one of them"
            ),
        };
    };
    let per_epoch = batches_per_epoch()?.div_ceil(accumulate.max(1));
    let total = per_epoch.saturating_mul(epochs.max(1));
    Ok(max_steps.map_or(total, |steps| total.min(steps)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_times_rounded_up_windows() {
        assert_eq!(stepping_batches(|| Ok(10), 3, Some(2), None).unwrap(), 8);
        assert_eq!(stepping_batches(|| Ok(10), 1, Some(3), None).unwrap(), 30);
    }

    #[test]
    fn max_steps_caps_the_estimate() {
        assert_eq!(
            stepping_batches(|| Ok(10), 1, Some(3), Some(25)).unwrap(),
            25
        );
        assert_eq!(
            stepping_batches(|| Ok(10), 1, Some(3), Some(99)).unwrap(),
            30
        );
    }

    #[test]
    fn unbounded_epochs_use_max_steps_without_loading_data() {
        let n = stepping_batches(|| bail!("must not load"), 1, None, Some(7)).unwrap();
        assert_eq!(n, 7);
        assert!(stepping_batches(|| Ok(1), 1, None, None).is_err());
    }

    #[test]
    fn asks_once_and_detached_setup_errors() {
        let mut calls = 0;
        let mut estimate = || {
            calls += 1;
            Ok(12)
        };
        {
            let mut setup = OptimizerSetup::new(&mut estimate);
            assert_eq!(setup.estimated_stepping_batches().unwrap(), 12);
            assert_eq!(setup.estimated_stepping_batches().unwrap(), 12);
        }
        assert_eq!(calls, 1);
        assert!(
            OptimizerSetup::detached()
                .estimated_stepping_batches()
                .is_err()
        );
    }
}
