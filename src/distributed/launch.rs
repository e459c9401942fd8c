//! Starting the ranks of a run and collecting their outcomes, within bounded time.
//!
//! Rank 0 runs on the caller's thread; every other rank on a thread of its own. A rank whose
//! thread cannot be started fails the group (the ranks already running stop at their first
//! collective) and rank 0 does not start; a rank that ends marks itself finished or failed in
//! the group, so no peer waits for it; and once rank 0 has ended, each other rank has the
//! group's timeout to end too, after which the run reports it and leaves its thread behind
//! (a thread cannot be stopped from outside; it is stuck outside any collective, in user code).

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::Builder;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};

use super::{FailOnPanic, ProcessGroup};

/// One rank's loop (rank > 0), run on its own thread.
pub(crate) type RankJob = Box<dyn FnOnce() -> Result<()> + Send>;

/// Marks `rank` finished or failed in `group` according to `result`.
fn report<T>(group: &ProcessGroup, rank: usize, result: &Result<T>) {
    match result {
        Ok(_) => group.finish(rank),
        Err(e) => group.fail(rank, &format!("{e:#}")),
    }
}

/// Runs `followers` (rank, job) on threads made by `thread(rank)` and `leader` (rank 0) here;
/// returns rank 0's value, or the first error: rank 0's, else the lowest failing rank's.
pub(crate) fn run_ranks<L>(
    group: &Arc<ProcessGroup>,
    followers: Vec<(usize, RankJob)>,
    thread: impl Fn(usize) -> Builder,
    leader: impl FnOnce() -> Result<L>,
) -> Result<L> {
    let mut running = Vec::new();
    let mut start_error = None;
    for (rank, job) in followers {
        let (done, outcome) = mpsc::channel();
        let peers = group.clone();
        let spawned = thread(rank).spawn(move || {
            let _guard = FailOnPanic {
                group: &peers,
                rank,
            };
            let result = job();
            report(&peers, rank, &result);
            // The receiver is gone only if the run already gave up on this rank.
            let _ = done.send(result);
        });
        match spawned {
            Ok(handle) => running.push((rank, handle, outcome)),
            Err(e) => {
                let why = format!("could not start the thread of rank {rank}: {e}");
                group.fail(rank, &why);
                start_error = Some(anyhow!("rank {rank}: {why}"));
                break;
            }
        }
    }
    let leader = match start_error {
        Some(e) => Err(e),
        None => {
            let _guard = FailOnPanic {
                group: group.as_ref(),
                rank: 0,
            };
            let result = leader();
            report(group, 0, &result);
            result
        }
    };
    let deadline = Instant::now() + group.timeout();
    let mut first_error = None;
    for (rank, handle, outcome) in running {
        let wait = deadline.saturating_duration_since(Instant::now());
        let result = match outcome.recv_timeout(wait) {
            Ok(result) => {
                let _ = handle.join();
                result
            }
            Err(RecvTimeoutError::Disconnected) => {
                let _ = handle.join();
                Err(anyhow!("rank {rank} panicked"))
            }
            Err(RecvTimeoutError::Timeout) => {
                let why = format!(
                    "rank {rank} did not end within {:?} (trainer.ddp_timeout) after rank 0 did; it is outside any collective (in user code?) and its thread is left running",
                    group.timeout()
                );
                group.fail(rank, &why);
                Err(anyhow!(why))
            }
        };
        if let Err(e) = result {
            first_error.get_or_insert(e.context(format!("rank {rank}")));
        }
    }
    match (leader, first_error) {
        (Ok(value), None) => Ok(value),
        (Err(e), _) => Err(e).context("rank 0"),
        (Ok(_), Some(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Ranks that average a value a few times, as a training loop does.
    fn job(group: &Arc<ProcessGroup>, rank: usize) -> RankJob {
        let group = group.clone();
        Box::new(move || {
            group.broadcast(rank, "train dataloader", None::<u32>)?;
            for _ in 0..3 {
                group.all_reduce_mean(rank, "gradients", vec![rank as f32])?;
            }
            Ok(())
        })
    }

    fn leader(group: &Arc<ProcessGroup>) -> Result<Vec<f32>> {
        group.broadcast(0, "train dataloader", Some(7u32))?;
        let mut last = Vec::new();
        for _ in 0..3 {
            last = group.all_reduce_mean(0, "gradients", vec![0.0])?;
        }
        Ok(last)
    }

    #[test]
    fn ranks_run_to_the_end() {
        let group = ProcessGroup::with_timeout(3, Duration::from_secs(5));
        let followers = (1..3).map(|r| (r, job(&group, r))).collect();
        let out = run_ranks(&group, followers, |_| Builder::new(), || leader(&group)).unwrap();
        assert_eq!(out, vec![1.0]);
    }

    /// Before: `thread::scope`'s `spawn` panicked when a thread could not be made, and the
    /// scope then waited for the ranks already started, which waited in their first
    /// collective for ever.
    #[test]
    fn a_rank_whose_thread_cannot_start_ends_the_run_naming_it() {
        let group = ProcessGroup::with_timeout(4, Duration::from_secs(60));
        let followers = (1..4).map(|r| (r, job(&group, r))).collect();
        // No machine has an exabyte for a stack: the OS refuses to make the thread.
        let thread = |rank: usize| match rank {
            2 => Builder::new().stack_size(1 << 60),
            _ => Builder::new(),
        };
        let start = Instant::now();
        let error = run_ranks(&group, followers, thread, || leader(&group)).unwrap_err();
        let error = format!("{error:#}");
        assert!(
            error.contains("rank 2: could not start the thread of rank 2"),
            "{error}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        // The rank started before it stopped in its first collective with that error.
        assert!(
            group
                .failure()
                .unwrap()
                .contains("could not start the thread of rank 2"),
            "{:?}",
            group.failure()
        );
    }

    #[test]
    fn a_rank_stuck_outside_any_collective_is_reported_after_the_timeout() {
        let timeout = Duration::from_millis(300);
        let group = ProcessGroup::with_timeout(2, timeout);
        let peers = group.clone();
        let stuck: RankJob = Box::new(move || {
            peers.broadcast(1, "train dataloader", None::<u32>)?;
            std::thread::sleep(Duration::from_secs(3));
            Ok(())
        });
        let start = Instant::now();
        let error = run_ranks(
            &group,
            vec![(1, stuck)],
            |_| Builder::new(),
            || {
                group.broadcast(0, "train dataloader", Some(7u32))?;
                group.all_reduce_mean(0, "gradients", vec![0.0])
            },
        )
        .unwrap_err();
        let elapsed = start.elapsed();
        let error = format!("{error:#}");
        assert!(
            error.contains("rank 0 waited 300ms (trainer.ddp_timeout) in all_reduce(gradients) #2 for rank 1 to join"),
            "{error}"
        );
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    }
}
