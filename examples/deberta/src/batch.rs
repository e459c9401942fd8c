//! Tokenized examples and the padded batches built from them.

use std::sync::Arc;

use burn::prelude::*;
use burn_lightning::data::Batch;

use crate::tokenizer::{DebertaTokenizer, EncodedBatch};

/// One tokenized text: its row in the table, ids (`[CLS] … [SEP]`) and class.
#[derive(Debug, Clone)]
pub struct Example {
    /// Row of the text in the loaded table (out-of-fold predictions are written by row).
    pub row: usize,
    /// Token ids, already cut to `max_len`.
    pub ids: Arc<Vec<u32>>,
    /// Class (0/1 for binary).
    pub label: usize,
}

/// A batch padded to its longest text.
#[derive(Debug, Clone)]
pub struct TextBatch {
    /// Ids, attention mask and token types, batch × longest.
    pub encoded: EncodedBatch,
    /// Class of each text.
    pub labels: Tensor<1, Int>,
    /// Row of each text in the table.
    pub rows: Vec<usize>,
}

/// Pads `examples` into one batch on the host.
pub fn collate(examples: &[Example], tokenizer: &DebertaTokenizer) -> TextBatch {
    let device = Device::flex();
    let rows: Vec<&[u32]> = examples.iter().map(|e| e.ids.as_slice()).collect();
    let labels: Vec<i64> = examples.iter().map(|e| e.label as i64).collect();
    TextBatch {
        encoded: tokenizer.pad(&rows, &device),
        labels: Tensor::from_ints(labels.as_slice(), &device),
        rows: examples.iter().map(|e| e.row).collect(),
    }
}

impl Batch for TextBatch {
    fn to_device(self, device: &Device) -> Self {
        Self {
            encoded: EncodedBatch {
                input_ids: self.encoded.input_ids.to_device(device),
                attention_mask: self.encoded.attention_mask.to_device(device),
                token_type_ids: self.encoded.token_type_ids.to_device(device),
            },
            labels: self.labels.to_device(device),
            rows: self.rows,
        }
    }
    fn batch_size(&self) -> usize {
        self.rows.len()
    }
}
