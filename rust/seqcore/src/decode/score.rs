//! The float types a search runs on: `f32` (what transformers uses) and `f64`.

use std::fmt::Debug;
use std::ops::{Add, Div, Mul, Sub};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A log-probability type. All beam-score arithmetic happens in this type,
/// so `f32` input reproduces transformers' `float32` numbers bit for bit.
pub trait Score:
    sealed::Sealed
    + Copy
    + Send
    + Sync
    + Debug
    + Default
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + 'static
{
    /// Negative infinity: the score of a banned token.
    const NEG_INFINITY: Self;
    /// The largest finite value.
    const MAX: Self;
    /// Rounds an `f64` to this type (to nearest, as torch casts do).
    fn from_f64(value: f64) -> Self;
    /// Widens to `f64` exactly.
    fn to_f64(self) -> f64;
    /// Whether the value is NaN or `+inf`, the values a step refuses.
    fn is_refused(self) -> bool;
    /// Whether the value is NaN.
    fn is_nan(self) -> bool;
}

impl Score for f32 {
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    const MAX: Self = f32::MAX;
    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        value as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn is_refused(self) -> bool {
        self.is_nan() || self == f32::INFINITY
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
}

impl Score for f64 {
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    const MAX: Self = f64::MAX;
    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        value
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn is_refused(self) -> bool {
        self.is_nan() || self == f64::INFINITY
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
}

/// `a + b`, with the NaN of `(+inf) + (-inf)` read as `-inf`.
///
/// Only a beam score that overflowed to `+inf` (from positive "log-probs")
/// can produce it; keeping every stored score ordered lets all ranking use
/// plain comparisons.
#[inline(always)]
pub(crate) fn add_scores<T: Score>(a: T, b: T) -> T {
    ordered(a + b)
}

/// `value`, with NaN read as `-inf` (only an extreme `length_penalty`, whose
/// power overflows or underflows, can make one).
#[inline(always)]
pub(crate) fn ordered<T: Score>(value: T) -> T {
    if value.is_nan() {
        T::NEG_INFINITY
    } else {
        value
    }
}

/// Whether candidate `(a_score, a_index)` ranks before `(b_score, b_index)`:
/// higher score first, then lower flattened index (the documented tie-break).
#[inline(always)]
pub(crate) fn ranks_before<T: Score>(
    a_score: T,
    a_index: usize,
    b_score: T,
    b_index: usize,
) -> bool {
    a_score > b_score || (a_score == b_score && a_index < b_index)
}
