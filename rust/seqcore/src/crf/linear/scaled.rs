//! The scaled forward-backward: probabilities instead of log-scores.
//!
//! A log-space forward needs an `exp` for every transition at every step.
//! Here the transition scores are exponentiated once, `E = exp(T - max T)`,
//! and each step is a vector-matrix product:
//! `alpha_t = (alpha_{t-1} E) * w_t` with `w_t = exp(e_t - max_j e_t)`,
//! rescaled by a power of two (exact: only the exponents change) that keeps
//! its entries below `2 L` (see `forward`). The log of every factor taken
//! out is added to a running log-scale in f64. `-inf` scores become exact
//! zeros.
//!
//! # When the result is trusted
//!
//! Every product and sum here is of non-negative numbers, so rounding
//! errors stay relative (no cancellation) as long as nothing underflows.
//! The kernels make sure that nothing does, or report [`Tainted`]:
//!
//! * a finite score whose weight `exp` flushes to 0, or a finite transition
//!   or end score more than the type's range below the largest one;
//! * a nonzero entry of `alpha` (or of the backward vector times `w`) below
//!   `a_min = TINY / (smallest nonzero transition or end weight)`: then
//!   every product in the next vector-matrix step is a normal number;
//! * `sum_i alpha_i beta_i` below `D_MIN` (the divisor of the marginals).
//!
//! Without any of these, every zero is an exact structural zero (a path
//! through a `-inf` score) and every other value carries only relative
//! rounding error. A tainted sequence is redone in a wider accumulator
//! (f32 -> f64) or finally in log space (`logspace.rs`), so a sequence is
//! only ever answered by a tier that did not underflow.

use std::f64::consts::LN_2;

use super::float::internal::Acc;
use super::inputs::LinearCrf;
use super::kernels::{dot, max_row};
use super::CrfFloat;

/// The sequence underflowed in this accumulator type: redo it in a wider one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tainted;

/// Transition and end weights of one accumulator type, shared by all
/// sequences of a call.
pub(super) struct Scaled<A> {
    pub labels: usize,
    /// Row length: `labels` rounded up to whole vectors (padding is zero).
    pub stride: usize,
    /// `exp(T[i][j] - t_shift)` at `i * stride + j`.
    pub trans: Vec<A>,
    /// The same, transposed: at `j * stride + i`.
    pub trans_t: Vec<A>,
    /// `exp(end[j] - end_shift)`.
    pub end: Vec<A>,
    pub t_shift: f64,
    pub end_shift: f64,
    /// Smallest nonzero entry allowed in a vector multiplied by `trans`,
    /// `trans_t` or `end`.
    pub a_min: A,
    /// False when a finite transition or end score underflows in `A`: every
    /// sequence then needs a wider type.
    pub usable: bool,
}

impl<A: Acc> Scaled<A> {
    pub(super) fn new<T: CrfFloat>(crf: &LinearCrf<'_, T>) -> Self {
        let labels = crf.num_labels();
        let stride = labels.div_ceil(A::LANES) * A::LANES;
        let finite_max = |x: &[T]| {
            let max = x
                .iter()
                .map(|v| v.to_f64())
                .fold(f64::NEG_INFINITY, f64::max);
            if max == f64::NEG_INFINITY {
                0.0
            } else {
                max
            }
        };
        let t_shift = finite_max(crf.transitions());
        let end_shift = finite_max(crf.end());
        let weight = |score: T, shift: f64| A::from_f64(score.to_f64() - shift).exp_lanes();
        let mut trans = vec![A::ZERO; labels * stride];
        for (row, scores) in trans
            .chunks_exact_mut(stride)
            .zip(crf.transitions().chunks_exact(labels))
        {
            for (w, &score) in row.iter_mut().zip(scores) {
                *w = weight(score, t_shift);
            }
        }
        let mut trans_t = vec![A::ZERO; labels * stride];
        for i in 0..labels {
            for j in 0..labels {
                trans_t[j * stride + i] = trans[i * stride + j];
            }
        }
        let mut end = vec![A::ZERO; stride];
        for (e, &score) in end.iter_mut().zip(crf.end()) {
            *e = weight(score, end_shift);
        }
        // A finite score whose weight flushed to zero makes the type
        // unusable; the smallest weight sets `a_min`.
        let mut usable = true;
        let mut smallest = A::ONE;
        let weights = trans.chunks_exact(stride).flat_map(|row| &row[..labels]);
        let scores = crf.transitions().iter();
        for (&w, &score) in weights.chain(&end[..labels]).zip(scores.chain(crf.end())) {
            usable &= !(w == A::ZERO && score > T::NEG_INF);
            if w > A::ZERO && w < smallest {
                smallest = w;
            }
        }
        Self {
            labels,
            stride,
            trans,
            trans_t,
            end,
            t_shift,
            end_shift,
            a_min: A::TINY / smallest,
            usable,
        }
    }
}

/// Scratch rows of one sequence (reused across tiers of the same type).
pub(super) struct Buffers<A> {
    /// Emission weights `exp(e_t - m_t)`, one padded row per position.
    w: Vec<A>,
    /// The shifts `m_t` (the start score is folded into position 0).
    m: Vec<f64>,
    /// Scaled forward vectors, one row per position (or two, rolling).
    alpha: Vec<A>,
    /// `w_t beta_t / D_t`, the right factor of the edge marginals.
    u: Vec<A>,
    rows: [Vec<A>; 3],
    /// `sum_t alpha_{t-1} u_t^T`, padded.
    edge_sum: Vec<A>,
}

impl<A: Acc> Buffers<A> {
    /// Rows for a sequence of `len` positions: for the log-partition alone
    /// (`posterior` false), for marginals, and with `edge_sum` for the sum
    /// of the edge marginals.
    pub(super) fn new(len: usize, stride: usize, posterior: bool, edge_sum: bool) -> Self {
        let stored = if posterior { len } else { 2 };
        Self {
            w: vec![A::ZERO; len * stride],
            m: vec![0.0; len],
            alpha: vec![A::ZERO; stored * stride],
            u: vec![A::ZERO; if edge_sum { len * stride } else { 0 }],
            rows: std::array::from_fn(|_| vec![A::ZERO; stride]),
            edge_sum: Vec::new(),
        }
    }
}

/// Where the edge marginals of a sequence go.
pub(super) enum Edges<'o, T> {
    None,
    /// One `(labels, labels)` block per step `t - 1 -> t`, `t = 1..len`.
    Steps(&'o mut [T]),
    /// Their sum over the steps, `(labels, labels)`.
    Sum(&'o mut [f64]),
}

impl<T> Edges<'_, T> {
    pub(super) fn reborrow(&mut self) -> Edges<'_, T> {
        match self {
            Edges::None => Edges::None,
            Edges::Steps(out) => Edges::Steps(out),
            Edges::Sum(out) => Edges::Sum(out),
        }
    }
}

/// Fills the emission weights of one sequence. `Ok(false)`: some position
/// has no label with a finite score, so no path exists.
#[inline(always)]
fn emission_weights<T: CrfFloat, A: Acc>(
    sc: &Scaled<A>,
    crf: &LinearCrf<'_, T>,
    rows: &[T],
    buf: &mut Buffers<A>,
) -> Result<bool, Tainted> {
    let (labels, stride) = (sc.labels, sc.stride);
    for (t, (w, scores)) in buf
        .w
        .chunks_exact_mut(stride)
        .zip(rows.chunks_exact(labels))
        .enumerate()
    {
        // Whole padded rows (padding -inf, weight 0): no scalar tail.
        let (x, padding) = w.split_at_mut(labels);
        padding.fill(A::NEG_INF);
        let m = if t == 0 {
            // The start score joins the first emission (summed in f64).
            for ((x, &e), &s) in x.iter_mut().zip(scores).zip(crf.start()) {
                *x = A::from_f64(e.to_f64() + s.to_f64());
            }
            let m = max_row(x);
            for x in x.iter_mut() {
                *x = *x - m;
            }
            m
        } else {
            // The maximum straight from the scores (no copy to read back).
            let m = A::from_f64(max_row(scores).to_f64());
            for (x, &e) in x.iter_mut().zip(scores) {
                *x = A::from_f64(e.to_f64()) - m;
            }
            m
        };
        if m == A::NEG_INF {
            return Ok(false);
        }
        buf.m[t] = m.to_f64();
    }
    // One long loop over every position: the exponentials of different
    // rows overlap (a loop per row is too short to hide their latency).
    let mut flushed = 0u32;
    for x in buf.w.iter_mut() {
        let weight = x.exp_lanes();
        flushed |= ((weight == A::ZERO) & (*x > A::NEG_INF)) as u32;
        *x = weight;
    }
    if flushed != 0 {
        return Err(Tainted);
    }
    Ok(true)
}

/// `dst = (src * scale) * w`; true when a product of nonzero factors fell
/// below `a_min` (an underflow, or a value too small to multiply safely).
#[inline(always)]
fn scale_row<A: Acc>(src: &[A], scale: A, w: &[A], dst: &mut [A], a_min: A) -> bool {
    let mut low = 0u32;
    for ((d, &s), &w) in dst.iter_mut().zip(src).zip(w) {
        let a = (s * scale) * w;
        *d = a;
        low |= ((a < a_min) & (s > A::ZERO) & (w > A::ZERO)) as u32;
    }
    low != 0
}

/// The forward pass: `Ok(None)` when no path exists, else the log-partition
/// and `z = sum_j alpha_{len-1, j} end_j` in scaled units. With `store`,
/// row `t` of `buf.alpha` keeps `alpha_t`.
///
/// `alpha_t = (alpha_{t-1} E) * 2^-k * w_t` with `2^k` the power of two
/// below `max alpha_{t-1}`: the maximum comes from the vector the product
/// starts from, so it is found while the product runs instead of delaying
/// the next step (entries stay below `2 L`).
#[inline(always)]
fn forward<A: Acc>(
    sc: &Scaled<A>,
    buf: &mut Buffers<A>,
    len: usize,
    store: bool,
) -> Result<Option<(f64, A)>, Tainted> {
    let (labels, stride) = (sc.labels, sc.stride);
    let row = |t: usize| if store { t } else { t & 1 } * stride;
    let first = &mut buf.alpha[..stride];
    first.copy_from_slice(&buf.w[..stride]);
    if first.iter().any(|&a| a > A::ZERO && a < sc.a_min) {
        return Err(Tainted);
    }
    let mut log_scale = buf.m[0];
    let mut exponents = 0i64;
    let s = &mut buf.rows[0];
    for t in 1..len {
        let (before, after) = buf.alpha.split_at_mut(row(t).max(row(t - 1)));
        let (prev, cur) = if row(t) > row(t - 1) {
            (&before[row(t - 1)..][..stride], &mut after[..stride])
        } else {
            (&after[..stride], &mut before[row(t)..][..stride])
        };
        let top = max_row(prev);
        if top == A::ZERO {
            // Every path has ended: the zeros are exact (an underflow would
            // have been reported when the row was formed).
            return Ok(None);
        }
        A::vec_mat(&prev[..labels], &sc.trans, stride, s);
        let k = top.exponent();
        let w = &buf.w[t * stride..][..stride];
        if scale_row(s, A::pow2(-k), w, cur, sc.a_min) {
            return Err(Tainted);
        }
        log_scale += buf.m[t] + sc.t_shift;
        exponents += k as i64;
    }
    let z = dot(&buf.alpha[row(len - 1)..][..stride], &sc.end);
    if z == A::ZERO {
        return Ok(None);
    }
    let log_z = log_scale + exponents as f64 * LN_2 + sc.end_shift + z.to_f64().ln();
    Ok(Some((log_z, z)))
}

/// The log-partition of one non-empty sequence (`-inf` when no path exists).
#[inline(always)]
pub(super) fn log_partition<T: CrfFloat, A: Acc>(
    sc: &Scaled<A>,
    crf: &LinearCrf<'_, T>,
    rows: &[T],
    buf: &mut Buffers<A>,
) -> Result<f64, Tainted> {
    let len = rows.len() / sc.labels;
    if !emission_weights(sc, crf, rows, buf)? {
        return Ok(f64::NEG_INFINITY);
    }
    Ok(forward(sc, buf, len, false)?.map_or(f64::NEG_INFINITY, |(log_z, _)| log_z))
}

/// Log-partition, node marginals (written to `nodes`, `(len, labels)`) and
/// edge marginals of one non-empty sequence. When no path exists it returns
/// `-inf` and leaves the outputs for the caller to clear.
#[inline(always)]
pub(super) fn posterior<T: CrfFloat, A: Acc>(
    sc: &Scaled<A>,
    crf: &LinearCrf<'_, T>,
    rows: &[T],
    buf: &mut Buffers<A>,
    nodes: &mut [T],
    mut edges: Edges<'_, T>,
) -> Result<f64, Tainted> {
    let (labels, stride) = (sc.labels, sc.stride);
    let len = rows.len() / labels;
    if !emission_weights(sc, crf, rows, buf)? {
        return Ok(f64::NEG_INFINITY);
    }
    let Some((log_z, z)) = forward(sc, buf, len, true)? else {
        return Ok(f64::NEG_INFINITY);
    };
    backward(sc, buf, len, z, nodes, edges.reborrow())?;
    if let Edges::Sum(out) = edges {
        // sum_t xi_t[i][j] = E[i][j] * sum_t alpha_{t-1}[i] u_t[j].
        buf.edge_sum.clear();
        buf.edge_sum.resize(stride * stride, A::ZERO);
        A::at_b(&buf.alpha, &buf.u, stride, len - 1, &mut buf.edge_sum);
        for i in 0..labels {
            for j in 0..labels {
                let e = sc.trans[i * stride + j];
                out[i * labels + j] = (e * buf.edge_sum[i * stride + j]).to_f64();
            }
        }
    }
    Ok(log_z)
}

/// The backward pass over stored `alpha`: writes node marginals, and edge
/// marginals per step or the factors `u_t` of their sum (`buf.u`, row t-1).
///
/// `v_t = w_t * beta_t` (scaled) is the vector multiplied by `E^T`, giving
/// `r = E v_t`, proportional to `beta_{t-1}`; then
/// `v_{t-1} = (r * 2^-k) * w_{t-1}` with `2^k` below `max v_t`, as in the
/// forward pass. With `D = alpha_{t-1} . r`:
/// `P(y_{t-1} = i) = alpha_{t-1}[i] r[i] / D` and
/// `P(y_{t-1} = i, y_t = j) = alpha_{t-1}[i] E[i][j] u_t[j]`, `u_t = v_t / D`.
#[inline(always)]
fn backward<T: CrfFloat, A: Acc>(
    sc: &Scaled<A>,
    buf: &mut Buffers<A>,
    len: usize,
    z: A,
    nodes: &mut [T],
    mut edges: Edges<'_, T>,
) -> Result<(), Tainted> {
    let (labels, stride) = (sc.labels, sc.stride);
    if z < A::D_MIN {
        return Err(Tainted);
    }
    let inv = A::ONE / z;
    let last = &buf.alpha[(len - 1) * stride..][..stride];
    for ((n, &a), &e) in nodes[(len - 1) * labels..]
        .iter_mut()
        .zip(last)
        .zip(&sc.end)
    {
        *n = T::from_f64(((a * e) * inv).to_f64());
    }
    let [r, v, scratch] = &mut buf.rows;
    r.copy_from_slice(&sc.end);
    let mut scale = A::ONE;
    for t in (1..len).rev() {
        let w = &buf.w[t * stride..][..stride];
        if scale_row(r, scale, w, v, sc.a_min) {
            return Err(Tainted);
        }
        let top = max_row(v);
        A::vec_mat(&v[..labels], &sc.trans_t, stride, r);
        if top == A::ZERO {
            return Err(Tainted);
        }
        scale = A::pow2(-top.exponent());
        let prev = &buf.alpha[(t - 1) * stride..][..stride];
        let d = dot(prev, r);
        if d < A::D_MIN {
            return Err(Tainted);
        }
        let inv = A::ONE / d;
        let node_row = &mut nodes[(t - 1) * labels..][..labels];
        for ((n, &a), &r) in node_row.iter_mut().zip(prev).zip(r.iter()) {
            *n = T::from_f64(((a * r) * inv).to_f64());
        }
        // Without a sum to form, the scratch row holds u_t.
        let u = if buf.u.is_empty() {
            &mut scratch[..]
        } else {
            &mut buf.u[(t - 1) * stride..][..stride]
        };
        for (u, &v) in u.iter_mut().zip(v.iter()) {
            *u = v * inv;
        }
        if let Edges::Steps(out) = &mut edges {
            let block = &mut out[(t - 1) * labels * labels..][..labels * labels];
            for (i, out_row) in block.chunks_exact_mut(labels).enumerate() {
                let a = prev[i];
                let e = &sc.trans[i * stride..][..labels];
                for ((o, &e), &u) in out_row.iter_mut().zip(e).zip(u.iter()) {
                    *o = T::from_f64(((a * e) * u).to_f64());
                }
            }
        }
    }
    Ok(())
}
