//! LayerNorm with a fused, parallel forward and backward pass on `flex`.
//!
//! burn's autodiff has no LayerNorm of its own: it records the default body's mean, subtract,
//! square, mean, add, sqrt, divide, multiply and add, and differentiates each, every one a
//! single-threaded pass over the activations on `flex`. A post-LayerNorm transformer runs two per
//! layer. Here the forward pass is one row-parallel sweep that also keeps the normalised input
//! and 1/σ per row, and the backward pass is one row-parallel sweep for the input's gradient
//! plus per-task partial sums for γ's and β's. Other backends compose both from burn's
//! operations.

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    Autodiff, AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension,
};
use burn::nn::LayerNorm;
use burn::prelude::*;
use rayon::prelude::*;

use crate::host_kernels::{contiguous_f32, from_f32};

/// `layer.forward(input)` for a LayerNorm built with `epsilon` (burn keeps the module's own
/// private), with the fused passes; a LayerNorm without β runs burn's own.
///
/// ```
/// use lightning_toolkit::burn::nn::LayerNormConfig;
/// use lightning_toolkit::burn::prelude::*;
/// use lightning_toolkit::nn::layer_norm;
///
/// let device = Device::flex();
/// let layer = LayerNormConfig::new(2).init(&device);
/// let y: Vec<f32> = layer_norm(&layer, Tensor::<2>::from_floats([[1.0, 3.0]], &device), 1e-5)
///     .into_data()
///     .to_vec()
///     .unwrap();
/// assert!((y[0] + 1.0).abs() < 1e-4 && (y[1] - 1.0).abs() < 1e-4);
/// ```
pub fn layer_norm<const D: usize>(layer: &LayerNorm, input: Tensor<D>, epsilon: f64) -> Tensor<D> {
    let Some(beta) = &layer.beta else {
        return layer.forward(input);
    };
    let (out, _, _) = <Dispatch as LayerNormOps>::layer_norm_parts(
        input.into_dispatch(),
        layer.gamma.val().into_dispatch(),
        beta.val().into_dispatch(),
        epsilon,
    );
    Tensor::from_dispatch(out)
}

/// LayerNorm over the last dimension and its gradients as backend operations.
#[backend_extension(Flex, Autodiff, Cube: cfg(any(feature = "wgpu", feature = "cuda")))]
pub trait LayerNormOps: Backend {
    /// (γ·x̂ + β, x̂, 1/σ) for x̂ = (x − mean)/σ over the last dimension, σ = √(var + ε); 1/σ
    /// keeps the last dimension with size 1.
    fn layer_norm_parts(
        input: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        composed::forward::<Self>(input, gamma, beta, epsilon)
    }
    /// The gradients of input, γ and β from the output's gradient and the forward pass's x̂ and
    /// 1/σ.
    fn layer_norm_backward(
        grad: FloatTensor<Self>,
        normalized: FloatTensor<Self>,
        inv_std: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        composed::backward::<Self>(grad, normalized, inv_std, gamma)
    }
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl LayerNormOps for burn::backend::Cube {}

/// Both passes from burn's operations.
mod composed {
    use super::*;

    /// `vector` (last-dimension sized) shaped to broadcast against a tensor of `rank`.
    fn broadcastable<B: Backend>(vector: FloatTensor<B>, rank: usize) -> FloatTensor<B> {
        let width = vector.shape()[0];
        let mut dims = vec![1; rank];
        dims[rank - 1] = width;
        B::float_reshape(vector, dims.into())
    }

    /// Sums all but the last dimension: [.., width] → [width].
    fn column_sums<B: Backend>(t: FloatTensor<B>) -> FloatTensor<B> {
        let shape = t.shape();
        let width = shape[shape.num_dims() - 1];
        let rows = shape.num_elements() / width.max(1);
        let summed = B::float_sum_dim(B::float_reshape(t, [rows, width].into()), 0);
        B::float_reshape(summed, [width].into())
    }

    pub fn forward<B: Backend>(
        input: FloatTensor<B>,
        gamma: FloatTensor<B>,
        beta: FloatTensor<B>,
        epsilon: f64,
    ) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
        let rank = input.shape().num_dims();
        let last = rank - 1;
        let centered = B::float_sub(input.clone(), B::float_mean_dim(input, last));
        let var = B::float_mean_dim(B::float_mul(centered.clone(), centered.clone()), last);
        let inv_std = B::float_recip(B::float_sqrt(B::float_add_scalar(var, epsilon.into())));
        let normalized = B::float_mul(centered, inv_std.clone());
        let out = B::float_add(
            B::float_mul(normalized.clone(), broadcastable::<B>(gamma, rank)),
            broadcastable::<B>(beta, rank),
        );
        (out, normalized, inv_std)
    }

    pub fn backward<B: Backend>(
        grad: FloatTensor<B>,
        normalized: FloatTensor<B>,
        inv_std: FloatTensor<B>,
        gamma: FloatTensor<B>,
    ) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
        let rank = grad.shape().num_dims();
        let last = rank - 1;
        let d_gamma = column_sums::<B>(B::float_mul(grad.clone(), normalized.clone()));
        let d_beta = column_sums::<B>(grad.clone());
        let scaled = B::float_mul(grad, broadcastable::<B>(gamma, rank));
        let mean_scaled = B::float_mean_dim(scaled.clone(), last);
        let mean_projection =
            B::float_mean_dim(B::float_mul(scaled.clone(), normalized.clone()), last);
        let d_input = B::float_mul(
            inv_std,
            B::float_sub(
                B::float_sub(scaled, mean_scaled),
                B::float_mul(normalized, mean_projection),
            ),
        );
        (d_input, d_gamma, d_beta)
    }
}

/// Rows per parallel task.
const ROWS_PER_TASK: usize = 32;

/// Row-parallel host passes in f32.
mod host {
    use super::*;

    fn width_of(t: &FlexTensor) -> usize {
        (*t.shape().last().expect("LayerNorm of a scalar")).max(1)
    }

    pub fn forward(
        input: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (dtype, shape, width) = (input.dtype(), input.shape().to_vec(), width_of(&input));
        let (input, gamma, beta) = (
            contiguous_f32(input),
            contiguous_f32(gamma),
            contiguous_f32(beta),
        );
        let x = input.as_slice::<f32>().expect("contiguous f32");
        let gamma = gamma.as_slice::<f32>().expect("contiguous f32");
        let beta = beta.as_slice::<f32>().expect("contiguous f32");
        let rows = x.len() / width;
        let mut out = vec![0.0f32; x.len()];
        let mut normalized = vec![0.0f32; x.len()];
        let mut inv_std = vec![0.0f32; rows];
        let chunk = ROWS_PER_TASK * width;
        out.par_chunks_mut(chunk)
            .zip(normalized.par_chunks_mut(chunk))
            .zip(inv_std.par_chunks_mut(ROWS_PER_TASK))
            .zip(x.par_chunks(chunk))
            .for_each(|(((out, normalized), inv_std), x)| {
                for (((out, normalized), inv), x) in out
                    .chunks_mut(width)
                    .zip(normalized.chunks_mut(width))
                    .zip(inv_std.iter_mut())
                    .zip(x.chunks(width))
                {
                    let mean = x.iter().sum::<f32>() / width as f32;
                    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / width as f32;
                    *inv = 1.0 / (var + epsilon as f32).sqrt();
                    for ((((o, n), &v), &g), &b) in out
                        .iter_mut()
                        .zip(normalized.iter_mut())
                        .zip(x)
                        .zip(gamma)
                        .zip(beta)
                    {
                        *n = (v - mean) * *inv;
                        *o = *n * g + b;
                    }
                }
            });
        let mut row_shape = shape.clone();
        *row_shape.last_mut().unwrap() = 1;
        (
            from_f32(out, shape.clone(), dtype),
            from_f32(normalized, shape, dtype),
            from_f32(inv_std, row_shape, dtype),
        )
    }

    pub fn backward(
        grad: FlexTensor,
        normalized: FlexTensor,
        inv_std: FlexTensor,
        gamma: FlexTensor,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (dtype, shape, width) = (grad.dtype(), grad.shape().to_vec(), width_of(&grad));
        let (grad, normalized, inv_std, gamma) = (
            contiguous_f32(grad),
            contiguous_f32(normalized),
            contiguous_f32(inv_std),
            contiguous_f32(gamma),
        );
        let g = grad.as_slice::<f32>().expect("contiguous f32");
        let n = normalized.as_slice::<f32>().expect("contiguous f32");
        let inv_std = inv_std.as_slice::<f32>().expect("contiguous f32");
        let gamma = gamma.as_slice::<f32>().expect("contiguous f32");
        let mut d_input = vec![0.0f32; g.len()];
        let chunk = ROWS_PER_TASK * width;
        // Each task returns its partial Σ grad·x̂ and Σ grad; the partials are added after.
        let (d_gamma, d_beta) = d_input
            .par_chunks_mut(chunk)
            .zip(g.par_chunks(chunk).zip(n.par_chunks(chunk)))
            .zip(inv_std.par_chunks(ROWS_PER_TASK))
            .map(|((d_input, (g, n)), inv_std)| {
                let mut d_gamma = vec![0.0f32; width];
                let mut d_beta = vec![0.0f32; width];
                for (((d, g), n), &inv) in d_input
                    .chunks_mut(width)
                    .zip(g.chunks(width))
                    .zip(n.chunks(width))
                    .zip(inv_std)
                {
                    let (mut mean_scaled, mut mean_projection) = (0.0f32, 0.0f32);
                    for (((&g, &n), &gm), (dg, db)) in g
                        .iter()
                        .zip(n)
                        .zip(gamma)
                        .zip(d_gamma.iter_mut().zip(d_beta.iter_mut()))
                    {
                        *dg += g * n;
                        *db += g;
                        mean_scaled += g * gm;
                        mean_projection += g * gm * n;
                    }
                    mean_scaled /= width as f32;
                    mean_projection /= width as f32;
                    for (((d, &g), &n), &gm) in d.iter_mut().zip(g).zip(n).zip(gamma) {
                        *d = inv * (g * gm - mean_scaled - n * mean_projection);
                    }
                }
                (d_gamma, d_beta)
            })
            .reduce(
                || (vec![0.0f32; width], vec![0.0f32; width]),
                |(mut ga, mut ba), (gb, bb)| {
                    ga.iter_mut().zip(gb).for_each(|(a, b)| *a += b);
                    ba.iter_mut().zip(bb).for_each(|(a, b)| *a += b);
                    (ga, ba)
                },
            );
        (
            from_f32(d_input, shape, dtype),
            from_f32(d_gamma, vec![width], dtype),
            from_f32(d_beta, vec![width], dtype),
        )
    }
}

impl LayerNormOps for Flex {
    fn layer_norm_parts(
        input: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        host::forward(input, gamma, beta, epsilon)
    }
    fn layer_norm_backward(
        grad: FloatTensor<Self>,
        normalized: FloatTensor<Self>,
        inv_std: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        host::backward(grad, normalized, inv_std, gamma)
    }
}

#[derive(Debug)]
struct LayerNormBackward;

impl<B: LayerNormOps> Backward<B, 3> for LayerNormBackward {
    /// x̂, 1/σ and γ from the forward pass.
    type State = (
        B::FloatTensorPrimitive,
        B::FloatTensorPrimitive,
        B::FloatTensorPrimitive,
    );

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [input, gamma, beta] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (normalized, inv_std, gamma_value) = ops.state;
        let (d_input, d_gamma, d_beta) =
            B::layer_norm_backward(grad, normalized, inv_std, gamma_value);
        for (parent, d) in [(input, d_input), (gamma, d_gamma), (beta, d_beta)] {
            if let Some(node) = parent {
                grads.register::<B>(node.id, d);
            }
        }
    }
}

impl<B: LayerNormOps, C: CheckpointStrategy> LayerNormOps for Autodiff<B, C> {
    fn layer_norm_parts(
        input: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (input, input_node) = input.into_parts();
        let (gamma, gamma_node) = gamma.into_parts();
        let (beta, beta_node) = beta.into_parts();
        let (out, normalized, inv_std) = B::layer_norm_parts(input, gamma.clone(), beta, epsilon);
        // x̂ and 1/σ are handed out only for the backward step; as outputs they are constants.
        let constants = (
            Self::from_inner(normalized.clone()),
            Self::from_inner(inv_std.clone()),
        );
        let out = match LayerNormBackward
            .prepare::<C>([input_node, gamma_node, beta_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((normalized, inv_std, gamma), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        };
        (out, constants.0, constants.1)
    }
    fn layer_norm_backward(
        grad: FloatTensor<Self>,
        normalized: FloatTensor<Self>,
        inv_std: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        // Called by the backward step on the inner backend; no gradients of gradients here.
        let (d_input, d_gamma, d_beta) = B::layer_norm_backward(
            Self::inner(grad),
            Self::inner(normalized),
            Self::inner(inv_std),
            Self::inner(gamma),
        );
        (
            Self::from_inner(d_input),
            Self::from_inner(d_gamma),
            Self::from_inner(d_beta),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_kernels::f32_values as values;
    use burn::nn::LayerNormConfig;
    use burn::tensor::{Distribution, Tolerance};

    fn assert_close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-4, "{what}: {x} vs {y}");
        }
    }

    /// Output and the gradients of input, γ and β against burn's LayerNorm, with random γ and β
    /// and more rows than one parallel task holds.
    #[test]
    fn values_and_gradients_match_burns_layer_norm() {
        let device = Device::flex().autodiff();
        device.seed(6);
        let mut layer = LayerNormConfig::new(24).with_epsilon(1e-6).init(&device);
        layer.gamma = layer
            .gamma
            .map(|_| Tensor::random([24], Distribution::Normal(1.0, 0.5), &device).require_grad());
        layer.beta = layer.beta.map(|b| {
            b.map(|_| Tensor::random([24], Distribution::Default, &device).require_grad())
        });
        let x = Tensor::<3>::random([3, 50, 24], Distribution::Normal(2.0, 3.0), &device)
            .require_grad();
        let weights = Tensor::<3>::random([3, 50, 24], Distribution::Default, &device);
        let run = |y: Tensor<3>| {
            let grads = (y.clone() * weights.clone()).sum().backward();
            [
                values(y),
                values(x.grad(&grads).unwrap()),
                values(layer.gamma.val().grad(&grads).unwrap()),
                values(layer.beta.as_ref().unwrap().val().grad(&grads).unwrap()),
            ]
        };
        let ours = run(layer_norm(&layer, x.clone(), 1e-6));
        let theirs = run(layer.forward(x.clone()));
        for ((a, b), what) in ours.iter().zip(&theirs).zip(["output", "x", "γ", "β"]) {
            assert_close(a, b, what);
        }
    }

    #[test]
    fn composed_passes_match_the_host_passes() {
        let device = Device::flex();
        device.seed(7);
        let flex = |t: Tensor<2>| crate::host_kernels::flex_float(t).unwrap();
        let flex1 = |t: Tensor<1>| crate::host_kernels::flex_float(t).unwrap();
        let x = Tensor::<2>::random([70, 5], Distribution::Normal(0.0, 2.0), &device);
        let gamma = Tensor::<1>::random([5], Distribution::Default, &device);
        let beta = Tensor::<1>::random([5], Distribution::Default, &device);
        let grad = Tensor::<2>::random([70, 5], Distribution::Default, &device);
        // γ's and β's gradients sum 70 rows in a different order: relative error.
        let tolerance = Tolerance::rel_abs(1e-5, 1e-5);
        let host = host::forward(
            flex(x.clone()),
            flex1(gamma.clone()),
            flex1(beta.clone()),
            1e-5,
        );
        let composed = composed::forward::<Flex>(flex(x), flex1(gamma.clone()), flex1(beta), 1e-5);
        for (h, c) in [
            (host.0, composed.0),
            (host.1.clone(), composed.1),
            (host.2.clone(), composed.2),
        ] {
            h.into_data()
                .assert_approx_eq::<f32>(&c.into_data(), tolerance);
        }
        let (normalized, inv_std) = (host.1, host.2);
        let host = host::backward(
            flex(grad.clone()),
            normalized.clone(),
            inv_std.clone(),
            flex1(gamma.clone()),
        );
        let composed = composed::backward::<Flex>(flex(grad), normalized, inv_std, flex1(gamma));
        for (h, c) in [
            (host.0, composed.0),
            (host.1, composed.1),
            (host.2, composed.2),
        ] {
            h.into_data()
                .assert_approx_eq::<f32>(&c.into_data(), tolerance);
        }
    }
}
