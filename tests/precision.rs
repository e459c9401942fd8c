//! Mixed precision on the CPU backend: `bf16-mixed` and `16-mixed` train the MLP with
//! half-precision steps while its weights stay float32, and the result differs from a float32
//! run (the step really computed in half precision).

mod common;

use burn::tensor::DType;
use burn_lightning::Trainer;
use burn_lightning::trainer::{Precision, all_parameters_are};
use common::mlp::TwoMoons;

/// The tests compare weights across runs, and initialisation seeds the process-wide backend RNG:
/// one test at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn train(precision: Precision) -> (Vec<f32>, f64, bool) {
    let dir = common::temp_dir("precision");
    let mut config = common::quiet_config(&dir);
    config.max_epochs = Some(15);
    config.precision = precision;
    let mut trainer = Trainer::new(config).seed(5);
    let module = trainer
        .fit(common::seeded_mlp(16), &mut TwoMoons::new(600, 32, 5), None)
        .unwrap();
    (
        common::parameter_values(&module),
        trainer.callback_metrics()["val_acc"],
        all_parameters_are(&module, DType::F32),
    )
}

#[test]
fn half_precision_steps_keep_float32_weights_and_learn() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (full, full_acc, _) = train(Precision::F32);
    assert!(full_acc > 0.85, "float32 val_acc {full_acc}");
    for precision in [Precision::Bf16Mixed, Precision::F16Mixed] {
        let (weights, acc, float32) = train(precision);
        assert!(float32, "{precision:?}: master weights are not float32");
        assert!(acc > 0.85, "{precision:?}: val_acc {acc}");
        assert_ne!(weights, full, "{precision:?} computed exactly as float32");
        let max_diff = weights
            .iter()
            .zip(&full)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            max_diff < 0.5,
            "{precision:?} drifted far from float32: {max_diff}"
        );
    }
}

#[test]
fn a_16_mixed_run_resumes_exactly_with_its_loss_scaler() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let run = |dir: &std::path::Path, epochs: i64, ckpt: Option<&str>| {
        let mut config = common::quiet_config(dir);
        config.max_epochs = Some(epochs);
        config.precision = Precision::F16Mixed;
        let mut trainer = Trainer::new(config).seed(9);
        let module = trainer
            .fit(common::seeded_mlp(16), &mut TwoMoons::new(400, 32, 9), ckpt)
            .unwrap();
        (common::parameter_values(&module), trainer)
    };
    let straight_dir = common::temp_dir("mixed-straight");
    let (straight, _) = run(&straight_dir, 3, None);

    let dir = common::temp_dir("mixed-resume");
    let (_, first) = run(&dir, 2, None);
    let last = first.last_checkpoint_path().unwrap().to_path_buf();
    let scaler = burn_lightning::checkpoint::Checkpoint::load(&last)
        .unwrap()
        .state
        .grad_scaler
        .expect("a 16-mixed checkpoint holds its loss scaler");
    // Float16 overflows at the initial scale of 65536 at least once, so the scale has come down.
    assert!(
        scaler.scale < 65536.0 && scaler.skipped_steps > 0,
        "{scaler:?}"
    );
    let (resumed, _) = run(&dir, 3, Some(last.to_str().unwrap()));
    assert_eq!(
        resumed, straight,
        "resume from a 16-mixed checkpoint is not exact"
    );
}
