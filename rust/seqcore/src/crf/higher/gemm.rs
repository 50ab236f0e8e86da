//! One step of the scaled forward over a block of sequences, as a small
//! matrix product per state prefix.
//!
//! Messages are stored state-major with one lane per sequence:
//! `alpha[j * sp + s]` for state `j` and lane `s` (the block's sequences,
//! padded to whole vectors). With `k = L^(N-2)` prefixes `b` and the n-gram
//! `(a, b, c)` at index `a L^(N-1) + b L + c`, the step is
//!
//! ```text
//! acc[b L + c][s]  = sum over a of alpha[a k + b][s] * E[a L^(N-1) + b L + c]
//! next[b L + c][s] = (acc * p[s]) * w[b L + c][s]
//! ```
//!
//! For a fixed prefix `b` that is `(L x lanes) = (L x L)^T (L x lanes)`: each
//! table element is broadcast once and multiplied into a whole row of
//! sequences, so the table is read once per step for the block instead of
//! once per sequence, and the inner loop is pure multiply-adds on full
//! vectors. A tile keeps `MR` labels `c` by `NV` vectors of lanes in
//! registers (12 accumulators: enough independent chains to hide the
//! multiply-add latency, with the two rows of lanes and one broadcast
//! table weight that is 15 of AVX2's 16 registers; a 3 x 4 tile needs 17
//! and spilled).
//!
//! Every lane is computed by the same operations in the same order
//! (`a = 0, 1, ...`, each a fused multiply-add), in the AVX2 and AVX-512
//! (`gemm512`) tiles and the
//! portable ones alike: a sequence's result depends neither on the other
//! sequences of its block nor on the processor.
//!
//! The epilogue also does the bookkeeping of the scaled forward: the maximum
//! of each lane (its next power-of-two rescaling) and the underflow test of
//! `scaled.rs` (`low`).

use super::float::CrfFloat;

/// Labels per tile, at most.
const MR: usize = 6;
/// Vectors of lanes per tile, at most.
const NV: usize = 2;

/// The blocks of labels `c` the tiles take: `(first, count)`, at most `MR`
/// each and as even as possible (26 labels: 6, 5, 5, 5, 5), since a short
/// tile has too few independent sums to keep the multiply-adds busy.
pub(super) fn label_blocks(labels: usize) -> impl Iterator<Item = (usize, usize)> {
    let blocks = labels.div_ceil(MR);
    let (base, extra) = (labels / blocks.max(1), labels % blocks.max(1));
    (0..blocks).map(move |i| (i * base + i.min(extra), base + usize::from(i < extra)))
}

/// An accumulator type of the scaled forward (f32 or f64).
pub(crate) trait Acc: CrfFloat {
    /// Values in one AVX2 register: lanes are padded to a multiple.
    const LANES: usize;
    /// The smallest normal number.
    const TINY: Self;
    /// `self * a + b` with one rounding.
    fn fma(self, a: Self, b: Self) -> Self;
    /// `floor(log2(self))` for a positive normal number.
    fn exponent(self) -> i32;
    /// `2^k`, exactly, for `k` in the normal range.
    fn pow2(k: i32) -> Self;
    /// `exp(x)` for `x <= 0` or `-inf`, vectorisable; 0 (not a subnormal)
    /// below the smallest normal result.
    fn exp_nonpositive(x: Self) -> Self;
    /// Runs [`Step`] (see the module documentation).
    fn step(step: &mut Step<'_, Self>);
}

/// The operands of one step over vectors `0..nvec` of lanes.
pub(crate) struct Step<'s, A> {
    pub labels: usize,
    /// `L^(N-2)`: state prefixes.
    pub prefixes: usize,
    /// Lanes per state row (a multiple of `LANES`).
    pub sp: usize,
    /// Vectors of lanes to compute.
    pub nvec: usize,
    /// The weights of the table, packed by [`pack_table`].
    pub table: &'s [A],
    /// `(L^(N-1), sp)`.
    pub prev: &'s [A],
    /// `(L^(N-1), sp)`: the lower-order weights of this position; output
    /// state `b L + c` takes row `(b mod w_prefixes) L + c` (forward; the
    /// backward passes weights of 1 and `w_prefixes = prefixes`).
    pub w: &'s [A],
    pub w_prefixes: usize,
    /// `(sp,)`: each lane's rescaling (0 for a lane that is not computed).
    pub p: &'s [A],
    /// Nonzero messages below this are an underflow (see `scaled.rs`).
    pub a_min: A,
    /// `(L^(N-1), sp)`.
    pub next: &'s mut [A],
    /// `(sp,)`: raised to the maximum of each lane of `next` (the caller
    /// sets it to 0 first).
    pub top: &'s mut [A],
    /// `(sp,)`: set nonzero where a lane underflowed.
    pub low: &'s mut [u32],
    /// The transposed product of the backward pass: `next[a k + b] =
    /// sum over c of E[a L^(N-1) + b L + c] prev[b L + c]` (times `p` and
    /// `w`), with the table packed by [`pack_table_transposed`].
    pub backward: bool,
}

impl<A> Step<'_, A> {
    /// Offsets in `prev` and `next`, in values: `[prefix b's first input
    /// row, from one input row to the next, prefix b's first output row,
    /// from one output label to the next]`.
    #[inline(always)]
    pub(super) fn rows(&self) -> [usize; 4] {
        let (sp, l, k) = (self.sp, self.labels, self.prefixes);
        if self.backward {
            // Inputs b L + c (consecutive rows), outputs a k + b.
            [l * sp, sp, sp, k * sp]
        } else {
            // Inputs a k + b, outputs b L + c.
            [sp, k * sp, l * sp, sp]
        }
    }

    /// Where the weights of prefix `b`'s output row for label `c0` start,
    /// and the step to the next label's: the output rows themselves, but
    /// in the forward prefix `b mod w_prefixes` (see `w_prefixes`).
    #[inline(always)]
    pub(super) fn w_rows(&self, b: usize, c0: usize) -> (usize, usize) {
        if self.backward {
            let [_, _, out_b, out_c] = self.rows();
            (b * out_b + c0 * out_c, out_c)
        } else {
            (
                ((b % self.w_prefixes) * self.labels + c0) * self.sp,
                self.sp,
            )
        }
    }
}

/// The table's weights `E[a L^(N-1) + b L + c]` in the order the tiles read
/// them: per prefix `b`, per block of labels `c` (`label_blocks`), per
/// `a`, the block's labels side by side.
pub(crate) fn pack_table<A: Copy>(weights: &[A], labels: usize, prefixes: usize) -> Vec<A> {
    let states = labels * prefixes;
    let mut out = Vec::with_capacity(weights.len());
    for b in 0..prefixes {
        for (c0, mr) in label_blocks(labels) {
            for a in 0..labels {
                let row = a * states + b * labels + c0;
                out.extend_from_slice(&weights[row..row + mr]);
            }
        }
    }
    out
}

/// The table's weights for the backward product: per prefix `b`, per
/// block of first labels `a` (`label_blocks`), per last label `c`, the
/// block's `E[a L^(N-1) + b L + c]` side by side.
pub(crate) fn pack_table_transposed<A: Copy>(
    weights: &[A],
    labels: usize,
    prefixes: usize,
) -> Vec<A> {
    let states = labels * prefixes;
    let mut out = Vec::with_capacity(weights.len());
    for b in 0..prefixes {
        for (a0, mr) in label_blocks(labels) {
            for c in 0..labels {
                out.extend((a0..a0 + mr).map(|a| weights[a * states + b * labels + c]));
            }
        }
    }
    out
}

/// Runs `tile::<mr, nv>` for runtime `mr` in `1..=MR` and `nv` in `1..=NV`.
macro_rules! dispatch {
    ($tile:ident [$($pre:tt)*] ($mr:expr, $nv:expr) ($($arg:expr),*)) => {
        match ($mr, $nv) {
            (6, 2) => $tile::<$($pre)* 6, 2>($($arg),*),
            (6, 1) => $tile::<$($pre)* 6, 1>($($arg),*),
            (5, 2) => $tile::<$($pre)* 5, 2>($($arg),*),
            (5, 1) => $tile::<$($pre)* 5, 1>($($arg),*),
            (4, 2) => $tile::<$($pre)* 4, 2>($($arg),*),
            (4, 1) => $tile::<$($pre)* 4, 1>($($arg),*),
            (3, 2) => $tile::<$($pre)* 3, 2>($($arg),*),
            (3, 1) => $tile::<$($pre)* 3, 1>($($arg),*),
            (2, 2) => $tile::<$($pre)* 2, 2>($($arg),*),
            (2, 1) => $tile::<$($pre)* 2, 1>($($arg),*),
            (1, 2) => $tile::<$($pre)* 1, 2>($($arg),*),
            (1, 1) => $tile::<$($pre)* 1, 1>($($arg),*),
            _ => unreachable!("tile sizes are at most {MR} by {NV}"),
        }
    };
}

/// The loops over prefixes, lane tiles and label blocks, calling `tile(step,
/// b, c0, v0, packed block)` with the tile's sizes.
#[inline(always)]
fn for_each_tile<A: Acc>(
    step: &mut Step<'_, A>,
    mut tile: impl FnMut(&mut Step<'_, A>, usize, usize, usize, usize, usize, usize),
) {
    let l = step.labels;
    for b in 0..step.prefixes {
        for v0 in (0..step.nvec).step_by(NV) {
            let nv = NV.min(step.nvec - v0);
            // Prefix b's weights start at b L^2, each label block after
            // the previous one's `mr * L`.
            let mut block = b * l * l;
            for (c0, mr) in label_blocks(l) {
                tile(step, b, c0, v0, nv, mr, block);
                block += mr * l;
            }
        }
    }
}

/// The portable tile: lanes as arrays, which LLVM vectorises.
#[inline(always)]
fn tile_lanes<A: Acc, const LN: usize, const M: usize, const V: usize>(
    step: &mut Step<'_, A>,
    b: usize,
    c0: usize,
    v0: usize,
    block: usize,
) {
    let [in_b, stride, out_b, out_c] = step.rows();
    let first = v0 * LN;
    let prev = &step.prev[b * in_b + first..];
    let table = &step.table[block..][..step.labels * M];
    let mut acc = [[[A::ZERO; LN]; V]; M];
    for (a, e) in table.chunks_exact(M).enumerate() {
        let x = &prev[a * stride..][..V * LN];
        for i in 0..M {
            for v in 0..V {
                for q in 0..LN {
                    acc[i][v][q] = x[v * LN + q].fma(e[i], acc[i][v][q]);
                }
            }
        }
    }
    let (w_start, w_step) = step.w_rows(b, c0);
    let p = &step.p[first..][..V * LN];
    let top = &mut step.top[first..][..V * LN];
    let low = &mut step.low[first..][..V * LN];
    for (i, acc) in acc.iter().enumerate() {
        let row = b * out_b + (c0 + i) * out_c + first;
        let w_row = w_start + i * w_step + first;
        let w = &step.w[w_row..][..V * LN];
        let out = &mut step.next[row..][..V * LN];
        for v in 0..V {
            for q in 0..LN {
                let at = v * LN + q;
                let scaled = acc[v][q] * p[at];
                let value = scaled * w[at];
                out[at] = value;
                // Both factors nonzero (`min`, as `minps`) but the product
                // small: an underflow.
                let both = if scaled < w[at] { scaled } else { w[at] };
                low[at] |= ((value < step.a_min) & (both > A::ZERO)) as u32;
                // As `maxps(value, top)`.
                top[at] = if value > top[at] { value } else { top[at] };
            }
        }
    }
}

/// The f32 step in portable tiles (tests of the vector ones).
#[cfg(test)]
pub(super) fn step_portable(step: &mut Step<'_, f32>) {
    step_lanes::<f32, 8>(step)
}

/// The f32 step in AVX2 tiles (tests; the caller checks the features).
#[cfg(all(test, target_arch = "x86_64"))]
pub(super) unsafe fn step_avx2(step: &mut Step<'_, f32>) {
    avx2::step(step)
}

#[inline(always)]
fn step_lanes<A: Acc, const LN: usize>(step: &mut Step<'_, A>) {
    debug_assert_eq!(LN, A::LANES);
    for_each_tile(
        step,
        |step, b, c0, v0, nv, mr, block| dispatch!(tile_lanes [A, LN,] (mr, nv) (step, b, c0, v0, block)),
    );
}

impl Acc for f32 {
    const LANES: usize = 8;
    const TINY: Self = f32::MIN_POSITIVE;
    #[inline(always)]
    fn fma(self, a: Self, b: Self) -> Self {
        self.mul_add(a, b)
    }
    #[inline(always)]
    fn exponent(self) -> i32 {
        ((self.to_bits() >> 23) & 0xff) as i32 - 127
    }
    #[inline(always)]
    fn pow2(k: i32) -> Self {
        f32::from_bits(((k + 127) as u32) << 23)
    }
    #[inline(always)]
    fn exp_nonpositive(x: Self) -> Self {
        exp_nonpositive_f32(x)
    }
    fn step(step: &mut Step<'_, Self>) {
        #[cfg(target_arch = "x86_64")]
        {
            if crate::simd::has_avx512() {
                // SAFETY: the processor has the features just detected.
                return unsafe { super::gemm512::step(step) };
            }
            if crate::simd::has_avx2() {
                // SAFETY: the processor has the features just detected.
                return unsafe { avx2::step(step) };
            }
        }
        step_lanes::<f32, 8>(step)
    }
}

impl Acc for f64 {
    const LANES: usize = 4;
    const TINY: Self = f64::MIN_POSITIVE;
    #[inline(always)]
    fn fma(self, a: Self, b: Self) -> Self {
        self.mul_add(a, b)
    }
    #[inline(always)]
    fn exponent(self) -> i32 {
        ((self.to_bits() >> 52) & 0x7ff) as i32 - 1023
    }
    #[inline(always)]
    fn pow2(k: i32) -> Self {
        f64::from_bits(((k + 1023) as u64) << 52)
    }
    #[inline(always)]
    fn exp_nonpositive(x: Self) -> Self {
        let e = x.exp_lanes();
        if e < f64::MIN_POSITIVE {
            0.0
        } else {
            e
        }
    }
    fn step(step: &mut Step<'_, Self>) {
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn wide(step: &mut Step<'_, f64>) {
                step_lanes::<f64, 4>(step)
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: the processor has the features just detected.
                return unsafe { wide(step) };
            }
        }
        step_lanes::<f64, 4>(step)
    }
}

/// `exp(x)` for f32 `x <= 0`: the range reduction and degree-7 series of
/// the crate's `exp_f32` (within 2 ulp), without the branches for large or
/// NaN arguments, and with a single power of two (`k` is in `[-126, 0]`).
/// The weights of a position are `L^(N-1)` exponentials per sequence, the
/// one cost of the scaled forward besides the product.
#[inline(always)]
fn exp_nonpositive_f32(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    // exp(-87.33) is just above the smallest normal f32.
    const MIN: f32 = -87.33;
    let c = if x < MIN { MIN } else { x };
    let shifted = c.mul_add(LOG2_E, ROUND);
    let k = shifted - ROUND;
    let r = (-k).mul_add(LN2_LO, (-k).mul_add(LN2_HI, c));
    let mut p: f32 = 1.0 / 5040.0;
    p = p.mul_add(r, 1.0 / 720.0);
    p = p.mul_add(r, 1.0 / 120.0);
    p = p.mul_add(r, 1.0 / 24.0);
    p = p.mul_add(r, 1.0 / 6.0);
    p = p.mul_add(r, 0.5);
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
    let k = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let value = p * f32::from_bits(((k + 127) as u32) << 23);
    if x < MIN {
        0.0
    } else {
        value
    }
}

/// The f32 tiles written with AVX2 intrinsics: the same operations as
/// `tile_lanes`, with the accumulators pinned in registers.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{for_each_tile, Step, MR, NV};

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn step(step: &mut Step<'_, f32>) {
        assert!(step.prev.len() >= step.labels * step.prefixes * step.sp);
        assert!(step.next.len() >= step.labels * step.prefixes * step.sp);
        assert!(step.w.len() >= step.labels * step.prefixes * step.sp);
        assert!(step.w_prefixes >= 1 && step.w_prefixes <= step.prefixes);
        assert!(step.p.len() >= step.nvec * 8 && step.top.len() >= step.nvec * 8);
        assert!(step.low.len() >= step.nvec * 8 && step.nvec * 8 <= step.sp);
        assert!(step.table.len() >= step.labels * step.labels * step.prefixes);
        for_each_tile(step, |step, b, c0, v0, nv, mr, block| {
            // SAFETY: the bounds asserted above cover every access.
            unsafe { dispatch!(tile [] (mr, nv) (step, b, c0, v0, block)) }
        });
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile<const M: usize, const V: usize>(
        step: &mut Step<'_, f32>,
        b: usize,
        c0: usize,
        v0: usize,
        block: usize,
    ) {
        let l = step.labels;
        let [in_b, stride, out_b, out_c] = step.rows();
        let first = v0 * 8;
        let mut x = step.prev.as_ptr().add(b * in_b + first);
        let mut e = step.table.as_ptr().add(block);
        let mut acc = [[_mm256_setzero_ps(); V]; M];
        for _ in 0..l {
            let mut row = [_mm256_setzero_ps(); V];
            for v in 0..V {
                row[v] = _mm256_loadu_ps(x.add(v * 8));
            }
            for i in 0..M {
                let ei = _mm256_broadcast_ss(&*e.add(i));
                for v in 0..V {
                    acc[i][v] = _mm256_fmadd_ps(row[v], ei, acc[i][v]);
                }
            }
            x = x.add(stride);
            e = e.add(M);
        }
        let zero = _mm256_setzero_ps();
        let a_min = _mm256_set1_ps(step.a_min);
        let (w_start, w_step) = step.w_rows(b, c0);
        for v in 0..V {
            let lane = first + v * 8;
            let p = _mm256_loadu_ps(step.p.as_ptr().add(lane));
            let top_at = step.top.as_mut_ptr().add(lane);
            let low_at = step.low.as_mut_ptr().add(lane) as *mut __m256i;
            let mut top = _mm256_loadu_ps(top_at);
            let mut low = _mm256_loadu_ps(low_at as *const f32);
            for i in 0..M {
                let row = b * out_b + (c0 + i) * out_c + lane;
                let w_row = w_start + i * w_step + lane;
                let w = _mm256_loadu_ps(step.w.as_ptr().add(w_row));
                let scaled = _mm256_mul_ps(acc[i][v], p);
                let value = _mm256_mul_ps(scaled, w);
                _mm256_storeu_ps(step.next.as_mut_ptr().add(row), value);
                let under = _mm256_and_ps(
                    _mm256_cmp_ps::<_CMP_LT_OQ>(value, a_min),
                    _mm256_cmp_ps::<_CMP_GT_OQ>(_mm256_min_ps(scaled, w), zero),
                );
                low = _mm256_or_ps(low, under);
                top = _mm256_max_ps(value, top);
            }
            _mm256_storeu_ps(top_at, top);
            _mm256_storeu_si256(low_at, _mm256_castps_si256(low));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every tile shape against a plain loop, f32 (AVX-512 or AVX2 where available)
    /// and f64, with the lanes past `nvec` left alone.
    fn check<A: Acc>(labels: usize, prefixes: usize, sp: usize, nvec: usize, backward: bool) {
        check_with::<A>(labels, prefixes, sp, nvec, backward, prefixes);
        // Forward weights that depend on the last labels only.
        if !backward && prefixes > 1 {
            check_with::<A>(labels, prefixes, sp, nvec, backward, 1);
        }
    }

    fn check_with<A: Acc>(
        labels: usize,
        prefixes: usize,
        sp: usize,
        nvec: usize,
        backward: bool,
        w_prefixes: usize,
    ) {
        let states = labels * prefixes;
        let mut seed = 7_u64;
        let mut draw = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            A::from_f64(((seed >> 40) % 1000) as f64 / 1000.0)
        };
        let weights: Vec<A> = (0..states * labels).map(|_| draw()).collect();
        let prev: Vec<A> = (0..states * sp).map(|_| draw()).collect();
        let w: Vec<A> = (0..states * sp).map(|_| draw()).collect();
        let p: Vec<A> = (0..sp).map(|s| A::from_f64(0.5 * (s % 3) as f64)).collect();
        let table = if backward {
            pack_table_transposed(&weights, labels, prefixes)
        } else {
            pack_table(&weights, labels, prefixes)
        };
        let mut next = vec![A::NAN; states * sp];
        let mut top = vec![A::ZERO; sp];
        let mut low = vec![0; sp];
        A::step(&mut Step {
            labels,
            prefixes,
            sp,
            nvec,
            table: &table,
            prev: &prev,
            w: &w,
            w_prefixes,
            p: &p,
            a_min: A::from_f64(0.01),
            next: &mut next,
            top: &mut top,
            low: &mut low,
            backward,
        });
        for s in 0..sp {
            let mut best = A::ZERO;
            for j in 0..states {
                let got = next[j * sp + s];
                if s >= nvec * A::LANES {
                    assert!(got.to_f64().is_nan());
                    continue;
                }
                let mut acc = A::ZERO;
                for r in 0..labels {
                    // Forward: j = b L + c, summed over a = r. Backward:
                    // j = a k + b, summed over c = r.
                    let (g, from) = if backward {
                        let (a, b) = (j / prefixes, j % prefixes);
                        (a * states + b * labels + r, b * labels + r)
                    } else {
                        let (b, c) = (j / labels, j % labels);
                        (r * states + b * labels + c, r * prefixes + b)
                    };
                    acc = prev[from * sp + s].fma(weights[g], acc);
                }
                let w_row = if backward {
                    j
                } else {
                    (j / labels % w_prefixes) * labels + j % labels
                };
                let want = (acc * p[s]) * w[w_row * sp + s];
                assert_eq!(got.to_f64(), want.to_f64(), "state {j} lane {s}");
                if want > best {
                    best = want;
                }
            }
            if s < nvec * A::LANES {
                assert_eq!(top[s].to_f64(), best.to_f64());
                // p = 0 (every third lane) never counts as an underflow.
                assert!(s % 3 != 0 || low[s] == 0);
            }
        }
    }

    #[test]
    fn label_blocks_cover_the_labels_evenly() {
        for labels in 1..100 {
            let blocks: Vec<_> = label_blocks(labels).collect();
            assert_eq!(blocks.len(), labels.div_ceil(MR));
            let mut next = 0;
            for &(c0, mr) in &blocks {
                assert_eq!(c0, next);
                assert!((1..=MR).contains(&mr) && mr + 1 >= blocks[0].1);
                next += mr;
            }
            assert_eq!(next, labels);
        }
    }

    #[test]
    fn tiles_match_a_plain_loop() {
        for (labels, prefixes) in [
            (1, 1),
            (2, 1),
            (5, 1),
            (7, 3),
            (4, 4),
            (3, 9),
            (13, 2),
            (26, 1),
        ] {
            for nvec in 1..=6 {
                for backward in [false, true] {
                    check::<f32>(labels, prefixes, 48, nvec, backward);
                    check::<f64>(labels, prefixes, 24, nvec, backward);
                }
            }
        }
    }
}
