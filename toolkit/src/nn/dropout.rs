//! Dropout with a keep-mask drawn in parallel on `flex`.
//!
//! burn's `Dropout` draws its mask with `Tensor::random_like(Bernoulli)`, which `flex` fills
//! one element at a time from a single ChaCha generator on one thread, then multiplies twice
//! (by the mask, then by 1/keep). On a DeBERTa training step (flex, 2 cores) that was about a
//! seventh of the time, with the second core idle. Here the mask already holds 0 or 1/keep, and
//! `flex` fills it from a counter-based generator (SplitMix64 over the element index) on every
//! core, seeded from the device's generator so `Device::seed` still makes runs repeatable.
//! Other backends draw it as burn does.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    Autodiff, AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension,
};
use burn::nn::Dropout;
use burn::prelude::*;
use burn::tensor::{Distribution, FloatDType};
use rayon::prelude::*;

use crate::host_kernels::from_f32;

/// `layer.forward(input)` with the faster mask: zeroes each element with probability
/// `layer.prob` and scales the rest by 1/(1 − prob) while training (an autodiff device and the
/// layer's training flag set); the identity otherwise.
///
/// ```
/// use lightning_toolkit::burn::nn::DropoutConfig;
/// use lightning_toolkit::burn::prelude::*;
/// use lightning_toolkit::nn::dropout;
///
/// let device = Device::flex().autodiff();
/// let layer = DropoutConfig::new(0.5).init();
/// let out = dropout(&layer, Tensor::<2>::ones([4, 256], &device));
/// let kept = out.clone().greater_elem(0.0).int().sum().into_scalar::<i64>();
/// assert!((300..724).contains(&kept));
/// assert_eq!(out.max().into_scalar::<f32>(), 2.0);
/// ```
pub fn dropout<const D: usize>(layer: &Dropout, input: Tensor<D>) -> Tensor<D> {
    if !layer.training.is_enabled() || !input.device().is_autodiff() || layer.prob == 0.0 {
        return input;
    }
    let mask = Tensor::<D>::from_dispatch(<Dispatch as DropoutOps>::scaled_keep_mask(
        input.clone().into_dispatch(),
        1.0 - layer.prob,
    ));
    input * mask
}

/// The mask as a backend operation: the default body is burn's Bernoulli draw, `flex`
/// overrides it; under autodiff the mask is a constant.
#[backend_extension(Flex, Autodiff, Cube: cfg(any(feature = "wgpu", feature = "cuda")))]
pub trait DropoutOps: Backend {
    /// A tensor shaped like `like` holding 1/`keep` with probability `keep`, else 0.
    fn scaled_keep_mask(like: FloatTensor<Self>, keep: f64) -> FloatTensor<Self> {
        let device = like.device();
        let dtype = FloatDType::from(like.dtype());
        let mask = Self::float_random(like.shape(), Distribution::Bernoulli(keep), &device, dtype);
        Self::float_mul_scalar(mask, (1.0 / keep).into())
    }
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl DropoutOps for burn::backend::Cube {}

/// SplitMix64's output function: consecutive inputs give independent-looking outputs.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Elements per parallel task; each draws from its own stretch of the counter.
const CHUNK: usize = 1 << 14;

/// The f32 mask of `len` elements for `seed`: element i keeps when the i-th 32-bit draw is
/// below keep · 2³².
fn host_mask(len: usize, keep: f64, seed: u64) -> Vec<f32> {
    let threshold = (keep * 4_294_967_296.0).round().min(u32::MAX as f64) as u32;
    let scale = (1.0 / keep) as f32;
    let mut mask = vec![0.0f32; len];
    mask.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(c, chunk)| {
            let base = seed ^ ((c as u64) << 32);
            for (pair, out) in chunk.chunks_mut(2).enumerate() {
                let bits = mix(base.wrapping_add(pair as u64));
                for (o, draw) in out.iter_mut().zip([bits as u32, (bits >> 32) as u32]) {
                    *o = if draw < threshold { scale } else { 0.0 };
                }
            }
        });
    mask
}

impl DropoutOps for Flex {
    fn scaled_keep_mask(like: FloatTensor<Self>, keep: f64) -> FloatTensor<Self> {
        let device = like.device();
        let dtype = like.dtype();
        // One draw from the device generator per mask keeps `Device::seed` in charge.
        let seed_bits = Flex::float_random(
            [2].into(),
            Distribution::Uniform(0.0, 4_294_967_296.0),
            &device,
            FloatDType::F64,
        );
        let seed = seed_bits
            .into_data()
            .iter::<f64>()
            .fold(0u64, |acc, half| (acc << 32) | half as u64);
        let len = like.shape().num_elements();
        from_f32(host_mask(len, keep, seed), like.shape().to_vec(), dtype)
    }
}

impl<B: DropoutOps, C: CheckpointStrategy> DropoutOps for Autodiff<B, C> {
    fn scaled_keep_mask(like: FloatTensor<Self>, keep: f64) -> FloatTensor<Self> {
        Self::from_inner(B::scaled_keep_mask(Self::inner(like), keep))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_kernels::f32_values as values;
    use burn::nn::DropoutConfig;

    #[test]
    fn the_mask_keeps_the_asked_share_and_scales_what_it_keeps() {
        let mask = host_mask(200_000, 0.9, 7);
        let kept = mask.iter().filter(|&&m| m > 0.0).count() as f64 / mask.len() as f64;
        assert!((kept - 0.9).abs() < 0.005, "kept {kept}");
        assert!(
            mask.iter()
                .all(|&m| m == 0.0 || (m - 1.0 / 0.9).abs() < 1e-6)
        );
        assert_ne!(host_mask(1000, 0.5, 1), host_mask(1000, 0.5, 2));
        assert_eq!(host_mask(1000, 0.5, 1), host_mask(1000, 0.5, 1));
    }

    #[test]
    fn neighbouring_elements_and_chunks_are_not_correlated() {
        let mask = host_mask(4 * CHUNK, 0.5, 11);
        let kept: Vec<bool> = mask.iter().map(|&m| m > 0.0).collect();
        let agree = |offset: usize| {
            let same = kept
                .iter()
                .zip(&kept[offset..])
                .filter(|(a, b)| a == b)
                .count();
            same as f64 / (kept.len() - offset) as f64
        };
        for offset in [1, 2, CHUNK] {
            assert!(
                (agree(offset) - 0.5).abs() < 0.02,
                "offset {offset}: {}",
                agree(offset)
            );
        }
    }

    #[test]
    fn seeded_devices_repeat_masks_and_gradients_flow_through_kept_elements() {
        let device = Device::flex().autodiff();
        let layer = DropoutConfig::new(0.25).init();
        let run = || {
            device.seed(3);
            let x = Tensor::<2>::ones([8, 100], &device).require_grad();
            let y = dropout(&layer, x.clone());
            let grads = y.clone().sum().backward();
            (values(y), values(x.grad(&grads).unwrap()))
        };
        let (out, grad) = run();
        assert_eq!(run(), (out.clone(), grad.clone()));
        assert_eq!(out, grad, "d(x · mask)/dx is the mask");
        let dropped = out.iter().filter(|&&v| v == 0.0).count();
        assert!((120..280).contains(&dropped), "dropped {dropped} of 800");
    }

    #[test]
    fn evaluation_and_plain_devices_pass_the_input_through() {
        let layer = DropoutConfig::new(0.5).init();
        let x = Tensor::<2>::ones([4, 4], &Device::flex());
        assert_eq!(values(dropout(&layer, x.clone())), values(x));
    }
}
