//! Averaging gradients across ranks before each optimizer step.
//!
//! Two ways, by backend. burn's own collective (CUDA devices, one rank each): parameters are
//! marked distributed and burn's autodiff all-reduces each gradient (mean) as backward produces
//! it, exactly as burn-train's DDP does. Backends burn has no collective for (`flex` declares
//! `impl DistributedOps<Flex> for Flex {}`, whose `all_reduce` is `unimplemented!`): the
//! accumulated gradients are averaged through host memory once per optimizer step.

use anyhow::Result;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::{DType, TensorData};

/// Marks every float parameter of `module` as distributed (burn-train's `ModuleSharder`):
/// backward then all-reduces its gradient through burn's communication server.
pub fn mark_distributed<M: Module>(module: M) -> M {
    struct Mark;
    impl ModuleMapper for Mark {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (id, tensor, mapper) = param.consume();
            Param::from_mapped_value(id, tensor.set_distributed(id), mapper)
        }
    }
    module.map(&mut Mark)
}

struct Slot {
    dims: Vec<usize>,
    dtype: DType,
    device: Device,
}

/// Averages `grads` of `module`'s parameters with the other ranks' (a parameter without a
/// gradient on some rank counts as zero there; one without a gradient on every rank stays
/// without). `mean` is the strategy's all-reduce: it receives every gradient (and a presence
/// flag per parameter) as one flat f32 buffer, the same length on every rank, and returns the
/// element-wise mean over the ranks — one collective per optimizer step, not one per parameter.
pub fn all_reduce_gradients<M: Module>(
    module: &M,
    grads: &mut GradientsParams,
    mean: impl FnOnce(Vec<f32>) -> Result<Vec<f32>>,
) -> Result<()> {
    struct Collect<'a> {
        grads: &'a mut GradientsParams,
        flat: Vec<f32>,
        present: Vec<f32>,
        slots: Vec<Slot>,
    }
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let grad = self.grads.remove::<D>(param.id);
            let like = grad.clone().unwrap_or_else(|| param.val().inner());
            let dims = like.dims().to_vec();
            self.present.push(f32::from(u8::from(grad.is_some())));
            match grad {
                Some(g) => self
                    .flat
                    .extend(g.into_data().convert::<f32>().iter::<f32>()),
                None => self
                    .flat
                    .extend(std::iter::repeat_n(0.0, dims.iter().product())),
            }
            self.slots.push(Slot {
                dims,
                dtype: like.dtype(),
                device: like.device(),
            });
        }
    }
    let mut collect = Collect {
        grads,
        flat: Vec::new(),
        present: Vec::new(),
        slots: Vec::new(),
    };
    module.visit(&mut collect);
    let Collect {
        grads,
        mut flat,
        present,
        slots,
    } = collect;
    let params = present.len();
    let flat_len = flat.len();
    flat.extend(present);
    let mean = mean(flat)?;
    anyhow::ensure!(
        mean.len() == params + flat_len,
        "the gradient all-reduce returned {} values for {} sent",
        mean.len(),
        params + flat_len
    );
    let (values, present) = mean.split_at(mean.len() - params);
    struct Register<'a> {
        grads: &'a mut GradientsParams,
        values: &'a [f32],
        present: &'a [f32],
        slots: &'a [Slot],
        offset: usize,
        next: usize,
    }
    impl ModuleVisitor for Register<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let slot = &self.slots[self.next];
            let len: usize = slot.dims.iter().product();
            if self.present[self.next] > 0.0 {
                let values = self.values[self.offset..self.offset + len].to_vec();
                let data = TensorData::new(values, slot.dims.clone()).convert_dtype(slot.dtype);
                self.grads
                    .register::<D>(param.id, Tensor::from_data(data, &slot.device));
            }
            self.offset += len;
            self.next += 1;
        }
    }
    module.visit(&mut Register {
        grads,
        values,
        present,
        slots: &slots,
        offset: 0,
        next: 0,
    });
    Ok(())
}

/// Replaces every float parameter of `module` with rank 0's value (DDP starts all replicas from
/// rank 0's weights, whatever each rank's `configure_model` drew). `broadcast` is the strategy's:
/// it receives rank 0's tensors (`Some` on rank 0 alone) and returns them on every rank.
pub fn broadcast_parameters<M: Module>(
    module: M,
    rank: usize,
    broadcast: impl FnOnce(Option<Vec<TensorData>>) -> Result<Vec<TensorData>>,
) -> Result<M> {
    struct Read(Vec<TensorData>);
    impl ModuleVisitor for Read {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.val().into_data());
        }
    }
    let mine = (rank == 0).then(|| {
        let mut read = Read(Vec::new());
        module.visit(&mut read);
        read.0
    });
    let values = broadcast(mine)?;
    if rank == 0 {
        return Ok(module);
    }
    struct Write {
        values: std::vec::IntoIter<TensorData>,
        mismatch: bool,
    }
    impl ModuleMapper for Write {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            match self.values.next() {
                Some(data) if data.shape().as_slice() == param.val().dims().as_slice() => param
                    .map(|t| {
                        let tracked = t.is_require_grad();
                        Tensor::from_data(data, &t.device()).set_require_grad(tracked)
                    }),
                _ => {
                    self.mismatch = true;
                    param
                }
            }
        }
    }
    let count = values.len();
    let mut write = Write {
        values: values.into_iter(),
        mismatch: false,
    };
    let module = module.map(&mut write);
    anyhow::ensure!(
        !write.mismatch && write.values.len() == 0,
        "rank {rank}'s model differs from rank 0's ({count} parameter tensors there): every rank must build the same model"
    );
    Ok(module)
}
