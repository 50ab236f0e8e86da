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

/// A labelling of one sequence and its score: what Viterbi and n-best give,
/// for first and higher order alike.
#[derive(Debug, Clone, PartialEq)]
pub struct Path<T> {
    /// One label per position (empty when the sequence has no allowed path
    /// or unusable scores).
    pub labels: Vec<u32>,
    /// The sum of the labelling's scores (emissions, transitions, start and
    /// end at first order; n-gram scores at higher order).
    pub score: T,
}
