//! The feed-forward expansion of BERT and DeBERTa alike (transformers' `BertIntermediate`,
//! `DebertaV2Intermediate`): a projection to the intermediate width and the configured
//! activation. The field is HF's `dense`, so checkpoints load into it by name; the
//! [`SelfOutput`](super::SelfOutput) block after it projects back.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use super::{HiddenAct, SelfOutputConfig};

/// The keys of an HF `config.json` the expansion reads, besides `hidden_size`.
pub trait IntermediateConfig: SelfOutputConfig {
    /// Width of the feed-forward layer (`intermediate_size`).
    fn intermediate_size(&self) -> usize;
    /// Its activation (`hidden_act`).
    fn hidden_act(&self) -> HiddenAct;
}

/// `act(dense(x))`.
#[derive(Module, Debug)]
pub struct Intermediate {
    /// hidden → intermediate.
    pub dense: Linear,
    #[module(skip)]
    act: HiddenAct,
}

impl Intermediate {
    /// An expansion of `config`'s sizes and activation.
    pub fn new(config: &impl IntermediateConfig, device: &Device) -> Self {
        Self {
            dense: LinearConfig::new(config.hidden_size(), config.intermediate_size()).init(device),
            act: config.hidden_act(),
        }
    }

    /// `act(dense(x))`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.act.forward(self.dense.forward(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Tolerance;

    struct Sizes;
    impl SelfOutputConfig for Sizes {
        fn hidden_size(&self) -> usize {
            2
        }
        fn layer_norm_eps(&self) -> f64 {
            1e-12
        }
        fn hidden_dropout_prob(&self) -> f64 {
            0.0
        }
    }
    impl IntermediateConfig for Sizes {
        fn intermediate_size(&self) -> usize {
            3
        }
        fn hidden_act(&self) -> HiddenAct {
            HiddenAct::Relu
        }
    }

    #[test]
    fn is_the_activation_of_the_projection() {
        let device = Device::flex();
        let block = Intermediate::new(&Sizes, &device);
        assert_eq!(block.dense.weight.dims(), [2, 3]);
        let x = Tensor::<3>::from_floats([[[1.0, -2.0], [0.5, 3.0]]], &device);
        let got = block.forward(x.clone());
        let expected = burn::tensor::activation::relu(block.dense.forward(x));
        got.into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::default());
    }
}
