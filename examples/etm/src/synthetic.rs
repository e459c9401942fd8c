//! Corpora drawn from LDA's generative process with known topics, to check that training
//! recovers them (and to benchmark without a download).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::corpus::{Corpus, Document};

/// The shape of a synthetic corpus.
#[derive(Debug, Clone)]
pub struct LdaSpec {
    /// Number of topics K.
    pub num_topics: usize,
    /// Vocabulary size V (at least `num_topics * core_words`).
    pub vocab_size: usize,
    /// Words that carry each topic: topic k puts `core_mass` evenly on its own block of words.
    pub core_words: usize,
    /// Probability mass of a topic on its core words; the rest is spread over the vocabulary.
    pub core_mass: f64,
    /// Number of documents.
    pub num_documents: usize,
    /// Tokens per document: uniform in this range.
    pub doc_length: std::ops::Range<usize>,
    /// Dirichlet concentration of each document's topic proportions.
    pub alpha: f64,
}

impl Default for LdaSpec {
    fn default() -> Self {
        Self {
            num_topics: 5,
            vocab_size: 100,
            core_words: 10,
            core_mass: 0.9,
            num_documents: 2000,
            doc_length: 40..120,
            alpha: 0.2,
        }
    }
}

/// A corpus drawn from `spec` and the true topics (each a distribution over the vocabulary).
pub fn lda_corpus(spec: &LdaSpec, seed: u64) -> (Corpus, Vec<Vec<f64>>) {
    assert!(spec.vocab_size >= spec.num_topics * spec.core_words);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let background = (1.0 - spec.core_mass) / spec.vocab_size as f64;
    let topics: Vec<Vec<f64>> = (0..spec.num_topics)
        .map(|k| {
            (0..spec.vocab_size)
                .map(|w| {
                    let core = w / spec.core_words == k;
                    background
                        + if core {
                            spec.core_mass / spec.core_words as f64
                        } else {
                            0.0
                        }
                })
                .collect()
        })
        .collect();
    let documents = (0..spec.num_documents)
        .map(|_| {
            let theta = dirichlet(&mut rng, spec.alpha, spec.num_topics);
            let n = rng.random_range(spec.doc_length.clone());
            let tokens: Vec<u32> = (0..n)
                .map(|_| {
                    let z = categorical(&mut rng, &theta);
                    categorical(&mut rng, &topics[z]) as u32
                })
                .collect();
            Document::from_tokens(&tokens)
        })
        .collect();
    let vocabulary = (0..spec.vocab_size).map(|w| format!("w{w:03}")).collect();
    (
        Corpus {
            vocabulary,
            documents,
        },
        topics,
    )
}

fn categorical(rng: &mut ChaCha8Rng, p: &[f64]) -> usize {
    let total: f64 = p.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, &x) in p.iter().enumerate() {
        if u < x {
            return i;
        }
        u -= x;
    }
    p.len() - 1
}

/// A standard normal draw (Box–Muller).
pub(crate) fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Gamma(shape, 1) by Marsaglia & Tsang; shapes below 1 use the `U^(1/shape)` boost.
fn gamma(rng: &mut ChaCha8Rng, shape: f64) -> f64 {
    if shape < 1.0 {
        let u = rng.random::<f64>().max(f64::MIN_POSITIVE);
        return gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = standard_normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = rng.random::<f64>();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

fn dirichlet(rng: &mut ChaCha8Rng, alpha: f64, k: usize) -> Vec<f64> {
    let g: Vec<f64> = (0..k).map(|_| gamma(rng, alpha)).collect();
    let s: f64 = g.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    g.into_iter().map(|x| x / s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_has_the_right_mean() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for shape in [0.2, 1.0, 3.5] {
            let n = 20_000;
            let mean = (0..n).map(|_| gamma(&mut rng, shape)).sum::<f64>() / n as f64;
            assert!(
                (mean - shape).abs() < 0.05 * shape.max(1.0),
                "shape {shape}: mean {mean}"
            );
        }
    }

    #[test]
    fn corpus_follows_the_spec() {
        let spec = LdaSpec {
            num_documents: 50,
            ..Default::default()
        };
        let (corpus, topics) = lda_corpus(&spec, 3);
        assert_eq!(corpus.documents.len(), 50);
        assert_eq!(corpus.vocabulary.len(), 100);
        assert!(
            topics
                .iter()
                .all(|t| (t.iter().sum::<f64>() - 1.0).abs() < 1e-9)
        );
        let lengths: Vec<f32> = corpus.documents.iter().map(|d| d.len_tokens()).collect();
        assert!(lengths.iter().all(|&n| (40.0..120.0).contains(&n)));
        assert_eq!(lda_corpus(&spec, 3).0.documents, corpus.documents);
    }
}
