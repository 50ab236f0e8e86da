//! The number types of the linear-chain kernels.
//!
//! * [`CrfFloat`] is the public score type: f32 or f64. It is sealed: its
//!   working parts live in the crate-private [`internal::Score`].
//! * [`internal::Acc`] is the type the scaled forward-backward accumulates
//!   in (f32 or f64, independent of the score type), with the vector
//!   kernels specialised to its lane count.

use std::fmt::Debug;
use std::ops::{Add, Div, Mul, Sub};

use super::kernels;

/// f32 or f64: the type of emission, transition, start and end scores.
///
/// The trait is sealed; its methods are internal to seqcore.
pub trait CrfFloat: internal::Score {}

impl CrfFloat for f32 {}
impl CrfFloat for f64 {}

pub(super) mod internal {
    use super::*;

    /// A score type: its conversions and the Viterbi max-plus kernel.
    pub trait Score:
        Copy + Send + Sync + Debug + PartialOrd + Add<Output = Self> + 'static
    {
        const ZERO: Self;
        const NEG_INF: Self;
        const NAN: Self;
        /// Values in one 256-bit vector; Viterbi rows are padded to a multiple.
        const LANES: usize;
        /// True for f32, whose fast path accumulates in f32 first.
        const SINGLE: bool;
        fn to_f64(self) -> f64;
        fn from_f64(x: f64) -> Self;
        /// NaN or `+inf`: a score the kernels cannot use (see the module
        /// documentation of `linear`).
        fn is_bad(self) -> bool;
        /// `best[j] = max_i (prev[i] + m[i * stride + j])` for `j < stride`
        /// (see `kernels::max_plus_by_blocks`).
        fn max_plus(prev: &[Self], m: &[Self], stride: usize, best: &mut [Self]);
    }

    /// An accumulator type of the scaled forward-backward.
    /// Its `ZERO`, `NEG_INF` and `LANES` (rows are padded to a multiple)
    /// are those of [`Score`].
    pub trait Acc:
        Score + Default + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self>
    {
        const ONE: Self;
        /// The smallest normal number.
        const TINY: Self;
        /// The smallest `sum_i alpha_i beta_i` accepted when dividing by it
        /// (marginals lose no more than `TINY / D_MIN` to underflow).
        const D_MIN: Self;
        /// A vectorisable `exp` that flushes results below `TINY` to 0.
        fn exp_lanes(self) -> Self;
        /// `floor(log2(self))` for a positive normal number.
        fn exponent(self) -> i32;
        /// `2^k`, exactly, for `k` in the normal range.
        fn pow2(k: i32) -> Self;
        /// `out[j] = sum_i x[i] * m[i * stride + j]` for `j < stride`.
        fn vec_mat(x: &[Self], m: &[Self], stride: usize, out: &mut [Self]);
        /// `out[i * stride + j] += sum_t a[t * stride + i] * b[t * stride + j]`.
        fn at_b(a: &[Self], b: &[Self], stride: usize, rows: usize, out: &mut [Self]);
    }
}

impl internal::Score for f32 {
    const ZERO: Self = 0.0;
    const NEG_INF: Self = f32::NEG_INFINITY;
    const NAN: Self = f32::NAN;
    const LANES: usize = 8;
    const SINGLE: bool = true;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn is_bad(self) -> bool {
        // `|`, not `||`: no branch, so a scan over a row vectorises.
        self.is_nan() | (self == f32::INFINITY)
    }
    #[inline(always)]
    fn max_plus(prev: &[Self], m: &[Self], stride: usize, best: &mut [Self]) {
        kernels::max_plus_by_blocks!(f32, 8, prev, m, stride, best);
    }
}

impl internal::Score for f64 {
    const ZERO: Self = 0.0;
    const NEG_INF: Self = f64::NEG_INFINITY;
    const NAN: Self = f64::NAN;
    const LANES: usize = 4;
    const SINGLE: bool = false;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn is_bad(self) -> bool {
        self.is_nan() | (self == f64::INFINITY)
    }
    #[inline(always)]
    fn max_plus(prev: &[Self], m: &[Self], stride: usize, best: &mut [Self]) {
        kernels::max_plus_by_blocks!(f64, 4, prev, m, stride, best);
    }
}

impl internal::Acc for f32 {
    const ONE: Self = 1.0;
    const TINY: Self = f32::MIN_POSITIVE;
    const D_MIN: Self = 8.673_617_4e-19; // 2^-60
    #[inline(always)]
    fn exp_lanes(self) -> Self {
        super::exp::exp_f32(self)
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
    fn vec_mat(x: &[Self], m: &[Self], stride: usize, out: &mut [Self]) {
        kernels::vec_mat_by_blocks!(f32, 8, x, m, stride, out);
    }
    #[inline(always)]
    fn at_b(a: &[Self], b: &[Self], stride: usize, rows: usize, out: &mut [Self]) {
        kernels::at_b::<f32, 16, 8>(a, b, stride, rows, out);
    }
}

impl internal::Acc for f64 {
    const ONE: Self = 1.0;
    const TINY: Self = f64::MIN_POSITIVE;
    const D_MIN: Self = 2.409_919_865_102_884e-181; // 2^-600
    #[inline(always)]
    fn exp_lanes(self) -> Self {
        super::exp::exp_f64(self)
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
    fn vec_mat(x: &[Self], m: &[Self], stride: usize, out: &mut [Self]) {
        kernels::vec_mat_by_blocks!(f64, 4, x, m, stride, out);
    }
    #[inline(always)]
    fn at_b(a: &[Self], b: &[Self], stride: usize, rows: usize, out: &mut [Self]) {
        kernels::at_b::<f64, 8, 4>(a, b, stride, rows, out);
    }
}

#[cfg(test)]
mod tests {
    use super::internal::Acc;

    #[test]
    fn thresholds_are_the_powers_of_two_they_claim() {
        assert_eq!(<f32 as Acc>::D_MIN, 2f32.powi(-60));
        assert_eq!(<f64 as Acc>::D_MIN, 2f64.powi(-600));
        assert_eq!(<f32 as Acc>::pow2(-100), 2f32.powi(-100));
        assert_eq!(<f64 as Acc>::pow2(5), 32.0);
        assert_eq!(<f32 as Acc>::exponent(3.9), 1);
        assert_eq!(<f64 as Acc>::exponent(0.3), -2);
    }
}
