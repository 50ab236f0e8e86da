//! The first-order linear-chain CRF (placeholder docs, filled in below).

mod exp;
mod float;
mod inputs;
mod kernels;
mod logspace;
mod nbest;
mod nll;
mod posterior;
mod scaled;
#[cfg(test)]
mod tests;
mod viterbi;

pub use float::CrfFloat;
pub use inputs::LinearCrf;
pub use nll::{CrfTag, NllAndGrad};
pub use posterior::Marginals;
pub use viterbi::Path;
