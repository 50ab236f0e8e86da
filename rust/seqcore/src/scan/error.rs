//! What can go wrong when a scan is called.

use crate::array::{DisplayShape, ShapeError};

/// Errors of the scan kernels. All of them describe bad arguments; a scan
/// on valid arguments cannot fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("{name} must have {expected} dimensions {layout}, got shape {}", DisplayShape(.shape))]
    Rank {
        name: &'static str,
        expected: usize,
        layout: &'static str,
        shape: Vec<usize>,
    },
    #[error("{first} and {second} must have the same shape, got {} and {}", DisplayShape(.first_shape), DisplayShape(.second_shape))]
    ShapeMismatch {
        first: &'static str,
        second: &'static str,
        first_shape: Vec<usize>,
        second_shape: Vec<usize>,
    },
    #[error("{name} must have shape {layout} = {}, got {}", DisplayShape(.expected), DisplayShape(.got))]
    StateShape {
        name: &'static str,
        layout: &'static str,
        expected: Vec<usize>,
        got: Vec<usize>,
    },
    #[error("{name} has {groups} groups, which must divide dim = {dim}")]
    Groups {
        name: &'static str,
        groups: usize,
        dim: usize,
    },
    #[error("B and C must have the same number of groups, got {b} and {c}")]
    GroupMismatch { b: usize, c: usize },
    #[error("{name}: {source}")]
    Shape {
        name: &'static str,
        #[source]
        source: ShapeError,
    },
    #[error("chunk_size must be at least 1, got {chunk_size}")]
    ChunkSize { chunk_size: usize },
    #[error("A must have at least one state (N >= 1), got shape (dim, N) = ({dim}, 0)")]
    NoStates { dim: usize },
}
