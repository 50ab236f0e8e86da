//! seqcore: fast, exact building blocks for sequence models.
//!
//! This is the pure Rust core. It has no Python in it, so other Rust
//! programs can use it directly; the `seqcore-py` crate wraps it for Python.
//!
//! * [`scan`]: linear recurrences such as `h_t = a_t * h_{t-1} + b_t`.
//! * [`parallel`]: the one thread pool every parallel kernel runs on.
//! * [`array`](mod@array): borrowed n-dimensional views used at the API boundary.
//!
//! ```
//! use seqcore::array::ArrayView;
//! use seqcore::scan::linear_scan;
//!
//! // batch 1, time 3, dim 1: h = [1, 0.5 + 1, 0.5 * 1.5 + 1]
//! let a = [0.0_f32, 0.5, 0.5];
//! let b = [1.0_f32, 1.0, 1.0];
//! let shape = [1, 3, 1];
//! let h = linear_scan(
//!     ArrayView::new(&a, &shape).unwrap(),
//!     ArrayView::new(&b, &shape).unwrap(),
//!     None,
//!     false,
//! )
//! .unwrap();
//! assert_eq!(h.data, vec![1.0, 1.5, 1.75]);
//! assert_eq!(h.shape, vec![1, 3, 1]);
//! ```

pub mod array;
pub mod crf;
pub mod decode;
pub mod parallel;
pub mod scan;
mod simd;
mod stream;
pub mod tokenize;

pub use array::{Array, ArrayView, ShapeError};
