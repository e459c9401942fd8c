//! Softmax whose gradient is one fused, parallel pass on `flex`.
//!
//! burn's autodiff has no softmax of its own: it records the five operations of the default body
//! (max, subtract, exp, sum, divide) and differentiates each, so a training step spends about ten
//! single-threaded element-wise passes per attention matrix. Here the forward pass is the
//! backend's own softmax (fused and row-parallel on `flex`), and the backward pass is one
//! operation, grad·y − y·Σ(grad·y), that `flex` runs row-parallel on every core. Other backends
//! compose it from burn's operations.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ActivationOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    Autodiff, AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension,
};
use burn::prelude::*;
use rayon::prelude::*;

use super::unary_gradient::with_unary_gradient;
use crate::host_kernels::{contiguous_f32, from_f32};

/// `softmax(input, dim)` as `burn::tensor::activation::softmax` computes it, with the faster
/// gradient.
///
/// ```
/// use lightning_toolkit::burn::prelude::*;
/// use lightning_toolkit::nn::softmax;
///
/// let x = Tensor::<2>::from_floats([[0.0, 0.0], [0.0, 2.0f32.ln()]], &Device::flex());
/// let p: Vec<f32> = softmax(x, 1).into_data().to_vec().unwrap();
/// assert!((p[0] - 0.5).abs() < 1e-6 && (p[3] - 2.0 / 3.0).abs() < 1e-6);
/// ```
pub fn softmax<const D: usize>(input: Tensor<D>, dim: usize) -> Tensor<D> {
    assert!(dim < D, "softmax over dimension {dim} of a rank-{D} tensor");
    if dim != D - 1 {
        return softmax(input.swap_dims(dim, D - 1), D - 1).swap_dims(dim, D - 1);
    }
    Tensor::from_dispatch(<Dispatch as SoftmaxOps>::softmax_last(
        input.into_dispatch(),
    ))
}

/// Softmax over the last dimension and its gradient as backend operations.
#[backend_extension(Flex, Autodiff, Cube: cfg(any(feature = "wgpu", feature = "cuda")))]
pub trait SoftmaxOps: Backend {
    /// Softmax over the last dimension.
    fn softmax_last(input: FloatTensor<Self>) -> FloatTensor<Self> {
        let last = input.shape().num_dims() - 1;
        <Self as ActivationOps<Self>>::softmax(input, last)
    }
    /// The input's gradient from the output `probs` and the output's gradient `grad`:
    /// probs · (grad − Σ_last grad · probs).
    fn softmax_last_backward(
        probs: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        composed_backward::<Self>(probs, grad)
    }
}

fn composed_backward<B: Backend>(probs: FloatTensor<B>, grad: FloatTensor<B>) -> FloatTensor<B> {
    let last = probs.shape().num_dims() - 1;
    let dot = B::float_sum_dim(B::float_mul(grad.clone(), probs.clone()), last);
    B::float_mul(probs, B::float_sub(grad, dot))
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl SoftmaxOps for burn::backend::Cube {}

/// Rows per parallel task: enough work to amortise scheduling for 128-wide attention rows.
const ROWS_PER_TASK: usize = 64;

fn host_backward(probs: FlexTensor, grad: FlexTensor) -> FlexTensor {
    let dtype = grad.dtype();
    let shape = grad.shape().to_vec();
    let width = (*shape.last().expect("softmax of a scalar")).max(1);
    let (probs, grad) = (contiguous_f32(probs), contiguous_f32(grad));
    let probs = probs.as_slice::<f32>().expect("contiguous f32");
    let grad = grad.as_slice::<f32>().expect("contiguous f32");
    let mut out = vec![0.0f32; grad.len()];
    let chunk = ROWS_PER_TASK * width;
    out.par_chunks_mut(chunk)
        .zip(probs.par_chunks(chunk).zip(grad.par_chunks(chunk)))
        .for_each(|(out, (probs, grad))| {
            for ((o, p), g) in out
                .chunks_mut(width)
                .zip(probs.chunks(width))
                .zip(grad.chunks(width))
            {
                let dot: f32 = p.iter().zip(g).map(|(p, g)| p * g).sum();
                for ((o, p), g) in o.iter_mut().zip(p).zip(g) {
                    *o = p * (g - dot);
                }
            }
        });
    from_f32(out, shape, dtype)
}

impl SoftmaxOps for Flex {
    fn softmax_last_backward(
        probs: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        host_backward(probs, grad)
    }
}

impl<B: SoftmaxOps, C: CheckpointStrategy> SoftmaxOps for Autodiff<B, C> {
    fn softmax_last(input: FloatTensor<Self>) -> FloatTensor<Self> {
        with_unary_gradient::<B, C, _>(
            input,
            |x| {
                let probs = B::softmax_last(x);
                (probs.clone(), probs)
            },
            B::softmax_last_backward,
        )
    }
    fn softmax_last_backward(
        probs: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        // Called by the backward step on the inner backend; no gradients of gradients here.
        Self::from_inner(B::softmax_last_backward(
            Self::inner(probs),
            Self::inner(grad),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_kernels::f32_values as values;
    use burn::tensor::Distribution;
    use burn::tensor::activation;

    fn assert_close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-6, "{x} vs {y}");
        }
    }

    /// Values and gradients against burn's composed softmax, over the last and a middle
    /// dimension, with more rows than one parallel task holds.
    #[test]
    fn values_and_gradients_match_burns_softmax() {
        let device = Device::flex().autodiff();
        device.seed(1);
        for dim in [2, 1] {
            let x = Tensor::<3>::random([3, 70, 9], Distribution::Normal(0.0, 3.0), &device)
                .require_grad();
            let weights = Tensor::<3>::random([3, 70, 9], Distribution::Default, &device);
            let run = |y: Tensor<3>| {
                let grads = (y.clone() * weights.clone()).sum().backward();
                (values(y), values(x.grad(&grads).unwrap()))
            };
            let (ours, our_grad) = run(softmax(x.clone(), dim));
            let (theirs, their_grad) = run(activation::softmax(x.clone(), dim));
            assert_close(&ours, &theirs);
            assert_close(&our_grad, &their_grad);
        }
    }

    #[test]
    fn composed_gradient_matches_the_host_pass() {
        let device = Device::flex();
        device.seed(2);
        let probs = activation::softmax(
            Tensor::<2>::random([5, 7], Distribution::Default, &device),
            1,
        );
        let grad = Tensor::<2>::random([5, 7], Distribution::Default, &device);
        let flex = |t: Tensor<2>| crate::host_kernels::flex_float(t).unwrap();
        let host = host_backward(flex(probs.clone()), flex(grad.clone()));
        let composed = composed_backward::<Flex>(flex(probs), flex(grad));
        host.into_data().assert_approx_eq::<f32>(
            &composed.into_data(),
            burn::tensor::Tolerance::absolute(1e-6),
        );
    }
}
