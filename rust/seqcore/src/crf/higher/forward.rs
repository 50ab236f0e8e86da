//! The forward pass over expanded states, in log space, and the
//! log-partition.
//!
//! A state is the last N-1 labels, `s = index(y_{t-N+2..t})`; the n-gram
//! `g = s * L + c` goes from state `s` to state `g mod L^(N-1)`. Seen as a
//! matrix of `L` rows (the n-gram's first label `a`) by `L^(N-1)` columns
//! (the target state), the step is
//!
//! ```text
//! X[a][j]    = alpha_{t-1}[g / L] + S_t[g]        (g = a L^(N-1) + j)
//! alpha_t[j] = logsumexp over a of X[a][j]
//! ```
//!
//! so every reduction runs down columns: the inner loops are contiguous
//! rows of `L^(N-1)` values and vectorise with no remainder to speak of.
//! The sparse transition is never materialised: each state has only `L`
//! successors, and the loops visit exactly the `L^N` (state, next label)
//! pairs.
//!
//! Each column's logsumexp shifts by the column's exact maximum, so no term
//! that matters can under- or overflow whatever the scores' range. After
//! every step the messages are shifted so that their maximum is 0 and the
//! shift is added to an f64 total, so f32 messages keep their precision
//! relative to the scores of one step, not to a log-partition that grows
//! with the length.
//!
//! # Scaled forward (top order from a table)
//!
//! [`log_partition`] first tries `scaled.rs`: when the chain has no factor
//! of the full order, the top-order scores are the same at every position,
//! so their `exp` is taken once per call and each step becomes a batched
//! matrix product in probabilities (`gemm.rs`), with only the lower-order
//! factors exponentiated per position (`weights.rs`). That path checks
//! every lane for underflow and hands any sequence it could not keep
//! exact (weights more than `e^87` apart in f32, `e^708` in f64, e.g. under
//! soft masks of -1e4) back to this log-space forward, which is exact for
//! any magnitudes. With per-position factors of the full order a scaled
//! forward needs the same one `exp` per n-gram and position as this one
//! and measured 10-20% slower (`tests_speed`), so those chains run here.
//! [`super::marginals`] and [`super::nll_and_grad`] use the scaled passes
//! too in the same cases (`scaled_backward.rs`) and this forward for the
//! rest and for what those hand back.

use super::float::CrfFloat;
use super::inputs::{validate, Chain, HigherOrderInputs};
use super::lanes::{is_nan, max_nan, row_max, row_sum, safe_shift};
use super::scaled;
use crate::array::Array;
use crate::crf::CrfError;
use crate::parallel;
use crate::simd::widest;

/// Buffers of one sequence's passes, sized for the chain.
pub(crate) struct Workspace<T> {
    /// `L^N`: one position's n-gram scores, then what the pass makes of them.
    pub scores: Vec<T>,
    /// `L^N`: the scores transposed by next label (backward passes).
    pub by_label: Vec<T>,
    /// `L^(N-1)` each.
    pub shift: Vec<T>,
    pub acc: Vec<T>,
    pub prev: Vec<T>,
    pub next: Vec<T>,
    pub scratch: Vec<T>,
    /// The marginals of orders `1..N` at one position (`L + ... + L^(N-1)`).
    pub folds: Vec<T>,
}

impl<T: CrfFloat> Workspace<T> {
    pub fn new(chain: &Chain<'_, T>) -> Self {
        let w = chain.states;
        let folds = chain.sizes[1..chain.order].iter().sum();
        Self {
            scores: vec![T::ZERO; chain.ngrams],
            by_label: vec![T::ZERO; chain.ngrams],
            shift: vec![T::ZERO; w],
            acc: vec![T::ZERO; w],
            prev: vec![T::ZERO; w],
            next: vec![T::ZERO; w],
            scratch: vec![T::ZERO; w],
            folds: vec![T::ZERO; folds],
        }
    }
}

/// The forward messages of one sequence, kept for the backward pass.
pub(crate) struct History<T> {
    /// `(len, L^(N-1))`: the messages after each position, shifted to a
    /// maximum of 0.
    pub alphas: Vec<T>,
    /// The total shift removed up to and including each position.
    pub offsets: Vec<f64>,
}

impl<T: CrfFloat> History<T> {
    pub fn new(chain: &Chain<'_, T>, b: usize) -> Self {
        let len = chain.lengths[b];
        Self {
            alphas: vec![T::ZERO; len * chain.states],
            offsets: vec![0.0; len],
        }
    }
}

/// The log-partition `log Z` of every sequence, shape `(batch,)`.
///
/// 0 for an empty sequence, `-inf` when every labelling has a `-inf`
/// score, NaN when a score the sequence uses is NaN.
pub fn log_partition<T: CrfFloat>(inputs: &HigherOrderInputs<'_, T>) -> Result<Array<T>, CrfError> {
    let chain = validate(inputs)?;
    let data = scaled::log_partition(&chain).unwrap_or_else(|| log_partition_in_log_space(&chain));
    Ok(Array {
        data,
        shape: vec![chain.batch],
    })
}

/// `log Z` of every sequence by the log-space forward alone: the reference
/// and the fallback of the scaled one.
pub(crate) fn log_partition_in_log_space<T: CrfFloat>(chain: &Chain<'_, T>) -> Vec<T> {
    parallel::map_tasks(chain.batch, |b| {
        let mut ws = Workspace::new(chain);
        T::from_f64(forward(chain, b, &mut ws, None))
    })
}

widest!(
    /// Runs the forward pass over sequence `b` and returns its `log Z` in
    /// f64 (`-inf` or NaN as soon as the messages are); with `history`, keeps
    /// the messages of every position.
    pub(crate) fn forward<T: CrfFloat>(
        chain: &Chain<'_, T>,
        b: usize,
        ws: &mut Workspace<T>,
        history: Option<&mut History<T>>,
    ) -> f64 => forward_body
);

#[inline(always)]
fn forward_body<T: CrfFloat>(
    chain: &Chain<'_, T>,
    b: usize,
    ws: &mut Workspace<T>,
    mut history: Option<&mut History<T>>,
) -> f64 {
    let len = chain.lengths[b];
    if len == 0 {
        return 0.0;
    }
    let w = chain.states;
    // Before position 0 the state is "all labels 0" with weight 1: the
    // n-grams that would reach back before the sequence are not scored,
    // and which label stands in for the missing ones does not matter.
    ws.prev.fill(T::NEG_INFINITY);
    ws.prev[0] = T::ZERO;
    let mut offset = 0.0_f64;
    for t in 0..len {
        let n = chain.fill_scores(b, t, &mut ws.scores);
        if chain.order == 1 {
            unary_step(ws, chain.labels);
        } else if n < chain.order {
            early_step(ws, chain, n);
        } else {
            full_step(ws, chain);
        }
        let top = row_max(&ws.next);
        if is_nan(top) || top == T::NEG_INFINITY {
            return top.to_f64();
        }
        for x in ws.next.iter_mut() {
            *x = *x - top;
        }
        offset += top.to_f64();
        if let Some(h) = history.as_deref_mut() {
            h.alphas[t * w..(t + 1) * w].copy_from_slice(&ws.next);
            h.offsets[t] = offset;
        }
        std::mem::swap(&mut ws.prev, &mut ws.next);
    }
    // Once per sequence: scalar f64 is fine here. The maximum is 0, so the
    // sum lies in [1, L^(N-1)].
    let total: f64 = ws.prev.iter().map(|&a| a.to_f64().exp()).sum();
    offset + total.ln()
}

/// Order 1: one state, and the step is a logsumexp over the labels.
#[inline(always)]
fn unary_step<T: CrfFloat>(ws: &mut Workspace<T>, labels: usize) {
    let row = &mut ws.scores[..labels];
    let m = safe_shift(row_max(row));
    for x in row.iter_mut() {
        *x = (*x - m).exp_lanes();
    }
    ws.next[0] = ws.prev[0] + (m + row_sum(row).ln_lanes());
}

/// A position before `N - 1`: only states whose missing labels are 0 are
/// live, each reached one way, so the message is a plain sum.
#[inline(always)]
pub(super) fn early_step<T: CrfFloat>(ws: &mut Workspace<T>, chain: &Chain<'_, T>, n: usize) {
    let size = chain.sizes[n];
    let (live, dead) = ws.next.split_at_mut(size);
    let rows = live.chunks_exact_mut(chain.labels);
    for ((out, scores), &from) in rows.zip(ws.scores.chunks_exact(chain.labels)).zip(&ws.prev) {
        for (o, &x) in out.iter_mut().zip(scores) {
            *o = from + x;
        }
    }
    dead.fill(T::NEG_INFINITY);
}

/// A full step: column maxima, then one exp per n-gram.
#[inline(always)]
fn full_step<T: CrfFloat>(ws: &mut Workspace<T>, chain: &Chain<'_, T>) {
    let (l, w) = (chain.labels, chain.states);
    let k = w / l;
    let m = &mut ws.shift;
    m.fill(T::NEG_INFINITY);
    let scores = &mut ws.scores[..chain.ngrams];
    for (block, from) in scores.chunks_exact_mut(w).zip(ws.prev.chunks_exact(k)) {
        // Block a: source states a*k..(a+1)*k, each with its L successors
        // (contiguous) landing on columns r*L..(r+1)*L.
        for ((row, &v), column) in block
            .chunks_exact_mut(l)
            .zip(from)
            .zip(m.chunks_exact_mut(l))
        {
            for (x, top) in row.iter_mut().zip(column) {
                let y = *x + v;
                *x = y;
                *top = max_nan(*top, y);
            }
        }
    }
    for top in m.iter_mut() {
        *top = safe_shift(*top);
    }
    let acc = &mut ws.acc;
    acc.fill(T::ZERO);
    for block in scores.chunks_exact(w) {
        for ((a, &x), &top) in acc.iter_mut().zip(block).zip(m.iter()) {
            *a = *a + (x - top).exp_lanes();
        }
    }
    // Each sum is 0 (a dead column) or in [1, L]: inside ln_lanes' domain.
    for ((o, &top), &a) in ws.next.iter_mut().zip(m.iter()).zip(acc.iter()) {
        *o = top + a.ln_lanes();
    }
}
