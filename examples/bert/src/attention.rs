//! BERT's multi-head self-attention (Vaswani et al. 2017; transformers' `BertSelfAttention`,
//! `BertAttention`; its output block is the toolkit's `SelfOutput`).

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use lightning_toolkit::nn::{SelfOutput, dropout, softmax};

use crate::config::BertConfig;

/// `BertSelfAttention`: scaled dot-product attention over `heads` heads.
#[derive(Module, Debug)]
pub struct BertSelfAttention {
    /// Query projection.
    pub query: Linear,
    /// Key projection.
    pub key: Linear,
    /// Value projection.
    pub value: Linear,
    /// Dropout on attention probabilities.
    pub dropout: Dropout,
    #[module(skip)]
    heads: usize,
}

/// [.., len, heads · d] → [batch, heads, len, d].
fn split_heads(x: Tensor<3>, heads: usize) -> Tensor<4> {
    let [batch, len, width] = x.dims();
    x.reshape([batch, len, heads, width / heads])
        .swap_dims(1, 2)
}

impl BertSelfAttention {
    fn new(config: &BertConfig, device: &Device) -> Self {
        let h = config.hidden_size;
        Self {
            query: LinearConfig::new(h, h).init(device),
            key: LinearConfig::new(h, h).init(device),
            value: LinearConfig::new(h, h).init(device),
            dropout: DropoutConfig::new(config.attention_probs_dropout_prob).init(),
            heads: config.num_attention_heads,
        }
    }

    /// `hidden` batch × length × hidden; `mask_bias` batch × 1 × 1 × length, 0 for tokens and
    /// the dtype's most negative value for padding (HF's extended attention mask).
    fn forward(&self, hidden: Tensor<3>, mask_bias: Tensor<4>) -> Tensor<3> {
        let [batch, len, width] = hidden.dims();
        let head_size = width / self.heads;
        // Scaling the query once costs length·d instead of length² per head.
        let query = self.query.forward(hidden.clone()) / (head_size as f64).sqrt();
        let query = split_heads(query, self.heads);
        let key = split_heads(self.key.forward(hidden.clone()), self.heads);
        let value = split_heads(self.value.forward(hidden), self.heads);
        let scores = query.matmul(key.transpose()) + mask_bias;
        let probs = dropout(&self.dropout, softmax(scores, 3));
        probs
            .matmul(value)
            .swap_dims(1, 2)
            .reshape([batch, len, width])
    }
}

/// `BertAttention`: self-attention and its output block.
#[derive(Module, Debug)]
pub struct BertAttention {
    /// HF `self`.
    pub self_attention: BertSelfAttention,
    /// HF `output`.
    pub output: SelfOutput,
}

impl BertAttention {
    /// Fresh attention of `config`'s sizes.
    pub fn new(config: &BertConfig, device: &Device) -> Self {
        Self {
            self_attention: BertSelfAttention::new(config, device),
            output: SelfOutput::new(config, config.hidden_size, device),
        }
    }

    /// Attends and adds the residual; see [`BertSelfAttention`] for `mask_bias`.
    pub fn forward(&self, hidden: Tensor<3>, mask_bias: Tensor<4>) -> Tensor<3> {
        let attended = self.self_attention.forward(hidden.clone(), mask_bias);
        self.output.forward(attended, hidden)
    }
}

/// HF's extended attention mask: batch × 1 × 1 × length, 0 where `attention_mask` is 1 and the
/// float type's most negative value where it is 0, in `dtype`.
pub fn attention_mask_bias(
    attention_mask: Tensor<2, Int>,
    dtype: burn::tensor::FloatDType,
) -> Tensor<4> {
    let lowest = match dtype {
        burn::tensor::FloatDType::F16 => -65504.0,
        burn::tensor::FloatDType::BF16 => -3.38e38,
        _ => f32::MIN,
    };
    let padding = attention_mask.equal_elem(0);
    let [batch, len] = padding.dims();
    Tensor::<2>::zeros([batch, len], &padding.device())
        .cast(dtype)
        .mask_fill(padding, lowest)
        .reshape([batch, 1, 1, len])
}
