//! transformers 5.18 `_beam_search` bookkeeping for one batch item
//! (`_get_running_beams_for_next_iteration`, `_update_finished_beams`,
//! `_check_early_stop_heuristic`), in the input float type.

use super::config::EarlyStopping;
use super::history::Node;
use super::score::{ordered, ranks_before, Score};
use super::select::Candidate;

/// The constant transformers adds to push a score out of contention.
const OUT_OF_CONTENTION: f64 = -1.0e9;

/// One of the `num_beams` finished-hypothesis slots of a batch item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Slot<T> {
    /// The length-penalized score (plus transformers' penalties when the
    /// slot holds a placeholder).
    pub value: T,
    /// transformers' `is_sent_finished`.
    pub finished: bool,
    /// The hypothesis' last token; `None` for the initial placeholders.
    pub tail: Option<Node<T>>,
}

/// The fixed parameters of the bookkeeping.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BeamParams {
    pub num_beams: usize,
    pub max_new_tokens: usize,
    pub length_penalty: f64,
    pub early_stopping: EarlyStopping,
}

impl BeamParams {
    /// `generated ** length_penalty`, computed in f64 like Python and
    /// rounded to the input type like torch's division by a Python float.
    pub fn divisor<T: Score>(&self, generated: usize) -> T {
        T::from_f64((generated as f64).powf(self.length_penalty))
    }
}

/// The state of one batch item.
#[derive(Debug, Clone)]
pub(crate) struct BeamItem<T> {
    pub slots: Vec<Slot<T>>,
    /// transformers' `is_early_stop_heuristic_unsatisfied` (sticky false).
    unsatisfied: bool,
    pub done: bool,
    /// For finalizing early: the slots before the latest step's merge, that
    /// step's candidates (score, tail), and its number of generated tokens.
    slots_before_last: Vec<Slot<T>>,
    last_candidates: Vec<(T, Node<T>)>,
    last_generated: usize,
}

impl<T: Score> BeamItem<T> {
    pub fn new(num_beams: usize) -> Self {
        let placeholder = Slot {
            value: T::from_f64(OUT_OF_CONTENTION),
            finished: false,
            tail: None,
        };
        Self {
            slots: vec![placeholder; num_beams],
            unsatisfied: true,
            done: false,
            slots_before_last: Vec::with_capacity(num_beams),
            last_candidates: Vec::new(),
            last_generated: 0,
        }
    }

    /// One step: `candidates` are the item's best `max(2, 1 + n_eos) *
    /// num_beams`, best first; `tail(c)` is the node a candidate would
    /// become; `ends(c)` says whether a candidate ends its beam (an EOS
    /// token, or a stop the host named); `generated` counts tokens
    /// including this step's. Writes the
    /// indices of the candidates that continue as running beams (in beam
    /// order) and their new beam scores.
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &mut self,
        candidates: &[Candidate<T>],
        tail: impl Fn(&Candidate<T>) -> Node<T>,
        ends: impl Fn(&Candidate<T>) -> bool,
        generated: usize,
        params: &BeamParams,
        running: &mut Vec<usize>,
        running_scores: &mut Vec<T>,
    ) {
        let at_max = generated == params.max_new_tokens;
        let hits = |c: &Candidate<T>| at_max || ends(c);
        let out = T::from_f64(OUT_OF_CONTENTION);

        // Running beams: the best `num_beams` after finished candidates are
        // pushed down by 1e9 (they only run on when too few others exist).
        let key = |k: usize| {
            let c = &candidates[k];
            if hits(c) {
                c.score + out
            } else {
                c.score
            }
        };
        running.clear();
        running.extend(0..candidates.len());
        running.sort_unstable_by(|&a, &b| order(ranks_before(key(a), a, key(b), b), a == b));
        running.truncate(params.num_beams);
        running_scores.clear();
        running_scores.extend(running.iter().map(|&k| key(k)));

        // Finished hypotheses.
        self.slots_before_last.clone_from(&self.slots);
        self.last_candidates.clear();
        self.last_candidates
            .extend(candidates.iter().map(|c| (c.score, tail(c))));
        self.last_generated = generated;
        let num_beams = params.num_beams;
        let merged = merge_finished(
            &self.slots_before_last,
            &self.last_candidates,
            |k| k < num_beams && hits(&candidates[k]),
            params.divisor(generated),
            num_beams,
        );
        self.slots = merged;

        // Stop heuristic, computed after the step as transformers does.
        if self.unsatisfied {
            let best_length =
                if params.early_stopping == EarlyStopping::Never && params.length_penalty > 0.0 {
                    params.max_new_tokens
                } else {
                    generated
                };
            let best = ordered(running_scores[0] / params.divisor(best_length));
            let worst = self
                .slots
                .iter()
                .map(|s| s.value)
                .fold(self.slots[0].value, |a, b| if b < a { b } else { a });
            self.unsatisfied = self
                .slots
                .iter()
                .any(|s| best > if s.finished { worst } else { out });
        }
        let full = self.slots.iter().all(|s| s.finished);
        self.done =
            !self.unsatisfied || (params.early_stopping == EarlyStopping::Finish && full) || at_max;
    }

    /// The slots the item ends with. When the search is cut short
    /// (`early`) after `generated` tokens and the item took part in that
    /// last step, the step's merge is redone as at the maximum length (every
    /// one of the best `num_beams` candidates finishes).
    pub fn final_slots(&self, generated: usize, early: bool, params: &BeamParams) -> Vec<Slot<T>> {
        if !early || self.last_generated != generated {
            return self.slots.clone();
        }
        merge_finished(
            &self.slots_before_last,
            &self.last_candidates,
            |k| k < params.num_beams,
            params.divisor(generated),
            params.num_beams,
        )
    }
}

/// transformers' `_update_finished_beams` for an item that is still
/// running: candidates become `score / divisor`, minus 1e9 unless
/// `finished(k)`; the best `num_beams` of old slots then candidates stay.
fn merge_finished<T: Score>(
    old: &[Slot<T>],
    candidates: &[(T, Node<T>)],
    finished: impl Fn(usize) -> bool,
    divisor: T,
    num_beams: usize,
) -> Vec<Slot<T>> {
    let out = T::from_f64(OUT_OF_CONTENTION);
    let mut pool: Vec<Slot<T>> = Vec::with_capacity(old.len() + candidates.len());
    pool.extend_from_slice(old);
    for (k, (score, tail)) in candidates.iter().enumerate() {
        let value = ordered(*score / divisor);
        let is_finished = finished(k);
        let value = if is_finished { value } else { value + out };
        pool.push(Slot {
            value,
            finished: is_finished,
            tail: Some(*tail),
        });
    }
    let mut order_of: Vec<usize> = (0..pool.len()).collect();
    order_of
        .sort_unstable_by(|&a, &b| order(ranks_before(pool[a].value, a, pool[b].value, b), a == b));
    order_of.iter().take(num_beams).map(|&i| pool[i]).collect()
}

/// A sort order from "ranks before" (indices are unique, so it is total).
pub(crate) fn order(before: bool, same: bool) -> std::cmp::Ordering {
    if same {
        std::cmp::Ordering::Equal
    } else if before {
        std::cmp::Ordering::Less
    } else {
        std::cmp::Ordering::Greater
    }
}
