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
    fn sequential_order_is_identity() {
        assert_eq!(Sampler::Sequential.indices(4, 3), vec![0, 1, 2, 3]);
    }
}
