//! The negative log-likelihood of gold label paths and its gradients.
//!
//! `nll_b = log Z_b - score_b(tags_b)`. Its gradient with respect to an
//! emission is the node marginal minus the gold one-hot; with respect to
//! the transitions, start and end scores, the summed edge (first, last)
//! marginals minus the gold counts. Gradients are weighted by the upstream
//! gradient `d_nll_b` of each sequence and summed over the batch.

use std::fmt::Display;

use super::posterior::Prepared;
use super::scaled::Edges;
use super::CrfFloat;
use crate::array::{Array, ArrayView, DisplayShape};
use crate::crf::CrfError;
use crate::parallel::{self, SharedOutput};

mod sealed {
    pub trait Sealed {}
}

/// An integer type for gold labels: u8, u16, u32, u64, usize, i32 or i64.
pub trait CrfTag: sealed::Sealed + Copy + Send + Sync + Display + 'static {
    /// The label as an index, `None` when negative.
    fn index(self) -> Option<u64>;
}

macro_rules! unsigned_tag {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl CrfTag for $t {
            #[inline(always)]
            fn index(self) -> Option<u64> {
                Some(self as u64)
            }
        }
    )*};
}

macro_rules! signed_tag {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl CrfTag for $t {
            #[inline(always)]
            fn index(self) -> Option<u64> {
                u64::try_from(self).ok()
            }
        }
    )*};
}

unsigned_tag!(u8, u16, u32, u64, usize);
signed_tag!(i32, i64);

/// What [`LinearCrf::nll_and_grad`](super::LinearCrf::nll_and_grad) returns.
#[derive(Debug, Clone, PartialEq)]
pub struct NllAndGrad<T> {
    /// `log Z - score(tags)` per sequence, `(batch,)`.
    pub nll: Vec<T>,
    /// `d_nll_b * (P(y_t = j) - [tags_t = j])`, `(batch, max_len, L)`; zero
    /// at and beyond each length.
    pub emissions: Array<T>,
    /// `sum_b d_nll_b * sum_t (P(y_{t-1} = i, y_t = j) - [tags_{t-1} = i, tags_t = j])`,
    /// `(L, L)`.
    pub transitions: Array<T>,
    /// `sum_b d_nll_b * (P(y_0 = j) - [tags_0 = j])`, `(L,)`.
    pub start: Vec<T>,
    /// `sum_b d_nll_b * (P(y_{n-1} = j) - [tags_{n-1} = j])`, `(L,)`.
    pub end: Vec<T>,
}

/// One sequence's share of the parameter gradients (weighted), in f64.
struct Share {
    transitions: Vec<f64>,
    start: Vec<f64>,
    end: Vec<f64>,
}

impl<T: CrfFloat> super::LinearCrf<'_, T> {
    /// The gold labels of every sequence as indices, checked.
    fn gold<Y: CrfTag>(&self, tags: &ArrayView<'_, Y>) -> Result<Vec<Vec<u32>>, CrfError> {
        let (batch, max_len, labels) = (self.batch(), self.max_len(), self.num_labels());
        if tags.shape() != [batch, max_len] {
            return Err(CrfError::Shape(format!(
                "tags must have shape (batch, max_len) = ({batch}, {max_len}), got {}",
                DisplayShape(tags.shape())
            )));
        }
        (0..batch)
            .map(|b| {
                let row = &tags.data()[b * max_len..][..self.length(b)];
                row.iter()
                    .enumerate()
                    .map(|(t, &y)| match y.index() {
                        Some(label) if label < labels as u64 => Ok(label as u32),
                        Some(label) => Err(CrfError::LabelOutOfRange {
                            sequence: b,
                            position: t,
                            label,
                            num_labels: labels,
                        }),
                        None => Err(CrfError::Invalid(format!(
                            "label {y} at sequence {b}, position {t} is negative"
                        ))),
                    })
                    .collect()
            })
            .collect()
    }

    /// The score of each sequence's gold path, in f64 (`-inf` when it uses
    /// a disallowed score). `tags` as in [`nll_and_grad`](Self::nll_and_grad).
    pub fn score<Y: CrfTag>(&self, tags: ArrayView<'_, Y>) -> Result<Vec<T>, CrfError> {
        let gold = self.gold(&tags)?;
        Ok(gold
            .iter()
            .enumerate()
            .map(|(b, path)| T::from_f64(self.path_score(b, path)))
            .collect())
    }

    fn path_score(&self, b: usize, path: &[u32]) -> f64 {
        let labels = self.num_labels();
        let rows = self.emissions(b);
        let Some((&first, &last)) = path.first().zip(path.last()) else {
            return 0.0;
        };
        let mut score = self.start()[first as usize].to_f64() + rows[first as usize].to_f64();
        for (t, pair) in path.windows(2).enumerate() {
            let (i, j) = (pair[0] as usize, pair[1] as usize);
            score +=
                self.transitions()[i * labels + j].to_f64() + rows[(t + 1) * labels + j].to_f64();
        }
        score + self.end()[last as usize].to_f64()
    }

    /// The negative log-likelihood of the gold paths `tags`
    /// (`(batch, max_len)`, read only below each length) and its gradients,
    /// weighted per sequence by `d_nll` (`(batch,)`; `None`: all ones, i.e.
    /// the gradient of the summed NLL).
    ///
    /// * A label outside `0..L` is [`CrfError::LabelOutOfRange`]; a negative
    ///   one (signed tag types) is [`CrfError::Invalid`].
    /// * Empty sequence: NLL 0, no gradient.
    /// * No allowed path (`log Z = -inf`): NLL `+inf` and zero gradients.
    /// * Gold path through a `-inf` score while other paths are allowed:
    ///   NLL `+inf`; the gradients keep their finite formula (marginals
    ///   minus gold counts).
    /// * NaN or `+inf` among the sequence's scores: NaN NLL and NaN emission
    ///   gradients for that sequence, and NaN parameter gradients (they sum
    ///   over the batch).
    pub fn nll_and_grad<Y: CrfTag>(
        &self,
        tags: ArrayView<'_, Y>,
        d_nll: Option<&[T]>,
    ) -> Result<NllAndGrad<T>, CrfError> {
        let (batch, max_len, labels) = (self.batch(), self.max_len(), self.num_labels());
        let gold = self.gold(&tags)?;
        if let Some(d) = d_nll {
            if d.len() != batch {
                return Err(CrfError::Shape(format!(
                    "d_nll must have shape (batch,) = ({batch},), got ({},)",
                    d.len()
                )));
            }
        }
        let size = max_len * labels;
        let mut emissions = vec![T::ZERO; batch * size];
        let out = SharedOutput::new(emissions.as_mut_ptr(), emissions.len());
        let prepared = Prepared::new(self);
        let results = parallel::map_tasks(batch, |b| {
            // SAFETY: task b alone writes sequence b's block, inside the buffer.
            let grad = unsafe { out.slice(b * size, size) };
            let weight = d_nll.map_or(1.0, |d| d[b].to_f64());
            self.sequence_nll(&prepared, b, &gold[b], weight, grad)
        });
        let mut transitions = vec![0.0; labels * labels];
        let mut start = vec![0.0; labels];
        let mut end = vec![0.0; labels];
        let mut nll = Vec::with_capacity(batch);
        // Summed in sequence order: the same bits for every thread count.
        for (value, share) in results {
            nll.push(T::from_f64(value));
            if let Some(share) = share {
                for (total, part) in [
                    (&mut transitions, &share.transitions),
                    (&mut start, &share.start),
                    (&mut end, &share.end),
                ] {
                    total.iter_mut().zip(part).for_each(|(t, p)| *t += p);
                }
            }
        }
        let cast = |x: Vec<f64>| x.into_iter().map(T::from_f64).collect::<Vec<T>>();
        Ok(NllAndGrad {
            nll,
            emissions: Array {
                data: emissions,
                shape: vec![batch, max_len, labels],
            },
            transitions: Array {
                data: cast(transitions),
                shape: vec![labels, labels],
            },
            start: cast(start),
            end: cast(end),
        })
    }

    /// NLL of sequence `b`, its emission gradient written to `grad`, and its
    /// share of the parameter gradients (`None` when it has none).
    fn sequence_nll(
        &self,
        prepared: &Prepared<'_, '_, T>,
        b: usize,
        path: &[u32],
        weight: f64,
        grad: &mut [T],
    ) -> (f64, Option<Share>) {
        let labels = self.num_labels();
        let len = path.len();
        if len == 0 {
            return (0.0, None);
        }
        let mut edge_sum = vec![0.0; labels * labels];
        let log_z = prepared.posterior(b, grad, Edges::Sum(&mut edge_sum));
        if log_z == f64::NEG_INFINITY {
            return (f64::INFINITY, None);
        }
        let nll = log_z - self.path_score(b, path);
        // Node marginals minus the gold one-hot, weighted.
        let mut share = Share {
            transitions: edge_sum,
            start: grad[..labels].iter().map(|m| m.to_f64()).collect(),
            end: grad[(len - 1) * labels..][..labels]
                .iter()
                .map(|m| m.to_f64())
                .collect(),
        };
        share.start[path[0] as usize] -= 1.0;
        share.end[path[len - 1] as usize] -= 1.0;
        for pair in path.windows(2) {
            share.transitions[pair[0] as usize * labels + pair[1] as usize] -= 1.0;
        }
        for part in [&mut share.transitions, &mut share.start, &mut share.end] {
            part.iter_mut().for_each(|g| *g *= weight);
        }
        for (row, &y) in grad.chunks_exact_mut(labels).zip(path) {
            for (j, g) in row.iter_mut().enumerate() {
                let gold = if j == y as usize { 1.0 } else { 0.0 };
                *g = T::from_f64(weight * (g.to_f64() - gold));
            }
        }
        (nll, Some(share))
    }
}
