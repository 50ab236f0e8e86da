//! Small vectorisable building blocks shared by the passes (which run
//! compiled for the widest vectors the processor has: `crate::simd`).
//!
//! Reductions along a contiguous row (max or sum over the next label) do
//! not vectorise as plain loops: LLVM may not reorder float additions. They
//! keep [`LANES`] independent partial results instead, one per lane, which
//! LLVM turns into vector operations, and combine them in a fixed tree at
//! the end. The order of operations is part of the code, so the results do
//! not depend on the processor or the thread count.

use super::float::CrfFloat;

/// Partial results per row reduction: one AVX2 register of f32.
pub(crate) const LANES: usize = 8;

/// `max(a, x)` that returns NaN when `x` is NaN (and keeps a NaN `a`), so
/// that a NaN score reaches the result instead of being skipped.
#[inline(always)]
pub(crate) fn max_nan<T: CrfFloat>(a: T, x: T) -> T {
    // `x != x` is the NaN test; both arms are a compare and a blend.
    #[allow(clippy::eq_op)]
    let pick = x > a || x != x;
    if pick {
        x
    } else {
        a
    }
}

/// Whether `x` is NaN.
#[inline(always)]
#[allow(clippy::eq_op)]
pub(crate) fn is_nan<T: CrfFloat>(x: T) -> bool {
    x != x
}

/// The maximum of a row (NaN if it holds one; `-inf` if empty).
#[inline(always)]
pub(crate) fn row_max<T: CrfFloat>(row: &[T]) -> T {
    let mut acc = [T::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for i in 0..LANES {
            acc[i] = max_nan(acc[i], chunk[i]);
        }
    }
    for (a, &x) in acc.iter_mut().zip(chunks.remainder()) {
        *a = max_nan(*a, x);
    }
    let quad = [
        max_nan(acc[0], acc[4]),
        max_nan(acc[1], acc[5]),
        max_nan(acc[2], acc[6]),
        max_nan(acc[3], acc[7]),
    ];
    max_nan(max_nan(quad[0], quad[2]), max_nan(quad[1], quad[3]))
}

/// The sum of a row, in a fixed order.
#[inline(always)]
pub(crate) fn row_sum<T: CrfFloat>(row: &[T]) -> T {
    let mut acc = [T::ZERO; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for i in 0..LANES {
            acc[i] = acc[i] + chunk[i];
        }
    }
    for (a, &x) in acc.iter_mut().zip(chunks.remainder()) {
        *a = *a + x;
    }
    let quad = [
        acc[0] + acc[4],
        acc[1] + acc[5],
        acc[2] + acc[6],
        acc[3] + acc[7],
    ];
    (quad[0] + quad[2]) + (quad[1] + quad[3])
}

/// The shift used before exponentiating a group whose maximum is `m`: `m`
/// itself, or 0 when the whole group is `-inf` (then every term is
/// `exp(-inf) = 0` instead of `exp(-inf - -inf) = NaN`).
#[inline(always)]
pub(crate) fn safe_shift<T: CrfFloat>(m: T) -> T {
    if m == T::NEG_INFINITY {
        T::ZERO
    } else {
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reductions_cover_every_element() {
        for len in 0..30 {
            let row: Vec<f64> = (0..len).map(|i| ((i * 7) % 11) as f64).collect();
            let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            assert_eq!(row_max(&row), max);
            assert_eq!(row_sum(&row), row.iter().sum::<f64>());
            let mut with_nan = row.clone();
            if len > 0 {
                with_nan[len - 1] = f64::NAN;
                assert!(row_max(&with_nan).is_nan());
                assert!(row_sum(&with_nan).is_nan());
            }
        }
        assert_eq!(safe_shift(f64::NEG_INFINITY), 0.0);
        assert_eq!(safe_shift(-3.0_f64), -3.0);
    }
}
