//! Conditional random fields over label sequences, with exact inference.
//!
//! * [`linear`]: the first-order linear chain (emissions, transitions, start
//!   and end scores): log-partition, marginals, Viterbi, n-best, negative
//!   log-likelihood with its gradient.
//! * [`higher`]: higher-order linear chains (label n-grams up to order 4)
//!   by forward-backward over expanded states.

mod error;
pub mod higher;
pub mod linear;

pub use error::CrfError;
