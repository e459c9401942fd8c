//! `fill-mask`: the MLM head's most likely tokens for each `[MASK]` of a sentence.

use anyhow::{Result, bail};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use crate::heads::BertForPreTraining;
use crate::tokenizer::BertTokenizer;

/// The `top_k` tokens (with probabilities) predicted at each `[MASK]` of `text`, in order.
pub fn fill_mask(
    model: &BertForPreTraining,
    tokenizer: &BertTokenizer,
    text: &str,
    top_k: usize,
) -> Result<Vec<Vec<(String, f32)>>> {
    let ids = tokenizer.encode_sentence(text)?;
    let mask = tokenizer.special().mask;
    let positions: Vec<i64> = (0..ids.len())
        .filter(|&i| ids[i] == mask)
        .map(|i| i as i64)
        .collect();
    if positions.is_empty() {
        bail!("{text:?} has no [MASK] token to fill");
    }
    let device = model.cls.seq_relationship.weight.val().device();
    let len = ids.len();
    let ids: Vec<i64> = ids.into_iter().map(i64::from).collect();
    let input = Tensor::<1, Int>::from_ints(ids.as_slice(), &device).reshape([1, len]);
    let out = model.forward(
        input.clone(),
        input.clone().ones_like(),
        input.zeros_like(),
        Some(Tensor::from_ints(positions.as_slice(), &device)),
    );
    let probs = softmax(out.prediction_logits, 1);
    let vocab = probs.dims()[1];
    let values: Vec<f32> = probs.into_data().convert::<f32>().try_to_vec()?;
    Ok(values
        .chunks(vocab)
        .map(|row| {
            let mut order: Vec<usize> = (0..vocab).collect();
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            order
                .into_iter()
                .take(top_k)
                .map(|id| {
                    let token = tokenizer
                        .id_to_token(id as u32)
                        .unwrap_or_else(|| format!("[{id}]"));
                    (token, row[id])
                })
                .collect()
        })
        .collect())
}
