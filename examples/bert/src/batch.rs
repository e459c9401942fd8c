//! Pretraining examples padded into batches: ids, attention mask and token types (batch ×
//! longest example), the masked positions as indices into the flattened tokens with their
//! labels, and the NSP labels.

use burn::prelude::*;
use burn_lightning::data::Batch;

use crate::masking::PretrainingExample;

/// A padded batch of pretraining examples.
#[derive(Debug, Clone)]
pub struct PretrainingBatch {
    /// batch × longest, padded with `[PAD]`.
    pub input_ids: Tensor<2, Int>,
    /// 1 for tokens, 0 for padding.
    pub attention_mask: Tensor<2, Int>,
    /// 0 for `[CLS] A [SEP]`, 1 for `B [SEP]` (and padding).
    pub token_type_ids: Tensor<2, Int>,
    /// Each prediction's index into the flattened batch × longest tokens.
    pub masked_positions: Tensor<1, Int>,
    /// The original id at each of them.
    pub masked_labels: Tensor<1, Int>,
    /// Per example: 0 when B follows A, 1 when B is random.
    pub nsp_labels: Tensor<1, Int>,
    /// Examples in the batch.
    pub size: usize,
    /// Tokens in the batch, padding excluded.
    pub tokens: usize,
}

/// Pads `examples` into one batch on the host.
pub fn collate(examples: &[PretrainingExample], pad: u32) -> PretrainingBatch {
    let device = Device::flex();
    let batch = examples.len();
    let longest = examples
        .iter()
        .map(|e| e.input_ids.len())
        .max()
        .unwrap_or(1);
    let mut ids = vec![pad as i64; batch * longest];
    let mut mask = vec![0i64; batch * longest];
    let mut types = vec![0i64; batch * longest];
    let (mut positions, mut labels) = (Vec::new(), Vec::new());
    for (row, e) in examples.iter().enumerate() {
        let base = row * longest;
        for (i, &id) in e.input_ids.iter().enumerate() {
            ids[base + i] = id as i64;
            mask[base + i] = 1;
            types[base + i] = (i >= e.segment_a_len as usize) as i64;
        }
        positions.extend(
            e.masked_positions
                .iter()
                .map(|&p| (base + p as usize) as i64),
        );
        labels.extend(e.masked_labels.iter().map(|&t| t as i64));
    }
    let grid =
        |v: Vec<i64>| Tensor::<1, Int>::from_ints(v.as_slice(), &device).reshape([batch, longest]);
    let nsp: Vec<i64> = examples.iter().map(|e| e.is_random_next as i64).collect();
    PretrainingBatch {
        input_ids: grid(ids),
        attention_mask: grid(mask),
        token_type_ids: grid(types),
        masked_positions: Tensor::from_ints(positions.as_slice(), &device),
        masked_labels: Tensor::from_ints(labels.as_slice(), &device),
        nsp_labels: Tensor::from_ints(nsp.as_slice(), &device),
        size: batch,
        tokens: examples.iter().map(|e| e.input_ids.len()).sum(),
    }
}

impl Batch for PretrainingBatch {
    fn to_device(self, device: &Device) -> Self {
        Self {
            input_ids: self.input_ids.to_device(device),
            attention_mask: self.attention_mask.to_device(device),
            token_type_ids: self.token_type_ids.to_device(device),
            masked_positions: self.masked_positions.to_device(device),
            masked_labels: self.masked_labels.to_device(device),
            nsp_labels: self.nsp_labels.to_device(device),
            size: self.size,
            tokens: self.tokens,
        }
    }
    fn batch_size(&self) -> usize {
        self.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_are_padded_typed_and_positions_flattened() {
        let a = PretrainingExample {
            input_ids: vec![2, 10, 4, 3, 20, 3],
            segment_a_len: 4,
            masked_positions: vec![2],
            masked_labels: vec![11],
            is_random_next: false,
        };
        let b = PretrainingExample {
            input_ids: vec![2, 30, 3, 40, 3],
            segment_a_len: 3,
            masked_positions: vec![1, 3],
            masked_labels: vec![30, 41],
            is_random_next: true,
        };
        let batch = collate(&[a, b], 0);
        let ints = |t: Tensor<2, Int>| -> Vec<i64> {
            t.into_data().convert::<i64>().try_to_vec().unwrap()
        };
        assert_eq!(
            ints(batch.input_ids),
            [2, 10, 4, 3, 20, 3, 2, 30, 3, 40, 3, 0]
        );
        assert_eq!(
            ints(batch.attention_mask),
            [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]
        );
        assert_eq!(
            ints(batch.token_type_ids),
            [0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0]
        );
        let flat = |t: Tensor<1, Int>| -> Vec<i64> {
            t.into_data().convert::<i64>().try_to_vec().unwrap()
        };
        assert_eq!(flat(batch.masked_positions), [2, 7, 9]);
        assert_eq!(flat(batch.masked_labels), [11, 30, 41]);
        assert_eq!(flat(batch.nsp_labels), [0, 1]);
        assert_eq!((batch.size, batch.tokens), (2, 11));
    }
}
