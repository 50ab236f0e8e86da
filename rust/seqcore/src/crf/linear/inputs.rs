//! The borrowed, checked inputs of a batch.

use super::float::internal::Score;
use super::CrfFloat;
use crate::array::{ArrayView, DisplayShape};
use crate::crf::CrfError;

/// A batch of first-order linear-chain CRF inputs, borrowed and checked.
///
/// All arrays are row-major:
///
/// * `emissions`: `(batch, max_len, num_labels)`; `emissions[b, t, j]` scores
///   label `j` at position `t` of sequence `b`;
/// * `lengths`: one per sequence, each in `0..=max_len` (`None`: every
///   sequence has `max_len` positions). Positions at or beyond a sequence's
///   length are never read;
/// * `transitions`: `(num_labels, num_labels)`; `transitions[i, j]` scores
///   label `i` followed by label `j`;
/// * `start`, `end`: `(num_labels,)`, the scores of the first and the last
///   label.
///
/// A path `y` of a sequence of length `n >= 1` scores
/// `start[y_0] + sum_t emissions[t, y_t] + sum_t transitions[y_{t-1}, y_t] + end[y_{n-1}]`.
/// See the [module documentation](super) for `-inf`, NaN and empty sequences.
#[derive(Debug, Clone, Copy)]
pub struct LinearCrf<'a, T> {
    emissions: &'a [T],
    lengths: Option<&'a [usize]>,
    transitions: &'a [T],
    start: &'a [T],
    end: &'a [T],
    batch: usize,
    max_len: usize,
    labels: usize,
}

impl<'a, T: CrfFloat> LinearCrf<'a, T> {
    /// Checks that the shapes fit together and that every length is at most
    /// `max_len`. At least one label is needed (`num_labels >= 1`).
    pub fn new(
        emissions: ArrayView<'a, T>,
        lengths: Option<&'a [usize]>,
        transitions: ArrayView<'a, T>,
        start: &'a [T],
        end: &'a [T],
    ) -> Result<Self, CrfError> {
        let [batch, max_len, labels] = match *emissions.shape() {
            [b, t, l] => [b, t, l],
            _ => {
                return Err(CrfError::Shape(format!(
                    "emissions must have 3 dimensions (batch, max_len, num_labels), got shape {}",
                    DisplayShape(emissions.shape())
                )))
            }
        };
        if labels == 0 {
            return Err(CrfError::Shape(
                "emissions must have at least one label (num_labels >= 1)".into(),
            ));
        }
        if transitions.shape() != [labels, labels] {
            return Err(CrfError::Shape(format!(
                "transitions must have shape (num_labels, num_labels) = ({labels}, {labels}), got {}",
                DisplayShape(transitions.shape())
            )));
        }
        for (name, scores) in [("start", start), ("end", end)] {
            if scores.len() != labels {
                return Err(CrfError::Shape(format!(
                    "{name} must have shape (num_labels,) = ({labels},), got ({},)",
                    scores.len()
                )));
            }
        }
        if let Some(lengths) = lengths {
            if lengths.len() != batch {
                return Err(CrfError::Shape(format!(
                    "lengths must have shape (batch,) = ({batch},), got ({},)",
                    lengths.len()
                )));
            }
            if let Some((b, &n)) = lengths.iter().enumerate().find(|(_, &n)| n > max_len) {
                return Err(CrfError::Shape(format!(
                    "lengths[{b}] = {n} exceeds max_len = {max_len}"
                )));
            }
        }
        Ok(Self {
            emissions: emissions.data(),
            lengths,
            transitions: transitions.data(),
            start,
            end,
            batch,
            max_len,
            labels,
        })
    }

    /// The number of sequences.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The padded length of every sequence (the second axis of `emissions`).
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The number of labels `L`.
    pub fn num_labels(&self) -> usize {
        self.labels
    }

    /// The length of sequence `b`.
    pub fn length(&self, b: usize) -> usize {
        self.lengths.map_or(self.max_len, |lengths| lengths[b])
    }

    /// The `(L, L)` transition scores.
    pub fn transitions(&self) -> &'a [T] {
        self.transitions
    }

    /// The start scores.
    pub fn start(&self) -> &'a [T] {
        self.start
    }

    /// The end scores.
    pub fn end(&self) -> &'a [T] {
        self.end
    }

    /// The emission rows of sequence `b` that are in use: `(length(b), L)`.
    pub fn emissions(&self, b: usize) -> &'a [T] {
        let size = self.max_len * self.labels;
        &self.emissions[b * size..][..self.length(b) * self.labels]
    }

    /// True when a transition, start or end score is NaN or `+inf`: every
    /// result is then NaN.
    pub(super) fn parameters_bad(&self) -> bool {
        [self.transitions, self.start, self.end]
            .iter()
            .any(|scores| any_bad(scores))
    }

    /// True when sequence `b` cannot be scored: a used emission is NaN or
    /// `+inf`, or a parameter is.
    pub(super) fn sequence_bad(&self, b: usize, parameters_bad: bool) -> bool {
        parameters_bad || any_bad(self.emissions(b))
    }
}

fn any_bad<T: Score>(scores: &[T]) -> bool {
    // `fold` rather than `any`: no early exit, so the loop vectorises.
    scores.iter().fold(false, |bad, x| bad | x.is_bad())
}
