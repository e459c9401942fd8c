//! The paper's measures of a topic model, as pure functions: document-completion perplexity,
//! NPMI topic coherence, topic diversity and topic quality.

use crate::corpus::Document;

/// Perplexity by document completion: exp of the mean over documents of each document's
/// negative log-likelihood per token of its held-out half (the paper code's `get_completion_ppl`,
/// averaged over documents rather than over batches of documents).
pub fn completion_perplexity(doc_nll: &[f64], doc_tokens: &[f64]) -> f64 {
    assert_eq!(doc_nll.len(), doc_tokens.len());
    if doc_nll.is_empty() {
        return f64::NAN;
    }
    let mean = doc_nll
        .iter()
        .zip(doc_tokens)
        .map(|(nll, n)| nll / n)
        .sum::<f64>()
        / doc_nll.len() as f64;
    mean.exp()
}

/// Indices of the `n` largest values, largest first (ties: lower index first).
pub fn top_words(distribution: &[f32], n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..distribution.len()).collect();
    order.sort_by(|&a, &b| distribution[b].total_cmp(&distribution[a]).then(a.cmp(&b)));
    order.truncate(n);
    order
}

/// Which documents each word occurs in, for co-occurrence counts.
#[derive(Debug, Clone, Default)]
pub struct DocumentFrequencies {
    /// Sorted ids of the documents holding each word.
    postings: Vec<Vec<u32>>,
    num_documents: usize,
}

impl DocumentFrequencies {
    /// Indexes `documents` over a vocabulary of `vocab_size` words.
    pub fn new<'a>(documents: impl IntoIterator<Item = &'a Document>, vocab_size: usize) -> Self {
        let mut postings = vec![Vec::new(); vocab_size];
        let mut num_documents = 0;
        for (d, doc) in documents.into_iter().enumerate() {
            for &w in &doc.words {
                postings[w as usize].push(d as u32);
            }
            num_documents += 1;
        }
        Self {
            postings,
            num_documents,
        }
    }

    /// Documents holding word `w`.
    pub fn count(&self, w: usize) -> usize {
        self.postings[w].len()
    }

    /// Documents holding both `a` and `b`.
    pub fn co_count(&self, a: usize, b: usize) -> usize {
        let (x, y) = (&self.postings[a], &self.postings[b]);
        let (mut i, mut j, mut n) = (0, 0, 0);
        while i < x.len() && j < y.len() {
            match x[i].cmp(&y[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    n += 1;
                    i += 1;
                    j += 1;
                }
            }
        }
        n
    }

    /// NPMI of two words: log(P(a,b) / (P(a)P(b))) / −log P(a,b), with −1 when they never meet
    /// (the paper code's convention) and 1 when they always do.
    pub fn npmi(&self, a: usize, b: usize) -> f64 {
        let n = self.num_documents as f64;
        let (da, db, dab) = (
            self.count(a) as f64,
            self.count(b) as f64,
            self.co_count(a, b) as f64,
        );
        if dab == 0.0 {
            return -1.0;
        }
        let joint = (dab / n).ln();
        if joint == 0.0 {
            return 1.0;
        }
        ((dab / n) / ((da / n) * (db / n))).ln() / -joint
    }
}

/// Topic coherence: the mean over topics of the mean NPMI over all pairs of the topic's top
/// words (each topic given as its top words). The paper code scores 11 words and divides by the
/// number of topics twice; this is the plain average the paper describes.
pub fn npmi_coherence(topics: &[Vec<usize>], index: &DocumentFrequencies) -> f64 {
    let per_topic: Vec<f64> = topics
        .iter()
        .filter(|t| t.len() >= 2)
        .map(|top| {
            let mut sum = 0.0;
            let mut pairs = 0;
            for i in 0..top.len() {
                for j in i + 1..top.len() {
                    sum += index.npmi(top[i], top[j]);
                    pairs += 1;
                }
            }
            sum / pairs as f64
        })
        .collect();
    per_topic.iter().sum::<f64>() / per_topic.len().max(1) as f64
}

/// Topic diversity: distinct words among all topics' top words, over their total number.
pub fn topic_diversity(topics: &[Vec<usize>]) -> f64 {
    let total: usize = topics.iter().map(Vec::len).sum();
    if total == 0 {
        return 0.0;
    }
    let mut all: Vec<usize> = topics.iter().flatten().copied().collect();
    all.sort_unstable();
    all.dedup();
    all.len() as f64 / total as f64
}

/// Topic quality, the paper's summary: coherence × diversity.
pub fn topic_quality(coherence: f64, diversity: f64) -> f64 {
    coherence * diversity
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(words: &[u32]) -> Document {
        Document::from_tokens(words)
    }

    #[test]
    fn perplexity_by_hand() {
        // Doc 1: 4 tokens, NLL 4·ln 2 → ln 2 per token; doc 2: 2 tokens, NLL 2·ln 4 → ln 4.
        let p = completion_perplexity(&[4.0 * 2f64.ln(), 2.0 * 4f64.ln()], &[4.0, 2.0]);
        // exp((ln 2 + ln 4) / 2) = sqrt(8)
        assert!((p - 8f64.sqrt()).abs() < 1e-12, "{p}");
        // A uniform model over V words has perplexity V.
        let v = 50f64;
        assert!((completion_perplexity(&[3.0 * v.ln()], &[3.0]) - v).abs() < 1e-9);
    }

    #[test]
    fn top_words_largest_first() {
        assert_eq!(top_words(&[0.1, 0.5, 0.2, 0.5, 0.0], 3), vec![1, 3, 2]);
    }

    #[test]
    fn npmi_by_hand() {
        // 4 documents: word 0 in {0,1}, word 1 in {0,1}, word 2 in {2}, word 3 in {0,2}.
        let docs = [doc(&[0, 1, 3]), doc(&[0, 1]), doc(&[2, 3]), doc(&[4])];
        let index = DocumentFrequencies::new(docs.iter(), 5);
        assert_eq!(index.count(3), 2);
        assert_eq!(index.co_count(0, 3), 1);
        // Words 0 and 1 always co-occur: P(a,b) = P(a) = P(b) = 1/2 → NPMI = 1.
        assert!((index.npmi(0, 1) - 1.0).abs() < 1e-12);
        // Never together: −1.
        assert_eq!(index.npmi(0, 2), -1.0);
        // Words 0 and 3: P = 1/2, 1/2, joint 1/4 → independent → 0.
        assert!(index.npmi(0, 3).abs() < 1e-12);
        // Coherence of topic {0, 1, 3}: (1 + 0 + NPMI(1,3)=0) / 3.
        let c = npmi_coherence(&[vec![0, 1, 3]], &index);
        assert!((c - 1.0 / 3.0).abs() < 1e-12, "{c}");
        // Two topics average.
        let c2 = npmi_coherence(&[vec![0, 1], vec![0, 2]], &index);
        assert!(c2.abs() < 1e-12, "{c2}");
    }

    #[test]
    fn diversity_and_quality_by_hand() {
        assert_eq!(topic_diversity(&[vec![0, 1, 2], vec![3, 4, 5]]), 1.0);
        assert_eq!(topic_diversity(&[vec![0, 1, 2], vec![0, 1, 5]]), 4.0 / 6.0);
        assert_eq!(topic_quality(0.2, 0.5), 0.1);
    }
}
