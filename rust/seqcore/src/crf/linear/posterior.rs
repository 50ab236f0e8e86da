//! Log-partition and marginals: which tier answers each sequence, and the
//! public entry points.
//!
//! Tiers, tried in order until one finishes without underflow (see
//! `scaled.rs`): the scaled forward-backward accumulating in f32 (f32
//! scores only), the same in f64, and log space in f64. Each sequence is
//! answered by exactly one tier, whatever the thread count.

use std::sync::OnceLock;

use super::float::internal::Acc;
use super::inputs::LinearCrf;
use super::logspace::{self, LogModel};
use super::scaled::{self, Buffers, Edges, Scaled, Tainted};
use super::CrfFloat;
use crate::array::Array;
use crate::parallel::{self, SharedOutput};
use crate::simd::widest;

/// What [`LinearCrf::marginals`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Marginals<T> {
    /// `log Z` per sequence, `(batch,)`.
    pub log_partition: Vec<T>,
    /// `P(y_t = j)`, `(batch, max_len, L)`; zero at and beyond each length.
    pub nodes: Array<T>,
    /// `P(y_{t-1} = i, y_t = j)` at `[b, t - 1, i, j]`,
    /// `(batch, max(max_len - 1, 0), L, L)`; zero beyond each length.
    pub edges: Option<Array<T>>,
}

/// The parameters of one call in every form a tier needs (the wider ones
/// built on first use).
pub(super) struct Prepared<'c, 'a, T> {
    pub crf: &'c LinearCrf<'a, T>,
    /// Whether a parameter is NaN or `+inf`.
    pub bad: bool,
    single: Option<Scaled<f32>>,
    double: OnceLock<Scaled<f64>>,
    log: OnceLock<LogModel>,
}

impl<'c, 'a, T: CrfFloat> Prepared<'c, 'a, T> {
    pub(super) fn new(crf: &'c LinearCrf<'a, T>) -> Self {
        let bad = crf.parameters_bad();
        let single = (T::SINGLE && !bad)
            .then(|| Scaled::<f32>::new(crf))
            .filter(|sc| sc.usable);
        Self {
            crf,
            bad,
            single,
            double: OnceLock::new(),
            log: OnceLock::new(),
        }
    }

    fn double(&self) -> &Scaled<f64> {
        self.double.get_or_init(|| Scaled::new(self.crf))
    }

    fn log(&self) -> &LogModel {
        self.log.get_or_init(|| LogModel::new(self.crf))
    }

    /// `log Z` of sequence `b`: 0 when empty, `-inf` without an allowed
    /// path, NaN for unusable scores.
    pub(super) fn log_partition(&self, b: usize) -> f64 {
        let rows = self.crf.emissions(b);
        if rows.is_empty() {
            return 0.0;
        }
        if self.crf.sequence_bad(b, self.bad) {
            return f64::NAN;
        }
        let len = rows.len() / self.crf.num_labels();
        if let Some(sc) = &self.single {
            let mut buf = Buffers::new(len, sc.stride, false, false);
            if let Ok(log_z) = run_log_partition(sc, self.crf, rows, &mut buf) {
                return log_z;
            }
        }
        let sc = self.double();
        if sc.usable {
            let mut buf = Buffers::new(len, sc.stride, false, false);
            if let Ok(log_z) = run_log_partition(sc, self.crf, rows, &mut buf) {
                return log_z;
            }
        }
        logspace::log_partition(self.log(), rows)
    }

    /// `log Z` of sequence `b`, its node marginals in `nodes` (`(len, L)`
    /// at the front of the slice) and its edge marginals. Without an allowed
    /// path they are zero, for unusable scores NaN.
    pub(super) fn posterior(&self, b: usize, nodes: &mut [T], mut edges: Edges<'_, T>) -> f64 {
        let rows = self.crf.emissions(b);
        let labels = self.crf.num_labels();
        let len = rows.len() / labels;
        if len == 0 {
            return 0.0;
        }
        let fill = |value: T, nodes: &mut [T], edges: Edges<'_, T>| {
            nodes[..len * labels].fill(value);
            match edges {
                Edges::None => {}
                Edges::Steps(out) => out[..(len - 1) * labels * labels].fill(value),
                Edges::Sum(out) => out.fill(value.to_f64()),
            }
        };
        if self.crf.sequence_bad(b, self.bad) {
            fill(T::NAN, nodes, edges);
            return f64::NAN;
        }
        let sum = matches!(edges, Edges::Sum(_));
        let mut result = None;
        if let Some(sc) = &self.single {
            let mut buf = Buffers::new(len, sc.stride, true, sum);
            result = run_posterior(sc, self.crf, rows, &mut buf, nodes, edges.reborrow()).ok();
        }
        if result.is_none() {
            let sc = self.double();
            if sc.usable {
                let mut buf = Buffers::new(len, sc.stride, true, sum);
                result = run_posterior(sc, self.crf, rows, &mut buf, nodes, edges.reborrow()).ok();
            }
        }
        let log_z = result
            .unwrap_or_else(|| logspace::posterior(self.log(), rows, nodes, edges.reborrow()));
        if log_z == f64::NEG_INFINITY {
            fill(T::ZERO, nodes, edges);
        }
        log_z
    }
}

widest!(
    /// `scaled::log_partition`, compiled for the widest vectors the
    /// processor has.
    fn run_log_partition<T: CrfFloat, A: Acc>(
        sc: &Scaled<A>,
        crf: &LinearCrf<'_, T>,
        rows: &[T],
        buf: &mut Buffers<A>,
    ) -> Result<f64, Tainted> => scaled::log_partition
);

widest!(
    /// `scaled::posterior`, compiled for the widest vectors the processor
    /// has.
    fn run_posterior<T: CrfFloat, A: Acc>(
        sc: &Scaled<A>,
        crf: &LinearCrf<'_, T>,
        rows: &[T],
        buf: &mut Buffers<A>,
        nodes: &mut [T],
        edges: Edges<'_, T>,
    ) -> Result<f64, Tainted> => scaled::posterior
);

impl<T: CrfFloat> LinearCrf<'_, T> {
    /// `log Z` per sequence, `(batch,)`: the log of the sum over all label
    /// paths of `exp(score)`. 0 for an empty sequence, `-inf` when no path
    /// has a finite score, NaN when the sequence's scores contain NaN or
    /// `+inf`.
    pub fn log_partition(&self) -> Vec<T> {
        let prepared = Prepared::new(self);
        parallel::map_tasks(self.batch(), |b| T::from_f64(prepared.log_partition(b)))
    }

    /// Node marginals and, when `edges` is true, edge marginals (see
    /// [`Marginals`]). A sequence without an allowed path has all-zero
    /// marginals (never NaN); one with NaN or `+inf` scores has NaN ones.
    pub fn marginals(&self, edges: bool) -> Marginals<T> {
        let (batch, max_len, labels) = (self.batch(), self.max_len(), self.num_labels());
        let steps = max_len.saturating_sub(1);
        let node_size = max_len * labels;
        let edge_size = if edges { steps * labels * labels } else { 0 };
        let mut nodes = vec![T::ZERO; batch * node_size];
        let mut edge_data = vec![T::ZERO; batch * edge_size];
        let node_out = SharedOutput::new(nodes.as_mut_ptr(), nodes.len());
        let edge_out = SharedOutput::new(edge_data.as_mut_ptr(), edge_data.len());
        let prepared = Prepared::new(self);
        let log_partition = parallel::map_tasks(batch, |b| {
            // SAFETY: task b alone touches sequence b's blocks, which lie
            // inside the buffers.
            let nodes = unsafe { node_out.slice(b * node_size, node_size) };
            let edges = if edges {
                Edges::Steps(unsafe { edge_out.slice(b * edge_size, edge_size) })
            } else {
                Edges::None
            };
            T::from_f64(prepared.posterior(b, nodes, edges))
        });
        Marginals {
            log_partition,
            nodes: Array {
                data: nodes,
                shape: vec![batch, max_len, labels],
            },
            edges: edges.then(|| Array {
                data: edge_data,
                shape: vec![batch, steps, labels, labels],
            }),
        }
    }
}

/// One tier of the fast path, chosen by hand (tests check each one).
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tier {
    Single,
    Double,
    Log,
}

#[cfg(test)]
impl<T: CrfFloat> Prepared<'_, '_, T> {
    /// `posterior` of a usable non-empty sequence in the given tier: `None`
    /// when that tier cannot answer it (underflow, or f32 for f64 scores).
    pub(super) fn posterior_in(
        &self,
        tier: Tier,
        b: usize,
        nodes: &mut [T],
        edges: Edges<'_, T>,
    ) -> Option<f64> {
        let rows = self.crf.emissions(b);
        let len = rows.len() / self.crf.num_labels();
        let sum = matches!(edges, Edges::Sum(_));
        match tier {
            Tier::Single => {
                let sc = self.single.as_ref()?;
                let mut buf = Buffers::new(len, sc.stride, true, sum);
                run_posterior(sc, self.crf, rows, &mut buf, nodes, edges).ok()
            }
            Tier::Double => {
                let sc = self.double();
                if !sc.usable {
                    return None;
                }
                let mut buf = Buffers::new(len, sc.stride, true, sum);
                run_posterior(sc, self.crf, rows, &mut buf, nodes, edges).ok()
            }
            Tier::Log => Some(logspace::posterior(self.log(), rows, nodes, edges)),
        }
    }

    /// `log_partition` in the given tier, as `posterior_in`.
    pub(super) fn log_partition_in(&self, tier: Tier, b: usize) -> Option<f64> {
        let rows = self.crf.emissions(b);
        let len = rows.len() / self.crf.num_labels();
        match tier {
            Tier::Single => {
                let sc = self.single.as_ref()?;
                let mut buf = Buffers::new(len, sc.stride, false, false);
                run_log_partition(sc, self.crf, rows, &mut buf).ok()
            }
            Tier::Double => {
                let sc = self.double();
                let mut buf = Buffers::new(len, sc.stride, false, false);
                sc.usable
                    .then(|| run_log_partition(sc, self.crf, rows, &mut buf).ok())
                    .flatten()
            }
            Tier::Log => Some(logspace::log_partition(self.log(), rows)),
        }
    }
}
