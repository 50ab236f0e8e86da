//! One step of diverse beam search: the groups of every item are stepped in
//! order (group 0 of all items, then group 1, ...), because a group's
//! diversity penalty depends on what earlier groups chose at this step.
//! Every group's outcome is planned first and applied at the end, so an
//! error in a later group leaves the search unchanged.

use super::config::Diversity;
use super::error::DecodeError;
use super::output::StepOutput;
use super::rules::count_tokens;
use super::score::Score;
use super::select::merge_lists;
use super::state::{best_lists, candidate_node, Items, Scratch, SearchState};
use super::tasks::{Beam, DiversityContext, StepInput};

impl<T: Score> SearchState<T> {
    pub(super) fn step_groups(
        &mut self,
        input: StepInput<'_, T>,
    ) -> Result<StepOutput, DecodeError> {
        let num_groups = self.config.num_groups;
        let group_size = self.config.beams_per_group();
        let slots = self.prompts.len() * num_groups;
        let generated = self.generated + 1;
        {
            let Scratch {
                tasks,
                group_start,
                step_counts,
                step_choices,
                ..
            } = &mut self.scratch;
            group_start.clear();
            group_start.resize(slots, usize::MAX);
            for (t, task) in tasks.iter().enumerate() {
                if task.beam == 0 {
                    group_start[task.item * num_groups + task.group] = t;
                }
            }
            step_counts.resize_with(self.prompts.len(), Vec::new);
            step_choices.resize_with(self.prompts.len(), Vec::new);
        }
        for group in 0..num_groups {
            let phase = &mut self.scratch.phase;
            phase.clear();
            phase.extend(self.scratch.tasks.iter().filter(|t| t.group == group));
            if phase.is_empty() {
                continue;
            }
            let diverse = group > 0 && self.config.diversity_strength > 0.0;
            if diverse {
                self.collect_earlier_choices(group);
            }
            let mut context = self.context();
            if diverse {
                let Items::Scorer { cumulative, .. } = &self.items else {
                    unreachable!()
                };
                context.diversity = Some(DiversityContext {
                    strength: T::from_f64(self.config.diversity_strength),
                    kind: self.config.diversity,
                    step_counts: &self.scratch.step_counts,
                    step_choices: &self.scratch.step_choices,
                    cumulative,
                    num_groups,
                });
            }
            let unit_len =
                context.run(&self.scratch.phase, group_size, input, &self.scratch.work)?;
            let units_per_group = group_size / unit_len;

            let Self {
                config,
                rules,
                beams,
                items,
                scratch,
                ..
            } = self;
            let Items::Scorer {
                groups,
                plans,
                params,
                ..
            } = items
            else {
                unreachable!()
            };
            let Scratch {
                phase,
                work,
                candidates,
                ..
            } = scratch;
            for (index, chunk) in phase.chunks(group_size).enumerate() {
                let units = &mut work[index * units_per_group..(index + 1) * units_per_group];
                merge_lists(
                    best_lists(units),
                    config.vocab_size,
                    config.candidates_per_group(),
                    candidates,
                );
                let slot = chunk[0].item * num_groups + group;
                let base = chunk[0].item * config.num_beams + group * group_size;
                plans[slot].plan(
                    &groups[slot],
                    candidates,
                    |c| candidate_node(beams, base + c.beam, c),
                    |t| rules.is_eos(t),
                    generated,
                    params,
                );
            }
        }
        Ok(self.commit_groups(generated))
    }

    /// Fills, per item, what groups before `group` chose at this step:
    /// `(token, count)` for Hamming and Cumulative, `(parent node, token)`
    /// for Ngram. A group that was already done counts, for Hamming only,
    /// as choosing the pad token with each beam (transformers pads it).
    fn collect_earlier_choices(&mut self, group: usize) {
        let num_groups = self.config.num_groups;
        let group_size = self.config.beams_per_group();
        let pad = self
            .config
            .pad_token_id
            .or(self.config.eos_token_ids.first().copied());
        let Items::Scorer { groups, plans, .. } = &self.items else {
            unreachable!()
        };
        let Scratch {
            phase,
            step_counts,
            step_choices,
            tokens,
            ..
        } = &mut self.scratch;
        for chunk in phase.chunks(group_size) {
            let item = chunk[0].item;
            tokens.clear();
            step_choices[item].clear();
            for earlier in 0..group {
                let slot = item * num_groups + earlier;
                if groups[slot].done {
                    if let (Diversity::Hamming, Some(pad)) = (self.config.diversity, pad) {
                        tokens.extend(std::iter::repeat_n(pad, group_size));
                    }
                    continue;
                }
                let base = item * self.config.num_beams + earlier * group_size;
                for c in &plans[slot].chosen {
                    tokens.push(c.token);
                    step_choices[item].push((self.beams[base + c.beam].node, c.token));
                }
            }
            count_tokens(tokens, &mut step_counts[item]);
        }
    }

    /// Applies every planned group: new beams, hypotheses, done flags and
    /// cumulative counts; returns the step's output.
    fn commit_groups(&mut self, generated: usize) -> StepOutput {
        let Self {
            config,
            history,
            beams,
            items,
            scratch,
            ..
        } = self;
        let Items::Scorer {
            groups,
            plans,
            cumulative,
            params,
        } = items
        else {
            unreachable!()
        };
        let Scratch {
            tasks,
            group_start,
            new_beams,
            ..
        } = scratch;
        let num_groups = config.num_groups;
        let group_size = params.group_size;
        let mut output = StepOutput::default();
        for (slot, &start) in group_start.iter().enumerate() {
            if start == usize::MAX {
                continue;
            }
            let (item, group) = (slot / num_groups, slot % num_groups);
            let base = item * config.num_beams + group * group_size;
            let plan = &mut plans[slot];
            std::mem::swap(&mut groups[slot], &mut plan.hyps);
            let continues = !groups[slot].done && generated < params.max_new_tokens;
            new_beams.clear();
            for c in &plan.chosen {
                let node = history.push(candidate_node(beams, base + c.beam, c));
                if continues {
                    output.rows.push(base + new_beams.len());
                    output.tokens.push(c.token);
                    output.parents.push(tasks[start + c.beam].input_row);
                }
                new_beams.push(Beam {
                    score: c.score,
                    node,
                });
            }
            beams[base..base + group_size].copy_from_slice(new_beams);
            if config.diversity == Diversity::Cumulative && config.diversity_strength > 0.0 {
                for later in group + 1..num_groups {
                    let counts = &mut cumulative[item * num_groups + later];
                    for c in &plan.chosen {
                        *counts.entry(c.token).or_insert(0) += 1;
                    }
                }
            }
        }
        output
    }
}
