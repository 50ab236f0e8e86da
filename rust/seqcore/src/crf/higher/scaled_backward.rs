//! The scaled-probability backward pass over a block of sequences, for
//! [`super::marginals`] and [`super::nll_and_grad`] when the top order is a
//! table only (as `scaled.rs` for the forward).
//!
//! With `alpha_t` the forward messages kept by the forward tier (`Record`,
//! each lane scaled by powers of two), `w_t` the lower-order weights and
//! `E` the table weights, the backward messages `beta_t` (the weight of
//! everything after `t`, `w_t` excluded) are
//!
//! ```text
//! v_t[j]         = w_t[j] beta_t[j]
//! beta_{t-1}[s]  = p_t sum over c of E[s L + c] v_t[(s mod k) L + c]   (s = a k + b)
//! ```
//!
//! the transposed product of the forward step (`gemm`, `backward: true`),
//! rescaled per lane by the power of two `p_t` below `v_t`'s maximum. Then
//!
//! ```text
//! P(state j at t)    = alpha_t[j] beta_t[j] / Q_t,      Q_t = sum over j of alpha_t[j] beta_t[j]
//! P(n-gram g at t)   = alpha_{t-1}[s] E[g] v_t[j] p_t / Q_{t-1}
//! ```
//!
//! (both normalisers are exact sums of the same path weights, so the
//! powers of two and shifts taken out never need to be known). The state
//! marginals give every lower order (summed down over first labels, and at
//! the positions before `N - 1` over the labels after them); the top-order
//! table's gradient is summed over the block's lanes by a product per
//! position (`table_grad`).
//!
//! # When the result is trusted
//!
//! As in the forward: every nonzero `v_t` must be at least `a_min` (then
//! every product with a table weight is a normal number), and `Q_t` at
//! least `sqrt(TINY)`, so that products that underflow while forming a
//! marginal are at most `TINY / Q_t` (1e-19 in f32) of it. A lane that
//! breaks either rule is *tainted*: the caller redoes it with the next
//! tier (f64, then log space), after discarding what was written for it.

use std::any::TypeId;
use std::ops::Range;
use std::sync::OnceLock;

use super::backward::MarginalSink;
use super::float::CrfFloat;
use super::forward::Workspace;
use super::gemm::{Acc, Step};
use super::inputs::Chain;
use super::lanes::is_nan;
use super::scaled::{applies, combined_tables, run_tier, Record, Weights};
use super::table_grad::{accumulate, Operands};
use super::weights::{lower_weights, spread_rows};
use crate::simd::widest;

widest!(
    /// One tier's backward pass over the lanes of `rec`: `wanted[s]` says which
    /// lanes to run (finite `log Z`, nonzero weight), `weight[s]` is each
    /// lane's upstream weight. Emits every wanted lane's marginals into
    /// `sinks[b - first]` and, with `top`, adds the top-order table's
    /// unweighted-by-`E` sums to it. Returns the tainted lanes.
    /// Compiled for the widest vectors the processor has.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward_tier<T: CrfFloat, A: Acc>(
        chain: &Chain<'_, T>,
        weights: &Weights<A>,
        rec: &Record<A>,
        wanted: &[bool],
        weight: &[f64],
        sinks: &mut [MarginalSink<'_, T>],
        first: usize,
        top: Option<&mut [f64]>,
    ) -> Vec<usize> => backward_body
);

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_body<T: CrfFloat, A: Acc>(
    chain: &Chain<'_, T>,
    weights: &Weights<A>,
    rec: &Record<A>,
    wanted: &[bool],
    weight: &[f64],
    sinks: &mut [MarginalSink<'_, T>],
    first: usize,
    mut top: Option<&mut [f64]>,
) -> Vec<usize> {
    let (l, states, order) = (chain.labels, chain.states, chain.order);
    let k = chain.sizes[order - 2];
    let (sp, lanes) = (rec.sp, &rec.lanes);
    if lanes.is_empty() {
        return Vec::new();
    }
    let at = states * sp;
    let len = |s: usize| chain.lengths[lanes[s]];
    let alpha = |t: usize| &rec.alphas[(t + 2 - order) * at..][..at];
    let q_min = A::TINY.to_f64().sqrt();
    let mut live: Vec<bool> = (0..sp).map(|s| s < lanes.len() && wanted[s]).collect();
    let mut tainted = vec![false; sp];
    let mut beta = vec![A::ZERO; at];
    let mut next = vec![A::ZERO; at];
    let mut v = vec![A::ZERO; at];
    let ones = vec![A::ONE; at];
    let mut w = vec![A::ONE; at];
    let mut rows = vec![A::ZERO; A::LANES * chain.sizes[1..order - 1].iter().sum::<usize>()];
    let (mut p, mut vmax) = (vec![A::ZERO; sp], vec![A::ZERO; sp]);
    let (mut bmax, mut low) = (vec![A::ZERO; sp], vec![0_u32; sp]);
    let mut x = vec![A::ZERO; at];
    let mut y = vec![A::ZERO; at];
    let mut scratch = Vec::new();
    let mut emit = Emit {
        marg: vec![T::ZERO; states],
        folds: vec![T::ZERO; chain.sizes[1..order].iter().sum()],
    };
    let lower = (1..order).any(|n| chain.has_factor(n));
    let mut active = 0;
    for t in (order - 1..len(0)).rev() {
        // Lanes whose last position this is start with beta = 1.
        while active < lanes.len() && len(active) > t {
            for j in 0..states {
                beta[j * sp + active] = A::ONE;
            }
            active += 1;
        }
        let nvec = active.div_ceil(A::LANES);
        for s in 0..active {
            if live[s]
                && !emit.position(
                    chain,
                    alpha(t),
                    &beta,
                    sp,
                    s,
                    t,
                    q_min,
                    &mut sinks[lanes[s] - first],
                )
            {
                (live[s], tainted[s]) = (false, true);
            }
        }
        if lower {
            for group in 0..nvec {
                let g0 = group * A::LANES;
                if A::LANES == 8 {
                    weights_of::<T, A, 8>(
                        chain, lanes, &live, active, t, g0, &mut w, sp, &mut rows,
                    );
                } else {
                    weights_of::<T, A, 4>(
                        chain, lanes, &live, active, t, g0, &mut w, sp, &mut rows,
                    );
                }
            }
        }
        // v = w beta, checked, and its maximum per lane.
        vmax.fill(A::ZERO);
        for j in 0..states {
            for s in 0..active {
                let (bv, wv) = (beta[j * sp + s], w[j * sp + s]);
                let value = bv * wv;
                v[j * sp + s] = value;
                if value < weights.a_min && bv > A::ZERO && wv > A::ZERO && live[s] {
                    (live[s], tainted[s]) = (false, true);
                }
                vmax[s] = if value > vmax[s] { value } else { vmax[s] };
            }
        }
        for s in 0..nvec * A::LANES {
            p[s] = A::ZERO;
            if s < active && live[s] {
                if vmax[s] > A::ZERO && !is_nan(vmax[s]) {
                    p[s] = A::pow2(-vmax[s].exponent());
                } else {
                    (live[s], tainted[s]) = (false, true);
                }
            }
        }
        bmax.fill(A::ZERO);
        low.fill(0);
        A::step(&mut Step {
            labels: l,
            prefixes: k,
            sp,
            nvec,
            table: &weights.transposed,
            prev: &v,
            w: &ones,
            w_prefixes: k,
            p: &p,
            a_min: weights.a_min,
            next: &mut next,
            top: &mut bmax,
            low: &mut low,
            backward: true,
        });
        for s in 0..active {
            if low[s] != 0 && live[s] {
                (live[s], tainted[s]) = (false, true);
            }
        }
        if let Some(m) = top.as_deref_mut() {
            // x = alpha_{t-1} times weight / Q_{t-1}, y = v p: zero for
            // lanes that take no part.
            let before = alpha(t - 1);
            let mut scale = vec![A::ZERO; sp];
            for s in 0..active {
                if live[s] {
                    let q = normaliser(before, &next, sp, s, states);
                    if q >= q_min {
                        scale[s] = A::from_f64(weight[s] / q);
                    } else {
                        (live[s], tainted[s]) = (false, true);
                    }
                }
            }
            for j in 0..states {
                for s in 0..sp {
                    let on = s < active && live[s];
                    x[j * sp + s] = if on {
                        before[j * sp + s] * scale[s]
                    } else {
                        A::ZERO
                    };
                    y[j * sp + s] = if on { v[j * sp + s] * p[s] } else { A::ZERO };
                }
            }
            let operands = Operands {
                labels: l,
                prefixes: k,
                sp,
                lanes: active,
                x: &x,
                y: &y,
            };
            accumulate(&operands, m, &mut scratch);
        }
        std::mem::swap(&mut beta, &mut next);
    }
    // Position N - 2: the state is the whole prefix y_0..y_{N-2}, and the
    // earlier positions' n-grams are its sums over the labels after them.
    for s in 0..lanes.len() {
        if live[s] {
            let t = order - 2;
            let sink = &mut sinks[lanes[s] - first];
            if emit.position(chain, alpha(t), &beta, sp, s, t, q_min, sink) {
                emit.early(chain, sink);
            } else {
                tainted[s] = true;
            }
        }
    }
    (0..lanes.len())
        .filter(|&s| tainted[s])
        .map(|s| lanes[s])
        .collect()
}

/// `sum over j of alpha[j][s] beta[j][s]`, in f64.
#[inline(always)]
fn normaliser<A: Acc>(alpha: &[A], beta: &[A], sp: usize, s: usize, states: usize) -> f64 {
    (0..states)
        .map(|j| (alpha[j * sp + s] * beta[j * sp + s]).to_f64())
        .sum()
}

/// The lower-order weights of the lanes `g0..g0 + LN` at `t` (1 for lanes
/// not running); the forward computed the same and found them usable.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn weights_of<T: CrfFloat, A: Acc, const LN: usize>(
    chain: &Chain<'_, T>,
    lanes: &[usize],
    live: &[bool],
    active: usize,
    t: usize,
    g0: usize,
    w: &mut [A],
    sp: usize,
    rows: &mut [A],
) {
    let seqs: [Option<usize>; LN] = std::array::from_fn(|q| {
        let s = g0 + q;
        (s < active && live[s]).then(|| lanes[s])
    });
    lower_weights(chain, &seqs, t, w, sp, g0, rows);
    // Read row by row below, so every state's row is written.
    spread_rows::<T, A, LN>(chain, w, sp, g0);
}

/// Scratch for the marginals of one lane.
struct Emit<T> {
    /// `L^(N-1)`: the state marginals of the last position emitted.
    marg: Vec<T>,
    folds: Vec<T>,
}

impl<T: CrfFloat> Emit<T> {
    /// Emits lane `s`'s state marginals at `t` (orders up to `N - 1`);
    /// false when its normaliser is too small to trust.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn position<A: Acc>(
        &mut self,
        chain: &Chain<'_, T>,
        alpha: &[A],
        beta: &[A],
        sp: usize,
        s: usize,
        t: usize,
        q_min: f64,
        sink: &mut MarginalSink<'_, T>,
    ) -> bool {
        let q = normaliser(alpha, beta, sp, s, chain.states);
        if q.is_nan() || q < q_min || !q.is_finite() {
            return false;
        }
        for (j, m) in self.marg.iter_mut().enumerate() {
            *m = T::from_f64((alpha[j * sp + s] * beta[j * sp + s]).to_f64() / q);
        }
        sink.emit(chain, t, chain.order - 1, &self.marg, &mut self.folds);
        true
    }

    /// After [`Self::position`] at `N - 2`: the positions before it.
    fn early(&mut self, chain: &Chain<'_, T>, sink: &mut MarginalSink<'_, T>) {
        for t in 0..chain.order.saturating_sub(2) {
            // y_0..y_t: sum over the N - 2 - t labels after t.
            let block = chain.sizes[chain.order - 2 - t];
            let prefix: Vec<T> = self
                .marg
                .chunks_exact(block)
                .map(|c| c.iter().fold(T::ZERO, |a, &x| a + x))
                .collect();
            sink.emit(chain, t, t + 1, &prefix, &mut self.folds);
        }
    }
}

/// What a call shares between its blocks: the table weights per tier.
pub(crate) struct Prepared {
    tables: Vec<f64>,
    single: Option<Weights<f32>>,
    double: OnceLock<Weights<f64>>,
}

/// The tiers' weights, or `None` when the scaled passes do not apply
/// (`scaled::applies`) or a table holds NaN or `+inf` (log space then).
pub(crate) fn prepare<T: CrfFloat>(chain: &Chain<'_, T>) -> Option<Prepared> {
    if !applies(chain) {
        return None;
    }
    let tables = combined_tables(chain)?;
    let prefixes = chain.sizes[chain.order - 2];
    let single = (TypeId::of::<T>() == TypeId::of::<f32>())
        .then(|| Weights::<f32>::new(&tables, chain.labels, prefixes))
        .filter(|w| w.usable);
    Some(Prepared {
        tables,
        single,
        double: OnceLock::new(),
    })
}

/// Sequences per block: fixed by the chain alone, so that the top-order
/// table's sums over a block's lanes are the same for every thread count;
/// at most 32, fewer when the kept messages (`len x L^(N-1)` per lane, in
/// f64 for the second tier) would pass 64 MiB.
pub(crate) fn block_size<T: CrfFloat>(chain: &Chain<'_, T>) -> usize {
    let per_lane = (chain.max_len.max(1) * chain.states * 8).max(1);
    ((64 << 20) / per_lane / 8 * 8).clamp(8, 32)
}

/// The scaled passes over the sequences of `range`: `weight` and `sinks`
/// per sequence of the range. Returns each sequence's `log Z` where it was
/// answered here (its marginals emitted when finite and its weight
/// nonzero; counts, NaN filling and the others are the caller's), and,
/// with `want_top`, the block's part of the top-order table's gradient.
pub(crate) fn solve_block<T: CrfFloat>(
    chain: &Chain<'_, T>,
    prep: &Prepared,
    range: Range<usize>,
    weight: &[f64],
    sinks: &mut [MarginalSink<'_, T>],
    want_top: bool,
) -> (Vec<Option<f64>>, Option<Vec<f64>>) {
    let first = range.start;
    let mut t = Tier {
        chain,
        ws: Workspace::new(chain),
        out: vec![f64::NAN; range.len()],
        answered: vec![false; range.len()],
        weight,
        first,
        top: want_top.then(|| vec![0.0; chain.ngrams]),
    };
    let mut todo: Vec<usize> = range.filter(|&b| chain.lengths[b] >= chain.order).collect();
    if let Some(weights) = &prep.single {
        todo = t.run(weights, &todo, sinks);
    }
    if !todo.is_empty() {
        let prefixes = chain.sizes[chain.order - 2];
        let weights = prep
            .double
            .get_or_init(|| Weights::new(&prep.tables, chain.labels, prefixes));
        if weights.usable {
            t.run(weights, &todo, sinks);
        }
    }
    let log_z = t
        .out
        .iter()
        .zip(&t.answered)
        .map(|(&z, &a)| a.then_some(z))
        .collect();
    (log_z, t.top)
}

/// The state of [`solve_block`].
struct Tier<'c, 'a, T> {
    chain: &'c Chain<'a, T>,
    ws: Workspace<T>,
    out: Vec<f64>,
    answered: Vec<bool>,
    weight: &'c [f64],
    first: usize,
    top: Option<Vec<f64>>,
}

impl<T: CrfFloat> Tier<'_, '_, T> {
    /// Forward with the messages kept, then backward; returns the
    /// sequences left for the next tier.
    fn run<A: Acc>(
        &mut self,
        weights: &Weights<A>,
        todo: &[usize],
        sinks: &mut [MarginalSink<'_, T>],
    ) -> Vec<usize> {
        let (chain, first) = (self.chain, self.first);
        let mut rec = Record::default();
        let mut left = run_tier(
            chain,
            weights,
            todo,
            &mut self.ws,
            &mut self.out,
            first,
            Some(&mut rec),
        );
        let weight: Vec<f64> = rec.lanes.iter().map(|&b| self.weight[b - first]).collect();
        let mut wanted: Vec<bool> = rec
            .lanes
            .iter()
            .map(|&b| {
                !left.contains(&b)
                    && self.out[b - first].is_finite()
                    && self.weight[b - first] != 0.0
            })
            .collect();
        let mut m = self.top.as_ref().map(|_| vec![0.0; chain.ngrams]);
        let bad = backward_tier(
            chain,
            weights,
            &rec,
            &wanted,
            &weight,
            sinks,
            first,
            m.as_deref_mut(),
        );
        if !bad.is_empty() {
            // Their partial sums are in m and their sinks: clear m and
            // every lane's table sums (held nothing before this tier), and
            // run the others again (each lane is computed alone, so they
            // come out the same and none is tainted this time).
            for &b in &rec.lanes {
                for table in sinks[b - first].tables.iter_mut().flatten() {
                    table.fill(0.0);
                }
            }
            for (want, b) in wanted.iter_mut().zip(&rec.lanes) {
                *want &= !bad.contains(b);
            }
            if let Some(m) = m.as_mut() {
                m.fill(0.0);
            }
            let again = backward_tier(
                chain,
                weights,
                &rec,
                &wanted,
                &weight,
                sinks,
                first,
                m.as_deref_mut(),
            );
            assert!(again.is_empty(), "lanes are independent");
            left.extend(&bad);
            left.sort_unstable();
        }
        if let (Some(top), Some(m)) = (self.top.as_mut(), m) {
            for ((o, &e), &s) in top.iter_mut().zip(&weights.plain).zip(&m) {
                *o += e.to_f64() * s;
            }
        }
        for &b in &rec.lanes {
            self.answered[b - first] = !left.contains(&b);
        }
        left
    }
}
