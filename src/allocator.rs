//! Keeps freed tensor buffers in the process instead of handing them back to the kernel.
//!
//! A training step allocates and frees the same large buffers (activations, gradients,
//! optimizer updates: megabytes each) every step. glibc serves allocations above 128 KiB with
//! a fresh `mmap` and returns them with `munmap` on free, and trims the heap's free top back to
//! the kernel, so every step pays page faults, page zeroing and TLB shootdowns across threads.
//! On the ETM benchmark (flex, 2 cores) that was 25–40% of the time. Raising glibc's mmap and
//! trim thresholds makes freed buffers reusable, as PyTorch's caching allocator does; the cost
//! is that the process keeps its peak heap until it exits, which is why the Trainer does this only
//! when `trainer.retain_freed_memory` is on (the shipped configs set it).

use std::sync::OnceLock;

/// What [`retain_freed_memory`] asked of the allocator, and whether it agreed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocatorTuning {
    /// Allocations below this many bytes come from the reusable heap (glibc's default: 128 KiB).
    pub mmap_threshold: usize,
    /// Free heap top kept before trimming, in bytes.
    pub trim_threshold: usize,
    /// Whether the allocator accepted both settings (false off glibc).
    pub applied: bool,
}

/// Largest buffer kept for reuse: larger ones are rare enough to map and unmap.
const MMAP_THRESHOLD: usize = 1 << 30;
/// glibc refuses thresholds above half its arena heap size on some versions; this one always
/// fits.
const MMAP_THRESHOLD_FALLBACK: usize = 32 << 20;

/// Tunes the process allocator for training, once per process; later calls return the first
/// outcome. The [`Trainer`](crate::Trainer) calls it when created with
/// `retain_freed_memory: true`.
pub fn retain_freed_memory() -> AllocatorTuning {
    static OUTCOME: OnceLock<AllocatorTuning> = OnceLock::new();
    *OUTCOME.get_or_init(tune)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune() -> AllocatorTuning {
    let set = |param, value: usize| unsafe { libc::mallopt(param, value as libc::c_int) == 1 };
    let trim_threshold = i32::MAX as usize;
    let mut mmap_threshold = MMAP_THRESHOLD;
    let mut applied = set(libc::M_MMAP_THRESHOLD, mmap_threshold);
    if !applied {
        mmap_threshold = MMAP_THRESHOLD_FALLBACK;
        applied = set(libc::M_MMAP_THRESHOLD, mmap_threshold);
    }
    applied &= set(libc::M_TRIM_THRESHOLD, trim_threshold);
    AllocatorTuning {
        mmap_threshold,
        trim_threshold,
        applied,
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune() -> AllocatorTuning {
    AllocatorTuning {
        mmap_threshold: MMAP_THRESHOLD,
        trim_threshold: i32::MAX as usize,
        applied: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_thresholds_and_the_tuning_runs_once() {
        let first = retain_freed_memory();
        assert!(first.applied, "{first:?}");
        assert!(first.mmap_threshold >= MMAP_THRESHOLD_FALLBACK);
        assert_eq!(retain_freed_memory(), first);
    }
}
