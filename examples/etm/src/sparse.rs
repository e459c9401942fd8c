//! Products with a sparse matrix, each with its own gradient, as a burn backend extension.
//!
//! A bag of words is ~95% zeros: at batch 1000 the encoder's first layer would spend 2.4 GFLOP
//! multiplying zeros (forward and weight gradient each), and the reconstruction term would form
//! a documents × vocabulary probability matrix to read ~3% of it. Three operations close over
//! each other's gradients, so these products cost one multiply-add per stored entry and column:
//!
//! - `S · D`   ([`SparseMatrix::matmul`]),
//! - `Sᵀ · D`  ([`SparseMatrix::transpose_matmul`]),
//! - `(L · Rᵀ)` read only at S's entries ([`sampled_matmul`]).
//!
//! The nonzero pattern is host data (built by the collate function, on the loader's threads);
//! the values are a tensor, so gradients reach them too. `flex` runs host kernels parallel over
//! rows; other backends compose gathers and scatters, which materialise one row per entry but
//! stay on the device.

use std::sync::Arc;

use anyhow::{Result, ensure};
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, binary};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::prelude::*;
use burn::tensor::{FloatDType, IndexingUpdateOp, TensorData};
use rayon::prelude::*;

/// Where the entries of a rows × columns sparse matrix are: compressed rows, plus the same
/// entries grouped by column for the transposed product.
#[derive(Debug, PartialEq)]
pub struct SparsePattern {
    rows: usize,
    columns: usize,
    /// Entries of row r are `row_starts[r]..row_starts[r + 1]`.
    row_starts: Vec<usize>,
    /// Column of each entry.
    entry_columns: Vec<u32>,
    /// Row of each entry.
    entry_rows: Vec<u32>,
    /// Entries of column c are `by_column[column_starts[c]..column_starts[c + 1]]`.
    column_starts: Vec<usize>,
    /// Entry indices ordered by column.
    by_column: Vec<u32>,
}

impl SparsePattern {
    /// A pattern from each row's column ids; every id must be below `columns`.
    pub fn from_rows<'a>(
        columns: usize,
        rows: impl IntoIterator<Item = &'a [u32]>,
    ) -> Result<Self> {
        let mut row_starts = vec![0];
        let mut entry_columns = Vec::new();
        let mut entry_rows = Vec::new();
        for (r, ids) in rows.into_iter().enumerate() {
            for &c in ids {
                ensure!(
                    (c as usize) < columns,
                    "sparse row {r} has column {c}, expected below {columns}"
                );
            }
            entry_columns.extend_from_slice(ids);
            entry_rows.extend(std::iter::repeat_n(r as u32, ids.len()));
            row_starts.push(entry_columns.len());
        }
        let mut column_starts = vec![0usize; columns + 1];
        for &c in &entry_columns {
            column_starts[c as usize + 1] += 1;
        }
        for c in 0..columns {
            column_starts[c + 1] += column_starts[c];
        }
        let mut next = column_starts[..columns].to_vec();
        let mut by_column = vec![0u32; entry_columns.len()];
        for (entry, &c) in entry_columns.iter().enumerate() {
            by_column[next[c as usize]] = entry as u32;
            next[c as usize] += 1;
        }
        Ok(Self {
            rows: row_starts.len() - 1,
            columns,
            row_starts,
            entry_columns,
            entry_rows,
            column_starts,
            by_column,
        })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Number of columns.
    pub fn columns(&self) -> usize {
        self.columns
    }
    /// Number of stored entries.
    pub fn entries(&self) -> usize {
        self.entry_columns.len()
    }
    /// Row of each entry, in entry order.
    pub fn entry_rows(&self) -> &[u32] {
        &self.entry_rows
    }
    /// Column of each entry, in entry order.
    pub fn entry_columns(&self) -> &[u32] {
        &self.entry_columns
    }
}

/// A sparse matrix: a host-side pattern and one value per entry.
#[derive(Debug, Clone)]
pub struct SparseMatrix {
    /// Where the entries are.
    pub pattern: Arc<SparsePattern>,
    /// One value per entry, in entry order.
    pub values: Tensor<1>,
}

impl SparseMatrix {
    /// `self · dense`: rows × dense's columns.
    pub fn matmul(&self, dense: Tensor<2>) -> Tensor<2> {
        Tensor::from_dispatch(<Dispatch as SparseOps>::sparse_matmul(
            self.values.clone().into_dispatch(),
            dense.into_dispatch(),
            self.pattern.clone(),
        ))
    }

    /// `selfᵀ · dense`: columns × dense's columns.
    pub fn transpose_matmul(&self, dense: Tensor<2>) -> Tensor<2> {
        Tensor::from_dispatch(<Dispatch as SparseOps>::sparse_transpose_matmul(
            self.values.clone().into_dispatch(),
            dense.into_dispatch(),
            self.pattern.clone(),
        ))
    }

    /// The sum of each row's values.
    pub fn row_sums(&self) -> Tensor<1> {
        let ones = Tensor::ones([self.pattern.columns, 1], &self.values.device());
        self.matmul(ones).squeeze_dim(1)
    }

    /// The same pattern with other values.
    pub fn with_values(&self, values: Tensor<1>) -> Self {
        Self {
            pattern: self.pattern.clone(),
            values,
        }
    }

    /// Moves the values to `device`.
    pub fn to_device(self, device: &Device) -> Self {
        Self {
            pattern: self.pattern,
            values: self.values.to_device(device),
        }
    }
}

/// `(left · rightᵀ)[r, c]` at each entry (r, c) of `pattern`, in entry order: `left` is
/// rows × K, `right` columns × K.
pub fn sampled_matmul(
    left: Tensor<2>,
    right: Tensor<2>,
    pattern: &Arc<SparsePattern>,
) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as SparseOps>::sampled_matmul(
        left.into_dispatch(),
        right.into_dispatch(),
        pattern.clone(),
    ))
}

/// The three products as backend operations. The default bodies are the device-side gather and
/// scatter versions; `flex` overrides them with host kernels, autodiff adds the gradients.
#[backend_extension(Flex, Autodiff, Cube: cfg(any(feature = "wgpu", feature = "cuda")))]
pub trait SparseOps: Backend {
    /// `S · dense` for S = (pattern, values).
    fn sparse_matmul(
        values: FloatTensor<Self>,
        dense: FloatTensor<Self>,
        pattern: Arc<SparsePattern>,
    ) -> FloatTensor<Self> {
        gathered::sparse_matmul::<Self>(values, dense, &pattern, false)
    }
    /// `Sᵀ · dense` for S = (pattern, values).
    fn sparse_transpose_matmul(
        values: FloatTensor<Self>,
        dense: FloatTensor<Self>,
        pattern: Arc<SparsePattern>,
    ) -> FloatTensor<Self> {
        gathered::sparse_matmul::<Self>(values, dense, &pattern, true)
    }
    /// `left · rightᵀ` at the pattern's entries.
    fn sampled_matmul(
        left: FloatTensor<Self>,
        right: FloatTensor<Self>,
        pattern: Arc<SparsePattern>,
    ) -> FloatTensor<Self> {
        gathered::sampled_matmul::<Self>(left, right, &pattern)
    }
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl SparseOps for burn::backend::Cube {}

/// Device-side versions built from burn's gather (`select`) and scatter (`select_assign`).
mod gathered {
    use super::*;

    fn index_tensor<B: Backend>(ids: &[u32], device: &B::Device) -> IntTensor<B> {
        let ids: Vec<i32> = ids.iter().map(|&i| i as i32).collect();
        let n = ids.len();
        B::int_from_data(TensorData::new(ids, [n]), device)
    }

    /// `S · dense`, or `Sᵀ · dense` when `transposed`.
    pub fn sparse_matmul<B: Backend>(
        values: FloatTensor<B>,
        dense: FloatTensor<B>,
        pattern: &SparsePattern,
        transposed: bool,
    ) -> FloatTensor<B> {
        let device = dense.device();
        let width = dense.shape()[1];
        let (read, write, out_rows) = if transposed {
            (&pattern.entry_rows, &pattern.entry_columns, pattern.columns)
        } else {
            (&pattern.entry_columns, &pattern.entry_rows, pattern.rows)
        };
        let picked = B::float_select(dense, 0, index_tensor::<B>(read, &device));
        let n = pattern.entries();
        let scaled = B::float_mul(picked, B::float_reshape(values, [n, 1].into()));
        let dtype = FloatDType::from(scaled.dtype());
        let zeros = B::float_zeros([out_rows, width].into(), &device, dtype);
        B::float_select_assign(
            zeros,
            0,
            index_tensor::<B>(write, &device),
            scaled,
            IndexingUpdateOp::Add,
        )
    }

    /// `left · rightᵀ` at the pattern's entries.
    pub fn sampled_matmul<B: Backend>(
        left: FloatTensor<B>,
        right: FloatTensor<B>,
        pattern: &SparsePattern,
    ) -> FloatTensor<B> {
        let device = left.device();
        let rows = B::float_select(left, 0, index_tensor::<B>(&pattern.entry_rows, &device));
        let columns = B::float_select(right, 0, index_tensor::<B>(&pattern.entry_columns, &device));
        let dots = B::float_sum_dim(B::float_mul(rows, columns), 1);
        B::float_reshape(dots, [pattern.entries()].into())
    }
}

/// Host kernels for `flex`, in f32 (other float types are cast there and back), with AVX2 and
/// FMA where the CPU has them.
mod host {
    use super::*;

    use lightning_toolkit::host_kernels::{contiguous_f32, from_f32 as output};

    /// `out += v · x`.
    #[inline(always)]
    fn axpy(out: &mut [f32], v: f32, x: &[f32]) {
        for (o, d) in out.iter_mut().zip(x) {
            *o += v * d;
        }
    }

    /// `out += v · x` with fused multiply-adds.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn axpy_fused(out: &mut [f32], v: f32, x: &[f32]) {
        for (o, d) in out.iter_mut().zip(x) {
            *o = d.mul_add(v, *o);
        }
    }

    /// The entries a group of the output gathers: (value, first element of the source row).
    type Sources<'a> = &'a (dyn Fn(usize, &mut dyn FnMut(f32, usize)) + Sync);

    fn accumulate_group(out: &mut [f32], group: usize, sources: Sources, dense: &[f32]) {
        let width = out.len();
        sources(group, &mut |v, from| {
            axpy(out, v, &dense[from..from + width])
        });
    }

    /// Width of the output tile kept in registers (8 AVX registers).
    const TILE: usize = 64;

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn accumulate_group_avx2(out: &mut [f32], group: usize, sources: Sources, dense: &[f32]) {
        let width = out.len();
        let mut entries: Vec<(f32, usize)> = Vec::new();
        sources(group, &mut |v, from| entries.push((v, from)));
        // Tile by tile, so each output tile stays in registers across all the entries.
        let mut start = 0;
        while start + TILE <= width {
            let mut tile = [0f32; TILE];
            for &(v, from) in &entries {
                let x = &dense[from + start..from + start + TILE];
                for i in 0..TILE {
                    tile[i] = x[i].mul_add(v, tile[i]);
                }
            }
            out[start..start + TILE].copy_from_slice(&tile);
            start += TILE;
        }
        for &(v, from) in &entries {
            axpy_fused(&mut out[start..], v, &dense[from + start..from + width]);
        }
    }

    /// `out[group] = Σ v · dense[source]` over each group's entries, groups in parallel.
    fn accumulate_rows(groups: usize, width: usize, sources: Sources, dense: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; groups * width];
        if width == 0 {
            return out;
        }
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            out.par_chunks_mut(width)
                .enumerate()
                // SAFETY: the CPU has AVX2 and FMA (checked above).
                .for_each(|(g, row)| unsafe { accumulate_group_avx2(row, g, sources, dense) });
            return out;
        }
        out.par_chunks_mut(width)
            .enumerate()
            .for_each(|(g, row)| accumulate_group(row, g, sources, dense));
        out
    }

    pub fn sparse_matmul(values: FlexTensor, dense: FlexTensor, p: &SparsePattern) -> FlexTensor {
        let (dtype, width) = (dense.dtype(), dense.shape()[1]);
        let (values, dense) = (contiguous_f32(values), contiguous_f32(dense));
        let values = values.as_slice::<f32>().unwrap();
        let sources = |r: usize, each: &mut dyn FnMut(f32, usize)| {
            let entries = p.row_starts[r]..p.row_starts[r + 1];
            for (&v, &c) in values[entries.clone()]
                .iter()
                .zip(&p.entry_columns[entries])
            {
                each(v, c as usize * width);
            }
        };
        let out = accumulate_rows(p.rows, width, &sources, dense.as_slice().unwrap());
        output(out, vec![p.rows, width], dtype)
    }

    pub fn sparse_transpose_matmul(
        values: FlexTensor,
        dense: FlexTensor,
        p: &SparsePattern,
    ) -> FlexTensor {
        let (dtype, width) = (dense.dtype(), dense.shape()[1]);
        let (values, dense) = (contiguous_f32(values), contiguous_f32(dense));
        let values = values.as_slice::<f32>().unwrap();
        let sources = |c: usize, each: &mut dyn FnMut(f32, usize)| {
            for &e in &p.by_column[p.column_starts[c]..p.column_starts[c + 1]] {
                let e = e as usize;
                each(values[e], p.entry_rows[e] as usize * width);
            }
        };
        let out = accumulate_rows(p.columns, width, &sources, dense.as_slice().unwrap());
        output(out, vec![p.columns, width], dtype)
    }

    /// Σ a·b with eight independent partial sums, so the compiler vectorizes it.
    #[inline(always)]
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        let mut partial = [0f32; 8];
        let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
        let tail: f32 = a8
            .remainder()
            .iter()
            .zip(b8.remainder())
            .map(|(x, y)| x * y)
            .sum();
        for (x, y) in a8.zip(b8) {
            for i in 0..8 {
                partial[i] += x[i] * y[i];
            }
        }
        partial.iter().sum::<f32>() + tail
    }

    pub fn sampled_matmul(left: FlexTensor, right: FlexTensor, p: &SparsePattern) -> FlexTensor {
        let (dtype, k) = (left.dtype(), left.shape()[1]);
        let (left, right) = (contiguous_f32(left), contiguous_f32(right));
        let (left, right) = (
            left.as_slice::<f32>().unwrap(),
            right.as_slice::<f32>().unwrap(),
        );
        let mut out = vec![0f32; p.entries()];
        let mut rows: Vec<&mut [f32]> = Vec::with_capacity(p.rows);
        let mut rest = out.as_mut_slice();
        for r in 0..p.rows {
            let (row, tail) = rest.split_at_mut(p.row_starts[r + 1] - p.row_starts[r]);
            rows.push(row);
            rest = tail;
        }
        rows.into_par_iter().enumerate().for_each(|(r, row)| {
            let l = &left[r * k..(r + 1) * k];
            let start = p.row_starts[r];
            for (i, o) in row.iter_mut().enumerate() {
                let c = p.entry_columns[start + i] as usize;
                *o = dot(l, &right[c * k..(c + 1) * k]);
            }
        });
        output(out, vec![p.entries()], dtype)
    }
}

impl SparseOps for Flex {
    fn sparse_matmul(
        values: FloatTensor<Self>,
        dense: FloatTensor<Self>,
        pattern: Arc<SparsePattern>,
    ) -> FloatTensor<Self> {
        host::sparse_matmul(values, dense, &pattern)
    }
    fn sparse_transpose_matmul(
        values: FloatTensor<Self>,
        dense: FloatTensor<Self>,
        pattern: Arc<SparsePattern>,
    ) -> FloatTensor<Self> {
        host::sparse_transpose_matmul(values, dense, &pattern)
    }
    fn sampled_matmul(
        left: FloatTensor<Self>,
        right: FloatTensor<Self>,
        pattern: Arc<SparsePattern>,
    ) -> FloatTensor<Self> {
        host::sampled_matmul(left, right, &pattern)
    }
}

/// Which product an autodiff step records; each one's gradients are the other two.
#[derive(Debug, Clone, Copy)]
enum Product {
    /// out = S · D: dS = sampled(G, D), dD = Sᵀ · G.
    Sparse,
    /// out = Sᵀ · D: dS = sampled(D, G), dD = S · G.
    SparseTransposed,
    /// out = sampled(L, R): dL = G · R, dR = Gᵀ · L (G as a sparse matrix).
    Sampled,
}

/// The backward step: the product, both inputs (kept only when the other needs them) and the
/// pattern.
#[derive(Debug)]
struct SparseBackward(Product);

type SparseState<B> = (
    Option<FloatTensor<B>>,
    Option<FloatTensor<B>>,
    Arc<SparsePattern>,
);

impl<B: SparseOps> Backward<B, 2> for SparseBackward {
    type State = SparseState<B>;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (first, second, pattern) = ops.state;
        let p = pattern.clone();
        match self.0 {
            Product::Sparse => binary::<B, _, _>(
                ops.parents,
                ops.node,
                grads,
                |g| B::sampled_matmul(g, second.unwrap(), p),
                |g| B::sparse_transpose_matmul(first.unwrap(), g, pattern),
            ),
            Product::SparseTransposed => binary::<B, _, _>(
                ops.parents,
                ops.node,
                grads,
                |g| B::sampled_matmul(second.unwrap(), g, p),
                |g| B::sparse_matmul(first.unwrap(), g, pattern),
            ),
            Product::Sampled => binary::<B, _, _>(
                ops.parents,
                ops.node,
                grads,
                |g| B::sparse_matmul(g, second.unwrap(), p),
                |g| B::sparse_transpose_matmul(g, first.unwrap(), pattern),
            ),
        }
    }
}

/// Records `product(first, second)` with its backward step.
fn record<B: SparseOps, C: CheckpointStrategy>(
    product: Product,
    first: FloatTensor<Autodiff<B, C>>,
    second: FloatTensor<Autodiff<B, C>>,
    pattern: Arc<SparsePattern>,
) -> FloatTensor<Autodiff<B, C>> {
    let forward = |a: FloatTensor<B>, b: FloatTensor<B>, p: Arc<SparsePattern>| match product {
        Product::Sparse => B::sparse_matmul(a, b, p),
        Product::SparseTransposed => B::sparse_transpose_matmul(a, b, p),
        Product::Sampled => B::sampled_matmul(a, b, p),
    };
    let (first_tracked, second_tracked) = (first.is_tracked(), second.is_tracked());
    let (a, first_node) = first.into_parts();
    let (b, second_node) = second.into_parts();
    match SparseBackward(product)
        .prepare::<C>([first_node, second_node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            // Each input's gradient needs the other input.
            let state = (
                second_tracked.then(|| a.clone()),
                first_tracked.then(|| b.clone()),
                pattern.clone(),
            );
            prep.finish(state, forward(a, b, pattern))
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(a, b, pattern)),
    }
}

impl<B: SparseOps, C: CheckpointStrategy> SparseOps for Autodiff<B, C> {
    fn sparse_matmul(
        values: FloatTensor<Self>,
        dense: FloatTensor<Self>,
        pattern: Arc<SparsePattern>,
    ) -> FloatTensor<Self> {
        record::<B, C>(Product::Sparse, values, dense, pattern)
    }
    fn sparse_transpose_matmul(
        values: FloatTensor<Self>,
        dense: FloatTensor<Self>,
        pattern: Arc<SparsePattern>,
    ) -> FloatTensor<Self> {
        record::<B, C>(Product::SparseTransposed, values, dense, pattern)
    }
    fn sampled_matmul(
        left: FloatTensor<Self>,
        right: FloatTensor<Self>,
        pattern: Arc<SparsePattern>,
    ) -> FloatTensor<Self> {
        record::<B, C>(Product::Sampled, left, right, pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::DType;
    use burn::tensor::{Distribution, Int};

    /// A 4 × 5 pattern with an empty row and an empty column (column 3).
    fn pattern() -> Arc<SparsePattern> {
        let rows: [&[u32]; 4] = [&[0, 2], &[], &[1, 2, 4], &[4]];
        Arc::new(SparsePattern::from_rows(5, rows).unwrap())
    }

    #[allow(deprecated)]
    fn close(a: Tensor<2>, b: Tensor<2>) {
        let (a, b) = (a.into_data(), b.into_data());
        assert_eq!(a.shape(), b.shape());
        let (a, b) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }

    /// The dense rows × columns matrix with `values` at the pattern's entries, built with
    /// burn's own differentiable scatter.
    fn dense_of(p: &SparsePattern, values: Tensor<1>) -> Tensor<2> {
        let flat: Vec<i64> = (0..p.entries())
            .map(|e| (p.entry_rows[e] as usize * p.columns + p.entry_columns[e] as usize) as i64)
            .collect();
        let device = values.device();
        let index = Tensor::<1, Int>::from_ints(flat.as_slice(), &device);
        Tensor::<1>::zeros([p.rows * p.columns], &device)
            .select_assign(0, index, values, IndexingUpdateOp::Add)
            .reshape([p.rows, p.columns])
    }

    #[test]
    fn the_pattern_groups_entries_by_row_and_by_column() {
        let p = pattern();
        assert_eq!(p.row_starts, vec![0, 2, 2, 5, 6]);
        assert_eq!(p.entry_columns, vec![0, 2, 1, 2, 4, 4]);
        assert_eq!(p.entry_rows, vec![0, 0, 2, 2, 2, 3]);
        assert_eq!(p.column_starts, vec![0, 1, 2, 4, 4, 6]);
        assert_eq!(p.by_column, vec![0, 2, 1, 3, 4, 5]);
        let err = SparsePattern::from_rows(3, [&[1u32, 3][..]]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sparse row 0 has column 3, expected below 3"
        );
    }

    /// Each product and both its gradients equal the dense computation's, for `device`.
    fn products_match_dense(device: &Device) {
        let p = pattern();
        let track = |t: Tensor<2>| {
            if device.is_autodiff() {
                t.require_grad()
            } else {
                t
            }
        };
        let track1 = |t: Tensor<1>| {
            if device.is_autodiff() {
                t.require_grad()
            } else {
                t
            }
        };
        let random = |shape: [usize; 2]| Tensor::<2>::random(shape, Distribution::Default, device);
        let values = Tensor::<1>::random([p.entries()], Distribution::Default, device);
        let d_cols = random([5, 3]);
        let d_rows = random([4, 3]);
        let weights_rows = random([4, 3]);
        let weights_cols = random([5, 3]);
        let weights_entries = Tensor::<1>::random([p.entries()], Distribution::Default, device);

        // Sparse products, against S built densely; loss = Σ out ⊙ weights.
        type Case = (
            fn(&SparseMatrix, Tensor<2>) -> Tensor<2>,
            fn(Tensor<2>, Tensor<2>) -> Tensor<2>,
        );
        let cases: [(Case, Tensor<2>, Tensor<2>); 2] = [
            (
                (|s, d| s.matmul(d), |s, d| s.matmul(d)),
                d_cols.clone(),
                weights_rows.clone(),
            ),
            (
                (|s, d| s.transpose_matmul(d), |s, d| s.transpose().matmul(d)),
                d_rows.clone(),
                weights_cols.clone(),
            ),
        ];
        for ((sparse, dense), d, w) in cases {
            let (v1, d1) = (track1(values.clone()), track(d.clone()));
            let out1 = sparse(
                &SparseMatrix {
                    pattern: p.clone(),
                    values: v1.clone(),
                },
                d1.clone(),
            );
            let (v2, d2) = (track1(values.clone()), track(d));
            let out2 = dense(dense_of(&p, v2.clone()), d2.clone());
            close(out1.clone(), out2.clone());
            if device.is_autodiff() {
                let g1 = (out1 * w.clone()).sum().backward();
                let g2 = (out2 * w).sum().backward();
                close(
                    v1.grad(&g1).unwrap().unsqueeze(),
                    v2.grad(&g2).unwrap().unsqueeze(),
                );
                close(d1.grad(&g1).unwrap(), d2.grad(&g2).unwrap());
            }
        }

        // Sampled product, against the full product read at the entries.
        let (l1, r1) = (track(d_rows.clone()), track(d_cols.clone()));
        let out1 = sampled_matmul(l1.clone(), r1.clone(), &p);
        let (l2, r2) = (track(d_rows), track(d_cols));
        let mask = dense_of(&p, Tensor::ones([p.entries()], device));
        let full = l2.clone().matmul(r2.clone().transpose()) * mask;
        let out2_dense = full.clone();
        let read = dense_of(&p, out1.clone());
        close(read, out2_dense);
        if device.is_autodiff() {
            let g1 = (out1 * weights_entries.clone()).sum().backward();
            let g2 = (full * dense_of(&p, weights_entries)).sum().backward();
            close(l1.grad(&g1).unwrap(), l2.grad(&g2).unwrap());
            close(r1.grad(&g1).unwrap(), r2.grad(&g2).unwrap());
        }
    }

    #[test]
    fn products_and_gradients_match_dense_algebra() {
        products_match_dense(&Device::flex());
        products_match_dense(&Device::flex().autodiff());
    }

    #[test]
    #[allow(deprecated)]
    fn half_precision_inputs_are_computed_in_f32_and_returned_in_their_type() {
        let p = pattern();
        let device = Device::flex();
        let values = Tensor::<1>::random([p.entries()], Distribution::Default, &device);
        let dense = Tensor::<2>::random([5, 3], Distribution::Default, &device);
        let full = SparseMatrix {
            pattern: p.clone(),
            values: values.clone(),
        }
        .matmul(dense.clone());
        let half = SparseMatrix {
            pattern: p,
            values: values.cast(FloatDType::F16),
        }
        .matmul(dense.cast(FloatDType::F16));
        assert_eq!(half.dtype(), DType::F16);
        let (a, b) = (full.into_data(), half.cast(FloatDType::F32).into_data());
        for (x, y) in a
            .to_vec::<f32>()
            .unwrap()
            .iter()
            .zip(b.to_vec::<f32>().unwrap())
        {
            assert!((x - y).abs() < 1e-2, "{x} vs {y}");
        }
    }

    fn on_flex<const D: usize>(t: Tensor<D>) -> FlexTensor {
        lightning_toolkit::host_kernels::flex_float(t).expect("a flex tensor")
    }

    fn from_flex<const D: usize>(t: FlexTensor) -> Tensor<D> {
        Tensor::from_data(t.into_data(), &Device::flex())
    }

    #[test]
    fn the_device_side_versions_match_the_host_kernels() {
        let p = pattern();
        let device = Device::flex();
        let values = Tensor::<1>::random([p.entries()], Distribution::Default, &device);
        let d_cols = Tensor::<2>::random([5, 3], Distribution::Default, &device);
        let d_rows = Tensor::<2>::random([4, 3], Distribution::Default, &device);
        let (v, c, r) = (on_flex(values), on_flex(d_cols), on_flex(d_rows));
        close(
            from_flex(gathered::sparse_matmul::<Flex>(
                v.clone(),
                c.clone(),
                &p,
                false,
            )),
            from_flex(host::sparse_matmul(v.clone(), c.clone(), &p)),
        );
        close(
            from_flex(gathered::sparse_matmul::<Flex>(
                v.clone(),
                r.clone(),
                &p,
                true,
            )),
            from_flex(host::sparse_transpose_matmul(v, r.clone(), &p)),
        );
        close(
            from_flex::<1>(gathered::sampled_matmul::<Flex>(r.clone(), c.clone(), &p)).unsqueeze(),
            from_flex::<1>(host::sampled_matmul(r, c, &p)).unsqueeze(),
        );
    }
}
