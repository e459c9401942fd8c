//! Hugging Face checkpoint directories in and out: `config.json` plus `model.safetensors` (or
//! `pytorch_model.bin` on load), with transformers' tensor names. Only the names differ from
//! burn's by Rust spelling (`LayerNorm` → `layer_norm`, `attention.self` →
//! `attention.self_attention`, `lightning_toolkit::hf::names`); `lightning_toolkit::hf` does the
//! layout.

use std::path::Path;

use anyhow::{Context, Result};
use burn::prelude::*;
pub use lightning_toolkit::hf::LoadReport;
use lightning_toolkit::hf::{HfShapes, load_hf_weights, names, save_hf_safetensors};

use crate::config::DebertaV2Config;
use crate::encoder::DebertaV2Model;

/// Task models (DebertaV2ForMaskedLM, …ForSequenceClassification) prefix the encoder, dropped on
/// load (then the Rust spellings of [`names`]; reversed on export).
const TASK_MODEL_PREFIX: (&str, &str) = (r"^deberta\.", "");

/// Reads a checkpoint directory: its config and the encoder's weights. Every encoder tensor must
/// be in the file; extra tensors (heads) are listed in the report.
pub fn load_pretrained(
    dir: &Path,
    device: &Device,
) -> Result<(DebertaV2Config, DebertaV2Model, LoadReport)> {
    let config = DebertaV2Config::from_file(&dir.join("config.json"))?;
    check_sizes(&config, dir)?;
    let mut model = DebertaV2Model::new(&config, device);
    let report = load_weights(&mut model, dir)?;
    Ok((config, model, report))
}

/// Checks `config`'s sizes against the shapes in `dir`'s weight file (its header, not its
/// data) before a model of them is allocated: a size the file disagrees with is an error naming
/// the config.json key, its value and the tensor. Each tensor checked is one the encoder of this
/// config has and so must be in the file; the parameter bound guards what this list may miss.
pub fn check_sizes(config: &DebertaV2Config, dir: &Path) -> Result<()> {
    let shapes = HfShapes::read(dir, &["deberta."])?;
    let n = |v: usize| v as u128;
    let word = "embeddings.word_embeddings.weight";
    shapes.expect_dim(
        "vocab_size",
        config.vocab_size,
        word,
        0,
        n(config.vocab_size),
    )?;
    let (width_key, width) = match config.embedding_size {
        Some(width) => ("embedding_size", width),
        None => ("hidden_size", config.hidden_size),
    };
    shapes.expect_dim(width_key, width, word, 1, n(width))?;
    let norm = "embeddings.LayerNorm.weight";
    shapes.expect_dim(
        "hidden_size",
        config.hidden_size,
        norm,
        0,
        n(config.hidden_size),
    )?;
    if config.position_biased_input {
        let key = "max_position_embeddings";
        let positions = "embeddings.position_embeddings.weight";
        let value = config.max_position_embeddings;
        shapes.expect_dim(key, value, positions, 0, n(value))?;
    }
    if config.type_vocab_size > 0 {
        let types = "embeddings.token_type_embeddings.weight";
        let value = config.type_vocab_size;
        shapes.expect_dim("type_vocab_size", value, types, 0, n(value))?;
    }
    shapes.expect_layers(
        "num_hidden_layers",
        config.num_hidden_layers,
        "encoder.layer.",
    )?;
    if config.num_hidden_layers > 0 {
        let intermediate = "encoder.layer.0.intermediate.dense.weight";
        let value = config.intermediate_size;
        shapes.expect_dim("intermediate_size", value, intermediate, 0, n(value))?;
        // heads × head width: only `attention_head_size` can make it differ from hidden_size.
        let query = "encoder.layer.0.attention.self.query_proj.weight";
        let all = n(config.num_attention_heads) * n(config.head_size());
        match config.attention_head_size {
            Some(size) => shapes.expect_dim("attention_head_size", size, query, 0, all)?,
            None => shapes.expect_dim(
                "num_attention_heads",
                config.num_attention_heads,
                query,
                0,
                all,
            )?,
        }
    }
    if config.relative_attention {
        let (key, value) = if config.position_buckets > 0 {
            ("position_buckets", config.position_buckets)
        } else if config.max_relative_positions >= 1 {
            ("max_relative_positions", config.max_relative_positions)
        } else {
            (
                "max_position_embeddings",
                config.max_position_embeddings as i64,
            )
        };
        let relative = "encoder.rel_embeddings.weight";
        shapes.expect_dim(
            key,
            value,
            relative,
            0,
            2 * n(config.position_embedding_span()),
        )?;
    }
    shapes.bound_parameters(parameter_count(config))
}

/// About how many parameters the encoder of `config` has.
fn parameter_count(config: &DebertaV2Config) -> u128 {
    // In f64, which cannot overflow; the cast back saturates.
    let f = |n: usize| n as f64;
    let (h, w, i) = (
        f(config.hidden_size),
        f(config.embedding_width()),
        f(config.intermediate_size),
    );
    let all = f(config.num_attention_heads) * f(config.head_size());
    let positions = if config.position_biased_input {
        f(config.max_position_embeddings)
    } else {
        0.0
    };
    let projection = if w != h { w * h + h } else { 0.0 };
    let embeddings =
        (f(config.vocab_size) + positions + f(config.type_vocab_size)) * w + projection + 2.0 * h;
    // query, key, value and up to two position projections, then the output and the FFN.
    let layer =
        5.0 * (h * all + all) + (all * h + h) + 2.0 * h + (h * i + i) + (i * h + h) + 2.0 * h;
    let relative = if config.relative_attention {
        2.0 * f(config.position_embedding_span()) * h + 2.0 * h
    } else {
        0.0
    };
    (embeddings + f(config.num_hidden_layers) * layer + relative) as u128
}

/// Loads a checkpoint directory's weights into `model` (built from the same config).
pub fn load_weights(model: &mut DebertaV2Model, dir: &Path) -> Result<LoadReport> {
    // Every encoder tensor is required, so the report's `initialised` is empty; task heads in
    // the file (such as `lm_predictions`) are its `unused`.
    load_hf_weights(model, dir, &names::hf_to_rust_after(TASK_MODEL_PREFIX))?
        .into_report(|_| true, "a DeBERTa-v2/v3 checkpoint")
}

/// Writes `model` as a checkpoint directory `transformers.AutoModel.from_pretrained` loads:
/// `config.json` (architecture `DebertaV2Model`) and `model.safetensors`.
pub fn save_pretrained(model: &DebertaV2Model, config: &DebertaV2Config, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut config = config.clone();
    config.other.insert(
        "architectures".into(),
        serde_json::json!(["DebertaV2Model"]),
    );
    config
        .other
        .insert("model_type".into(), serde_json::json!("deberta-v2"));
    config.to_file(&dir.join("config.json"))?;
    save_hf_safetensors(model, &dir.join("model.safetensors"), &names::RUST_TO_HF)
}
