//! The diagonal linear recurrence `h_t = a_t * h_{t-1} + b_t`, forward.

use super::element::ScanElement;
use super::error::ScanError;
use super::tasks::ColumnBlocks;
use crate::array::{Array, ArrayView};
use crate::parallel::{self, SharedOutput};
use crate::stream;

pub(crate) const LAYOUT: &str = "(batch, time, dim)";
pub(crate) const STATE_LAYOUT: &str = "(batch, dim)";

/// Checks that `x` is `(batch, time, dim)` and returns its shape.
pub(crate) fn check_sequence<T>(
    name: &'static str,
    x: &ArrayView<'_, T>,
) -> Result<[usize; 3], ScanError> {
    match *x.shape() {
        [batch, time, dim] => Ok([batch, time, dim]),
        _ => Err(ScanError::Rank {
            name,
            expected: 3,
            layout: LAYOUT,
            shape: x.shape().to_vec(),
        }),
    }
}

pub(crate) fn check_same_shape<T>(
    first: (&'static str, &ArrayView<'_, T>),
    second: (&'static str, &ArrayView<'_, T>),
) -> Result<(), ScanError> {
    if first.1.shape() == second.1.shape() {
        return Ok(());
    }
    Err(ScanError::ShapeMismatch {
        first: first.0,
        second: second.0,
        first_shape: first.1.shape().to_vec(),
        second_shape: second.1.shape().to_vec(),
    })
}

/// Checks an optional `(batch, dim)` state against a `(batch, time, dim)` shape.
pub(crate) fn check_state<'a, T>(
    name: &'static str,
    state: Option<ArrayView<'a, T>>,
    [batch, _, dim]: [usize; 3],
) -> Result<Option<&'a [T]>, ScanError> {
    let Some(state) = state else { return Ok(None) };
    if state.shape() != [batch, dim] {
        return Err(ScanError::StateShape {
            name,
            layout: STATE_LAYOUT,
            expected: vec![batch, dim],
            got: state.shape().to_vec(),
        });
    }
    Ok(Some(state.data()))
}

/// Computes `h_t = a_t * h_{t-1} + b_t` along the time axis of `(batch, time, dim)`
/// arrays and returns `h` with the same shape.
///
/// `h0` is the state before the first step, shape `(batch, dim)` (zero when
/// `None`). With `reverse`, time runs backwards: `h_t = a_t * h_{t+1} + b_t`
/// and `h0` is the state after the last step.
pub fn linear_scan<T: ScanElement>(
    a: ArrayView<'_, T>,
    b: ArrayView<'_, T>,
    h0: Option<ArrayView<'_, T>>,
    reverse: bool,
) -> Result<Array<T>, ScanError> {
    let shape = check_sequence("a", &a)?;
    let n = a.data().len();
    let h0 = validate(&a, &b, h0)?;
    let mut out: Vec<T> = Vec::with_capacity(n);
    // SAFETY: `scan_unchecked` writes every one of the `n` elements before
    // `set_len` exposes them (each (batch, time, column) belongs to exactly
    // one task, and every task visits every time step); the buffer is not
    // read before that. Skipping the zero fill saves a full pass over memory.
    unsafe {
        scan_unchecked(a.data(), b.data(), h0, shape, reverse, out.as_mut_ptr());
        out.set_len(n);
    }
    Ok(Array {
        data: out,
        shape: shape.to_vec(),
    })
}

/// Like [`linear_scan`], writing `h` into `out` (same shape as `a`).
pub fn linear_scan_into<T: ScanElement>(
    a: ArrayView<'_, T>,
    b: ArrayView<'_, T>,
    h0: Option<ArrayView<'_, T>>,
    reverse: bool,
    out: &mut [T],
) -> Result<(), ScanError> {
    let shape = check_sequence("a", &a)?;
    ArrayView::new(&*out, a.shape()).map_err(|source| ScanError::Shape {
        name: "out",
        source,
    })?;
    let h0 = validate(&a, &b, h0)?;
    scan_unchecked(a.data(), b.data(), h0, shape, reverse, out.as_mut_ptr());
    Ok(())
}

fn validate<'a, T>(
    a: &ArrayView<'_, T>,
    b: &ArrayView<'_, T>,
    h0: Option<ArrayView<'a, T>>,
) -> Result<Option<&'a [T]>, ScanError> {
    let shape = check_sequence("a", a)?;
    check_sequence("b", b)?;
    check_same_shape(("a", a), ("b", b))?;
    check_state("h0", h0, shape)
}

/// The kernel: `out` must hold `batch * time * dim` writable elements.
fn scan_unchecked<T: ScanElement>(
    a: &[T],
    b: &[T],
    h0: Option<&[T]>,
    [batch, time, dim]: [usize; 3],
    reverse: bool,
    out: *mut T,
) {
    let blocks = ColumnBlocks::new(batch, time, dim);
    let stream = stream::should_stream::<T>(a.len());
    let out = SharedOutput::new(out, a.len());
    parallel::for_each_task(blocks.tasks(), |task| {
        let block = blocks.block(task);
        let mut state = match h0 {
            Some(h0) => {
                let at = blocks.state_offset(block);
                h0[at..at + block.width].to_vec()
            }
            None => vec![T::ZERO; block.width],
        };
        for k in 0..time {
            let row = blocks.row_offset(block, blocks.time_index(k, reverse));
            let a_row = &a[row..row + block.width];
            let b_row = &b[row..row + block.width];
            // SAFETY: this task is the only one writing these columns of this
            // sequence, and the row lies inside the buffer.
            let out_row = unsafe { out.slice(row, block.width) };
            step_row(&mut state, a_row, b_row, reverse);
            stream::copy_row(out_row, &state, stream);
        }
        stream::fence();
    });
}

/// One time step over a row: zipped iterators let the compiler drop the
/// bounds checks and vectorise.
///
/// A reversed scan visits rows in descending address order; it walks each
/// row downwards too, so the hardware prefetchers see one descending stream
/// (see `linear_backward::step_row_backward`).
#[inline(always)]
fn step_row<T: ScanElement>(state: &mut [T], a: &[T], b: &[T], descending: bool) {
    let rows = state.iter_mut().zip(a).zip(b);
    let step = |((h, &a), &b): ((&mut T, &T), &T)| *h = a * *h + b;
    if descending {
        rows.rev().for_each(step);
    } else {
        rows.for_each(step);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_complex::Complex;

    fn naive(
        a: &[f64],
        b: &[f64],
        h0: Option<&[f64]>,
        [bs, t, d]: [usize; 3],
        rev: bool,
    ) -> Vec<f64> {
        let mut out = vec![0.0; a.len()];
        for i in 0..bs {
            for j in 0..d {
                let mut h = h0.map_or(0.0, |h0| h0[i * d + j]);
                let steps: Vec<usize> = if rev {
                    (0..t).rev().collect()
                } else {
                    (0..t).collect()
                };
                for s in steps {
                    let at = (i * t + s) * d + j;
                    h = a[at] * h + b[at];
                    out[at] = h;
                }
            }
        }
        out
    }

    #[test]
    fn matches_naive_loop_both_directions() {
        let shape = [3, 7, 5];
        let n = 105;
        let a: Vec<f64> = (0..n)
            .map(|i| ((i * 37 % 11) as f64) / 11.0 - 0.3)
            .collect();
        let b: Vec<f64> = (0..n).map(|i| ((i * 13 % 7) as f64) - 3.0).collect();
        let h0: Vec<f64> = (0..15).map(|i| i as f64 * 0.25).collect();
        for rev in [false, true] {
            for init in [None, Some(h0.as_slice())] {
                let got = linear_scan(
                    ArrayView::new(&a, &shape).unwrap(),
                    ArrayView::new(&b, &shape).unwrap(),
                    init.map(|h| ArrayView::new(h, &[3, 5]).unwrap()),
                    rev,
                )
                .unwrap();
                assert_eq!(got.data, naive(&a, &b, init, shape, rev));
            }
        }
    }

    #[test]
    fn complex_rotation() {
        // a = i rotates the state by 90 degrees each step.
        let i = Complex::new(0.0_f32, 1.0);
        let one = Complex::new(1.0_f32, 0.0);
        let a = [i; 4];
        let b = [one, Complex::ZERO, Complex::ZERO, Complex::ZERO];
        let h = linear_scan(
            ArrayView::new(&a, &[1, 4, 1]).unwrap(),
            ArrayView::new(&b, &[1, 4, 1]).unwrap(),
            None,
            false,
        )
        .unwrap();
        assert_eq!(h.data, vec![one, i, -one, -i]);
    }

    #[test]
    fn shape_errors_name_the_argument() {
        let x = [0.0_f32; 6];
        let err = linear_scan(
            ArrayView::new(&x, &[1, 2, 3]).unwrap(),
            ArrayView::new(&x, &[1, 3, 2]).unwrap(),
            None,
            false,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "a and b must have the same shape, got (1, 2, 3) and (1, 3, 2)"
        );
        let err = linear_scan(
            ArrayView::new(&x, &[2, 3]).unwrap(),
            ArrayView::new(&x, &[2, 3]).unwrap(),
            None,
            false,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "a must have 3 dimensions (batch, time, dim), got shape (2, 3)"
        );
        let err = linear_scan(
            ArrayView::new(&x, &[1, 2, 3]).unwrap(),
            ArrayView::new(&x, &[1, 2, 3]).unwrap(),
            Some(ArrayView::new(&x[..2], &[1, 2]).unwrap()),
            false,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "h0 must have shape (batch, dim) = (1, 3), got (1, 2)"
        );
    }

    #[test]
    fn into_checks_output_length() {
        let x = [0.0_f32; 6];
        let mut out = [0.0_f32; 5];
        let view = ArrayView::new(&x, &[1, 2, 3]).unwrap();
        assert!(matches!(
            linear_scan_into(view, view, None, false, &mut out),
            Err(ScanError::Shape { name: "out", .. })
        ));
    }

    #[test]
    fn empty_shapes_give_empty_results() {
        for shape in [[0, 4, 3], [2, 0, 3], [2, 4, 0]] {
            let x: Vec<f32> = vec![1.0; shape.iter().product()];
            let h = linear_scan(
                ArrayView::new(&x, &shape).unwrap(),
                ArrayView::new(&x, &shape).unwrap(),
                None,
                false,
            )
            .unwrap();
            assert_eq!(h.shape, shape.to_vec());
            assert!(h.data.is_empty());
        }
    }
}
