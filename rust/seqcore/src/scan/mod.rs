//! Linear recurrences along the time axis.
//!
//! Layout is channel-last, `(batch, time, dim)`, contiguous: one time step
//! of one sequence is a contiguous row of `dim` values, so the kernels walk
//! rows and vectorise across `dim`.
//!
//! Every scan here is sequential in time with the state kept in registers
//! or cache. None forms a cumulative product of the gates (which under- or
//! overflows after ~1.7k float32 steps), so any length is safe.
//!
//! `vandermonde` computes the convolution kernel of a diagonal SSM (S4D,
//! Mega's EMA), the other way to run the same recurrence.

mod damped_ema;
mod element;
mod error;
mod gateloop;
mod gateloop_attention;
mod gateloop_backward;
mod gateloop_block;
mod gateloop_chunked;
#[cfg(test)]
mod gateloop_forms_tests;
mod gateloop_rows;
mod linear;
mod linear_backward;
mod real;
mod selective;
mod selective_backward;
mod selective_inputs;
mod state;
mod tasks;
mod vandermonde;
mod vandermonde_backward;

pub use damped_ema::{damped_ema, damped_ema_backward, EmaGrads, EmaInputs};
pub use element::ScanElement;
pub use error::ScanError;
pub use gateloop::{gateloop, gateloop_into, GateLoopInputs};
pub use gateloop_attention::{
    gateloop_attention, gateloop_attention_backward, gateloop_attention_into,
};
pub use gateloop_backward::{gateloop_backward, GateLoopGrads};
pub use gateloop_chunked::{gateloop_chunked, gateloop_chunked_backward, gateloop_chunked_into};
pub use linear::{linear_scan, linear_scan_into};
pub use linear_backward::{
    linear_scan_backward, linear_scan_backward_into, LinearScanGrads, LinearScanGradsMut,
};
pub use real::Real;
pub use selective::{selective_scan, selective_scan_into, SelectiveInputs, SelectiveOutput};
pub use selective_backward::{selective_scan_backward, SelectiveGrads};
pub use state::StateElement;
pub use vandermonde::{ssm_kernel, ssm_kernel_into, KernelElement};
pub use vandermonde_backward::{
    ssm_kernel_backward, ssm_kernel_backward_into, SsmKernelGrads, SsmKernelGradsMut,
};
