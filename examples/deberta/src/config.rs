//! The model configuration, read from a Hugging Face `config.json` as it is.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, bail, ensure};
use serde::{Deserialize, Deserializer, Serialize};

use lightning_toolkit::hf::config::{
    HfConfig, config_from_json, ensure_dropout_probabilities, read_config_json, write_config_json,
};
pub use lightning_toolkit::nn::HiddenAct;
use lightning_toolkit::nn::{IntermediateConfig, SelfOutputConfig};

/// `config.json` of a DeBERTa-v2/v3 checkpoint (`model_type: deberta-v2`), with transformers'
/// defaults for absent keys. Keys this crate does not use are kept, so an exported config
/// round-trips.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DebertaV2Config {
    /// Vocabulary size (128,100 for the v3 checkpoints).
    pub vocab_size: usize,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Feed-forward activation.
    #[serde(default)]
    pub hidden_act: HiddenAct,
    /// Dropout on embeddings and sublayer outputs.
    #[serde(default = "dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities.
    #[serde(default = "dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Absolute positions (used only when `position_biased_input`).
    #[serde(default = "max_position_embeddings")]
    pub max_position_embeddings: usize,
    /// Token types; 0 means none (v3).
    #[serde(default)]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    #[serde(default = "layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Disentangled (relative position) attention.
    #[serde(default)]
    pub relative_attention: bool,
    /// Relative distance span; below 1 means `max_position_embeddings`.
    #[serde(default = "minus_one")]
    pub max_relative_positions: i64,
    /// Log-bucketed relative positions (256 in v3); below 1 means no buckets.
    #[serde(default = "minus_one")]
    pub position_buckets: i64,
    /// Padding token id.
    #[serde(default)]
    pub pad_token_id: usize,
    /// Whether absolute position embeddings are added to the input (false in v3).
    #[serde(default = "yes")]
    pub position_biased_input: bool,
    /// Relative attention terms: `c2p` (content to position), `p2c` (position to content).
    /// HF writes `"p2c|c2p"` or a list.
    #[serde(default, deserialize_with = "pos_att_types")]
    pub pos_att_type: Vec<PosAttType>,
    /// Position projections shared with the content query/key projections (v3).
    #[serde(default)]
    pub share_att_key: bool,
    /// `layer_norm` normalises the relative embeddings (v3); `none` leaves them.
    #[serde(default = "none")]
    pub norm_rel_ebd: String,
    /// Embedding width when it differs from `hidden_size` (then projected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_size: Option<usize>,
    /// Per-head width when not `hidden_size / num_attention_heads`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_head_size: Option<usize>,
    /// DeBERTa-v2-xlarge's convolution after the first layer; unsupported (v3 has none).
    #[serde(default)]
    pub conv_kernel_size: usize,
    /// Every other key, kept for export.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// A relative attention term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PosAttType {
    /// Content (query) to position (key).
    C2p,
    /// Position (query) to content (key).
    P2c,
}

fn dropout() -> f64 {
    0.1
}
fn max_position_embeddings() -> usize {
    512
}
fn layer_norm_eps() -> f64 {
    1e-7
}
fn minus_one() -> i64 {
    -1
}
fn yes() -> bool {
    true
}
fn none() -> String {
    "none".into()
}

fn pos_att_types<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PosAttType>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Joined(String),
        List(Vec<String>),
    }
    let names: Vec<String> = match Option::<Form>::deserialize(d)? {
        None => return Ok(Vec::new()),
        Some(Form::Joined(s)) => s.split('|').map(|p| p.trim().to_lowercase()).collect(),
        Some(Form::List(v)) => v.into_iter().map(|p| p.trim().to_lowercase()).collect(),
    };
    names
        .into_iter()
        .filter(|n| !n.is_empty())
        .map(|n| match n.as_str() {
            "c2p" => Ok(PosAttType::C2p),
            "p2c" => Ok(PosAttType::P2c),
            other => Err(serde::de::Error::custom(format!(
                "pos_att_type `{other}`: expected c2p or p2c"
            ))),
        })
        .collect()
}

impl HfConfig for DebertaV2Config {
    fn validate(&self) -> Result<()> {
        DebertaV2Config::validate(self)
    }
}

impl DebertaV2Config {
    /// Reads and checks a `config.json` file; errors name the file, then the key or the rule.
    pub fn from_file(path: &Path) -> Result<Self> {
        read_config_json(path)
    }

    /// Parses and checks `config.json` text; errors name the key or the rule.
    pub fn from_json(text: &str) -> Result<Self> {
        config_from_json(text)
    }

    fn validate(&self) -> Result<()> {
        ensure!(
            self.num_attention_heads > 0,
            "num_attention_heads must be at least 1"
        );
        if self.attention_head_size.is_none() {
            ensure!(
                self.hidden_size.is_multiple_of(self.num_attention_heads),
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size,
                self.num_attention_heads
            );
        }
        ensure_dropout_probabilities(&[
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            (
                "attention_probs_dropout_prob",
                self.attention_probs_dropout_prob,
            ),
        ])?;
        if self.conv_kernel_size > 0 {
            bail!(
                "conv_kernel_size {}: DeBERTa-v2's convolution layer (v2-xlarge/xxlarge) is not \
                 supported; the v3 checkpoints have none",
                self.conv_kernel_size
            );
        }
        match self.norm_rel_ebd.as_str() {
            "none" | "layer_norm" => {}
            other => bail!("norm_rel_ebd `{other}`: expected none or layer_norm"),
        }
        Ok(())
    }

    /// Per-head width.
    pub fn head_size(&self) -> usize {
        self.attention_head_size
            .unwrap_or(self.hidden_size / self.num_attention_heads)
    }

    /// Width of the word embeddings.
    pub fn embedding_width(&self) -> usize {
        self.embedding_size.unwrap_or(self.hidden_size)
    }

    /// The relative distance span: `max_relative_positions`, or the absolute span when unset.
    pub fn relative_span(&self) -> usize {
        if self.max_relative_positions < 1 {
            self.max_position_embeddings
        } else {
            self.max_relative_positions as usize
        }
    }

    /// Positions on each side of the relative embedding table: the buckets when bucketed.
    pub fn position_embedding_span(&self) -> usize {
        if self.position_buckets > 0 {
            self.position_buckets as usize
        } else {
            self.relative_span()
        }
    }

    /// Whether the relative embeddings are layer-normalised.
    pub fn normalizes_relative_embeddings(&self) -> bool {
        self.norm_rel_ebd == "layer_norm"
    }

    /// Writes `config.json` (keys as transformers writes them).
    pub fn to_file(&self, path: &Path) -> Result<()> {
        write_config_json(self, path)
    }
}

impl SelfOutputConfig for DebertaV2Config {
    fn hidden_size(&self) -> usize {
        self.hidden_size
    }
    fn layer_norm_eps(&self) -> f64 {
        self.layer_norm_eps
    }
    fn hidden_dropout_prob(&self) -> f64 {
        self.hidden_dropout_prob
    }
}

impl IntermediateConfig for DebertaV2Config {
    fn intermediate_size(&self) -> usize {
        self.intermediate_size
    }
    fn hidden_act(&self) -> HiddenAct {
        self.hidden_act
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// microsoft/deberta-v3-xsmall's config.json, verbatim.
    const V3_XSMALL: &str = r#"{
  "model_type": "deberta-v2",
  "attention_probs_dropout_prob": 0.1,
  "hidden_act": "gelu",
  "hidden_dropout_prob": 0.1,
  "hidden_size": 384,
  "initializer_range": 0.02,
  "intermediate_size": 1536,
  "max_position_embeddings": 512,
  "relative_attention": true,
  "position_buckets": 256,
  "norm_rel_ebd": "layer_norm",
  "share_att_key": true,
  "pos_att_type": "p2c|c2p",
  "layer_norm_eps": 1e-7,
  "max_relative_positions": -1,
  "position_biased_input": false,
  "num_attention_heads": 6,
  "num_hidden_layers": 12,
  "type_vocab_size": 0,
  "vocab_size": 128100
}"#;

    #[test]
    fn a_v3_config_reads_as_is_and_round_trips() {
        let c = DebertaV2Config::from_json(V3_XSMALL).unwrap();
        assert_eq!(
            (c.hidden_size, c.num_hidden_layers, c.num_attention_heads),
            (384, 12, 6)
        );
        assert_eq!(c.intermediate_size, 1536);
        assert_eq!(c.pos_att_type, vec![PosAttType::P2c, PosAttType::C2p]);
        assert_eq!(c.head_size(), 64);
        assert_eq!(c.relative_span(), 512);
        assert_eq!(c.position_embedding_span(), 256);
        assert!(c.share_att_key && c.normalizes_relative_embeddings());
        assert_eq!(c.other["model_type"], "deberta-v2");
        let again = DebertaV2Config::from_json(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn bad_configs_name_the_key() {
        let bad = V3_XSMALL.replace("\"p2c|c2p\"", "\"p2c|x2y\"");
        let err = format!("{:#}", DebertaV2Config::from_json(&bad).unwrap_err());
        assert!(err.contains("pos_att_type") && err.contains("x2y"), "{err}");
        let bad = V3_XSMALL.replace("\"hidden_size\": 384", "\"hidden_size\": \"wide\"");
        let err = format!("{:#}", DebertaV2Config::from_json(&bad).unwrap_err());
        assert!(err.contains("key `hidden_size`"), "{err}");
        let bad = V3_XSMALL.replace("\"hidden_size\": 384", "\"hidden_size\": 385");
        let err = format!("{:#}", DebertaV2Config::from_json(&bad).unwrap_err());
        assert!(err.contains("not a multiple"), "{err}");
    }
}
