//! The top-order table's gradient of one position, summed over a block's
//! sequences as a matrix product.
//!
//! The marginal of n-gram `g = (a, b, c)` at position `t` of lane `s` is
//! `x[a k + b][s] * E[g] * y[b L + c][s]` with `x` the forward message
//! (times the lane's weight over its normaliser) and `y` the backward
//! input (see `scaled_backward`). Summed over lanes, for a fixed prefix
//! `b` that is `(L x lanes) (lanes x L)`: the table gradient costs one
//! product per position for the whole block, like a forward step, instead
//! of `L^N` values per sequence and position. `E[g]` is applied once at
//! the end.
//!
//! Each entry is one chain of multiply-adds over the lanes in order, in
//! every build (`widest!`), so the bits depend only on the block's lanes.

use super::gemm::Acc;
use crate::simd::widest;

/// Rows of `x` per tile.
const AT: usize = 8;
/// Labels `c` per tile (one AVX-512 vector of f32).
const CT: usize = 16;

/// The operands of [`accumulate`].
pub(crate) struct Operands<'o, A> {
    pub labels: usize,
    /// `L^(N-2)`.
    pub prefixes: usize,
    pub sp: usize,
    /// Lanes `0..lanes` take part (the others must be zero in `x`).
    pub lanes: usize,
    /// `(L^(N-1), sp)`.
    pub x: &'o [A],
    /// `(L^(N-1), sp)`.
    pub y: &'o [A],
}

widest!(
    /// `m[a L^(N-1) + b L + c] += sum over lanes s of x[a k + b][s] *
    /// y[b L + c][s]`, summed in `A` over the lanes then added to `m`.
    /// `scratch` is reused between calls.
    pub(crate) fn accumulate<A: Acc>(o: &Operands<'_, A>, m: &mut [f64], scratch: &mut Vec<A>) -> ()
        => accumulate_body
);

#[inline(always)]
fn accumulate_body<A: Acc>(o: &Operands<'_, A>, m: &mut [f64], scratch: &mut Vec<A>) {
    let (l, k, sp, n) = (o.labels, o.prefixes, o.sp, o.lanes);
    let states = l * k;
    let width = l.div_ceil(CT) * CT;
    // y of prefix b transposed to (lanes, width), zero-padded, so that a
    // tile's c run is contiguous; then AT zero rows for padded a.
    scratch.clear();
    scratch.resize(n * width + n, A::ZERO);
    let (yt, zeros) = scratch.split_at_mut(n * width);
    for b in 0..k {
        for c in 0..l {
            let row = &o.y[(b * l + c) * sp..][..n];
            for (s, &v) in row.iter().enumerate() {
                yt[s * width + c] = v;
            }
        }
        for a0 in (0..l).step_by(AT) {
            let rows: [&[A]; AT] = std::array::from_fn(|i| {
                if a0 + i < l {
                    &o.x[((a0 + i) * k + b) * sp..][..n]
                } else {
                    &zeros[..n]
                }
            });
            for c0 in (0..width).step_by(CT) {
                let mut acc = [[A::ZERO; CT]; AT];
                for s in 0..n {
                    let y: &[A; CT] = (&yt[s * width + c0..][..CT]).try_into().unwrap();
                    for i in 0..AT {
                        let x = rows[i][s];
                        for q in 0..CT {
                            acc[i][q] = y[q].fma(x, acc[i][q]);
                        }
                    }
                }
                for (i, acc) in acc.iter().enumerate().take(l.saturating_sub(a0)) {
                    let at = (a0 + i) * states + b * l + c0;
                    let count = CT.min(l - c0.min(l));
                    for (out, &v) in m[at..at + count].iter_mut().zip(acc) {
                        *out += v.to_f64();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_plain_sum() {
        for (labels, prefixes, lanes) in [
            (1, 1, 3_usize),
            (5, 1, 8),
            (3, 9, 16),
            (26, 1, 13),
            (17, 2, 24),
        ] {
            let sp = lanes.div_ceil(8) * 8;
            let states = labels * prefixes;
            let draw = |i: usize| ((i * 7919) % 1000) as f32 / 997.0;
            let mut x: Vec<f32> = (0..states * sp).map(draw).collect();
            let y: Vec<f32> = (0..states * sp).map(|i| draw(i + 5)).collect();
            for (i, v) in x.iter_mut().enumerate() {
                if i % sp >= lanes {
                    *v = 0.0;
                }
            }
            let mut m = vec![1.0; states * labels];
            let o = Operands {
                labels,
                prefixes,
                sp,
                lanes,
                x: &x,
                y: &y,
            };
            accumulate(&o, &mut m, &mut Vec::new());
            for a in 0..labels {
                for b in 0..prefixes {
                    for c in 0..labels {
                        let mut want = 0.0_f32;
                        for s in 0..lanes {
                            let xv = x[(a * prefixes + b) * sp + s];
                            want = y[(b * labels + c) * sp + s].mul_add(xv, want);
                        }
                        let got = m[a * states + b * labels + c];
                        assert_eq!(got, 1.0 + want as f64, "{a} {b} {c}");
                    }
                }
            }
        }
    }
}
