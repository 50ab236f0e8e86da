//! The last resort: forward-backward in log space, in f64.
//!
//! Exact up to rounding for any magnitudes, but it takes an `exp` per
//! transition per step, so it only runs for the rare sequence that the
//! scaled tiers reported as underflowing (`scaled.rs`).

use super::exp::exp_f64;
use super::inputs::LinearCrf;
use super::scaled::Edges;
use super::CrfFloat;

/// The parameters in f64.
pub(super) struct LogModel {
    labels: usize,
    /// `T[i][j]` at `i * labels + j`.
    trans: Vec<f64>,
    /// `T[i][j]` at `j * labels + i`.
    trans_t: Vec<f64>,
    start: Vec<f64>,
    end: Vec<f64>,
}

impl LogModel {
    pub(super) fn new<T: CrfFloat>(crf: &LinearCrf<'_, T>) -> Self {
        let labels = crf.num_labels();
        let trans: Vec<f64> = crf.transitions().iter().map(|x| x.to_f64()).collect();
        let mut trans_t = vec![0.0; labels * labels];
        for i in 0..labels {
            for j in 0..labels {
                trans_t[j * labels + i] = trans[i * labels + j];
            }
        }
        Self {
            labels,
            trans,
            trans_t,
            start: crf.start().iter().map(|x| x.to_f64()).collect(),
            end: crf.end().iter().map(|x| x.to_f64()).collect(),
        }
    }
}

/// `log sum_i exp(a[i] + b[i])`, `-inf` when every term is.
#[inline(always)]
fn log_sum_exp(a: &[f64], b: &[f64], scratch: &mut [f64]) -> f64 {
    let mut max = f64::NEG_INFINITY;
    for ((s, &a), &b) in scratch.iter_mut().zip(a).zip(b) {
        *s = a + b;
        max = if *s > max { *s } else { max };
    }
    if max == f64::NEG_INFINITY {
        return max;
    }
    let mut total = 0.0;
    for &s in scratch.iter() {
        total += exp_f64(s - max);
    }
    max + total.ln()
}

/// Log-forward vectors, one row per position.
#[inline(always)]
fn forward<T: CrfFloat>(lm: &LogModel, rows: &[T], alpha: &mut [f64], scratch: &mut [f64]) -> f64 {
    let l = lm.labels;
    let len = rows.len() / l;
    for (a, (&e, &s)) in alpha.iter_mut().zip(rows.iter().zip(&lm.start)) {
        *a = e.to_f64() + s;
    }
    for t in 1..len {
        let (before, after) = alpha.split_at_mut(t * l);
        let prev = &before[(t - 1) * l..];
        for (j, a) in after[..l].iter_mut().enumerate() {
            let incoming = log_sum_exp(prev, &lm.trans_t[j * l..][..l], scratch);
            *a = incoming + rows[t * l + j].to_f64();
        }
    }
    log_sum_exp(&alpha[(len - 1) * l..][..l], &lm.end, scratch)
}

/// The log-partition of one non-empty sequence.
pub(super) fn log_partition<T: CrfFloat>(lm: &LogModel, rows: &[T]) -> f64 {
    let l = lm.labels;
    let mut alpha = vec![0.0; rows.len()];
    let mut scratch = vec![0.0; l];
    forward(lm, rows, &mut alpha, &mut scratch)
}

/// Log-partition and marginals of one non-empty sequence, with the same
/// outputs as `scaled::posterior` (left for the caller to clear when no
/// path exists).
pub(super) fn posterior<T: CrfFloat>(
    lm: &LogModel,
    rows: &[T],
    nodes: &mut [T],
    mut edges: Edges<'_, T>,
) -> f64 {
    let l = lm.labels;
    let len = rows.len() / l;
    let mut alpha = vec![0.0; rows.len()];
    let mut scratch = vec![0.0; l];
    let log_z = forward(lm, rows, &mut alpha, &mut scratch);
    if log_z == f64::NEG_INFINITY {
        return log_z;
    }
    if let Edges::Sum(out) = &mut edges {
        out.fill(0.0);
    }
    // beta: log-scores from position t (excluded) to the end.
    let mut beta = lm.end.clone();
    let mut next = vec![0.0; l];
    let mut c = vec![0.0; l];
    let node_row = |t: usize, beta: &[f64], nodes: &mut [T]| {
        for ((n, &a), &b) in nodes[t * l..][..l]
            .iter_mut()
            .zip(&alpha[t * l..])
            .zip(beta)
        {
            *n = T::from_f64(exp_f64(a + b - log_z));
        }
    };
    node_row(len - 1, &beta, nodes);
    for t in (1..len).rev() {
        for ((c, &e), &b) in c.iter_mut().zip(&rows[t * l..][..l]).zip(&beta) {
            *c = e.to_f64() + b;
        }
        let prev = &alpha[(t - 1) * l..][..l];
        for i in 0..l {
            let trans = &lm.trans[i * l..][..l];
            next[i] = log_sum_exp(trans, &c, &mut scratch);
            let a = prev[i] - log_z;
            match &mut edges {
                Edges::None => {}
                Edges::Steps(out) => {
                    let block = &mut out[((t - 1) * l + i) * l..][..l];
                    for ((o, &tr), &c) in block.iter_mut().zip(trans).zip(&c) {
                        *o = T::from_f64(exp_f64(a + tr + c));
                    }
                }
                Edges::Sum(out) => {
                    for ((o, &tr), &c) in out[i * l..][..l].iter_mut().zip(trans).zip(&c) {
                        *o += exp_f64(a + tr + c);
                    }
                }
            }
        }
        std::mem::swap(&mut beta, &mut next);
        node_row(t - 1, &beta, nodes);
    }
    log_z
}
