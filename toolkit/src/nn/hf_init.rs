//! Hugging Face's `_init_weights` for a model trained from scratch: every linear and embedding
//! weight drawn from N(0, `initializer_range`²), biases zero, LayerNorms left at one and zero.
//! (burn's defaults, Kaiming-uniform linears and N(0, 1) embeddings, train worse here.)

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::Distribution;

struct HfInit {
    std: f64,
    path: Vec<String>,
}

impl ModuleMapper for HfInit {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let std = self.std;
        match self.path.last().map(String::as_str) {
            Some("weight") if D == 2 => {
                param.map(|t| t.random_like(Distribution::Normal(0.0, std)))
            }
            Some("bias") => param.map(|t| t.zeros_like()),
            _ => param,
        }
    }
}

/// `module` with HF's initialisation (`std` is the config's `initializer_range`, 0.02).
///
/// ```
/// use burn::nn::LinearConfig;
/// use burn::prelude::*;
/// let device = Device::flex();
/// let linear = lightning_toolkit::nn::init_like_hf(LinearConfig::new(4, 4).init(&device), 0.02);
/// let bias = linear.bias.unwrap().val();
/// assert_eq!(bias.abs().sum().into_scalar::<f32>(), 0.0);
/// ```
pub fn init_like_hf<M: Module>(module: M, std: f64) -> M {
    module.map(&mut HfInit {
        std,
        path: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};

    #[derive(Module, Debug)]
    struct Pair {
        dense: Linear,
        norm: LayerNorm,
    }

    #[test]
    fn weights_are_small_normals_biases_zero_norms_untouched() {
        let device = Device::flex();
        device.seed(3);
        let pair = Pair {
            dense: LinearConfig::new(64, 64).init(&device),
            norm: LayerNormConfig::new(64).init(&device),
        };
        let pair = init_like_hf(pair, 0.02);
        let w = pair.dense.weight.val();
        let std = w.clone().var(0).mean().sqrt().into_scalar::<f32>() as f64;
        assert!((std - 0.02).abs() < 0.002, "std {std}");
        assert_eq!(
            pair.dense
                .bias
                .unwrap()
                .val()
                .abs()
                .sum()
                .into_scalar::<f32>() as f64,
            0.0
        );
        assert_eq!(
            pair.norm.gamma.val().sum().into_scalar::<f32>() as f64,
            64.0
        );
    }
}
