//! The README's complete example: an MLP classifying the two-moons data set.
//! Run: `cargo run --release --example mlp` (TensorBoard logs land in `lightning_logs/`).
use anyhow::Result;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::optim::AdamConfig;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use burn_lightning::OptimizerSetup;
use burn_lightning::data::DataLoader;
use burn_lightning::optim::Optimizers;
use burn_lightning::{
    HookContext, LightningDataModule, LightningModule, LogOptions, Trainer, TrainerConfig,
};

#[derive(Module, Debug)]
pub struct Mlp {
    hidden: Linear,
    out: Linear,
    act: Relu,
}

pub type Batch = (Tensor<2>, Tensor<1, Int>);

impl Mlp {
    pub fn new(width: usize) -> Self {
        let device = Device::flex();
        Self {
            hidden: LinearConfig::new(2, width).init(&device),
            out: LinearConfig::new(width, 2).init(&device),
            act: Relu::new(),
        }
    }
    /// Mean cross-entropy and accuracy of a batch.
    pub fn loss(&self, (x, y): &Batch) -> (Tensor<1>, f64) {
        let logits = self
            .out
            .forward(self.act.forward(self.hidden.forward(x.clone())));
        let accuracy = logits
            .clone()
            .argmax(1)
            .squeeze_dim::<1>(1)
            .equal(y.clone())
            .float()
            .mean()
            .into_scalar::<f32>() as f64;
        let picked = log_softmax(logits, 1).gather(1, y.clone().unsqueeze_dim(1));
        (picked.mean().neg(), accuracy)
    }
}

impl LightningModule for Mlp {
    type Batch = Batch;

    fn training_step(
        &mut self,
        batch: &Batch,
        _idx: usize,
        cx: &mut HookContext,
    ) -> Result<Tensor<1>> {
        let (loss, _) = self.loss(batch);
        cx.log_tensor("train_loss", &loss, LogOptions::default().prog_bar());
        Ok(loss)
    }
    fn validation_step(
        &mut self,
        batch: &Batch,
        _idx: usize,
        cx: &mut HookContext,
    ) -> Result<Option<Tensor<1>>> {
        let (loss, accuracy) = self.loss(batch);
        cx.log_tensor("val_loss", &loss, LogOptions::default().prog_bar());
        cx.log("val_acc", accuracy);
        Ok(Some(loss))
    }
    fn configure_optimizers(&mut self, _trainer: &mut OptimizerSetup<'_>) -> Result<Optimizers> {
        Ok(Optimizers::single(AdamConfig::new().init(), 1e-2))
    }
    /// Class probabilities, one row per example.
    fn predict_step(
        &mut self,
        (x, _): &Batch,
        _idx: usize,
        _cx: &mut HookContext,
    ) -> Result<Tensor<2>> {
        let logits = self
            .out
            .forward(self.act.forward(self.hidden.forward(x.clone())));
        Ok(burn::tensor::activation::softmax(logits, 1))
    }
}

/// Two interleaving half circles with Gaussian noise, split 80/20 into train and validation.
pub struct TwoMoons {
    pub examples: usize,
    pub batch_size: usize,
    pub seed: u64,
    points: Vec<([f32; 2], i64)>,
}

impl TwoMoons {
    pub fn new(examples: usize, batch_size: usize, seed: u64) -> Self {
        Self {
            examples,
            batch_size,
            seed,
            points: Vec::new(),
        }
    }
    fn loader(&self, range: std::ops::Range<usize>) -> DataLoader<Batch> {
        let points = self.points[range].to_vec();
        DataLoader::new(points, self.batch_size, |items: Vec<([f32; 2], i64)>| {
            let device = Device::flex();
            let n = items.len();
            let xs: Vec<f32> = items.iter().flat_map(|(x, _)| *x).collect();
            let ys: Vec<i64> = items.iter().map(|(_, y)| *y).collect();
            Ok((
                Tensor::<1>::from_floats(xs.as_slice(), &device).reshape([n, 2]),
                Tensor::<1, Int>::from_ints(ys.as_slice(), &device),
            ))
        })
    }
}

impl LightningDataModule for TwoMoons {
    type Batch = Batch;

    fn setup(&mut self, _stage: burn_lightning::Stage) -> Result<()> {
        // A small xorshift keeps the data identical on every platform and run.
        let mut state = self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f32 / (1u64 << 53) as f32
        };
        self.points = (0..self.examples)
            .map(|i| {
                let label = (i % 2) as i64;
                let t = uniform() * std::f32::consts::PI;
                let (x, y) = if label == 0 {
                    (t.cos(), t.sin())
                } else {
                    (1.0 - t.cos(), 0.5 - t.sin())
                };
                (
                    [x + 0.1 * (uniform() - 0.5), y + 0.1 * (uniform() - 0.5)],
                    label,
                )
            })
            .collect();
        Ok(())
    }
    fn train_dataloader(&mut self) -> Result<DataLoader<Batch>> {
        Ok(self.loader(0..self.examples * 4 / 5).shuffle(self.seed))
    }
    fn val_dataloader(&mut self) -> Result<Option<DataLoader<Batch>>> {
        Ok(Some(self.loader(self.examples * 4 / 5..self.examples)))
    }
    /// The validation split, in order.
    fn predict_dataloader(&mut self) -> Result<DataLoader<Batch>> {
        Ok(self.loader(self.examples * 4 / 5..self.examples))
    }
}

#[allow(dead_code)]
fn main() -> Result<()> {
    let config = TrainerConfig {
        max_epochs: Some(20),
        accelerator: burn_lightning::trainer::Accelerator::Cpu,
        ..Default::default()
    };
    let mut trainer = Trainer::new(config).seed(7);
    trainer.fit(Mlp::new(32), &mut TwoMoons::new(2000, 64, 7), None)?;
    println!(
        "val_acc = {:.3}, logs in {}",
        trainer.callback_metrics()["val_acc"],
        trainer.log_dir().unwrap().display()
    );
    Ok(())
}
