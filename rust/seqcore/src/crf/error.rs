//! Errors of the CRF kernels.

use thiserror::Error;

/// Everything that can go wrong calling a CRF kernel.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CrfError {
    /// Arrays whose sizes do not fit together (named in the message).
    #[error("{0}")]
    Shape(String),
    /// A label index outside `0..num_labels`.
    #[error("label {label} at sequence {sequence}, position {position} is out of range for {num_labels} labels")]
    LabelOutOfRange {
        sequence: usize,
        position: usize,
        label: u64,
        num_labels: usize,
    },
    /// Any other bad argument (e.g. n-best with k = 0, order above 4).
    #[error("{0}")]
    Invalid(String),
}
