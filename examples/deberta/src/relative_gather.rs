//! The gather that turns position scores into per-pair attention terms, as a burn backend
//! extension with its own gradient.
//!
//! Disentangled attention scores every query against the whole relative-position table
//! (length × 2·span per head) and then reads, for each (query, key) pair, the one table row its
//! bucketed distance points at. transformers does that with `torch.gather` and an index
//! expanded to batch × heads × length × length. On `flex` such a gather reads a materialised
//! 64-bit index of that size (100 MB at batch 8, 6 heads, 512 tokens) per term and layer, and
//! its gradient is a general scatter over the same index. The index is the same for every
//! sequence and head, so here it is host data of length × length offsets, computed once per
//! forward pass, and both directions are one pass over each head's scores. `p2c`'s transpose
//! is folded into the offsets. Other backends compose burn's gather and scatter.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    Autodiff, AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension,
};
use burn::prelude::*;
use burn::tensor::{FloatDType, IndexingUpdateOp, TensorData};
use rayon::prelude::*;

/// For each (query, key) pair of a length × length score matrix, where its value sits in one
/// head's length × `width` position scores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelativeIndex {
    len: usize,
    width: usize,
    /// `offsets[i · len + j]` indexes the row-major length × width source of one head.
    offsets: Vec<u32>,
}

impl RelativeIndex {
    /// The index of a content-to-position term: pair (i, j) reads `source[i, rows[i][j]]`;
    /// `rows` is row-major length × length, every entry below `width`.
    pub fn content_to_position(len: usize, width: usize, rows: &[i64]) -> Self {
        Self::build(len, width, rows, false)
    }

    /// The index of a position-to-content term, transposed as in transformers: pair (i, j)
    /// reads `source[j, rows[j][i]]`, the key's scores against the query's distance.
    pub fn position_to_content(len: usize, width: usize, rows: &[i64]) -> Self {
        Self::build(len, width, rows, true)
    }

    fn build(len: usize, width: usize, rows: &[i64], transposed: bool) -> Self {
        assert_eq!(
            rows.len(),
            len * len,
            "relative rows must be length × length"
        );
        assert!(
            rows.iter().all(|&r| (0..width as i64).contains(&r)),
            "relative rows must lie in the table of {width} rows"
        );
        assert!(
            len * width <= u32::MAX as usize,
            "relative scores too large"
        );
        let offsets = (0..len * len)
            .map(|pair| {
                let (i, j) = (pair / len, pair % len);
                let (source_row, at) = if transposed {
                    (j, j * len + i)
                } else {
                    (i, pair)
                };
                (source_row * width + rows[at] as usize) as u32
            })
            .collect();
        Self {
            len,
            width,
            offsets,
        }
    }
}

/// Reads each (query, key) pair's position score: `source` is `[.., len, width]`, the result
/// `[.., len, len]`. Differentiable: the gradient adds back into the pairs' source entries.
pub fn gather_relative(source: Tensor<4>, index: &Arc<RelativeIndex>) -> Tensor<4> {
    let [_, _, len, width] = source.dims();
    assert_eq!(
        (len, width),
        (index.len, index.width),
        "position scores do not match the relative index"
    );
    let out =
        <Dispatch as RelativeGatherOps>::gather_relative(source.into_dispatch(), index.clone());
    Tensor::from_dispatch(out)
}

/// The gather and its gradient as backend operations. The default bodies use burn's gather and
/// scatter on the device; `flex` overrides them with host loops, autodiff links the two.
#[backend_extension(Flex, Autodiff, Cube: cfg(any(feature = "wgpu", feature = "cuda")))]
pub trait RelativeGatherOps: Backend {
    /// `[.., len, width]` scores → `[.., len, len]` pair terms.
    fn gather_relative(source: FloatTensor<Self>, index: Arc<RelativeIndex>) -> FloatTensor<Self> {
        device_side::gather::<Self>(source, &index)
    }
    /// `[.., len, len]` pair gradients → `[.., len, width]`, summed where pairs share an entry.
    fn scatter_relative(grad: FloatTensor<Self>, index: Arc<RelativeIndex>) -> FloatTensor<Self> {
        device_side::scatter::<Self>(grad, &index)
    }
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl RelativeGatherOps for burn::backend::Cube {}

/// The same operations from burn's gather and scatter over each head's flattened scores.
mod device_side {
    use super::*;

    /// The offsets as an index of `heads` rows (one per sequence and head).
    fn offsets<B: Backend>(
        index: &RelativeIndex,
        heads: usize,
        device: &B::Device,
    ) -> B::IntTensorPrimitive {
        let flat: Vec<i32> = index.offsets.iter().map(|&o| o as i32).collect();
        let pairs = flat.len();
        let row = B::int_from_data(TensorData::new(flat, [1, pairs]), device);
        B::int_expand(row, [heads, pairs].into())
    }

    fn heads(shape: &[usize], per_head: usize) -> usize {
        shape.iter().product::<usize>() / per_head.max(1)
    }

    pub fn gather<B: Backend>(source: FloatTensor<B>, index: &RelativeIndex) -> FloatTensor<B> {
        let shape = source.shape();
        let n = heads(&shape, index.len * index.width);
        let device = source.device();
        let flat = B::float_reshape(source, [n, index.len * index.width].into());
        let picked = B::float_gather(1, flat, offsets::<B>(index, n, &device));
        let mut out: Vec<usize> = shape.to_vec();
        *out.last_mut().unwrap() = index.len;
        B::float_reshape(picked, out.into())
    }

    pub fn scatter<B: Backend>(grad: FloatTensor<B>, index: &RelativeIndex) -> FloatTensor<B> {
        let shape = grad.shape();
        let n = heads(&shape, index.len * index.len);
        let device = grad.device();
        let dtype = FloatDType::from(grad.dtype());
        let flat = B::float_reshape(grad, [n, index.len * index.len].into());
        let zeros = B::float_zeros([n, index.len * index.width].into(), &device, dtype);
        let summed = B::float_scatter(
            1,
            zeros,
            offsets::<B>(index, n, &device),
            flat,
            IndexingUpdateOp::Add,
        );
        let mut out: Vec<usize> = shape.to_vec();
        *out.last_mut().unwrap() = index.width;
        B::float_reshape(summed, out.into())
    }
}

/// Host loops for `flex`, parallel over heads, in f32 (other float types are cast there and
/// back).
mod host {
    use super::*;

    use lightning_toolkit::host_kernels::{contiguous_f32, from_f32};

    /// Runs `fill(one head's output, one head's input)` over every head into a new tensor of
    /// `shape` whose last dimension is `out_last`.
    fn per_head(
        input: FlexTensor,
        in_per_head: usize,
        out_per_head: usize,
        out_last: usize,
        fill: impl Fn(&mut [f32], &[f32]) + Sync,
    ) -> FlexTensor {
        let dtype = input.dtype();
        let mut shape: Vec<usize> = input.shape().to_vec();
        *shape.last_mut().unwrap() = out_last;
        let input = contiguous_f32(input);
        let source = input.as_slice::<f32>().expect("contiguous f32");
        let heads = source.len() / in_per_head.max(1);
        let mut out = vec![0.0f32; heads * out_per_head];
        out.par_chunks_mut(out_per_head.max(1))
            .zip(source.par_chunks(in_per_head.max(1)))
            .for_each(|(o, s)| fill(o, s));
        from_f32(out, shape, dtype)
    }

    pub fn gather(source: FlexTensor, index: &RelativeIndex) -> FlexTensor {
        let (pairs, entries) = (index.len * index.len, index.len * index.width);
        per_head(source, entries, pairs, index.len, |out, scores| {
            for (o, &at) in out.iter_mut().zip(&index.offsets) {
                *o = scores[at as usize];
            }
        })
    }

    pub fn scatter(grad: FlexTensor, index: &RelativeIndex) -> FlexTensor {
        let (pairs, entries) = (index.len * index.len, index.len * index.width);
        per_head(grad, pairs, entries, index.width, |out, grad| {
            for (g, &at) in grad.iter().zip(&index.offsets) {
                out[at as usize] += g;
            }
        })
    }
}

impl RelativeGatherOps for Flex {
    fn gather_relative(source: FloatTensor<Self>, index: Arc<RelativeIndex>) -> FloatTensor<Self> {
        host::gather(source, &index)
    }
    fn scatter_relative(grad: FloatTensor<Self>, index: Arc<RelativeIndex>) -> FloatTensor<Self> {
        host::scatter(grad, &index)
    }
}

/// The gather's backward step: scatter the pair gradients back through the same index.
#[derive(Debug)]
struct GatherRelativeBackward;

impl<B: RelativeGatherOps> Backward<B, 1> for GatherRelativeBackward {
    type State = Arc<RelativeIndex>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let index = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |g| {
            B::scatter_relative(g, index)
        });
    }
}

impl<B: RelativeGatherOps, C: CheckpointStrategy> RelativeGatherOps for Autodiff<B, C> {
    fn gather_relative(source: FloatTensor<Self>, index: Arc<RelativeIndex>) -> FloatTensor<Self> {
        let (source, node) = source.into_parts();
        match GatherRelativeBackward
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = B::gather_relative(source, index.clone());
                prep.finish(index, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::gather_relative(source, index)),
        }
    }
    fn scatter_relative(grad: FloatTensor<Self>, index: Arc<RelativeIndex>) -> FloatTensor<Self> {
        // The backward step calls the inner backend's scatter; nothing here needs gradients of
        // gradients, so this one is a constant.
        Self::from_inner(B::scatter_relative(Self::inner(grad), index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, Int};

    /// A 3-token index into a 4-row table, with repeated rows so gradients must sum.
    fn rows() -> Vec<i64> {
        vec![2, 1, 0, 3, 2, 1, 3, 3, 2]
    }

    #[allow(deprecated)]
    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().to_vec::<f32>().unwrap()
    }

    /// transformers' way: gather with the index expanded over batch and heads, then transpose
    /// for `p2c`.
    fn reference(source: Tensor<4>, rows: &[i64], transposed: bool) -> Tensor<4> {
        let [b, h, len, _] = source.dims();
        let index = Tensor::<1, Int>::from_ints(rows, &source.device())
            .reshape([1, 1, len, len])
            .expand([b, h, len, len]);
        let picked = source.gather(3, index);
        if transposed {
            picked.swap_dims(2, 3)
        } else {
            picked
        }
    }

    fn check(device: &Device, transposed: bool) {
        device.seed(3);
        let source =
            Tensor::<4>::random([2, 3, 3, 4], Distribution::Default, device).require_grad();
        let weights = Tensor::<4>::random([2, 3, 3, 3], Distribution::Default, device);
        let index = Arc::new(if transposed {
            RelativeIndex::position_to_content(3, 4, &rows())
        } else {
            RelativeIndex::content_to_position(3, 4, &rows())
        });
        let ours = gather_relative(source.clone(), &index);
        let theirs = reference(source.clone(), &rows(), transposed);
        assert_eq!(values(ours.clone()), values(theirs.clone()));
        let grad = |out: Tensor<4>| {
            let grads = (out * weights.clone()).sum().backward();
            values(source.grad(&grads).unwrap())
        };
        let (a, b) = (grad(ours), grad(theirs));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn host_gather_and_gradient_match_transformers_gather_for_both_terms() {
        let device = Device::flex().autodiff();
        check(&device, false);
        check(&device, true);
    }

    fn on_flex(t: Tensor<4>) -> FlexTensor {
        lightning_toolkit::host_kernels::flex_float(t).expect("a flex tensor")
    }

    #[test]
    fn device_side_gather_matches_the_host_loops() {
        let device = Device::flex();
        device.seed(5);
        let source = Tensor::<4>::random([2, 1, 3, 4], Distribution::Default, &device);
        let index = RelativeIndex::position_to_content(3, 4, &rows());
        let host = host::gather(on_flex(source.clone()), &index).into_data();
        let side = device_side::gather::<Flex>(on_flex(source), &index).into_data();
        assert_eq!(host, side);
        let grad = Tensor::<4>::random([2, 1, 3, 3], Distribution::Default, &device);
        let host = host::scatter(on_flex(grad.clone()), &index).into_data();
        let side = device_side::scatter::<Flex>(on_flex(grad), &index).into_data();
        assert_eq!(host.shape(), side.shape());
        host.assert_approx_eq::<f32>(&side, burn::tensor::Tolerance::absolute(1e-6));
    }
}
