//! n-gram marginals, and the negative log-likelihood with its gradient.
//!
//! The gradient of `log Z` with respect to factor `factor_n[b, t, i]` is
//! the probability that the n-gram `i` ends at position `t`, so both
//! functions run the same forward-backward; the gradient of the NLL is the
//! marginals minus the gold path's n-gram counts, times the upstream
//! weight `d_nll[b]`. Table gradients are summed over positions in f64,
//! per sequence, then over sequences in order (the same bits for every
//! thread count).

use super::backward::{backward, MarginalSink};
use super::float::CrfFloat;
use super::forward::{forward, History, Workspace};
use super::inputs::{validate, Chain, HigherOrderInputs, MAX_ORDER};
use super::lanes::is_nan;
use super::scaled_backward;
use crate::array::{Array, ArrayView, DisplayShape};
use crate::crf::CrfError;
use crate::parallel::{self, SharedOutput};

/// n-gram marginals: `orders[n - 1]` has the shape of the order-`n`
/// factors, `(batch, max_len, L^n)`, for every order whose factors were
/// given (`None` for the others).
#[derive(Debug, Clone, PartialEq)]
pub struct NgramMarginals<T> {
    /// `orders[n - 1][b, t, i]`: the probability that the order-`n` n-gram
    /// `i` ends at position `t` of sequence `b`; 0 where it does not fit
    /// (`t < n - 1` or `t >= lengths[b]`).
    pub orders: [Option<Array<T>>; MAX_ORDER],
}

/// The result of [`nll_and_grad`].
#[derive(Debug, Clone, PartialEq)]
pub struct HigherOrderGrads<T> {
    /// `(batch,)`: `log Z - score(tags)` per sequence (not weighted).
    pub nll: Array<T>,
    /// The gradient of `sum_b d_nll[b] * nll[b]` with respect to each given
    /// factor tensor (same shapes; `None` where no factor was given).
    pub factors: [Option<Array<T>>; MAX_ORDER],
    /// The same with respect to each given table.
    pub tables: [Option<Array<T>>; MAX_ORDER],
}

/// The marginal probability of every n-gram of every order whose factors
/// were given: exactly the gradient of `log Z` with respect to them.
///
/// A sequence with no allowed labelling (`log Z = -inf`) gets zeros; one
/// with a NaN score gets NaN wherever its n-grams fit.
pub fn marginals<T: CrfFloat>(
    inputs: &HigherOrderInputs<'_, T>,
) -> Result<NgramMarginals<T>, CrfError> {
    marginals_with(inputs, true)
}

/// [`marginals`], by the scaled passes where they apply when `scaled`.
pub(crate) fn marginals_with<T: CrfFloat>(
    inputs: &HigherOrderInputs<'_, T>,
    scaled: bool,
) -> Result<NgramMarginals<T>, CrfError> {
    let chain = validate(inputs)?;
    let mut outputs = factor_outputs(&chain);
    let shared = shared_outputs(&mut outputs);
    if let Some(prep) = scaled_backward::prepare(&chain).filter(|_| scaled) {
        let size = scaled_backward::block_size(&chain);
        parallel::for_each_task(chain.batch.div_ceil(size), |i| {
            let range = i * size..chain.batch.min((i + 1) * size);
            let mut sinks: Vec<_> = range
                .clone()
                .map(|b| MarginalSink {
                    // SAFETY: the task of b's block is the only one writing
                    // sequence b's block.
                    factors: unsafe { sequence_blocks(&chain, &shared, b) },
                    tables: Default::default(),
                    weight: T::ONE,
                })
                .collect();
            let weight = vec![1.0; range.len()];
            let (log_z, _) = scaled_backward::solve_block(
                &chain,
                &prep,
                range.clone(),
                &weight,
                &mut sinks,
                false,
            );
            for ((b, sink), log_z) in range.zip(&mut sinks).zip(log_z) {
                match log_z {
                    Some(z) if is_nan(z) => sink.fill_nan(&chain, chain.lengths[b]),
                    Some(_) => {}
                    None => {
                        let mut ws = Workspace::new(&chain);
                        let mut history = History::new(&chain, b);
                        let log_z = forward(&chain, b, &mut ws, Some(&mut history));
                        finish(&chain, b, &mut ws, &history, log_z, sink);
                    }
                }
            }
        });
        return Ok(NgramMarginals {
            orders: factor_arrays(&chain, outputs),
        });
    }
    parallel::for_each_task(chain.batch, |b| {
        let mut sink = MarginalSink {
            // SAFETY: task `b` is the only one writing sequence b's block.
            factors: unsafe { sequence_blocks(&chain, &shared, b) },
            tables: Default::default(),
            weight: T::ONE,
        };
        let mut ws = Workspace::new(&chain);
        let mut history = History::new(&chain, b);
        let log_z = forward(&chain, b, &mut ws, Some(&mut history));
        finish(&chain, b, &mut ws, &history, log_z, &mut sink);
    });
    Ok(NgramMarginals {
        orders: factor_arrays(&chain, outputs),
    })
}

/// The negative log-likelihood of the labelling `tags` for every sequence,
/// and its gradient weighted by `d_nll` (the gradient of the loss with
/// respect to each sequence's NLL: ones for a plain sum).
///
/// `tags` is `(batch, max_len)` (any width at least every length when no
/// factors are given); entries past a sequence's length are ignored, the
/// others must be in `0..L`. `d_nll` is `(batch,)`.
///
/// A sequence with no allowed labelling gets NLL `+inf` and zero gradient.
/// When only the gold labelling is forbidden (its score is `-inf`), the NLL
/// is `+inf` and the gradient is still `d_nll * (marginals - counts)`, the
/// limit automatic differentiation would give. NaN scores give NaN.
pub fn nll_and_grad<T: CrfFloat>(
    inputs: &HigherOrderInputs<'_, T>,
    tags: ArrayView<'_, i64>,
    d_nll: ArrayView<'_, T>,
) -> Result<HigherOrderGrads<T>, CrfError> {
    nll_and_grad_with(inputs, tags, d_nll, true)
}

/// [`nll_and_grad`], by the scaled passes where they apply when `scaled`.
pub(crate) fn nll_and_grad_with<T: CrfFloat>(
    inputs: &HigherOrderInputs<'_, T>,
    tags: ArrayView<'_, i64>,
    d_nll: ArrayView<'_, T>,
    scaled: bool,
) -> Result<HigherOrderGrads<T>, CrfError> {
    let chain = validate(inputs)?;
    let (tags, width) = check_tags(&chain, inputs, tags)?;
    if d_nll.shape() != [chain.batch] {
        return Err(CrfError::Shape(format!(
            "d_nll must have shape (batch,) = ({},), got {}",
            chain.batch,
            DisplayShape(d_nll.shape())
        )));
    }
    let d_nll = d_nll.data();
    let mut outputs = factor_outputs(&chain);
    let shared = shared_outputs(&mut outputs);
    let new_tables = || -> [Option<Vec<f64>>; MAX_ORDER] {
        std::array::from_fn(|i| {
            let n = i + 1;
            (n <= chain.order && chain.has_table(n)).then(|| vec![0.0; chain.sizes[n]])
        })
    };
    let gold = |b: usize| &tags[b * width..b * width + chain.lengths[b]];
    // Per sequence (or per block's top-order table): NLL and table sums,
    // in the order they are added up.
    let per_sequence: Vec<(Option<T>, TableSums)> =
        if let Some(prep) = scaled_backward::prepare(&chain).filter(|_| scaled) {
            let size = scaled_backward::block_size(&chain);
            let blocks = parallel::map_tasks(chain.batch.div_ceil(size), |i| {
                let range = i * size..chain.batch.min((i + 1) * size);
                let mut tables: Vec<_> = range.clone().map(|_| new_tables()).collect();
                let mut sinks: Vec<_> = range
                    .clone()
                    .zip(tables.iter_mut())
                    .map(|(b, tables)| MarginalSink {
                        // SAFETY: the task of b's block is the only one
                        // writing sequence b's block.
                        factors: unsafe { sequence_blocks(&chain, &shared, b) },
                        tables: tables.each_mut().map(|t| t.as_deref_mut()),
                        weight: d_nll[b],
                    })
                    .collect();
                let weight: Vec<f64> = range.clone().map(|b| d_nll[b].to_f64()).collect();
                let want_top = chain.has_table(chain.order);
                let (log_z, top) = scaled_backward::solve_block(
                    &chain,
                    &prep,
                    range.clone(),
                    &weight,
                    &mut sinks,
                    want_top,
                );
                let nll: Vec<T> = range
                    .clone()
                    .zip(&mut sinks)
                    .zip(log_z)
                    .map(|((b, sink), log_z)| match log_z {
                        Some(z) => after_scaled(&chain, b, gold(b), z, sink),
                        None => in_log_space(&chain, b, gold(b), sink),
                    })
                    .collect();
                drop(sinks);
                let mut parts: Vec<_> = nll.into_iter().map(Some).zip(tables).collect();
                let mut last: [Option<Vec<f64>>; MAX_ORDER] = Default::default();
                last[chain.order - 1] = top;
                parts.push((None, last));
                parts
            });
            blocks.into_iter().flatten().collect()
        } else {
            parallel::map_tasks(chain.batch, |b| {
                let mut tables = new_tables();
                let mut sink = MarginalSink {
                    // SAFETY: task `b` is the only one writing sequence b's block.
                    factors: unsafe { sequence_blocks(&chain, &shared, b) },
                    tables: tables.each_mut().map(|t| t.as_deref_mut()),
                    weight: d_nll[b],
                };
                let nll = in_log_space(&chain, b, gold(b), &mut sink);
                (Some(nll), tables)
            })
        };
    let mut table_sums: [Option<Vec<f64>>; MAX_ORDER] = Default::default();
    let mut nll = Vec::with_capacity(chain.batch);
    for (value, tables) in per_sequence {
        nll.extend(value);
        for (sum, part) in table_sums.iter_mut().zip(tables) {
            if let Some(part) = part {
                let sum = sum.get_or_insert_with(|| vec![0.0; part.len()]);
                for (s, p) in sum.iter_mut().zip(part) {
                    *s += p;
                }
            }
        }
    }
    let tables = std::array::from_fn(|i| {
        let n = i + 1;
        (n <= chain.order && chain.has_table(n)).then(|| Array {
            data: match &table_sums[i] {
                Some(sum) => sum.iter().map(|&x| T::from_f64(x)).collect(),
                None => vec![T::ZERO; chain.sizes[n]],
            },
            shape: vec![chain.sizes[n]],
        })
    });
    Ok(HigherOrderGrads {
        nll: Array {
            data: nll,
            shape: vec![chain.batch],
        },
        factors: factor_arrays(&chain, outputs),
        tables,
    })
}

/// One part of the tables' gradient, per order.
type TableSums = [Option<Vec<f64>>; MAX_ORDER];

/// NLL and gradient of sequence `b` by the log-space passes.
fn in_log_space<T: CrfFloat>(
    chain: &Chain<'_, T>,
    b: usize,
    gold: &[u32],
    sink: &mut MarginalSink<'_, T>,
) -> T {
    let mut ws = Workspace::new(chain);
    let mut history = History::new(chain, b);
    let log_z = forward(chain, b, &mut ws, Some(&mut history));
    if sink.weight != T::ZERO || !log_z.is_finite() {
        finish(chain, b, &mut ws, &history, log_z, sink);
        if log_z.is_finite() {
            subtract_counts(chain, gold, sink);
        }
    }
    nll_of(chain, b, gold, log_z)
}

/// What is left of sequence `b` after the scaled passes found `log_z` (and
/// emitted its marginals if finite with a nonzero weight).
fn after_scaled<T: CrfFloat>(
    chain: &Chain<'_, T>,
    b: usize,
    gold: &[u32],
    log_z: f64,
    sink: &mut MarginalSink<'_, T>,
) -> T {
    if log_z.is_finite() {
        if sink.weight != T::ZERO {
            subtract_counts(chain, gold, sink);
        }
    } else if log_z != f64::NEG_INFINITY {
        sink.fill_nan(chain, chain.lengths[b]);
    }
    nll_of(chain, b, gold, log_z)
}

/// `log Z - score(gold)`, `+inf` when either is `-inf`.
fn nll_of<T: CrfFloat>(chain: &Chain<'_, T>, b: usize, gold: &[u32], log_z: f64) -> T {
    let score = gold_score(chain, b, gold);
    T::from_f64(
        if log_z == f64::NEG_INFINITY || score == f64::NEG_INFINITY {
            f64::INFINITY
        } else {
            log_z - score
        },
    )
}

/// After the forward pass: the backward pass when `log Z` is finite, NaN
/// everywhere when it is NaN (or `+inf`), nothing (zeros) when `-inf`.
fn finish<T: CrfFloat>(
    chain: &Chain<'_, T>,
    b: usize,
    ws: &mut Workspace<T>,
    history: &History<T>,
    log_z: f64,
    sink: &mut MarginalSink<'_, T>,
) {
    if log_z.is_finite() {
        backward(chain, b, ws, history, log_z, sink);
    } else if log_z != f64::NEG_INFINITY {
        sink.fill_nan(chain, chain.lengths[b]);
    }
}

/// Subtracts `weight` at each gold n-gram of every wanted order.
fn subtract_counts<T: CrfFloat>(
    chain: &Chain<'_, T>,
    gold: &[u32],
    sink: &mut MarginalSink<'_, T>,
) {
    let weight = sink.weight;
    for n in 1..=chain.order {
        let size = chain.sizes[n];
        for t in n - 1..gold.len() {
            let i = chain.gold_index(gold, t, n);
            if let Some(out) = sink.factors[n - 1].as_deref_mut() {
                out[t * size + i] = out[t * size + i] - weight;
            }
            if let Some(table) = sink.tables[n - 1].as_deref_mut() {
                table[i] -= weight.to_f64();
            }
        }
    }
}

/// The score of the gold labelling, summed in f64.
fn gold_score<T: CrfFloat>(chain: &Chain<'_, T>, b: usize, gold: &[u32]) -> f64 {
    let mut score = 0.0;
    for t in 0..gold.len() {
        for n in 1..=chain.fitting_order(t) {
            let i = chain.gold_index(gold, t, n);
            if let Some(f) = chain.factor_row(n, b, t) {
                score += f[i].to_f64();
            }
            if let Some(tab) = chain.table(n) {
                score += tab[i].to_f64();
            }
        }
    }
    score
}

/// Checks the tags and returns them as labels, with the row width.
fn check_tags<T>(
    chain: &Chain<'_, T>,
    inputs: &HigherOrderInputs<'_, T>,
    tags: ArrayView<'_, i64>,
) -> Result<(Vec<u32>, usize), CrfError> {
    let has_factors = inputs.factors.iter().any(Option::is_some);
    let width = match *tags.shape() {
        [b, w]
            if b == chain.batch && (w == chain.max_len || (!has_factors && w >= chain.max_len)) =>
        {
            w
        }
        _ => {
            return Err(CrfError::Shape(format!(
                "tags must have shape (batch, max_len) = ({}, {}), got {}",
                chain.batch,
                chain.max_len,
                DisplayShape(tags.shape())
            )))
        }
    };
    let mut labels = vec![0_u32; chain.batch * width];
    for (b, &len) in chain.lengths.iter().enumerate() {
        for t in 0..len {
            let label = tags.data()[b * width + t];
            if label < 0 {
                return Err(CrfError::Invalid(format!(
                    "label {label} at sequence {b}, position {t} is negative"
                )));
            }
            if label as u64 >= chain.labels as u64 {
                return Err(CrfError::LabelOutOfRange {
                    sequence: b,
                    position: t,
                    label: label as u64,
                    num_labels: chain.labels,
                });
            }
            labels[b * width + t] = label as u32;
        }
    }
    Ok((labels, width))
}

/// Zeroed `(batch, max_len, L^n)` buffers for the orders with factors.
fn factor_outputs<T: CrfFloat>(chain: &Chain<'_, T>) -> [Option<Vec<T>>; MAX_ORDER] {
    std::array::from_fn(|i| {
        let n = i + 1;
        (n <= chain.order && chain.has_factor(n))
            .then(|| vec![T::ZERO; chain.batch * chain.max_len * chain.sizes[n]])
    })
}

fn shared_outputs<T>(
    outputs: &mut [Option<Vec<T>>; MAX_ORDER],
) -> [Option<SharedOutput<T>>; MAX_ORDER] {
    outputs.each_mut().map(|o| {
        o.as_mut()
            .map(|v| SharedOutput::new(v.as_mut_ptr(), v.len()))
    })
}

/// Sequence `b`'s `(max_len, L^n)` block of each output.
///
/// # Safety
/// No other live slice may overlap these blocks: one caller per sequence.
#[allow(clippy::mut_from_ref)]
unsafe fn sequence_blocks<'o, T: CrfFloat>(
    chain: &Chain<'_, T>,
    shared: &'o [Option<SharedOutput<T>>; MAX_ORDER],
    b: usize,
) -> [Option<&'o mut [T]>; MAX_ORDER] {
    std::array::from_fn(|i| {
        let block = chain.max_len * chain.sizes[i + 1];
        shared[i].as_ref().map(|s| s.slice(b * block, block))
    })
}

fn factor_arrays<T: CrfFloat>(
    chain: &Chain<'_, T>,
    outputs: [Option<Vec<T>>; MAX_ORDER],
) -> [Option<Array<T>>; MAX_ORDER] {
    let mut outputs = outputs.into_iter().enumerate();
    std::array::from_fn(|_| {
        let (i, output) = outputs.next()?;
        output.map(|data| Array {
            data,
            shape: vec![chain.batch, chain.max_len, chain.sizes[i + 1]],
        })
    })
}
