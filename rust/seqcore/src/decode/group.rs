//! transformers 4.56 diverse beam search bookkeeping for one group of one
//! batch item: `BeamSearchScorer.process` / `finalize` and `BeamHypotheses`.
//! Finished scores and stop checks are Python floats (f64) there, and so
//! they are here.

use super::config::EarlyStopping;
use super::history::Node;
use super::score::Score;
use super::select::Candidate;

/// A finished hypothesis: its length-penalized score and its last token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Hyp<T> {
    pub score: f64,
    pub tail: Node<T>,
}

/// The fixed parameters of the bookkeeping.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScorerParams {
    pub group_size: usize,
    pub max_new_tokens: usize,
    pub length_penalty: f64,
    pub early_stopping: EarlyStopping,
}

impl ScorerParams {
    /// `sum_logprobs / generated ** length_penalty` in f64, as Python does.
    pub fn penalized(&self, sum_logprobs: f64, generated: usize) -> f64 {
        let score = sum_logprobs / (generated as f64).powf(self.length_penalty);
        // NaN only from an extreme length_penalty; keep scores ordered.
        if score.is_nan() {
            f64::NEG_INFINITY
        } else {
            score
        }
    }
}

/// transformers' `BeamHypotheses` plus the group's done flag.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupHyps<T> {
    /// In insertion order (it decides ties in the final ranking).
    pub hyps: Vec<Hyp<T>>,
    worst: f64,
    pub done: bool,
}

impl<T: Score> GroupHyps<T> {
    pub fn new() -> Self {
        Self {
            hyps: Vec::new(),
            worst: 1e9,
            done: false,
        }
    }

    /// `BeamHypotheses.add`: keeps the best `capacity`; a full list only
    /// takes a strictly better score and then drops its worst (the earliest
    /// added among equals).
    pub fn add(&mut self, score: f64, tail: Node<T>, capacity: usize) {
        if self.hyps.len() < capacity || score > self.worst {
            self.hyps.push(Hyp { score, tail });
            if self.hyps.len() > capacity {
                let mut lowest = 0;
                for (i, hyp) in self.hyps.iter().enumerate() {
                    if hyp.score < self.hyps[lowest].score {
                        lowest = i;
                    }
                }
                self.hyps.remove(lowest);
                self.worst = self
                    .hyps
                    .iter()
                    .map(|h| h.score)
                    .fold(f64::INFINITY, f64::min);
            } else {
                self.worst = if self.worst < score {
                    self.worst
                } else {
                    score
                };
            }
        }
    }

    /// `BeamHypotheses.is_done` after a step whose best candidate scored
    /// `best_sum` with `generated` tokens.
    pub fn is_done(&self, best_sum: f64, generated: usize, params: &ScorerParams) -> bool {
        if self.hyps.len() < params.group_size {
            return false;
        }
        let length = match params.early_stopping {
            EarlyStopping::Finish => return true,
            EarlyStopping::Never if params.length_penalty > 0.0 => params.max_new_tokens,
            _ => generated,
        };
        self.worst >= best_sum / (length as f64).powf(params.length_penalty)
    }
}

/// What one step does to a group, computed before anything is changed so a
/// failing later group leaves the search as it was.
#[derive(Debug, Clone)]
pub(crate) struct GroupPlan<T> {
    /// The candidates that continue as the group's beams, in beam order.
    pub chosen: Vec<Candidate<T>>,
    /// The group's hypotheses after the step (done flag included).
    pub hyps: GroupHyps<T>,
}

impl<T: Score> GroupPlan<T> {
    pub fn new() -> Self {
        Self {
            chosen: Vec::new(),
            hyps: GroupHyps::new(),
        }
    }

    /// `BeamSearchScorer.process` for one group of one item: walks the
    /// candidates best first; an EOS candidate ranked within the first
    /// `group_size` is finished, a lower-ranked one dropped; other
    /// candidates continue until the group has `group_size` beams.
    pub fn plan(
        &mut self,
        current: &GroupHyps<T>,
        candidates: &[Candidate<T>],
        tail: impl Fn(&Candidate<T>) -> Node<T>,
        is_eos: impl Fn(u32) -> bool,
        generated: usize,
        params: &ScorerParams,
    ) {
        self.hyps.clone_from(current);
        self.chosen.clear();
        for (rank, candidate) in candidates.iter().enumerate() {
            if is_eos(candidate.token) {
                if rank < params.group_size {
                    let score = params.penalized(candidate.score.to_f64(), generated);
                    self.hyps.add(score, tail(candidate), params.group_size);
                }
            } else {
                self.chosen.push(*candidate);
            }
            if self.chosen.len() == params.group_size {
                break;
            }
        }
        // At most (number of EOS ids) * group_size candidates are EOS, so
        // the walk always finds group_size others.
        debug_assert_eq!(self.chosen.len(), params.group_size);
        let best_sum = candidates[0].score.to_f64();
        self.hyps.done = current.done || self.hyps.is_done(best_sum, generated, params);
    }
}

/// The order `BeamSearchScorer.finalize` picks hypotheses from the groups of
/// one item: higher score first, and among equal scores the one later in
/// the groups' concatenated lists (Python's stable sort, popped from the
/// end). Returns `(group, index in that group)` pairs.
pub(crate) fn final_order<T>(groups: &[GroupHyps<T>]) -> Vec<(usize, usize)> {
    let mut all: Vec<(usize, usize, f64)> = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        all.extend(group.hyps.iter().enumerate().map(|(i, h)| (g, i, h.score)));
    }
    let mut order: Vec<usize> = (0..all.len()).collect();
    // Scores are never NaN; positions are unique, so the order is total.
    order.sort_unstable_by(|&a, &b| {
        all[b]
            .2
            .partial_cmp(&all[a].2)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(b.cmp(&a))
    });
    order.into_iter().map(|i| (all[i].0, all[i].1)).collect()
}
