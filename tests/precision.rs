//! Mixed precision on the CPU backend: `bf16-mixed` and `16-mixed` train the MLP with
//! half-precision steps while its weights stay float32, and the result differs from a float32
//! run (the step really computed in half precision).

mod common;

use burn::tensor::DType;
use burn_lightning::Trainer;
use burn_lightning::trainer::{Precision, all_parameters_are};
use common::mlp::TwoMoons;

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
