//! The backward pass, with each position's n-gram marginals computed on
//! the way, and their sums down to lower orders.
//!
//! The backward step reduces over an n-gram's *last* label:
//!
//! ```text
//! Y[c][s]       = S_t[s L + c] + beta_t[(s mod L^(N-2)) L + c]
//! beta_{t-1}[s] = m_s + ln sum_c exp(Y[c][s] - m_s),   m_s = max_c Y[c][s]
//! ```
//!
//! with the scores transposed by next label (see `transpose`), so that the
//! maximum and the sum run down columns like the forward step's. The
//! marginal of n-gram `g = s L + c` at `t` is
//! `exp(alpha_{t-1}[s] + S_t[g] + beta_t[..] - log Z)`: the `exp(Y[c][s] -
//! m_s)` already computed for beta, times a factor per source state
//! `exp(alpha_{t-1}[s] + m_s - log Z)`, transposed back to the natural
//! layout on the way (cheaper than a third exponential per n-gram). Both
//! factors are at most 1 up to rounding, so nothing overflows, and an
//! underflow only drops a probability below 1e-38.
//!
//! Messages are shifted to a maximum of 0 after every step, with the
//! shifts summed in f64, as in the forward pass. Each position's marginals
//! are then rescaled to sum to exactly 1 (up to rounding): the forward
//! messages, the backward messages and `log Z` carry rounding of their
//! own (in f32 over thousands of positions, 1e-5 relative), and the
//! rescaling cancels it.

use super::float::CrfFloat;
use super::forward::{History, Workspace};
use super::inputs::{Chain, MAX_ORDER};
use super::lanes::{is_nan, max_nan, row_max, safe_shift};
use super::transpose::by_next_label;
use crate::simd::widest;

/// Where the n-gram marginals of one sequence go.
pub(crate) struct MarginalSink<'o, T> {
    /// Per order: the sequence's `(max_len, L^n)` block, set to
    /// `weight * marginal` at every position where the order fits.
    pub factors: [Option<&'o mut [T]>; MAX_ORDER],
    /// Per order: a table's `(L^n,)` partial sum, `+= weight * marginal`.
    pub tables: [Option<&'o mut [f64]>; MAX_ORDER],
    pub weight: T,
}

impl<T: CrfFloat> MarginalSink<'_, T> {
    fn wants(&self, n: usize) -> bool {
        self.factors[n - 1].is_some() || self.tables[n - 1].is_some()
    }

    /// Fills every entry where order `n` fits (positions `n - 1..len`)
    /// with NaN: what the marginals are when `log Z` is NaN.
    pub fn fill_nan(&mut self, chain: &Chain<'_, T>, len: usize) {
        for n in 1..=chain.order.min(len) {
            let size = chain.sizes[n];
            if let Some(out) = self.factors[n - 1].as_deref_mut() {
                out[(n - 1) * size..len * size].fill(T::NAN);
            }
            if let Some(table) = self.tables[n - 1].as_deref_mut() {
                table.fill(f64::NAN);
            }
        }
    }

    /// Takes the unnormalised marginals of position `t` for the fitting
    /// order `n` (`top`, `L^n`), sums them down to every lower order (into
    /// `folds`), rescales all to total 1, and writes the wanted ones.
    #[inline(always)]
    pub(crate) fn emit(
        &mut self,
        chain: &Chain<'_, T>,
        t: usize,
        n: usize,
        top: &[T],
        folds: &mut [T],
    ) {
        if !(1..=n).any(|m| self.wants(m)) {
            return;
        }
        // Order m < n lives at folds[start[m]..start[m + 1]].
        let mut start = [0; MAX_ORDER + 1];
        for m in 1..n {
            start[m + 1] = start[m] + chain.sizes[m];
        }
        for m in (1..n).rev() {
            let (low, high) = folds.split_at_mut(start[m + 1]);
            let from = if m + 1 == n {
                top
            } else {
                &high[..chain.sizes[m + 1]]
            };
            fold_first_label(&mut low[start[m]..], from, chain.sizes[m]);
        }
        let unigrams = if n == 1 { top } else { &folds[..chain.labels] };
        let total: f64 = unigrams.iter().map(|p| p.to_f64()).sum();
        let scale = if total > 0.0 && total.is_finite() {
            self.weight.to_f64() / total
        } else {
            self.weight.to_f64()
        };
        for m in 1..=n {
            let marginals = if m == n {
                top
            } else {
                &folds[start[m]..start[m + 1]]
            };
            self.write(chain, t, m, marginals, scale);
        }
    }

    #[inline(always)]
    fn write(&mut self, chain: &Chain<'_, T>, t: usize, n: usize, marginals: &[T], scale: f64) {
        let size = chain.sizes[n];
        if let Some(out) = self.factors[n - 1].as_deref_mut() {
            let scale = T::from_f64(scale);
            for (o, &p) in out[t * size..(t + 1) * size].iter_mut().zip(marginals) {
                *o = scale * p;
            }
        }
        if let Some(table) = self.tables[n - 1].as_deref_mut() {
            for (o, &p) in table.iter_mut().zip(marginals) {
                *o += scale * p.to_f64();
            }
        }
    }
}

/// `out[i] = sum over a of marginals[a * smaller + i]`: the marginals of
/// one order lower, summed over the first label in a fixed order and
/// vectorised along the row.
#[inline(always)]
fn fold_first_label<T: CrfFloat>(out: &mut [T], marginals: &[T], smaller: usize) {
    let out = &mut out[..smaller];
    out.copy_from_slice(&marginals[..smaller]);
    for block in marginals.chunks_exact(smaller).skip(1) {
        for (o, &x) in out.iter_mut().zip(block) {
            *o = *o + x;
        }
    }
}

widest!(
    /// Runs the backward pass over sequence `b` after [`super::forward::forward`]
    /// kept its `history` and returned a finite `log_z`, and hands every
    /// position's marginals to `sink`.
    pub(crate) fn backward<T: CrfFloat>(
        chain: &Chain<'_, T>,
        b: usize,
        ws: &mut Workspace<T>,
        history: &History<T>,
        log_z: f64,
        sink: &mut MarginalSink<'_, T>,
    ) -> () => backward_body
);

#[inline(always)]
fn backward_body<T: CrfFloat>(
    chain: &Chain<'_, T>,
    b: usize,
    ws: &mut Workspace<T>,
    history: &History<T>,
    log_z: f64,
    sink: &mut MarginalSink<'_, T>,
) {
    let (l, w) = (chain.labels, chain.states);
    let len = chain.lengths[b];
    // beta after the last position: every state ends with weight 1.
    ws.prev.fill(T::ZERO);
    let mut offset = 0.0_f64;
    let start = [T::ZERO];
    for t in (0..len).rev() {
        let n = chain.fill_scores(b, t, &mut ws.scores);
        let rows = chain.sizes[n - 1];
        let size = chain.sizes[n];
        // At t = 0 the step only serves the marginals (its beta is unused).
        let shift = beta_step(chain, ws, rows);

        // The marginals: the step's exp(Y - m_s), by next label, times
        // exp(alpha_{t-1}[s] + m_s + k) per source state, back in the
        // natural layout (a transpose instead of another exponential).
        let (alpha, alpha_offset) = if t == 0 {
            (&start[..], 0.0)
        } else {
            (&history.alphas[(t - 1) * w..t * w], history.offsets[t - 1])
        };
        let k = T::from_f64(alpha_offset + offset - log_z);
        let factor = &mut ws.scratch[..rows];
        for ((f, &a), &m) in factor.iter_mut().zip(alpha).zip(ws.shift.iter()) {
            // A state with no way forward (m = -inf) has only zero
            // exponentials; its factor must not be exp(large) * 0 = NaN.
            *f = if m == T::NEG_INFINITY {
                T::ZERO
            } else {
                (a + m + k).exp_lanes()
            };
        }
        let e = &ws.by_label[..size];
        for (s, (row, &f)) in ws.scores[..size]
            .chunks_exact_mut(l)
            .zip(factor.iter())
            .enumerate()
        {
            for (x, column) in row.iter_mut().zip(e.chunks_exact(rows)) {
                *x = column[s] * f;
            }
        }
        sink.emit(chain, t, n, &ws.scores[..size], &mut ws.folds);

        if t > 0 {
            std::mem::swap(&mut ws.prev, &mut ws.next);
            offset += shift;
        }
    }
}

/// One backward step: `beta_{t-1}` (shifted to a maximum of 0) into
/// `ws.next[..rows]` from `beta_t` in `ws.prev` and the position's scores;
/// returns the shift. Leaves `exp(Y - m_s)` by next label in
/// `ws.by_label` and the maxima `m_s` (`-inf` for a dead end) in
/// `ws.shift`.
#[inline(always)]
fn beta_step<T: CrfFloat>(chain: &Chain<'_, T>, ws: &mut Workspace<T>, rows: usize) -> f64 {
    let y = &mut ws.by_label[..rows * chain.labels];
    by_next_label(chain, &ws.scores, &ws.prev, rows, &mut ws.scratch, y);
    let top = &mut ws.shift[..rows];
    top.copy_from_slice(&y[..rows]);
    for row in y.chunks_exact(rows).skip(1) {
        for (m, &x) in top.iter_mut().zip(row) {
            *m = max_nan(*m, x);
        }
    }
    let acc = &mut ws.acc[..rows];
    acc.fill(T::ZERO);
    for row in y.chunks_exact_mut(rows) {
        for ((a, x), &m) in acc.iter_mut().zip(row.iter_mut()).zip(top.iter()) {
            let e = (*x - safe_shift(m)).exp_lanes();
            *x = e;
            *a = *a + e;
        }
    }
    let beta = &mut ws.next[..rows];
    for ((o, &m), &a) in beta.iter_mut().zip(top.iter()).zip(acc.iter()) {
        *o = safe_shift(m) + a.ln_lanes();
    }
    let top = row_max(beta);
    let shift = if is_nan(top) || top == T::NEG_INFINITY {
        T::ZERO
    } else {
        top
    };
    for x in beta.iter_mut() {
        *x = *x - shift;
    }
    shift.to_f64()
}
