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
            $crate::crf::linear::kernels::vec_mat_block::<$ty, { 8 * $lanes }>(
                x, m, stride, col, out,
            );
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
    // Four separate rows (a nested array stayed in memory).
    let mut acc0 = [A::ZERO; W];
    let mut acc1 = [A::ZERO; W];
    let mut acc2 = [A::ZERO; W];
    let mut acc3 = [A::ZERO; W];
    for (ar, br) in a
        .chunks_exact(stride)
        .zip(b.chunks_exact(stride))
        .take(rows)
    {
        let ar: &[A; 4] = ar[i..i + 4].try_into().unwrap();
        let br: &[A; W] = br[j..j + W].try_into().unwrap();
        for k in 0..W {
            acc0[k] = acc0[k] + ar[0] * br[k];
            acc1[k] = acc1[k] + ar[1] * br[k];
            acc2[k] = acc2[k] + ar[2] * br[k];
            acc3[k] = acc3[k] + ar[3] * br[k];
        }
    }
    let acc = [acc0, acc1, acc2, acc3];
    for (r, acc) in acc.iter().enumerate() {
        let o: &mut [A; W] = (&mut out[(i + r) * stride + j..][..W]).try_into().unwrap();
        for k in 0..W {
            o[k] = o[k] + acc[k];
        }
    }
}

/// `best[j] = max_i (prev[i] + m[i * stride + j])` for `j < stride` (`-inf`
/// where every candidate is `-inf`), in blocks of 8 vectors and a last
/// narrower one. Only the maximum: Viterbi finds the arg-max again along
/// the one path it keeps (see `viterbi.rs`).
macro_rules! max_plus_by_blocks {
    ($ty:ty, $lanes:literal, $prev:expr, $m:expr, $stride:expr, $best:expr) => {{
        let (prev, m, stride, best) = ($prev, $m, $stride, $best);
        use $crate::crf::linear::kernels::max_plus_block as block;
        let mut col = 0;
        while col + 8 * $lanes <= stride {
            block::<$ty, { 8 * $lanes }>(prev, m, stride, col, best);
            col += 8 * $lanes;
        }
        match (stride - col) / $lanes {
            0 => {}
            1 => block::<$ty, { $lanes }>(prev, m, stride, col, best),
            2 => block::<$ty, { 2 * $lanes }>(prev, m, stride, col, best),
            3 => block::<$ty, { 3 * $lanes }>(prev, m, stride, col, best),
            4 => block::<$ty, { 4 * $lanes }>(prev, m, stride, col, best),
            5 => block::<$ty, { 5 * $lanes }>(prev, m, stride, col, best),
            6 => block::<$ty, { 6 * $lanes }>(prev, m, stride, col, best),
            _ => block::<$ty, { 7 * $lanes }>(prev, m, stride, col, best),
        }
    }};
}
pub(super) use max_plus_by_blocks;

/// `best[col..col + W]` of `max_plus`.
#[inline(always)]
pub(crate) fn max_plus_block<S: Score, const W: usize>(
    prev: &[S],
    m: &[S],
    stride: usize,
    col: usize,
    best: &mut [S],
) {
    let mut b = [S::NEG_INF; W];
    for (&p, row) in prev.iter().zip(m.chunks_exact(stride)) {
        let row: &[S; W] = row[col..col + W].try_into().unwrap();
        // A new array rather than updates in place: LLVM keeps it in
        // registers (`c > b ? c : b` is exactly one `maxps`).
        b = std::array::from_fn(|k| {
            let c = p + row[k];
            if c > b[k] {
                c
            } else {
                b[k]
            }
        });
    }
    best[col..col + W].copy_from_slice(&b);
}

/// The lowest `i` with the largest `prev[i] + column[i]`, where the
/// maximum is what `max_plus_by_blocks` found: the same sums, compared the
/// same way (the maximum of exact values does not depend on the order).
/// `-inf` everywhere gives 0.
#[inline(always)]
pub(super) fn arg_max_plus<S: Score>(prev: &[S], column: &[S]) -> usize {
    let mut lanes = [S::NEG_INF; REDUCE_LANES];
    let n = prev.len().min(column.len());
    let body = n - n % REDUCE_LANES;
    for (p, c) in prev[..body]
        .chunks_exact(REDUCE_LANES)
        .zip(column[..body].chunks_exact(REDUCE_LANES))
    {
        for k in 0..REDUCE_LANES {
            lanes[k] = max(lanes[k], p[k] + c[k]);
        }
    }
    let tail = prev[body..n].iter().zip(&column[body..n]);
    let best = tail.fold(tree(lanes, max), |m, (&p, &c)| max(m, p + c));
    prev.iter()
        .zip(column)
        .position(|(&p, &c)| p + c == best)
        .unwrap_or(0)
}

/// Partial results kept per lane by the row reductions below: 8 lanes,
/// combined by a fixed tree, so every build reduces in the same order.
const REDUCE_LANES: usize = 8;

#[inline(always)]
fn tree<A: Copy>(mut lanes: [A; REDUCE_LANES], op: impl Fn(A, A) -> A) -> A {
    for width in [4, 2, 1] {
        for k in 0..width {
            lanes[k] = op(lanes[k], lanes[k + width]);
        }
    }
    lanes[0]
}

#[inline(always)]
fn max<A: PartialOrd>(a: A, b: A) -> A {
    if b > a {
        b
    } else {
        a
    }
}

/// `max_j x[j]` (with `-inf` for an empty row); NaN-free input.
#[inline(always)]
pub(super) fn max_row<A: Score>(x: &[A]) -> A {
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
                    let want: f64 = 1.0
                        + (0..rows)
                            .map(|t| a[t * stride + i] * b[t * stride + j])
                            .sum::<f64>();
                    assert_eq!(out[i * stride + j], want);
                }
            }
        }
    }

    #[test]
    fn max_plus_and_its_arg_max() {
        for stride in (8..=136).step_by(8) {
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
            <f32 as Score>::max_plus(&prev, &m, stride, &mut best);
            for j in 0..stride {
                let want = if j % 2 == 0 { (5.0, 2) } else { (1.0, 1) };
                let column: Vec<f32> = (0..rows).map(|i| m[i * stride + j]).collect();
                assert_eq!((best[j], arg_max_plus(&prev, &column)), want, "column {j}");
            }
        }
        let m = [f64::NEG_INFINITY; 8];
        let mut best = [0.0; 4];
        <f64 as Score>::max_plus(&[0.0, 0.0], &m, 4, &mut best);
        assert_eq!(best, [f64::NEG_INFINITY; 4]);
    }

    #[test]
    fn reductions() {
        let x: Vec<f32> = (0..19).map(|i| i as f32 - 3.0).collect();
        assert_eq!(max_row(&x), 15.0);
        assert_eq!(max_row::<f32>(&[]), f32::NEG_INFINITY);
        assert_eq!(dot(&x, &x), x.iter().map(|v| v * v).sum::<f32>());
    }
}
