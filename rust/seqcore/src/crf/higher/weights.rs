//! The lower-order weights of one position for a group of lanes, written
//! straight into the lanes layout of the scaled forward:
//!
//! ```text
//! w[j * sp + g0 + q] = exp(F_q[j] - m_q),   F_q[j] = sum over n < N of factor_n[b_q, t, j mod L^n]
//! ```
//!
//! with `m_q` the maximum over `j` for sequence `b_q`. In that layout
//! every operation is vertical: the maximum of a lane is an elementwise
//! maximum over rows, and the exponentials run over contiguous rows. The
//! only reordering is the transpose of the order-(N-1) factor rows of the
//! group's sequences, done by 8 x 8 blocks in AVX2 registers for f32 (the
//! portable loop moves one value at a time).

use std::any::TypeId;

use super::float::CrfFloat;
use super::gemm::Acc;
use super::inputs::Chain;
use super::lanes::{is_nan, max_nan};

/// How the weights of one lane came out.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Outcome {
    /// Shifted by this maximum.
    Shift(f64),
    /// A score is NaN.
    Nan,
    /// No state is allowed at this position.
    Dead,
    /// A finite score's weight is not a normal number.
    Underflow,
}

/// Writes the weights of the `LN` lanes `g0..g0 + LN` at position `t`:
/// `seqs[q]` is lane `q`'s sequence, `None` for a lane not computed (its
/// weights become 1, its outcome `Shift(0)`). `rows` is scratch for
/// `(L + ... + L^(N-2)) * LN` values (the transposed lower orders).
/// Returns each lane's outcome.
#[inline(always)]
pub(crate) fn lower_weights<T: CrfFloat, A: Acc, const LN: usize>(
    chain: &Chain<'_, T>,
    seqs: &[Option<usize>; LN],
    t: usize,
    w: &mut [A],
    sp: usize,
    g0: usize,
    rows: &mut [A],
) -> [Outcome; LN] {
    // The highest order below N with a factor: a state's weight depends on
    // its last `top_order` labels only, so only the first `distinct` rows
    // are computed (26, not 676, for a unary factor at order 3 with 26
    // labels); see `weight_prefixes`.
    let top_order = top_factor_order(chain);
    let distinct = chain.sizes[top_order.max(1)];
    let zeros = [T::ZERO; 0];
    // The top order's factors (or zeros), transposed into w.
    let top: [&[T]; LN] = std::array::from_fn(|q| match seqs[q] {
        Some(b) if top_order > 0 => chain.factor_row(top_order, b, t).unwrap_or(&zeros),
        _ => &zeros,
    });
    transpose_rows(&top, distinct, w, sp, g0);
    // Lower orders, transposed into `rows` (order n at `sizes[n] - L`
    // times LN onwards: L, L^2, ... back to back).
    let mut lower = [(0, 0); 2];
    let mut count = 0;
    let mut at = 0;
    for n in 1..top_order {
        let size = chain.sizes[n];
        if chain.has_factor(n) {
            let src: [Option<&[T]>; LN] =
                std::array::from_fn(|q| seqs[q].and_then(|b| chain.factor_row(n, b, t)));
            for (i, row) in rows[at..at + size * LN].chunks_exact_mut(LN).enumerate() {
                for (r, src) in row.iter_mut().zip(&src) {
                    *r = src.map_or(A::ZERO, |f| A::from_f64(f[i].to_f64()));
                }
            }
            lower[count] = (at, size);
            count += 1;
        }
        at += size * LN;
    }
    let (m, under) = finish::<A, LN>(w, sp, g0, distinct, rows, &lower[..count]);
    std::array::from_fn(|q| {
        if seqs[q].is_none() {
            Outcome::Shift(0.0)
        } else if is_nan(m[q]) {
            Outcome::Nan
        } else if m[q] == A::NEG_INFINITY {
            Outcome::Dead
        } else if under & (1 << q) != 0 {
            Outcome::Underflow
        } else {
            Outcome::Shift(m[q].to_f64())
        }
    })
}

/// The highest order below N that has a factor (0 for none).
fn top_factor_order<T: CrfFloat>(chain: &Chain<'_, T>) -> usize {
    (1..chain.order)
        .rev()
        .find(|&n| chain.has_factor(n))
        .unwrap_or(0)
}

/// How many state prefixes [`lower_weights`] writes: state `b L + c` has
/// the weight of row `(b mod prefixes) L + c`, so only the first
/// `prefixes * L` rows are written (a weight depends only on the last
/// labels that some factor sees).
pub(crate) fn weight_prefixes<T: CrfFloat>(chain: &Chain<'_, T>) -> usize {
    chain.sizes[top_factor_order(chain).max(1) - 1]
}

/// Copies the rows [`lower_weights`] wrote (lanes `g0..g0 + LN`) to every
/// state, for passes that read `w` row by row.
#[inline(always)]
pub(crate) fn spread_rows<T: CrfFloat, A: Acc, const LN: usize>(
    chain: &Chain<'_, T>,
    w: &mut [A],
    sp: usize,
    g0: usize,
) {
    let distinct = weight_prefixes(chain) * chain.labels;
    for j in distinct..chain.states {
        // Row `j mod distinct` comes before row `j` and is final. (A fixed
        // size copy: a few vector moves, not a `memmove` call per row.)
        let from = (j % distinct) * sp + g0;
        let lanes: [A; LN] = *lanes_mut::<A, LN>(&mut w[from..], 0);
        *lanes_mut::<A, LN>(&mut w[j * sp..], g0) = lanes;
    }
}

/// Adds the lower orders (`(offset in rows, L^n)` each) to every state
/// ending in their n-gram, takes each lane's maximum `m`, and replaces
/// every weight by `exp(x - m)`; returns the maxima and a bit per lane
/// whose finite score underflowed.
#[inline(always)]
fn finish<A: Acc, const LN: usize>(
    w: &mut [A],
    sp: usize,
    g0: usize,
    states: usize,
    rows: &[A],
    lower: &[(usize, usize)],
) -> ([A; LN], u32) {
    #[cfg(target_arch = "x86_64")]
    if LN == 8
        && TypeId::of::<A>() == TypeId::of::<f32>()
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
    {
        assert!(w.len() >= states * sp && g0 + 8 <= sp);
        for &(at, size) in lower {
            assert!(rows.len() >= at + size * 8 && states.is_multiple_of(size));
        }
        // SAFETY: A is f32, the bounds are asserted above, and the
        // processor has the features just detected.
        let (m, under) = unsafe {
            avx2::finish(
                w.as_mut_ptr() as *mut f32,
                sp,
                g0,
                states,
                rows.as_ptr() as *const f32,
                lower,
            )
        };
        return (std::array::from_fn(|q| A::from_f64(m[q] as f64)), under);
    }
    finish_portable(w, sp, g0, states, rows, lower)
}

/// [`finish`] in plain loops.
#[inline(always)]
fn finish_portable<A: Acc, const LN: usize>(
    w: &mut [A],
    sp: usize,
    g0: usize,
    states: usize,
    rows: &[A],
    lower: &[(usize, usize)],
) -> ([A; LN], u32) {
    let mut m = [A::NEG_INFINITY; LN];
    let mut next = [0_usize; 2];
    for row in w.chunks_exact_mut(sp).take(states) {
        let row = lanes_mut::<A, LN>(row, g0);
        for (k, &(at, size)) in lower.iter().enumerate() {
            let add = &rows[at + next[k] * LN..][..LN];
            for q in 0..LN {
                row[q] = row[q] + add[q];
            }
            next[k] = if next[k] + 1 == size { 0 } else { next[k] + 1 };
        }
        for q in 0..LN {
            m[q] = max_nan(m[q], row[q]);
        }
    }
    let shift: [A; LN] = std::array::from_fn(|q| {
        if m[q] == A::NEG_INFINITY {
            A::ZERO
        } else {
            m[q]
        }
    });
    let mut under = [false; LN];
    for row in w.chunks_exact_mut(sp).take(states) {
        let row = lanes_mut::<A, LN>(row, g0);
        for q in 0..LN {
            let x = row[q];
            let e = A::exp_nonpositive(x - shift[q]);
            under[q] |= (e < A::TINY) & (x > A::NEG_INFINITY);
            row[q] = e;
        }
    }
    let bits = under.iter().enumerate().map(|(q, &u)| (u as u32) << q);
    (m, bits.fold(0, |a, b| a | b))
}

/// Lanes `g0..g0 + LN` of a row, as an array (so that loops over them
/// are whole vectors).
#[inline(always)]
fn lanes_mut<A, const LN: usize>(row: &mut [A], g0: usize) -> &mut [A; LN] {
    (&mut row[g0..g0 + LN]).try_into().unwrap()
}

/// `w[j * sp + g0 + q] = rows[q][j]` for `j < states` (an empty row reads
/// as zeros).
#[inline(always)]
fn transpose_rows<T: CrfFloat, A: Acc, const LN: usize>(
    rows: &[&[T]; LN],
    states: usize,
    w: &mut [A],
    sp: usize,
    g0: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if LN == 8
        && TypeId::of::<T>() == TypeId::of::<f32>()
        && TypeId::of::<A>() == TypeId::of::<f32>()
        && std::arch::is_x86_feature_detected!("avx2")
    {
        let empty = rows.iter().any(|r| r.is_empty());
        let zeros = vec![0.0_f32; if empty { states } else { 0 }];
        let ptrs: [*const f32; 8] = std::array::from_fn(|q| {
            if rows[q].is_empty() {
                zeros.as_ptr()
            } else {
                assert!(rows[q].len() >= states);
                rows[q].as_ptr() as *const f32
            }
        });
        assert!(w.len() >= states * sp && g0 + 8 <= sp);
        // SAFETY: T and A are f32 (same layout), every row holds `states`
        // values, and w holds every (state, lane) written.
        unsafe { transpose_f32(ptrs, states, w.as_mut_ptr() as *mut f32, sp, g0) };
        return;
    }
    for (j, out) in w.chunks_exact_mut(sp).take(states).enumerate() {
        for (o, row) in out[g0..g0 + LN].iter_mut().zip(rows) {
            *o = row.get(j).map_or(A::ZERO, |&x| A::from_f64(x.to_f64()));
        }
    }
}

/// The 8 x 8 blocks of [`transpose_rows`] in registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn transpose_f32(rows: [*const f32; 8], states: usize, w: *mut f32, sp: usize, g0: usize) {
    use std::arch::x86_64::*;
    let full = states / 8 * 8;
    for j0 in (0..full).step_by(8) {
        let r: [__m256; 8] = std::array::from_fn(|q| _mm256_loadu_ps(rows[q].add(j0)));
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        let columns = [
            _mm256_permute2f128_ps::<0x20>(s0, s4),
            _mm256_permute2f128_ps::<0x20>(s1, s5),
            _mm256_permute2f128_ps::<0x20>(s2, s6),
            _mm256_permute2f128_ps::<0x20>(s3, s7),
            _mm256_permute2f128_ps::<0x31>(s0, s4),
            _mm256_permute2f128_ps::<0x31>(s1, s5),
            _mm256_permute2f128_ps::<0x31>(s2, s6),
            _mm256_permute2f128_ps::<0x31>(s3, s7),
        ];
        for (i, c) in columns.into_iter().enumerate() {
            _mm256_storeu_ps(w.add((j0 + i) * sp + g0), c);
        }
    }
    for j in full..states {
        for (q, row) in rows.iter().enumerate() {
            *w.add(j * sp + g0 + q) = *row.add(j);
        }
    }
}

/// The f32 passes of [`finish`] in AVX2 registers, one vector per state:
/// the same operations in the same order as the portable loops (and as
/// `gemm`'s `exp_nonpositive_f32`), so the same bits.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn finish(
        w: *mut f32,
        sp: usize,
        g0: usize,
        states: usize,
        rows: *const f32,
        lower: &[(usize, usize)],
    ) -> ([f32; 8], u32) {
        let mut m = _mm256_set1_ps(f32::NEG_INFINITY);
        let mut next = [0_usize; 2];
        for j in 0..states {
            let at = w.add(j * sp + g0);
            let mut x = _mm256_loadu_ps(at);
            for (k, &(start, size)) in lower.iter().enumerate() {
                x = _mm256_add_ps(x, _mm256_loadu_ps(rows.add(start + next[k] * 8)));
                next[k] = if next[k] + 1 == size { 0 } else { next[k] + 1 };
            }
            _mm256_storeu_ps(at, x);
            // max_nan(m, x): x where x > m or x is NaN.
            let take = _mm256_or_ps(
                _mm256_cmp_ps::<_CMP_GT_OQ>(x, m),
                _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x),
            );
            m = _mm256_blendv_ps(m, x, take);
        }
        let neg_inf = _mm256_set1_ps(f32::NEG_INFINITY);
        let shift = _mm256_andnot_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(m, neg_inf), m);
        let tiny = _mm256_set1_ps(f32::MIN_POSITIVE);
        let mut under = _mm256_setzero_ps();
        for j in 0..states {
            let at = w.add(j * sp + g0);
            let x = _mm256_loadu_ps(at);
            let e = exp_nonpositive(_mm256_sub_ps(x, shift));
            let bad = _mm256_and_ps(
                _mm256_cmp_ps::<_CMP_LT_OQ>(e, tiny),
                _mm256_cmp_ps::<_CMP_GT_OQ>(x, neg_inf),
            );
            under = _mm256_or_ps(under, bad);
            _mm256_storeu_ps(at, e);
        }
        let mut out = [0.0_f32; 8];
        _mm256_storeu_ps(out.as_mut_ptr(), m);
        (out, _mm256_movemask_ps(under) as u32)
    }

    /// `gemm::exp_nonpositive_f32` on 8 lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn exp_nonpositive(x: __m256) -> __m256 {
        const ROUND: f32 = 12_582_912.0;
        let low = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_set1_ps(-87.33));
        let c = _mm256_blendv_ps(x, _mm256_set1_ps(-87.33), low);
        let shifted = _mm256_fmadd_ps(
            c,
            _mm256_set1_ps(std::f32::consts::LOG2_E),
            _mm256_set1_ps(ROUND),
        );
        let k = _mm256_sub_ps(shifted, _mm256_set1_ps(ROUND));
        let r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693_145_75), c);
        let r = _mm256_fnmadd_ps(k, _mm256_set1_ps(1.428_606_8e-6), r);
        let mut p = _mm256_set1_ps(1.0 / 5040.0);
        for coefficient in [
            1.0 / 720.0,
            1.0 / 120.0,
            1.0 / 24.0,
            1.0 / 6.0,
            0.5,
            1.0,
            1.0,
        ] {
            p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(coefficient));
        }
        let k = _mm256_sub_epi32(
            _mm256_castps_si256(shifted),
            _mm256_set1_epi32(ROUND.to_bits() as i32),
        );
        let scale = _mm256_slli_epi32::<23>(_mm256_add_epi32(k, _mm256_set1_epi32(127)));
        let value = _mm256_mul_ps(p, _mm256_castsi256_ps(scale));
        _mm256_andnot_ps(low, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_passes_match_the_portable_ones() {
        let (states, sp, g0) = (60, 24, 8);
        let mut seed = 3_u64;
        let mut draw = |j: usize, q: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let x = ((seed >> 40) % 10_000) as f32 / 100.0 - 50.0;
            match (q, j % 7) {
                (1, _) => x * 3.0,           // beyond f32's range: underflows
                (2, _) => f32::NEG_INFINITY, // a dead lane
                (3, 0) => f32::NAN,
                (4, 1) | (5, _) if j.is_multiple_of(3) => f32::NEG_INFINITY,
                _ => x,
            }
        };
        let mut w = vec![0.0_f32; states * sp];
        for j in 0..states {
            for q in 0..8 {
                w[j * sp + g0 + q] = draw(j, q);
            }
        }
        let rows: Vec<f32> = (0..(5 + 15) * 8)
            .map(|i| (i % 11) as f32 * 0.37 - 2.0)
            .collect();
        for lower in [&[][..], &[(0, 5)][..], &[(0, 5), (40, 15)][..]] {
            let (mut a, mut b) = (w.clone(), w.clone());
            let fast = finish::<f32, 8>(&mut a, sp, g0, states, &rows, lower);
            let slow = finish_portable::<f32, 8>(&mut b, sp, g0, states, &rows, lower);
            assert_eq!(fast.1, slow.1);
            assert_eq!(fast.1 & 0b10, 0b10, "lane 1 underflows");
            for q in 0..8 {
                assert_eq!(fast.0[q].to_bits(), slow.0[q].to_bits(), "lane {q}");
            }
            for (x, y) in a.iter().zip(&b) {
                assert!(x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()));
            }
        }
    }

    #[test]
    fn exp_nonpositive_is_accurate() {
        let mut worst = 0;
        let mut x = -87.3_f32;
        while x <= 0.0 {
            let exact = (x as f64).exp() as f32;
            let got = <f32 as Acc>::exp_nonpositive(x);
            worst = worst.max((got.to_bits() as i64 - exact.to_bits() as i64).abs());
            x += 0.000_93;
        }
        assert!(worst <= 2, "worst error {worst} ulp");
        assert_eq!(<f32 as Acc>::exp_nonpositive(0.0), 1.0);
        assert_eq!(<f32 as Acc>::exp_nonpositive(-88.0), 0.0);
        assert_eq!(<f32 as Acc>::exp_nonpositive(f32::NEG_INFINITY), 0.0);
        assert_eq!(<f64 as Acc>::exp_nonpositive(f64::NEG_INFINITY), 0.0);
        assert_eq!(<f64 as Acc>::exp_nonpositive(-746.0), 0.0);
    }
}
