//! A two-layer module the unit tests of the module handle and of the callbacks that use it share.

use anyhow::Result;
use burn::module::{ModuleMapper, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::SgdConfig;
use burn::prelude::*;

use crate::HookContext;
use crate::LightningModule;
use crate::optim::{LightningOptimizer, Optimizers};

/// `head(backbone(x))`, summed: a module with a `backbone` to freeze and a `head` to train.
#[derive(Module, Debug)]
pub struct Net {
    pub backbone: Linear,
    pub head: Linear,
}

impl Net {
    /// Fixed weights (not the shared RNG: tests run in parallel) on `device`.
    pub fn new(device: &Device) -> Self {
        /// Deterministic values, keeping each parameter's device and gradient requirement.
        struct Fill(f32);
        impl ModuleMapper for Fill {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                self.0 += 0.1;
                let shift = self.0;
                param.map(|t| {
                    let dims = t.dims();
                    let n = dims.iter().product::<usize>();
                    let v: Vec<f32> = (0..n)
                        .map(|i| (i as f32 * 0.37 + shift).sin() * 0.5)
                        .collect();
                    Tensor::<1>::from_floats(v.as_slice(), &t.device())
                        .reshape(dims)
                        .set_require_grad(t.is_require_grad())
                })
            }
        }
        Self {
            backbone: LinearConfig::new(2, 3).init(device),
            head: LinearConfig::new(3, 1).init(device),
        }
        .map(&mut Fill(0.0))
    }

    /// Mean squared output (a loss every parameter gets a gradient from).
    pub fn loss(&self, x: &Tensor<2>) -> Tensor<1> {
        let y = self.head.forward(self.backbone.forward(x.clone()));
        y.powf_scalar(2.0).mean()
    }
}

impl LightningModule for Net {
    type Batch = Tensor<2>;

    fn training_step(
        &mut self,
        batch: &Tensor<2>,
        _idx: usize,
        _cx: &mut HookContext,
    ) -> Result<Tensor<1>> {
        Ok(self.loss(batch))
    }
    fn configure_optimizers(
        &mut self,
        _trainer: &mut crate::OptimizerSetup<'_>,
    ) -> Result<Optimizers> {
        Ok(Optimizers::single(SgdConfig::new().init(), 0.1))
    }
}

/// A batch on `device`.
pub fn batch(device: &Device) -> Tensor<2> {
    Tensor::<1>::from_floats([0.5, -1.0, 1.5, 2.0, -0.5, 0.25].as_slice(), device).reshape([3, 2])
}

/// One SGD step of `net` on [`batch`] through `optimizer` (backward, then step).
pub fn train_step(net: Net, optimizer: &mut LightningOptimizer) -> Net {
    let device = net.backbone.weight.val().device();
    let loss = net.loss(&batch(&device));
    optimizer.backward(&net, &loss);
    optimizer.step(net)
}

/// An SGD optimizer at rate 0.1.
pub fn sgd() -> LightningOptimizer {
    LightningOptimizer::new(SgdConfig::new().init(), 0.1)
}
