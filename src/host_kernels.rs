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

#[cfg(test)]
mod tests {
    use super::*;

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
