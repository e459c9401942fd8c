//! `DebertaV2Embeddings`: word embeddings (+ absolute positions and token types when the
//! config has them) → projection when narrower → LayerNorm → padding zeroed → dropout.

use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear,
    LinearConfig,
};
use burn::prelude::*;
use burn::tensor::FloatDType;
use lightning_toolkit::nn::{dropout, layer_norm};

use crate::config::DebertaV2Config;

/// The embedding layer, with HF's submodule names (`LayerNorm` is `layer_norm` here).
#[derive(Module, Debug)]
pub struct DebertaV2Embeddings {
    /// Token embeddings, vocabulary × embedding width.
    pub word_embeddings: Embedding,
    /// Absolute positions, when `position_biased_input` (not in v3).
    pub position_embeddings: Option<Embedding>,
    /// Token types, when `type_vocab_size` > 0 (not in v3).
    pub token_type_embeddings: Option<Embedding>,
    /// Projection to `hidden_size` when `embedding_size` differs.
    pub embed_proj: Option<Linear>,
    /// HF `LayerNorm`.
    pub layer_norm: LayerNorm,
    /// Embedding dropout.
    pub dropout: Dropout,
    #[module(skip)]
    layer_norm_eps: f64,
}

impl DebertaV2Embeddings {
    /// Randomly initialised embeddings for `config`.
    pub fn new(config: &DebertaV2Config, device: &Device) -> Self {
        let width = config.embedding_width();
        Self {
            word_embeddings: EmbeddingConfig::new(config.vocab_size, width).init(device),
            position_embeddings: config
                .position_biased_input
                .then(|| EmbeddingConfig::new(config.max_position_embeddings, width).init(device)),
            token_type_embeddings: (config.type_vocab_size > 0)
                .then(|| EmbeddingConfig::new(config.type_vocab_size, width).init(device)),
            embed_proj: (width != config.hidden_size).then(|| {
                LinearConfig::new(width, config.hidden_size)
                    .with_bias(false)
                    .init(device)
            }),
            layer_norm: LayerNormConfig::new(config.hidden_size)
                .with_epsilon(config.layer_norm_eps)
                .init(device),
            dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
            layer_norm_eps: config.layer_norm_eps,
        }
    }

    /// Embeds `input_ids` (batch × length); `mask` (1 for tokens, 0 for padding) zeroes the
    /// padded positions; `token_type_ids` default to 0.
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        token_type_ids: Option<Tensor<2, Int>>,
        mask: Tensor<2>,
    ) -> Tensor<3> {
        let [batch, len] = input_ids.dims();
        let device = input_ids.device();
        let mut embeddings = self.word_embeddings.forward(input_ids);
        if let Some(positions) = &self.position_embeddings {
            let ids = Tensor::<1, Int>::arange(0..len as i64, &device)
                .unsqueeze::<2>()
                .expand([batch, len]);
            embeddings = embeddings + positions.forward(ids);
        }
        if let Some(types) = &self.token_type_embeddings {
            let ids = token_type_ids.unwrap_or_else(|| Tensor::zeros([batch, len], &device));
            embeddings = embeddings + types.forward(ids);
        }
        if let Some(proj) = &self.embed_proj {
            embeddings = proj.forward(embeddings);
        }
        let embeddings = layer_norm(&self.layer_norm, embeddings, self.layer_norm_eps);
        // Under mixed precision the mask arrives as float32 and the embeddings are half.
        let mask = mask.cast(FloatDType::from(embeddings.dtype()));
        let embeddings = embeddings * mask.unsqueeze_dim(2);
        dropout(&self.dropout, embeddings)
    }
}
