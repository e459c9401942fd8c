//! The real `bert` binary on a small generated corpus with a tiny model: pretraining trains a
//! WordPiece vocabulary, builds and caches the examples, learns, logs MLM/NSP metrics and
//! exports a Hugging Face directory; `fill-mask` reads it; `add-tokens` extends it keeping the
//! original embedding rows; bad settings are named.

use std::path::{Path, PathBuf};
use std::process::Output;

use test_support::cli::{ExpectedHelp, assert_help};
use test_support::output_text as text;

use lightning_toolkit::hf::read_safetensors;

fn bert(cwd: &Path, args: &[&str]) -> Output {
    test_support::run(env!("CARGO_BIN_EXE_bert"), cwd, args)
}

fn temp_dir(name: &str) -> PathBuf {
    test_support::temp_dir("bert-cli", name)
}

/// 60 blank-line separated documents, each a little story whose sentences follow a fixed
/// pattern, so both the masked words and the sentence order are learnable.
fn write_corpus(path: &Path) {
    let animals = ["cat", "dog", "bird", "horse", "fish", "cow"];
    let places = ["garden", "river", "house", "field", "forest"];
    let mut corpus = String::new();
    for d in 0..60 {
        let a = animals[d % animals.len()];
        let p = places[d % places.len()];
        corpus.push_str(&format!(
            "The {a} woke up early. The {a} walked to the {p}. At the {p} the {a} found food. \
             Then the {a} ate the food. After eating the {a} slept. The {a} dreamed of the {p}.\n\n"
        ));
    }
    std::fs::write(path, corpus).unwrap();
}

fn write_config(dir: &Path) -> PathBuf {
    let corpus = dir.join("stories.txt");
    write_corpus(&corpus);
    let config = format!(
        r#"seed: 3
root_dir: {root}/run
dataset:
  name: corpus
  params:
    data_dir: {root}/data
    corpus:
      path: {corpus}
    vocab_size: 120
    min_frequency: 1
    max_seq_len: 32
    dupe_factor: 3
    val_fraction: 0.25
    batch_size: 16
    eval_batch_size: 32
    num_workers: 0
model:
  name: bert
  params:
    hidden_size: 32
    num_hidden_layers: 1
    num_attention_heads: 2
    intermediate_size: 64
    max_position_embeddings: 32
    hidden_dropout_prob: 0.0
    attention_probs_dropout_prob: 0.0
    print_freq: 0
optimizer:
  name: adamw
  params:
    lr: 5.0e-3
    weight_decay: 0.01
scheduler:
  name: linear_warmup
  params:
    num_warmup_steps: 5
    interval: step
trainer:
  max_epochs: 30
  enable_progress_bar: false
  enable_model_summary: false
  num_sanity_val_steps: 0
  log_every_n_steps: 1
"#,
        root = dir.display(),
        corpus = corpus.display()
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, config).unwrap();
    path
}

fn column(metrics: &str, name: &str) -> Vec<f64> {
    test_support::metrics_column(metrics, name)
}

#[test]
fn pretrain_export_fill_mask_and_add_tokens() {
    let dir = temp_dir("fit");
    let config = write_config(&dir);
    let cfg = config.to_str().unwrap();

    let out = bert(&dir, &["fit", "-f", cfg]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("built in"), "{}", text(&out));

    // It learns: the best held-out MLM loss is well under the first step's, and NSP gets well
    // above chance (the tiny model overfits later, so the best epoch is what counts).
    let metrics =
        std::fs::read_to_string(dir.join("run/lightning_logs/version_0/metrics.csv")).unwrap();
    let first = column(&metrics, "train_mlm_loss_step")[0];
    let val = column(&metrics, "val_mlm_loss");
    let nsp = column(&metrics, "val_nsp_acc");
    let best_val = val.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(best_val < 0.65 * first, "{first} → {val:?}");
    assert!(nsp.iter().any(|&a| a > 0.75), "{nsp:?}");
    assert!(!column(&metrics, "val_perplexity").is_empty());
    assert!(!column(&metrics, "train_tokens_per_sec").is_empty());

    // The export is a Hugging Face directory that loads with nothing missing.
    let hf = dir.join("run/hf");
    for file in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "vocab.txt",
    ] {
        assert!(hf.join(file).is_file(), "{file} missing");
    }
    let (_, _, report) =
        bert::weights::load_pretrained(&hf, &burn::prelude::Device::flex()).unwrap();
    assert!(
        report.initialised.is_empty() && report.unused.is_empty(),
        "{report:?}"
    );

    // Continued pretraining from the exported directory: every tensor loads, none is fresh.
    let continued = dir.join("continued");
    let out = bert(
        &dir,
        &[
            "fit",
            "-f",
            cfg,
            &format!("--model.params.pretrained={}", hf.display()),
            &format!("--root_dir={}", continued.display()),
            "--trainer.max_epochs=1",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("initialised: none; not used: none"),
        "{}",
        text(&out)
    );
    assert!(continued.join("hf/model.safetensors").is_file());

    // A second run reads the examples back from the cache.
    let again = bert(&dir, &["validate", "-f", cfg, "--ckpt-path", "best"]);
    assert!(again.status.success(), "{}", text(&again));
    let shown = String::from_utf8_lossy(&again.stdout);
    assert!(shown.contains("read from the cache"), "{}", text(&again));
    assert!(shown.contains("val_mlm_acc"), "{}", text(&again));

    // No -f: the module and data are rebuilt from the settings the checkpoint saved.
    let last = dir.join("run/lightning_logs/version_0/checkpoints/last.ckpt");
    let out = bert(&dir, &["validate", "--ckpt-path", last.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("val_mlm_acc"),
        "{}",
        text(&out)
    );

    // A damaged cache (a count the file cannot hold, which once aborted on allocation) is
    // reported and rebuilt, and the run goes on.
    let cache = dir.join("data/cache");
    for entry in std::fs::read_dir(&cache).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("examples-") {
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[8..16].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
            std::fs::write(&path, bytes).unwrap();
        }
    }
    let rebuilt = bert(&dir, &["validate", "-f", cfg, "--ckpt-path", "best"]);
    assert!(rebuilt.status.success(), "{}", text(&rebuilt));
    let stderr = String::from_utf8_lossy(&rebuilt.stderr);
    assert!(
        stderr.contains("checksum mismatch") && stderr.contains("building the examples again"),
        "{}",
        text(&rebuilt)
    );

    // fill-mask from the exported directory.
    let out = bert(
        &dir,
        &[
            "fill-mask",
            "--ckpt-path",
            hf.to_str().unwrap(),
            "the cat walked to the [MASK].",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.starts_with("[MASK] 1:"), "{shown}");
    assert_eq!(shown.lines().count(), 6, "{shown}");

    // add-tokens: one new word, one known; original rows unchanged.
    let words = dir.join("new_words.txt");
    std::fs::write(&words, "zyzzyva\ncat\n").unwrap();
    let extended = dir.join("hf-extended");
    let out = bert(
        &dir,
        &[
            "add-tokens",
            "--ckpt-path",
            hf.to_str().unwrap(),
            "--tokens",
            words.to_str().unwrap(),
            "--output",
            extended.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("added 1 of 2 tokens"),
        "{}",
        text(&out)
    );
    let name = "bert.embeddings.word_embeddings.weight";
    let before = &read_safetensors(&hf.join("model.safetensors")).unwrap()[name];
    let after = &read_safetensors(&extended.join("model.safetensors")).unwrap()[name];
    let (rows, width) = (before.shape()[0], before.shape()[1]);
    assert_eq!(after.shape().to_vec(), [rows + 1, width]);
    assert_eq!(
        &after.as_bytes()[..before.as_bytes().len()],
        before.as_bytes()
    );
    let tokenizer = bert::tokenizer::BertTokenizer::from_dir(&extended).unwrap();
    assert_eq!(
        tokenizer.encode_words("a zyzzyva").unwrap().last(),
        Some(&(rows as u32))
    );
    let (config, _, report) =
        bert::weights::load_pretrained(&extended, &burn::prelude::Device::flex()).unwrap();
    assert_eq!(config.vocab_size, rows + 1);
    assert!(report.initialised.is_empty());
    std::fs::remove_dir_all(dir).ok();
}

/// The smoke test runs the whole command: one batch of training and validation, then the
/// export of the weights in memory (fast_dev_run keeps no checkpoint).
#[test]
fn fast_dev_run_pretrains_and_exports() {
    let dir = temp_dir("fast-dev-run");
    let config = write_config(&dir);
    let out = bert(
        &dir,
        &[
            "fit",
            "-f",
            config.to_str().unwrap(),
            "--trainer.fast_dev_run=true",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("(from the last step)"), "{}", text(&out));
    let hf = dir.join("run/hf");
    let (_, _, report) =
        bert::weights::load_pretrained(&hf, &burn::prelude::Device::flex()).unwrap();
    assert!(
        report.initialised.is_empty() && report.unused.is_empty(),
        "{report:?}"
    );
    assert!(
        !dir.join("run/lightning_logs").exists(),
        "fast_dev_run logs nothing"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn shipped_config_parses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = bert(&root, &["-f", "configs/bert.yaml", "--print-config"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn bad_settings_are_named() {
    let dir = temp_dir("bad");
    let config = write_config(&dir);
    let cfg = config.to_str().unwrap();
    let cases: [(&str, &str); 4] = [
        ("--dataset.params.masked_lm_prob=1.5", "masked_lm_prob"),
        (
            "--dataset.params.corpus.path=/nonexistent/corpus.txt",
            "/nonexistent/corpus.txt",
        ),
        (
            "--model.params.num_attention_heads=3",
            "num_attention_heads",
        ),
        ("--dataset.params.max_seq_len=64", "max_position_embeddings"),
    ];
    for (arg, named) in cases {
        let out = bert(&dir, &["fit", "-f", cfg, arg]);
        assert!(!out.status.success(), "{arg} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(named), "{arg}: {err}");
        assert!(!err.contains("panicked"), "{arg}: {err}");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn help_version_and_usage_errors_follow_clap() {
    let dir = temp_dir("help");
    assert_help(
        env!("CARGO_BIN_EXE_bert"),
        &dir,
        &ExpectedHelp {
            name: "bert",
            version: env!("CARGO_PKG_VERSION"),
            commands: &["fit", "validate", "export", "fill-mask", "add-tokens"],
            keys: &[
                (
                    "dataset.params.max_seq_len",
                    "128",
                    "Tokens per example, `[CLS]` and both `[SEP]` included.",
                ),
                (
                    "model.params.hidden_act",
                    "gelu",
                    "Feed-forward activation (from scratch).",
                ),
            ],
            subcommand: ("fill-mask", "--top-k"),
        },
    );

    let out = bert(&dir, &["fit", "--top-k=x"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--top-k"),
        "{}",
        text(&out)
    );
    let out = bert(&dir, &["fill-mask"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a sentence is required: {}",
        text(&out)
    );
}

/// The warm-up + linear decay schedule is sized by the Trainer's `estimated_stepping_batches`:
/// with 5 batches an epoch (`limit_train_batches`) in windows of 3 (`accumulate_grad_batches`)
/// over 3 epochs, it spans the run's 6 optimizer steps and reaches its last rate on the last.
#[test]
fn the_schedule_spans_the_steps_the_trainer_takes() {
    let dir = temp_dir("schedule");
    let config = write_config(&dir);
    let out = bert(
        &dir,
        &[
            "fit",
            "-f",
            config.to_str().unwrap(),
            "--trainer.max_epochs=3",
            "--trainer.limit_train_batches=5",
            "--trainer.accumulate_grad_batches=3",
            "--trainer.limit_val_batches=1",
            "--scheduler.params.num_warmup_steps=1",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let metrics =
        std::fs::read_to_string(dir.join("run/lightning_logs/version_0/metrics.csv")).unwrap();
    let rates = test_support::assert_linear_decay_ends_on_the_last_step(&metrics, "lr-optimizer");
    assert_eq!(rates.len(), 6, "one rate per optimizer step: {rates:?}");
}
