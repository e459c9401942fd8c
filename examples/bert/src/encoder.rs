//! `BertLayer`, `BertEncoder`, `BertPooler` and `BertModel` (embeddings + encoder + pooler), as
//! in transformers' `modeling_bert.py`.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::activation::tanh;
use lightning_toolkit::nn::{Intermediate, SelfOutput};

use crate::attention::{BertAttention, attention_mask_bias};
use crate::config::BertConfig;
use crate::embeddings::BertEmbeddings;

/// One post-LayerNorm transformer layer: attention block, then feed-forward block (HF `output`).
#[derive(Module, Debug)]
pub struct BertLayer {
    /// Attention and its output block.
    pub attention: BertAttention,
    /// Feed-forward expansion.
    pub intermediate: Intermediate,
    /// Feed-forward output block (HF `BertOutput`: intermediate → hidden, residual, LayerNorm).
    pub output: SelfOutput,
}

impl BertLayer {
    fn new(config: &BertConfig, device: &Device) -> Self {
        Self {
            attention: BertAttention::new(config, device),
            intermediate: Intermediate::new(config, device),
            output: SelfOutput::new(config, config.intermediate_size, device),
        }
    }

    fn forward(&self, hidden: Tensor<3>, mask_bias: Tensor<4>) -> Tensor<3> {
        let attended = self.attention.forward(hidden, mask_bias);
        let expanded = self.intermediate.forward(attended.clone());
        self.output.forward(expanded, attended)
    }
}

/// The layer stack.
#[derive(Module, Debug)]
pub struct BertEncoder {
    /// Transformer layers.
    pub layer: Vec<BertLayer>,
}

/// `BertPooler`: tanh(dense(first token's state)), the input of next-sentence prediction.
#[derive(Module, Debug)]
pub struct BertPooler {
    /// hidden → hidden.
    pub dense: Linear,
}

impl BertPooler {
    /// Pools batch × length × hidden states to batch × hidden.
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<2> {
        let [batch, _, width] = hidden.dims();
        let first = hidden.slice(s![.., 0..1, ..]).reshape([batch, width]);
        tanh(self.dense.forward(first))
    }
}

/// What the encoder computed.
#[derive(Debug, Clone)]
pub struct BertOutput {
    /// The last layer's states, batch × length × hidden.
    pub sequence_output: Tensor<3>,
    /// The pooled first token, batch × hidden (with a pooler).
    pub pooled_output: Option<Tensor<2>>,
}

/// `BertModel`: embeddings, encoder and (optionally) the pooler.
#[derive(Module, Debug)]
pub struct BertModel {
    /// Input embeddings.
    pub embeddings: BertEmbeddings,
    /// Transformer layers.
    pub encoder: BertEncoder,
    /// First-token pooler (`add_pooling_layer`).
    pub pooler: Option<BertPooler>,
}

impl BertModel {
    /// A fresh model of `config`'s sizes (burn's initialisation; see
    /// [`init_like_hf`](lightning_toolkit::nn::init_like_hf) for HF's).
    pub fn new(config: &BertConfig, with_pooler: bool, device: &Device) -> Self {
        Self {
            embeddings: BertEmbeddings::new(config, device),
            encoder: BertEncoder {
                layer: (0..config.num_hidden_layers)
                    .map(|_| BertLayer::new(config, device))
                    .collect(),
            },
            pooler: with_pooler.then(|| BertPooler {
                dense: LinearConfig::new(config.hidden_size, config.hidden_size).init(device),
            }),
        }
    }

    /// Encodes `input_ids` (batch × length); `attention_mask` is 1 for tokens and 0 for padding;
    /// `token_type_ids` 0 for segment A and 1 for B.
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Tensor<2, Int>,
        token_type_ids: Tensor<2, Int>,
    ) -> BertOutput {
        let mut hidden = self.embeddings.forward(input_ids, token_type_ids);
        let bias = attention_mask_bias(attention_mask, FloatDType::from(hidden.dtype()));
        for layer in &self.encoder.layer {
            hidden = layer.forward(hidden, bias.clone());
        }
        BertOutput {
            pooled_output: self.pooler.as_ref().map(|p| p.forward(hidden.clone())),
            sequence_output: hidden,
        }
    }
}
