//! The order in which a [`DataLoader`](super::DataLoader) visits its dataset.
//!
//! The order of an epoch is a pure function of `(seed, epoch)`, so a checkpoint only needs the
//! seed, the epoch and the batch index to reproduce exactly the batches still to come.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Sequential or seeded-random order over `0..len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sampler {
    /// `0, 1, 2, …` every epoch.
    Sequential,
    /// A fresh permutation per epoch, drawn from `seed` and the epoch number.
    Random {
        /// Base seed; the epoch is mixed in so that each epoch differs.
        seed: u64,
    },
}

impl Sampler {
    /// The dataset indices visited during `epoch`, in order.
    pub fn indices(&self, len: usize, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..len).collect();
        if let Sampler::Random { seed } = *self {
            let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, epoch as u64));
            order.shuffle(&mut rng);
        }
        order
    }
}

/// The part of every epoch one rank visits, as torch's `DistributedSampler` (which Lightning
/// installs under DDP) picks it: all ranks draw the same epoch order, then rank `r` takes
/// positions `r, r + world_size, …`. When the data does not divide evenly the order is padded
/// with its own first positions, so every rank runs the same number of batches (a rank waiting
/// for a batch its peers never run would wait forever) and at most `world_size - 1` examples are
/// seen twice in an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This rank, from 0.
    pub rank: usize,
    /// Ranks sharing the data.
    pub world_size: usize,
}

impl Shard {
    /// Examples of each rank in an epoch of `len`.
    pub fn len(&self, len: usize) -> usize {
        len.div_ceil(self.world_size)
    }

    /// This rank's positions of `order` (the whole epoch's order).
    pub fn select(&self, order: &[usize]) -> Vec<usize> {
        if order.is_empty() {
            return Vec::new();
        }
        (0..self.len(order.len()))
            .map(|i| order[(i * self.world_size + self.rank) % order.len()])
            .collect()
    }
}

/// SplitMix64 finaliser: decorrelates neighbouring (seed, epoch) pairs.
pub(crate) fn mix(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_order_is_a_permutation_that_changes_per_epoch_and_repeats_per_seed() {
        let sampler = Sampler::Random { seed: 7 };
        let e0 = sampler.indices(100, 0);
        let e1 = sampler.indices(100, 1);
        let mut sorted = e0.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(e0, e1);
        assert_eq!(e0, Sampler::Random { seed: 7 }.indices(100, 0));
        assert_ne!(e0, Sampler::Random { seed: 8 }.indices(100, 0));
    }

    #[test]
    fn shards_of_an_even_epoch_cover_every_example_once() {
        let order = Sampler::Random { seed: 3 }.indices(12, 4);
        let shards: Vec<Vec<usize>> = (0..3)
            .map(|rank| {
                Shard {
                    rank,
                    world_size: 3,
                }
                .select(&order)
            })
            .collect();
        let mut all: Vec<usize> = shards.concat();
        all.sort();
        assert_eq!(all, (0..12).collect::<Vec<_>>());
        // Batch k of the ranks together is batch k of one rank with a 3x batch.
        assert_eq!(
            [shards[0][0], shards[1][0], shards[2][0]].to_vec(),
            order[..3].to_vec()
        );
    }

    #[test]
    fn shards_of_an_uneven_epoch_pad_with_the_first_positions() {
        let order: Vec<usize> = (0..5).collect();
        let a = Shard {
            rank: 0,
            world_size: 2,
        }
        .select(&order);
        let b = Shard {
            rank: 1,
            world_size: 2,
        }
        .select(&order);
        assert_eq!(a, vec![0, 2, 4]);
        assert_eq!(b, vec![1, 3, 0]);
    }

    #[test]
    fn sequential_order_is_identity() {
        assert_eq!(Sampler::Sequential.indices(4, 3), vec![0, 1, 2, 3]);
    }
}
