//! [`GradScaler`]: dynamic loss scaling of `16-mixed` runs, saved in checkpoints.

use serde::{Deserialize, Serialize};

/// Dynamic loss scaling for float16 (PyTorch's `GradScaler` defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradScaler {
    /// The factor the loss is multiplied by before backward.
    #[serde(with = "crate::float_serde")]
    pub scale: f64,
    /// Consecutive steps without overflow.
    pub good_steps: usize,
    /// Steps without overflow after which the scale doubles.
    pub growth_interval: usize,
    /// Steps skipped because their gradients overflowed.
    pub skipped_steps: usize,
}

impl Default for GradScaler {
    fn default() -> Self {
        Self {
            scale: 65536.0,
            good_steps: 0,
            growth_interval: 2000,
            skipped_steps: 0,
        }
    }
}

impl GradScaler {
    /// After unscaling: records whether the gradients were finite; returns whether to step.
    pub fn update(&mut self, gradients_finite: bool) -> bool {
        if gradients_finite {
            self.good_steps += 1;
            if self.good_steps == self.growth_interval {
                self.scale *= 2.0;
                self.good_steps = 0;
            }
        } else {
            self.scale *= 0.5;
            self.good_steps = 0;
            self.skipped_steps += 1;
        }
        gradients_finite
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaler_halves_on_overflow_and_doubles_after_a_run_of_good_steps() {
        let mut s = GradScaler {
            growth_interval: 3,
            ..Default::default()
        };
        assert!(s.update(true));
        assert!(s.update(true));
        assert!(!s.update(false));
        assert_eq!((s.scale, s.good_steps, s.skipped_steps), (32768.0, 0, 1));
        for _ in 0..3 {
            assert!(s.update(true));
        }
        assert_eq!((s.scale, s.good_steps), (65536.0, 0));
    }
}
