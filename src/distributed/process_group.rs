//! [`ProcessGroup`]: the collectives that the ranks of one process (a thread each) use to agree.
//!
//! Every collective is a rendezvous: each rank deposits its value and waits until all have,
//! then reads everyone's. Ranks call the same collectives in the same order, because they run
//! the same loop; when one fails, [`ProcessGroup::fail`] wakes the others with its error instead
//! of leaving them waiting for a value that will never come.

use std::any::Any;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use anyhow::{Result, bail};

type Shared = Box<dyn Any + Send + Sync>;

/// The ranks of one `fit`, and how they exchange values.
pub struct ProcessGroup {
    world_size: usize,
    state: Mutex<State>,
    changed: Condvar,
}

struct State {
    /// Completed rendezvous so far.
    generation: u64,
    deposits: Vec<Option<Shared>>,
    /// Everyone's values from the last completed rendezvous, in rank order.
    published: Option<Arc<Vec<Shared>>>,
    /// The rank whose turn it is in [`ProcessGroup::in_turn`].
    turn: usize,
    failure: Option<String>,
}

impl ProcessGroup {
    /// A group of `world_size` ranks.
    pub fn new(world_size: usize) -> Arc<Self> {
        assert!(world_size >= 1, "a process group needs a rank");
        Arc::new(Self {
            world_size,
            state: Mutex::new(State {
                generation: 0,
                deposits: (0..world_size).map(|_| None).collect(),
                published: None,
                turn: 0,
                failure: None,
            }),
            changed: Condvar::new(),
        })
    }

    /// Ranks in the group.
    pub fn world_size(&self) -> usize {
        self.world_size
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A rank that panicked while holding the lock has already failed the group.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check(state: &State) -> Result<()> {
        match &state.failure {
            Some(why) => bail!("stopped because another rank failed: {why}"),
            None => Ok(()),
        }
    }

    /// Deposits `value` for `rank` and returns every rank's value, in rank order.
    fn exchange(&self, rank: usize, value: Shared) -> Result<Arc<Vec<Shared>>> {
        let mut state = self.lock();
        Self::check(&state)?;
        let generation = state.generation;
        state.deposits[rank] = Some(value);
        if state.deposits.iter().all(Option::is_some) {
            let values = state
                .deposits
                .iter_mut()
                .map(|d| d.take().expect("all deposited"));
            let published = Arc::new(values.collect::<Vec<_>>());
            state.published = Some(published.clone());
            state.generation += 1;
            self.changed.notify_all();
            return Ok(published);
        }
        // The published values stay until this rank has read them: the next rendezvous cannot
        // complete without this rank's deposit.
        while state.generation == generation && state.failure.is_none() {
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        Self::check(&state)?;
        Ok(state.published.clone().expect("published"))
    }

    /// Every rank's `value`, in rank order.
    pub fn all_gather<T: Clone + Send + Sync + 'static>(
        &self,
        rank: usize,
        value: T,
    ) -> Result<Vec<T>> {
        let values = self.exchange(rank, Box::new(value))?;
        Ok(values
            .iter()
            .map(|v| {
                v.downcast_ref::<T>()
                    .expect("every rank exchanges the same type")
                    .clone()
            })
            .collect())
    }

    /// Rank 0's value on every rank (the others pass `None`).
    pub fn broadcast<T: Clone + Send + Sync + 'static>(
        &self,
        rank: usize,
        value: Option<T>,
    ) -> Result<T> {
        let values = self.exchange(rank, Box::new(value))?;
        let first = values[0]
            .downcast_ref::<Option<T>>()
            .expect("every rank exchanges the same type");
        first
            .clone()
            .ok_or_else(|| anyhow::anyhow!("rank 0 had nothing to broadcast"))
    }

    /// The element-wise mean of every rank's `values` (all the same length), summed in rank
    /// order so that every rank gets the same bits.
    pub fn all_reduce_mean(&self, rank: usize, values: Vec<f32>) -> Result<Vec<f32>> {
        let len = values.len();
        let all = self.exchange(rank, Box::new(values))?;
        let parts: Vec<&Vec<f32>> = all
            .iter()
            .map(|v| {
                v.downcast_ref::<Vec<f32>>()
                    .expect("every rank exchanges f32 buffers")
            })
            .collect();
        if let Some((r, p)) = parts.iter().enumerate().find(|(_, p)| p.len() != len) {
            bail!(
                "rank {rank} reduces {len} values but rank {r} sent {}: the replicas differ",
                p.len()
            );
        }
        let mut sum = parts[0].clone();
        for part in &parts[1..] {
            for (s, v) in sum.iter_mut().zip(part.iter()) {
                *s += v;
            }
        }
        let n = self.world_size as f32;
        sum.iter_mut().for_each(|s| *s /= n);
        Ok(sum)
    }

    /// Whether `flag` is set on any rank.
    pub fn any(&self, rank: usize, flag: bool) -> Result<bool> {
        Ok(self.all_gather(rank, flag)?.into_iter().any(|f| f))
    }

    /// Runs `f` when it is `rank`'s turn, ranks taking turns in order. Ranks sharing one device
    /// also share its random generator, so they draw in turn for reproducible runs.
    pub fn in_turn<R>(&self, rank: usize, f: impl FnOnce() -> R) -> Result<R> {
        let mut state = self.lock();
        while state.turn != rank && state.failure.is_none() {
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        Self::check(&state)?;
        drop(state);
        let out = f();
        let mut state = self.lock();
        state.turn = (rank + 1) % self.world_size;
        self.changed.notify_all();
        Ok(out)
    }

    /// Marks the group failed with `rank`'s error: every waiting or later collective returns it.
    pub fn fail(&self, rank: usize, error: &str) {
        let mut state = self.lock();
        if state.failure.is_none() {
            state.failure = Some(format!("rank {rank}: {error}"));
        }
        self.changed.notify_all();
    }
}

/// Fails the group if its rank's thread unwinds from a panic, so that peers stop waiting.
pub(crate) struct FailOnPanic<'a> {
    pub group: &'a ProcessGroup,
    pub rank: usize,
}

impl Drop for FailOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.group.fail(self.rank, "panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_ranks<R: Send>(world: usize, f: impl Fn(usize, &ProcessGroup) -> R + Sync) -> Vec<R> {
        let group = ProcessGroup::new(world);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..world)
                .map(|r| {
                    let group = &group;
                    let f = &f;
                    s.spawn(move || f(r, group))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    #[test]
    fn all_reduce_averages_and_repeats_rendezvous_in_order() {
        let out = on_ranks(3, |rank, g| {
            (0..50)
                .map(|round| {
                    g.all_reduce_mean(rank, vec![rank as f32 + round as f32, 1.0])
                        .unwrap()
                })
                .collect::<Vec<_>>()
        });
        for per_rank in &out {
            for (round, v) in per_rank.iter().enumerate() {
                assert_eq!(v, &vec![1.0 + round as f32, 1.0]);
            }
        }
    }

    #[test]
    fn broadcast_and_any_agree_on_every_rank() {
        let out = on_ranks(2, |rank, g| {
            let b = g
                .broadcast(rank, (rank == 0).then_some("from zero".to_string()))
                .unwrap();
            let any = g.any(rank, rank == 1).unwrap();
            let none = g.any(rank, false).unwrap();
            (b, any, none)
        });
        assert!(
            out.iter()
                .all(|o| *o == ("from zero".to_string(), true, false))
        );
    }

    #[test]
    fn turns_run_in_rank_order() {
        let order = Mutex::new(Vec::new());
        on_ranks(3, |rank, g| {
            for _ in 0..4 {
                g.in_turn(rank, || order.lock().unwrap().push(rank))
                    .unwrap();
            }
        });
        assert_eq!(order.into_inner().unwrap(), [0, 1, 2].repeat(4));
    }

    #[test]
    fn a_failed_rank_releases_the_others_with_its_error() {
        let out = on_ranks(2, |rank, g| {
            if rank == 1 {
                g.fail(1, "training_step returned NaN");
                return String::new();
            }
            g.all_reduce_mean(rank, vec![0.0]).unwrap_err().to_string()
        });
        assert!(
            out[0].contains("rank 1: training_step returned NaN"),
            "{}",
            out[0]
        );
    }
}
