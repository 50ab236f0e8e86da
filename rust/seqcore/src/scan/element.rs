//! The number types a scan runs on: f32, f64 and their complex versions.

use std::fmt::Debug;
use std::ops::{Add, Mul};

use num_complex::Complex;

/// A number a linear recurrence can run on.
///
/// `conj` is the identity for real numbers. Gradients follow PyTorch's
/// convention for complex numbers: the gradient of `a * h` with respect to
/// `h` is `conj(a) * grad`.
pub trait ScanElement:
    Copy + Send + Sync + Debug + PartialEq + Add<Output = Self> + Mul<Output = Self> + 'static
{
    const ZERO: Self;
    /// The multiplicative identity.
    const UNIT: Self;
    fn conj(self) -> Self;
}

impl ScanElement for f32 {
    const ZERO: Self = 0.0;
    const UNIT: Self = 1.0;
    #[inline(always)]
    fn conj(self) -> Self {
        self
    }
}

impl ScanElement for f64 {
    const ZERO: Self = 0.0;
    const UNIT: Self = 1.0;
    #[inline(always)]
    fn conj(self) -> Self {
        self
    }
}

impl ScanElement for Complex<f32> {
    const ZERO: Self = Complex::new(0.0, 0.0);
    const UNIT: Self = Complex::new(1.0, 0.0);
    #[inline(always)]
    fn conj(self) -> Self {
        Complex::conj(&self)
    }
}

impl ScanElement for Complex<f64> {
    const ZERO: Self = Complex::new(0.0, 0.0);
    const UNIT: Self = Complex::new(1.0, 0.0);
    #[inline(always)]
    fn conj(self) -> Self {
        Complex::conj(&self)
    }
}
