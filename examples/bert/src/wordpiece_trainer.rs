//! A deterministic WordPiece vocabulary trainer. The `tokenizers` crate's trainer breaks ties
//! between equally frequent merges by hash-map order, which changes from run to run, so the
//! same corpus and seed gave a different vocabulary (and a different model) each time. This
//! is the same algorithm (BPE merges over words with `##` continuation pieces, as transformers'
//! `BertWordPieceTokenizer.train` does) with ties broken by the pieces' text.
//!
//! Words come from BERT's normalizer and pre-tokenizer; the vocabulary is the special tokens,
//! then the alphabet (most frequent first), then the merges in the order they were made.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use anyhow::{Result, anyhow};
use rayon::prelude::*;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{
    NormalizedString, Normalizer, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer,
};

/// Counts of the words (as BERT's pre-tokenizer splits them) of `texts`.
pub fn count_words<S: AsRef<str> + Sync>(
    texts: &[S],
    lowercase: bool,
) -> Result<HashMap<String, u64>> {
    let normalizer = BertNormalizer::new(true, true, None, lowercase);
    texts
        .par_iter()
        .try_fold(HashMap::new, |mut counts: HashMap<String, u64>, text| {
            let mut normalized = NormalizedString::from(text.as_ref());
            normalizer
                .normalize(&mut normalized)
                .map_err(|e| anyhow!("{e}"))?;
            let mut words = PreTokenizedString::from(normalized);
            BertPreTokenizer
                .pre_tokenize(&mut words)
                .map_err(|e| anyhow!("{e}"))?;
            for (word, _, _) in words.get_splits(OffsetReferential::Normalized, OffsetType::None) {
                *counts.entry(word.to_string()).or_default() += 1;
            }
            Ok::<_, anyhow::Error>(counts)
        })
        .try_reduce(HashMap::new, |mut a, b| {
            for (w, c) in b {
                *a.entry(w).or_default() += c;
            }
            Ok(a)
        })
}

/// A candidate merge in the queue: most frequent first, then by the pieces' text.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Candidate {
    count: u64,
    pieces: Reverse<(String, String)>,
    pair: (u32, u32),
}

/// The vocabulary (in id order) learned from `word_counts`: `specials`, the alphabet, then
/// merges until `vocab_size` tokens or no pair is seen `min_frequency` times.
pub fn train_vocabulary(
    word_counts: &HashMap<String, u64>,
    vocab_size: usize,
    min_frequency: u64,
    specials: &[&str],
) -> Vec<String> {
    let mut vocab: Vec<String> = specials.iter().map(|s| s.to_string()).collect();
    let mut ids: HashMap<String, u32> = HashMap::new();
    for (i, s) in vocab.iter().enumerate() {
        ids.insert(s.clone(), i as u32);
    }
    let mut words: Vec<(&String, u64)> = word_counts.iter().map(|(w, &c)| (w, c)).collect();
    words.sort();

    // The alphabet, most frequent first (ties by character), then each word as pieces.
    let mut char_counts: HashMap<char, u64> = HashMap::new();
    for (w, c) in &words {
        for ch in w.chars() {
            *char_counts.entry(ch).or_default() += c;
        }
    }
    let mut alphabet: Vec<(char, u64)> = char_counts.into_iter().collect();
    alphabet.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut id_of = |token: String, vocab: &mut Vec<String>| -> u32 {
        *ids.entry(token.clone()).or_insert_with(|| {
            vocab.push(token);
            vocab.len() as u32 - 1
        })
    };
    for (ch, _) in &alphabet {
        id_of(ch.to_string(), &mut vocab);
    }
    let mut symbols: Vec<Vec<u32>> = words
        .iter()
        .map(|(w, _)| {
            w.chars()
                .enumerate()
                .map(|(i, ch)| {
                    let piece = if i == 0 {
                        ch.to_string()
                    } else {
                        format!("##{ch}")
                    };
                    id_of(piece, &mut vocab)
                })
                .collect()
        })
        .collect();
    let counts: Vec<u64> = words.iter().map(|(_, c)| *c).collect();

    // Pair counts and the words each pair occurs in.
    let mut pair_counts: HashMap<(u32, u32), u64> = HashMap::new();
    let mut pair_words: HashMap<(u32, u32), HashSet<usize>> = HashMap::new();
    for (w, s) in symbols.iter().enumerate() {
        for p in s.windows(2) {
            *pair_counts.entry((p[0], p[1])).or_default() += counts[w];
            pair_words.entry((p[0], p[1])).or_default().insert(w);
        }
    }
    let candidate = |pair: (u32, u32), count: u64, vocab: &[String]| Candidate {
        count,
        pieces: Reverse((
            vocab[pair.0 as usize].clone(),
            vocab[pair.1 as usize].clone(),
        )),
        pair,
    };
    let mut queue: BinaryHeap<Candidate> = pair_counts
        .iter()
        .map(|(&pair, &count)| candidate(pair, count, &vocab))
        .collect();

    while vocab.len() < vocab_size {
        let Some(top) = queue.pop() else { break };
        let current = pair_counts.get(&top.pair).copied().unwrap_or(0);
        if current != top.count {
            // Stale: the pair's count changed since it was queued.
            if current > 0 {
                queue.push(candidate(top.pair, current, &vocab));
            }
            continue;
        }
        if top.count < min_frequency.max(1) {
            break;
        }
        let (a, b) = top.pair;
        let merged = format!(
            "{}{}",
            vocab[a as usize],
            vocab[b as usize].trim_start_matches("##")
        );
        let new = id_of(merged, &mut vocab);
        let mut touched: HashSet<(u32, u32)> = HashSet::new();
        let mut affected: Vec<usize> = pair_words
            .remove(&top.pair)
            .unwrap_or_default()
            .into_iter()
            .collect();
        affected.sort_unstable();
        for w in affected {
            let s = &mut symbols[w];
            let c = counts[w];
            let mut i = 0;
            while i + 1 < s.len() {
                if s[i] == a && s[i + 1] == b {
                    let mut dec = |pair: (u32, u32)| {
                        if let Some(n) = pair_counts.get_mut(&pair) {
                            *n -= c;
                        }
                        touched.insert(pair);
                    };
                    if i > 0 {
                        dec((s[i - 1], a));
                    }
                    dec((a, b));
                    if i + 2 < s.len() {
                        dec((b, s[i + 2]));
                    }
                    s[i] = new;
                    s.remove(i + 1);
                    if i > 0 {
                        *pair_counts.entry((s[i - 1], new)).or_default() += c;
                        pair_words.entry((s[i - 1], new)).or_default().insert(w);
                        touched.insert((s[i - 1], new));
                    }
                    if i + 1 < s.len() {
                        *pair_counts.entry((new, s[i + 1])).or_default() += c;
                        pair_words.entry((new, s[i + 1])).or_default().insert(w);
                        touched.insert((new, s[i + 1]));
                    }
                }
                i += 1;
            }
        }
        pair_counts.remove(&top.pair);
        let mut touched: Vec<(u32, u32)> = touched.into_iter().collect();
        touched.sort_unstable();
        for pair in touched {
            if let Some(&count) = pair_counts.get(&pair).filter(|&&c| c > 0) {
                queue.push(candidate(pair, count, &vocab));
            }
        }
    }
    vocab.truncate(vocab_size.max(specials.len()));
    vocab
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, u64)]) -> HashMap<String, u64> {
        pairs.iter().map(|(w, c)| (w.to_string(), *c)).collect()
    }

    #[test]
    fn merges_the_most_frequent_pairs_first() {
        let words = counts(&[("low", 5), ("lower", 2), ("newest", 6), ("widest", 3)]);
        let vocab = train_vocabulary(&words, 100, 1, &["[UNK]"]);
        assert_eq!(vocab[0], "[UNK]");
        // Pieces first: the alphabet (e is the most frequent letter), then "##"-pieces.
        assert_eq!(vocab[1], "e");
        let piece = |t: &str| t.trim_start_matches("##").chars().count() == 1;
        let first_merge = vocab.iter().skip(1).position(|t| !piece(t)).unwrap() + 1;
        // "##e"+"##s" and "##s"+"##t" occur 9 times each: the first by text wins, then
        // "##es"+"##t"; "##o"+"##w" and "l"+"##o" tie at 7, and "##o" sorts before "l".
        assert_eq!(
            &vocab[first_merge..first_merge + 4],
            ["##es", "##est", "##ow", "low"],
            "{vocab:?}"
        );
        assert!(vocab.contains(&"newest".to_string()));
    }

    #[test]
    fn training_is_deterministic_and_respects_size_and_frequency() {
        let text: Vec<String> = (0..200)
            .map(|i| format!("word{} shared tokens here and there {}", i % 17, i % 5))
            .collect();
        let words = count_words(&text, true).unwrap();
        let first = train_vocabulary(&words, 60, 2, &["[PAD]", "[UNK]"]);
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let words_serial = one_thread.install(|| count_words(&text, true).unwrap());
        for _ in 0..3 {
            assert_eq!(
                train_vocabulary(&words_serial, 60, 2, &["[PAD]", "[UNK]"]),
                first
            );
        }
        assert_eq!(first.len(), 60);
        let unique: HashSet<&String> = first.iter().collect();
        assert_eq!(unique.len(), 60, "no token twice");
        // A pair seen only once is never merged with min_frequency 2.
        let rare = counts(&[("xy", 1)]);
        assert_eq!(train_vocabulary(&rare, 10, 2, &[]), ["x", "y", "##y"]);
    }
}
