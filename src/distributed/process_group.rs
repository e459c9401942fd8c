//! [`ProcessGroup`]: the collectives that the ranks of one process (a thread each) use to agree.
//!
//! Every collective is a rendezvous: each rank deposits its value and waits until all have,
//! then reads everyone's. Ranks must call the same collectives in the same order, because they
//! run the same loop; every call carries an operation name and the rank's sequence number
//! (its 1st, 2nd, … collective), so that ranks that went different ways (a `sync_dist` log on
//! one rank only) get an error naming each rank's operation instead of exchanging the wrong
//! values. No rank waits for ever, as torch's process groups do not:
//! - when one fails, [`ProcessGroup::fail`] wakes the others with its error;
//! - a rank that has finished its loop ([`ProcessGroup::finish`]) will join no collective, so
//!   one waiting for it fails at once;
//! - any other wait ends after the group's timeout (`trainer.ddp_timeout`, torch's
//!   `init_process_group(timeout=…)`, 30 minutes by default as there), naming the ranks that
//!   did not arrive and the last collective each was seen in.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};

type Shared = Box<dyn Any + Send + Sync>;

/// How long a rank waits in a collective for the others by default: torch's default
/// process-group timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The ranks of one `fit`, and how they exchange values.
pub struct ProcessGroup {
    world_size: usize,
    timeout: Duration,
    state: Mutex<State>,
    changed: Condvar,
}

/// One rank's call of a collective.
#[derive(Clone, PartialEq, Eq)]
struct Call {
    op: String,
    /// The rank's how-many-th collective this is, from 1.
    seq: u64,
    /// What it exchanges (ranks exchanging different types are in different operations).
    type_name: &'static str,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} #{}", self.op, self.seq)
    }
}

struct State {
    /// Completed rendezvous so far.
    generation: u64,
    deposits: Vec<Option<(Call, Shared)>>,
    /// Everyone's values from the last completed rendezvous, in rank order.
    published: Option<Arc<Vec<Shared>>>,
    /// The rank whose turn it is in [`ProcessGroup::in_turn`].
    turn: usize,
    failure: Option<String>,
    /// Each rank's latest collective (`None`: none yet).
    last: Vec<Option<Call>>,
    /// Ranks whose loop has ended: they will call no further collective.
    finished: Vec<bool>,
}

impl State {
    fn last_of(&self, rank: usize) -> String {
        match &self.last[rank] {
            Some(call) => format!("its last collective was {call}"),
            None => "it has called no collective yet".into(),
        }
    }

    /// A rank other than `rank` that has finished its loop, if any is still awaited.
    fn finished_peer(&self, rank: usize) -> Option<usize> {
        (0..self.finished.len())
            .find(|&r| r != rank && self.finished[r] && self.deposits[r].is_none())
    }
}

impl ProcessGroup {
    /// A group of `world_size` ranks, each waiting at most [`DEFAULT_TIMEOUT`] in a collective.
    pub fn new(world_size: usize) -> Arc<Self> {
        Self::with_timeout(world_size, DEFAULT_TIMEOUT)
    }

    /// A group of `world_size` ranks whose collectives fail after waiting `timeout` for a peer.
    pub fn with_timeout(world_size: usize, timeout: Duration) -> Arc<Self> {
        assert!(world_size >= 1, "a process group needs a rank");
        Arc::new(Self {
            world_size,
            timeout,
            state: Mutex::new(State {
                generation: 0,
                deposits: (0..world_size).map(|_| None).collect(),
                published: None,
                turn: 0,
                failure: None,
                last: vec![None; world_size],
                finished: vec![false; world_size],
            }),
            changed: Condvar::new(),
        })
    }

    /// Ranks in the group.
    pub fn world_size(&self) -> usize {
        self.world_size
    }

    /// How long a collective waits for a peer.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A rank that panicked while holding the lock has already failed the group.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fails the group with `why` (unless it has failed already) and returns it as an error.
    fn fail_with(&self, state: &mut State, why: String) -> anyhow::Error {
        if state.failure.is_none() {
            state.failure = Some(why.clone());
        }
        self.changed.notify_all();
        anyhow!(why)
    }

    /// The group's failure, as seen by `rank` in `what`.
    fn check(state: &State, rank: usize, what: &dyn fmt::Display) -> Result<()> {
        match &state.failure {
            Some(why) => Err(anyhow!("rank {rank} stopped in {what}: {why}")),
            None => Ok(()),
        }
    }

    /// Deposits `value` for `rank` and returns every rank's value, in rank order.
    fn exchange<T: Send + Sync + 'static>(
        &self,
        rank: usize,
        op: &str,
        value: T,
    ) -> Result<Arc<Vec<Shared>>> {
        let mut state = self.lock();
        let seq = state.last[rank].as_ref().map_or(0, |c| c.seq) + 1;
        let call = Call {
            op: op.to_string(),
            seq,
            type_name: std::any::type_name::<T>(),
        };
        state.last[rank] = Some(call.clone());
        Self::check(&state, rank, &call)?;
        let generation = state.generation;
        state.deposits[rank] = Some((call.clone(), Box::new(value)));
        if state.deposits.iter().all(Option::is_some) {
            let calls: Vec<&Call> = state.deposits.iter().flatten().map(|(c, _)| c).collect();
            if calls.iter().any(|c| *c != calls[0]) {
                let why = mismatch(&calls);
                return Err(self.fail_with(&mut state, why));
            }
            let values = state
                .deposits
                .iter_mut()
                .map(|d| d.take().expect("all deposited").1);
            let published = Arc::new(values.collect::<Vec<_>>());
            state.published = Some(published.clone());
            state.generation += 1;
            self.changed.notify_all();
            return Ok(published);
        }
        // The published values stay until this rank has read them: the next rendezvous cannot
        // complete without this rank's deposit.
        let deadline = Instant::now() + self.timeout;
        loop {
            if state.generation != generation {
                return Ok(state.published.clone().expect("published"));
            }
            Self::check(&state, rank, &call)?;
            if let Some(peer) = state.finished_peer(rank) {
                let why = format!(
                    "rank {rank} is in {call}, but rank {peer} has finished its loop and will not join ({}): the ranks called different collectives",
                    state.last_of(peer)
                );
                return Err(self.fail_with(&mut state, why));
            }
            let now = Instant::now();
            if now >= deadline {
                let absent: Vec<usize> = (0..self.world_size)
                    .filter(|&r| state.deposits[r].is_none())
                    .collect();
                let whereabouts: Vec<String> = absent
                    .iter()
                    .map(|&r| format!("rank {r}: {}", state.last_of(r)))
                    .collect();
                let why = format!(
                    "rank {rank} waited {:?} (trainer.ddp_timeout) in {call} for {} to join ({})",
                    self.timeout,
                    ranks(&absent),
                    whereabouts.join("; ")
                );
                return Err(self.fail_with(&mut state, why));
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Every rank's `value`, in rank order (`op` names the exchange in errors).
    pub fn all_gather<T: Clone + Send + Sync + 'static>(
        &self,
        rank: usize,
        op: &str,
        value: T,
    ) -> Result<Vec<T>> {
        let values = self.exchange(rank, &format!("all_gather({op})"), value)?;
        Ok(values
            .iter()
            .map(|v| {
                v.downcast_ref::<T>()
                    .expect("checked: every rank exchanges the same type")
                    .clone()
            })
            .collect())
    }

    /// Rank 0's value on every rank (the others pass `None`).
    pub fn broadcast<T: Clone + Send + Sync + 'static>(
        &self,
        rank: usize,
        op: &str,
        value: Option<T>,
    ) -> Result<T> {
        let values = self.exchange(rank, &format!("broadcast({op})"), value)?;
        let first = values[0]
            .downcast_ref::<Option<T>>()
            .expect("checked: every rank exchanges the same type");
        first
            .clone()
            .ok_or_else(|| anyhow!("rank 0 had nothing to broadcast in broadcast({op})"))
    }

    /// The element-wise mean of every rank's `values` (all the same length), summed in rank
    /// order so that every rank gets the same bits.
    pub fn all_reduce_mean(&self, rank: usize, op: &str, values: Vec<f32>) -> Result<Vec<f32>> {
        let len = values.len();
        let op = format!("all_reduce({op})");
        let all = self.exchange(rank, &op, values)?;
        let parts: Vec<&Vec<f32>> = all
            .iter()
            .map(|v| {
                v.downcast_ref::<Vec<f32>>()
                    .expect("checked: every rank exchanges f32 buffers")
            })
            .collect();
        if let Some((r, p)) = parts.iter().enumerate().find(|(_, p)| p.len() != len) {
            let why = format!(
                "{op}: rank {rank} reduces {len} values but rank {r} sent {}: the replicas differ",
                p.len()
            );
            return Err(self.fail_with(&mut self.lock(), why));
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
    pub fn any(&self, rank: usize, op: &str, flag: bool) -> Result<bool> {
        Ok(self.all_gather(rank, op, flag)?.into_iter().any(|f| f))
    }

    /// Runs `f` when it is `rank`'s turn, ranks taking turns in order. Ranks sharing one device
    /// also share its random generator, so they draw in turn for reproducible runs.
    pub fn in_turn<R>(&self, rank: usize, f: impl FnOnce() -> R) -> Result<R> {
        let what = "its turn (forward pass)";
        let mut state = self.lock();
        let deadline = Instant::now() + self.timeout;
        while state.turn != rank {
            Self::check(&state, rank, &what)?;
            let holder = state.turn;
            if state.finished[holder] {
                let why = format!(
                    "rank {rank} waits for {what}, but rank {holder}, whose turn it is, has finished its loop ({}): the ranks ran different numbers of steps",
                    state.last_of(holder)
                );
                return Err(self.fail_with(&mut state, why));
            }
            let now = Instant::now();
            if now >= deadline {
                let why = format!(
                    "rank {rank} waited {:?} (trainer.ddp_timeout) for {what} while rank {holder} held it ({})",
                    self.timeout,
                    state.last_of(holder)
                );
                return Err(self.fail_with(&mut state, why));
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        Self::check(&state, rank, &what)?;
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

    /// Records that `rank`'s loop has ended: a peer waiting for it in a collective (which it
    /// will never call) fails at once instead of waiting out the timeout.
    pub fn finish(&self, rank: usize) {
        let mut state = self.lock();
        state.finished[rank] = true;
        self.changed.notify_all();
    }

    /// The group's failure, if any.
    pub fn failure(&self) -> Option<String> {
        self.lock().failure.clone()
    }
}

/// `rank 1` or `ranks 1, 2`.
fn ranks(list: &[usize]) -> String {
    let names: Vec<String> = list.iter().map(usize::to_string).collect();
    match names.len() {
        1 => format!("rank {}", names[0]),
        _ => format!("ranks {}", names.join(", ")),
    }
}

/// Names what each rank is in, grouping the ranks that agree.
fn mismatch(calls: &[&Call]) -> String {
    let mut groups: Vec<(&Call, Vec<usize>)> = Vec::new();
    for (rank, call) in calls.iter().enumerate() {
        match groups.iter_mut().find(|(c, _)| c == call) {
            Some((_, members)) => members.push(rank),
            None => groups.push((call, vec![rank])),
        }
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|(call, members)| {
            let same_op = groups.iter().filter(|(c, _)| c.op == call.op).count() > 1;
            let typed = if same_op && groups.iter().all(|(c, _)| c.seq == call.seq) {
                format!(" of {}", call.type_name)
            } else {
                String::new()
            };
            format!("{} in {call}{typed}", ranks(members))
        })
        .collect();
    format!(
        "collective mismatch: {}; every rank must call the same collectives in the same order (is a sync_dist log, or a branch that reaches a collective, taken on some ranks only?)",
        parts.join(", ")
    )
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
        on_ranks_within(world, DEFAULT_TIMEOUT, f)
    }

    fn on_ranks_within<R: Send>(
        world: usize,
        timeout: Duration,
        f: impl Fn(usize, &ProcessGroup) -> R + Sync,
    ) -> Vec<R> {
        let group = ProcessGroup::with_timeout(world, timeout);
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
                    g.all_reduce_mean(rank, "test", vec![rank as f32 + round as f32, 1.0])
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
                .broadcast(rank, "test", (rank == 0).then_some("from zero".to_string()))
                .unwrap();
            let any = g.any(rank, "test", rank == 1).unwrap();
            let none = g.any(rank, "test", false).unwrap();
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
            g.all_reduce_mean(rank, "test", vec![0.0])
                .unwrap_err()
                .to_string()
        });
        assert!(
            out[0].contains("rank 1: training_step returned NaN"),
            "{}",
            out[0]
        );
    }

    /// Rank 0 logs with `sync_dist` (an all_gather) where rank 1 goes on to average gradients:
    /// before sequence ids the two exchanges paired up and a downcast panicked.
    #[test]
    fn different_collectives_on_two_ranks_are_an_error_naming_both() {
        let start = Instant::now();
        let out = on_ranks_within(2, Duration::from_secs(2), |rank, g| {
            g.all_reduce_mean(rank, "gradients", vec![1.0]).unwrap();
            let error = match rank {
                0 => g.all_gather(rank, "sync_dist \"loss\"", 1.0f64).map(drop),
                _ => g.all_reduce_mean(rank, "gradients", vec![1.0]).map(drop),
            };
            format!("{:#}", error.unwrap_err())
        });
        for error in &out {
            assert!(
                error.contains("rank 0 in all_gather(sync_dist \"loss\") #2")
                    && error.contains("rank 1 in all_reduce(gradients) #2"),
                "{error}"
            );
        }
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_peer_that_never_arrives_times_out_naming_it_and_its_last_collective() {
        let timeout = Duration::from_millis(300);
        let start = Instant::now();
        let out = on_ranks_within(3, timeout, |rank, g| {
            g.any(rank, "stop", false).unwrap();
            if rank == 2 {
                // Busy elsewhere (stuck in user code) for longer than the timeout.
                std::thread::sleep(timeout * 3);
                return String::new();
            }
            format!(
                "{:#}",
                g.all_reduce_mean(rank, "gradients", vec![1.0]).unwrap_err()
            )
        });
        let elapsed = start.elapsed();
        for error in &out[..2] {
            assert!(
                error.contains("(trainer.ddp_timeout) in all_reduce(gradients) #2"),
                "{error}"
            );
            assert!(
                error.contains(
                    "for rank 2 to join (rank 2: its last collective was all_gather(stop) #1)"
                ),
                "{error}"
            );
        }
        assert!(
            elapsed < timeout * 3 + Duration::from_secs(1),
            "{elapsed:?}"
        );
    }

    #[test]
    fn a_collective_waiting_for_a_finished_rank_fails_at_once() {
        let start = Instant::now();
        let out = on_ranks_within(2, Duration::from_secs(60), |rank, g| {
            g.any(rank, "stop", false).unwrap();
            if rank == 1 {
                g.finish(1);
                return String::new();
            }
            format!(
                "{:#}",
                g.all_gather(rank, "sync_dist \"x\"", 0.5f64).unwrap_err()
            )
        });
        assert!(
            out[0].contains(
                "rank 0 is in all_gather(sync_dist \"x\") #2, but rank 1 has finished its loop"
            ) && out[0].contains("its last collective was all_gather(stop) #1"),
            "{}",
            out[0]
        );
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn waiting_for_a_turn_is_bounded_too() {
        let timeout = Duration::from_millis(300);
        let out = on_ranks_within(2, timeout, |rank, g| {
            if rank == 0 {
                // Rank 0 never takes its turn (stuck before its forward pass).
                std::thread::sleep(timeout * 3);
                return String::new();
            }
            format!("{:#}", g.in_turn(rank, || ()).unwrap_err())
        });
        assert!(
            out[1].contains("rank 1 waited 300ms (trainer.ddp_timeout) for its turn (forward pass) while rank 0 held it"),
            "{}",
            out[1]
        );
    }
}
