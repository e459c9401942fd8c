//! Disentangled self-attention: content-to-content scores plus content-to-position (`c2p`) and
//! position-to-content (`p2c`) scores over relative-position embeddings, all scaled by
//! sqrt(head size · (1 + number of position terms)) (He et al. 2021, eq. 4; transformers'
//! `DisentangledSelfAttention`).

use std::sync::Arc;

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::DType;
use lightning_toolkit::nn::{SelfOutput, dropout, softmax};

use crate::config::{DebertaV2Config, PosAttType};
use crate::relative_gather::{RelativeIndex, gather_relative};

/// For each (query, key) pair, the relative embedding row its position terms read (built once
/// per forward pass, shared by every layer, sequence and head).
#[derive(Debug, Clone)]
pub struct RelativeRows {
    /// Rows for the content-to-position term.
    pub c2p: Arc<RelativeIndex>,
    /// Rows for the position-to-content term, transposed as transformers does.
    pub p2c: Arc<RelativeIndex>,
}

/// What every layer's attention reads besides the hidden states, built once per forward pass.
#[derive(Debug, Clone)]
pub struct AttentionContext {
    /// batch × 1 × length × length, true where a query may attend a key.
    pub mask: Tensor<4, Bool>,
    /// The relative-position table (2·span × hidden) and each pair's rows in it, with
    /// `relative_attention`.
    pub relative: Option<(Tensor<2>, RelativeRows)>,
}

/// `DisentangledSelfAttention`, with HF's projection names.
#[derive(Module, Debug)]
pub struct DisentangledSelfAttention {
    /// Content query projection (also the position query one when `share_att_key`).
    pub query_proj: Linear,
    /// Content key projection (also the position key one when `share_att_key`).
    pub key_proj: Linear,
    /// Value projection.
    pub value_proj: Linear,
    /// Position key projection (`c2p` without `share_att_key`).
    pub pos_key_proj: Option<Linear>,
    /// Position query projection (`p2c` without `share_att_key`).
    pub pos_query_proj: Option<Linear>,
    /// Dropout on attention probabilities.
    pub dropout: Dropout,
    /// Dropout on the relative embeddings.
    pub pos_dropout: Dropout,
    #[module(skip)]
    heads: usize,
    #[module(skip)]
    head_size: usize,
    #[module(skip)]
    relative_attention: bool,
    #[module(skip)]
    c2p: bool,
    #[module(skip)]
    p2c: bool,
}

fn split_heads<const D: usize>(x: Tensor<D>, heads: usize) -> Tensor<4> {
    // [.., len, heads · d] → [batch (1 for the position table), heads, len, d]
    let dims = x.dims();
    let (len, width) = (dims[D - 2], dims[D - 1]);
    let batch = x.shape().num_elements() / (len * width);
    x.reshape([batch, len, heads, width / heads])
        .swap_dims(1, 2)
}

/// The most negative value of `dtype`, which masked scores are set to (transformers' `finfo.min`).
fn masked_score(dtype: DType) -> f32 {
    match dtype {
        DType::F16 => -65504.0,
        DType::BF16 => -3.389_531_4e38,
        _ => f32::MIN,
    }
}

impl DisentangledSelfAttention {
    /// Randomly initialised attention for `config`.
    pub fn new(config: &DebertaV2Config, device: &Device) -> Self {
        let (hidden, all) = (
            config.hidden_size,
            config.num_attention_heads * config.head_size(),
        );
        let linear = || LinearConfig::new(hidden, all).init(device);
        let c2p = config.pos_att_type.contains(&PosAttType::C2p);
        let p2c = config.pos_att_type.contains(&PosAttType::P2c);
        let separate = config.relative_attention && !config.share_att_key;
        Self {
            query_proj: linear(),
            key_proj: linear(),
            value_proj: linear(),
            pos_key_proj: (separate && c2p).then(linear),
            pos_query_proj: (separate && p2c).then(linear),
            dropout: DropoutConfig::new(config.attention_probs_dropout_prob).init(),
            pos_dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
            heads: config.num_attention_heads,
            head_size: config.head_size(),
            relative_attention: config.relative_attention,
            c2p,
            p2c,
        }
    }

    fn scale(&self) -> f32 {
        let terms = 1 + usize::from(self.c2p) + usize::from(self.p2c);
        ((self.head_size * terms) as f32).sqrt()
    }

    /// Attends over `hidden` (batch × length × hidden).
    pub fn forward(&self, hidden: Tensor<3>, cx: &AttentionContext) -> Tensor<3> {
        let [batch, len, _] = hidden.dims();
        let query = split_heads(self.query_proj.forward(hidden.clone()), self.heads);
        let key = split_heads(self.key_proj.forward(hidden.clone()), self.heads);
        let value = split_heads(self.value_proj.forward(hidden), self.heads);
        // Every score term is divided by the same scale; dividing the query (and, for p2c, the
        // small position-query table) once costs length · head size per head instead of
        // length² per term.
        let scale = self.scale();
        let query = query.div_scalar(scale);
        let mut scores = query.clone().matmul(key.clone().swap_dims(2, 3));
        if self.relative_attention {
            let (table, rows) = cx
                .relative
                .as_ref()
                .expect("relative attention needs the relative-position table");
            scores = scores + self.position_scores(query, key, table, rows, scale);
        }
        let mask = cx.mask.clone().expand([batch, self.heads, len, len]);
        let fill = masked_score(scores.dtype());
        let probs = softmax(scores.mask_fill(mask.bool_not(), fill), 3);
        let context = dropout(&self.dropout, probs).matmul(value);
        context
            .swap_dims(1, 2)
            .reshape([batch, len, self.heads * self.head_size])
    }

    /// The c2p and p2c scores (`disentangled_attention_bias`), for a `query` already divided by
    /// `scale`.
    fn position_scores(
        &self,
        query: Tensor<4>,
        key: Tensor<4>,
        table: &Tensor<2>,
        rows: &RelativeRows,
        scale: f32,
    ) -> Tensor<4> {
        let table = dropout(&self.pos_dropout, table.clone());
        let project = |own: &Option<Linear>, shared: &Linear| {
            let layer = own.as_ref().unwrap_or(shared);
            split_heads(layer.forward(table.clone()), self.heads)
        };
        let mut score: Option<Tensor<4>> = None;
        let mut add = |s: Tensor<4>| {
            score = Some(match score.take() {
                Some(acc) => acc + s,
                None => s,
            })
        };
        if self.c2p {
            let pos_key = project(&self.pos_key_proj, &self.key_proj);
            let c2p = query.matmul(pos_key.swap_dims(2, 3));
            add(gather_relative(c2p, &rows.c2p));
        }
        if self.p2c {
            let pos_query = project(&self.pos_query_proj, &self.query_proj).div_scalar(scale);
            let p2c = key.matmul(pos_query.swap_dims(2, 3));
            add(gather_relative(p2c, &rows.p2c));
        }
        score.expect("relative attention with neither c2p nor p2c")
    }
}

/// `DebertaV2Attention`: self-attention (HF `self`) and its output block.
#[derive(Module, Debug)]
pub struct DebertaV2Attention {
    /// HF `attention.self`.
    pub self_attention: DisentangledSelfAttention,
    /// HF `attention.output`.
    pub output: SelfOutput,
}

impl DebertaV2Attention {
    /// For `config`.
    pub fn new(config: &DebertaV2Config, device: &Device) -> Self {
        Self {
            self_attention: DisentangledSelfAttention::new(config, device),
            output: SelfOutput::new(
                config,
                config.num_attention_heads * config.head_size(),
                device,
            ),
        }
    }

    /// Attention, then projection and residual LayerNorm.
    pub fn forward(&self, hidden: Tensor<3>, cx: &AttentionContext) -> Tensor<3> {
        let attended = self.self_attention.forward(hidden.clone(), cx);
        self.output.forward(attended, hidden)
    }
}
