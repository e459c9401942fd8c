//! `BertEmbeddings`: word + absolute position + token type embeddings, LayerNorm, dropout.

use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig};
use burn::prelude::*;
use lightning_toolkit::nn::{dropout, layer_norm};

use crate::config::BertConfig;

/// The input embeddings, with HF's names.
#[derive(Module, Debug)]
pub struct BertEmbeddings {
    /// Token embeddings, vocab × hidden (also the MLM decoder's weight, tied).
    pub word_embeddings: Embedding,
    /// Absolute positions, max_position_embeddings × hidden.
    pub position_embeddings: Embedding,
    /// Segment A/B, type_vocab_size × hidden.
    pub token_type_embeddings: Embedding,
    /// HF `LayerNorm`.
    pub layer_norm: LayerNorm,
    /// Dropout after the norm.
    pub dropout: Dropout,
    #[module(skip)]
    layer_norm_eps: f64,
}

impl BertEmbeddings {
    /// Fresh embeddings of `config`'s sizes.
    pub fn new(config: &BertConfig, device: &Device) -> Self {
        let h = config.hidden_size;
        Self {
            word_embeddings: EmbeddingConfig::new(config.vocab_size, h).init(device),
            position_embeddings: EmbeddingConfig::new(config.max_position_embeddings, h)
                .init(device),
            token_type_embeddings: EmbeddingConfig::new(config.type_vocab_size, h).init(device),
            layer_norm: LayerNormConfig::new(h)
                .with_epsilon(config.layer_norm_eps)
                .init(device),
            dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
            layer_norm_eps: config.layer_norm_eps,
        }
    }

    /// Embeds `input_ids` and `token_type_ids` (batch × length); positions count from 0.
    pub fn forward(&self, input_ids: Tensor<2, Int>, token_type_ids: Tensor<2, Int>) -> Tensor<3> {
        let [batch, len] = input_ids.dims();
        let positions = Tensor::<1, Int>::arange(0..len as i64, &input_ids.device())
            .unsqueeze::<2>()
            .expand([batch, len]);
        let embeddings = self.word_embeddings.forward(input_ids)
            + self.token_type_embeddings.forward(token_type_ids)
            + self.position_embeddings.forward(positions);
        let normalized = layer_norm(&self.layer_norm, embeddings, self.layer_norm_eps);
        dropout(&self.dropout, normalized)
    }
}
