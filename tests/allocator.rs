//! `trainer.retain_freed_memory`: with the option off (the default) creating a Trainer leaves
//! the process's allocator settings alone; on, glibc keeps large freed blocks for reuse. The
//! observable: whether a 64 MiB block is served by its own `mmap` (counted in
//! `mallinfo2().hblks`). glibc's default threshold, even as it adapts to freed blocks, stays at
//! most 32 MiB on 64-bit, so by default such a block is always mapped; the tuning (1 GiB) serves
//! it from the heap. Runs as `main` (`harness = false`, see Cargo.toml).

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn main() {
    use burn_lightning::{Trainer, TrainerConfig};

    const SIZE: usize = 64 << 20;
    fn served_by_mmap() -> bool {
        // SAFETY: a plain malloc/free pair; mallinfo2 only reads the allocator's counters.
        unsafe {
            let before = libc::mallinfo2().hblks;
            let block = libc::malloc(SIZE);
            assert!(!block.is_null(), "cannot allocate {SIZE} bytes");
            let during = libc::mallinfo2().hblks;
            libc::free(block);
            during > before
        }
    }

    assert!(
        served_by_mmap(),
        "glibc's defaults map a {SIZE}-byte block (was MALLOC_MMAP_THRESHOLD_ set?)"
    );
    let _quiet = Trainer::new(TrainerConfig::default());
    assert!(
        served_by_mmap(),
        "Trainer::new with retain_freed_memory off changed the allocator's settings"
    );
    let _tuned = Trainer::new(TrainerConfig {
        retain_freed_memory: true,
        ..Default::default()
    });
    let tuning = burn_lightning::allocator::retain_freed_memory();
    assert!(tuning.applied, "{tuning:?}");
    if tuning.mmap_threshold > SIZE {
        assert!(
            !served_by_mmap(),
            "retain_freed_memory on: a {SIZE}-byte block should come from the heap ({tuning:?})"
        );
    }
    println!("allocator: untouched with retain_freed_memory off, tuned with it on ({tuning:?})");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn main() {
    println!("allocator: glibc only; nothing to check here");
}
