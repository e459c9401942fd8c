//! Helpers for operations written as host loops on the `flex` backend (backend extensions in
//! the examples and in [`nn`](crate::nn)): kernels work on contiguous f32 and hand back the
//! caller's float type.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
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
