//! The model against Hugging Face transformers: tiny random checkpoints and what transformers
//! computed for padded inputs (`scripts/make_parity_fixtures.py`), matched within 1e-4; and an
//! exported model loads back bit-exact.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bert::weights::{load_pretrained, load_weights, save_pretrained};
use burn::prelude::*;
use burn::tensor::TensorData;
use lightning_toolkit::hf::read_safetensors;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/parity")
        .join(name)
}

fn expected(dir: &Path) -> BTreeMap<String, TensorData> {
    read_safetensors(&dir.join("expected.safetensors")).unwrap()
}

fn ints(expected: &BTreeMap<String, TensorData>, name: &str, device: &Device) -> Tensor<2, Int> {
    Tensor::from_data(expected[name].clone(), device)
}

fn assert_close<const D: usize>(name: &str, actual: Tensor<D>, expected: &TensorData) {
    assert_eq!(
        actual.dims().to_vec(),
        expected.shape().to_vec(),
        "{name}: shape"
    );
    let actual: Vec<f32> = actual.into_data().try_to_vec().unwrap();
    let expected: Vec<f32> = expected.clone().try_to_vec().unwrap();
    let worst = actual
        .iter()
        .zip(&expected)
        .map(|(a, e)| (a - e).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-4, "{name}: largest difference {worst}");
}

#[test]
fn pretraining_heads_match_transformers() {
    let device = Device::flex();
    let dir = fixture("pretraining");
    let (_, model, report) = load_pretrained(&dir, &device).unwrap();
    // Every tensor of the file has a place, and nothing starts fresh.
    assert!(report.unused.is_empty(), "{report:?}");
    assert!(report.initialised.is_empty(), "{report:?}");
    let expected = expected(&dir);
    let out = model.forward(
        ints(&expected, "input_ids", &device),
        ints(&expected, "attention_mask", &device),
        ints(&expected, "token_type_ids", &device),
        None,
    );
    let [batch, len] = expected["input_ids"].shape().dims();
    let vocab = out.prediction_logits.dims()[1];
    assert_close(
        "prediction_logits",
        out.prediction_logits.reshape([batch, len, vocab]),
        &expected["prediction_logits"],
    );
    assert_close(
        "seq_relationship_logits",
        out.seq_relationship_logits,
        &expected["seq_relationship_logits"],
    );
}

#[test]
fn scoring_selected_positions_equals_scoring_all_and_picking() {
    let device = Device::flex();
    let dir = fixture("pretraining");
    let (_, model, _) = load_pretrained(&dir, &device).unwrap();
    let expected = expected(&dir);
    let run = |positions| {
        model
            .forward(
                ints(&expected, "input_ids", &device),
                ints(&expected, "attention_mask", &device),
                ints(&expected, "token_type_ids", &device),
                positions,
            )
            .prediction_logits
    };
    let rows = [1i64, 5, 13, 22];
    let picked = run(Some(Tensor::from_ints(rows, &device)));
    let all = run(None).select(0, Tensor::from_ints(rows, &device));
    assert_close("selected rows", picked, &all.into_data());
}

#[test]
fn a_bare_bert_model_loads_with_fresh_heads_reported() {
    let device = Device::flex();
    let dir = fixture("bertmodel");
    let (config, model, report) = load_pretrained(&dir, &device).unwrap();
    assert_eq!(config.hidden_act, bert::config::HiddenAct::GeluNew);
    // The file has encoder and pooler; both heads start fresh, under HF's names.
    assert!(report.unused.is_empty(), "{report:?}");
    assert!(
        report
            .initialised
            .contains(&"cls.seq_relationship.weight".to_string()),
        "{report:?}"
    );
    assert!(
        report
            .initialised
            .contains(&"cls.predictions.transform.LayerNorm.weight".to_string()),
        "{report:?}"
    );
    assert!(
        report.initialised.iter().all(|n| n.starts_with("cls.")),
        "{report:?}"
    );
    let expected = expected(&dir);
    let out = model.bert.forward(
        ints(&expected, "input_ids", &device),
        ints(&expected, "attention_mask", &device),
        ints(&expected, "token_type_ids", &device),
    );
    assert_close(
        "last_hidden_state",
        out.sequence_output,
        &expected["last_hidden_state"],
    );
    assert_close(
        "pooler_output",
        out.pooled_output.unwrap(),
        &expected["pooler_output"],
    );
}

#[test]
fn export_then_load_is_bit_exact_and_keeps_hf_names() {
    let device = Device::flex();
    let (config, model, _) = load_pretrained(&fixture("pretraining"), &device).unwrap();
    let out_dir = std::env::temp_dir().join(format!("bert-export-{}", std::process::id()));
    save_pretrained(&model, &config, &out_dir).unwrap();

    // Every tensor as transformers saved it: same names, shapes and bits.
    let original = read_safetensors(&fixture("pretraining").join("model.safetensors")).unwrap();
    let exported = read_safetensors(&out_dir.join("model.safetensors")).unwrap();
    assert_eq!(
        exported.keys().collect::<Vec<_>>(),
        original.keys().collect::<Vec<_>>()
    );
    for (name, data) in &original {
        assert_eq!(exported[name].shape(), data.shape(), "{name}");
        assert_eq!(exported[name].as_bytes(), data.as_bytes(), "{name}");
    }
    let (_, _, report) = load_pretrained(&out_dir, &device).unwrap();
    assert!(report.initialised.is_empty() && report.unused.is_empty());
    std::fs::remove_dir_all(out_dir).ok();
}

#[test]
fn missing_encoder_tensors_are_an_error_naming_them() {
    let device = Device::flex();
    // The bare model's config with a third layer the file does not have.
    let dir = std::env::temp_dir().join(format!("bert-deeper-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = std::fs::read_to_string(fixture("bertmodel").join("config.json")).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&config).unwrap();
    config["num_hidden_layers"] = 3.into();
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    std::fs::copy(
        fixture("bertmodel").join("model.safetensors"),
        dir.join("model.safetensors"),
    )
    .unwrap();
    // Refused from the file's header, before a model of three layers is built.
    let err = load_pretrained(&dir, &device).unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("`num_hidden_layers` is 3") && text.contains("`encoder.layer.2.*`"),
        "{text}"
    );
    assert!(text.contains("model.safetensors"), "{text}");
    // Loading into a model of that config (built by the caller) names the missing tensors.
    let config = bert::config::BertConfig::from_file(&dir.join("config.json")).unwrap();
    let mut model = bert::heads::BertForPreTraining::new(&config, &device);
    let text = format!("{:#}", load_weights(&mut model, &dir).unwrap_err());
    assert!(
        text.contains("bert.encoder.layer.2.attention.self.query.weight"),
        "{text}"
    );
    std::fs::remove_dir_all(dir).ok();
}
