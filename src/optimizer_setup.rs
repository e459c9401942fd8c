//! [`OptimizerSetup`]: what `configure_optimizers` may ask the Trainer, chiefly
//! [`estimated_stepping_batches`](OptimizerSetup::estimated_stepping_batches) (Lightning's
//! `trainer.estimated_stepping_batches`), to size a schedule to the whole run.

use anyhow::{Result, bail};

use crate::optim::{Interval, SchedulerConfig, SchedulerName};

/// The Trainer as `configure_optimizers` sees it. Answers are computed on demand: asking for the
/// stepping batches loads the train dataloader early (the fit loop then reuses it), so a module
/// that does not ask sees the usual hook order.
pub struct OptimizerSetup<'a> {
    estimate: Option<&'a mut dyn FnMut() -> Result<usize>>,
    cached: Option<usize>,
    /// `Some(None)`: the Trainer said the epochs are unbounded; `None`: it did not say.
    max_epochs: Option<Option<usize>>,
}

impl<'a> OptimizerSetup<'a> {
    /// A setup whose estimate comes from `estimate` (called at most once).
    pub(crate) fn new(estimate: &'a mut dyn FnMut() -> Result<usize>) -> Self {
        Self {
            estimate: Some(estimate),
            cached: None,
            max_epochs: None,
        }
    }

    /// A setup with nothing to estimate from: for calling `configure_optimizers` outside `fit`
    /// (tests, tools); asking for the stepping batches is an error.
    pub fn detached() -> Self {
        Self {
            estimate: None,
            cached: None,
            max_epochs: None,
        }
    }

    /// Tells the setup the run's `max_epochs` (after `fast_dev_run` and the 1000-epoch default),
    /// for schedules stepped per epoch.
    pub(crate) fn with_max_epochs(mut self, max_epochs: Option<usize>) -> Self {
        self.max_epochs = Some(max_epochs);
        self
    }

    /// Lightning's `trainer.max_epochs`: the epochs the run may take (`max_epochs`, or 1 under
    /// `fast_dev_run`, or 1000 when neither epochs nor steps are bounded). An error when the
    /// epochs are unbounded or the Trainer did not say.
    pub fn max_epochs(&self) -> Result<usize> {
        match self.max_epochs {
            Some(Some(n)) => Ok(n.max(1)),
            Some(None) => bail!(
                "max_epochs: the run's epochs are unbounded (bounded by max_steps or time); a schedule stepped per epoch needs trainer.max_epochs"
            ),
            None => bail!(
                "max_epochs: the Trainer did not pass its max_epochs to configure_optimizers (outside Trainer::fit, or a fit loop that does not call OptimizerSetup::with_max_epochs)"
            ),
        }
    }

    /// The length a schedule needs, in its own intervals, when it is a warm-up schedule whose
    /// config leaves `num_training_steps` null: the run's optimizer steps
    /// ([`estimated_stepping_batches`](Self::estimated_stepping_batches)) for `interval: step`,
    /// [`max_epochs`](Self::max_epochs) for `interval: epoch`. `None` for every other schedule,
    /// which is then built without asking (so the train dataloader is not loaded early).
    pub fn schedule_length(&mut self, scheduler: &SchedulerConfig) -> Result<Option<usize>> {
        let warmup = matches!(
            scheduler.name,
            SchedulerName::CosineWarmup | SchedulerName::LinearWarmup
        );
        if !warmup || scheduler.params.num_training_steps.is_some() {
            return Ok(None);
        }
        Ok(Some(match scheduler.params.interval {
            Interval::Step => self.estimated_stepping_batches()?,
            Interval::Epoch => self.max_epochs()?,
        }))
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

    fn scheduler(name: SchedulerName, interval: Interval) -> SchedulerConfig {
        let mut config = SchedulerConfig {
            name,
            params: Default::default(),
        };
        config.params.interval = interval;
        config
    }

    #[test]
    fn schedule_length_asks_only_for_warmup_schedules_without_a_length() {
        let mut estimate = || Ok(40);
        let mut setup = OptimizerSetup::new(&mut estimate).with_max_epochs(Some(3));
        let step = scheduler(SchedulerName::LinearWarmup, Interval::Step);
        let epoch = scheduler(SchedulerName::CosineWarmup, Interval::Epoch);
        assert_eq!(setup.schedule_length(&step).unwrap(), Some(40));
        assert_eq!(setup.schedule_length(&epoch).unwrap(), Some(3));
        let mut fixed = step.clone();
        fixed.params.num_training_steps = Some(9);
        assert_eq!(setup.schedule_length(&fixed).unwrap(), None);

        // Schedules that need no length never touch the data, even where it cannot be loaded.
        let mut failing = || bail!("must not load");
        let mut setup = OptimizerSetup::new(&mut failing);
        let step_lr = scheduler(SchedulerName::StepLr, Interval::Epoch);
        assert_eq!(setup.schedule_length(&step_lr).unwrap(), None);
        assert!(setup.schedule_length(&step).is_err());
        assert!(
            setup.schedule_length(&epoch).is_err(),
            "max_epochs not given"
        );
        let mut unbounded = OptimizerSetup::detached().with_max_epochs(None);
        assert!(unbounded.schedule_length(&epoch).is_err());
    }
}
