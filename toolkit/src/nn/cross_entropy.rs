//! Per-row cross-entropy from logits in one parallel pass each way on `flex`.
//!
//! `log_softmax(logits).gather(labels)` records max, subtract, exp, sum, log, subtract and a
//! gather, and its gradient adds a scatter into a zeroed tensor of the logits' size: about a dozen
//! single-threaded passes on `flex`. For a masked-language-model head that tensor is
//! predictions × vocabulary (600 × 30,522 floats at batch 32 × 128), so those passes cost more
//! than the head's matmul. Here the forward pass computes one log-sum-exp per row, and the
//! gradient recomputes it and writes softmax − one-hot once, both row-parallel. Other backends compose them from burn's
//! operations.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{
    Autodiff, AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension,
};
use burn::prelude::*;
use burn::tensor::IndexingUpdateOp;
use rayon::prelude::*;

use super::unary_gradient::with_unary_gradient;
use crate::host_kernels::{contiguous_f32, fast_exp, from_f32};

/// `−log softmax(logits)[row, labels[row]]` for each row of `logits` (rows × classes), as
/// `-log_softmax(logits, 1).gather(1, labels)` computes it, with a faster pass each way.
///
/// ```
/// use lightning_toolkit::burn::prelude::*;
/// use lightning_toolkit::nn::cross_entropy_per_row;
///
/// let device = Device::flex();
/// let logits = Tensor::<2>::from_floats([[0.0, 0.0], [0.0, 3.0f32.ln()]], &device);
/// let labels = Tensor::<1, Int>::from_ints([0, 1], &device);
/// let loss: Vec<f32> = cross_entropy_per_row(logits, labels).into_data().to_vec().unwrap();
/// assert!((loss[0] - 2.0f32.ln()).abs() < 1e-6 && (loss[1] - (4.0f32 / 3.0).ln()).abs() < 1e-6);
/// ```
pub fn cross_entropy_per_row(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [rows, _] = logits.dims();
    assert_eq!(labels.dims(), [rows], "one label per row of logits");
    Tensor::from_dispatch(<Dispatch as CrossEntropyOps>::cross_entropy_rows(
        logits.into_dispatch(),
        labels.into_dispatch(),
    ))
}

/// Per-row cross-entropy and its gradient as backend operations.
#[backend_extension(Flex, Autodiff, Cube: cfg(any(feature = "wgpu", feature = "cuda")))]
pub trait CrossEntropyOps: Backend {
    /// Per-row loss `[rows]` of `logits` `[rows, classes]` against `labels` `[rows]`.
    fn cross_entropy_rows(logits: FloatTensor<Self>, labels: IntTensor<Self>) -> FloatTensor<Self> {
        composed::forward::<Self>(logits, labels)
    }
    /// The logits' gradient, (softmax − one-hot) · grad per row, from the per-row loss's
    /// gradient `grad` `[rows]`.
    fn cross_entropy_rows_backward(
        logits: FloatTensor<Self>,
        labels: IntTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        composed::backward::<Self>(logits, labels, grad)
    }
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl CrossEntropyOps for burn::backend::Cube {}

/// Both passes from burn's operations.
mod composed {
    use super::*;

    fn columns<B: Backend>(labels: IntTensor<B>) -> IntTensor<B> {
        let rows = labels.shape()[0];
        B::int_reshape(labels, [rows, 1].into())
    }

    /// log Σ exp over each row, [rows, 1].
    fn log_sum_exp<B: Backend>(logits: FloatTensor<B>) -> FloatTensor<B> {
        let max = B::float_max_dim(logits.clone(), 1);
        let shifted = B::float_exp(B::float_sub(logits, max.clone()));
        B::float_add(B::float_log(B::float_sum_dim(shifted, 1)), max)
    }

    pub fn forward<B: Backend>(logits: FloatTensor<B>, labels: IntTensor<B>) -> FloatTensor<B> {
        let rows = logits.shape()[0];
        let picked = B::float_gather(1, logits.clone(), columns::<B>(labels));
        let loss = B::float_sub(log_sum_exp::<B>(logits), picked);
        B::float_reshape(loss, [rows].into())
    }

    pub fn backward<B: Backend>(
        logits: FloatTensor<B>,
        labels: IntTensor<B>,
        grad: FloatTensor<B>,
    ) -> FloatTensor<B> {
        let rows = logits.shape()[0];
        let probs = B::float_exp(B::float_sub(
            logits.clone(),
            log_sum_exp::<B>(logits.clone()),
        ));
        let ones = B::float_ones([rows, 1].into(), &logits.device(), logits.dtype().into());
        let one_hot_removed = B::float_scatter(
            1,
            probs,
            columns::<B>(labels),
            B::float_neg(ones),
            IndexingUpdateOp::Add,
        );
        B::float_mul(one_hot_removed, B::float_reshape(grad, [rows, 1].into()))
    }
}

/// Rows per parallel task: MLM rows are vocabulary-wide, a few tasks per core suffice.
const ROWS_PER_TASK: usize = 4;

/// Row-parallel host passes in f32.
mod host {
    use super::*;

    fn labels_of(labels: FlexTensor, rows: usize, classes: usize) -> Vec<usize> {
        let labels: Vec<usize> = labels
            .into_data()
            .convert::<i64>()
            .iter::<i64>()
            .map(|l| {
                assert!(
                    (0..classes as i64).contains(&l),
                    "label {l} outside the {classes} classes"
                );
                l as usize
            })
            .collect();
        assert_eq!(labels.len(), rows, "one label per row of logits");
        labels
    }

    /// (max, log Σ exp(x − max) + max) of one row.
    fn log_sum_exp(row: &[f32]) -> f32 {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = row.iter().map(|&x| fast_exp(x - max)).sum();
        sum.ln() + max
    }

    pub fn forward(logits: FlexTensor, labels: FlexTensor) -> FlexTensor {
        let (dtype, [rows, classes]) = (logits.dtype(), dims(&logits));
        let labels = labels_of(labels, rows, classes);
        let logits = contiguous_f32(logits);
        let x = logits.as_slice::<f32>().expect("contiguous f32");
        let loss: Vec<f32> = x
            .par_chunks(classes.max(1))
            .zip(labels.par_iter())
            .map(|(row, &label)| log_sum_exp(row) - row[label])
            .collect();
        from_f32(loss, vec![rows], dtype)
    }

    pub fn backward(logits: FlexTensor, labels: FlexTensor, grad: FlexTensor) -> FlexTensor {
        let (dtype, [rows, classes]) = (logits.dtype(), dims(&logits));
        let labels = labels_of(labels, rows, classes);
        let (logits, grad) = (contiguous_f32(logits), contiguous_f32(grad));
        let x = logits.as_slice::<f32>().expect("contiguous f32");
        let grad = grad.as_slice::<f32>().expect("contiguous f32");
        let width = classes.max(1);
        let mut out = vec![0.0f32; x.len()];
        out.par_chunks_mut(ROWS_PER_TASK * width)
            .zip(x.par_chunks(ROWS_PER_TASK * width))
            .zip(
                labels
                    .par_chunks(ROWS_PER_TASK)
                    .zip(grad.par_chunks(ROWS_PER_TASK)),
            )
            .for_each(|((out, x), (labels, grad))| {
                for (((out, row), &label), &g) in out
                    .chunks_mut(width)
                    .zip(x.chunks(width))
                    .zip(labels)
                    .zip(grad)
                {
                    let lse = log_sum_exp(row);
                    for (o, &v) in out.iter_mut().zip(row) {
                        *o = fast_exp(v - lse) * g;
                    }
                    out[label] -= g;
                }
            });
        from_f32(out, vec![rows, classes], dtype)
    }

    fn dims(logits: &FlexTensor) -> [usize; 2] {
        let shape = logits.shape();
        assert_eq!(shape.num_dims(), 2, "logits must be rows × classes");
        [shape[0], shape[1]]
    }
}

impl CrossEntropyOps for Flex {
    fn cross_entropy_rows(logits: FloatTensor<Self>, labels: IntTensor<Self>) -> FloatTensor<Self> {
        host::forward(logits, labels)
    }
    fn cross_entropy_rows_backward(
        logits: FloatTensor<Self>,
        labels: IntTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        host::backward(logits, labels, grad)
    }
}

impl<B: CrossEntropyOps, C: CheckpointStrategy> CrossEntropyOps for Autodiff<B, C> {
    fn cross_entropy_rows(logits: FloatTensor<Self>, labels: IntTensor<Self>) -> FloatTensor<Self> {
        with_unary_gradient::<B, C, _>(
            logits,
            |logits| {
                let loss = B::cross_entropy_rows(logits.clone(), labels.clone());
                (loss, (logits, labels))
            },
            |(logits, labels), grad| B::cross_entropy_rows_backward(logits, labels, grad),
        )
    }
    fn cross_entropy_rows_backward(
        logits: FloatTensor<Self>,
        labels: IntTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        // Called by the backward step on the inner backend; no gradients of gradients here.
        Self::from_inner(B::cross_entropy_rows_backward(
            Self::inner(logits),
            labels,
            Self::inner(grad),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_kernels::f32_values as values;
    use burn::tensor::activation::log_softmax;
    use burn::tensor::{Distribution, Tolerance};

    fn labels(device: &Device) -> Tensor<1, Int> {
        Tensor::from_ints([3, 0, 6, 6, 1, 2, 5, 0, 4], device)
    }

    /// Losses and gradients against log_softmax + gather, over more rows than one task holds.
    #[test]
    fn losses_and_gradients_match_log_softmax_and_gather() {
        let device = Device::flex().autodiff();
        device.seed(8);
        let logits =
            Tensor::<2>::random([9, 7], Distribution::Normal(0.0, 4.0), &device).require_grad();
        let weights = Tensor::<1>::random([9], Distribution::Default, &device);
        let run = |loss: Tensor<1>| {
            let grads = (loss.clone() * weights.clone()).sum().backward();
            (values(loss), values(logits.grad(&grads).unwrap()))
        };
        let ours = run(cross_entropy_per_row(logits.clone(), labels(&device)));
        let theirs = run(log_softmax(logits.clone(), 1)
            .gather(1, labels(&device).unsqueeze_dim::<2>(1))
            .neg()
            .squeeze_dim::<1>(1));
        for (a, b) in ours
            .0
            .iter()
            .zip(&theirs.0)
            .chain(ours.1.iter().zip(&theirs.1))
        {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn composed_passes_match_the_host_passes() {
        let device = Device::flex();
        device.seed(9);
        let logits = Tensor::<2>::random([9, 7], Distribution::Normal(0.0, 4.0), &device);
        let grad = Tensor::<1>::random([9], Distribution::Default, &device);
        let flex = |t: Tensor<2>| crate::host_kernels::flex_float(t).unwrap();
        let flex1 = |t: Tensor<1>| crate::host_kernels::flex_float(t).unwrap();
        let int = |t: Tensor<1, Int>| match t.into_dispatch().kind {
            burn::backend::DispatchTensorKind::Flex(burn::backend::BackendTensor::Int(x)) => x,
            _ => unreachable!("a flex int tensor"),
        };
        let tolerance = Tolerance::rel_abs(1e-5, 1e-6);
        let host = host::forward(flex(logits.clone()), int(labels(&device)));
        let composed = composed::forward::<Flex>(flex(logits.clone()), int(labels(&device)));
        host.into_data()
            .assert_approx_eq::<f32>(&composed.into_data(), tolerance);
        let host = host::backward(
            flex(logits.clone()),
            int(labels(&device)),
            flex1(grad.clone()),
        );
        let composed = composed::backward::<Flex>(flex(logits), int(labels(&device)), flex1(grad));
        host.into_data()
            .assert_approx_eq::<f32>(&composed.into_data(), tolerance);
    }

    #[test]
    #[should_panic(expected = "label 7 outside the 7 classes")]
    fn a_label_outside_the_classes_is_refused() {
        let device = Device::flex();
        let logits = Tensor::<2>::zeros([1, 7], &device);
        cross_entropy_per_row(logits, Tensor::from_ints([7], &device));
    }
}
