//! Linear recurrences along the time axis.
//!
//! Layout is channel-last, `(batch, time, dim)`, contiguous: one time step
//! of one sequence is a contiguous row of `dim` values, so the kernels walk
//! rows and vectorise across `dim`.
//!
//! Every scan here is sequential in time with the state kept in registers
//! or cache. None forms a cumulative product of the gates (which under- or
//! overflows after ~1.7k float32 steps), so any length is safe.

mod element;
mod error;
mod linear;
mod linear_backward;
mod tasks;

pub use element::ScanElement;
pub use error::ScanError;
pub use linear::{linear_scan, linear_scan_into};
pub use linear_backward::{
    linear_scan_backward, linear_scan_backward_into, LinearScanGrads, LinearScanGradsMut,
};
