//! The notebook's `DAIGTModel`: the DeBERTa encoder, a pooling head and a linear layer to one
//! logit (or one per class).

use anyhow::Result;
use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig};
use burn::prelude::*;
use lightning_toolkit::nn::{dropout, init_like_hf};
use serde_json::json;

use crate::config::DebertaV2Config;
use crate::encoder::DebertaV2Model;
use crate::pooling::Pooling;
use crate::settings::ModelParams;
use crate::tokenizer::EncodedBatch;

/// Encoder, pooling, dropout and the output layer.
#[derive(Module, Debug)]
pub struct DebertaClassifier {
    /// The encoder (HF `DebertaV2Model`, exported as is).
    pub deberta: DebertaV2Model,
    /// Token states → one vector.
    pub pool: Pooling,
    /// Dropout before the output layer.
    pub dropout: Dropout,
    /// hidden → classes (1 for binary).
    pub fc: Linear,
}

impl DebertaClassifier {
    /// A classifier around `deberta` with a fresh head (HF's initialisation).
    pub fn new(
        deberta: DebertaV2Model,
        config: &DebertaV2Config,
        params: &ModelParams,
        device: &Device,
    ) -> Self {
        let std = initializer_range(config);
        Self {
            deberta,
            pool: Pooling::new(
                params.pooling,
                config.hidden_size,
                params.pooling_layers,
                device,
            ),
            dropout: DropoutConfig::new(params.head_dropout).init(),
            fc: LinearConfig::new(config.hidden_size, params.num_classes)
                .with_initializer(Initializer::Normal { mean: 0.0, std })
                .init(device),
        }
    }

    /// Logits, batch × classes.
    pub fn forward(&self, batch: &EncodedBatch) -> Tensor<2> {
        let out = self.deberta.forward(
            batch.input_ids.clone(),
            batch.attention_mask.clone(),
            Some(batch.token_type_ids.clone()),
        );
        let pooled = self
            .pool
            .forward(&out.hidden_states, batch.attention_mask.clone().float());
        self.fc.forward(dropout(&self.dropout, pooled))
    }
}

/// `initializer_range` of an HF config (0.02 when absent).
pub fn initializer_range(config: &DebertaV2Config) -> f64 {
    config
        .other
        .get("initializer_range")
        .and_then(|v| v.as_f64())
        .unwrap_or(0.02)
}

/// The DeBERTa-v3 layout at the sizes of `params`, for a model trained from scratch:
/// relative attention over 256 log buckets (span 512), shared keys, `p2c|c2p`, layer-normed
/// relative embeddings, no absolute positions, no token types.
pub fn scratch_config(params: &ModelParams, vocab_size: usize) -> Result<DebertaV2Config> {
    let mut value = json!({
        "model_type": "deberta-v2",
        "vocab_size": vocab_size,
        "hidden_size": params.hidden_size,
        "num_hidden_layers": params.num_hidden_layers,
        "num_attention_heads": params.num_attention_heads,
        "intermediate_size": params.intermediate_size,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": 512,
        "type_vocab_size": 0,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-7,
        "relative_attention": true,
        "max_relative_positions": -1,
        "position_buckets": 256,
        "pad_token_id": 0,
        "position_biased_input": false,
        "pos_att_type": ["p2c", "c2p"],
        "share_att_key": true,
        "norm_rel_ebd": "layer_norm"
    });
    if let Some(width) = params.embedding_size {
        value["embedding_size"] = json!(width);
    }
    DebertaV2Config::from_json(&value.to_string())
}

/// A randomly initialised encoder for `config`, initialised as HF does.
pub fn scratch_encoder(config: &DebertaV2Config, device: &Device) -> DebertaV2Model {
    init_like_hf(
        DebertaV2Model::new(config, device),
        initializer_range(config),
    )
}
