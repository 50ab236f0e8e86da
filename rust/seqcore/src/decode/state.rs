//! The step machine: the host feeds log-probs for the active rows, the
//! search answers which tokens to append and which rows to keep.

use std::sync::{Arc, Mutex, PoisonError};

use rustc_hash::FxHashMap;

use super::beam::{BeamItem, BeamParams};
use super::config::{SearchConfig, Semantics};
use super::error::DecodeError;
use super::group::{GroupHyps, GroupPlan, ScorerParams};
use super::history::{History, Node, NO_NODE};
use super::output::StepOutput;
use super::rules::{BadWordContext, Rules};
use super::score::Score;
use super::select::{merge_lists, Candidate, TopList};
use super::tasks::{Beam, RowWork, StepInput, Task, TaskContext};

/// The per-item bookkeeping of the code path being reproduced.
#[derive(Debug)]
pub(super) enum Items<T> {
    /// transformers' `_sample` without sampling: one beam per item.
    Greedy { done: Vec<bool>, params: BeamParams },
    /// transformers 5.18 `_beam_search`.
    Vectorized {
        items: Vec<BeamItem<T>>,
        params: BeamParams,
    },
    /// transformers 4.56 `_group_beam_search`; `groups`, `plans` and
    /// `cumulative` are indexed `item * num_groups + group`.
    Scorer {
        groups: Vec<GroupHyps<T>>,
        plans: Vec<GroupPlan<T>>,
        cumulative: Vec<FxHashMap<u32, u32>>,
        params: ScorerParams,
    },
}

/// Buffers reused from step to step.
#[derive(Debug, Default)]
pub(super) struct Scratch<T> {
    pub tasks: Vec<Task>,
    pub phase: Vec<Task>,
    /// Index in `tasks` of each (item, group)'s first task.
    pub group_start: Vec<usize>,
    pub work: Vec<Mutex<RowWork<T>>>,
    pub candidates: Vec<Candidate<T>>,
    pub running: Vec<usize>,
    pub running_scores: Vec<T>,
    pub new_beams: Vec<Beam<T>>,
    pub step_counts: Vec<Vec<(u32, u32)>>,
    pub step_choices: Vec<Vec<(u32, u32)>>,
    pub tokens: Vec<u32>,
}

/// A greedy, beam or diverse beam search over a batch of prompts, driven
/// one step at a time. See the [module docs](super) for the protocol and
/// the exact semantics.
#[derive(Debug)]
pub struct SearchState<T: Score> {
    pub(super) config: Arc<SearchConfig>,
    pub(super) rules: Rules,
    pub(super) prompts: Vec<Vec<u32>>,
    pub(super) history: History<T>,
    /// Indexed by global row `item * num_beams + beam`.
    pub(super) beams: Vec<Beam<T>>,
    pub(super) generated: usize,
    pub(super) active: Vec<usize>,
    pub(super) items: Items<T>,
    pub(super) scratch: Scratch<T>,
    /// `(input row, token)` candidates that end their beam at the next
    /// step as an EOS would (the host's stop strings), sorted.
    pub(super) finishers: Vec<(usize, u32)>,
}

impl<T: Score> SearchState<T> {
    /// Starts a search over one prompt per batch item. Prompts are what the
    /// model's input rows hold (left padding included, if the host pads):
    /// no_repeat_ngram and bad words read them. Greedy when
    /// [`SearchConfig::is_greedy`].
    pub fn new(
        config: impl Into<Arc<SearchConfig>>,
        prompts: &[&[u32]],
    ) -> Result<Self, DecodeError> {
        let config: Arc<SearchConfig> = config.into();
        config.validate()?;
        let batch = prompts.len();
        if batch == 0 {
            return Err(DecodeError::Shape("the batch has no prompts".into()));
        }
        let num_beams = config.num_beams;
        if batch
            .checked_mul(num_beams)
            .is_none_or(|rows| rows > u32::MAX as usize)
        {
            return Err(DecodeError::Config(
                "batch size * num_beams must fit in u32".into(),
            ));
        }
        let semantics = match config.semantics {
            Semantics::Auto if config.num_groups > 1 => Semantics::Scorer,
            Semantics::Auto => Semantics::Vectorized,
            other => other,
        };
        let beam_params = BeamParams {
            num_beams,
            max_new_tokens: config.max_new_tokens,
            length_penalty: config.length_penalty,
            early_stopping: config.early_stopping,
        };
        let group_size = config.beams_per_group();
        let out_of_contention = T::from_f64(-1.0e9);
        // Only the first beam of each group starts in contention.
        let initial_score = |beam: usize| {
            let first = if semantics == Semantics::Scorer {
                beam.is_multiple_of(group_size)
            } else {
                beam == 0
            };
            if first {
                T::from_f64(0.0)
            } else {
                out_of_contention
            }
        };
        let beams = (0..batch * num_beams)
            .map(|row| Beam {
                score: initial_score(row % num_beams),
                node: NO_NODE,
            })
            .collect();
        let (items, context_rule) = if config.is_greedy() {
            (
                Items::Greedy {
                    done: vec![false; batch],
                    params: beam_params,
                },
                BadWordContext::PrefixFits,
            )
        } else if semantics == Semantics::Vectorized {
            let items = (0..batch).map(|_| BeamItem::new(num_beams)).collect();
            (
                Items::Vectorized {
                    items,
                    params: beam_params,
                },
                BadWordContext::PrefixFits,
            )
        } else {
            let slots = batch * config.num_groups;
            let params = ScorerParams {
                group_size,
                max_new_tokens: config.max_new_tokens,
                length_penalty: config.length_penalty,
                early_stopping: config.early_stopping,
            };
            let items = Items::Scorer {
                groups: (0..slots).map(|_| GroupHyps::new()).collect(),
                plans: (0..slots).map(|_| GroupPlan::new()).collect(),
                cumulative: vec![FxHashMap::default(); slots],
                params,
            };
            (items, BadWordContext::WordFits)
        };
        Ok(Self {
            rules: Rules::new(&config, context_rule),
            prompts: prompts.iter().map(|p| p.to_vec()).collect(),
            history: History::default(),
            beams,
            generated: 0,
            active: (0..batch).map(|item| item * num_beams).collect(),
            items,
            scratch: Scratch::default(),
            finishers: Vec::new(),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SearchConfig {
        &self.config
    }

    /// The number of batch items.
    pub fn batch_size(&self) -> usize {
        self.prompts.len()
    }

    /// Tokens generated so far (steps taken).
    pub fn generated(&self) -> usize {
        self.generated
    }

    /// The global rows (`batch_item * num_beams + beam`) whose log-probs the
    /// next step needs, in input order. Before the first step this is one
    /// row per batch item (`item * num_beams`), the prompt, which stands for
    /// all of the item's beams; afterwards the rows of the beams still
    /// running. Empty when [`done`](Self::done).
    pub fn active_rows(&self) -> &[usize] {
        &self.active
    }

    /// Whether the search is over (every item stopped, or `max_new_tokens`
    /// reached); [`finalize`](Self::finalize) then gives the result.
    pub fn done(&self) -> bool {
        self.active.is_empty()
    }

    /// One step from full log-probs: `logprobs` is `(active_rows().len(),
    /// vocab)` row-major, normalized log-probs of the next token (the host
    /// applied log_softmax). NaN and `+inf` are refused, `-inf` is allowed.
    /// On error the search is unchanged.
    pub fn step_logprobs(
        &mut self,
        logprobs: &[T],
        vocab: usize,
    ) -> Result<StepOutput, DecodeError> {
        if self.done() {
            return Err(DecodeError::Finished);
        }
        if vocab != self.config.vocab_size {
            return Err(DecodeError::Shape(format!(
                "vocab is {vocab} but the configuration says {}",
                self.config.vocab_size
            )));
        }
        let rows = self.active.len();
        if logprobs.len() != rows * vocab {
            return Err(DecodeError::Shape(format!(
                "expected {rows} x {vocab} = {} log-probs, got {}",
                rows * vocab,
                logprobs.len()
            )));
        }
        self.step(StepInput::Dense { logprobs, vocab })
    }

    /// One step from the host's own top-k per active row (e.g. `torch.topk`
    /// on the device): `tokens` and `logprobs` are `(active_rows().len(), k)`
    /// row-major, in any order within a row, without repeated tokens.
    /// `k` must be at least [`SearchConfig::candidates_per_group`].
    ///
    /// The result equals [`step_logprobs`](Self::step_logprobs) on the
    /// full rows whenever every row's list holds that row's
    /// `candidates_per_group` best tokens after bans and penalties (ranked by
    /// score, then lower token id). That is so, for instance, when the host
    /// lists its top `k` by log-prob (lower id first among equal values) and
    /// at most `k - candidates_per_group` of a row's listed tokens are banned
    /// or penalized, unless adding the beam score rounds two different
    /// log-probs on either side of the cut to the same score. Otherwise the
    /// step is a beam search over the listed tokens only: unlisted tokens
    /// count as never chosen.
    pub fn step_candidates(
        &mut self,
        tokens: &[u32],
        logprobs: &[T],
        k: usize,
    ) -> Result<StepOutput, DecodeError> {
        if self.done() {
            return Err(DecodeError::Finished);
        }
        let keep = self.config.candidates_per_group();
        if k < keep || k > self.config.vocab_size {
            return Err(DecodeError::Shape(format!(
                "k must be in {keep}..={} (candidates kept per group ..= vocab), got {k}",
                self.config.vocab_size
            )));
        }
        let expected = self.active.len() * k;
        if tokens.len() != expected || logprobs.len() != expected {
            return Err(DecodeError::Shape(format!(
                "expected {} x {k} = {expected} tokens and log-probs, got {} and {}",
                self.active.len(),
                tokens.len(),
                logprobs.len()
            )));
        }
        self.step(StepInput::Candidates {
            tokens,
            logprobs,
            k,
        })
    }

    /// Makes the next step treat each `(row, token)` candidate (`row` an
    /// index into [`active_rows`](Self::active_rows)) as ending its beam,
    /// exactly as an EOS token would: this is how a host applies stop
    /// strings, which transformers' beam search checks on every candidate.
    /// Applies to that one step only. Greedy and plain beam search; diverse
    /// beam search (transformers 4.56's scorer) has no such rule.
    pub fn finish_on(&mut self, candidates: &[(usize, u32)]) -> Result<(), DecodeError> {
        if matches!(self.items, Items::Scorer { .. }) {
            return Err(DecodeError::Config(
                "stops on chosen candidates need greedy or plain beam search, \
                 not diverse beam search"
                    .into(),
            ));
        }
        let rows = self.active.len();
        if let Some(&(row, token)) = candidates
            .iter()
            .find(|&&(row, token)| row >= rows || token as usize >= self.config.vocab_size)
        {
            return Err(DecodeError::Shape(format!(
                "stop candidate (row {row}, token {token}) is outside the {rows} active rows \
                 or the vocabulary of {}",
                self.config.vocab_size
            )));
        }
        self.finishers.clear();
        self.finishers.extend_from_slice(candidates);
        self.finishers.sort_unstable();
        Ok(())
    }

    fn step(&mut self, input: StepInput<'_, T>) -> Result<StepOutput, DecodeError> {
        let result = self.step_once(input);
        self.finishers.clear();
        result
    }

    fn step_once(&mut self, input: StepInput<'_, T>) -> Result<StepOutput, DecodeError> {
        self.build_tasks();
        self.history.ensure_room(self.scratch.tasks.len())?;
        let output = if matches!(self.items, Items::Scorer { .. }) {
            self.step_groups(input)?
        } else {
            self.step_items(input)?
        };
        self.generated += 1;
        self.active.clone_from(&output.rows);
        Ok(output)
    }

    /// One task per beam to extend, ordered by global row.
    fn build_tasks(&mut self) {
        let num_beams = self.config.num_beams;
        let group_size = self.config.beams_per_group();
        let tasks = &mut self.scratch.tasks;
        tasks.clear();
        for (input_row, &row) in self.active.iter().enumerate() {
            let item = row / num_beams;
            // Before the first step one input row stands for all the beams.
            let beams = if self.generated == 0 {
                0..num_beams
            } else {
                row % num_beams..row % num_beams + 1
            };
            for within in beams {
                tasks.push(Task {
                    input_row,
                    item,
                    group: within / group_size,
                    beam: within % group_size,
                    global_row: item * num_beams + within,
                });
            }
        }
        while self.scratch.work.len() < tasks.len() {
            self.scratch.work.push(Mutex::default());
        }
    }

    pub(super) fn context(&self) -> TaskContext<'_, T> {
        TaskContext {
            rules: &self.rules,
            history: &self.history,
            beams: &self.beams,
            prompts: &self.prompts,
            vocab: self.config.vocab_size,
            keep: self.config.candidates_per_group(),
            ban_eos: self.rules.bans_eos(self.generated),
            diversity: None,
            greedy: matches!(self.items, Items::Greedy { .. }),
        }
    }

    /// Greedy and 5.18 beam search: one selection for all rows, then each
    /// item's bookkeeping (which cannot fail).
    fn step_items(&mut self, input: StepInput<'_, T>) -> Result<StepOutput, DecodeError> {
        let num_beams = self.config.num_beams;
        let unit_len =
            self.context()
                .run(&self.scratch.tasks, num_beams, input, &self.scratch.work)?;
        let units_per_item = num_beams / unit_len;
        let Self {
            config,
            rules,
            history,
            beams,
            items,
            scratch,
            generated,
            finishers,
            ..
        } = self;
        let keep = config.candidates_per_group();
        let generated = *generated + 1;
        let mut output = StepOutput::default();
        let Scratch {
            tasks,
            work,
            candidates,
            running,
            running_scores,
            new_beams,
            ..
        } = scratch;
        for (index, chunk) in tasks.chunks(num_beams).enumerate() {
            let units = &mut work[index * units_per_item..(index + 1) * units_per_item];
            merge_lists(best_lists(units), config.vocab_size, keep, candidates);
            let base = chunk[0].item * num_beams;
            let tail = |c: &Candidate<T>| candidate_node(beams, base + c.beam, c);
            let continues = match items {
                Items::Greedy { done, params } => {
                    let best = candidates[0];
                    running.clear();
                    running.push(0);
                    running_scores.clear();
                    // Selection ranked log-probs alone; the sum goes on here.
                    running_scores.push(beams[base].score + best.value);
                    let stop = rules.is_eos(best.token)
                        || generated == params.max_new_tokens
                        || finishers
                            .binary_search(&(chunk[0].input_row, best.token))
                            .is_ok();
                    done[chunk[0].item] = stop;
                    !stop
                }
                Items::Vectorized { items, params } => {
                    let state = &mut items[chunk[0].item];
                    state.step(
                        candidates,
                        tail,
                        |c| {
                            rules.is_eos(c.token)
                                || finishers
                                    .binary_search(&(chunk[c.beam].input_row, c.token))
                                    .is_ok()
                        },
                        generated,
                        params,
                        running,
                        running_scores,
                    );
                    !state.done
                }
                Items::Scorer { .. } => unreachable!("group search steps in step_groups"),
            };
            new_beams.clear();
            for (&k, &score) in running.iter().zip(running_scores.iter()) {
                let c = &candidates[k];
                let node = history.push(candidate_node(beams, base + c.beam, c));
                if continues {
                    output.rows.push(base + new_beams.len());
                    output.tokens.push(c.token);
                    output.parents.push(chunk[c.beam].input_row);
                }
                new_beams.push(Beam { score, node });
            }
            beams[base..base + num_beams].copy_from_slice(new_beams);
        }
        Ok(output)
    }
}

/// The node a candidate becomes when it extends the beam at `parent_row`.
pub(super) fn candidate_node<T: Score>(
    beams: &[Beam<T>],
    parent_row: usize,
    c: &Candidate<T>,
) -> Node<T> {
    Node {
        parent: beams[parent_row].node,
        token: c.token,
        parent_row: parent_row as u32,
        token_score: c.value,
    }
}

/// The best-candidate lists of consecutive units' work.
pub(super) fn best_lists<T>(work: &mut [Mutex<RowWork<T>>]) -> impl Iterator<Item = &TopList<T>> {
    work.iter_mut()
        .map(|m| &m.get_mut().unwrap_or_else(PoisonError::into_inner).best)
}
