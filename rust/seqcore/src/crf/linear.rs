//! The first-order linear-chain CRF: log-partition, marginals, negative
//! log-likelihood with gradients, Viterbi and n-best decoding.
//!
//! Inputs are borrowed and checked once by [`LinearCrf::new`] (shapes in
//! its documentation); its methods are the kernels, generic over
//! [`CrfFloat`] (f32 or f64):
//!
//! * [`log_partition`](LinearCrf::log_partition): `log Z` per sequence;
//! * [`marginals`](LinearCrf::marginals): node and, on request, edge
//!   marginals;
//! * [`nll_and_grad`](LinearCrf::nll_and_grad): `log Z - score(tags)` and
//!   its gradients, weighted per sequence by an upstream gradient;
//! * [`viterbi`](LinearCrf::viterbi) and [`nbest`](LinearCrf::nbest): the
//!   best path, the `k` best distinct paths.
//!
//! Every kernel runs over sequences on the crate's thread pool
//! ([`parallel`](crate::parallel)), one sequence per task, and sums over
//! the batch in sequence order: results are bit-identical for every thread
//! count.
//!
//! # Special values
//!
//! * `-inf` scores are how constraints are expressed (a disallowed
//!   transition, start, end or label). A sequence with no allowed path has
//!   `log Z = -inf`, all-zero marginals (never NaN), NLL `+inf` with zero
//!   gradients, an empty Viterbi path with score `-inf`, and no n-best
//!   paths. Gold tags that use a disallowed score have NLL `+inf`; their
//!   gradients keep the finite formula (marginals minus gold counts).
//! * NaN or `+inf` in an emission a sequence uses makes that sequence's
//!   results NaN (`log Z`, marginals, NLL, emission gradients; an empty
//!   path with score NaN) and leaves the other sequences alone, except for
//!   the transition, start and end gradients, which sum over the batch. NaN
//!   or `+inf` in transitions, start or end makes every result NaN.
//! * An empty sequence (length 0) has `log Z = 0`, NLL 0, no gradient, and
//!   one path, the empty one, with score 0.
//! * Ties in decoding go to the lowest label index (see
//!   [`viterbi`](LinearCrf::viterbi)); n-best orders equal scores the same
//!   way.
//!
//! # Numerics
//!
//! A log-space forward takes an `exp` per transition per step. Here
//! (`scaled.rs`) the transition scores are exponentiated once and each step
//! is a vector-matrix product in probability space, rescaled by a power of
//! two, with `L` emission `exp`s per step: the log-partition of 32 sequences
//! of 128 steps over 50 labels takes about half a millisecond on one core.
//! Probability space has a limited range, so each sequence is computed in
//! tiers, each used only when nothing underflowed in it:
//!
//! 1. f32 scores: accumulated in f32 (relative rounding only; about `5e-8`
//!    relative error in `log Z` at the size above, as accurate as the f32
//!    inputs allow);
//! 2. accumulated in f64 (f64 scores start here), which holds weights down
//!    to `e^-700`;
//! 3. log space in f64, exact for any magnitudes, slow, and only reached
//!    by paths whose weights fall more than ~700 nats below the best ones
//!    and later matter, or transition scores spanning more than ~700 nats.
//!
//! Viterbi and n-best are max-plus in the score type itself (adds and
//! comparisons: exact up to the rounding of the sums).
//!
//! # Example
//!
//! ```
//! use seqcore::array::ArrayView;
//! use seqcore::crf::linear::LinearCrf;
//!
//! // One sequence of 3 positions, 2 labels; label 1 may not follow label 0.
//! let emissions = [1.0_f64, 0.0, 0.0, 2.0, 1.0, 0.0];
//! let transitions = [0.0, f64::NEG_INFINITY, 0.0, 0.0];
//! let (start, end) = ([0.0; 2], [0.0; 2]);
//! let crf = LinearCrf::new(
//!     ArrayView::new(&emissions, &[1, 3, 2]).unwrap(),
//!     None,
//!     ArrayView::new(&transitions, &[2, 2]).unwrap(),
//!     &start,
//!     &end,
//! )
//! .unwrap();
//! let best = &crf.viterbi()[0];
//! assert_eq!(best.labels, vec![1, 1, 0]);
//! assert_eq!(best.score, 3.0);
//! let marginals = crf.marginals(false);
//! let p: f64 = marginals.nodes.data[..2].iter().sum();
//! assert!((p - 1.0).abs() < 1e-12);
//! ```

mod exp;
mod float;
mod inputs;
mod kernels;
mod logspace;
mod nbest;
mod nll;
mod posterior;
mod scaled;
#[cfg(test)]
mod tests;
mod viterbi;

pub use float::CrfFloat;
pub use inputs::LinearCrf;
pub use nll::{CrfTag, NllAndGrad};
pub use posterior::Marginals;
pub use viterbi::Path;
