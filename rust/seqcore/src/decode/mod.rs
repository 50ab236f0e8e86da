//! Greedy, beam and diverse beam search as a step machine (docs to come).

mod beam;
mod config;
mod error;
mod finalize;
mod group;
mod group_step;
mod history;
mod output;
mod rules;
mod score;
mod select;
mod state;
mod tasks;
#[cfg(test)]
mod tests;

pub use config::{Diversity, EarlyStopping, SearchConfig, Semantics};
pub use error::DecodeError;
pub use output::{Hypothesis, SearchOutput, StepOutput};
pub use score::Score;
pub use state::SearchState;
