//! `trainer.deterministic`: accepted with a notice saying what every seeded run already
//! guarantees (see `src/trainer/determinism.rs`), and that guarantee itself: seeded runs with
//! random draws in every step repeat bit for bit whether the option is on or off. One test in
//! its own binary: the CPU's random generator is shared by the whole process.

mod common;

use anyhow::Result;
use burn::prelude::*;
use burn_lightning::OptimizerSetup;
use burn_lightning::optim::Optimizers;
use burn_lightning::trainer::{Accelerator, Limit, deterministic_notice};
use burn_lightning::{HookContext, LightningModule, Trainer, TrainerConfig};
use common::mlp::{Batch, Mlp, TwoMoons};

/// The MLP with input dropout drawn from the backend's generator in every training step.
#[derive(Module, Debug)]
struct Dropping {
    inner: Mlp,
}

impl LightningModule for Dropping {
    type Batch = Batch;
    fn training_step(
        &mut self,
        batch: &Batch,
        i: usize,
        cx: &mut HookContext,
    ) -> Result<Tensor<1>> {
        let x = batch.0.clone();
        let keep = Tensor::<2>::random(
            x.dims(),
            burn::tensor::Distribution::Bernoulli(0.7),
            &x.device(),
        );
        self.inner
            .training_step(&(x * keep, batch.1.clone()), i, cx)
    }
    fn validation_step(
        &mut self,
        batch: &Batch,
        i: usize,
        cx: &mut HookContext,
    ) -> Result<Option<Tensor<1>>> {
        self.inner.validation_step(batch, i, cx)
    }
    fn configure_optimizers(&mut self, trainer: &mut OptimizerSetup<'_>) -> Result<Optimizers> {
        self.inner.configure_optimizers(trainer)
    }
}

fn fit(deterministic: bool, seed: u64) -> Vec<f32> {
    let dir = common::temp_dir("deterministic");
    let mut config = common::quiet_config(&dir);
    config.deterministic = deterministic;
    config.max_epochs = Some(2);
    config.limit_val_batches = Limit::Batches(1);
    config.logger = false.into();
    config.enable_checkpointing = false;
    let mut trainer = Trainer::new(config).seed(seed);
    let module = Dropping {
        inner: common::fixed_mlp(16),
    };
    let module = trainer
        .fit(module, &mut TwoMoons::new(200, 10, 1), None)
        .unwrap();
    std::fs::remove_dir_all(dir).ok();
    common::parameter_values(&module.inner)
}

#[test]
fn seeded_runs_repeat_bit_for_bit_with_or_without_deterministic_which_says_so() {
    let off = fit(false, 5);
    assert_eq!(
        off,
        fit(false, 5),
        "a seeded run repeats with the option off"
    );
    assert_eq!(off, fit(true, 5), "the option changes nothing on the CPU");
    assert_ne!(off, fit(false, 6), "the seed does change the draws");

    let cpu = TrainerConfig {
        accelerator: Accelerator::Cpu,
        deterministic: true,
        ..Default::default()
    };
    let notice = deterministic_notice(&cpu, true).expect("a notice when the option is on");
    assert!(
        notice.contains("trainer.deterministic")
            && notice.contains("already repeats bit for bit")
            && notice.contains("reseeded"),
        "{notice}"
    );
    assert!(!notice.contains("atomics"), "{notice}");
    let unseeded = deterministic_notice(&cpu, false).unwrap();
    assert!(unseeded.contains("no seed"), "{unseeded}");
    let gpu = TrainerConfig {
        accelerator: Accelerator::Cuda,
        ..cpu.clone()
    };
    let on_gpu = deterministic_notice(&gpu, true).unwrap();
    assert!(on_gpu.contains("atomics"), "{on_gpu}");
    let off_config = TrainerConfig {
        deterministic: false,
        ..cpu
    };
    assert_eq!(deterministic_notice(&off_config, true), None);
}
