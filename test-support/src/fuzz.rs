//! Seeded, bounded fuzzing for the readers of outside input (checkpoints, tokenizers, corpora,
//! configs): every case must load or return an error, never panic or hang. Cases are derived
//! from a fixed seed, so a failure names its case number and reproduces on every run; the case
//! count is bounded so CI stays fast. Aborts (an allocation the size of a corrupted length
//! field) end the test process and fail the run as well; a case that runs past
//! [`CASE_TIME_LIMIT`] is reported by name and the process aborted, rather than hanging CI.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long one case may run (debug builds, a loaded 2-core machine) before it counts as a hang.
pub const CASE_TIME_LIMIT: Duration = Duration::from_secs(30);

/// Aborts the process, naming the case, when one case runs past [`CASE_TIME_LIMIT`]: a reader
/// that loops forever cannot be interrupted from outside, and a silent CI time-out says less.
struct Watchdog {
    origin: Instant,
    /// Case number in progress (`u64::MAX`: none) and the millisecond (since `origin`) it began.
    case: Arc<AtomicU64>,
    started_ms: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn new(name: &str, seed: u64) -> Self {
        let origin = Instant::now();
        let case = Arc::new(AtomicU64::new(u64::MAX));
        let started_ms = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let (c, s, d, name) = (
            case.clone(),
            started_ms.clone(),
            done.clone(),
            name.to_string(),
        );
        let thread = std::thread::spawn(move || {
            while !d.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let current = c.load(Ordering::Relaxed);
                let now = origin.elapsed().as_millis() as u64;
                let ran = now.saturating_sub(s.load(Ordering::Relaxed));
                if current != u64::MAX && ran > CASE_TIME_LIMIT.as_millis() as u64 {
                    eprintln!(
                        "fuzz {name}: case {current} (seed {seed}) ran for more than {CASE_TIME_LIMIT:?}: a hang"
                    );
                    std::process::abort();
                }
            }
        });
        Self {
            origin,
            case,
            started_ms,
            done,
            thread: Some(thread),
        }
    }
    fn start(&self, case: usize) {
        let now = self.origin.elapsed().as_millis() as u64;
        self.started_ms.store(now, Ordering::Relaxed);
        self.case.store(case as u64, Ordering::Relaxed);
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// splitmix64: a tiny deterministic generator (no dependency, same stream on every platform).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// Text fragments that stress parsers: huge and negative numbers, non-finite floats, deep
/// nesting, odd whitespace and encodings.
const NASTY: &[&str] = &[
    "1000000000000",
    "18446744073709551616",
    "-1",
    "-5",
    "0",
    "1e12",
    "NaN",
    "inf",
    "-inf",
    "null",
    "[[[[[[[[[[[[[[[[",
    "{{{{{{{{",
    "\u{0}",
    "\u{feff}",
    "\t",
    "\n  ",
    "\"",
    ":",
    ",",
    "\u{1F600}",
    "\r\n",
    "..",
    "~",
];

/// One mutation of `base`: bit flips, overwritten or deleted bytes, truncation, a duplicated or
/// inserted chunk, a nasty text fragment spliced in, or (1 case in 16) random bytes.
pub fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    if base.is_empty() || rng.below(16) == 0 {
        let len = rng.below(256);
        return rng.bytes(len);
    }
    let mut out = base.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        if out.is_empty() {
            out.push(rng.next_u64() as u8);
        }
        let at = rng.below(out.len());
        match rng.below(7) {
            0 => {
                let bit = rng.below(8);
                out[at] ^= 1 << bit;
            }
            1 => out[at] = rng.next_u64() as u8,
            2 => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                out.drain(at..end);
            }
            3 => out.truncate(at),
            4 => {
                let end = (at + 1 + rng.below(64)).min(out.len());
                let chunk = out[at..end].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, chunk);
            }
            5 => {
                let n = 1 + rng.below(8);
                let chunk = rng.bytes(n);
                out.splice(at..at, chunk);
            }
            _ => {
                let fragment = NASTY[rng.below(NASTY.len())].as_bytes();
                // Replace the run of digits (or the byte) at `at` with the fragment, so numbers
                // become huge, negative or non-finite in place.
                let mut end = at;
                while end < out.len() && out[end].is_ascii_digit() {
                    end += 1;
                }
                out.splice(at..end.max(at + 1).min(out.len()), fragment.iter().copied());
            }
        }
    }
    out
}

/// What a fuzz run saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Cases run.
    pub cases: usize,
    /// Cases the reader accepted.
    pub accepted: usize,
    /// Cases the reader rejected with an error.
    pub rejected: usize,
}

/// Runs `read` on `cases` inputs derived from `seeds` (each case mutates one of them; a few are
/// the seeds themselves) and fails on the first panic, naming the case. `read` returns
/// `Ok(())` when the input loaded and `Err(message)` when it was refused; an empty message is
/// itself a failure (an error must say what is wrong). Prints and returns the counts.
pub fn fuzz(
    name: &str,
    seed: u64,
    cases: usize,
    seeds: &[Vec<u8>],
    mut read: impl FnMut(&[u8]) -> Result<(), String>,
) -> Report {
    let mut rng = Rng::new(seed);
    let watchdog = Watchdog::new(name, seed);
    let mut report = Report {
        cases: 0,
        accepted: 0,
        rejected: 0,
    };
    for case in 0..cases {
        let base: &[u8] = if seeds.is_empty() {
            &[]
        } else {
            &seeds[case % seeds.len()]
        };
        let input = if case < seeds.len() {
            base.to_vec()
        } else {
            mutate(&mut rng, base)
        };
        watchdog.start(case);
        let outcome = catch_unwind(AssertUnwindSafe(|| read(&input)));
        report.cases += 1;
        match outcome {
            Ok(Ok(())) => report.accepted += 1,
            Ok(Err(message)) => {
                if message.trim().is_empty() {
                    panic!("{name}: case {case} was refused with an empty error message");
                }
                report.rejected += 1;
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let shown = String::from_utf8_lossy(&input[..input.len().min(400)]).into_owned();
                panic!(
                    "{name}: case {case} (seed {seed}) panicked: {what}\ninput ({} bytes, first 400 shown lossily):\n{shown}",
                    input.len()
                );
            }
        }
    }
    eprintln!(
        "fuzz {name}: {} cases, {} accepted, {} rejected with an error, 0 panics",
        report.cases, report.accepted, report.rejected
    );
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_repeatable_and_panics_are_caught() {
        let seeds = vec![b"step,loss\n1,0.5\n".to_vec()];
        let collect = |seed| {
            let mut seen = Vec::new();
            fuzz("collect", seed, 50, &seeds, |b| {
                seen.push(b.to_vec());
                if b.len() % 2 == 0 {
                    Ok(())
                } else {
                    Err("odd".into())
                }
            });
            seen
        };
        assert_eq!(collect(1), collect(1));
        assert_ne!(collect(1), collect(2));
        assert_eq!(collect(1)[0], seeds[0]);
        let caught = catch_unwind(|| {
            fuzz("panics", 3, 10, &seeds, |b| {
                if b.len() > 3 { panic!("boom") } else { Ok(()) }
            })
        });
        let message = caught.unwrap_err();
        let text = message.downcast_ref::<String>().unwrap();
        assert!(text.contains("case 0") && text.contains("boom"), "{text}");
    }
}
