//! Mixed precision (`16-mixed`, `bf16-mixed`): the training step computes in half precision on a
//! cast view of the module while the weights the optimizer updates stay float32 ("master
//! weights"); gradients flow back through the casts into float32. `16-mixed` also scales the loss
//! so small float16 gradients do not flush to zero, and skips steps whose gradients overflowed,
//! as PyTorch's `GradScaler`. Validation, test and predict run in float32.

use std::any::Any;

use anyhow::Result;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::FloatDType;

use crate::context::HookContext;
use crate::data::Batch;
use crate::module::LightningModule;

/// Casts every float parameter to `dtype`, keeping the float32 originals (in visit order).
struct ToHalf {
    dtype: FloatDType,
    masters: Vec<Box<dyn Any>>,
}

impl ModuleMapper for ToHalf {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.dtype;
        let masters = &mut self.masters;
        param.map(|tensor| {
            masters.push(Box::new(tensor.clone()));
            tensor.cast(dtype)
        })
    }
}

/// Puts the float32 originals back, in the same order.
struct Restore {
    masters: std::vec::IntoIter<Box<dyn Any>>,
}

impl ModuleMapper for Restore {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let master = self
            .masters
            .next()
            .expect("one master per parameter")
            .downcast::<Tensor<D>>()
            .expect("same parameter order");
        param.map(|_| *master)
    }
}

/// Runs `training_step` on a `dtype` view of `module` with a `dtype` batch; returns the module
/// with its float32 weights back and the loss in float32 (still connected to those weights).
pub(crate) fn mixed_training_step<M: LightningModule>(
    module: M,
    batch: &M::Batch,
    batch_idx: usize,
    cx: &mut HookContext,
    dtype: FloatDType,
) -> Result<(M, Tensor<1>)> {
    let mut to_half = ToHalf {
        dtype,
        masters: Vec::new(),
    };
    let mut half = module.map(&mut to_half);
    let half_batch = batch.clone().cast_float(dtype);
    let loss = half.training_step(&half_batch, batch_idx, cx);
    let module = half.map(&mut Restore {
        masters: to_half.masters.into_iter(),
    });
    Ok((module, loss?.cast(FloatDType::F32)))
}

/// Whether every parameter of `module` is stored as `dtype` (tests and sanity checks).
pub fn all_parameters_are<M: Module>(module: &M, dtype: burn::tensor::DType) -> bool {
    struct Check(burn::tensor::DType, bool);
    impl ModuleVisitor for Check {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.1 &= param.val().dtype() == self.0;
        }
    }
    let mut check = Check(dtype, true);
    module.visit(&mut check);
    check.1
}
