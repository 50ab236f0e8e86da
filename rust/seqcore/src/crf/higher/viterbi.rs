//! The best labelling of each sequence (Viterbi): the forward pass with
//! maxima instead of sums, keeping for every position and state the first
//! label of the best n-gram into it, then a walk back.
//!
//! The step is the forward step's shape (see `forward`): a maximum down
//! the columns of `L` rows, vectorised along the states, with the argmax
//! as a blend beside it. The tables it leaves are also what the n-best
//! search needs: each entry is the exact best score of a prefix.
//!
//! Ties (equal computed scores) go to the labelling whose *last* label is
//! lowest, then the second-to-last, and so on: the lowest state at the end
//! (compared from its last label), then at each step back the lowest
//! earlier label. For a first-order chain this is the usual Viterbi's
//! "first maximum" rule at the end and in every backpointer.

use super::float::CrfFloat;
use super::forward::Workspace;
use super::inputs::{validate, Chain, HigherOrderInputs};
use super::lanes::{is_nan, row_max};
use crate::crf::CrfError;
use crate::parallel;
use crate::simd::widest;

/// A labelling of one sequence and its score (the same type as the
/// first-order chain's).
pub type LabelPath<T> = crate::crf::Path<T>;

/// The best labelling of every sequence, with its score.
///
/// Ties (equal computed scores) go to the labelling that is smallest when
/// read from its last label backwards: the lowest last label, then the
/// lowest second-to-last, and so on. An empty sequence gets the empty
/// labelling with score 0. A sequence with no allowed labelling gets an
/// empty path with score `-inf`, one with a NaN score an empty path with
/// score NaN.
pub fn viterbi<T: CrfFloat>(
    inputs: &HigherOrderInputs<'_, T>,
) -> Result<Vec<LabelPath<T>>, CrfError> {
    let chain = validate(inputs)?;
    Ok(parallel::map_tasks(chain.batch, |b| {
        if chain.lengths[b] == 0 {
            return LabelPath {
                labels: Vec::new(),
                score: T::ZERO,
            };
        }
        let mut ws = Workspace::new(&chain);
        let tables = max_tables(&chain, b, &mut ws);
        let labels = if tables.best.is_finite() {
            let mut labels = vec![0; chain.lengths[b]];
            tables.walk_back(&chain, tables.len, tables.last, &mut labels);
            labels
        } else {
            Vec::new()
        };
        LabelPath {
            labels,
            score: T::from_f64(tables.best),
        }
    }))
}

/// The forward max-plus tables of one sequence.
pub(crate) struct MaxTables<T> {
    /// `(len, L^(N-1))`: the best score of a prefix ending at position `t`
    /// in state `j`, before that position's shift.
    best_to: Vec<T>,
    /// `(len, L^(N-1))`: the first label of the best n-gram into `j` at
    /// `t` (the lowest on ties); the best label itself at order 1.
    pointers: Vec<u32>,
    /// The constant removed from position `t`'s scores to form the
    /// messages into `t + 1`.
    shifts: Vec<T>,
    /// The best labelling's score, in f64.
    pub best: f64,
    /// Its state after the last position.
    pub last: usize,
    pub len: usize,
    states: usize,
}

impl<T: CrfFloat> MaxTables<T> {
    /// The best prefix score at `t` in state `j`, as computed.
    #[inline]
    pub fn best_to(&self, t: usize, j: usize) -> T {
        self.best_to[t * self.states + j]
    }

    /// The message into position `t` from state `s`, as the pass used it.
    #[inline]
    pub fn message(&self, t: usize, s: usize) -> T {
        match t {
            0 if s == 0 => T::ZERO,
            0 => T::NEG_INFINITY,
            _ => self.best_to[(t - 1) * self.states + s] - self.shifts[t - 1],
        }
    }

    /// Fills `labels[..end]` with the best prefix that is in `state` after
    /// position `end - 1` (`end = len` and the final state for the best
    /// labelling). At order 1 there is one state and each position's best
    /// label is its pointer.
    pub fn walk_back(
        &self,
        chain: &Chain<'_, T>,
        end: usize,
        mut state: usize,
        labels: &mut [u32],
    ) {
        let (l, w) = (chain.labels, self.states);
        if chain.order == 1 {
            labels[..end].copy_from_slice(&self.pointers[..end]);
            return;
        }
        let k = w / l;
        for t in (0..end).rev() {
            labels[t] = (state % l) as u32;
            let first = if chain.fitting_order(t) == chain.order {
                self.pointers[t * w + state] as usize
            } else {
                0 // before N - 1 the missing labels are 0
            };
            state = first * k + state / l;
        }
    }
}

widest!(
    /// Runs the max-plus forward pass over sequence `b` (length >= 1).
    pub(crate) fn max_tables<T: CrfFloat>(
        chain: &Chain<'_, T>,
        b: usize,
        ws: &mut Workspace<T>,
    ) -> MaxTables<T> => max_tables_body
);

#[inline(always)]
fn max_tables_body<T: CrfFloat>(
    chain: &Chain<'_, T>,
    b: usize,
    ws: &mut Workspace<T>,
) -> MaxTables<T> {
    let (l, w) = (chain.labels, chain.states);
    let len = chain.lengths[b];
    let mut best_to = vec![T::NEG_INFINITY; len * w];
    let mut pointers = vec![0_u32; len * w];
    let mut shifts = vec![T::ZERO; len];
    let mut total = 0.0_f64;
    ws.prev.fill(T::NEG_INFINITY);
    ws.prev[0] = T::ZERO;
    for t in 0..len {
        let n = chain.fill_scores(b, t, &mut ws.scores);
        let best = &mut best_to[t * w..(t + 1) * w];
        let pointer = &mut pointers[t * w..(t + 1) * w];
        if n < chain.order {
            // One way into each live state (see the forward pass).
            let live = &mut best[..chain.sizes[n]];
            for ((out, scores), &from) in live
                .chunks_exact_mut(l)
                .zip(ws.scores.chunks_exact(l))
                .zip(&ws.prev)
            {
                for (o, &x) in out.iter_mut().zip(scores) {
                    *o = x + from;
                }
            }
        } else {
            column_max(ws, chain, best, pointer);
        }
        let top = row_max(best);
        let shift = if is_nan(top) || top == T::NEG_INFINITY {
            T::ZERO
        } else {
            top
        };
        if t + 1 < len {
            for (o, &x) in ws.prev.iter_mut().zip(best.iter()) {
                *o = x - shift;
            }
            shifts[t] = shift;
            total += shift.to_f64();
        }
    }
    // The best final state; among equal ones the lowest read from its last
    // label backwards (a NaN maximum is reported as NaN, with no path).
    let end = &best_to[(len - 1) * w..];
    let top = row_max(end);
    let mut last = 0;
    if !is_nan(top) {
        let reversed = |s: usize| {
            (0..chain.order - 1)
                .fold((0, s), |(r, s), _| (r * l + s % l, s / l))
                .0
        };
        last = (0..w)
            .filter(|&s| end[s] == top)
            .min_by_key(|&s| reversed(s))
            .unwrap_or(0);
    }
    MaxTables {
        best: total + top.to_f64(),
        best_to,
        pointers,
        shifts,
        last,
        len,
        states: w,
    }
}

/// A full step: `X[a][j] = S[a L^(N-1) + j] + message[source]` and, down
/// each column, its maximum and the first row reaching it.
#[inline(always)]
fn column_max<T: CrfFloat>(
    ws: &mut Workspace<T>,
    chain: &Chain<'_, T>,
    best: &mut [T],
    pointer: &mut [u32],
) {
    let (l, w) = (chain.labels, chain.states);
    let scores = &mut ws.scores[..chain.ngrams];
    if chain.order == 1 {
        let from = ws.prev[0];
        for x in scores.iter_mut() {
            *x = *x + from;
        }
    } else {
        let k = w / l;
        for (block, from) in scores.chunks_exact_mut(w).zip(ws.prev.chunks_exact(k)) {
            for (row, &v) in block.chunks_exact_mut(l).zip(from) {
                for x in row.iter_mut() {
                    *x = *x + v;
                }
            }
        }
    }
    best.copy_from_slice(&scores[..w]);
    pointer.fill(0);
    for (a, row) in scores.chunks_exact(w).enumerate().skip(1) {
        for ((top, arg), &x) in best.iter_mut().zip(pointer.iter_mut()).zip(row) {
            // Only a strictly better score moves the pointer, so ties keep
            // the lowest label; a NaN takes over and stays.
            #[allow(clippy::eq_op)]
            let better = x > *top || x != x;
            *top = if better { x } else { *top };
            *arg = if better { a as u32 } else { *arg };
        }
    }
}
