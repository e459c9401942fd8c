//! Feed-forward activations named as Hugging Face `config.json` names them (`hidden_act`).

use burn::prelude::*;
use burn::tensor::activation::{gelu_approximate, relu, tanh};
use serde::{Deserialize, Serialize};

/// A transformer's feed-forward activation, by transformers' `ACT2FN` name.
///
/// ```
/// use lightning_toolkit::nn::HiddenAct;
/// let act: HiddenAct = serde_json::from_str("\"gelu_new\"").unwrap();
/// assert_eq!(act, HiddenAct::GeluNew);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HiddenAct {
    /// Exact (erf) GELU, computed by [`gelu`](super::gelu).
    #[default]
    Gelu,
    /// Tanh-approximated GELU.
    GeluNew,
    /// ReLU.
    Relu,
    /// Tanh.
    Tanh,
}

impl HiddenAct {
    /// Applies the activation element-wise.
    pub fn forward<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            HiddenAct::Gelu => super::gelu(x),
            HiddenAct::GeluNew => gelu_approximate(x),
            HiddenAct::Relu => relu(x),
            HiddenAct::Tanh => tanh(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activations_match_their_formulas_at_one_point() {
        let x = || Tensor::<1>::from_floats([-1.0, 0.5], &Device::flex());
        let values =
            |act: HiddenAct| -> Vec<f32> { act.forward(x()).into_data().try_to_vec().unwrap() };
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-5);
        // GELU(x) = x·Φ(x); Φ(−1) = 0.158655, Φ(0.5) = 0.691462.
        assert!(close(&values(HiddenAct::Gelu), &[-0.158655, 0.345731]));
        assert!(close(&values(HiddenAct::GeluNew), &[-0.158808, 0.345714]));
        assert!(close(&values(HiddenAct::Relu), &[0.0, 0.5]));
        assert!(close(&values(HiddenAct::Tanh), &[-0.761594, 0.462117]));
    }
}
