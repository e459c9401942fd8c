//! Gradient clipping over all parameters at once, as PyTorch's `clip_grad_norm_` and
//! `clip_grad_value_` do (burn's own norm clipping works tensor by tensor).

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Lightning's `gradient_clip_algorithm`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ClipAlgorithm {
    /// Scale all gradients so that their global L2 norm is at most the clip value.
    #[default]
    Norm,
    /// Clamp every gradient element to `[-value, value]`.
    Value,
}

/// Sum over parameters of `‖g‖ₚᵖ`, per parameter and in total (p = `norm_type`).
struct NormVisitor<'a> {
    grads: &'a GradientsParams,
    norm_type: f64,
    path: Vec<String>,
    per_param: Vec<(String, f64)>,
}

impl ModuleVisitor for NormVisitor<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            let p = self.norm_type;
            let norm = if p.is_infinite() {
                grad.abs().max().into_scalar::<f64>()
            } else {
                grad.abs()
                    .powf_scalar(p)
                    .sum()
                    .into_scalar::<f64>()
                    .powf(1.0 / p)
            };
            let name = if self.path.is_empty() {
                param.id.to_string()
            } else {
                self.path.join(".")
            };
            self.per_param.push((name, norm));
        }
    }
}

/// Norm of every parameter's gradient and the total norm over all of them.
pub fn grad_norms<M: Module>(
    module: &M,
    grads: &GradientsParams,
    norm_type: f64,
) -> (Vec<(String, f64)>, f64) {
    let mut visitor = NormVisitor {
        grads,
        norm_type,
        path: Vec::new(),
        per_param: Vec::new(),
    };
    module.visit(&mut visitor);
    let total = if norm_type.is_infinite() {
        visitor
            .per_param
            .iter()
            .map(|(_, n)| *n)
            .fold(0.0, f64::max)
    } else {
        visitor
            .per_param
            .iter()
            .map(|(_, n)| n.powf(norm_type))
            .sum::<f64>()
            .powf(1.0 / norm_type)
    };
    (visitor.per_param, total)
}

struct ScaleVisitor<'a> {
    grads: &'a mut GradientsParams,
    transform: &'a dyn Fn(Tensor<1>) -> Tensor<1>,
}

impl ModuleVisitor for ScaleVisitor<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            let shape = grad.shape();
            let flat: Tensor<1> = grad.flatten(0, D.saturating_sub(1));
            let out: Tensor<D> = (self.transform)(flat).reshape(shape);
            self.grads.register::<D>(param.id, out);
        }
    }
}

/// Multiplies every gradient by `factor`.
pub(crate) fn scale_all<M: Module>(module: &M, grads: &mut GradientsParams, factor: f64) {
    transform_all(module, grads, &|g| g.mul_scalar(factor));
}

fn transform_all<M: Module>(
    module: &M,
    grads: &mut GradientsParams,
    transform: &dyn Fn(Tensor<1>) -> Tensor<1>,
) {
    let mut visitor = ScaleVisitor { grads, transform };
    module.visit(&mut visitor);
}

/// Clips `grads` in place; returns the global L2 norm before clipping (`Norm`) or `None` (`Value`).
pub fn clip_gradients<M: Module>(
    module: &M,
    grads: &mut GradientsParams,
    max: f64,
    algorithm: ClipAlgorithm,
) -> Option<f64> {
    match algorithm {
        ClipAlgorithm::Norm => {
            let (_, total) = grad_norms(module, grads, 2.0);
            // Same epsilon as torch.nn.utils.clip_grad_norm_.
            let factor = max / (total + 1e-6);
            if factor < 1.0 {
                transform_all(module, grads, &|g| g.mul_scalar(factor));
            }
            Some(total)
        }
        ClipAlgorithm::Value => {
            transform_all(module, grads, &|g| g.clamp(-max, max));
            None
        }
    }
}
