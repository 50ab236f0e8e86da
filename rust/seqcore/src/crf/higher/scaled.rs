//! The scaled-probability forward over a block of sequences, for chains
//! whose top-order scores come from a table only (no order-N factor).
//!
//! Then every full step (`t >= N - 1`) factors as
//!
//! ```text
//! alpha_t[j] = w_t[j] * sum over a of alpha_{t-1}[a k + b] * E[a L^(N-1) + j]
//! E[g]   = exp(tables(g) - tmax)         tables(g) = sum over n of table_n[g mod L^n]
//! w_t[j] = exp(F_t[j] - m_t)             F_t[j] = sum over n < N of factor_n[t, j mod L^n]
//! ```
//!
//! (`j = b L + c` the target state): the `L^N` table weights are
//! exponentiated once per call, the lower-order factors (`L^(N-1)` per
//! position, a factor `L` fewer) once per position, and the step is plain
//! multiply-adds, batched over the block's sequences so that each table
//! weight is reused by all of them (`gemm`). Each lane is rescaled by a
//! power of two after every step (exact: only exponents change) and the
//! logs of everything taken out are summed in f64. The `N - 1` positions
//! before the first full step run in log space (`forward::early_step`) and
//! are exponentiated once.
//!
//! # When the result is trusted
//!
//! The rules of the first-order `linear::scaled`: every product and sum is
//! of non-negative numbers, so rounding errors stay relative as long as
//! nothing underflows, and a lane is *tainted* (redone) when something
//! could have:
//!
//! * a finite table score whose weight is not a normal number (then the
//!   whole tier is unusable), or a finite lower-order score whose weight
//!   at a position is not;
//! * a nonzero message below `a_min = TINY / (smallest nonzero table
//!   weight)`: above it, every product of the next step is normal.
//!
//! Without these, every zero is a structural one (a `-inf` score) and
//! every other value carries only relative rounding error. A tainted
//! sequence is redone with f64 accumulators (f32 scores start in f32),
//! then in log space, which is exact for any magnitudes: scores that span
//! more than the accumulator's range (about 87 nats in f32, 708 in f64)
//! end up there. NaN or `+inf` in a table sends the whole call to log
//! space; a NaN factor makes its lane's maximum NaN and the lane's result
//! NaN, as in log space.

use std::any::TypeId;
use std::f64::consts::LN_2;
use std::ops::Range;
use std::sync::OnceLock;

use super::float::CrfFloat;
use super::forward::{early_step, forward, Workspace};
use super::gemm::{pack_table, pack_table_transposed, Acc, Step};
use super::inputs::Chain;
use super::lanes::{is_nan, row_max};
use super::weights::{lower_weights, weight_prefixes, Outcome};
use crate::parallel;
use crate::simd::widest;

/// The most sequences in one block (lanes of the product).
const BLOCK: usize = 64;

/// Whether [`log_partition`] answers this chain: order 2 to 4 with no
/// factor of the full order.
pub(crate) fn applies<T: CrfFloat>(chain: &Chain<'_, T>) -> bool {
    chain.order >= 2 && !chain.has_factor(chain.order)
}

/// The combined table score of every full n-gram in f64, or `None` when a
/// table holds NaN or `+inf`.
pub(crate) fn combined_tables<T: CrfFloat>(chain: &Chain<'_, T>) -> Option<Vec<f64>> {
    let mut out = vec![0.0; chain.ngrams];
    for n in 1..=chain.order {
        if let Some(table) = chain.table(n) {
            if table.iter().any(|&x| is_nan(x) || x == T::INFINITY) {
                return None;
            }
            for block in out.chunks_exact_mut(chain.sizes[n]) {
                for (o, &x) in block.iter_mut().zip(table) {
                    *o += x.to_f64();
                }
            }
        }
    }
    Some(out)
}

/// The table weights of one accumulator type, shared by a call's blocks.
pub(crate) struct Weights<A> {
    /// `exp(tables - tmax)`, packed for the tiles.
    packed: Vec<A>,
    /// The same packed for the backward product, and in index order.
    pub transposed: Vec<A>,
    pub plain: Vec<A>,
    tmax: f64,
    pub a_min: A,
    /// False when a finite table score has no normal weight in `A`.
    pub usable: bool,
}

impl<A: Acc> Weights<A> {
    pub fn new(tables: &[f64], labels: usize, prefixes: usize) -> Self {
        let tmax = tables.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let tmax = if tmax == f64::NEG_INFINITY { 0.0 } else { tmax };
        let weights = exponentiate::<A>(tables, tmax);
        let mut usable = true;
        let mut smallest = A::ONE;
        for (&e, &x) in weights.iter().zip(tables) {
            usable &= !(e < A::TINY && x > f64::NEG_INFINITY);
            if e > A::ZERO && e < smallest {
                smallest = e;
            }
        }
        Self {
            packed: pack_table(&weights, labels, prefixes),
            transposed: pack_table_transposed(&weights, labels, prefixes),
            plain: weights,
            tmax,
            a_min: A::from_f64(A::TINY.to_f64() / smallest.to_f64()),
            usable,
        }
    }
}

widest!(
    /// `exp(x - tmax)` of every table score, compiled for FMA where the
    /// processor has it (else each `mul_add` of the `exp` is a library
    /// call).
    fn exponentiate<A: Acc>(tables: &[f64], tmax: f64) -> Vec<A> => exponentiate_body
);

#[inline(always)]
fn exponentiate_body<A: Acc>(tables: &[f64], tmax: f64) -> Vec<A> {
    // A plain loop, not `collect`: `collect`'s code is not inlined here,
    // so it would be compiled without FMA.
    let mut out = vec![A::ZERO; tables.len()];
    for (o, &x) in out.iter_mut().zip(tables) {
        *o = A::from_f64(x - tmax).exp_lanes();
    }
    out
}

/// `log Z` of every sequence by the scaled forward, or `None` when the
/// chain is not for it (see [`applies`]) or a table is NaN or `+inf`.
pub(crate) fn log_partition<T: CrfFloat>(chain: &Chain<'_, T>) -> Option<Vec<T>> {
    if !applies(chain) {
        return None;
    }
    let tables = combined_tables(chain)?;
    let prefixes = chain.sizes[chain.order - 2];
    let single = (TypeId::of::<T>() == TypeId::of::<f32>())
        .then(|| Weights::<f32>::new(&tables, chain.labels, prefixes))
        .filter(|w| w.usable);
    let double = OnceLock::new();
    // Contiguous blocks, one or more per thread. A sequence's result does
    // not depend on its block, so any split gives the same bits.
    let size = chain
        .batch
        .div_ceil(parallel::num_threads().max(1))
        .clamp(1, BLOCK);
    let blocks = chain.batch.div_ceil(size);
    let parts = parallel::map_tasks(blocks, |i| {
        let range = i * size..chain.batch.min((i + 1) * size);
        let double = || double.get_or_init(|| Weights::new(&tables, chain.labels, prefixes));
        solve_block(chain, range, single.as_ref(), double)
    });
    Some(parts.concat())
}

/// `log Z` of the sequences in `range`: each by the first tier that does
/// not taint it (f32 accumulators, f64, log space).
fn solve_block<'w, T: CrfFloat>(
    chain: &Chain<'_, T>,
    range: Range<usize>,
    single: Option<&Weights<f32>>,
    double: impl FnOnce() -> &'w Weights<f64>,
) -> Vec<T> {
    let first = range.start;
    let mut out = vec![0.0; range.len()];
    let mut ws = Workspace::new(chain);
    // Without a full step there is nothing to batch.
    let (mut todo, short): (Vec<usize>, Vec<usize>) =
        range.partition(|&b| chain.lengths[b] >= chain.order);
    for b in short {
        out[b - first] = forward(chain, b, &mut ws, None);
    }
    if let Some(weights) = single {
        todo = run_tier(chain, weights, &todo, &mut ws, &mut out[..], first, None);
    }
    if !todo.is_empty() {
        let weights = double();
        if weights.usable {
            todo = run_tier(chain, weights, &todo, &mut ws, &mut out[..], first, None);
        }
    }
    for b in todo {
        out[b - first] = forward(chain, b, &mut ws, None);
    }
    out.into_iter().map(T::from_f64).collect()
}

/// The forward messages of a tier, kept for the backward pass
/// (`scaled_backward`).
pub(crate) struct Record<A> {
    /// The tier's sequences in lane order (by decreasing length).
    pub lanes: Vec<usize>,
    /// Lanes per state row.
    pub sp: usize,
    /// `(len - N + 2, L^(N-1), sp)`: the messages after each position
    /// from `N - 2` on (the first is the exponentiated log-space start),
    /// each lane scaled as the forward left it.
    pub alphas: Vec<A>,
}

impl<A> Default for Record<A> {
    fn default() -> Self {
        Self {
            lanes: Vec::new(),
            sp: 0,
            alphas: Vec::new(),
        }
    }
}

/// Where a lane stands.
#[derive(Clone, Copy, PartialEq)]
enum Lane {
    Running,
    /// `-inf` (no labelling left) or NaN, known before the end.
    Done(f64),
    Tainted,
}

/// Runs `seqs` (all at least `N` long) through the scaled forward with
/// accumulator `A`, writes the results of the untainted ones to
/// `out[b - first]`, and returns the tainted ones.
pub(crate) fn run_tier<T: CrfFloat, A: Acc>(
    chain: &Chain<'_, T>,
    weights: &Weights<A>,
    seqs: &[usize],
    ws: &mut Workspace<T>,
    out: &mut [f64],
    first: usize,
    record: Option<&mut Record<A>>,
) -> Vec<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn wide<T: CrfFloat, A: Acc>(
            chain: &Chain<'_, T>,
            weights: &Weights<A>,
            seqs: &[usize],
            ws: &mut Workspace<T>,
            out: &mut [f64],
            first: usize,
            record: Option<&mut Record<A>>,
        ) -> Vec<usize> {
            tier_body(chain, weights, seqs, ws, out, first, record)
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the processor has the features just detected.
            return unsafe { wide(chain, weights, seqs, ws, out, first, record) };
        }
    }
    tier_body(chain, weights, seqs, ws, out, first, record)
}

#[inline(always)]
fn tier_body<T: CrfFloat, A: Acc>(
    chain: &Chain<'_, T>,
    weights: &Weights<A>,
    seqs: &[usize],
    ws: &mut Workspace<T>,
    out: &mut [f64],
    first: usize,
    record: Option<&mut Record<A>>,
) -> Vec<usize> {
    if seqs.is_empty() {
        return Vec::new();
    }
    let (l, states, order) = (chain.labels, chain.states, chain.order);
    // Lanes in order of decreasing length: at each position the sequences
    // still running are a prefix, and the product covers only their vectors.
    let mut lanes = seqs.to_vec();
    lanes.sort_by_key(|&b| std::cmp::Reverse(chain.lengths[b]));
    let len = |s: usize| chain.lengths[lanes[s]];
    let sp = lanes.len().div_ceil(A::LANES) * A::LANES;
    let mut prev = Aligned::<A>::new(states * sp);
    let mut next = Aligned::<A>::new(states * sp);
    let mut w = Aligned::<A>::new(states * sp);
    let mut rows = vec![A::ZERO; A::LANES * chain.sizes[1..order - 1].iter().sum::<usize>()];
    let mut p = vec![A::ZERO; sp];
    let mut top = vec![A::ZERO; sp];
    let mut low = vec![0_u32; sp];
    let mut state = vec![Lane::Running; sp];
    // log of what was taken out of each lane: f64 shifts, and powers of two.
    let mut shift = vec![0.0_f64; sp];
    let mut twos = vec![0_i64; sp];

    for s in 0..lanes.len() {
        match early(chain, lanes[s], ws) {
            Err(result) => state[s] = Lane::Done(result),
            Ok(offset) => {
                shift[s] = offset;
                let mut under = false;
                let column = prev.get_mut().iter_mut().skip(s).step_by(sp);
                for (a, &x) in column.zip(&ws.prev) {
                    let e = A::from_f64(x.to_f64()).exp_lanes();
                    under |= e < weights.a_min && x > T::NEG_INFINITY;
                    *a = e;
                    top[s] = if e > top[s] { e } else { top[s] };
                }
                if under {
                    state[s] = Lane::Tainted;
                }
            }
        }
    }
    let mut record = record;
    if let Some(r) = record.as_deref_mut() {
        let at = states * sp;
        r.alphas.clear();
        r.alphas.resize((len(0) + 2 - order) * at, A::ZERO);
        r.alphas[..at].copy_from_slice(prev.get());
        r.lanes.clone_from(&lanes);
        r.sp = sp;
    }
    let lower = (1..order).any(|n| chain.has_factor(n));
    if !lower {
        w.get_mut().fill(A::ONE);
    }
    let mut active = lanes.len();
    for t in order - 1..len(0) {
        while len(active - 1) <= t {
            active -= 1;
        }
        let nvec = active.div_ceil(A::LANES);
        // Rescale each lane by the power of two below its maximum.
        for s in 0..nvec * A::LANES {
            p[s] = A::ZERO;
            if s >= active || state[s] != Lane::Running {
                continue;
            }
            if is_nan(top[s]) {
                state[s] = Lane::Done(f64::NAN);
            } else if top[s] > A::ZERO {
                let k = top[s].exponent();
                p[s] = A::pow2(-k);
                twos[s] += k as i64;
            } else {
                state[s] = Lane::Done(f64::NEG_INFINITY);
            }
        }
        if lower {
            for group in 0..nvec {
                let lanes_state = Group {
                    lanes: &lanes,
                    active,
                    state: &mut state,
                    p: &mut p,
                    shift: &mut shift,
                };
                if A::LANES == 8 {
                    group_weights::<T, A, 8>(
                        chain,
                        lanes_state,
                        t,
                        group,
                        w.get_mut(),
                        sp,
                        &mut rows,
                    );
                } else {
                    group_weights::<T, A, 4>(
                        chain,
                        lanes_state,
                        t,
                        group,
                        w.get_mut(),
                        sp,
                        &mut rows,
                    );
                }
            }
        }
        top.fill(A::ZERO);
        A::step(&mut Step {
            labels: l,
            prefixes: chain.sizes[order - 2],
            sp,
            nvec,
            table: &weights.packed,
            prev: prev.get(),
            w: w.get(),
            w_prefixes: if lower {
                weight_prefixes(chain)
            } else {
                chain.sizes[order - 2]
            },
            p: &p,
            a_min: weights.a_min,
            next: next.get_mut(),
            top: &mut top,
            low: &mut low,
            backward: false,
        });
        for s in 0..active {
            if low[s] != 0 && state[s] == Lane::Running {
                state[s] = Lane::Tainted;
            }
        }
        std::mem::swap(&mut prev, &mut next);
        if let Some(r) = record.as_deref_mut() {
            let at = states * sp;
            r.alphas[(t + 2 - order) * at..][..at].copy_from_slice(prev.get());
        }
        // Lanes whose last position this was.
        let mut ending = active;
        while ending > 0 && len(ending - 1) == t + 1 {
            ending -= 1;
            if state[ending] == Lane::Running {
                let steps = (t + 2 - order) as f64;
                let total: f64 = prev
                    .get()
                    .iter()
                    .skip(ending)
                    .step_by(sp)
                    .map(|a| a.to_f64())
                    .sum();
                let log_z =
                    shift[ending] + steps * weights.tmax + twos[ending] as f64 * LN_2 + total.ln();
                state[ending] = Lane::Done(log_z);
            }
        }
    }
    let mut tainted = Vec::new();
    for (s, &b) in lanes.iter().enumerate() {
        match state[s] {
            Lane::Done(result) => out[b - first] = result,
            Lane::Tainted => tainted.push(b),
            Lane::Running => unreachable!("every lane ends"),
        }
    }
    tainted.sort_unstable();
    tainted
}

/// The positions before `N - 1` of sequence `b` in log space: leaves the
/// messages (maximum 0) in `ws.prev` and returns the shift taken out, or
/// the result when no labelling is left (`-inf`) or a score is NaN.
#[inline(always)]
fn early<T: CrfFloat>(chain: &Chain<'_, T>, b: usize, ws: &mut Workspace<T>) -> Result<f64, f64> {
    ws.prev.fill(T::NEG_INFINITY);
    ws.prev[0] = T::ZERO;
    let mut offset = 0.0;
    for t in 0..chain.order - 1 {
        let n = chain.fill_scores(b, t, &mut ws.scores);
        early_step(ws, chain, n);
        let top = row_max(&ws.next);
        if is_nan(top) || top == T::NEG_INFINITY {
            return Err(top.to_f64());
        }
        for x in ws.next.iter_mut() {
            *x = *x - top;
        }
        offset += top.to_f64();
        std::mem::swap(&mut ws.prev, &mut ws.next);
    }
    Ok(offset)
}

/// The lanes of a block and where each stands, for [`group_weights`].
struct Group<'g, A> {
    lanes: &'g [usize],
    active: usize,
    state: &'g mut [Lane],
    p: &'g mut [A],
    shift: &'g mut [f64],
}

/// The lower-order weights of the lanes in vector `group` at position `t`
/// (see `weights`), and what they tell of each lane.
#[inline(always)]
fn group_weights<T: CrfFloat, A: Acc, const LN: usize>(
    chain: &Chain<'_, T>,
    g: Group<'_, A>,
    t: usize,
    group: usize,
    w: &mut [A],
    sp: usize,
    rows: &mut [A],
) {
    let g0 = group * LN;
    let seqs: [Option<usize>; LN] = std::array::from_fn(|q| {
        let s = g0 + q;
        (s < g.active && g.state[s] == Lane::Running).then(|| g.lanes[s])
    });
    let outcomes = lower_weights(chain, &seqs, t, w, sp, g0, rows);
    for (q, outcome) in outcomes.into_iter().enumerate() {
        let s = g0 + q;
        let lane = match outcome {
            Outcome::Shift(m) => {
                g.shift[s] += m;
                continue;
            }
            Outcome::Nan => Lane::Done(f64::NAN),
            Outcome::Dead => Lane::Done(f64::NEG_INFINITY),
            Outcome::Underflow => Lane::Tainted,
        };
        g.state[s] = lane;
        g.p[s] = A::ZERO;
    }
}

/// A buffer whose slice starts on a 64-byte boundary (a cache line), so
/// that vector loads of whole rows never straddle two lines.
struct Aligned<A> {
    data: Vec<A>,
    start: usize,
    len: usize,
}

impl<A: Acc> Aligned<A> {
    fn new(len: usize) -> Self {
        let extra = 64 / std::mem::size_of::<A>();
        let data = vec![A::ZERO; len + extra];
        let misaligned = (data.as_ptr() as usize % 64) / std::mem::size_of::<A>();
        let start = (extra - misaligned) % extra;
        Self { data, start, len }
    }

    fn get(&self) -> &[A] {
        &self.data[self.start..self.start + self.len]
    }

    fn get_mut(&mut self) -> &mut [A] {
        &mut self.data[self.start..self.start + self.len]
    }
}

/// One tier alone over every sequence with a full step: `Some(log Z)`, or
/// `None` where the tier is tainted or does not apply (tests).
#[cfg(test)]
pub(super) fn one_tier<T: CrfFloat>(chain: &Chain<'_, T>, single: bool) -> Vec<Option<f64>> {
    let tables = combined_tables(chain).unwrap();
    let prefixes = chain.sizes[chain.order - 2];
    let seqs: Vec<usize> = (0..chain.batch)
        .filter(|&b| chain.lengths[b] >= chain.order)
        .collect();
    let mut out = vec![f64::NAN; chain.batch];
    let mut ws = Workspace::new(chain);
    let tainted = if single {
        let weights = Weights::<f32>::new(&tables, chain.labels, prefixes);
        if !weights.usable {
            return vec![None; chain.batch];
        }
        run_tier(chain, &weights, &seqs, &mut ws, &mut out, 0, None)
    } else {
        let weights = Weights::<f64>::new(&tables, chain.labels, prefixes);
        if !weights.usable {
            return vec![None; chain.batch];
        }
        run_tier(chain, &weights, &seqs, &mut ws, &mut out, 0, None)
    };
    (0..chain.batch)
        .map(|b| (seqs.contains(&b) && !tainted.contains(&b)).then_some(out[b]))
        .collect()
}
