//! The vector kernels: a row vector times a matrix (sum-product and
//! max-plus) and the transposed product that sums edge marginals.
//!
//! Every kernel walks contiguous rows and keeps a block of output columns
//! in fixed-size arrays, so LLVM keeps them in registers and vectorises the
//! inner loop across columns with no bounds checks. Each output is summed
//! over the rows in the same order whatever the vector width, so the scalar
//! and the AVX2 builds give the same bits (no `mul_add`: see `exp.rs`).
//! Rows are padded to a multiple of the vector width; callers keep the
//! padding at zero (or `-inf` for max-plus).

use super::float::internal::{Acc, Score};

/// Widest column block, in vectors: 8 accumulators of 8 (f32) or 4 (f64)
/// lanes hide the add latency and still leave registers for the operands.
macro_rules! vec_mat_by_blocks {
    ($ty:ty, $lanes:literal, $x:expr, $m:expr, $stride:expr, $out:expr) => {{
        let (x, m, stride, out) = ($x, $m, $stride, $out);
        let mut col = 0;
        while col + 8 * $lanes <= stride {
            $crate::crf::linear::kernels::vec_mat_block::<$ty, { 8 * $lanes }>(x, m, stride, col, out);
            col += 8 * $lanes;
        }
        let rest = (stride - col) / $lanes;
        use $crate::crf::linear::kernels::vec_mat_block as block;
        match rest {
            0 => {}
            1 => block::<$ty, { $lanes }>(x, m, stride, col, out),
            2 => block::<$ty, { 2 * $lanes }>(x, m, stride, col, out),
            3 => block::<$ty, { 3 * $lanes }>(x, m, stride, col, out),
            4 => block::<$ty, { 4 * $lanes }>(x, m, stride, col, out),
            5 => block::<$ty, { 5 * $lanes }>(x, m, stride, col, out),
            6 => block::<$ty, { 6 * $lanes }>(x, m, stride, col, out),
            _ => block::<$ty, { 7 * $lanes }>(x, m, stride, col, out),
        }
    }};
}
pub(super) use vec_mat_by_blocks;

/// `out[col..col + W] = sum_i x[i] * m[i * stride + col..][..W]`, the rows
/// `i` taken in order.
#[inline(always)]
pub(crate) fn vec_mat_block<A: Acc, const W: usize>(
    x: &[A],
    m: &[A],
    stride: usize,
    col: usize,
    out: &mut [A],
) {
    let mut acc = [A::ZERO; W];
    for (&xi, row) in x.iter().zip(m.chunks_exact(stride)) {
        let row: &[A; W] = row[col..col + W].try_into().unwrap();
        for k in 0..W {
            acc[k] = acc[k] + xi * row[k];
        }
    }
    out[col..col + W].copy_from_slice(&acc);
}

/// `out[i * stride + j] += sum_t a[t * stride + i] * b[t * stride + j]` for
/// `i, j < stride`, `t < rows`: the sum over time of outer products, as a
/// matrix product with 4 x `W` register tiles (`W` two vectors, `H` one).
#[inline(always)]
pub(super) fn at_b<A: Acc, const W: usize, const H: usize>(
    a: &[A],
    b: &[A],
    stride: usize,
    rows: usize,
    out: &mut [A],
) {
    for i in (0..stride).step_by(4) {
        let mut j = 0;
        while j + W <= stride {
            at_b_tile::<A, W>(a, b, stride, rows, i, j, out);
            j += W;
        }
        if j < stride {
            at_b_tile::<A, H>(a, b, stride, rows, i, j, out);
        }
    }
}

#[inline(always)]
fn at_b_tile<A: Acc, const W: usize>(
    a: &[A],
    b: &[A],
    stride: usize,
    rows: usize,
    i: usize,
    j: usize,
    out: &mut [A],
) {
    let mut acc = [[A::ZERO; W]; 4];
    for (ar, br) in a.chunks_exact(stride).zip(b.chunks_exact(stride)).take(rows) {
        let ar: &[A; 4] = ar[i..i + 4].try_into().unwrap();
        let br: &[A; W] = br[j..j + W].try_into().unwrap();
        for r in 0..4 {
            for k in 0..W {
                acc[r][k] = acc[r][k] + ar[r] * br[k];
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        let o: &mut [A; W] = (&mut out[(i + r) * stride + j..][..W]).try_into().unwrap();
        for k in 0..W {
            o[k] = o[k] + acc[k];
        }
    }
}

/// A label index held in lanes as wide as the scores (u32 beside f32, u64
/// beside f64), so a comparison mask selects it without conversions.
pub(super) trait LaneIndex: Copy + Default {
    fn from_usize(i: usize) -> Self;
    fn to_u32(self) -> u32;
}

impl LaneIndex for u32 {
    #[inline(always)]
    fn from_usize(i: usize) -> Self {
        i as u32
    }
    #[inline(always)]
    fn to_u32(self) -> u32 {
        self
    }
}

impl LaneIndex for u64 {
    #[inline(always)]
    fn from_usize(i: usize) -> Self {
        i as u64
    }
    #[inline(always)]
    fn to_u32(self) -> u32 {
        self as u32
    }
}

/// `best[j] = max_i (prev[i] + m[i * stride + j])` and `arg[j]` = the lowest
/// `i` reaching it (a strictly greater candidate replaces the best, and `i`
/// grows), for `j < stride`; `-inf` with index 0 where every candidate is
/// `-inf`. Blocks of `W` columns (`stride` is a multiple of `W / 4`).
#[inline(always)]
pub(super) fn max_plus<S: Score, I: LaneIndex, const W: usize>(
    prev: &[S],
    m: &[S],
    stride: usize,
    best: &mut [S],
    arg: &mut [u32],
) {
    let mut col = 0;
    while col + W <= stride {
        max_plus_block::<S, I, W>(prev, m, stride, col, best, arg);
        col += W;
    }
    let quarter = W / 4;
    match (stride - col) / quarter {
        0 => {}
        1 => max_plus_rest::<S, I, W, 1>(prev, m, stride, col, best, arg),
        2 => max_plus_rest::<S, I, W, 2>(prev, m, stride, col, best, arg),
        _ => max_plus_rest::<S, I, W, 3>(prev, m, stride, col, best, arg),
    }
}

/// The last `Q` quarters of a block (const generics cannot compute
/// `Q * W / 4` in a type, so the block is sliced at run time here and the
/// widths are fixed by the match above).
#[inline(always)]
fn max_plus_rest<S: Score, I: LaneIndex, const W: usize, const Q: usize>(
    prev: &[S],
    m: &[S],
    stride: usize,
    col: usize,
    best: &mut [S],
    arg: &mut [u32],
) {
    match (W, Q) {
        (32, 1) => max_plus_block::<S, I, 8>(prev, m, stride, col, best, arg),
        (32, 2) => max_plus_block::<S, I, 16>(prev, m, stride, col, best, arg),
        (32, _) => max_plus_block::<S, I, 24>(prev, m, stride, col, best, arg),
        (_, 1) => max_plus_block::<S, I, 4>(prev, m, stride, col, best, arg),
        (_, 2) => max_plus_block::<S, I, 8>(prev, m, stride, col, best, arg),
        _ => max_plus_block::<S, I, 12>(prev, m, stride, col, best, arg),
    }
}

#[inline(always)]
fn max_plus_block<S: Score, I: LaneIndex, const W: usize>(
    prev: &[S],
    m: &[S],
    stride: usize,
    col: usize,
    best: &mut [S],
    arg: &mut [u32],
) {
    let mut b = [S::NEG_INF; W];
    let mut a = [I::default(); W];
    for (i, (&p, row)) in prev.iter().zip(m.chunks_exact(stride)).enumerate() {
        let index = I::from_usize(i);
        let row: &[S; W] = row[col..col + W].try_into().unwrap();
        for k in 0..W {
            let c = p + row[k];
            let greater = c > b[k];
            b[k] = if greater { c } else { b[k] };
            a[k] = if greater { index } else { a[k] };
        }
    }
    best[col..col + W].copy_from_slice(&b);
    for (out, a) in arg[col..col + W].iter_mut().zip(a) {
        *out = a.to_u32();
    }
}

/// Partial results kept per lane by the row reductions below: 8 lanes,
/// combined by a fixed tree, so every build reduces in the same order.
const REDUCE_LANES: usize = 8;

#[inline(always)]
fn tree<A: Acc>(mut lanes: [A; REDUCE_LANES], op: impl Fn(A, A) -> A) -> A {
    for width in [4, 2, 1] {
        for k in 0..width {
            lanes[k] = op(lanes[k], lanes[k + width]);
        }
    }
    lanes[0]
}

#[inline(always)]
fn max<A: Acc>(a: A, b: A) -> A {
    if b > a {
        b
    } else {
        a
    }
}

/// `max_j x[j]` (with `-inf` for an empty row); NaN-free input.
#[inline(always)]
pub(super) fn max_row<A: Acc>(x: &[A]) -> A {
    let mut lanes = [A::NEG_INF; REDUCE_LANES];
    let chunks = x.chunks_exact(REDUCE_LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for k in 0..REDUCE_LANES {
            lanes[k] = max(lanes[k], chunk[k]);
        }
    }
    tail.iter().fold(tree(lanes, max), |m, &v| max(m, v))
}

/// `sum_j x[j] * y[j]`, summed in 8 interleaved lanes.
#[inline(always)]
pub(super) fn dot<A: Acc>(x: &[A], y: &[A]) -> A {
    let mut lanes = [A::ZERO; REDUCE_LANES];
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    let body = n - n % REDUCE_LANES;
    for (cx, cy) in x[..body]
        .chunks_exact(REDUCE_LANES)
        .zip(y[..body].chunks_exact(REDUCE_LANES))
    {
        for k in 0..REDUCE_LANES {
            lanes[k] = lanes[k] + cx[k] * cy[k];
        }
    }
    let tail = x[body..]
        .iter()
        .zip(&y[body..])
        .fold(A::ZERO, |total, (&a, &b)| total + a * b);
    tree(lanes, |a, b| a + b) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_mat_blocks_cover_every_column() {
        for stride in (8..=136).step_by(8) {
            let rows = 5;
            let m: Vec<f32> = (0..rows * stride).map(|i| (i % 13) as f32 - 6.0).collect();
            let x: Vec<f32> = (0..rows).map(|i| i as f32 * 0.5 - 1.0).collect();
            let mut out = vec![f32::NAN; stride];
            <f32 as Acc>::vec_mat(&x, &m, stride, &mut out);
            for j in 0..stride {
                let want: f32 = (0..rows).map(|i| x[i] * m[i * stride + j]).sum();
                assert_eq!(out[j], want, "stride {stride} column {j}");
            }
        }
        for stride in (4..=68).step_by(4) {
            let m: Vec<f64> = (0..3 * stride).map(|i| (i % 7) as f64).collect();
            let mut out = vec![f64::NAN; stride];
            <f64 as Acc>::vec_mat(&[1.0, 2.0, 3.0], &m, stride, &mut out);
            for j in 0..stride {
                let want = m[j] + 2.0 * m[stride + j] + 3.0 * m[2 * stride + j];
                assert_eq!(out[j], want);
            }
        }
    }

    #[test]
    fn at_b_sums_outer_products() {
        for stride in [4usize, 8, 12, 16, 24, 56] {
            let rows = 3;
            let a: Vec<f64> = (0..rows * stride).map(|i| (i % 5) as f64).collect();
            let b: Vec<f64> = (0..rows * stride).map(|i| (i % 3) as f64 - 1.0).collect();
            let mut out = vec![1.0; stride * stride];
            <f64 as Acc>::at_b(&a, &b, stride, rows, &mut out);
            for i in 0..stride {
                for j in 0..stride {
                    let want: f64 =
                        1.0 + (0..rows).map(|t| a[t * stride + i] * b[t * stride + j]).sum::<f64>();
                    assert_eq!(out[i * stride + j], want);
                }
            }
        }
    }

    #[test]
    fn max_plus_takes_the_lowest_index_on_ties() {
        for stride in (8..=72).step_by(8) {
            let rows = 4;
            // Rows 1 and 3 tie everywhere; row 2 wins on even columns.
            let m: Vec<f32> = (0..rows * stride)
                .map(|k| match (k / stride, k % stride) {
                    (0, _) => f32::NEG_INFINITY,
                    (2, j) if j % 2 == 0 => 5.0,
                    _ => 1.0,
                })
                .collect();
            let prev = [0.0_f32, 0.0, 0.0, 0.0];
            let mut best = vec![0.0; stride];
            let mut arg = vec![9; stride];
            <f32 as Score>::max_plus(&prev, &m, stride, &mut best, &mut arg);
            for j in 0..stride {
                let (want_best, want_arg) = if j % 2 == 0 { (5.0, 2) } else { (1.0, 1) };
                assert_eq!((best[j], arg[j]), (want_best, want_arg), "column {j}");
            }
        }
        let m = [f64::NEG_INFINITY; 8];
        let (mut best, mut arg) = ([0.0; 4], [7; 4]);
        <f64 as Score>::max_plus(&[0.0, 0.0], &m, 4, &mut best, &mut arg);
        assert_eq!((best, arg), ([f64::NEG_INFINITY; 4], [0; 4]));
    }

    #[test]
    fn reductions() {
        let x: Vec<f32> = (0..19).map(|i| i as f32 - 3.0).collect();
        assert_eq!(max_row(&x), 15.0);
        assert_eq!(max_row::<f32>(&[]), f32::NEG_INFINITY);
        assert_eq!(dot(&x, &x), x.iter().map(|v| v * v).sum::<f32>());
    }
}
