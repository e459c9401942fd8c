//! Hugging Face checkpoint directories in and out: `config.json` plus `model.safetensors` (or
//! `pytorch_model.bin` on load), with transformers' tensor names. A `BertForPreTraining` (or
//! `BertForMaskedLM`) checkpoint fills encoder and heads; a bare `BertModel` (such as
//! sentence-transformers' MiniLM) fills the encoder and the heads start fresh, as reported.

use std::path::Path;

use anyhow::{Context, Result};
use burn::prelude::*;
pub use lightning_toolkit::hf::LoadReport;
use lightning_toolkit::hf::{HfShapes, load_hf_weights, names, save_hf_safetensors};

use crate::config::BertConfig;
use crate::heads::BertForPreTraining;

/// HF names → this crate's paths: a bare `BertModel` file has no `bert.` prefix (then the Rust
/// spellings of [`names`]).
const BARE_MODEL_PREFIX: (&str, &str) = (r"^(embeddings|encoder|pooler)\.", "bert.$1.");

/// Reads a checkpoint directory into a fresh `BertForPreTraining` of its config.
pub fn load_pretrained(
    dir: &Path,
    device: &Device,
) -> Result<(BertConfig, BertForPreTraining, LoadReport)> {
    let config = BertConfig::from_file(&dir.join("config.json"))?;
    check_sizes(&config, dir)?;
    let mut model = BertForPreTraining::new(&config, device);
    let report = load_weights(&mut model, dir)?;
    Ok((config, model, report))
}

/// Checks `config`'s sizes against the shapes in `dir`'s weight file (its header, not its
/// data) before a model of them is allocated: a size the file disagrees with is an error naming
/// the config.json key, its value and the tensor. Every size is the dimension of a tensor a BERT
/// checkpoint must hold, so the parameter bound only guards what this list may miss.
pub fn check_sizes(config: &BertConfig, dir: &Path) -> Result<()> {
    let shapes = HfShapes::read(dir, &["bert."])?;
    let word = "embeddings.word_embeddings.weight";
    shapes.expect_dim(
        "vocab_size",
        config.vocab_size,
        word,
        0,
        config.vocab_size as u128,
    )?;
    shapes.expect_dim(
        "hidden_size",
        config.hidden_size,
        word,
        1,
        config.hidden_size as u128,
    )?;
    let max_positions = config.max_position_embeddings;
    let positions = "embeddings.position_embeddings.weight";
    shapes.expect_dim(
        "max_position_embeddings",
        max_positions,
        positions,
        0,
        max_positions as u128,
    )?;
    let types = "embeddings.token_type_embeddings.weight";
    shapes.expect_dim(
        "type_vocab_size",
        config.type_vocab_size,
        types,
        0,
        config.type_vocab_size as u128,
    )?;
    shapes.expect_layers(
        "num_hidden_layers",
        config.num_hidden_layers,
        "encoder.layer.",
    )?;
    if config.num_hidden_layers > 0 {
        let intermediate = "encoder.layer.0.intermediate.dense.weight";
        shapes.expect_dim(
            "intermediate_size",
            config.intermediate_size,
            intermediate,
            0,
            config.intermediate_size as u128,
        )?;
    }
    shapes.bound_parameters(parameter_count(config))
}

/// About how many parameters `BertForPreTraining` of `config` has (the tied decoder once).
fn parameter_count(config: &BertConfig) -> u128 {
    let [v, h, i, p, t, l] = [
        config.vocab_size,
        config.hidden_size,
        config.intermediate_size,
        config.max_position_embeddings,
        config.type_vocab_size,
        config.num_hidden_layers,
    ]
    .map(|n| n as f64);
    // In f64, which cannot overflow; the cast back saturates.
    let embeddings = (v + p + t) * h + 2.0 * h;
    let layer = 4.0 * (h * h + h) + 2.0 * (h * i) + i + h + 4.0 * h;
    let pooler = h * h + h;
    let heads = h * h + 3.0 * h + v + 2.0 * h + 2.0;
    (embeddings + l * layer + pooler + heads) as u128
}

/// Loads a checkpoint directory's weights into `model` (built from the same config). Every
/// encoder tensor but the pooler's must be in the file.
pub fn load_weights(model: &mut BertForPreTraining, dir: &Path) -> Result<LoadReport> {
    // Heads and the pooler may start fresh (continued pretraining from a bare encoder): the
    // report lists them (HF-style names such as `cls.seq_relationship.weight`).
    load_hf_weights(model, dir, &names::hf_to_rust_after(BARE_MODEL_PREFIX))?.into_report(
        |p| p.starts_with("bert.") && !p.starts_with("bert.pooler."),
        "a BERT checkpoint",
    )
}

/// Writes `model` as a checkpoint directory `transformers.BertForPreTraining.from_pretrained`
/// loads: `config.json` and `model.safetensors` (the tied decoder weight is not stored, as HF
/// does not store it).
pub fn save_pretrained(model: &BertForPreTraining, config: &BertConfig, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut config = config.clone();
    config.other.insert(
        "architectures".into(),
        serde_json::json!(["BertForPreTraining"]),
    );
    config
        .other
        .insert("model_type".into(), serde_json::json!("bert"));
    config
        .other
        .insert("tie_word_embeddings".into(), serde_json::json!(true));
    config.to_file(&dir.join("config.json"))?;
    save_hf_safetensors(model, &dir.join("model.safetensors"), &names::RUST_TO_HF)
}
