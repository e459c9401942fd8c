//! The encoder against Hugging Face transformers: tiny random DeBERTa-v2/v3 checkpoints and the
//! hidden states transformers computed for padded inputs (`scripts/make_parity_fixtures.py`),
//! matched within 1e-4; and a trained model exported back loads with the same outputs.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use deberta::weights::{load_pretrained, save_pretrained};
use safetensors::{Dtype, SafeTensors};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/parity")
        .join(name)
}

/// The expected tensors: integer inputs as i64, hidden states as f32, with their shapes.
struct Expected {
    bytes: Vec<u8>,
}

impl Expected {
    fn read(dir: &Path) -> Self {
        Self {
            bytes: std::fs::read(dir.join("expected.safetensors")).unwrap(),
        }
    }
    fn ints(&self, name: &str, device: &Device) -> Tensor<2, Int> {
        let st = SafeTensors::deserialize(&self.bytes).unwrap();
        let t = st.tensor(name).unwrap();
        assert_eq!(t.dtype(), Dtype::I64);
        let values: Vec<i64> = t
            .data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let shape = t.shape();
        Tensor::<1, Int>::from_ints(values.as_slice(), device).reshape([shape[0], shape[1]])
    }
    fn floats(&self, name: &str) -> (Vec<f32>, Vec<usize>) {
        let st = SafeTensors::deserialize(&self.bytes).unwrap();
        let t = st.tensor(name).unwrap();
        assert_eq!(t.dtype(), Dtype::F32);
        let values = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        (values, t.shape().to_vec())
    }
}

#[allow(deprecated)]
fn assert_close(name: &str, actual: Tensor<3>, expected: (Vec<f32>, Vec<usize>)) {
    assert_eq!(actual.dims().to_vec(), expected.1, "{name}: shape");
    let actual = actual.into_data().to_vec::<f32>().unwrap();
    let worst = actual
        .iter()
        .zip(&expected.0)
        .map(|(a, e)| (a - e).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-4, "{name}: largest difference {worst}");
}

/// Every hidden state (embeddings and each layer), padded positions included.
fn matches_transformers(dir: &Path, label: &str) {
    let device = Device::flex();
    let (config, model, report) = load_pretrained(dir, &device).unwrap();
    let expected = Expected::read(&fixture(label));
    let ids = expected.ints("input_ids", &device);
    let mask = expected.ints("attention_mask", &device);
    let types = (config.type_vocab_size > 0).then(|| expected.ints("token_type_ids", &device));
    let out = model.forward(ids, mask, types);
    assert_eq!(out.hidden_states.len(), config.num_hidden_layers + 1);
    for (i, h) in out.hidden_states.into_iter().enumerate() {
        assert_close(
            &format!("{label} hidden_states.{i}"),
            h,
            expected.floats(&format!("hidden_states.{i}")),
        );
    }
    assert!(report.loaded > 0, "{report:?}");
}

#[test]
fn v3_layout_with_buckets_shared_keys_and_normalized_positions_matches() {
    matches_transformers(&fixture("bucketed"), "bucketed");
    // Saved from DebertaV2ForMaskedLM: the head's tensors are reported, not loaded.
    let (_, _, report) = load_pretrained(&fixture("bucketed"), &Device::flex()).unwrap();
    assert!(
        report
            .unused
            .iter()
            .any(|k| k.starts_with("cls.predictions")),
        "{report:?}"
    );
}

#[test]
fn a_pytorch_pickle_checkpoint_loads_the_same_weights() {
    matches_transformers(&fixture("bucketed-bin"), "bucketed");
    let (_, _, report) = load_pretrained(&fixture("bucketed-bin"), &Device::flex()).unwrap();
    assert!(report.file.ends_with("pytorch_model.bin"), "{report:?}");
}

#[test]
fn unbucketed_layout_with_separate_position_projections_and_absolute_positions_matches() {
    matches_transformers(&fixture("unbucketed"), "unbucketed");
}

#[test]
fn an_exported_model_loads_back_with_the_same_outputs() {
    for label in ["bucketed", "unbucketed"] {
        let (config, model, _) = load_pretrained(&fixture(label), &Device::flex()).unwrap();
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("export-{label}"));
        save_pretrained(&model, &config, &out).unwrap();
        std::fs::copy(
            fixture(label).join("expected.safetensors"),
            out.join("expected.safetensors"),
        )
        .unwrap();
        matches_transformers(&out, label);
    }
}

#[test]
fn a_directory_without_weights_is_a_clear_error() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("config-only");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        fixture("bucketed").join("config.json"),
        dir.join("config.json"),
    )
    .unwrap();
    let err = load_pretrained(&dir, &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no model.safetensors or pytorch_model.bin"),
        "{err}"
    );
}

#[test]
fn weights_that_do_not_match_the_config_are_a_clear_error() {
    // v3 config (shared keys, LayerNorm on relative embeddings) over the other model's weights.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mismatched");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        fixture("bucketed").join("config.json"),
        dir.join("config.json"),
    )
    .unwrap();
    std::fs::copy(
        fixture("unbucketed").join("model.safetensors"),
        dir.join("model.safetensors"),
    )
    .unwrap();
    let err = format!("{:#}", load_pretrained(&dir, &Device::flex()).unwrap_err());
    assert!(err.contains("model.safetensors"), "{err}");
    assert!(
        err.contains("encoder.layer_norm") || err.contains("rel_embeddings"),
        "{err}"
    );
}

#[test]
fn a_missing_layer_norm_tensor_is_named_in_hf_spelling() {
    // The bucketed checkpoint without one LayerNorm's bias: the error names it as transformers
    // does (as BERT's does), not as the Rust field `layer_norm.beta`.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("missing-layer-norm");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        fixture("bucketed").join("config.json"),
        dir.join("config.json"),
    )
    .unwrap();
    let bytes = std::fs::read(fixture("bucketed").join("model.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let dropped = "deberta.encoder.layer.0.output.LayerNorm.bias";
    let kept: Vec<_> = file
        .tensors()
        .into_iter()
        .filter(|(name, _)| name != dropped)
        .collect();
    assert_eq!(kept.len() + 1, file.len(), "the fixture has {dropped}");
    safetensors::serialize_to_file(kept, None, &dir.join("model.safetensors")).unwrap();
    let err = format!("{:#}", load_pretrained(&dir, &Device::flex()).unwrap_err());
    assert!(
        err.contains("encoder.layer.0.output.LayerNorm.bias"),
        "{err}"
    );
    assert!(!err.contains("layer_norm"), "{err}");
}
