//! Batches of bags of words as sparse documents × vocabulary matrices: a bag of words is ~95%
//! zeros, so the encoder's first layer and the reconstruction term touch only the stored entries
//! (see `sparse`).

use std::sync::Arc;

use anyhow::Result;
use burn::prelude::*;
use burn_lightning::data::Batch;

use crate::corpus::{Document, HeldOut};
use crate::sparse::{SparseMatrix, SparsePattern};

/// What one step sees: the bags the encoder reads and the counts the decoder must explain. For
/// training both are the whole document; for held-out documents the encoder reads the first
/// half and the second half is scored (document completion).
#[derive(Debug, Clone)]
pub struct BowBatch {
    /// Documents in the batch.
    pub num_docs: usize,
    /// Encoder input, documents × vocabulary: counts, or counts / document length (`bow_norm`).
    pub input: SparseMatrix,
    /// Raw counts to reconstruct, documents × vocabulary.
    pub target: SparseMatrix,
    /// Tokens per document in `target`.
    pub target_lengths: Tensor<1>,
}

impl Batch for BowBatch {
    fn to_device(self, device: &Device) -> Self {
        Self {
            num_docs: self.num_docs,
            input: self.input.to_device(device),
            target: self.target.to_device(device),
            target_lengths: self.target_lengths.to_device(device),
        }
    }
    fn batch_size(&self) -> usize {
        self.num_docs
    }
    fn cast_float(self, dtype: burn::tensor::FloatDType) -> Self {
        let cast = |m: SparseMatrix| {
            let values = m.values.clone().cast(dtype);
            m.with_values(values)
        };
        Self {
            num_docs: self.num_docs,
            input: cast(self.input),
            target: cast(self.target),
            target_lengths: self.target_lengths.cast(dtype),
        }
    }
}

/// A document as a dataloader item: what the encoder reads and what is scored.
#[derive(Debug, Clone)]
pub struct BowItem {
    /// Encoder input.
    pub observed: Arc<Document>,
    /// Scored counts.
    pub scored: Arc<Document>,
}

impl BowItem {
    /// A training document: read and scored whole.
    pub fn whole(doc: Arc<Document>) -> Self {
        Self {
            observed: doc.clone(),
            scored: doc,
        }
    }
    /// A held-out document: read the first half, score the second.
    pub fn completion(held: &HeldOut) -> Self {
        Self {
            observed: held.observed.clone(),
            scored: held.hidden.clone(),
        }
    }
}

/// Collates items into a batch on the host device; `bow_norm` divides the encoder input by each
/// document's length. Word ids must be below `vocab_size`.
pub fn collate(items: &[BowItem], vocab_size: usize, bow_norm: bool) -> Result<BowBatch> {
    let device = Device::flex();
    let matrix = |docs: &[&Document], values: Vec<f32>| -> Result<SparseMatrix> {
        let pattern = SparsePattern::from_rows(vocab_size, docs.iter().map(|d| &d.words[..]))?;
        let values = Tensor::<1>::from_floats(values.as_slice(), &device);
        Ok(SparseMatrix {
            pattern: Arc::new(pattern),
            values,
        })
    };
    let observed: Vec<&Document> = items.iter().map(|i| &*i.observed).collect();
    let scored: Vec<&Document> = items.iter().map(|i| &*i.scored).collect();
    let input_values = observed
        .iter()
        .flat_map(|d| {
            let scale = if bow_norm {
                1.0 / d.len_tokens().max(f32::MIN_POSITIVE)
            } else {
                1.0
            };
            d.counts.iter().map(move |c| c * scale)
        })
        .collect();
    let target_values = scored
        .iter()
        .flat_map(|d| d.counts.iter().copied())
        .collect();
    let lengths: Vec<f32> = scored.iter().map(|d| d.len_tokens()).collect();
    Ok(BowBatch {
        num_docs: items.len(),
        input: matrix(&observed, input_values)?,
        target: matrix(&scored, target_values)?,
        target_lengths: Tensor::from_floats(lengths.as_slice(), &device),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(deprecated)]
    fn collate_stores_each_documents_words_and_normalizes_the_input_only() {
        let a = Arc::new(Document::from_pairs(vec![(0, 1.0), (3, 3.0)]));
        let b = Arc::new(Document::from_pairs(vec![(2, 2.0)]));
        let half = HeldOut {
            observed: Arc::new(Document::from_pairs(vec![(7, 1.0)])),
            hidden: Arc::new(Document::from_pairs(vec![(3, 2.0)])),
        };
        let items = [
            BowItem::whole(a),
            BowItem::whole(b),
            BowItem::completion(&half),
        ];
        let batch = collate(&items, 8, true).unwrap();
        assert_eq!(batch.num_docs, 3);
        let floats = |t: Tensor<1>| t.into_data().to_vec::<f32>().unwrap();
        assert_eq!(batch.input.pattern.entry_rows(), &[0, 0, 1, 2]);
        assert_eq!(batch.input.pattern.entry_columns(), &[0, 3, 2, 7]);
        assert_eq!(floats(batch.input.values), vec![0.25, 0.75, 1.0, 1.0]);
        assert_eq!(batch.target.pattern.entry_rows(), &[0, 0, 1, 2]);
        assert_eq!(batch.target.pattern.entry_columns(), &[0, 3, 2, 3]);
        assert_eq!(floats(batch.target.values), vec![1.0, 3.0, 2.0, 2.0]);
        assert_eq!(floats(batch.target_lengths), vec![4.0, 2.0, 2.0]);
        let err = collate(&items, 7, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sparse row 2 has column 7, expected below 7"
        );
    }
}
