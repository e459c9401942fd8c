//! TensorBoard files are read back by Python's `tensorboard` package (tags, steps, values, text,
//! histograms, hparams). CI sets `BL_PYTHON` to a venv with tensorboard; without it the
//! readback part is reported as skipped and only the Rust-side checks run.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use burn_lightning::Trainer;
use burn_lightning::loggers::{Logger, TensorBoardLogger};
use burn_lightning::trainer::Limit;
use common::mlp::TwoMoons;
use serde_json::{Value, json};

fn read_back(dir: &std::path::Path) -> Option<Value> {
    let python = std::env::var("BL_PYTHON").ok()?;
    let out = Command::new(python)
        .arg("tests/read_tensorboard.py")
        .arg(dir)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn scalars_text_histograms_and_hparams_read_back() {
    let dir = common::temp_dir("tb");
    let mut logger = TensorBoardLogger::new(&dir).unwrap();
    logger
        .log_hyperparams(&json!({"model": {"width": 16}, "optimizer": {"name": "adam"}}))
        .unwrap();
    logger
        .log_metrics(&BTreeMap::from([("loss".to_string(), 0.5)]), 3)
        .unwrap();
    logger
        .log_metrics(&BTreeMap::from([("loss".to_string(), 0.25)]), 7)
        .unwrap();
    logger
        .log_text("topics", "topic 0: stock market shares", 7)
        .unwrap();
    logger
        .log_histogram("weights", &[0.0, 1.0, 1.5, 2.0], 7)
        .unwrap();
    logger.finalize("success").unwrap();
    assert!(std::fs::metadata(logger.path()).unwrap().len() > 100);
    let Some(v) = read_back(&dir) else {
        eprintln!("skipped TensorBoard readback: BL_PYTHON is not set");
        return;
    };
    assert_eq!(v["scalars"]["loss"], json!([[3, 0.5], [7, 0.25]]));
    assert_eq!(
        v["text"]["topics/text_summary"],
        json!(["topic 0: stock market shares"])
    );
    assert_eq!(v["histograms"]["weights"], json!([4.0]));
    assert_eq!(v["hparams"]["model/width"], json!(16.0));
    assert_eq!(v["hparams"]["optimizer/name"], json!("adam"));
}

#[test]
fn a_training_run_logs_metrics_against_global_step() {
    let dir = common::temp_dir("tbfit");
    let mut config = common::quiet_config(&dir);
    config.max_epochs = Some(2);
    config.log_every_n_steps = 2;
    config.limit_val_batches = Limit::Batches(2);
    let mut trainer = Trainer::new(config)
        .seed(2)
        .hparams(json!({"width": 8}))
        .callback(burn_lightning::callbacks::LearningRateMonitor::default());
    trainer
        .fit(common::seeded_mlp(8), &mut TwoMoons::new(200, 32, 2), None)
        .unwrap();
    let run_dir = trainer.log_dir().unwrap().to_path_buf();
    assert!(run_dir.ends_with("lightning_logs/version_0"));
    let csv = std::fs::read_to_string(run_dir.join("metrics.csv")).unwrap();
    assert!(
        csv.starts_with("step,epoch,lr-optimizer,train_loss,val_acc,val_loss\n"),
        "{csv}"
    );
    assert!(run_dir.join("hparams.yaml").is_file());
    let Some(v) = read_back(&run_dir) else {
        eprintln!("skipped TensorBoard readback: BL_PYTHON is not set");
        return;
    };
    // 160 training examples / 32 = 5 optimizer steps per epoch; train_loss every 2 steps and at epoch ends.
    let steps: Vec<i64> = v["scalars"]["train_loss"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_i64().unwrap())
        .collect();
    assert_eq!(steps, vec![2, 4, 5, 6, 8, 10]);
    let val: Vec<i64> = v["scalars"]["val_loss"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_i64().unwrap())
        .collect();
    assert_eq!(val, vec![5, 10]);
    assert_eq!(
        v["scalars"]["lr-optimizer"][0][1],
        json!(0.009999999776482582)
    );
}
