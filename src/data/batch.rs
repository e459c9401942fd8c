//! What a dataloader yields and the Trainer moves to the device.

use burn::prelude::*;
use burn::tensor::{Bool, FloatDType, Int};

/// A batch as the collate function builds it: host tensors that
/// [`transfer_batch_to_device`](crate::LightningModule::transfer_batch_to_device) moves to the
/// training device, and a size that weights epoch means of logged values.
pub trait Batch: Send + 'static {
    /// Moves every tensor of the batch to `device`.
    fn to_device(self, device: &Device) -> Self;
    /// Number of examples, the weight of this batch in `on_epoch` means.
    fn batch_size(&self) -> usize;
    /// Casts the float tensors to `dtype` (mixed precision's half-precision step); integer and
    /// boolean tensors stay as they are. Batches with float tensors must implement it.
    fn cast_float(self, _dtype: FloatDType) -> Self
    where
        Self: Sized,
    {
        self
    }
}

macro_rules! tensor_batch {
    ($($ty:ty),*) => {$(
        impl<const D: usize> Batch for $ty {
            fn to_device(self, device: &Device) -> Self {
                Self::to_device(self, device)
            }
            fn batch_size(&self) -> usize {
                self.dims()[0]
            }
        }
    )*};
}

tensor_batch!(Tensor<D, Int>, Tensor<D, Bool>);

impl<const D: usize> Batch for Tensor<D> {
    fn to_device(self, device: &Device) -> Self {
        Self::to_device(self, device)
    }
    fn batch_size(&self) -> usize {
        self.dims()[0]
    }
    fn cast_float(self, dtype: FloatDType) -> Self {
        self.cast(dtype)
    }
}

impl<A: Batch, B: Batch> Batch for (A, B) {
    fn to_device(self, device: &Device) -> Self {
        (self.0.to_device(device), self.1.to_device(device))
    }
    fn batch_size(&self) -> usize {
        self.0.batch_size()
    }
    fn cast_float(self, dtype: FloatDType) -> Self {
        (self.0.cast_float(dtype), self.1.cast_float(dtype))
    }
}

impl<A: Batch, B: Batch, C: Batch> Batch for (A, B, C) {
    fn to_device(self, device: &Device) -> Self {
        (
            self.0.to_device(device),
            self.1.to_device(device),
            self.2.to_device(device),
        )
    }
    fn batch_size(&self) -> usize {
        self.0.batch_size()
    }
    fn cast_float(self, dtype: FloatDType) -> Self {
        (
            self.0.cast_float(dtype),
            self.1.cast_float(dtype),
            self.2.cast_float(dtype),
        )
    }
}
