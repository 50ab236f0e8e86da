//! Turning the search state into hypotheses, at the end or early.

use super::beam::Slot;
use super::error::DecodeError;
use super::group::{final_order, GroupHyps, Hyp};
use super::history::{History, Node};
use super::output::{Hypothesis, SearchOutput};
use super::score::{ordered, Score};
use super::state::{Items, SearchState};

impl<T: Score> SearchState<T> {
    /// The result: per batch item the best `num_return_sequences`
    /// hypotheses, and every group's kept hypotheses.
    ///
    /// Callable at any point after the first step. Before the search is done
    /// it finalizes as if `max_new_tokens` were the number of tokens
    /// generated so far, which is what transformers returns with that
    /// `max_new_tokens` (except with `EarlyStopping::Never` and
    /// `length_penalty > 0`, whose earlier stop checks used the configured
    /// maximum). The search itself is not changed and can go on.
    pub fn finalize(&self) -> Result<SearchOutput<T>, DecodeError> {
        if self.generated == 0 {
            return Err(DecodeError::NotStarted);
        }
        let num_return = self.config.num_return_sequences;
        let mut output = SearchOutput {
            sequences: Vec::new(),
            per_group: Vec::new(),
        };
        for item in 0..self.prompts.len() {
            let per_group = match &self.items {
                Items::Greedy { .. } => {
                    // transformers reports no greedy score: this is the sum
                    // of the chosen log-probs, whatever the length penalty.
                    let beam = self.beams[item];
                    let tail = *self.history.node(beam.node);
                    let score = ordered(beam.score);
                    vec![vec![hypothesis(&self.history, Some(&tail), score, 0, true)]]
                }
                Items::Vectorized { items, params } => {
                    let slots = items[item].final_slots(self.generated, !self.done(), params);
                    vec![slots
                        .iter()
                        .map(|slot| slot_hypothesis(&self.history, slot))
                        .collect()]
                }
                Items::Scorer { groups, params, .. } => {
                    let groups = self.final_groups(item, groups, params);
                    let order = final_order(&groups);
                    let pick = |&(g, i): &(usize, usize)| {
                        let hyp: &Hyp<T> = &groups[g].hyps[i];
                        hypothesis(
                            &self.history,
                            Some(&hyp.tail),
                            T::from_f64(hyp.score),
                            g,
                            true,
                        )
                    };
                    output
                        .sequences
                        .push(order.iter().take(num_return).map(pick).collect());
                    let mut per_group: Vec<Vec<Hypothesis<T>>> = vec![Vec::new(); groups.len()];
                    for entry in &order {
                        per_group[entry.0].push(pick(entry));
                    }
                    output.per_group.push(per_group);
                    continue;
                }
            };
            output
                .sequences
                .push(per_group[0].iter().take(num_return).cloned().collect());
            output.per_group.push(per_group);
        }
        Ok(output)
    }

    /// `BeamSearchScorer.finalize` for one item: groups not done take their
    /// running beams as hypotheses at the current length.
    fn final_groups(
        &self,
        item: usize,
        groups: &[GroupHyps<T>],
        params: &super::group::ScorerParams,
    ) -> Vec<GroupHyps<T>> {
        let num_groups = self.config.num_groups;
        let mut out = groups[item * num_groups..(item + 1) * num_groups].to_vec();
        for (group, hyps) in out.iter_mut().enumerate() {
            if hyps.done {
                continue;
            }
            let base = item * self.config.num_beams + group * params.group_size;
            for beam in &self.beams[base..base + params.group_size] {
                let score = params.penalized(beam.score.to_f64(), self.generated);
                hyps.add(score, *self.history.node(beam.node), params.group_size);
            }
        }
        out
    }
}

fn slot_hypothesis<T: Score>(history: &History<T>, slot: &Slot<T>) -> Hypothesis<T> {
    hypothesis(history, slot.tail.as_ref(), slot.value, 0, slot.finished)
}

fn hypothesis<T: Score>(
    history: &History<T>,
    tail: Option<&Node<T>>,
    score: T,
    group: usize,
    finished: bool,
) -> Hypothesis<T> {
    let unrolled = history.unroll(tail);
    Hypothesis {
        tokens: unrolled.tokens,
        score,
        token_scores: unrolled.token_scores,
        beam_indices: unrolled.beam_indices,
        group,
        finished,
    }
}
