//! What `trainer.deterministic` means here. Lightning's `deterministic=True` calls
//! `torch.use_deterministic_algorithms(True)`, which makes PyTorch refuse the kernels whose
//! results vary from run to run. burn 0.22 has no such switch, and on the CPU it needs none:
//! every seeded run already repeats bit for bit (on one machine and build), with or without the
//! option, because
//! - the backend's random generator is reseeded before every training step from the run's seed
//!   and the step's position (`fit_loop::step_seed`), so dropout masks do not depend on what ran
//!   before (a resumed run draws what the uninterrupted one would have),
//! - flex's kernels reduce in a fixed order (no atomics), and
//! - DDP ranks sharing the CPU's one generator draw in turn.
//!
//! So the option is accepted (the seed project's configs set it) and explained once per `fit`:
//! a notice saying this, that a run without a seed does not repeat (weights and masks then draw
//! from OS entropy), and that on GPUs burn's scatter-add sums with atomics, which no option
//! turns off. `tests/deterministic.rs` checks the guarantee.

use super::{Accelerator, TrainerConfig};

/// The notice `fit` prints when `trainer.deterministic` is on (`None` when it is off).
/// `seeded`: whether the run has a seed.
pub fn deterministic_notice(config: &TrainerConfig, seeded: bool) -> Option<String> {
    if !config.deterministic {
        return None;
    }
    let gpu = match config.accelerator {
        Accelerator::Cpu => false,
        Accelerator::Cuda | Accelerator::Gpu | Accelerator::Wgpu => true,
        Accelerator::Auto => cfg!(any(feature = "cuda", feature = "wgpu")),
    };
    let mut notice = String::from(
        "trainer.deterministic changes nothing here: every seeded run on the CPU already repeats bit for bit, with or without it (the backend RNG is reseeded from the seed and the step before every step, flex's kernels reduce in a fixed order, DDP ranks on the CPU draw in turn), and burn has no switch like torch.use_deterministic_algorithms",
    );
    if gpu {
        notice.push_str(
            "; on this GPU accelerator burn's scatter-add (embedding and gather gradients) sums with atomics, so results may differ between runs in the last bits, which no option turns off",
        );
    }
    if !seeded {
        notice.push_str(
            "; this run has no seed, so initial weights and dropout draw from OS entropy and it will not repeat: set `seed` (Trainer::seed)",
        );
    }
    Some(notice)
}
