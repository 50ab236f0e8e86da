//! Greedy, beam and diverse beam search as a step machine that any host
//! drives with log-probs, reproducing Hugging Face transformers bit for bit.
//!
//! The host owns the model. Each step it computes normalized log-probs
//! (log_softmax done) for the rows in [`SearchState::active_rows`] and
//! hands them to [`SearchState::step_logprobs`], or hands its own top-k per
//! row (e.g. `torch.topk` on the GPU) to [`SearchState::step_candidates`].
//! The answer, a [`StepOutput`], says which token to append to each new
//! active row and which previous row it continues (`parents`, for gathering
//! the KV cache). When [`SearchState::done`], [`SearchState::finalize`]
//! gives the hypotheses.
//!
//! ```
//! use seqcore::decode::{SearchConfig, SearchState};
//!
//! // A toy "model": after token t it favours t + 1; after 3 it favours EOS (4).
//! fn next_logprobs(sequence: &[u32]) -> Vec<f32> {
//!     let favourite = (sequence.last().unwrap() + 1).min(4) as usize;
//!     (0..5).map(|t| if t == favourite { 0.6f32.ln() } else { 0.1f32.ln() }).collect()
//! }
//!
//! let mut config = SearchConfig::new(5, 2); // vocabulary 5, 2 beams
//! config.eos_token_ids = vec![4];
//! config.max_new_tokens = 10;
//! let prompt: &[u32] = &[0];
//! let mut search = SearchState::<f32>::new(config, &[prompt])?;
//! // The host's state per active row: here the sequence, in practice a cache.
//! let mut rows: Vec<Vec<u32>> = vec![prompt.to_vec()];
//! while !search.done() {
//!     let logprobs: Vec<f32> = rows.iter().flat_map(|row| next_logprobs(row)).collect();
//!     let step = search.step_logprobs(&logprobs, 5)?;
//!     rows = step
//!         .parents
//!         .iter()
//!         .zip(&step.tokens)
//!         .map(|(&parent, &token)| [&rows[parent][..], &[token]].concat())
//!         .collect();
//! }
//! let best = &search.finalize()?.sequences[0][0];
//! assert_eq!(best.tokens, vec![1, 2, 3, 4]);
//! assert_eq!(best.score, (4.0 * 0.6f32.ln()) / 4.0);
//! # Ok::<(), seqcore::decode::DecodeError>(())
//! ```
//!
//! # Protocol
//!
//! * Rows are numbered globally, `batch_item * num_beams + beam`. Before the
//!   first step the active rows are one per batch item (`item * num_beams`):
//!   the prompt stands for all of the item's beams (transformers feeds
//!   `num_beams` identical copies; the result is the same as long as the
//!   model gives identical rows identical log-probs).
//! * After a step the host gathers its per-row state with `parents`,
//!   appends `tokens`, and feeds `rows` next.
//! * A batch item that has stopped (a group, in diverse beam search) leaves
//!   the active rows. transformers keeps feeding such rows and pads them;
//!   every later candidate there carries a -1e9 penalty (5.18) or is
//!   ignored (4.56), so the results are the same (except when kept scores
//!   are themselves near -1e9, see below).
//! * Prompts are what the model's input rows hold, left padding included if
//!   the host pads as transformers does: no_repeat_ngram and bad words read
//!   them.
//!
//! # What is reproduced
//!
//! * Greedy search (one beam, [`Semantics::Auto`]): transformers 5.18
//!   `_sample` without sampling: the highest processed log-prob (lowest id
//!   among equals, as `torch.argmax`), until EOS or `max_new_tokens`.
//! * Beam search: transformers 5.18 `_beam_search` (4.56's is the same).
//! * Diverse beam search: transformers 4.56.2 `_group_beam_search` with
//!   `BeamSearchScorer` and `BeamHypotheses` (5.x dropped it).
//! * Logits processors: MinNewTokensLength (EOS is -inf while fewer than
//!   `min_new_tokens` were generated), NoRepeatNGram (over prompt and
//!   generated tokens: every earlier window whose first n-1 tokens equal the
//!   last n-1 bans its last token), NoBadWords (a one-token word is banned
//!   everywhere, except a word that is a lone EOS id, which transformers
//!   drops; a longer word bans its last token where the sequence ends with
//!   the rest), HammingDiversity.
//!
//! The tests compare against fixtures written by transformers 5.18 and
//! 4.56.2 themselves (`tests/hf_fixtures.py`), bit for bit.
//!
//! # Beam search arithmetic (5.18), in the input float type `T`
//!
//! * Candidate score `s = processed + beam_score`. Initial beam scores: 0 for
//!   beam 0, -1e9 for the others.
//! * Each step keeps `K = max(2, 1 + number of EOS ids) * num_beams`
//!   candidates over the flattened `(beam, token)` scores.
//! * A candidate *hits* if its token is an EOS id or this is step
//!   `max_new_tokens`. Running beams: the best `num_beams` of `s - 1e9·hit`;
//!   those values are the new beam scores.
//! * Candidates ranked below `num_beams` that hit are finished with score
//!   `s / T(n ** length_penalty)`, `n` = generated tokens including this one
//!   (EOS counts), the power computed in f64 and rounded to `T` (torch
//!   dividing a tensor by a Python float on the CPU; on CUDA torch multiplies
//!   by the reciprocal, which can differ in the last bit).
//! * Finished hypotheses live in `num_beams` slots, initially -1e9
//!   placeholders; each step keeps the best `num_beams` of the old slots and
//!   the step's `K` candidates (those not finished get another -1e9).
//! * Stop check after each step (sticky): with `best` = best running beam
//!   score / `T(L ** length_penalty)`, `L` = `n`, or `max_new_tokens` for
//!   [`EarlyStopping::Never`] with `length_penalty > 0`, and `worst` = the
//!   lowest slot, the item goes on while some slot has `best > worst` (a
//!   finished slot) or `best > -1e9` (a placeholder). It also stops when
//!   every slot is finished under [`EarlyStopping::Finish`], and at
//!   `max_new_tokens`. The result: the first `num_return_sequences` slots.
//!
//! # Diverse beam search arithmetic (4.56)
//!
//! * Initial beam scores: 0 for the first beam of each group, -1e9 for the
//!   others. Groups step in order; group `g`'s log-probs first lose
//!   `T(strength) * T(count)` (see [`Diversity`]).
//! * The group's best `K = max(2, 1 + number of EOS ids) * beams_per_group`
//!   candidates are walked best first: an EOS candidate ranked below
//!   `beams_per_group` becomes a hypothesis with the f64 score
//!   `f64(s) / n ** length_penalty`; a lower-ranked EOS is dropped; other
//!   candidates become the group's beams until it has `beams_per_group`.
//! * A group keeps its best `beams_per_group` hypotheses; when full it takes
//!   only strictly better ones and drops its worst (the earliest among
//!   equal). It is done (sticky) once full and: under `Finish` at once,
//!   otherwise when `worst >= best_candidate / L ** length_penalty` in f64,
//!   where `best_candidate` is the step's top candidate score (an EOS that
//!   just finished included) and `L` as above.
//! * A done group counts as choosing the pad token (default: the first EOS
//!   id) with each beam, for later groups' Hamming penalty.
//! * At the end, groups not done add their running beams at the final
//!   length. The result ranks all groups' hypotheses by f64 score (ties: the
//!   later added first, Python's stable sort popped from the end) and
//!   rounds the scores to `T`.
//!
//! # Where one 4.56 group ([`Semantics::Scorer`]) differs from 5.18 beam search
//!
//! 1. Finished scores are f64 divided then rounded (4.56) versus divided in
//!    `T` (5.18): the last bit can differ, and 4.56 ranks hypotheses in f64.
//! 2. The stop check uses the step's best candidate, possibly an EOS just
//!    finished (4.56), versus the best running beam (5.18).
//! 3. At `max_new_tokens`, 5.18 finishes the best `num_beams` candidates of
//!    the last step, EOS or not; 4.56 finishes the EOS ones ranked below the
//!    group size and then adds the running beams, which may include
//!    candidates ranked below it.
//! 4. Bad words: 4.56 skips a word longer than the whole sequence so far
//!    (so a prefix equal to the whole sequence bans nothing); 5.18 only needs
//!    the prefix to fit.
//! 5. Hypothesis ties: insertion order (4.56) versus torch.topk's (5.18).
//! 6. 4.56 writes `eos_token_id[0]` for whichever EOS id ended a hypothesis,
//!    and its diverse `beam_indices` are row numbers within a group, looked
//!    up in the first group's history for every group (and, at the end,
//!    misplaced when the batch has several items); this module returns the
//!    EOS that was chosen and 5.18's `beam_indices` (the parent's global
//!    row), which agree with 4.56 for one group.
//! 7. 4.56 refuses `diversity_penalty == 0` with several groups; this
//!    module allows it (groups are then independent searches).
//!
//! # Ties, -inf and placeholders
//!
//! Candidates are ranked by score, then by the lower flattened index
//! `beam * vocab + token`; finished slots by value, then old before new.
//! torch.topk leaves the order of equal values unspecified, so transformers
//! can differ from this module only where exact ties decide. `-inf` inputs
//! are allowed (a banned token); NaN and `+inf` are refused. When nearly
//! every token is banned, scores reach -inf and -1e9 placeholders can
//! outrank real hypotheses; a returned placeholder has `finished == false`
//! (transformers returns whatever sequence its tie order put there).
//! A beam that descends from a -1e9 start (a beam other than the first of
//! its group, at the first step) runs on only when the first beam offers
//! fewer usable tokens than there are beams; its score keeps the -1e9, so
//! its token scores do not add up to it.
//!
//! # Cost
//!
//! A dense step reads each row once: chunks of the row are compared with
//! the current k-th best score (vectorized); only elements that beat it are
//! checked for bans and penalties, which can only lower a score, and
//! inserted. Rows of a group share the threshold; large steps are split
//! across the crate's thread pool by groups (and parts of groups), with the
//! same result for every thread count. Tokens are stored as back-pointers,
//! one node per kept beam per step, so a step costs the same at any length,
//! except no_repeat_ngram, which reads each row's whole sequence (O(length)
//! per row and step, as transformers does); bad words read the last
//! (longest word - 1) tokens and [`Diversity::Ngram`] the last n-1 tokens
//! of the rows it compares.

mod beam;
mod config;
mod error;
mod finalize;
mod group;
mod group_step;
mod history;
mod output;
mod rules;
mod score;
mod select;
mod state;
mod tasks;
#[cfg(test)]
mod tests;

pub use config::{Diversity, EarlyStopping, SearchConfig, Semantics};
pub use error::DecodeError;
pub use output::{Hypothesis, SearchOutput, StepOutput};
pub use score::Score;
pub use state::SearchState;
