//! `BertForPreTraining`: the encoder with the masked-language-model head (its decoder tied to
//! the word embeddings) and the next-sentence-prediction head, with HF's names.

use burn::module::Param;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use lightning_toolkit::nn::layer_norm;

use crate::config::{BertConfig, HiddenAct};
use crate::encoder::BertModel;

/// `BertPredictionHeadTransform`: dense, activation, LayerNorm.
#[derive(Module, Debug)]
pub struct BertPredictionHeadTransform {
    /// hidden → hidden.
    pub dense: Linear,
    /// HF `LayerNorm`.
    pub layer_norm: LayerNorm,
    #[module(skip)]
    act: HiddenAct,
    #[module(skip)]
    layer_norm_eps: f64,
}

/// `BertLMPredictionHead`: transform, then scores over the vocabulary with the word embeddings
/// as decoder weight (tied, so HF saves no `decoder.weight`) plus a bias.
#[derive(Module, Debug)]
pub struct BertLMPredictionHead {
    /// The transform before decoding.
    pub transform: BertPredictionHeadTransform,
    /// Per-token output bias, vocab.
    pub bias: Param<Tensor<1>>,
}

impl BertLMPredictionHead {
    /// Vocabulary scores for `hidden` (rows × hidden) given the word embeddings (vocab × hidden).
    pub fn forward(&self, hidden: Tensor<2>, word_embeddings: Tensor<2>) -> Tensor<2> {
        let t = &self.transform;
        let h = t.act.forward(t.dense.forward(hidden));
        let h = layer_norm(&t.layer_norm, h, t.layer_norm_eps);
        h.matmul(word_embeddings.transpose()) + self.bias.val().unsqueeze::<2>()
    }
}

/// `BertPreTrainingHeads`: the MLM head and NSP's two-way classifier.
#[derive(Module, Debug)]
pub struct BertPreTrainingHeads {
    /// HF `predictions`.
    pub predictions: BertLMPredictionHead,
    /// HF `seq_relationship`: pooled → (is next, is random).
    pub seq_relationship: Linear,
}

impl BertPreTrainingHeads {
    /// Fresh heads of `config`'s sizes.
    pub fn new(config: &BertConfig, device: &Device) -> Self {
        let h = config.hidden_size;
        Self {
            predictions: BertLMPredictionHead {
                transform: BertPredictionHeadTransform {
                    dense: LinearConfig::new(h, h).init(device),
                    layer_norm: LayerNormConfig::new(h)
                        .with_epsilon(config.layer_norm_eps)
                        .init(device),
                    act: config.hidden_act,
                    layer_norm_eps: config.layer_norm_eps,
                },
                bias: Param::from_tensor(Tensor::zeros([config.vocab_size], device)),
            },
            seq_relationship: LinearConfig::new(h, 2).init(device),
        }
    }
}

/// What one pretraining forward pass scores.
#[derive(Debug, Clone)]
pub struct PreTrainingOutput {
    /// Vocabulary scores of the selected positions (rows × vocab).
    pub prediction_logits: Tensor<2>,
    /// Next-sentence scores, batch × 2 (column 0: B follows A).
    pub seq_relationship_logits: Tensor<2>,
}

/// `BertForPreTraining`: encoder (HF `bert`) and heads (HF `cls`).
#[derive(Module, Debug)]
pub struct BertForPreTraining {
    /// The encoder with its pooler.
    pub bert: BertModel,
    /// MLM and NSP heads.
    pub cls: BertPreTrainingHeads,
}

impl BertForPreTraining {
    /// A fresh model of `config`'s sizes with HF's initialisation.
    pub fn new(config: &BertConfig, device: &Device) -> Self {
        let model = Self {
            bert: BertModel::new(config, true, device),
            cls: BertPreTrainingHeads::new(config, device),
        };
        lightning_toolkit::nn::init_like_hf(model, config.initializer_range)
    }

    /// Scores the MLM head at `positions` (indices into the flattened batch × length tokens;
    /// `None`: every token) and the NSP head on the pooled first token.
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Tensor<2, Int>,
        token_type_ids: Tensor<2, Int>,
        positions: Option<Tensor<1, Int>>,
    ) -> PreTrainingOutput {
        let out = self.bert.forward(input_ids, attention_mask, token_type_ids);
        let [batch, len, width] = out.sequence_output.dims();
        let tokens = out.sequence_output.reshape([batch * len, width]);
        // Scoring only the masked positions spares the vocabulary-wide product for the ~85% of
        // tokens whose predictions no loss reads.
        let selected = match positions {
            Some(rows) => tokens.select(0, rows),
            None => tokens,
        };
        let words = self.bert.embeddings.word_embeddings.weight.val();
        PreTrainingOutput {
            prediction_logits: self.cls.predictions.forward(selected, words),
            seq_relationship_logits: self
                .cls
                .seq_relationship
                .forward(out.pooled_output.expect("BertForPreTraining has a pooler")),
        }
    }
}
