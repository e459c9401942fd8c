//! Next-sentence-prediction pairs from tokenized documents (BERT's
//! `create_instances_from_document`, with the seed's fix): a document's sentences are grouped
//! into segments of about half the target length; a positive pair is two consecutive segments
//! (i, i + 1) taken directly, a negative pairs segment i with text from a random other document,
//! 50/50. With `short_seq_prob` a document pass aims at a shorter random length, as in BERT, so
//! the model also sees short inputs.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// A document: its sentences as token ids (no special tokens).
pub type Document = Vec<Vec<u32>>;

/// What to do with a pair longer than `max_seq_len` allows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Overlength {
    /// Cut the longer segment, a token at a time from its front or back at random (BERT's
    /// `truncate_seq_pair`).
    #[default]
    Truncate,
    /// Drop the pair.
    Skip,
}

/// How pairs are built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairSettings {
    /// Tokens per example including `[CLS]` and two `[SEP]`s.
    pub max_seq_len: usize,
    /// Chance a document pass aims at a random shorter length.
    pub short_seq_prob: f64,
    /// Over-length pairs are truncated or skipped.
    pub overlength: Overlength,
}

/// Segment A, segment B and whether B was drawn from another document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentencePair {
    /// First segment's ids.
    pub a: Vec<u32>,
    /// Second segment's ids.
    pub b: Vec<u32>,
    /// True when B is random text (NSP label 1), false when B follows A (label 0).
    pub is_random_next: bool,
}

/// Consecutive sentences of `sentences` grouped until each group reaches `target` tokens (the
/// last group may be shorter).
fn segments(sentences: &[Vec<u32>], target: usize) -> Vec<Vec<u32>> {
    let mut out = Vec::new();
    let mut current: Vec<u32> = Vec::new();
    for sentence in sentences.iter().filter(|s| !s.is_empty()) {
        current.extend_from_slice(sentence);
        if current.len() >= target {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Text from a random document other than `skip`, from a random sentence on, about `target`
/// tokens long (BERT's random next).
fn random_text<R: Rng>(
    documents: &[Document],
    skip: usize,
    target: usize,
    rng: &mut R,
) -> Vec<u32> {
    let other = loop {
        let d = rng.random_range(0..documents.len());
        if d != skip && documents[d].iter().any(|s| !s.is_empty()) {
            break d;
        }
    };
    let sentences = &documents[other];
    let start = rng.random_range(0..sentences.len());
    let mut text = Vec::new();
    for sentence in &sentences[start..] {
        text.extend_from_slice(sentence);
        if text.len() >= target {
            break;
        }
    }
    if text.is_empty() {
        // The random start fell on empty sentences at the end: take the document's first text.
        text = sentences
            .iter()
            .flatten()
            .copied()
            .take(target.max(1))
            .collect();
    }
    text
}

/// Cuts the longer of `a`, `b` one token at a time, from its front or back at random, until
/// both fit in `budget`.
fn truncate_pair<R: Rng>(a: &mut Vec<u32>, b: &mut Vec<u32>, budget: usize, rng: &mut R) {
    while a.len() + b.len() > budget {
        let longer = if a.len() > b.len() { &mut *a } else { &mut *b };
        if rng.random::<bool>() {
            longer.remove(0);
        } else {
            longer.pop();
        }
    }
}

/// The NSP pairs of document `index` of `documents` for one pass. Needs at least two documents
/// with text for negatives; a corpus of one document yields positives only.
pub fn document_pairs<R: Rng>(
    documents: &[Document],
    index: usize,
    settings: &PairSettings,
    rng: &mut R,
) -> Vec<SentencePair> {
    let budget = settings.max_seq_len.saturating_sub(3).max(2);
    let target = if rng.random::<f64>() < settings.short_seq_prob {
        rng.random_range(2..=budget)
    } else {
        budget
    };
    let segments = segments(&documents[index], target.div_ceil(2));
    let negatives_possible = documents
        .iter()
        .enumerate()
        .any(|(d, doc)| d != index && doc.iter().any(|s| !s.is_empty()));
    let mut pairs = Vec::new();
    let mut i = 0;
    while i + 1 < segments.len() {
        let a = segments[i].clone();
        let random_next = negatives_possible && rng.random::<bool>();
        let b = if random_next {
            let wanted = target.saturating_sub(a.len()).max(1);
            random_text(documents, index, wanted, rng)
        } else {
            segments[i + 1].clone()
        };
        // A negative leaves segment i + 1 unused: it starts the next pair (BERT puts it back).
        i += if random_next { 1 } else { 2 };
        let (mut a, mut b) = (a, b);
        if a.len() + b.len() > budget {
            match settings.overlength {
                Overlength::Skip => continue,
                Overlength::Truncate => truncate_pair(&mut a, &mut b, budget, rng),
            }
        }
        pairs.push(SentencePair {
            a,
            b,
            is_random_next: random_next,
        });
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Document d's sentence s is [1000·d + 10·s, …] of `len` tokens, so a token tells where it
    /// came from.
    fn corpus(docs: usize, sentences: usize, len: usize) -> Vec<Document> {
        (0..docs)
            .map(|d| {
                (0..sentences)
                    .map(|s| (0..len).map(|t| (1000 * d + 10 * s + t) as u32).collect())
                    .collect()
            })
            .collect()
    }

    const SETTINGS: PairSettings = PairSettings {
        max_seq_len: 35,
        short_seq_prob: 0.0,
        overlength: Overlength::Truncate,
    };

    #[test]
    fn positives_are_consecutive_segments_and_negatives_come_from_other_documents() {
        let docs = corpus(20, 12, 4);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (mut positives, mut negatives) = (0, 0);
        for d in 0..docs.len() {
            for pair in document_pairs(&docs, d, &SETTINGS, &mut rng) {
                let doc_of = |t: u32| t as usize / 1000;
                assert!(pair.a.iter().all(|&t| doc_of(t) == d));
                assert!(pair.a.len() + pair.b.len() <= SETTINGS.max_seq_len - 3);
                if pair.is_random_next {
                    negatives += 1;
                    assert!(pair.b.iter().all(|&t| doc_of(t) != d));
                } else {
                    positives += 1;
                    // B starts with the sentence right after A's last one.
                    let last_sentence = (pair.a.last().unwrap() % 1000) / 10;
                    assert_eq!((pair.b[0] % 1000) / 10, last_sentence + 1, "{pair:?}");
                    assert!(pair.b.iter().all(|&t| doc_of(t) == d));
                }
            }
        }
        let share = positives as f64 / (positives + negatives) as f64;
        assert!(
            (0.4..0.6).contains(&share),
            "{positives} positives, {negatives} negatives"
        );
    }

    #[test]
    fn over_length_pairs_are_truncated_or_skipped_as_configured() {
        // Two 40-token sentences: every pair is over a 35-token example.
        let docs = corpus(4, 6, 40);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let truncated = document_pairs(&docs, 0, &SETTINGS, &mut rng);
        assert!(!truncated.is_empty());
        for pair in &truncated {
            assert_eq!(pair.a.len() + pair.b.len(), 32);
            // Truncation cuts the ends, so what is left is a contiguous run.
            assert!(pair.a.windows(2).all(|w| w[1] == w[0] + 1));
        }
        let skip = PairSettings {
            overlength: Overlength::Skip,
            ..SETTINGS
        };
        assert!(document_pairs(&docs, 0, &skip, &mut rng).is_empty());
    }

    #[test]
    fn short_seq_prob_makes_some_passes_shorter() {
        let docs = corpus(10, 40, 3);
        let short = PairSettings {
            short_seq_prob: 1.0,
            max_seq_len: 128,
            ..SETTINGS
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let lengths: Vec<usize> = (0..10)
            .flat_map(|d| document_pairs(&docs, d, &short, &mut rng))
            .map(|p| p.a.len() + p.b.len())
            .collect();
        let long = PairSettings {
            max_seq_len: 128,
            ..SETTINGS
        };
        let full: Vec<usize> = (0..10)
            .flat_map(|d| document_pairs(&docs, d, &long, &mut rng))
            .map(|p| p.a.len() + p.b.len())
            .collect();
        let mean = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len() as f64;
        assert!(
            mean(&lengths) < 0.75 * mean(&full),
            "{} vs {}",
            mean(&lengths),
            mean(&full)
        );
    }
}
