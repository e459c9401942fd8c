//! Hugging Face checkpoint directories in and out: `config.json` plus `model.safetensors` (or
//! `pytorch_model.bin` on load), with transformers' tensor names. Only the names differ from
//! burn's by Rust spelling (`LayerNorm` → `layer_norm`, `attention.self` →
//! `attention.self_attention`), Linear weights are transposed, LayerNorm weight/bias are burn's
//! gamma/beta; burn-store's PyTorch adapters do the last two.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use burn::store::{
    ApplyResult, BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, ModuleStore,
    PyTorchToBurnAdapter, PytorchStore, SafetensorsStore,
};

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
    let safetensors = dir.join("model.safetensors");
    let pickle = dir.join("pytorch_model.bin");
    let renames = KeyRemapper::from_patterns(HF_TO_BURN.to_vec()).expect("valid patterns");
    let (file, result) = if safetensors.exists() {
        let store = SafetensorsStore::from_file(&safetensors)
            .with_from_adapter(PyTorchToBurnAdapter)
            .remap(renames)
            .allow_partial(true);
        (safetensors.clone(), apply(model, store, &safetensors)?)
    } else if pickle.exists() {
        // PytorchStore always applies the PyTorch → burn adapter.
        let store = PytorchStore::from_file(&pickle)
            .remap(renames)
            .allow_partial(true);
        (pickle.clone(), apply(model, store, &pickle)?)
    } else {
        bail!(
            "{}: no model.safetensors or pytorch_model.bin (a Hugging Face checkpoint directory \
             has config.json and one of them)",
            dir.display()
        );
    };
    if !result.errors.is_empty() {
        let errors: Vec<String> = result.errors.iter().map(|e| e.to_string()).collect();
        bail!("{}: {}", file.display(), errors.join("; "));
    }
    if !result.missing.is_empty() {
        let missing: Vec<&str> = result.missing.iter().map(|(p, _)| p.as_str()).collect();
        bail!(
            "{}: the encoder's tensors {} are not in the file (is it a DeBERTa-v2/v3 checkpoint \
             matching config.json?)",
            file.display(),
            missing.join(", ")
        );
    }
    Ok(LoadReport {
        file,
        loaded: result.applied.len(),
        unused: result.unused,
    })
}

fn apply<S: ModuleStore>(
    model: &mut DebertaV2Model,
    mut store: S,
    file: &Path,
) -> Result<ApplyResult> {
    model
        .load_from(&mut store)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("reading {}", file.display()))
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
    let file = dir.join("model.safetensors");
    let mut store = SafetensorsStore::from_file(&file)
        .with_to_adapter(BurnToPyTorchAdapter)
        .skip_enum_variants(true)
        .metadata("format", "pt")
        .overwrite(true);
    store = store.remap(KeyRemapper::from_patterns(BURN_TO_HF.to_vec()).expect("valid patterns"));
    model
        .save_into(&mut store)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("writing {}", file.display()))
}
