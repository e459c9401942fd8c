//! Exact (erf) GELU computed on every core, in SIMD, on `flex`.
//!
//! `flex` runs element-wise operations on one thread, and its GELU calls libm's `erff` per
//! element. That was the costliest element-wise work of a transformer step (the feed-forward
//! block's 4·hidden-wide activations, forward and backward): ~5% of a MiniLM step with the other
//! core idle. Here both directions are chunked over rayon with branch-free erf and exp that the
//! compiler vectorises; other backends use burn's GELU.

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
use crate::host_kernels::{contiguous_f32, fast_erf, fast_exp, from_f32};

/// x·Φ(x), as `burn::tensor::activation::gelu`.
///
/// ```
/// use lightning_toolkit::burn::prelude::*;
/// use lightning_toolkit::nn::gelu;
///
/// let y: Vec<f32> = gelu(Tensor::<1>::from_floats([1.0], &Device::flex()))
///     .into_data()
///     .to_vec()
///     .unwrap();
/// assert!((y[0] - 0.841345).abs() < 1e-6);
/// ```
pub fn gelu<const D: usize>(input: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as GeluOps>::gelu_exact(input.into_dispatch()))
}

/// Exact GELU and its gradient as backend operations.
#[backend_extension(Flex, Autodiff, Cube: cfg(any(feature = "wgpu", feature = "cuda")))]
pub trait GeluOps: Backend {
    /// x·Φ(x) element-wise.
    fn gelu_exact(input: FloatTensor<Self>) -> FloatTensor<Self> {
        <Self as ActivationOps<Self>>::gelu(input)
    }
    /// grad · (Φ(x) + x·φ(x)), the input's gradient.
    fn gelu_exact_backward(input: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        composed_backward::<Self>(input, grad)
    }
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl GeluOps for burn::backend::Cube {}

/// burn's `gelu_backward` is the tanh approximation's derivative on some backends; this is the
/// exact one, composed.
fn composed_backward<B: Backend>(x: FloatTensor<B>, grad: FloatTensor<B>) -> FloatTensor<B> {
    let cdf = B::float_mul_scalar(
        B::float_add_scalar(
            B::float_erf(B::float_mul_scalar(x.clone(), FRAC_1_SQRT_2.into())),
            1.0.into(),
        ),
        0.5.into(),
    );
    let density = B::float_mul_scalar(
        B::float_exp(B::float_mul_scalar(
            B::float_mul(x.clone(), x.clone()),
            (-0.5).into(),
        )),
        INV_SQRT_2PI.into(),
    );
    B::float_mul(grad, B::float_add(cdf, B::float_mul(x, density)))
}

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1/√(2π), the standard normal density at 0.
const INV_SQRT_2PI: f32 = 0.398_942_3;

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

#[inline(always)]
fn phi(x: f32) -> f32 {
    0.5 * (1.0 + fast_erf(x * FRAC_1_SQRT_2))
}

fn host_forward(input: FlexTensor) -> FlexTensor {
    let (dtype, shape) = (input.dtype(), input.shape().to_vec());
    let input = contiguous_f32(input);
    let x = input.as_slice::<f32>().expect("contiguous f32");
    let mut out = vec![0.0f32; x.len()];
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(out, x)| {
            for (o, &x) in out.iter_mut().zip(x) {
                *o = x * phi(x);
            }
        });
    from_f32(out, shape, dtype)
}

fn host_backward(input: FlexTensor, grad: FlexTensor) -> FlexTensor {
    let (dtype, shape) = (grad.dtype(), grad.shape().to_vec());
    let (input, grad) = (contiguous_f32(input), contiguous_f32(grad));
    let x = input.as_slice::<f32>().expect("contiguous f32");
    let g = grad.as_slice::<f32>().expect("contiguous f32");
    let mut out = vec![0.0f32; g.len()];
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK).zip(g.par_chunks(CHUNK)))
        .for_each(|(out, (x, g))| {
            for ((o, &x), &g) in out.iter_mut().zip(x).zip(g) {
                *o = g * (phi(x) + x * INV_SQRT_2PI * fast_exp(-0.5 * x * x));
            }
        });
    from_f32(out, shape, dtype)
}

impl GeluOps for Flex {
    fn gelu_exact(input: FloatTensor<Self>) -> FloatTensor<Self> {
        host_forward(input)
    }
    fn gelu_exact_backward(input: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        host_backward(input, grad)
    }
}

impl<B: GeluOps, C: CheckpointStrategy> GeluOps for Autodiff<B, C> {
    fn gelu_exact(input: FloatTensor<Self>) -> FloatTensor<Self> {
        with_unary_gradient::<B, C, _>(
            input,
            |x| (B::gelu_exact(x.clone()), x),
            B::gelu_exact_backward,
        )
    }
    fn gelu_exact_backward(input: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        // Called by the backward step on the inner backend; no gradients of gradients here.
        Self::from_inner(B::gelu_exact_backward(
            Self::inner(input),
            Self::inner(grad),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_kernels::f32_values as values;
    use burn::tensor::{Distribution, Tolerance, activation};

    /// Values and gradients against burn's GELU, over more elements than one parallel task.
    #[test]
    fn values_and_gradients_match_burns_gelu() {
        let device = Device::flex().autodiff();
        device.seed(4);
        let x = Tensor::<2>::random([5, CHUNK / 2 + 7], Distribution::Normal(0.0, 3.0), &device)
            .require_grad();
        let weights = Tensor::<2>::random(x.dims(), Distribution::Default, &device);
        let run = |y: Tensor<2>| {
            let grads = (y.clone() * weights.clone()).sum().backward();
            (values(y), values(x.grad(&grads).unwrap()))
        };
        let (ours, our_grad) = run(gelu(x.clone()));
        let (theirs, their_grad) = run(activation::gelu(x.clone()));
        for (a, b) in ours
            .iter()
            .zip(&theirs)
            .chain(our_grad.iter().zip(&their_grad))
        {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn composed_gradient_matches_the_host_pass() {
        let device = Device::flex();
        device.seed(5);
        let x = Tensor::<1>::random([300], Distribution::Normal(0.0, 3.0), &device);
        let g = Tensor::<1>::random([300], Distribution::Default, &device);
        let flex = |t: Tensor<1>| crate::host_kernels::flex_float(t).unwrap();
        let host = host_backward(flex(x.clone()), flex(g.clone())).into_data();
        let composed = composed_backward::<Flex>(flex(x), flex(g)).into_data();
        host.assert_approx_eq::<f32>(&composed, Tolerance::absolute(1e-6));
    }
}
