//! `exp` for whole rows of scores, written so that a loop over a slice
//! vectorises (no library calls, no branches).
//!
//! Both versions use plain multiplies and adds, never `mul_add`: Rust does
//! not fuse them on its own, so the scalar build, the AVX2 build and every
//! processor compute the same bits, and a processor without FMA does not
//! fall back to a slow library `fma` call for every term.
//!
//! Both take `x <= 88` (f32) or `x <= 709` (f64): the kernels only ever
//! exponentiate a score minus a maximum. Results below the smallest normal
//! number are flushed to exactly zero
//! (never a subnormal): the scaled forward-backward treats "a finite score
//! gave zero" as an underflow and redoes the sequence in a wider type (see
//! `scaled.rs`), so a flush must be easy to recognise.

/// `exp(x)` for f32 and `x <= 88` (every caller passes a score minus a
/// maximum, so `x <= 0`): `x = k ln2 + r` with `|r| <= ln2 / 2`, `exp(r)`
/// from its Taylor series to degree 7 (truncation below 6e-9 relative, a
/// tenth of an ulp), and `2^k` built from exponent bits. Within 2 ulp of the
/// exact result; 0 below `-87.33` (`-inf` included).
#[inline(always)]
pub(super) fn exp_f32(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that k * LN2_HI is exact for |k| < 256.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    const MAX: f32 = 88.0;
    const MIN: f32 = -87.33;
    #[allow(clippy::manual_clamp)]
    let c = if x < MIN {
        MIN
    } else if x > MAX {
        MAX
    } else {
        x
    };
    let shifted = c * LOG2_E + ROUND;
    let k = shifted - ROUND;
    let r = (c - k * LN2_HI) - k * LN2_LO;
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // The low mantissa bits of `shifted` hold k (read from the bits: a
    // float-to-int cast is slower and saturating); k is in [-126, 127].
    let k = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let value = p * f32::from_bits(((k + 127) as u32) << 23);
    if x < MIN {
        0.0
    } else {
        value
    }
}

/// `exp(x)` for f64 and `x <= 709`, the same way with the Taylor series to
/// degree 12 (truncation below 2e-16 relative). Within a few ulp of the
/// exact result; 0 below `-708.39` (`-inf` included).
#[inline(always)]
pub(super) fn exp_f64(x: f64) -> f64 {
    const LOG2_E: f64 = std::f64::consts::LOG2_E;
    // fdlibm's split of ln 2: k * LN2_HI is exact for |k| < 2048.
    const LN2_HI: f64 = 0.693_147_180_369_123_8;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    const ROUND: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52
    const MAX: f64 = 709.0;
    const MIN: f64 = -708.39;
    #[allow(clippy::manual_clamp)]
    let c = if x < MIN {
        MIN
    } else if x > MAX {
        MAX
    } else {
        x
    };
    let shifted = c * LOG2_E + ROUND;
    let k = shifted - ROUND;
    let r = (c - k * LN2_HI) - k * LN2_LO;
    let mut p = 1.0 / 479_001_600.0;
    p = p * r + 1.0 / 39_916_800.0;
    p = p * r + 1.0 / 3_628_800.0;
    p = p * r + 1.0 / 362_880.0;
    p = p * r + 1.0 / 40_320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // k is in [-1022, 1023].
    let k = (shifted.to_bits() as i64).wrapping_sub(ROUND.to_bits() as i64);
    let value = p * f64::from_bits(((k + 1023) as u64) << 52);
    if x < MIN {
        0.0
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_f32_is_within_two_ulp() {
        let mut worst = 0;
        let mut x = -87.3_f32;
        while x < 88.0 {
            let exact = (x as f64).exp() as f32;
            let got = exp_f32(x);
            worst = worst.max((got.to_bits() as i64 - exact.to_bits() as i64).abs());
            x += 0.000_731;
        }
        assert!(worst <= 2, "worst error {worst} ulp");
    }

    #[test]
    fn exp_f64_is_accurate() {
        let mut worst = 0.0_f64;
        let mut x = -708.0_f64;
        while x < 709.0 {
            let exact = x.exp();
            worst = worst.max(((exp_f64(x) - exact) / exact).abs());
            x += 0.001_37;
        }
        assert!(worst < 1e-15, "worst relative error {worst}");
    }

    #[test]
    fn edges_flush_to_zero() {
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f64(0.0), 1.0);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f64(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(-87.4), 0.0);
        assert_eq!(exp_f64(-708.4), 0.0);
        assert!(exp_f32(-87.3) >= f32::MIN_POSITIVE);
        assert!(exp_f64(-708.3) >= f64::MIN_POSITIVE);
    }
}
