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
//! marginals, `exp(alpha_{t-1}[g / L] + S_t[g] + beta_t[g mod L^(N-1)] -
//! log Z)`, are one more exponential per n-gram in the natural layout
//! (their exponent is a log-probability, at most 0: nothing overflows).
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
use super::lanes::{is_nan, max_nan, row_max, safe_shift, with_avx2};
use super::transpose::by_next_label;

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
    fn emit(&mut self, chain: &Chain<'_, T>, t: usize, n: usize, top: &[T], folds: &mut [T]) {
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

with_avx2!(
    /// Runs the backward pass over sequence `b` after [`super::forward::forward`]
    /// kept its `history` and returned a finite `log_z`, and hands every
    /// position's marginals to `sink`.
    fn backward => backward_body(
        chain: &Chain<'_, T>,
        b: usize,
        ws: &mut Workspace<T>,
        history: &History<T>,
        log_z: f64,
        sink: &mut MarginalSink<'_, T>,
    ) -> ()
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
        let next_offset = if t > 0 {
            offset + beta_step(chain, ws, rows)
        } else {
            offset
        };

        // The marginals: exp(S + alpha_{t-1}[source] + beta_t[target] + k).
        let (alpha, alpha_offset) = if t == 0 {
            (&start[..], 0.0)
        } else {
            (&history.alphas[(t - 1) * w..t * w], history.offsets[t - 1])
        };
        let k = T::from_f64(alpha_offset + offset - log_z);
        let y = &mut ws.scores[..size];
        for (row, &a) in y.chunks_exact_mut(l).zip(alpha) {
            let v = a + k;
            for x in row.iter_mut() {
                *x = *x + v;
            }
        }
        add_messages(y, &ws.prev, w);
        for x in y.iter_mut() {
            *x = x.exp_lanes();
        }
        sink.emit(chain, t, n, y, &mut ws.folds);

        if t > 0 {
            std::mem::swap(&mut ws.prev, &mut ws.next);
            offset = next_offset;
        }
    }
}

/// One backward step: `beta_{t-1}` (shifted to a maximum of 0) into
/// `ws.next[..rows]` from `beta_t` in `ws.prev` and the position's scores;
/// returns the shift.
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
    for m in top.iter_mut() {
        *m = safe_shift(*m);
    }
    let acc = &mut ws.acc[..rows];
    acc.fill(T::ZERO);
    for row in y.chunks_exact(rows) {
        for ((a, &x), &m) in acc.iter_mut().zip(row).zip(top.iter()) {
            *a = *a + (x - m).exp_lanes();
        }
    }
    let beta = &mut ws.next[..rows];
    for ((o, &m), &a) in beta.iter_mut().zip(top.iter()).zip(acc.iter()) {
        *o = m + a.ln_lanes();
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

/// `y[g] += messages[g mod L^(N-1)]` for the live n-grams `y`: the target
/// state of n-gram `g` is its last N-1 labels. Before position `N - 1`
/// there are fewer than `L^(N-1)` of them, and the index is `g` itself.
#[inline(always)]
pub(crate) fn add_messages<T: CrfFloat>(y: &mut [T], messages: &[T], states: usize) {
    for block in y.chunks_mut(states) {
        for (x, &m) in block.iter_mut().zip(messages) {
            *x = *x + m;
        }
    }
}
