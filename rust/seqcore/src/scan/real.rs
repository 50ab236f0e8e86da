//! Real-number helpers for the gated scans: a vectorisable `exp`, and the
//! activations Mamba applies (softplus, sigmoid, SiLU).

use super::element::ScanElement;

/// f32 or f64, with the math the selective scan needs.
pub trait Real:
    ScanElement + PartialOrd + std::ops::Sub<Output = Self> + std::ops::Div<Output = Self>
{
    const ONE: Self;
    /// `exp(x)` written so that a loop over a slice vectorises (no calls,
    /// no branches). Within 2 ulp of the exact result for f32; exactly the
    /// standard library's `exp` for f64.
    fn exp_lanes(self) -> Self;
    fn exp(self) -> Self;
    fn ln_1p(self) -> Self;
    fn from_f64(x: f64) -> Self;
    fn is_nan(self) -> bool;
    /// softplus written to vectorise over a slice (f32), or exact (f64).
    fn softplus_lanes(self) -> Self;
    /// `self * a + b` with one rounding (see `exp_f32` on speed).
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// sigmoid written to vectorise over a slice (f32), or exact (f64).
    fn sigmoid_lanes(self) -> Self;
}

impl Real for f32 {
    const ONE: Self = 1.0;
    #[inline(always)]
    fn exp_lanes(self) -> Self {
        exp_f32(self)
    }
    #[inline(always)]
    fn exp(self) -> Self {
        f32::exp(self)
    }
    #[inline(always)]
    fn ln_1p(self) -> Self {
        f32::ln_1p(self)
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    #[inline(always)]
    fn softplus_lanes(self) -> Self {
        softplus_f32(self)
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        f32::mul_add(self, a, b)
    }
    #[inline(always)]
    fn sigmoid_lanes(self) -> Self {
        1.0 / (1.0 + exp_f32(-self))
    }
}

impl Real for f64 {
    const ONE: Self = 1.0;
    #[inline(always)]
    fn exp_lanes(self) -> Self {
        f64::exp(self)
    }
    #[inline(always)]
    fn exp(self) -> Self {
        f64::exp(self)
    }
    #[inline(always)]
    fn ln_1p(self) -> Self {
        f64::ln_1p(self)
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    #[inline(always)]
    fn softplus_lanes(self) -> Self {
        softplus(self)
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        f64::mul_add(self, a, b)
    }
    #[inline(always)]
    fn sigmoid_lanes(self) -> Self {
        sigmoid(self)
    }
}

/// `exp` for f32 from range reduction and a polynomial:
/// `x = k ln2 + r` with `|r| <= ln2 / 2`, `exp(x) = 2^k exp(r)`, and
/// `exp(r)` from its Taylor series to degree 7 (truncation error below
/// 6e-9 relative, a tenth of an f32 ulp; rounding brings the total to
/// about 1 ulp). `ln2` is split in two parts so that `k ln2` is exact.
/// The selective scan spends most of its time here, and `f32::exp` is a
/// library call that stops the loop over states from vectorising.
///
/// The steps are fused multiply-adds (`mul_add`): one instruction each
/// where the processor has FMA (seqcore's kernels are compiled for it and
/// chosen at run time), and a correctly rounded library call elsewhere, so
/// every processor computes the same bits.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75; // ln 2 rounded to 16 significant bits
    const LN2_LO: f32 = 1.428_606_8e-6; // ln 2 - LN2_HI
                                        // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    const MAX: f32 = 88.72;
    const MIN: f32 = -87.33;
    // Plain comparisons (one compare and one blend each); a NaN passes
    // through untouched and is returned as is at the end. (`f32::clamp`
    // and an `as i32` cast in place of the bit trick below together made
    // the selective scan 2x slower.)
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
    let mut p = 1.0 / 5040.0;
    p = p.mul_add(r, 1.0 / 720.0);
    p = p.mul_add(r, 1.0 / 120.0);
    p = p.mul_add(r, 1.0 / 24.0);
    p = p.mul_add(r, 1.0 / 6.0);
    p = p.mul_add(r, 0.5);
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
    // After adding ROUND, the low mantissa bits of `shifted` hold k: read
    // it from the bits instead of a (saturating, slower) float-to-int cast.
    let k = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    // 2^k by building the float's exponent bits (k is in [-126, 128]); at
    // k = 128 the split 2^64 * 2^64 keeps the exponent in range.
    let half = k >> 1;
    let scale_a = f32::from_bits(((half + 127) as u32) << 23);
    let scale_b = f32::from_bits(((k - half + 127) as u32) << 23);
    let value = p * scale_a * scale_b;
    if x < MIN {
        0.0
    } else if x > MAX {
        f32::INFINITY
    } else if x.is_nan() {
        x
    } else {
        value
    }
}

/// `log(1 + y)` for `y` in `[0, 1]`, vectorisable: with `s = y / (2 + y)`,
/// `log(1 + y) = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...)`, and `s <= 1/3`
/// makes the series converge fast (terms to `s^15` leave a relative error
/// near 1e-9). Forming `s` directly, never `1 + y`, keeps full relative
/// precision for tiny `y`.
#[inline(always)]
fn log1p_unit_f32(y: f32) -> f32 {
    let s = y / (2.0 + y);
    let s2 = s * s;
    let mut p: f32 = 2.0 / 15.0;
    p = p.mul_add(s2, 2.0 / 13.0);
    p = p.mul_add(s2, 2.0 / 11.0);
    p = p.mul_add(s2, 2.0 / 9.0);
    p = p.mul_add(s2, 2.0 / 7.0);
    p = p.mul_add(s2, 2.0 / 5.0);
    p = p.mul_add(s2, 2.0 / 3.0);
    p = p.mul_add(s2, 2.0);
    p * s
}

/// softplus for f32 without library calls:
/// `max(x, 0) + log1p(exp(-|x|))`, linear above 20 like torch.
#[inline(always)]
pub fn softplus_f32(x: f32) -> f32 {
    let tail = log1p_unit_f32(exp_f32(-x.abs()));
    let value = x.max(0.0) + tail;
    if x > 20.0 || x.is_nan() {
        x
    } else {
        value
    }
}

/// `log(1 + exp(x))`, as torch's softplus (linear above 20).
#[inline]
pub fn softplus<T: Real>(x: T) -> T {
    if x > T::from_f64(20.0) {
        x
    } else {
        x.exp().ln_1p()
    }
}

/// `1 / (1 + exp(-x))`, the derivative of softplus.
#[inline]
pub fn sigmoid<T: Real>(x: T) -> T {
    T::ONE / (T::ONE + (T::ZERO - x).exp())
}

/// The derivative of SiLU: `s (1 + x (1 - s))` with `s = sigmoid(x)`,
/// vectorisable for f32.
#[inline(always)]
pub fn silu_derivative_lanes<T: Real>(x: T) -> T {
    let s = x.sigmoid_lanes();
    s * (T::ONE + x * (T::ONE - s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f32) -> i64 {
        (a.to_bits() as i64 - b.to_bits() as i64).abs()
    }

    #[test]
    fn exp_f32_is_within_two_ulp() {
        let mut worst = 0;
        let mut x = -87.0_f32;
        while x < 88.5 {
            let exact = (x as f64).exp() as f32;
            worst = worst.max(ulps(exp_f32(x), exact));
            x += 0.000_731;
        }
        assert!(worst <= 2, "worst error {worst} ulp");
    }

    #[test]
    fn exp_f32_edges() {
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(-1000.0), 0.0);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(1000.0), f32::INFINITY);
        assert!(exp_f32(f32::NAN).is_nan());
        assert!(exp_f32(88.7).is_finite());
    }

    #[test]
    fn softplus_f32_matches_f64() {
        let mut x = -40.0_f32;
        while x < 30.0 {
            let exact = softplus(x as f64) as f32;
            let got = softplus_f32(x);
            assert!(ulps(got, exact) <= 3, "x = {x}: {got} vs {exact}");
            x += 0.0137;
        }
        assert!(softplus_f32(f32::NAN).is_nan());
        assert_eq!(softplus_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(softplus_f32(f32::NEG_INFINITY), 0.0);
    }

    #[test]
    fn activations() {
        assert_eq!(softplus(30.0_f64), 30.0);
        assert!((softplus(0.0_f64) - 2f64.ln()).abs() < 1e-15);
        assert!((silu_derivative_lanes(0.0_f64) - 0.5).abs() < 1e-15);
        assert!((silu_derivative_lanes(0.0_f32) - 0.5).abs() < 1e-7);
    }
}
