//! Learning-rate schedulers with Lightning's `interval`, `frequency` and `monitor`.
//!
//! Time-based schedules are burn's (`burn::lr_scheduler`), whose records make resume exact;
//! `plateau` (ReduceLROnPlateau, which burn lacks) is here. burn's `step()` returns the rate to
//! use next, so the state keeps the rate in force and a copy of the schedule from before it was
//! produced: saving that copy and stepping it once on load reproduces both.

use anyhow::{Context, Result, bail};
use burn::lr_scheduler::LrSchedulerRecord;
use burn::lr_scheduler::module_lr_scheduler::{ModuleLearningRate, ModuleLrScheduler};
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};

/// When a scheduler steps: after optimizer steps or after epochs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    /// Every `frequency` optimizer steps.
    Step,
    /// Every `frequency` epochs (Lightning's default).
    #[default]
    Epoch,
}

/// Whether a monitored quantity should go down or up.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Lower is better.
    #[default]
    Min,
    /// Higher is better.
    Max,
}

impl Mode {
    /// Whether `current` beats `best` by more than `min_delta`.
    pub fn improved(self, current: f64, best: f64, min_delta: f64) -> bool {
        match self {
            Mode::Min => current < best - min_delta,
            Mode::Max => current > best + min_delta,
        }
    }
    /// The worst possible value, to start comparisons from.
    pub fn worst(self) -> f64 {
        match self {
            Mode::Min => f64::INFINITY,
            Mode::Max => f64::NEG_INFINITY,
        }
    }
}

/// PyTorch's ReduceLROnPlateau (relative threshold mode): multiply the rate by `factor` after
/// `patience` checks without improvement, wait `cooldown` checks, never go below `min_lr`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReduceLrOnPlateau {
    /// Current rate.
    pub lr: f64,
    /// Multiplier applied on a plateau.
    pub factor: f64,
    /// Checks without improvement tolerated.
    pub patience: usize,
    /// Relative improvement needed.
    pub threshold: f64,
    /// Checks to wait after a reduction.
    pub cooldown: usize,
    /// Lower bound of the rate.
    pub min_lr: f64,
    /// Direction of improvement.
    pub mode: Mode,
    #[serde(with = "crate::float_serde")]
    best: f64,
    bad_epochs: usize,
    cooldown_left: usize,
}

impl ReduceLrOnPlateau {
    /// A plateau schedule starting at `lr`.
    pub fn new(lr: f64, mode: Mode, factor: f64, patience: usize) -> Self {
        Self {
            lr,
            factor,
            patience,
            threshold: 1e-4,
            cooldown: 0,
            min_lr: 0.0,
            mode,
            best: mode.worst(),
            bad_epochs: 0,
            cooldown_left: 0,
        }
    }

    /// Feeds one value of the monitored metric.
    pub fn observe(&mut self, metric: f64) {
        let better = match self.mode {
            Mode::Min => metric < self.best * (1.0 - self.threshold),
            Mode::Max => metric > self.best * (1.0 + self.threshold),
        };
        // No best yet: it starts at ±inf, and a NaN (a NaN metric, or a checkpoint written before
        // non-finite floats round-tripped) would otherwise never be beaten.
        if better || !self.best.is_finite() {
            self.best = metric;
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
        }
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            self.bad_epochs = 0;
        }
        if self.bad_epochs > self.patience {
            self.lr = (self.lr * self.factor).max(self.min_lr);
            self.cooldown_left = self.cooldown;
            self.bad_epochs = 0;
        }
    }
}

/// The schedule itself.
#[derive(Clone)]
pub enum Schedule {
    /// Any of burn's time-based schedulers (step, cosine, linear, exponential, per-group, …).
    Burn {
        /// The schedule, already advanced to produce `current`.
        scheduler: ModuleLrScheduler,
        /// The schedule as it was before producing `current` (what a checkpoint stores).
        before_current: ModuleLrScheduler,
    },
    /// Reduce on plateau of a monitored metric.
    Plateau(ReduceLrOnPlateau),
}

/// A configured scheduler: the schedule, when it steps, and the rate in force.
#[derive(Clone)]
pub struct LrSchedulerState {
    /// The schedule.
    pub schedule: Schedule,
    /// When it steps.
    pub interval: Interval,
    /// Step every `frequency` intervals.
    pub frequency: usize,
    /// Metric fed to plateau schedules (required for them).
    pub monitor: Option<String>,
    /// Name shown by the LR monitor.
    pub name: Option<String>,
    current: ModuleLearningRate,
}

impl LrSchedulerState {
    /// Wraps one of burn's schedulers; its first rate is drawn now.
    pub fn burn(scheduler: impl Into<ModuleLrScheduler>) -> Self {
        let mut scheduler = scheduler.into();
        let before_current = scheduler.clone();
        let current = scheduler.step();
        Self {
            schedule: Schedule::Burn {
                scheduler,
                before_current,
            },
            interval: Interval::Epoch,
            frequency: 1,
            monitor: None,
            name: None,
            current,
        }
    }

    /// A plateau schedule; `monitor` names the metric it watches.
    pub fn plateau(plateau: ReduceLrOnPlateau, monitor: &str) -> Self {
        let current = plateau.lr.into();
        Self {
            schedule: Schedule::Plateau(plateau),
            interval: Interval::Epoch,
            frequency: 1,
            monitor: Some(monitor.to_string()),
            name: None,
            current,
        }
    }

    /// Sets the interval.
    pub fn interval(mut self, interval: Interval) -> Self {
        self.interval = interval;
        self
    }
    /// Sets the frequency.
    pub fn frequency(mut self, frequency: usize) -> Self {
        self.frequency = frequency.max(1);
        self
    }

    /// The rate(s) in force.
    pub fn current(&self) -> &ModuleLearningRate {
        &self.current
    }

    /// Advances the schedule; plateau schedules need the monitored `metric`.
    pub fn step(&mut self, metric: Option<f64>) -> Result<()> {
        match &mut self.schedule {
            Schedule::Burn {
                scheduler,
                before_current,
            } => {
                *before_current = scheduler.clone();
                self.current = scheduler.step();
            }
            Schedule::Plateau(plateau) => {
                let name = self.monitor.as_deref().unwrap_or("?");
                let value = metric.with_context(|| {
                    format!("plateau LR scheduler monitors `{name}`, which was not logged")
                })?;
                plateau.observe(value);
                self.current = plateau.lr.into();
            }
        }
        Ok(())
    }

    /// The schedule's state, for checkpoints.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        Ok(match &self.schedule {
            Schedule::Burn { before_current, .. } => {
                let bytes = before_current
                    .to_record()
                    .into_bytes()
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                bytes.to_vec()
            }
            Schedule::Plateau(p) => serde_json::to_vec(p)?,
        })
    }

    /// Whether `bytes` would restore (a written checkpoint is checked with it).
    pub fn check_bytes(&self, bytes: &[u8]) -> Result<()> {
        self.clone().load_bytes(bytes)
    }

    /// Restores what [`to_bytes`](Self::to_bytes) wrote.
    pub fn load_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        match &mut self.schedule {
            Schedule::Burn {
                scheduler,
                before_current,
            } => {
                let record =
                    LrSchedulerRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
                        .map_err(|e| anyhow::anyhow!("LR scheduler state is unreadable: {e:?}"))?;
                *before_current = before_current.clone().load_record(record);
                *scheduler = before_current.clone();
                self.current = scheduler.step();
            }
            Schedule::Plateau(p) => {
                let loaded: ReduceLrOnPlateau = serde_json::from_slice(bytes)
                    .context("plateau scheduler state is unreadable")?;
                if loaded.mode != p.mode {
                    bail!(
                        "plateau scheduler in the checkpoint has mode {:?}, configured {:?}",
                        loaded.mode,
                        p.mode
                    );
                }
                self.current = loaded.lr.into();
                *p = loaded;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::lr_scheduler::step::StepLrSchedulerConfig;

    #[test]
    fn plateau_reduces_after_patience_and_respects_min_lr() {
        let mut p = ReduceLrOnPlateau::new(1.0, Mode::Min, 0.5, 1);
        p.min_lr = 0.3;
        for v in [1.0, 1.0, 1.0] {
            p.observe(v);
        }
        assert_eq!(p.lr, 0.5);
        for v in [1.0, 1.0] {
            p.observe(v);
        }
        assert_eq!(p.lr, 0.3);
    }

    #[test]
    fn burn_schedule_round_trips_through_bytes() {
        let cfg = StepLrSchedulerConfig::new(1.0, 2).with_gamma(0.5);
        let mut a = LrSchedulerState::burn(cfg.init().unwrap());
        for _ in 0..3 {
            a.step(None).unwrap();
        }
        let saved = a.to_bytes().unwrap();
        let mut b = LrSchedulerState::burn(cfg.init().unwrap());
        b.load_bytes(&saved).unwrap();
        assert_eq!(a.current().base(), b.current().base());
        for _ in 0..4 {
            a.step(None).unwrap();
            b.step(None).unwrap();
            assert_eq!(a.current().base(), b.current().base());
        }
    }
}
