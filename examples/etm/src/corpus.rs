//! A bag-of-words corpus: the vocabulary, each document's word counts, the seeded
//! train/validation/test split, and the two halves of a held-out document that document
//! completion scores.

use std::sync::Arc;

use anyhow::{Result, bail};
use rand::seq::SliceRandom;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One document as sorted, distinct word ids with their counts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    /// Word ids, ascending and distinct.
    pub words: Vec<u32>,
    /// How often each word occurs (same length as `words`).
    pub counts: Vec<f32>,
}

impl Document {
    /// Builds a document from (word, count) pairs in any order; repeated words are summed.
    pub fn from_pairs(mut pairs: Vec<(u32, f32)>) -> Self {
        pairs.sort_unstable_by_key(|&(w, _)| w);
        let mut doc = Document::default();
        for (w, c) in pairs {
            if doc.words.last() == Some(&w) {
                *doc.counts.last_mut().expect("same length") += c;
            } else {
                doc.words.push(w);
                doc.counts.push(c);
            }
        }
        doc
    }

    /// Builds a document from a token stream of word ids.
    pub fn from_tokens(tokens: &[u32]) -> Self {
        Self::from_pairs(tokens.iter().map(|&w| (w, 1.0)).collect())
    }

    /// Number of tokens (sum of counts).
    pub fn len_tokens(&self) -> f32 {
        self.counts.iter().sum()
    }

    /// Each token once, in word-id order (counts must be whole numbers). The list is as long
    /// as the document: [`halves`](Self::halves) avoids it for documents whose counts are
    /// out of proportion to their words.
    pub fn tokens(&self) -> Vec<u32> {
        self.words
            .iter()
            .zip(&self.counts)
            .flat_map(|(&w, &c)| std::iter::repeat_n(w, c.round() as usize))
            .collect()
    }

    /// Splits the tokens at random into two halves (the first gets ⌊n/2⌋), as document
    /// completion needs: the model sees the first and is scored on the second.
    ///
    /// The tokens are listed and shuffled when there are at most [`LISTED_TOKENS_BASE`] plus
    /// [`LISTED_TOKENS_PER_WORD`] per distinct word of them, which covers real documents. A
    /// count beyond that (`1e12` in an LDA-C file) would take memory and time far out of
    /// proportion to the bytes that declared it; such documents are split per word instead:
    /// each word gives the first half its proportional share, rounded at random, and a few
    /// random words make up the rounding so the first half still holds ⌊n/2⌋.
    pub fn halves(&self, rng: &mut ChaCha8Rng) -> (Document, Document) {
        let whole: Vec<u64> = self.counts.iter().map(|&c| c.round() as u64).collect();
        let n = whole.iter().fold(0u64, |a, &c| a.saturating_add(c));
        let listed = LISTED_TOKENS_BASE + LISTED_TOKENS_PER_WORD * self.words.len() as u64;
        if n > listed {
            return self.proportional_halves(&whole, n, rng);
        }
        let mut tokens = self.tokens();
        tokens.shuffle(rng);
        let (first, second) = tokens.split_at(tokens.len() / 2);
        (Self::from_tokens(first), Self::from_tokens(second))
    }

    /// [`halves`](Self::halves) without listing the tokens: `whole` are the rounded counts,
    /// `n` their sum.
    fn proportional_halves(
        &self,
        whole: &[u64],
        n: u64,
        rng: &mut ChaCha8Rng,
    ) -> (Document, Document) {
        let k = n / 2;
        let mut first: Vec<u64> = whole
            .iter()
            .map(|&c| {
                // c·k/n rounded up with probability equal to its fraction (u128: no overflow).
                let product = u128::from(c) * u128::from(k);
                let (share, rest) = (product / u128::from(n), product % u128::from(n));
                let up = u128::from(rng.random_range(0..n)) < rest;
                share as u64 + u64::from(up)
            })
            .collect();
        // Rounding leaves the total within one per word of k: add or take the difference
        // from words with room, in a random order.
        // (u128: counts that saturated `n` could overflow a u64 total.)
        let k = u128::from(k);
        let mut total: u128 = first.iter().map(|&f| u128::from(f)).sum();
        for i in sample(rng, whole.len(), whole.len()) {
            if total < k {
                let add = (whole[i] - first[i]).min((k - total).min(u128::from(u64::MAX)) as u64);
                first[i] += add;
                total += u128::from(add);
            } else if total > k {
                let take = first[i].min((total - k).min(u128::from(u64::MAX)) as u64);
                first[i] -= take;
                total -= u128::from(take);
            }
        }
        let half = |counts: &mut dyn Iterator<Item = u64>| {
            Self::from_pairs(
                self.words
                    .iter()
                    .zip(counts)
                    .filter(|&(_, c)| c > 0)
                    .map(|(&w, c)| (w, c as f32))
                    .collect(),
            )
        };
        (
            half(&mut first.iter().copied()),
            half(&mut whole.iter().zip(&first).map(|(&c, &f)| c - f)),
        )
    }
}

/// Tokens a document may have, beyond [`LISTED_TOKENS_PER_WORD`] per distinct word, and still
/// be halved by listing and shuffling its tokens.
pub const LISTED_TOKENS_BASE: u64 = 4096;
/// Tokens per distinct word a document may have (beyond [`LISTED_TOKENS_BASE`]) and still be
/// halved by listing its tokens.
pub const LISTED_TOKENS_PER_WORD: u64 = 64;

/// A vocabulary and the documents over it.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    /// Word of each id.
    pub vocabulary: Vec<String>,
    /// The documents.
    pub documents: Vec<Document>,
}

impl Corpus {
    /// Total number of tokens.
    pub fn num_tokens(&self) -> f64 {
        self.documents.iter().map(|d| d.len_tokens() as f64).sum()
    }
}

/// A held-out document for completion: what the encoder sees and what the decoder is scored on.
#[derive(Debug, Clone)]
pub struct HeldOut {
    /// First half of the tokens.
    pub observed: Arc<Document>,
    /// Second half.
    pub hidden: Arc<Document>,
}

/// The corpus cut into the three sets of a run.
#[derive(Debug, Clone, Default)]
pub struct Split {
    /// Word of each id.
    pub vocabulary: Arc<Vec<String>>,
    /// Training documents, whole.
    pub train: Vec<Arc<Document>>,
    /// Validation documents, halved for completion perplexity.
    pub val: Vec<HeldOut>,
    /// Test documents, halved for completion perplexity.
    pub test: Vec<HeldOut>,
    /// Every document, whole, in corpus order (what `predict` describes).
    pub all: Vec<Arc<Document>>,
}

/// Shares of the corpus held out for validation and test.
#[derive(Debug, Clone, Copy)]
pub struct SplitFractions {
    /// Share for validation.
    pub val: f64,
    /// Share for test.
    pub test: f64,
}

impl Split {
    /// A seeded random split. Held-out documents need two tokens or more (one for each half);
    /// shorter ones stay in training.
    pub fn new(corpus: Corpus, fractions: SplitFractions, seed: u64) -> Result<Self> {
        if corpus.documents.is_empty() {
            bail!("the corpus has no documents");
        }
        if !(0.0..1.0).contains(&(fractions.val + fractions.test)) {
            bail!(
                "val_fraction + test_fraction must be in [0, 1), got {} + {}",
                fractions.val,
                fractions.test
            );
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..corpus.documents.len()).collect();
        order.shuffle(&mut rng);
        let n = order.len() as f64;
        let n_val = (n * fractions.val).round() as usize;
        let n_test = (n * fractions.test).round() as usize;
        let mut split = Split {
            vocabulary: Arc::new(corpus.vocabulary),
            ..Default::default()
        };
        split.all = corpus.documents.into_iter().map(Arc::new).collect();
        for &i in &order {
            let doc = split.all[i].clone();
            let held_out = doc.len_tokens() >= 2.0;
            if held_out && split.test.len() < n_test {
                let (observed, hidden) = doc.halves(&mut rng);
                split.test.push(HeldOut {
                    observed: Arc::new(observed),
                    hidden: Arc::new(hidden),
                });
            } else if held_out && split.val.len() < n_val {
                let (observed, hidden) = doc.halves(&mut rng);
                split.val.push(HeldOut {
                    observed: Arc::new(observed),
                    hidden: Arc::new(hidden),
                });
            } else {
                split.train.push(doc);
            }
        }
        if split.train.is_empty() {
            bail!("no training documents are left after the split");
        }
        Ok(split)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_pairs_sorts_and_merges() {
        let d = Document::from_pairs(vec![(5, 1.0), (2, 2.0), (5, 3.0)]);
        assert_eq!(d.words, vec![2, 5]);
        assert_eq!(d.counts, vec![2.0, 4.0]);
        assert_eq!(d.len_tokens(), 6.0);
        assert_eq!(d.tokens(), vec![2, 2, 5, 5, 5, 5]);
    }

    #[test]
    fn halves_partition_the_tokens() {
        let d = Document::from_pairs(vec![(0, 3.0), (1, 2.0), (7, 2.0)]);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (a, b) = d.halves(&mut rng);
        assert_eq!(a.len_tokens(), 3.0);
        assert_eq!(b.len_tokens(), 4.0);
        let mut all = a.tokens();
        all.extend(b.tokens());
        all.sort();
        assert_eq!(all, d.tokens());
    }

    #[test]
    fn halves_of_a_huge_count_are_drawn_without_listing_the_tokens() {
        // One word counted 1e12 times (an LDA-C count, or a corrupted one): listing its tokens
        // would take 4 TB.
        let d = Document::from_pairs(vec![(0, 1e12), (3, 5.0)]);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (a, b) = d.halves(&mut rng);
        let total = d.len_tokens() as f64;
        let (na, nb) = (a.len_tokens() as f64, b.len_tokens() as f64);
        assert!(
            (na + nb - total).abs() <= total * 1e-6,
            "{na} + {nb} != {total}"
        );
        assert!((na - total / 2.0).abs() <= total * 1e-6, "{na}");
        for half in [&a, &b] {
            assert!(half.words.iter().all(|w| d.words.contains(w)));
            assert!(half.counts.iter().all(|c| *c > 0.0 && c.fract() == 0.0));
        }
    }

    #[test]
    fn split_is_seeded_and_keeps_every_document() {
        let corpus = || Corpus {
            vocabulary: vec!["a".into(), "b".into()],
            documents: (0..100)
                .map(|i| Document::from_pairs(vec![(0, 1.0 + i as f32), (1, 1.0)]))
                .collect(),
        };
        let f = SplitFractions {
            val: 0.1,
            test: 0.2,
        };
        let s1 = Split::new(corpus(), f, 3).unwrap();
        let s2 = Split::new(corpus(), f, 3).unwrap();
        let s3 = Split::new(corpus(), f, 4).unwrap();
        assert_eq!((s1.train.len(), s1.val.len(), s1.test.len()), (70, 10, 20));
        assert_eq!(s1.train, s2.train);
        assert_ne!(s1.train, s3.train);
        let held: f32 = s1
            .val
            .iter()
            .chain(&s1.test)
            .map(|h| h.observed.len_tokens() + h.hidden.len_tokens())
            .sum();
        let train: f32 = s1.train.iter().map(|d| d.len_tokens()).sum();
        assert_eq!(held + train, (0..100).map(|i| 2.0 + i as f32).sum::<f32>());
    }
}
