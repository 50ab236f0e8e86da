//! Viterbi decoding: the best path of each sequence by max-plus.
//!
//! `delta_t[j] = max_i (delta_{t-1}[i] + T[i][j]) + e_t[j]`, vectorised over
//! `j` (`kernels::max_plus_by_blocks`), every `delta_t` kept. No arg-max is
//! tracked in the loop (that would double its work): walking back, the
//! predecessor of label `j` at `t` is found again as the lowest `i` with
//! the largest `delta_{t-1}[i] + T[i][j]`, the same sums compared the same
//! way, in `O(L)` per position. Scores are summed in the score type, in
//! this order, so the best path's score is exactly the one n-best reports
//! for it.

use super::inputs::LinearCrf;
use super::kernels::arg_max_plus;
use super::CrfFloat;
use crate::parallel;
use crate::simd::widest;

pub use crate::crf::Path;

/// The transitions padded for `max_plus`, shared by the sequences of a call.
pub(super) struct MaxPlus<T> {
    pub labels: usize,
    pub stride: usize,
    /// `T[i][j]` at `i * stride + j`, `-inf` in the padding.
    pub trans: Vec<T>,
    /// `T[i][j]` at `j * labels + i`: the scores into `j`, contiguous.
    pub trans_t: Vec<T>,
}

impl<T: CrfFloat> MaxPlus<T> {
    pub(super) fn new(crf: &LinearCrf<'_, T>) -> Self {
        let labels = crf.num_labels();
        let stride = labels.div_ceil(T::LANES) * T::LANES;
        let mut trans = vec![T::NEG_INF; labels * stride];
        for (row, scores) in trans
            .chunks_exact_mut(stride)
            .zip(crf.transitions().chunks_exact(labels))
        {
            row[..labels].copy_from_slice(scores);
        }
        let mut trans_t = vec![T::ZERO; labels * labels];
        for (i, row) in crf.transitions().chunks_exact(labels).enumerate() {
            for (j, &x) in row.iter().enumerate() {
                trans_t[j * labels + i] = x;
            }
        }
        Self {
            labels,
            stride,
            trans,
            trans_t,
        }
    }
}

/// The max-plus forward of one non-empty sequence: row `t` of `delta`
/// (`stride` wide, `-inf` padded) gets `delta_t`.
#[inline(always)]
pub(super) fn max_plus_forward<T: CrfFloat>(
    mp: &MaxPlus<T>,
    crf: &LinearCrf<'_, T>,
    rows: &[T],
    delta: &mut [T],
) {
    let (labels, stride) = (mp.labels, mp.stride);
    let first = &mut delta[..stride];
    for ((d, &e), &s) in first.iter_mut().zip(&rows[..labels]).zip(crf.start()) {
        *d = s + e;
    }
    first[labels..].fill(T::NEG_INF);
    for (t, e) in rows.chunks_exact(labels).enumerate().skip(1) {
        let (before, after) = delta.split_at_mut(t * stride);
        let (prev, cur) = (&before[(t - 1) * stride..], &mut after[..stride]);
        T::max_plus(&prev[..labels], &mp.trans, stride, cur);
        for (d, &e) in cur.iter_mut().zip(e) {
            *d = *d + e;
        }
    }
}

/// The Viterbi predecessor of label `v` at position `t >= 1`.
#[inline(always)]
pub(super) fn predecessor<T: CrfFloat>(mp: &MaxPlus<T>, delta: &[T], t: usize, v: usize) -> usize {
    let prev = &delta[(t - 1) * mp.stride..][..mp.labels];
    arg_max_plus(prev, &mp.trans_t[v * mp.labels..][..mp.labels])
}

/// The best final label: `max_j delta[j] + end[j]`, the lowest `j` on ties.
#[inline(always)]
pub(super) fn best_end<T: CrfFloat>(last: &[T], end: &[T]) -> (usize, T) {
    let mut best = (0, T::NEG_INF);
    for (j, (&d, &e)) in last.iter().zip(end).enumerate() {
        let score = d + e;
        if score > best.1 {
            best = (j, score);
        }
    }
    best
}

fn decode_sequence<T: CrfFloat>(
    mp: &MaxPlus<T>,
    crf: &LinearCrf<'_, T>,
    b: usize,
    bad: bool,
) -> Path<T> {
    let rows = crf.emissions(b);
    let labels = mp.labels;
    let len = rows.len() / labels;
    if len == 0 {
        return Path {
            labels: vec![],
            score: T::ZERO,
        };
    }
    if crf.sequence_bad(b, bad) {
        return Path {
            labels: vec![],
            score: T::NAN,
        };
    }
    let mut delta = vec![T::ZERO; len * mp.stride];
    run_forward(mp, crf, rows, &mut delta);
    let last = &delta[(len - 1) * mp.stride..][..labels];
    let (mut label, score) = best_end(last, crf.end());
    if score == T::NEG_INF {
        return Path {
            labels: vec![],
            score,
        };
    }
    let mut path = vec![0u32; len];
    for t in (0..len).rev() {
        path[t] = label as u32;
        if t > 0 {
            label = predecessor(mp, &delta, t, label);
        }
    }
    Path {
        labels: path,
        score,
    }
}

widest!(
    /// `max_plus_forward`, compiled for the widest vectors the processor has.
    pub(super) fn run_forward<T: CrfFloat>(
        mp: &MaxPlus<T>,
        crf: &LinearCrf<'_, T>,
        rows: &[T],
        delta: &mut [T],
    ) -> () => max_plus_forward
);

impl<T: CrfFloat> LinearCrf<'_, T> {
    /// The best path of each sequence and its score.
    ///
    /// * Ties: where several labels reach the same best score, the lowest
    ///   label index wins, at the last position and at each step back; so
    ///   among equally good paths the result is the smallest one compared
    ///   from the last position backwards.
    /// * An empty sequence gives an empty path with score 0. A sequence
    ///   without an allowed path (every path scores `-inf`) gives an empty
    ///   path with score `-inf`; one whose scores contain NaN or `+inf`, an
    ///   empty path with score NaN.
    pub fn viterbi(&self) -> Vec<Path<T>> {
        let mp = MaxPlus::new(self);
        let bad = self.parameters_bad();
        parallel::map_tasks(self.batch(), |b| decode_sequence(&mp, self, b, bad))
    }
}
