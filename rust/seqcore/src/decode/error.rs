//! Errors of the search step machine.

use thiserror::Error;

/// Everything that can go wrong while configuring or driving a search.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum DecodeError {
    /// The [`SearchConfig`](super::SearchConfig) is inconsistent (e.g. the
    /// number of groups does not divide the number of beams).
    #[error("invalid search configuration: {0}")]
    Config(String),
    /// An input has the wrong length or layout for this step.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A NaN or `+inf` log-probability (`-inf` is allowed: it bans a token).
    /// `row` is the row of the step's input (an index into
    /// [`active_rows`](super::SearchState::active_rows)), `col` the token id
    /// for full log-probs or the candidate's position for candidate lists.
    #[error(
        "log-prob at row {row}, column {col} is {value}; only finite values and -inf are allowed"
    )]
    NonFinite { row: usize, col: usize, value: f64 },
    /// A step was requested after the search finished.
    #[error("the search is finished; call finalize")]
    Finished,
    /// `finalize` was called before the first step.
    #[error("finalize needs at least one step")]
    NotStarted,
    /// A candidate token id is not in the vocabulary.
    #[error("token id {token} at row {row} is out of range for a vocabulary of {vocab_size}")]
    TokenOutOfRange {
        row: usize,
        token: u32,
        vocab_size: usize,
    },
}
