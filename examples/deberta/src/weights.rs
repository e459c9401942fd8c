//! Hugging Face checkpoint directories in and out: `config.json` plus `model.safetensors` (or
//! `pytorch_model.bin` on load), with transformers' tensor names. Only the names differ from
//! burn's by Rust spelling (`LayerNorm` → `layer_norm`, `attention.self` →
//! `attention.self_attention`); `burn_lightning::hf_checkpoint` does the layout.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::prelude::*;
use burn_lightning::hf_checkpoint::{load_hf_weights, save_hf_safetensors};

use crate::config::DebertaV2Config;
use crate::encoder::DebertaV2Model;

/// HF name patterns → this crate's field names, applied on load (reversed on export).
const HF_TO_BURN: [(&str, &str); 3] = [
    // Task models (DebertaV2ForMaskedLM, …ForSequenceClassification) prefix the encoder.
    (r"^deberta\.", ""),
    (r"LayerNorm", "layer_norm"),
    (r"\.attention\.self\.", ".attention.self_attention."),
];
const BURN_TO_HF: [(&str, &str); 2] = [
    (r"layer_norm", "LayerNorm"),
    (r"\.attention\.self_attention\.", ".attention.self."),
];

/// What loading a checkpoint found.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// Weight file read.
    pub file: PathBuf,
    /// Encoder tensors loaded.
    pub loaded: usize,
    /// Tensors in the file the encoder does not have (task heads such as `lm_predictions`).
    pub unused: Vec<String>,
}

/// Reads a checkpoint directory: its config and the encoder's weights. Every encoder tensor must
/// be in the file; extra tensors (heads) are listed in the report.
pub fn load_pretrained(
    dir: &Path,
    device: &Device,
) -> Result<(DebertaV2Config, DebertaV2Model, LoadReport)> {
    let config = DebertaV2Config::from_file(&dir.join("config.json"))?;
    let mut model = DebertaV2Model::new(&config, device);
    let report = load_weights(&mut model, dir)?;
    Ok((config, model, report))
}

/// Loads a checkpoint directory's weights into `model` (built from the same config).
pub fn load_weights(model: &mut DebertaV2Model, dir: &Path) -> Result<LoadReport> {
    let weights = load_hf_weights(model, dir, &HF_TO_BURN)?;
    weights.require(|_| true, str::to_string, "a DeBERTa-v2/v3 checkpoint")?;
    Ok(LoadReport {
        file: weights.file,
        loaded: weights.loaded,
        unused: weights.unused,
    })
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
    save_hf_safetensors(model, &dir.join("model.safetensors"), &BURN_TO_HF)
}
