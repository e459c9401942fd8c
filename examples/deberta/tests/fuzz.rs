//! Seeded fuzzing of DeBERTa's readers of outside input: `spm.model`, `tokenizer.json`, the
//! labelled CSV, `config.json` and the checkpoint's weights. Each mutated file loads (and then
//! encodes, for tokenizers) or is refused with an error: never a panic, an abort or a hang.
//! Case counts are fixed so CI stays fast.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use deberta::config::DebertaV2Config;
use deberta::labelled::LabelledTexts;
use deberta::settings::DataParams;
use deberta::tokenizer::DebertaTokenizer;
use deberta::weights::{load_pretrained, load_weights};
use test_support::fuzz::fuzz;

fn dir(name: &str) -> PathBuf {
    test_support::temp_dir("deberta-fuzz", name)
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("writing a fuzz case");
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/parity")
        .join(name)
}

/// Texts every accepted tokenizer must encode without panicking: the charsmap's keys, byte
/// fallback, odd spacing, a pair.
fn exercise(t: &DebertaTokenizer) -> Result<(), String> {
    for text in [
        "the fish",
        "Ａﬁsh  the\tа",
        "",
        "   ",
        "héllo wörld 😀 \u{200d}\u{301}",
    ] {
        t.encode(text).map_err(|e| format!("{e:#}"))?;
        t.encode_truncated(text, 3).map_err(|e| format!("{e:#}"))?;
    }
    t.encode_pair("the", "a fish")
        .map_err(|e| format!("{e:#}"))?;
    Ok(())
}

fn spm_seeds() -> Vec<Vec<u8>> {
    use test_support::spm::{charsmap, model_proto, small_model};
    let pieces = [("[UNK]", 0.0, 2), ("▁a", -1.0, 1), ("b", -2.0, 1)];
    vec![
        small_model(),
        model_proto(&pieces, 0, false, None, false),
        model_proto(
            &pieces,
            0,
            false,
            Some(&charsmap(&[("x", "ab"), ("é", "e")])),
            true,
        ),
    ]
}

#[test]
fn spm_model() {
    let dir = dir("spm");
    let path = dir.join("spm.model");
    let report = fuzz("spm.model", 11, 1500, &spm_seeds(), |bytes| {
        write(&path, bytes);
        let t = DebertaTokenizer::from_spm_model(&path).map_err(|e| format!("{e:#}"))?;
        exercise(&t)
    });
    assert!(report.accepted > 0 && report.rejected > 0, "{report:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn tokenizer_json() {
    let dir = dir("json");
    let seeds: Vec<Vec<u8>> = spm_seeds()
        .iter()
        .enumerate()
        .map(|(i, model)| {
            let spm = dir.join(format!("seed{i}.model"));
            write(&spm, model);
            let json = dir.join(format!("seed{i}.json"));
            DebertaTokenizer::from_spm_model(&spm)
                .unwrap()
                .save(&json)
                .unwrap();
            std::fs::read(json).unwrap()
        })
        .collect();
    let path = dir.join("tokenizer.json");
    let report = fuzz("deberta tokenizer.json", 12, 1000, &seeds, |bytes| {
        write(&path, bytes);
        let t = DebertaTokenizer::from_tokenizer_json(&path).map_err(|e| format!("{e:#}"))?;
        exercise(&t)
    });
    assert!(report.accepted > 0 && report.rejected > 0, "{report:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn labelled_csv() {
    let dir = dir("csv");
    let path = dir.join("reviews.csv");
    let params = DataParams {
        filter_column: Some("source".into()),
        filter_value: Some("imdb".into()),
        max_rows: Some(3),
        ..DataParams::default()
    };
    let seeds = vec![
        b"text,label,source\n\"a fine, long film\",1,imdb\ndull,0,imdb\nok,1,rt\n\"so \"\"so\"\"\",0,imdb\n"
            .to_vec(),
        b"source,label,text\nimdb,0,x\nimdb,1,y\n".to_vec(),
    ];
    let report = fuzz("labelled csv", 13, 1500, &seeds, |bytes| {
        write(&path, bytes);
        let texts = LabelledTexts::from_csv(&path, &params, 1, 3).map_err(|e| format!("{e:#}"))?;
        assert_eq!(texts.texts.len(), texts.labels.len());
        assert!(texts.labels.iter().all(|&l| l < 2));
        Ok(())
    });
    assert!(report.accepted > 0 && report.rejected > 0, "{report:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn config_json() {
    let seeds: Vec<Vec<u8>> = ["bucketed", "unbucketed"]
        .iter()
        .map(|name| std::fs::read(fixture(name).join("config.json")).unwrap())
        .collect();
    let report = fuzz("deberta config.json", 14, 2000, &seeds, |bytes| {
        let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
        let config = DebertaV2Config::from_json(text).map_err(|e| format!("{e:#}"))?;
        // The derived sizes of an accepted config must not panic either.
        let _ = (
            config.head_size(),
            config.embedding_width(),
            config.relative_span(),
            config.position_embedding_span(),
        );
        Ok(())
    });
    assert!(report.accepted > 0 && report.rejected > 0, "{report:?}");
}

/// `model.safetensors` of the tiny parity checkpoint, read into a model of its config.
#[test]
fn weights_safetensors() {
    let dir = dir("weights");
    let device = Device::flex();
    let source = fixture("bucketed");
    std::fs::copy(source.join("config.json"), dir.join("config.json")).unwrap();
    let (_, mut model, _) = load_pretrained(&source, &device).unwrap();
    let seeds = vec![std::fs::read(source.join("model.safetensors")).unwrap()];
    let path = dir.join("model.safetensors");
    let report = fuzz("deberta model.safetensors", 15, 300, &seeds, |bytes| {
        write(&path, bytes);
        load_weights(&mut model, &dir).map_err(|e| format!("{e:#}"))?;
        Ok(())
    });
    assert!(report.accepted > 0 && report.rejected > 0, "{report:?}");
    std::fs::remove_dir_all(dir).ok();
}

/// A copy of the parity checkpoint `name` whose config.json has `key` set to `value`.
fn edited_checkpoint(name: &str, key: &str, value: serde_json::Value) -> PathBuf {
    let dir = dir(&format!("edited-{name}-{key}"));
    test_support::edited_hf_dir(&fixture(name), &dir, key, value);
    dir
}

/// Sizes in config.json beyond what the weight file holds are errors naming the key, checked
/// before the model is allocated (a vocabulary of 10^12 would otherwise abort the process).
#[test]
fn config_sizes_are_bounded_by_the_weights() {
    let device = Device::flex();
    let huge = 1_000_000_000_000u64;
    let cases = vec![
        ("vocab_size", huge),
        ("hidden_size", 1 << 40),
        ("num_hidden_layers", 100_000),
        ("intermediate_size", huge),
        ("type_vocab_size", huge),
    ];
    for name in ["bucketed", "bucketed-bin", "unbucketed"] {
        let mut keys = cases.clone();
        if name == "unbucketed" {
            // Absolute positions are added to the input; relative ones are not bucketed.
            keys.push(("max_position_embeddings", huge));
            keys.push(("max_relative_positions", huge));
        } else {
            keys.push(("position_buckets", huge));
        }
        for (key, value) in keys {
            let dir = edited_checkpoint(name, key, value.into());
            let err = match load_pretrained(&dir, &device) {
                Ok(_) => panic!("{name}: {key} = {value} was accepted"),
                Err(e) => format!("{e:#}"),
            };
            assert!(
                err.contains(&format!("`{key}` is {value}")) && err.contains("config.json"),
                "{name}, {key}: {err}"
            );
            std::fs::remove_dir_all(dir).ok();
        }
        // The fixture itself still loads.
        load_pretrained(&fixture(name), &device).unwrap();
    }
}

/// `load_pretrained` of a mutated config.json next to the real weights: numbers made huge,
/// negative or garbled load or are refused, never allocate a model the file cannot back.
#[test]
fn config_json_with_weights() {
    let device = Device::flex();
    for (name, seed) in [("bucketed", 16), ("unbucketed", 17)] {
        let dir = dir(&format!("config-with-weights-{name}"));
        let source = fixture(name);
        std::fs::copy(
            source.join("model.safetensors"),
            dir.join("model.safetensors"),
        )
        .unwrap();
        let seeds = vec![std::fs::read(source.join("config.json")).unwrap()];
        let path = dir.join("config.json");
        let label = format!("deberta config.json + weights ({name})");
        let report = fuzz(&label, seed, 300, &seeds, |bytes| {
            write(&path, bytes);
            load_pretrained(&dir, &device).map_err(|e| format!("{e:#}"))?;
            Ok(())
        });
        assert!(report.accepted > 0 && report.rejected > 0, "{report:?}");
        std::fs::remove_dir_all(dir).ok();
    }
}
