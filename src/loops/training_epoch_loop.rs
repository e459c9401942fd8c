//! The decisions of one training epoch (Lightning's `loops/training_epoch_loop.py`): which batch
//! ends an accumulation window, when to log, when validation is due within the epoch.

/// What one training epoch knows of its own shape; every decision is a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EpochLoop {
    /// Batches this epoch runs (after `limit_train_batches`).
    pub num_batches: usize,
    /// `accumulate_grad_batches`.
    pub accumulate: usize,
    /// Training batches between two validations (`val_check_interval`).
    pub val_every: usize,
    /// Whether this epoch validates at all (a val loader, `check_val_every_n_epoch`).
    pub validates: bool,
    /// `check_val_every_n_epoch` is null: the interval counts batches across epochs.
    pub val_across_epochs: bool,
    /// `log_every_n_steps`.
    pub log_every_n_steps: usize,
}

impl EpochLoop {
    /// Whether `batch_idx` is the epoch's last batch.
    pub fn is_last_batch(&self, batch_idx: usize) -> bool {
        batch_idx + 1 == self.num_batches
    }

    /// Whether `batch_idx` opens an accumulation window (gradients are reset before it).
    pub fn starts_window(&self, batch_idx: usize) -> bool {
        batch_idx.is_multiple_of(self.accumulate)
    }

    /// Whether `batch_idx` only accumulates gradients: no optimizer step after it. The
    /// epoch's last batch always steps, even in a window left short.
    pub fn should_accumulate(&self, batch_idx: usize) -> bool {
        !((batch_idx + 1).is_multiple_of(self.accumulate) || self.is_last_batch(batch_idx))
    }

    /// Whether the logged values are written after `batch_idx`, `global_step` steps in: every
    /// `log_every_n_steps` optimizer steps, and at the end of the epoch.
    pub fn should_log(&self, batch_idx: usize, global_step: usize) -> bool {
        !self.should_accumulate(batch_idx)
            && (global_step.is_multiple_of(self.log_every_n_steps) || self.is_last_batch(batch_idx))
    }

    /// Whether validation runs after `batch_idx` (`total_batches` seen in the run so far,
    /// this one included); a run about to stop early validates first.
    pub fn should_validate(&self, batch_idx: usize, total_batches: usize, stopping: bool) -> bool {
        // Lightning counts the interval within the epoch, or across epochs when
        // check_val_every_n_epoch is null.
        let position = if self.val_across_epochs {
            total_batches - 1
        } else {
            batch_idx
        };
        self.validates && ((position + 1).is_multiple_of(self.val_every) || stopping)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(num_batches: usize, accumulate: usize, val_every: usize) -> EpochLoop {
        EpochLoop {
            num_batches,
            accumulate,
            val_every,
            validates: true,
            val_across_epochs: false,
            log_every_n_steps: 2,
        }
    }

    #[test]
    fn windows_of_accumulation_and_the_short_last_window() {
        let e = epoch(5, 2, 5);
        let stepping: Vec<bool> = (0..5).map(|i| !e.should_accumulate(i)).collect();
        assert_eq!(stepping, [false, true, false, true, true]);
        let starts: Vec<bool> = (0..5).map(|i| e.starts_window(i)).collect();
        assert_eq!(starts, [true, false, true, false, true]);
    }

    #[test]
    fn logs_every_n_steps_and_at_the_epoch_end_never_mid_window() {
        let e = epoch(5, 1, 5);
        assert!(!e.should_log(0, 1));
        assert!(e.should_log(1, 2));
        assert!(e.should_log(4, 5), "the last batch always logs");
        let e = epoch(4, 2, 4);
        assert!(
            !e.should_log(0, 2),
            "a batch that only accumulates does not log"
        );
    }

    #[test]
    fn validates_on_the_interval_within_or_across_epochs_and_before_stopping() {
        let e = epoch(6, 1, 3);
        let due: Vec<bool> = (0..6)
            .map(|i| e.should_validate(i, 100 + i, false))
            .collect();
        assert_eq!(due, [false, false, true, false, false, true]);
        assert!(e.should_validate(0, 1, true));
        let across = EpochLoop {
            val_across_epochs: true,
            ..epoch(2, 1, 3)
        };
        assert!(
            across.should_validate(0, 3, false),
            "the third batch of the run"
        );
        assert!(!across.should_validate(1, 2, false));
        let off = EpochLoop {
            validates: false,
            ..epoch(6, 1, 3)
        };
        assert!(!off.should_validate(2, 3, true));
    }
}
