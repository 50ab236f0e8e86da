//! The number types the higher-order kernels run on (f32 and f64), with an
//! `exp` and a `ln` written so that loops over slices vectorise.
//!
//! Forward-backward spends nearly all its time in `exp`: one per n-gram and
//! position in each direction. The standard library's `exp` and `ln` are
//! calls into libm, which stop a loop from vectorising, so both are written
//! here as range reduction plus a polynomial, with no calls and no branches
//! (selects only). Every multiply-add is an explicit `mul_add`: one
//! instruction on processors with FMA (the kernels are compiled for it and
//! chosen at run time) and a correctly rounded library call elsewhere, so
//! every processor computes the same bits.

use std::fmt::Debug;
use std::ops::{Add, Mul, Sub};

use crate::scan::Real;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// f32 or f64: the element type of factors, tables and results.
///
/// Sealed: only the two floating-point types implement it.
pub trait CrfFloat:
    sealed::Sealed
    + Copy
    + Send
    + Sync
    + Debug
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + 'static
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// Negative infinity: the score of a forbidden n-gram.
    const NEG_INFINITY: Self;
    /// Positive infinity.
    const INFINITY: Self;
    /// Not a number.
    const NAN: Self;
    /// Widens (f32) or copies (f64) into an f64, exactly.
    fn to_f64(self) -> f64;
    /// Rounds an f64 to this type.
    fn from_f64(x: f64) -> Self;
    /// `exp(x)`, vectorisable: within 2 ulp for f32, about 1 ulp for f64;
    /// 0 for `-inf`, NaN for NaN.
    fn exp_lanes(self) -> Self;
    /// `ln(x)` for `x` that is 0, a positive normal number, `inf` or NaN
    /// (0 gives `-inf`), vectorisable; about 1 ulp. Subnormal and negative
    /// inputs are outside its domain (the kernels never produce them: they
    /// take the log of sums that are 0 or at least 1).
    fn ln_lanes(self) -> Self;
}

impl CrfFloat for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    const INFINITY: Self = f32::INFINITY;
    const NAN: Self = f32::NAN;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn exp_lanes(self) -> Self {
        // The selective scan's exp: the same bits everywhere in seqcore.
        Real::exp_lanes(self)
    }
    #[inline(always)]
    fn ln_lanes(self) -> Self {
        ln_f32(self)
    }
}

impl CrfFloat for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    const INFINITY: Self = f64::INFINITY;
    const NAN: Self = f64::NAN;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn exp_lanes(self) -> Self {
        exp_f64(self)
    }
    #[inline(always)]
    fn ln_lanes(self) -> Self {
        ln_f64(self)
    }
}

/// `exp` for f64: `x = k ln2 + r` with `|r| <= ln2 / 2`, `exp(x) = 2^k exp(r)`
/// and `exp(r)` from its Taylor series to degree 13 (truncation below 5e-18
/// relative). `ln2` is split in two so that `k ln2` loses nothing.
#[inline(always)]
pub(crate) fn exp_f64(x: f64) -> f64 {
    const LOG2_E: f64 = std::f64::consts::LOG2_E;
    // fdlibm's split: LN2_HI has its low 32 bits zero, so k * LN2_HI is exact.
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    // Adding and subtracting 1.5 * 2^52 rounds to the nearest integer.
    const ROUND: f64 = 6_755_399_441_055_744.0;
    // exp(709.78) is just below f64::MAX; below -745.2 the result is 0.
    const MAX: f64 = 709.78;
    const MIN: f64 = -745.2;
    // Plain comparisons (one compare and one blend each); NaN passes through.
    #[allow(clippy::manual_clamp)]
    let clamped = if x < MIN {
        MIN
    } else if x > MAX {
        MAX
    } else {
        x
    };
    let shifted = clamped.mul_add(LOG2_E, ROUND);
    let k = shifted - ROUND;
    let r = (-k).mul_add(LN2_LO, (-k).mul_add(LN2_HI, clamped));
    let mut p = 1.0 / 6_227_020_800.0; // 1/13!
    p = p.mul_add(r, 1.0 / 479_001_600.0);
    p = p.mul_add(r, 1.0 / 39_916_800.0);
    p = p.mul_add(r, 1.0 / 3_628_800.0);
    p = p.mul_add(r, 1.0 / 362_880.0);
    p = p.mul_add(r, 1.0 / 40_320.0);
    p = p.mul_add(r, 1.0 / 5_040.0);
    p = p.mul_add(r, 1.0 / 720.0);
    p = p.mul_add(r, 1.0 / 120.0);
    p = p.mul_add(r, 1.0 / 24.0);
    p = p.mul_add(r, 1.0 / 6.0);
    p = p.mul_add(r, 0.5);
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
    // The low mantissa bits of `shifted` hold k; biasing it by 2048 keeps it
    // non-negative, so halving is a logical shift (AVX2 has no 64-bit
    // arithmetic shift, and a float-to-int cast would not vectorise).
    let biased = shifted
        .to_bits()
        .wrapping_sub(ROUND.to_bits())
        .wrapping_add(2048);
    // 2^k as 2^half * 2^(k - half): k is in [-1075, 1024], both halves
    // stay normal, and subnormal results round once, in the last product.
    let half = biased >> 1; // half + 1024
    let rest = biased - half; // (k - half) + 1024
    let scale_a = f64::from_bits((half - 1) << 52);
    let scale_b = f64::from_bits((rest - 1) << 52);
    let value = p * scale_a * scale_b;
    if x < MIN {
        0.0
    } else if x > MAX {
        f64::INFINITY
    } else if x.is_nan() {
        x
    } else {
        value
    }
}

/// `ln` for f64: `x = 2^e m` with `m` in `[sqrt(1/2), sqrt(2))`, and
/// `ln(m) = 2 atanh(s)` with `s = (m - 1) / (m + 1)`, `|s| <= 0.172`: the
/// odd series to `s^23` leaves a relative error near 1e-18.
#[inline(always)]
pub(crate) fn ln_f64(x: f64) -> f64 {
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    const MANTISSA: u64 = (1 << 52) - 1;
    // 2^52 as a float: or-ing a small integer into its mantissa and
    // subtracting it converts the integer exactly (no int-to-float cast,
    // which AVX2 lacks for 64-bit integers).
    const MAGIC: f64 = 4_503_599_627_370_496.0;
    let bits = x.to_bits();
    let m = f64::from_bits((bits & MANTISSA) | 1.0_f64.to_bits());
    let exponent = f64::from_bits(MAGIC.to_bits() | (bits >> 52)) - MAGIC - 1023.0;
    let big = m > std::f64::consts::SQRT_2;
    let m = if big { m * 0.5 } else { m };
    let e = if big { exponent + 1.0 } else { exponent };
    let s = (m - 1.0) / (m + 1.0);
    let z = s * s;
    let mut p = 2.0 / 23.0;
    p = p.mul_add(z, 2.0 / 21.0);
    p = p.mul_add(z, 2.0 / 19.0);
    p = p.mul_add(z, 2.0 / 17.0);
    p = p.mul_add(z, 2.0 / 15.0);
    p = p.mul_add(z, 2.0 / 13.0);
    p = p.mul_add(z, 2.0 / 11.0);
    p = p.mul_add(z, 2.0 / 9.0);
    p = p.mul_add(z, 2.0 / 7.0);
    p = p.mul_add(z, 2.0 / 5.0);
    p = p.mul_add(z, 2.0 / 3.0);
    p = p.mul_add(z, 2.0);
    let value = e.mul_add(LN2_HI, e.mul_add(LN2_LO, p * s));
    if x == 0.0 {
        f64::NEG_INFINITY
    } else if x == f64::INFINITY || x.is_nan() {
        x
    } else if x < 0.0 {
        f64::NAN
    } else {
        value
    }
}

/// `ln` for f32, as [`ln_f64`] with the series to `s^11`.
#[inline(always)]
pub(crate) fn ln_f32(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75; // ln 2 rounded to 16 significant bits
    const LN2_LO: f32 = 1.428_606_8e-6; // ln 2 - LN2_HI
    const MANTISSA: u32 = (1 << 23) - 1;
    let bits = x.to_bits();
    let m = f32::from_bits((bits & MANTISSA) | 1.0_f32.to_bits());
    // The exponent field of a positive number, as a (vectorisable) i32 cast.
    let exponent = (bits >> 23) as i32 as f32 - 127.0;
    let big = m > std::f32::consts::SQRT_2;
    let m = if big { m * 0.5 } else { m };
    let e = if big { exponent + 1.0 } else { exponent };
    let s = (m - 1.0) / (m + 1.0);
    let z = s * s;
    let mut p: f32 = 2.0 / 11.0;
    p = p.mul_add(z, 2.0 / 9.0);
    p = p.mul_add(z, 2.0 / 7.0);
    p = p.mul_add(z, 2.0 / 5.0);
    p = p.mul_add(z, 2.0 / 3.0);
    p = p.mul_add(z, 2.0);
    let value = e.mul_add(LN2_HI, e.mul_add(LN2_LO, p * s));
    if x == 0.0 {
        f32::NEG_INFINITY
    } else if x == f32::INFINITY || x.is_nan() {
        x
    } else if x < 0.0 {
        f32::NAN
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps64(a: f64, b: f64) -> i64 {
        (a.to_bits() as i64 - b.to_bits() as i64).abs()
    }

    fn ulps32(a: f32, b: f32) -> i64 {
        (a.to_bits() as i64 - b.to_bits() as i64).abs()
    }

    #[test]
    fn exp_f64_is_within_two_ulp() {
        let mut worst = 0;
        let mut x = -744.0_f64;
        while x < 709.7 {
            worst = worst.max(ulps64(exp_f64(x), x.exp()));
            x += 0.000_731_3;
        }
        assert!(worst <= 2, "worst error {worst} ulp");
    }

    #[test]
    fn exp_f64_edges() {
        assert_eq!(exp_f64(0.0), 1.0);
        assert_eq!(exp_f64(-1000.0), 0.0);
        assert_eq!(exp_f64(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp_f64(1000.0), f64::INFINITY);
        assert_eq!(exp_f64(f64::INFINITY), f64::INFINITY);
        assert!(exp_f64(f64::NAN).is_nan());
        assert!(exp_f64(709.78).is_finite());
        // Subnormal results.
        let tiny = exp_f64(-740.0);
        assert!(tiny > 0.0 && ulps64(tiny, (-740.0_f64).exp()) <= 1);
    }

    #[test]
    fn ln_is_accurate_on_its_domain() {
        let mut worst64 = 0;
        let mut worst32 = 0;
        let mut near_one = 0;
        let mut x = 1e-300_f64;
        while x < 1e300 {
            worst64 = worst64.max(ulps64(ln_f64(x), x.ln()));
            x *= 1.000_73;
        }
        let mut y = 1e-37_f32;
        while y < 1e37 {
            worst32 = worst32.max(ulps32(ln_f32(y), (y as f64).ln() as f32));
            y *= 1.000_37;
        }
        for i in 0..100_000 {
            // Near 1, where ln is small and its relative error shows.
            let x = 1.0 + (i as f64 - 50_000.0) * 1e-6;
            assert!((ln_f64(x) - x.ln()).abs() <= 2.0 * f64::EPSILON * x.ln().abs().max(1e-300));
            let y = x as f32;
            near_one = near_one.max(ulps32(ln_f32(y), (y as f64).ln() as f32));
        }
        assert!(near_one <= 3, "f32 near 1: worst error {near_one} ulp");
        assert!(worst64 <= 2, "f64: worst error {worst64} ulp");
        assert!(worst32 <= 2, "f32: worst error {worst32} ulp");
    }

    #[test]
    fn ln_edges() {
        assert_eq!(ln_f64(0.0), f64::NEG_INFINITY);
        assert_eq!(ln_f32(0.0), f32::NEG_INFINITY);
        assert_eq!(ln_f64(1.0), 0.0);
        assert_eq!(ln_f32(1.0), 0.0);
        assert_eq!(ln_f64(f64::INFINITY), f64::INFINITY);
        assert!(ln_f64(f64::NAN).is_nan() && ln_f32(f32::NAN).is_nan());
        assert!(ln_f64(-1.0).is_nan() && ln_f32(-1.0).is_nan());
    }
}
