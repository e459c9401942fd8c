//! `DebertaV2Encoder` (post-LayerNorm transformer layers sharing one relative-position table)
//! and `DebertaV2Model` (embeddings + encoder), as in transformers' `modeling_deberta_v2.py`.

use std::sync::Arc;

use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig};
use burn::prelude::*;
use lightning_toolkit::nn::{Intermediate, SelfOutput};

use crate::attention::{AttentionContext, DebertaV2Attention, RelativeRows};
use crate::config::DebertaV2Config;
use crate::embeddings::DebertaV2Embeddings;
use crate::relative_gather::RelativeIndex;
use crate::relative_position::{embedding_rows, relative_positions};

/// One transformer layer: attention block, then feed-forward block (HF `output`: intermediate →
/// hidden, residual, LayerNorm).
#[derive(Module, Debug)]
pub struct DebertaV2Layer {
    /// Attention and its output block.
    pub attention: DebertaV2Attention,
    /// Feed-forward expansion.
    pub intermediate: Intermediate,
    /// Feed-forward output block.
    pub output: SelfOutput,
}

impl DebertaV2Layer {
    fn new(config: &DebertaV2Config, device: &Device) -> Self {
        Self {
            attention: DebertaV2Attention::new(config, device),
            intermediate: Intermediate::new(config, device),
            output: SelfOutput::new(config, config.intermediate_size, device),
        }
    }

    fn forward(&self, hidden: Tensor<3>, cx: &AttentionContext) -> Tensor<3> {
        let attended = self.attention.forward(hidden, cx);
        let expanded = self.intermediate.forward(attended.clone());
        self.output.forward(expanded, attended)
    }
}

/// The layer stack and the relative-position embeddings every layer reads.
#[derive(Module, Debug)]
pub struct DebertaV2Encoder {
    /// Transformer layers.
    pub layer: Vec<DebertaV2Layer>,
    /// Relative-position embeddings, 2·span × hidden (with `relative_attention`).
    pub rel_embeddings: Option<Embedding>,
    /// HF `LayerNorm` over the relative embeddings (`norm_rel_ebd: layer_norm`).
    pub layer_norm: Option<LayerNorm>,
    #[module(skip)]
    position_buckets: i64,
    #[module(skip)]
    relative_span: usize,
    #[module(skip)]
    embedding_span: usize,
}

impl DebertaV2Encoder {
    fn new(config: &DebertaV2Config, device: &Device) -> Self {
        let relative = config.relative_attention;
        let span = config.position_embedding_span();
        Self {
            layer: (0..config.num_hidden_layers)
                .map(|_| DebertaV2Layer::new(config, device))
                .collect(),
            rel_embeddings: relative
                .then(|| EmbeddingConfig::new(2 * span, config.hidden_size).init(device)),
            layer_norm: (relative && config.normalizes_relative_embeddings()).then(|| {
                LayerNormConfig::new(config.hidden_size)
                    .with_epsilon(config.layer_norm_eps)
                    .init(device)
            }),
            position_buckets: config.position_buckets,
            relative_span: config.relative_span(),
            embedding_span: span,
        }
    }

    /// The relative-position table, normalised when configured (`get_rel_embedding`).
    fn relative_table(&self) -> Option<Tensor<2>> {
        let table = self.rel_embeddings.as_ref()?.weight.val();
        Some(match &self.layer_norm {
            Some(norm) => norm.forward(table),
            None => table,
        })
    }

    /// Which table rows each (query, key) pair reads, for sequences of `len`.
    fn relative_rows(&self, len: usize) -> RelativeRows {
        let relative = relative_positions(len, self.position_buckets, self.relative_span as i64);
        let width = 2 * self.embedding_span;
        let rows = |p2c: bool| embedding_rows(&relative, self.embedding_span, p2c);
        RelativeRows {
            c2p: Arc::new(RelativeIndex::content_to_position(len, width, &rows(false))),
            p2c: Arc::new(RelativeIndex::position_to_content(len, width, &rows(true))),
        }
    }

    /// Runs the layers over `hidden`; `mask` is batch × length (1 for tokens). Returns the input
    /// and every layer's output.
    pub fn forward(&self, hidden: Tensor<3>, mask: Tensor<2>) -> Vec<Tensor<3>> {
        let [batch, len, _] = hidden.dims();
        // get_attention_mask: a pair may attend when both are tokens.
        let tokens = mask.greater_elem(0.5);
        let pair = tokens
            .clone()
            .unsqueeze_dim::<3>(2)
            .expand([batch, len, len])
            .bool_and(tokens.unsqueeze_dim::<3>(1).expand([batch, len, len]))
            .unsqueeze_dim::<4>(1);
        let cx = AttentionContext {
            mask: pair,
            relative: self
                .relative_table()
                .map(|table| (table, self.relative_rows(len))),
        };
        let mut states = vec![hidden];
        for layer in &self.layer {
            let next = layer.forward(states.last().expect("the input").clone(), &cx);
            states.push(next);
        }
        states
    }
}

/// What the encoder gives for a batch.
#[derive(Debug, Clone)]
pub struct EncoderOutput {
    /// The last layer's hidden states, batch × length × hidden.
    pub last_hidden_state: Tensor<3>,
    /// The embedding output and each layer's output (`num_hidden_layers + 1` tensors).
    pub hidden_states: Vec<Tensor<3>>,
}

/// `DebertaV2Model`: embeddings and encoder (no pooler), HF names throughout.
#[derive(Module, Debug)]
pub struct DebertaV2Model {
    /// Token (and optional position/type) embeddings.
    pub embeddings: DebertaV2Embeddings,
    /// The transformer layers.
    pub encoder: DebertaV2Encoder,
}

impl DebertaV2Model {
    /// A randomly initialised model for `config`.
    pub fn new(config: &DebertaV2Config, device: &Device) -> Self {
        Self {
            embeddings: DebertaV2Embeddings::new(config, device),
            encoder: DebertaV2Encoder::new(config, device),
        }
    }

    /// Encodes `input_ids` (batch × length); `attention_mask` is 1 for tokens and 0 for padding.
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Tensor<2, Int>,
        token_type_ids: Option<Tensor<2, Int>>,
    ) -> EncoderOutput {
        let mask = attention_mask.float();
        let embedded = self
            .embeddings
            .forward(input_ids, token_type_ids, mask.clone());
        let hidden_states = self.encoder.forward(embedded, mask);
        EncoderOutput {
            last_hidden_state: hidden_states.last().expect("the input").clone(),
            hidden_states,
        }
    }
}
