//! Batches from a dataset: sampling, batching, collation and background prefetching.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use anyhow::Result;

use super::{Sampler, Shard};

/// Random access to examples; `Vec<T>` is one.
pub trait Dataset: Send + Sync + 'static {
    /// One example.
    type Item: Send;
    /// Number of examples.
    fn len(&self) -> usize;
    /// Whether there are no examples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The example at `index` (`index < len()`).
    fn get(&self, index: usize) -> Self::Item;
}

impl<T: Clone + Send + Sync + 'static> Dataset for Vec<T> {
    type Item = T;
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn get(&self, index: usize) -> T {
        self[index].clone()
    }
}

type MakeBatch<B> = Arc<dyn Fn(&[usize]) -> Result<B> + Send + Sync>;

/// Lightning's `DataLoader`: batch size, seeded shuffling, `drop_last`, a collate function and
/// `num_workers` threads that build the next batches while the current one trains.
///
/// ```
/// use burn_lightning::data::DataLoader;
/// let loader = DataLoader::new(vec![1.0f32, 2.0, 3.0, 4.0, 5.0], 2, |xs: Vec<f32>| Ok(xs))
///     .drop_last(true);
/// let batches: Vec<Vec<f32>> = loader.iter(0, 0).collect::<anyhow::Result<_>>().unwrap();
/// assert_eq!(batches, vec![vec![1.0, 2.0], vec![3.0, 4.0]]);
/// ```
pub struct DataLoader<B> {
    len: usize,
    make_batch: MakeBatch<B>,
    batch_size: usize,
    sampler: Sampler,
    shard: Option<Shard>,
    drop_last: bool,
    num_workers: usize,
    prefetch_factor: usize,
}

impl<B> Clone for DataLoader<B> {
    fn clone(&self) -> Self {
        Self {
            len: self.len,
            make_batch: self.make_batch.clone(),
            batch_size: self.batch_size,
            sampler: self.sampler,
            shard: self.shard,
            drop_last: self.drop_last,
            num_workers: self.num_workers,
            prefetch_factor: self.prefetch_factor,
        }
    }
}

impl<B: Send + 'static> DataLoader<B> {
    /// A sequential, single-threaded loader over `dataset`; `collate` turns examples into a batch.
    pub fn new<D, F>(dataset: D, batch_size: usize, collate: F) -> Self
    where
        D: Dataset,
        F: Fn(Vec<D::Item>) -> Result<B> + Send + Sync + 'static,
    {
        assert!(batch_size > 0, "DataLoader batch_size must be at least 1");
        let len = dataset.len();
        let make_batch: MakeBatch<B> = Arc::new(move |indices: &[usize]| {
            collate(indices.iter().map(|&i| dataset.get(i)).collect())
        });
        Self {
            len,
            make_batch,
            batch_size,
            sampler: Sampler::Sequential,
            shard: None,
            drop_last: false,
            num_workers: 0,
            prefetch_factor: 2,
        }
    }

    /// Shuffle every epoch with an order drawn from `seed` and the epoch number.
    pub fn shuffle(mut self, seed: u64) -> Self {
        self.sampler = Sampler::Random { seed };
        self
    }

    /// Drop the last batch when it is smaller than `batch_size`.
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// Build batches on `num_workers` background threads (0 = on the training thread).
    pub fn num_workers(mut self, num_workers: usize) -> Self {
        self.num_workers = num_workers;
        self
    }

    /// Batches each worker may have ready ahead of the training loop.
    pub fn prefetch_factor(mut self, prefetch_factor: usize) -> Self {
        self.prefetch_factor = prefetch_factor.max(1);
        self
    }

    /// The same loader without shuffling (used by `overfit_batches`).
    pub fn sequential(mut self) -> Self {
        self.sampler = Sampler::Sequential;
        self
    }

    /// The same loader visiting only `rank`'s share of every epoch (see [`Shard`]); the
    /// Trainer applies it under DDP.
    pub fn shard(mut self, rank: usize, world_size: usize) -> Self {
        assert!(
            rank < world_size,
            "rank {rank} is outside a world of {world_size}"
        );
        self.shard = (world_size > 1).then_some(Shard { rank, world_size });
        self
    }

    /// Examples per batch.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Whether the short last batch is dropped.
    pub fn is_drop_last(&self) -> bool {
        self.drop_last
    }

    /// The sampler in use (its seed is part of the checkpoint).
    pub fn sampler(&self) -> Sampler {
        self.sampler
    }

    /// Number of examples in the dataset.
    pub fn dataset_len(&self) -> usize {
        self.len
    }

    /// Examples visited in one epoch (this rank's share when sharded).
    pub fn epoch_len(&self) -> usize {
        self.shard.map_or(self.len, |s| s.len(self.len))
    }

    /// Number of batches in one epoch.
    pub fn num_batches(&self) -> usize {
        if self.drop_last {
            self.epoch_len() / self.batch_size
        } else {
            self.epoch_len().div_ceil(self.batch_size)
        }
    }

    /// Batches of `epoch`, starting at batch `skip` (how a mid-epoch resume continues).
    pub fn iter(&self, epoch: usize, skip: usize) -> BatchIter<B> {
        let mut order = self.sampler.indices(self.len, epoch);
        if let Some(shard) = self.shard {
            order = shard.select(&order);
        }
        let chunks: Vec<Vec<usize>> = order
            .chunks(self.batch_size)
            .take(self.num_batches())
            .skip(skip)
            .map(<[usize]>::to_vec)
            .collect();
        if self.num_workers == 0 || chunks.len() <= 1 {
            return BatchIter::Inline {
                chunks: chunks.into_iter(),
                make_batch: self.make_batch.clone(),
            };
        }
        let workers = self.num_workers.min(chunks.len());
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for worker in 0..workers {
            let (tx, rx): (SyncSender<Result<B>>, Receiver<Result<B>>) =
                sync_channel(self.prefetch_factor);
            let mine: Vec<Vec<usize>> = chunks
                .iter()
                .skip(worker)
                .step_by(workers)
                .cloned()
                .collect();
            let make_batch = self.make_batch.clone();
            handles.push(std::thread::spawn(move || {
                for chunk in mine {
                    // A send error means the consumer stopped early: nothing left to do.
                    if tx.send(make_batch(&chunk)).is_err() {
                        return;
                    }
                }
            }));
            receivers.push(rx);
        }
        BatchIter::Prefetch {
            receivers,
            next: 0,
            remaining: chunks.len(),
            _handles: handles,
        }
    }
}

/// The batches of one epoch, in sampler order whatever the number of workers.
pub enum BatchIter<B> {
    /// Built on demand on the calling thread.
    Inline {
        /// Indices of the batches still to come.
        chunks: std::vec::IntoIter<Vec<usize>>,
        /// Fetch and collate.
        make_batch: MakeBatch<B>,
    },
    /// Built ahead by worker threads; batch `i` comes from worker `i % workers`.
    Prefetch {
        /// One bounded channel per worker.
        receivers: Vec<Receiver<Result<B>>>,
        /// Index of the next batch.
        next: usize,
        /// Batches still to come.
        remaining: usize,
        /// Worker threads; they exit when their channel closes.
        _handles: Vec<JoinHandle<()>>,
    },
}

impl<B> Iterator for BatchIter<B> {
    type Item = Result<B>;

    fn next(&mut self) -> Option<Result<B>> {
        match self {
            BatchIter::Inline { chunks, make_batch } => chunks.next().map(|c| make_batch(&c)),
            BatchIter::Prefetch {
                receivers,
                next,
                remaining,
                ..
            } => {
                if *remaining == 0 {
                    return None;
                }
                let worker = *next % receivers.len();
                *next += 1;
                *remaining -= 1;
                Some(receivers[worker].recv().unwrap_or_else(|_| {
                    Err(anyhow::anyhow!(
                        "dataloader worker {worker} stopped unexpectedly (did collate panic?)"
                    ))
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loader(workers: usize) -> DataLoader<Vec<u32>> {
        DataLoader::new((0..23u32).collect::<Vec<_>>(), 4, Ok)
            .shuffle(3)
            .num_workers(workers)
    }

    #[test]
    fn workers_yield_the_same_batches_in_the_same_order() {
        let inline: Vec<_> = loader(0).iter(2, 0).map(Result::unwrap).collect();
        let threaded: Vec<_> = loader(3).iter(2, 0).map(Result::unwrap).collect();
        assert_eq!(inline, threaded);
        assert_eq!(inline.len(), 6);
        assert_eq!(inline[5].len(), 3);
    }

    #[test]
    fn skip_resumes_mid_epoch_and_drop_last_drops_the_short_batch() {
        let all: Vec<_> = loader(2).iter(1, 0).map(Result::unwrap).collect();
        let rest: Vec<_> = loader(2).iter(1, 2).map(Result::unwrap).collect();
        assert_eq!(&all[2..], &rest[..]);
        let dropped = loader(0).drop_last(true);
        assert_eq!(dropped.num_batches(), 5);
        assert!(dropped.iter(0, 0).all(|b| b.unwrap().len() == 4));
    }
}
