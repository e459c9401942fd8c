//! The pretraining data pipeline: documents → sentences → token ids (once, in parallel) →
//! NSP pairs → masked examples, `dupe_factor` passes with different pairs and masks, every
//! document on its own seeded generator so the result does not depend on thread count. The
//! documents are split into training and held-out sets first, so no held-out text appears in
//! training, not even as a random next sentence.

use anyhow::Result;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::masking::{MaskingSettings, PretrainingExample, mask_pair};
use crate::pairs::{Document, PairSettings, document_pairs};
use crate::sentences::split_sentences;
use crate::tokenizer::BertTokenizer;

/// Everything that shapes the examples besides the text and the tokenizer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PipelineSettings {
    /// How NSP pairs are built.
    pub pairs: PairSettings,
    /// How tokens are masked.
    pub masking: MaskingSettings,
    /// Passes over the training documents, each with fresh pairs and masks.
    pub dupe_factor: usize,
    /// Share of documents held out for validation.
    pub val_fraction: f64,
    /// Seed of every draw.
    pub seed: u64,
}

/// Tokenizes every document sentence by sentence (no special tokens), in parallel.
pub fn tokenize_documents(
    documents: &[String],
    tokenizer: &BertTokenizer,
) -> Result<Vec<Document>> {
    documents
        .par_iter()
        .map(|doc| {
            split_sentences(doc)
                .iter()
                .map(|s| tokenizer.encode_words(s))
                .filter(|ids| ids.as_ref().map_or(true, |ids| !ids.is_empty()))
                .collect()
        })
        .collect()
}

/// Indices of the training and held-out documents: a seeded shuffle, the first
/// `ceil(val_fraction · n)` (at least one when there are two or more documents and the share is
/// positive) held out.
pub fn split_documents(count: usize, val_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..count).collect();
    // Its own stream: the split must not move when example settings change.
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x05ee_d0f5_b117));
    let held = if val_fraction > 0.0 && count > 1 {
        ((val_fraction * count as f64).ceil() as usize).clamp(1, count - 1)
    } else {
        0
    };
    let mut val = order[..held].to_vec();
    let mut train = order[held..].to_vec();
    val.sort_unstable();
    train.sort_unstable();
    (train, val)
}

/// A generator for one (pass, document), independent of scheduling.
fn document_rng(seed: u64, pass: usize, document: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((pass as u64) << 32) | document as u64);
    rng
}

/// The masked examples of `documents` over `passes` passes, shuffled.
pub fn generate_examples(
    documents: &[Document],
    settings: &PipelineSettings,
    passes: usize,
    tokenizer: &BertTokenizer,
) -> Vec<PretrainingExample> {
    let special = tokenizer.special();
    let vocab = tokenizer.vocab_size() as u32;
    let mut examples: Vec<PretrainingExample> = (0..passes)
        .flat_map(|pass| (0..documents.len()).map(move |d| (pass, d)))
        .collect::<Vec<_>>()
        .into_par_iter()
        .flat_map_iter(|(pass, d)| {
            let mut rng = document_rng(settings.seed, pass, d);
            document_pairs(documents, d, &settings.pairs, &mut rng)
                .into_iter()
                .map(|pair| mask_pair(pair, &special, vocab, &settings.masking, &mut rng))
                .collect::<Vec<_>>()
        })
        .collect();
    examples.shuffle(&mut ChaCha8Rng::seed_from_u64(settings.seed));
    examples
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::masking::MaskingSettings;
    use crate::pairs::Overlength;
    use crate::tokenizer::WordPieceTraining;

    /// 30 documents of distinct made-up words, so a token tells which document it came from.
    fn corpus() -> Vec<String> {
        (0..30)
            .map(|d| {
                (0..8)
                    .map(|s| format!("Doc{d}word{s} alpha{d} beta{d} gamma{s}. "))
                    .collect()
            })
            .collect()
    }

    fn settings() -> PipelineSettings {
        PipelineSettings {
            pairs: PairSettings {
                max_seq_len: 32,
                short_seq_prob: 0.1,
                overlength: Overlength::Truncate,
            },
            masking: MaskingSettings::default(),
            dupe_factor: 2,
            val_fraction: 0.1,
            seed: 11,
        }
    }

    fn tokenizer(texts: &[String]) -> BertTokenizer {
        let training = WordPieceTraining {
            vocab_size: 2000,
            min_frequency: 1,
            lowercase: true,
        };
        BertTokenizer::train(texts, &training).unwrap()
    }

    #[test]
    fn examples_do_not_depend_on_the_thread_count() {
        let texts = corpus();
        let tok = tokenizer(&texts);
        let docs = tokenize_documents(&texts, &tok).unwrap();
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let serial = one_thread.install(|| generate_examples(&docs, &settings(), 2, &tok));
        let parallel = generate_examples(&docs, &settings(), 2, &tok);
        assert!(!serial.is_empty());
        assert_eq!(serial, parallel);
        // A second pass draws different pairs and masks.
        let once = generate_examples(&docs, &settings(), 1, &tok);
        assert!(serial.len() > once.len());
    }

    #[test]
    fn held_out_documents_never_reach_training_examples() {
        let texts = corpus();
        let tok = tokenizer(&texts);
        let docs = tokenize_documents(&texts, &tok).unwrap();
        let (train, val) = split_documents(docs.len(), 0.1, 11);
        assert_eq!((train.len(), val.len()), (27, 3));
        let pick = |idx: &[usize]| idx.iter().map(|&i| docs[i].clone()).collect::<Vec<_>>();
        let examples = generate_examples(&pick(&train), &settings(), 2, &tok);
        // Each document's own words: "alpha{d}" tokenizes to ids no other document has.
        for &d in &val {
            let marker = tok.encode_words(&format!("alpha{d}")).unwrap();
            let marker = *marker.last().unwrap();
            for e in &examples {
                assert!(!e.input_ids.contains(&marker) && !e.masked_labels.contains(&marker));
            }
        }
    }
}
