//! The model configuration, read from a Hugging Face `config.json` as it is.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, bail, ensure};
use serde::{Deserialize, Serialize};

use lightning_toolkit::hf::config::{
    HfConfig, config_from_json, ensure_dropout_probabilities, read_config_json, write_config_json,
};
pub use lightning_toolkit::nn::HiddenAct;
use lightning_toolkit::nn::{IntermediateConfig, SelfOutputConfig};

/// `config.json` of a BERT checkpoint (`model_type: bert`), with transformers' defaults for
/// absent keys. Keys this crate does not use are kept, so an exported config round-trips.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// Vocabulary size (30,522 for bert-base-uncased).
    #[serde(default = "vocab_size")]
    pub vocab_size: usize,
    /// Width of every hidden state.
    #[serde(default = "hidden_size")]
    pub hidden_size: usize,
    /// Number of transformer layers.
    #[serde(default = "twelve")]
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    #[serde(default = "twelve")]
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    #[serde(default = "intermediate_size")]
    pub intermediate_size: usize,
    /// Feed-forward (and MLM transform) activation.
    #[serde(default)]
    pub hidden_act: HiddenAct,
    /// Dropout on embeddings and sublayer outputs.
    #[serde(default = "dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities.
    #[serde(default = "dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Longest sequence (rows of the absolute position table).
    #[serde(default = "max_position_embeddings")]
    pub max_position_embeddings: usize,
    /// Segment (token type) ids; 2 for sentence A/B.
    #[serde(default = "two")]
    pub type_vocab_size: usize,
    /// Standard deviation of the initial weights.
    #[serde(default = "initializer_range")]
    pub initializer_range: f64,
    /// LayerNorm epsilon.
    #[serde(default = "layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Padding token id.
    #[serde(default)]
    pub pad_token_id: usize,
    /// Only `absolute` is supported (the BERT and MiniLM checkpoints use it).
    #[serde(default = "absolute")]
    pub position_embedding_type: String,
    /// Every other key, kept for export.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

fn vocab_size() -> usize {
    30522
}
fn hidden_size() -> usize {
    768
}
fn twelve() -> usize {
    12
}
fn intermediate_size() -> usize {
    3072
}
fn dropout() -> f64 {
    0.1
}
fn max_position_embeddings() -> usize {
    512
}
fn two() -> usize {
    2
}
fn initializer_range() -> f64 {
    0.02
}
fn layer_norm_eps() -> f64 {
    1e-12
}
fn absolute() -> String {
    "absolute".into()
}

impl HfConfig for BertConfig {
    fn validate(&self) -> Result<()> {
        BertConfig::validate(self)
    }
}

impl BertConfig {
    /// A config of the given sizes with transformers' defaults otherwise.
    pub fn new(
        vocab_size: usize,
        hidden_size: usize,
        num_hidden_layers: usize,
        num_attention_heads: usize,
        intermediate_size: usize,
    ) -> Self {
        let mut config: Self = serde_json::from_value(serde_json::json!({})).expect("defaults");
        config.vocab_size = vocab_size;
        config.hidden_size = hidden_size;
        config.num_hidden_layers = num_hidden_layers;
        config.num_attention_heads = num_attention_heads;
        config.intermediate_size = intermediate_size;
        config
    }

    /// Parses and checks `config.json` text; errors name the key or the rule.
    pub fn from_json(text: &str) -> Result<Self> {
        config_from_json(text)
    }

    /// Reads and checks a `config.json` file; errors name the file, then the key or the rule.
    pub fn from_file(path: &Path) -> Result<Self> {
        read_config_json(path)
    }

    /// Writes `config.json` (atomically).
    pub fn to_file(&self, path: &Path) -> Result<()> {
        write_config_json(self, path)
    }

    /// Checks what the model needs of the sizes.
    pub fn validate(&self) -> Result<()> {
        ensure!(
            self.num_attention_heads > 0
                && self.hidden_size.is_multiple_of(self.num_attention_heads),
            "hidden_size {} is not a multiple of num_attention_heads {}",
            self.hidden_size,
            self.num_attention_heads
        );
        ensure_dropout_probabilities(&[
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            (
                "attention_probs_dropout_prob",
                self.attention_probs_dropout_prob,
            ),
        ])?;
        ensure!(
            self.initializer_range.is_finite() && self.initializer_range >= 0.0,
            "initializer_range {} is not a finite standard deviation",
            self.initializer_range
        );
        if self.position_embedding_type != "absolute" {
            bail!(
                "position_embedding_type `{}` is not supported; expected `absolute`",
                self.position_embedding_type
            );
        }
        if self.other.get("is_decoder") == Some(&serde_json::Value::Bool(true)) {
            bail!("is_decoder: a decoder BERT is not supported; expected an encoder");
        }
        Ok(())
    }

    /// Width of one attention head.
    pub fn head_size(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}

impl SelfOutputConfig for BertConfig {
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

impl IntermediateConfig for BertConfig {
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

    /// sentence-transformers/all-MiniLM-L6-v2's config.json, verbatim.
    const MINILM: &str = r#"{
  "_name_or_path": "nreimers/MiniLM-L6-H384-uncased",
  "architectures": ["BertModel"],
  "attention_probs_dropout_prob": 0.1,
  "gradient_checkpointing": false,
  "hidden_act": "gelu",
  "hidden_dropout_prob": 0.1,
  "hidden_size": 384,
  "initializer_range": 0.02,
  "intermediate_size": 1536,
  "layer_norm_eps": 1e-12,
  "max_position_embeddings": 512,
  "model_type": "bert",
  "num_attention_heads": 12,
  "num_hidden_layers": 6,
  "pad_token_id": 0,
  "position_embedding_type": "absolute",
  "transformers_version": "4.8.2",
  "type_vocab_size": 2,
  "use_cache": true,
  "vocab_size": 30522
}"#;

    #[test]
    fn minilm_config_reads_and_round_trips() {
        let config = BertConfig::from_json(MINILM).unwrap();
        assert_eq!(
            (
                config.hidden_size,
                config.num_hidden_layers,
                config.head_size()
            ),
            (384, 6, 32)
        );
        assert_eq!(
            config.other["_name_or_path"],
            "nreimers/MiniLM-L6-H384-uncased"
        );
        let again = serde_json::to_string(&config).unwrap();
        assert_eq!(BertConfig::from_json(&again).unwrap(), config);
    }

    #[test]
    fn bad_configs_name_the_key_or_the_rule() {
        let dir = std::env::temp_dir().join(format!("bert-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.json");
        std::fs::write(&file, r#"{"hidden_size": "wide"}"#).unwrap();
        let err = BertConfig::from_file(&file).unwrap_err();
        assert!(
            format!("{err:#}").contains("c.json: key `hidden_size`"),
            "{err:#}"
        );
        std::fs::remove_dir_all(dir).ok();
        let err = BertConfig::from_json(r#"{"hidden_act": "swish"}"#).unwrap_err();
        assert!(format!("{err:#}").contains("hidden_act"), "{err:#}");
        let err =
            BertConfig::from_json(r#"{"hidden_size": 30, "num_attention_heads": 4}"#).unwrap_err();
        assert!(format!("{err:#}").contains("not a multiple"), "{err:#}");
        let err =
            BertConfig::from_json(r#"{"position_embedding_type": "relative_key"}"#).unwrap_err();
        assert!(format!("{err:#}").contains("relative_key"), "{err:#}");
    }
}
