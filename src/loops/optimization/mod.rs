//! The optimization step of one training batch: [`automatic`] (the Trainer runs backward and the
//! step) or [`manual`] (`training_step_manual` does), and the decisions both share.

pub(crate) mod automatic;
pub(crate) mod manual;

use anyhow::{Result, bail};

use crate::data::mix;
use crate::loops::run::Run;
use crate::optim::Interval;

/// Where a batch sits in its accumulation window, as the training epoch loop decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StepWindow {
    /// `accumulate_grad_batches` (the loss is divided by it).
    pub accumulate: usize,
    /// The batch opens the window: gradients are reset before its backward.
    pub starts: bool,
    /// The batch closes the window: the optimizer steps after it.
    pub ends: bool,
    /// The batch is the epoch's last (epoch-interval schedulers step after it).
    pub last_of_epoch: bool,
}

/// Whether a scheduler steps after optimizer step `step` (1-based) of `epoch`: step schedules
/// every `frequency` steps; epoch schedules right after the epoch's last optimizer step, as in
/// Lightning; plateau schedules never here (they wait for the epoch's validation metrics, see
/// [`plateau_due`]).
pub(crate) fn scheduler_due(
    interval: Interval,
    plateau: bool,
    frequency: usize,
    step: usize,
    epoch: usize,
    last_of_epoch: bool,
) -> bool {
    match (interval, plateau) {
        (Interval::Step, _) => step.is_multiple_of(frequency),
        (Interval::Epoch, false) => last_of_epoch && (epoch + 1).is_multiple_of(frequency),
        (Interval::Epoch, true) => false,
    }
}

/// Whether an epoch-interval plateau scheduler steps at the end of `epoch`, after the monitoring
/// callbacks have seen its metrics.
pub(crate) fn plateau_due(
    interval: Interval,
    plateau: bool,
    frequency: usize,
    epoch: usize,
) -> bool {
    plateau && interval == Interval::Epoch && (epoch + 1).is_multiple_of(frequency)
}

/// The backend RNG's seed for the coming step (with a seed set): a function of the run's seed and
/// position, so a resumed run draws exactly what the uninterrupted one would have; under DDP the
/// rank is mixed in too, so that replicas draw different dropout masks.
pub(crate) fn step_seed(run: &Run) -> Option<u64> {
    let seed = run.seed?;
    let position = mix(seed, run.cx.position.progress.total_batches as u64);
    let ranks = run.cx.strategy.ranks();
    Some(match ranks.world_size {
        1 => position,
        _ => mix(position, ranks.global_rank as u64 + 1),
    })
}

pub(crate) fn check_finite(run: &Run, loss: f64, batch_idx: usize) -> Result<()> {
    if !run.cfg.terminate_on_nan {
        return Ok(());
    }
    let at = format!(
        "at epoch {}, batch {batch_idx}, global step {} (terminate_on_nan is on)",
        run.cx.position.progress.epoch, run.cx.position.progress.global_step
    );
    if !run.cx.strategy.is_distributed() {
        if !loss.is_finite() {
            bail!("training_step returned a non-finite loss ({loss}) {at}");
        }
        return Ok(());
    }
    // Under DDP the ranks stop together, before any enters the gradient all-reduce without
    // the others (burn's, on CUDA, cannot be woken by a failed peer).
    let losses = run
        .cx
        .strategy
        .all_gather("terminate_on_nan loss check", loss)?;
    let bad: Vec<String> = losses
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.is_finite())
        .map(|(r, l)| format!("rank {r}: {l}"))
        .collect();
    if !bad.is_empty() {
        bail!(
            "training_step returned a non-finite loss ({}) {at}",
            bad.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_schedulers_follow_the_step_count() {
        let due: Vec<bool> = (1..=4)
            .map(|step| scheduler_due(Interval::Step, false, 2, step, 0, false))
            .collect();
        assert_eq!(due, [false, true, false, true]);
    }

    #[test]
    fn epoch_schedulers_step_after_the_last_batch_of_every_nth_epoch() {
        assert!(!scheduler_due(Interval::Epoch, false, 1, 3, 0, false));
        assert!(scheduler_due(Interval::Epoch, false, 1, 3, 0, true));
        assert!(!scheduler_due(Interval::Epoch, false, 2, 3, 0, true));
        assert!(scheduler_due(Interval::Epoch, false, 2, 6, 1, true));
    }

    #[test]
    fn plateau_schedulers_wait_for_the_epoch_end() {
        assert!(!scheduler_due(Interval::Epoch, true, 1, 3, 0, true));
        assert!(plateau_due(Interval::Epoch, true, 1, 0));
        assert!(!plateau_due(Interval::Epoch, true, 2, 0));
        assert!(plateau_due(Interval::Epoch, true, 2, 1));
        assert!(!plateau_due(Interval::Step, true, 1, 0));
        assert!(!plateau_due(Interval::Epoch, false, 1, 0));
    }
}
