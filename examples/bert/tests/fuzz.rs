//! Seeded fuzzing of BERT's readers of outside input: `tokenizer.json`, `vocab.txt`,
//! `config.json`, the checkpoint's weights and the pretraining example cache. Each mutated file
//! loads (and then encodes, for tokenizers) or is refused with an error: never a panic, an
//! abort or a hang. Case counts are fixed so CI stays fast.

use std::path::{Path, PathBuf};

use bert::config::BertConfig;
use bert::example_cache::{read_examples, write_examples};
use bert::masking::PretrainingExample;
use bert::tokenizer::{BertTokenizer, WordPieceTraining};
use bert::weights::{load_pretrained, load_weights};
use burn::prelude::*;
use test_support::fuzz::fuzz;

fn dir(name: &str) -> PathBuf {
    test_support::temp_dir("bert-fuzz", name)
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("writing a fuzz case");
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/parity")
        .join(name)
}

fn trained() -> BertTokenizer {
    let texts = [
        "The river bank flooded after the storm.",
        "She deposited the money at the bank on Monday.",
        "Unbelievable! The fish were swimming upstream, héllo naïve café.",
    ];
    let settings = WordPieceTraining {
        vocab_size: 120,
        min_frequency: 1,
        lowercase: true,
    };
    BertTokenizer::train(&texts, &settings).unwrap()
}

/// Texts every accepted tokenizer must encode without panicking.
fn exercise(t: &BertTokenizer) -> Result<(), String> {
    for text in [
        "the river bank",
        "",
        "Unbelievable!!  héllo\t😀 中文 \u{301}",
    ] {
        t.encode_words(text).map_err(|e| format!("{e:#}"))?;
        t.encode_sentence(text).map_err(|e| format!("{e:#}"))?;
    }
    Ok(())
}

#[test]
fn tokenizer_json() {
    let dir = dir("json");
    let path = dir.join("tokenizer.json");
    let seeds = vec![trained().to_json().unwrap().into_bytes()];
    let report = fuzz("bert tokenizer.json", 21, 1000, &seeds, |bytes| {
        write(&path, bytes);
        let t = BertTokenizer::from_tokenizer_json(&path).map_err(|e| format!("{e:#}"))?;
        exercise(&t)
    });
    assert!(report.accepted > 0 && report.rejected > 0, "{report:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn vocab_txt() {
    let dir = dir("vocab");
    let seed_dir = dir.join("seed");
    std::fs::create_dir_all(&seed_dir).unwrap();
    trained().save(&seed_dir).unwrap();
    let seeds = vec![std::fs::read(seed_dir.join("vocab.txt")).unwrap()];
    let path = dir.join("vocab.txt");
    let report = fuzz("bert vocab.txt", 22, 1000, &seeds, |bytes| {
        write(&path, bytes);
        let t = BertTokenizer::from_vocab_txt(&path, true).map_err(|e| format!("{e:#}"))?;
        exercise(&t)
    });
    assert!(report.accepted > 0 && report.rejected > 0, "{report:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn config_json() {
    let seeds: Vec<Vec<u8>> = ["bertmodel", "pretraining"]
        .iter()
        .map(|name| std::fs::read(fixture(name).join("config.json")).unwrap())
        .collect();
    let report = fuzz("bert config.json", 23, 2000, &seeds, |bytes| {
        let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
        let config = BertConfig::from_json(text).map_err(|e| format!("{e:#}"))?;
        let _ = config.head_size();
        Ok(())
    });
    assert!(report.accepted > 0 && report.rejected > 0, "{report:?}");
}

/// `model.safetensors` of the tiny parity checkpoint, read into a model of its config.
#[test]
fn weights_safetensors() {
    let dir = dir("weights");
    let device = Device::flex();
    let source = fixture("pretraining");
    std::fs::copy(source.join("config.json"), dir.join("config.json")).unwrap();
    let (_, mut model, _) = load_pretrained(&source, &device).unwrap();
    let seeds = vec![std::fs::read(source.join("model.safetensors")).unwrap()];
    let path = dir.join("model.safetensors");
    let report = fuzz("bert model.safetensors", 24, 300, &seeds, |bytes| {
        write(&path, bytes);
        load_weights(&mut model, &dir).map_err(|e| format!("{e:#}"))?;
        Ok(())
    });
    assert!(report.accepted > 0 && report.rejected > 0, "{report:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn example_cache() {
    let dir = dir("cache");
    let path = dir.join("examples.bin");
    let example = |n: u32, random: bool| PretrainingExample {
        input_ids: vec![2, n, n + 1, 3, 70000 + n, 9, 3],
        segment_a_len: 4,
        masked_positions: vec![1, 5],
        masked_labels: vec![n, 11],
        is_random_next: random,
    };
    let mut seeds = Vec::new();
    for examples in [
        vec![example(5, false), example(6, true), example(7, false)],
        vec![example(1, true)],
        vec![],
    ] {
        write_examples(&path, &examples).unwrap();
        seeds.push(std::fs::read(&path).unwrap());
    }
    let report = fuzz("bert example cache", 25, 2000, &seeds, |bytes| {
        write(&path, bytes);
        let examples = read_examples(&path).map_err(|e| format!("{e:#}"))?;
        // What is accepted must be what the pipeline can batch.
        for e in &examples {
            assert!(usize::from(e.segment_a_len) <= e.input_ids.len());
            assert_eq!(e.masked_positions.len(), e.masked_labels.len());
            assert!(
                e.masked_positions
                    .iter()
                    .all(|&p| usize::from(p) < e.input_ids.len())
            );
        }
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

/// Sizes in config.json beyond what model.safetensors holds are errors naming the key, checked
/// before the model is allocated (a vocabulary of 10^12 would otherwise abort the process).
#[test]
fn config_sizes_are_bounded_by_the_weights() {
    let device = Device::flex();
    for name in ["bertmodel", "pretraining"] {
        for (key, value) in [
            ("vocab_size", 1_000_000_000_000u64),
            ("hidden_size", 1 << 40),
            ("num_hidden_layers", 100_000),
            ("intermediate_size", 1_000_000_000_000),
            ("max_position_embeddings", 1_000_000_000_000),
            ("type_vocab_size", 1_000_000_000_000),
        ] {
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

/// `load_pretrained` of a mutated config.json next to the real model.safetensors: numbers made
/// huge, negative or garbled load or are refused, never allocate a model the file cannot back.
#[test]
fn config_json_with_weights() {
    let dir = dir("config-with-weights");
    let device = Device::flex();
    let source = fixture("pretraining");
    std::fs::copy(
        source.join("model.safetensors"),
        dir.join("model.safetensors"),
    )
    .unwrap();
    let seeds = vec![std::fs::read(source.join("config.json")).unwrap()];
    let path = dir.join("config.json");
    let report = fuzz("bert config.json + weights", 26, 600, &seeds, |bytes| {
        write(&path, bytes);
        load_pretrained(&dir, &device).map_err(|e| format!("{e:#}"))?;
        Ok(())
    });
    assert!(report.accepted > 0 && report.rejected > 0, "{report:?}");
    std::fs::remove_dir_all(dir).ok();
}
