//! Pooling heads: one vector per document from the encoder's hidden states (the Kaggle
//! notebook's `MeanPooling`, and the usual alternatives), selected by `pooling` in the config.

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};

/// Which pooling a classifier uses.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PoolingName {
    /// Mean of the token states (padding excluded).
    #[default]
    Mean,
    /// The `[CLS]` state.
    Cls,
    /// Element-wise maximum over the tokens (padding excluded).
    Max,
    /// A learned softmax weighting of the tokens (tanh scoring layer).
    Attention,
    /// A learned weighting of the last `layers` hidden layers, then the `[CLS]` state.
    WeightedLayer,
}

/// A pooling head and its parameters (attention scorer, layer weights).
#[derive(Module, Debug)]
pub struct Pooling {
    /// Attention pooling's scorer: hidden → hidden, tanh, → 1.
    pub attention: Option<(Linear, Linear)>,
    /// Weighted layer pooling's weight per layer (initialised equal).
    pub layer_weights: Option<Param<Tensor<1>>>,
    #[module(skip)]
    name: PoolingName,
}

/// Masked positions get this score before a max or softmax (as the Kaggle notebooks do).
const MASKED: f32 = -1e4;

impl Pooling {
    /// A head for `hidden`-wide states; `layers` is how many last layers weighted layer pooling
    /// mixes.
    pub fn new(name: PoolingName, hidden: usize, layers: usize, device: &Device) -> Self {
        Self {
            attention: (name == PoolingName::Attention).then(|| {
                (
                    LinearConfig::new(hidden, hidden).init(device),
                    LinearConfig::new(hidden, 1).init(device),
                )
            }),
            layer_weights: (name == PoolingName::WeightedLayer)
                .then(|| Param::from_tensor(Tensor::ones([layers.max(1)], device))),
            name,
        }
    }

    /// Which pooling this is.
    pub fn name(&self) -> PoolingName {
        self.name
    }

    /// Pools `hidden_states` (embeddings then each layer, batch × length × hidden) under `mask`
    /// (batch × length, 1 for tokens) into batch × hidden.
    pub fn forward(&self, hidden_states: &[Tensor<3>], mask: Tensor<2>) -> Tensor<2> {
        let last = hidden_states
            .last()
            .expect("at least one hidden state")
            .clone();
        let [batch, _, hidden] = last.dims();
        // Under mixed precision the mask arrives as float32 and the hidden states are half.
        let mask = mask.cast(FloatDType::from(last.dtype()));
        let mask3 = mask.clone().unsqueeze_dim::<3>(2);
        match self.name {
            PoolingName::Mean => {
                let summed = (last * mask3.clone()).sum_dim(1).squeeze_dim::<2>(1);
                let counts = mask3.sum_dim(1).squeeze_dim::<2>(1).clamp_min(1e-9);
                summed / counts
            }
            PoolingName::Cls => cls(last),
            PoolingName::Max => {
                let padding = mask3.lower_elem(0.5).expand(last.shape());
                last.mask_fill(padding, MASKED)
                    .max_dim(1)
                    .squeeze_dim::<2>(1)
            }
            PoolingName::Attention => {
                let (score, out) = self.attention.as_ref().expect("attention pooling's scorer");
                let scores = out
                    .forward(score.forward(last.clone()).tanh())
                    .squeeze_dim::<2>(2);
                let scores = scores.mask_fill(mask.lower_elem(0.5), MASKED);
                let weights = softmax(scores, 1).unsqueeze_dim::<3>(2);
                (last * weights).sum_dim(1).squeeze_dim::<2>(1)
            }
            PoolingName::WeightedLayer => {
                let weights = self
                    .layer_weights
                    .as_ref()
                    .expect("weighted layer pooling's weights")
                    .val();
                let n = weights.dims()[0].min(hidden_states.len());
                let layers: Vec<Tensor<3>> = hidden_states[hidden_states.len() - n..].to_vec();
                let stacked = Tensor::stack::<4>(layers, 0);
                let w = weights.clone().narrow(0, weights.dims()[0] - n, n);
                let mixed = (stacked * w.clone().reshape([n, 1, 1, 1])).sum_dim(0)
                    / w.sum().reshape([1, 1, 1, 1]);
                let [_, _, len, _] = mixed.dims();
                cls(mixed.reshape([batch, len, hidden]))
            }
        }
    }
}

fn cls(states: Tensor<3>) -> Tensor<2> {
    let [batch, _, hidden] = states.dims();
    states.slice([0..batch, 0..1]).reshape([batch, hidden])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    }

    /// Two documents of 3 positions, hidden 2; the second has one padded position.
    fn states() -> (Tensor<3>, Tensor<2>) {
        let device = Device::flex();
        let h = Tensor::<1>::from_floats(
            [
                1., 2., 3., 4., 5., 6., /* doc 2 */ -1., 0., 3., 8., 100., 100.,
            ],
            &device,
        )
        .reshape([2, 3, 2]);
        let mask = Tensor::<1>::from_floats([1., 1., 1., 1., 1., 0.], &device).reshape([2, 3]);
        (h, mask)
    }

    #[test]
    fn mean_max_and_cls_ignore_padding() {
        let (h, mask) = states();
        let pool = |name| {
            Pooling::new(name, 2, 1, &Device::flex())
                .forward(std::slice::from_ref(&h), mask.clone())
        };
        assert_eq!(values(pool(PoolingName::Mean)), vec![3., 4., 1., 4.]);
        assert_eq!(values(pool(PoolingName::Max)), vec![5., 6., 3., 8.]);
        assert_eq!(values(pool(PoolingName::Cls)), vec![1., 2., -1., 0.]);
    }

    #[test]
    fn attention_with_equal_scores_is_the_mean_and_learns_weights() {
        let (h, mask) = states();
        let device = Device::flex();
        let mut head = Pooling::new(PoolingName::Attention, 2, 1, &device);
        let (score, out) = head.attention.take().unwrap();
        let out = Linear {
            weight: Param::from_tensor(Tensor::zeros([2, 1], &device)),
            bias: out.bias,
        };
        head.attention = Some((score, out));
        assert_eq!(values(head.forward(&[h], mask)), vec![3., 4., 1., 4.]);
    }

    #[test]
    fn weighted_layers_mix_the_last_layers_then_take_cls() {
        let (h, mask) = states();
        let device = Device::flex();
        let mut head = Pooling::new(PoolingName::WeightedLayer, 2, 2, &device);
        let states = [
            h.clone().mul_scalar(100.0),
            h.clone(),
            h.clone().mul_scalar(3.0),
        ];
        // Equal weights over the last two: (1 + 3) / 2 = 2 × the CLS state.
        assert_eq!(
            values(head.forward(&states, mask.clone())),
            vec![2., 4., -2., 0.]
        );
        head.layer_weights = Some(Param::from_tensor(Tensor::from_floats([3.0, 1.0], &device)));
        // (3·1 + 1·3) / 4 = 1.5 ×.
        assert_eq!(values(head.forward(&states, mask)), vec![1.5, 3., -1.5, 0.]);
    }
}
