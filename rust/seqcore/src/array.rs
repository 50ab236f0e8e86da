//! Borrowed and owned n-dimensional arrays in C (row-major) order.
//!
//! The core does not depend on an array library: kernels take a flat slice
//! plus a shape, and these two small types keep the pair together and
//! checked, so every entry point validates shapes the same way.

use std::fmt;

/// A shape printed the way Python prints tuples: `(2, 5)`, `(3,)`, `()`.
pub struct DisplayShape<'a>(pub &'a [usize]);

impl fmt::Display for DisplayShape<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [] => write!(f, "()"),
            [only] => write!(f, "({only},)"),
            dims => {
                write!(f, "(")?;
                for (i, d) in dims.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{d}")?;
                }
                write!(f, ")")
            }
        }
    }
}

/// A view whose shape does not match the length of its buffer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("shape {} needs {expected} elements but the buffer holds {got}", DisplayShape(.shape))]
    Length {
        shape: Vec<usize>,
        expected: usize,
        got: usize,
    },
    #[error("shape {} has more elements than memory can address", DisplayShape(.0))]
    Overflow(Vec<usize>),
}

/// Number of elements of `shape`, or an error when the product overflows.
pub fn element_count(shape: &[usize]) -> Result<usize, ShapeError> {
    shape
        .iter()
        .try_fold(1_usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| ShapeError::Overflow(shape.to_vec()))
}

/// A contiguous, row-major, borrowed array.
#[derive(Debug, Clone, Copy)]
pub struct ArrayView<'a, T> {
    data: &'a [T],
    shape: &'a [usize],
}

impl<'a, T> ArrayView<'a, T> {
    /// Pairs `data` with `shape`; fails unless `data.len()` is the product of `shape`.
    pub fn new(data: &'a [T], shape: &'a [usize]) -> Result<Self, ShapeError> {
        let expected = element_count(shape)?;
        if expected != data.len() {
            return Err(ShapeError::Length {
                shape: shape.to_vec(),
                expected,
                got: data.len(),
            });
        }
        Ok(Self { data, shape })
    }

    pub fn data(&self) -> &'a [T] {
        self.data
    }

    pub fn shape(&self) -> &'a [usize] {
        self.shape
    }
}

/// An owned, contiguous, row-major array returned by the kernels.
#[derive(Debug, Clone, PartialEq)]
pub struct Array<T> {
    pub data: Vec<T>,
    pub shape: Vec<usize>,
}

impl<T> Array<T> {
    pub fn view(&self) -> ArrayView<'_, T> {
        ArrayView {
            data: &self.data,
            shape: &self.shape,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_print_like_python_tuples() {
        assert_eq!(DisplayShape(&[]).to_string(), "()");
        assert_eq!(DisplayShape(&[3]).to_string(), "(3,)");
        assert_eq!(DisplayShape(&[2, 5]).to_string(), "(2, 5)");
    }

    #[test]
    fn view_checks_length_and_overflow() {
        let data = [0.0_f32; 6];
        assert!(ArrayView::new(&data, &[2, 3]).is_ok());
        assert_eq!(
            ArrayView::new(&data, &[2, 4]).unwrap_err(),
            ShapeError::Length {
                shape: vec![2, 4],
                expected: 8,
                got: 6
            }
        );
        let huge = [usize::MAX, 2];
        assert!(matches!(
            ArrayView::new(&data, &huge),
            Err(ShapeError::Overflow(_))
        ));
    }
}
