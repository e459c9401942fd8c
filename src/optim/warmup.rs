//! Hugging Face's warm-up schedules (`get_cosine_schedule_with_warmup`,
//! `get_linear_schedule_with_warmup`) as burn LR schedulers, so their position is saved in
//! checkpoints like any burn scheduler's.

use burn::lr_scheduler::{LrScheduler, LrSchedulerRecord};
use burn::optim::LearningRate;

/// What follows the linear warm-up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decay {
    /// Half-cosine waves: `num_cycles` 0.5 goes from the peak to 0 once.
    Cosine {
        /// Number of cosine waves over the decay (HF's `num_cycles`).
        num_cycles: f64,
    },
    /// Straight to 0 at the last training step.
    Linear,
}

/// Linear warm-up from 0 to `peak_lr` over `num_warmup_steps`, then [`Decay`] until
/// `num_training_steps`; the rate at step `t` is `peak_lr · λ(t)` with HF's λ.
#[derive(Debug, Clone, PartialEq)]
pub struct WarmupSchedule {
    /// The rate at the end of the warm-up.
    pub peak_lr: LearningRate,
    /// Steps of linear warm-up.
    pub num_warmup_steps: usize,
    /// Total steps of the run.
    pub num_training_steps: usize,
    /// The decay after the warm-up.
    pub decay: Decay,
    step: usize,
}

impl WarmupSchedule {
    /// A schedule at step 0.
    pub fn new(
        peak_lr: LearningRate,
        num_warmup_steps: usize,
        num_training_steps: usize,
        decay: Decay,
    ) -> Self {
        Self {
            peak_lr,
            num_warmup_steps,
            num_training_steps,
            decay,
            step: 0,
        }
    }

    /// HF's multiplier λ at `step`.
    pub fn factor(&self, step: usize) -> f64 {
        let (step, warmup, total) = (
            step as f64,
            self.num_warmup_steps as f64,
            self.num_training_steps as f64,
        );
        if step < warmup {
            return step / warmup.max(1.0);
        }
        match self.decay {
            Decay::Cosine { num_cycles } => {
                let progress = (step - warmup) / (total - warmup).max(1.0);
                (0.5 * (1.0 + (std::f64::consts::PI * num_cycles * 2.0 * progress).cos())).max(0.0)
            }
            Decay::Linear => ((total - step) / (total - warmup).max(1.0)).max(0.0),
        }
    }
}

impl LrScheduler for WarmupSchedule {
    fn step(&mut self) -> LearningRate {
        let lr = self.peak_lr * self.factor(self.step);
        self.step += 1;
        lr
    }

    fn to_record(&self) -> LrSchedulerRecord {
        LrSchedulerRecord::new().with_scalar("step", self.step as u64)
    }

    fn load_record(&mut self, record: LrSchedulerRecord) {
        if let Some(step) = record.scalar::<u64>("step") {
            self.step = step as usize;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(mut s: WarmupSchedule, n: usize) -> Vec<f64> {
        (0..n).map(|_| s.step()).collect()
    }

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-12, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn cosine_warms_up_then_follows_half_a_cosine_to_zero() {
        // HF with lr 1, warmup 2, total 6, num_cycles 0.5: 0, .5, then 0.5(1+cos(π·k/4)), k=0..3.
        let s = WarmupSchedule::new(1.0, 2, 6, Decay::Cosine { num_cycles: 0.5 });
        let c = |k: f64| 0.5 * (1.0 + (std::f64::consts::PI * k / 4.0).cos());
        close(&rates(s, 7), &[0.0, 0.5, 1.0, c(1.0), c(2.0), c(3.0), 0.0]);
    }

    #[test]
    fn linear_warms_up_then_decays_to_zero_and_stays() {
        let s = WarmupSchedule::new(0.1, 1, 5, Decay::Linear);
        close(&rates(s, 7), &[0.0, 0.1, 0.075, 0.05, 0.025, 0.0, 0.0]);
    }

    #[test]
    fn no_warmup_starts_at_the_peak() {
        let s = WarmupSchedule::new(2e-5, 0, 4, Decay::Cosine { num_cycles: 0.5 });
        assert_eq!(rates(s, 1), vec![2e-5]);
    }

    #[test]
    fn position_round_trips_through_a_record() {
        let mut a = WarmupSchedule::new(1.0, 3, 10, Decay::Linear);
        for _ in 0..4 {
            a.step();
        }
        let mut b = WarmupSchedule::new(1.0, 3, 10, Decay::Linear);
        b.load_record(a.to_record());
        assert_eq!(rates(a, 5), rates(b, 5));
    }
}
