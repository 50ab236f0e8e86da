//! Higher-order linear-chain CRFs: label n-grams up to order 4, with
//! factors that any network may produce (as in Ratajczak, Tschiatschek and
//! Pernkopf, "Sum-Product Networks for Sequence Labeling"), and exact
//! inference by forward-backward over expanded states.
//!
//! # Model
//!
//! A chain of order `N` (1 to 4) over labels `0..L` scores a labelling
//! `y_0..y_{T-1}` of a sequence of length `T` as
//!
//! ```text
//! score(y) = sum over n in 1..=N, over t in n-1..T of
//!            factor_n[b, t, index(y_{t-n+1..=t})] + table_n[index(y_{t-n+1..=t})]
//! index(a_1..a_n) = ((a_1 L + a_2) L + ...) L + a_n      (first label most significant)
//! ```
//!
//! * `factor_n` has shape `(batch, max_len, L^n)`: the score of the n-gram
//!   *ending* at position `t`. `table_n` has shape `(L^n,)` and is added at
//!   every position where an n-gram of that order fits. Any subset of
//!   orders may have a factor and/or a table; a missing one scores 0.
//! * An n-gram that would start before position 0 is not scored: at
//!   position `t < n - 1`, `factor_n[b, t, ..]` is ignored. So a sequence
//!   shorter than `N - 1` is scored by the n-grams that fit. Entries at
//!   `t >= lengths[b]` are ignored too.
//! * `N = 1` scores labels independently; `N = 2` is a first-order chain.
//! * `p(y) = exp(score(y)) / Z`; [`log_partition`] is `log Z`.
//!
//! ## First order (`N = 2`) and start/end scores
//!
//! There are no separate start or end vectors. Emissions are the unary
//! factor, transitions the order-2 table (or an order-2 factor, for
//! transitions that change along the sequence). A *start* score is added to
//! the unary factor at `t = 0`; an *end* score must be added by the caller
//! to the unary factor at the sequence's last position, `lengths[b] - 1`.
//! (Higher orders alike: a score for "the sequence starts with the bigram
//! `(a, b)`" goes into the order-2 factor at `t = 1`.)
//!
//! # Example
//!
//! ```
//! use seqcore::array::ArrayView;
//! use seqcore::crf::higher::{log_partition, nbest, viterbi, HigherOrderInputs};
//!
//! // Order 3 over labels {0, 1}, one sequence of length 3. The unary
//! // factors favour label 1 at t = 1; the trigram table forbids (0, 1, 0).
//! let unary = [0.0_f64, 0.0, 0.0, 2.0, 0.0, 0.0]; // (batch 1, max_len 3, L 2)
//! let mut trigrams = [0.0_f64; 8]; // (L^3,)
//! trigrams[0b010] = f64::NEG_INFINITY; // index (0 L + 1) L + 0
//! let lengths = [3];
//! let mut inputs = HigherOrderInputs::new(3, 2, &lengths);
//! inputs.factors[0] = Some(ArrayView::new(&unary, &[1, 3, 2]).unwrap());
//! inputs.tables[2] = Some(ArrayView::new(&trigrams, &[8]).unwrap());
//!
//! // Three labellings score 2, four score 0, one is forbidden.
//! let log_z = log_partition(&inputs).unwrap().data[0];
//! assert!((log_z - (3.0 * 2f64.exp() + 4.0).ln()).abs() < 1e-12);
//! // Ties go to the smallest labelling read from its last label backwards.
//! let best = &viterbi(&inputs).unwrap()[0];
//! assert_eq!((best.labels.as_slice(), best.score), (&[1, 1, 0][..], 2.0));
//! let top = &nbest(&inputs, 4).unwrap()[0];
//! let labels: Vec<&[u32]> = top.iter().map(|p| p.labels.as_slice()).collect();
//! assert_eq!(labels, [&[1, 1, 0][..], &[0, 1, 1], &[1, 1, 1], &[0, 0, 0]]);
//! ```
//!
//! # Functions
//!
//! [`log_partition`], [`marginals`] (the gradient of `log Z` with respect
//! to each factor tensor), [`nll_and_grad`], [`viterbi`] and [`nbest`].
//! All are generic over f32 and f64 ([`CrfFloat`]), run one sequence per
//! task on the crate's thread pool, and give bit-identical results for every
//! thread count (and every processor: see `lanes`). The scaled
//! [`log_partition`] runs a contiguous block of sequences per task instead;
//! each sequence's lanes are computed alike whatever block it lands in.
//!
//! ## Forbidden n-grams and NaN
//!
//! Scores may be `-inf`. A sequence with no labelling of finite score has
//! `log Z = -inf`, zero marginals, an empty Viterbi path with score `-inf`,
//! no n-best paths, NLL `+inf` and zero gradients; nothing is ever NaN
//! because of `-inf`. A NaN in a score that a sequence uses (a factor entry
//! at a position where its order fits, before the sequence's length, or a
//! table entry of an order that fits somewhere) makes that sequence's
//! `log Z`, marginals, NLL and gradients NaN and its Viterbi score NaN with
//! an empty path; other sequences are not affected. `+inf` scores are
//! outside the model (results are `inf` or NaN).
//!
//! # Algorithm and cost
//!
//! A state is the last `N - 1` labels: `L^(N-1)` of them, each with `L`
//! successors. The kernels never build a transition matrix; they loop over
//! the `L^N` (state, next label) pairs, so each position costs `O(L^N)`
//! and a sequence `O(T L^N)`. At each position the n-gram scores of all
//! orders are first combined into one `L^N` vector (with the tables), then
//! used by the step. Forward-backward runs in log space with exact maxima,
//! f32 in f32 with f64 running totals. [`log_partition`] of a chain with
//! no factor of the full order (its top order a table, or nothing) instead
//! runs a scaled-probability forward over blocks of sequences: the table's
//! `exp` once per call, then matrix products that reuse each table weight
//! across the block, falling back per sequence to log space when the
//! scores span more than the float's range (see `forward` and `scaled`).
//! At order 3 with 26 labels it is 10x faster than log space, 24x with
//! tables only. [`marginals`] and [`nll_and_grad`] then run a batched
//! scaled backward too (the transposed products, the top-order table's
//! gradient as one product per position over a block of sequences), with
//! the same per-sequence fallbacks; blocks are fixed by the chain, so the
//! results do not depend on the thread count. The log-space backward pass transposes each position's scores
//! so that its reductions also run down columns. Viterbi is the forward
//! pass in max-plus with backpointers, and [`nbest`] searches deviations
//! from its tables.

mod backward;
mod float;
mod forward;
mod gemm;
mod gemm512;
mod gradients;
mod inputs;
mod lanes;
mod nbest;
mod scaled;
mod scaled_backward;
mod table_grad;
mod transpose;
mod viterbi;
mod weights;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_brute;
#[cfg(test)]
mod tests_edges;
#[cfg(test)]
mod tests_scaled;
#[cfg(test)]
mod tests_scaled_grad;
#[cfg(test)]
mod tests_speed;

pub use float::CrfFloat;
pub use forward::log_partition;
pub use gradients::{marginals, nll_and_grad, HigherOrderGrads, NgramMarginals};
pub use inputs::{HigherOrderInputs, MAX_ORDER};
pub use nbest::nbest;
pub use viterbi::{viterbi, LabelPath};
