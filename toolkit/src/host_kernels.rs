//! Helpers for operations written as host loops on the `flex` backend (backend extensions in
//! the examples and in [`nn`](crate::nn)): kernels work on contiguous f32 and hand back the
//! caller's float type.

use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::{BackendTensor, DispatchTensorKind, Flex};
use burn::prelude::*;
use burn::tensor::{DType, FloatDType, TensorData};

/// `t` as contiguous f32 storage (`as_slice::<f32>()` is then `Some`), without a copy when it
/// already is.
pub fn contiguous_f32(t: FlexTensor) -> FlexTensor {
    let t = if t.dtype() == DType::F32 {
        t
    } else {
        Flex::float_cast(t, FloatDType::F32)
    };
    if t.as_slice::<f32>().is_some() {
        t
    } else {
        t.to_contiguous()
    }
}

/// A tensor of `shape` from f32 `values`, cast to `dtype` (the float type the inputs had).
pub fn from_f32(values: Vec<f32>, shape: Vec<usize>, dtype: DType) -> FlexTensor {
    let out = FlexTensor::from_data(TensorData::new(values, shape));
    if dtype == DType::F32 {
        out
    } else {
        Flex::float_cast(out, FloatDType::from(dtype))
    }
}

/// The `flex` float tensor behind `t`, for calling host kernels directly (in their tests);
/// `None` when `t` lives on another backend or under autodiff.
pub fn flex_float<const D: usize>(t: Tensor<D>) -> Option<FlexTensor> {
    #[allow(unreachable_patterns)]
    match t.into_dispatch().kind {
        DispatchTensorKind::Flex(BackendTensor::Float(x)) => Some(x),
        _ => None,
    }
}

/// e^x to within 2 ulp for x in [−87, 88] (clamped outside, so e^(−∞) is 2⁻¹²⁶, not 0), written
/// without branches or calls so loops over it vectorise: glibc's `expf` is a call per element.
/// Cephes' `expf`: x = n·ln 2 + r, a degree-6 polynomial for e^r, 2ⁿ put in the exponent bits.
#[inline(always)]
pub fn fast_exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that n·LN2_HI is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer without a call.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.3);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let poly = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2)
        * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let er = poly * r * r + r + 1.0;
    er * f32::from_bits(((n as i32 + 127) << 23) as u32)
}

/// erf(x) to within 5·10⁻⁷ (7 ulp of 1 at worst), without branches or calls so loops over it vectorise (libm's `erff`
/// is a call per element): Eigen's rational approximation, odd degree 13 over even degree 8,
/// on x clamped to [−4, 4], where erf is ±1 in f32.
#[inline(always)]
pub fn fast_erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = ((((((-2.726_142_3e-10 * x2 + 2.770_681_4e-8) * x2 - 2.101_024e-6) * x2
        - 5.692_506_4e-5)
        * x2
        - 7.349_906_3e-4)
        * x2
        - 2.954_6e-3)
        * x2
        - 1.609_603_3e-2)
        * x;
    let q = (((-1.456_607_2e-5 * x2 - 2.133_740_6e-4) * x2 - 1.682_827e-3) * x2 - 7.373_329_2e-3)
        * x2
        - 1.426_473_9e-2;
    p / q
}

/// A tensor's values as f32, for tests.
#[cfg(test)]
#[allow(deprecated)]
pub(crate) fn f32_values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every float in a range, strided: the approximations against libm's, which are within an
    /// ulp or two of exact.
    fn sweep(lo: f32, hi: f32) -> impl Iterator<Item = f32> {
        (0..=200_000).map(move |i| lo + (hi - lo) * i as f32 / 200_000.0)
    }

    #[test]
    fn fast_exp_is_within_two_ulp_of_libm() {
        for x in sweep(-87.0, 88.0) {
            let (ours, exact) = (fast_exp(x), (x as f64).exp() as f32);
            let ulps = (ours.to_bits() as i64 - exact.to_bits() as i64).abs();
            assert!(ulps <= 2, "exp({x}) = {ours}, exact {exact}");
        }
        assert_eq!(fast_exp(0.0), 1.0);
        assert!(fast_exp(f32::MIN) < 1e-37 && fast_exp(f32::MIN) >= 0.0);
    }

    #[test]
    fn fast_erf_is_within_5e_7_of_libm() {
        let exact = |x: f32| burn::backend::flex::ops::unary::erf_f64(x as f64) as f32;
        let worst = sweep(-6.0, 6.0)
            .map(|x| (fast_erf(x) - exact(x)).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= 5e-7, "worst error {worst}");
    }

    #[test]
    fn flex_tensors_are_found_and_autodiff_ones_are_not() {
        let plain = Tensor::<2>::ones([2, 3], &Device::flex());
        let found = flex_float(plain).expect("a flex tensor");
        assert_eq!(found.as_slice::<f32>(), Some(&[1.0f32; 6][..]));
        assert!(flex_float(Tensor::<2>::ones([2, 3], &Device::flex().autodiff())).is_none());
    }

    #[test]
    fn half_precision_goes_through_f32_and_back() {
        let half = Tensor::<2>::ones([2, 2], &Device::flex()).cast(DType::F16);
        let f32_view = contiguous_f32(flex_float(half).unwrap());
        assert_eq!(f32_view.as_slice::<f32>(), Some(&[1.0f32; 4][..]));
        let back = from_f32(vec![0.5; 4], vec![2, 2], DType::F16);
        assert_eq!(back.dtype(), DType::F16);
    }
}
