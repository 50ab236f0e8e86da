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
/// weights become 1, its outcome `Shift(0)`). `rows` is scratch for `L^(N-2) * LN`
/// values (the transposed lower orders). Returns each lane's outcome.
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
    let (order, states) = (chain.order, chain.states);
    let zeros = [T::ZERO; 0];
    // The order-(N-1) factors (or zeros), transposed into w.
    let top: [&[T]; LN] = std::array::from_fn(|q| match seqs[q] {
        Some(b) => chain.factor_row(order - 1, b, t).unwrap_or(&zeros),
        None => &zeros,
    });
    transpose_rows(&top, states, w, sp, g0);
    // Lower orders: transposed into `rows`, then added to every state
    // ending in that n-gram.
    for n in (1..order - 1).filter(|&n| chain.has_factor(n)) {
        let size = chain.sizes[n];
        let src: [Option<&[T]>; LN] =
            std::array::from_fn(|q| seqs[q].and_then(|b| chain.factor_row(n, b, t)));
        for (i, row) in rows[..size * LN].chunks_exact_mut(LN).enumerate() {
            for (r, src) in row.iter_mut().zip(&src) {
                *r = src.map_or(A::ZERO, |f| A::from_f64(f[i].to_f64()));
            }
        }
        for block in w.chunks_exact_mut(sp * size).take(states / size) {
            for (out, add) in block.chunks_exact_mut(sp).zip(rows.chunks_exact(LN)) {
                let out = lanes_mut::<A, LN>(out, g0);
                let add: &[A; LN] = add.try_into().unwrap();
                for q in 0..LN {
                    out[q] = out[q] + add[q];
                }
            }
        }
    }
    // The maximum of each lane, then the exponentials.
    let mut m = [A::NEG_INFINITY; LN];
    for row in w.chunks_exact_mut(sp).take(states) {
        let row = lanes_mut::<A, LN>(row, g0);
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
    // Flags as whole lanes (a vector of bools would be packed to bytes).
    let mut under = [0_u32; LN];
    for row in w.chunks_exact_mut(sp).take(states) {
        let row = lanes_mut::<A, LN>(row, g0);
        for q in 0..LN {
            let x = row[q];
            let e = A::exp_nonpositive(x - shift[q]);
            under[q] |= ((e < A::TINY) & (x > A::NEG_INFINITY)) as u32;
            row[q] = e;
        }
    }
    std::array::from_fn(|q| {
        if seqs[q].is_none() {
            Outcome::Shift(0.0)
        } else if is_nan(m[q]) {
            Outcome::Nan
        } else if m[q] == A::NEG_INFINITY {
            Outcome::Dead
        } else if under[q] != 0 {
            Outcome::Underflow
        } else {
            Outcome::Shift(m[q].to_f64())
        }
    })
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
