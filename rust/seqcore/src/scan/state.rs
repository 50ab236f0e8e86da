//! The state type of the selective scan: real (`A` real) or complex.
//!
//! mamba-ssm allows a complex `A`; then the states, `B` and `C` are complex
//! while `u`, `delta`, `D`, `z` and the output stay real, and the output
//! reads `2 Re(sum_n C_n x_n)` (the conjugate-pair half of a real SSM).
//! The kernels are written once over this trait.

use num_complex::Complex;

use super::element::ScanElement;
use super::real::Real;

/// f32, f64, or their complex versions, with what the selective scan needs.
pub trait StateElement: ScanElement {
    /// The type of `u`, `delta`, `D`, `z` and the output.
    type Real: Real;
    /// 1 for real states; 2 for complex ones (`y = 2 Re(C x)`).
    const OUTPUT_SCALE: f64;
    /// `exp(dt * a)`, vectorisable for f32 real parts.
    fn exp_scaled(a: Self, dt: Self::Real) -> Self;
    /// `self * r` for a real `r`.
    fn scale(self, r: Self::Real) -> Self;
    /// `Re(self * conj(other))`: the real inner-product term, which is what
    /// a real quantity's gradient collects from a complex one.
    fn re_mul_conj(self, other: Self) -> Self::Real;
    /// The real part (the value itself for real states).
    fn re(self) -> Self::Real;
    /// `self * a + b`, fused where the type allows.
    fn mul_add(self, a: Self, b: Self) -> Self;
}

macro_rules! real_state {
    ($t:ty) => {
        impl StateElement for $t {
            type Real = $t;
            const OUTPUT_SCALE: f64 = 1.0;
            #[inline(always)]
            fn exp_scaled(a: Self, dt: Self) -> Self {
                (dt * a).exp_lanes()
            }
            #[inline(always)]
            fn scale(self, r: Self) -> Self {
                self * r
            }
            #[inline(always)]
            fn re_mul_conj(self, other: Self) -> Self {
                self * other
            }
            #[inline(always)]
            fn re(self) -> Self {
                self
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                Real::mul_add(self, a, b)
            }
        }
    };
}

real_state!(f32);
real_state!(f64);

macro_rules! complex_state {
    ($t:ty) => {
        impl StateElement for Complex<$t> {
            type Real = $t;
            const OUTPUT_SCALE: f64 = 2.0;
            #[inline(always)]
            fn exp_scaled(a: Self, dt: $t) -> Self {
                let magnitude = (dt * a.re).exp_lanes();
                let (sin, cos) = (dt * a.im).sin_cos();
                Complex::new(magnitude * cos, magnitude * sin)
            }
            #[inline(always)]
            fn scale(self, r: $t) -> Self {
                Complex::new(self.re * r, self.im * r)
            }
            #[inline(always)]
            fn re_mul_conj(self, other: Self) -> $t {
                self.re.mul_add(other.re, self.im * other.im)
            }
            #[inline(always)]
            fn re(self) -> $t {
                self.re
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                self * a + b
            }
        }
    };
}

complex_state!(f32);
complex_state!(f64);
