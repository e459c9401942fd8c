//! The block after attention and after the feed-forward layer of BERT and DeBERTa alike
//! (transformers' `BertSelfOutput`/`BertOutput`, `DebertaV2SelfOutput`/`DebertaV2Output`):
//! projection, dropout, residual, LayerNorm. Field names are HF's (`dense`, `LayerNorm` spelled
//! `layer_norm`), so checkpoints load into it by name.

use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;

use super::{dropout, layer_norm};

/// The keys of an HF `config.json` the block reads (BERT's and DeBERTa's configs both have them).
pub trait SelfOutputConfig {
    /// Width of every hidden state (`hidden_size`).
    fn hidden_size(&self) -> usize;
    /// LayerNorm epsilon (`layer_norm_eps`).
    fn layer_norm_eps(&self) -> f64;
    /// Dropout before the residual (`hidden_dropout_prob`).
    fn hidden_dropout_prob(&self) -> f64;
}

/// `LayerNorm(dropout(dense(x)) + residual)`.
#[derive(Module, Debug)]
pub struct SelfOutput {
    /// Input width → hidden width.
    pub dense: Linear,
    /// HF `LayerNorm`.
    pub layer_norm: LayerNorm,
    /// Dropout before the residual.
    pub dropout: Dropout,
    #[module(skip)]
    layer_norm_eps: f64,
}

impl SelfOutput {
    /// A block of `config`'s sizes projecting `input` features back to the hidden width.
    pub fn new(config: &impl SelfOutputConfig, input: usize, device: &Device) -> Self {
        let (hidden, layer_norm_eps) = (config.hidden_size(), config.layer_norm_eps());
        Self {
            dense: LinearConfig::new(input, hidden).init(device),
            layer_norm: LayerNormConfig::new(hidden)
                .with_epsilon(layer_norm_eps)
                .init(device),
            dropout: DropoutConfig::new(config.hidden_dropout_prob()).init(),
            layer_norm_eps,
        }
    }

    /// `LayerNorm(dropout(dense(x)) + residual)`.
    pub fn forward(&self, x: Tensor<3>, residual: Tensor<3>) -> Tensor<3> {
        let x = dropout(&self.dropout, self.dense.forward(x));
        layer_norm(&self.layer_norm, x + residual, self.layer_norm_eps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Tolerance;

    #[test]
    fn is_layer_norm_of_projection_plus_residual() {
        let device = Device::flex();
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
        let block = SelfOutput::new(&Sizes, 3, &device);
        assert_eq!(block.dense.weight.dims(), [3, 2]);
        let x = Tensor::<3>::from_floats([[[1.0, -2.0, 0.5], [0.0, 1.0, 3.0]]], &device);
        let residual = Tensor::<3>::from_floats([[[0.25, -1.0], [2.0, 0.5]]], &device);
        let got = block.forward(x.clone(), residual.clone());
        // Unfused burn ops: LayerNorm of dense(x) + residual.
        let want = block.layer_norm.forward(block.dense.forward(x) + residual);
        got.into_data()
            .assert_approx_eq::<f32>(&want.into_data(), Tolerance::default());
    }
}
