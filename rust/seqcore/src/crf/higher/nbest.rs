//! The k best distinct labellings of each sequence (Lawler's scheme on the
//! Viterbi tables).
//!
//! Every labelling is the best one except for a few *deviations*: at the
//! end, another final state than the best; or at a step `t`, into state
//! `j`, another first label `a` than the best n-gram's. Each costs
//!
//! ```text
//! end:     best_to(T-1, best state) - best_to(T-1, j)
//! step t:  best_to(t, j) - (S_t[a L^(N-1) + j] + message(t, (a L^(N-1) + j) / L))  >= 0
//! ```
//!
//! and a labelling's score is the best score minus the sum of its losses.
//! Each labelling found spawns candidates that deviate once more, before
//! its own last deviation, so every labelling is reached from exactly one
//! parent; a heap hands out the candidate with the smallest total loss.
//! The losses use the very numbers the Viterbi pass compared, so following
//! a pointer costs exactly 0 and totals never decrease: the labellings come
//! out in order of score, ties in Viterbi's order (smallest read from the
//! last label backwards; up to a loss smaller than the rounding of the
//! total it is added to). Cost: the Viterbi pass, plus `O(k * len * L)`
//! candidates (and `L^(N-1)` for the end).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::float::CrfFloat;
use super::forward::Workspace;
use super::inputs::{validate, Chain, HigherOrderInputs};
use super::viterbi::{max_tables, LabelPath, MaxTables};
use crate::crf::CrfError;
use crate::parallel;

/// The `k` best distinct labellings of every sequence, best first.
///
/// Scores are the best score minus the summed losses (in f64), so they
/// never increase down the list; equal scores come in [`super::viterbi`]'s
/// tie order (smallest read from the last label backwards). Fewer than `k`
/// are returned when fewer labellings have a finite score: none when the
/// sequence has no allowed labelling or a NaN score, and just the empty
/// labelling (score 0) for an empty sequence. The first is always
/// [`super::viterbi`]'s.
pub fn nbest<T: CrfFloat>(
    inputs: &HigherOrderInputs<'_, T>,
    k: usize,
) -> Result<Vec<Vec<LabelPath<T>>>, CrfError> {
    if k == 0 {
        return Err(CrfError::Invalid("n-best needs k >= 1".into()));
    }
    let chain = validate(inputs)?;
    Ok(parallel::map_tasks(chain.batch, |b| {
        nbest_sequence(&chain, b, k)
    }))
}

/// A labelling found.
struct Found {
    labels: Vec<u32>,
    /// The state after each position.
    states: Vec<usize>,
    loss: f64,
}

/// A labelling not yet materialised: `parent`'s, except that at `step`
/// it takes first label `choice` (or, at `step == len`, ends in state
/// `choice`), and follows the best pointers before that.
#[derive(Clone, Copy)]
struct Candidate {
    loss: f64,
    parent: usize,
    step: usize,
    choice: usize,
}

struct Search<'c, 'a, T> {
    chain: &'c Chain<'a, T>,
    b: usize,
    tables: MaxTables<T>,
    found: Vec<Found>,
    candidates: Vec<Candidate>,
    /// (loss bits, candidate index): losses are >= 0, where the bit
    /// pattern orders like the value; the index makes the order total.
    heap: BinaryHeap<Reverse<(u64, usize)>>,
}

fn nbest_sequence<T: CrfFloat>(chain: &Chain<'_, T>, b: usize, k: usize) -> Vec<LabelPath<T>> {
    let len = chain.lengths[b];
    if len == 0 {
        return vec![LabelPath {
            labels: Vec::new(),
            score: T::ZERO,
        }];
    }
    let mut ws = Workspace::new(chain);
    let tables = max_tables(chain, b, &mut ws);
    drop(ws);
    if !tables.best.is_finite() {
        return Vec::new();
    }
    let best = tables.best;
    let mut search = Search {
        chain,
        b,
        tables,
        // Not `k`: a caller may ask for far more paths than exist.
        found: Vec::with_capacity(k.min(64)),
        candidates: Vec::new(),
        heap: BinaryHeap::new(),
    };
    let mut labels = vec![0; len];
    search
        .tables
        .walk_back(chain, len, search.tables.last, &mut labels);
    search.add(labels, 0.0, len + 1);
    while search.found.len() < k {
        let Some((labels, loss, free_until)) = search.pop() else {
            break;
        };
        search.add(labels, loss, free_until);
    }
    search
        .found
        .into_iter()
        .map(|f| LabelPath {
            labels: f.labels,
            score: T::from_f64(best - f.loss),
        })
        .collect()
}

impl<T: CrfFloat> Search<'_, '_, T> {
    /// Records a labelling and queues its deviations at steps before
    /// `free_until` (`len` stands for the end).
    fn add(&mut self, labels: Vec<u32>, loss: f64, free_until: usize) {
        let chain = self.chain;
        let (l, w, n) = (chain.labels, chain.states, chain.order);
        let len = labels.len();
        let mut states = Vec::with_capacity(len);
        let mut state = 0;
        for &y in &labels {
            state = (state * l + y as usize) % w;
            states.push(state);
        }
        let parent = self.found.len();
        if free_until > len {
            let top = self.tables.best_to(len - 1, states[len - 1]);
            for j in 0..w {
                if j != states[len - 1] {
                    self.push(parent, loss, top - self.tables.best_to(len - 1, j), len, j);
                }
            }
        }
        for t in n - 1..free_until.min(len) {
            let j = states[t];
            let top = self.tables.best_to(t, j);
            let taken = labels[t + 1 - n] as usize;
            for a in (0..l).filter(|&a| a != taken) {
                let g = a * w + j;
                let reached = chain.ngram_score(self.b, t, g) + self.tables.message(t, g / l);
                self.push(parent, loss, top - reached, t, a);
            }
        }
        self.found.push(Found {
            labels,
            states,
            loss,
        });
    }

    fn push(&mut self, parent: usize, base: f64, step_loss: T, step: usize, choice: usize) {
        let step_loss = step_loss.to_f64();
        // An infinite loss is a forbidden labelling.
        if step_loss.is_finite() {
            let loss = base + step_loss;
            self.heap
                .push(Reverse((loss.to_bits(), self.candidates.len())));
            self.candidates.push(Candidate {
                loss,
                parent,
                step,
                choice,
            });
        }
    }

    /// The next labelling: the smallest loss, and among equal losses the
    /// smallest read from the last label (materialised only on a tie).
    fn pop(&mut self) -> Option<(Vec<u32>, f64, usize)> {
        let Reverse((bits, first)) = self.heap.pop()?;
        let mut best = (self.materialise(first), first);
        let mut tied = Vec::new();
        while let Some(&Reverse((next_bits, next))) = self.heap.peek() {
            if next_bits != bits {
                break;
            }
            self.heap.pop();
            let labels = self.materialise(next);
            if labels.iter().rev().lt(best.0.iter().rev()) {
                tied.push(best.1);
                best = (labels, next);
            } else {
                tied.push(next);
            }
        }
        for index in tied {
            self.heap.push(Reverse((bits, index)));
        }
        let candidate = self.candidates[best.1];
        Some((best.0, candidate.loss, candidate.step))
    }

    fn materialise(&self, index: usize) -> Vec<u32> {
        let c = self.candidates[index];
        let parent = &self.found[c.parent];
        let (l, w) = (self.chain.labels, self.chain.states);
        let mut labels = parent.labels.clone();
        let len = labels.len();
        if c.step == len {
            self.tables
                .walk_back(self.chain, len, c.choice, &mut labels);
        } else if self.chain.order == 1 {
            labels[c.step] = c.choice as u32;
            self.tables.walk_back(self.chain, c.step, 0, &mut labels);
        } else {
            let before = (c.choice * w + parent.states[c.step]) / l;
            self.tables
                .walk_back(self.chain, c.step, before, &mut labels);
        }
        labels
    }
}
