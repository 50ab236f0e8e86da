//! One step's row work: bans, penalties and top-k selection for every row,
//! in parallel on the crate's pool when the step is large. Each row's result
//! depends only on its inputs, so the outcome is the same for every thread
//! count.

use std::sync::{Mutex, PoisonError};

use rustc_hash::FxHashMap;

use super::config::Diversity;
use super::error::DecodeError;
use super::history::History;
use super::rules::{Penalty, Rules};
use super::score::Score;
use super::select::{select_dense, select_sparse, RowAdjust, RowError, SparseRow, TopList};
use crate::parallel;

/// Below this many scanned elements a step runs on the calling thread.
const PARALLEL_MIN_ELEMENTS: usize = 1 << 17;

/// The host's log-probs for one step.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StepInput<'a, T> {
    /// `(rows, vocab)` row-major.
    Dense { logprobs: &'a [T], vocab: usize },
    /// `(rows, k)` row-major candidate tokens and their log-probs.
    Candidates {
        tokens: &'a [u32],
        logprobs: &'a [T],
        k: usize,
    },
}

impl<T> StepInput<'_, T> {
    /// Elements per row.
    fn width(&self) -> usize {
        match *self {
            StepInput::Dense { vocab, .. } => vocab,
            StepInput::Candidates { k, .. } => k,
        }
    }
}

/// One beam to extend: which input row holds its log-probs, and where the
/// beam sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Task {
    /// Index into the step's input rows.
    pub input_row: usize,
    pub item: usize,
    pub group: usize,
    /// Beam within the group.
    pub beam: usize,
    /// `item * num_beams + group * beams_per_group + beam`.
    pub global_row: usize,
}

/// A beam's state: its score and its last generated token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Beam<T> {
    pub score: T,
    /// Last node of the beam ([`NO_NODE`](super::history::NO_NODE) before
    /// the first step).
    pub node: u32,
}

/// Scratch space of one unit of work (one row, or all rows of a group),
/// kept between steps.
#[derive(Debug, Default)]
pub(crate) struct RowWork<T> {
    pub best: TopList<T>,
    banned: Vec<u32>,
    sequence: Vec<u32>,
    seen: Vec<u32>,
    counts: Vec<(u32, u32)>,
    tail: Vec<u32>,
    other_tail: Vec<u32>,
    tokens: Vec<u32>,
}

/// The diversity penalty of the group being stepped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DiversityContext<'a, T> {
    pub strength: T,
    pub kind: Diversity,
    /// Per item: this step's `(token, count)` from earlier groups (sorted),
    /// for `Hamming` and `Cumulative`.
    pub step_counts: &'a [Vec<(u32, u32)>],
    /// Per item: `(parent node, token)` of each beam that earlier groups
    /// chose at this step, for `Ngram`.
    pub step_choices: &'a [Vec<(u32, u32)>],
    /// Per item and group: counts from earlier steps, for `Cumulative`.
    pub cumulative: &'a [FxHashMap<u32, u32>],
    pub num_groups: usize,
}

/// What every task of a step reads.
pub(crate) struct TaskContext<'a, T> {
    pub rules: &'a Rules,
    pub history: &'a History<T>,
    pub beams: &'a [Beam<T>],
    pub prompts: &'a [Vec<u32>],
    pub vocab: usize,
    pub keep: usize,
    pub ban_eos: bool,
    pub diversity: Option<DiversityContext<'a, T>>,
    /// Greedy search ranks a row's tokens by their log-probs alone, as
    /// transformers' argmax does: adding the running score could round two
    /// close log-probs together, or make every token -inf after a row had to
    /// take a banned one.
    pub greedy: bool,
}

impl<T: Score> TaskContext<'_, T> {
    /// Runs `tasks`, which come in groups of `group_size` consecutive beams.
    /// Work is split in units of consecutive rows of one group, whose rows
    /// share one list and so one threshold: whole groups, or, when a large
    /// step has fewer groups than the pool has threads, equal parts of
    /// groups. Unit `u` writes its best candidates to `work[u]`; returns the
    /// rows per unit. Reports the error of the first failing unit, in task
    /// order.
    pub fn run(
        &self,
        tasks: &[Task],
        group_size: usize,
        input: StepInput<'_, T>,
        work: &[Mutex<RowWork<T>>],
    ) -> Result<usize, DecodeError> {
        let groups = tasks.len() / group_size;
        let large = tasks.len() > 1 && tasks.len() * input.width() >= PARALLEL_MIN_ELEMENTS;
        let threads = if large { parallel::num_threads() } else { 1 };
        // Split each group into as many equal parts as the idle threads
        // allow; parts keep their rows' shared threshold.
        let parts = (1..=group_size)
            .rev()
            .find(|&d| group_size.is_multiple_of(d) && groups * d <= threads.max(groups))
            .unwrap_or(1);
        let unit_len = group_size / parts;
        let run_unit = |u: usize| {
            let mut guard = work[u].lock().unwrap_or_else(PoisonError::into_inner);
            guard.best.clear();
            tasks[u * unit_len..(u + 1) * unit_len]
                .iter()
                .try_for_each(|task| self.run_task(task, input, &mut guard))
        };
        let units = tasks.len() / unit_len;
        if threads > 1 {
            parallel::map_tasks(units, run_unit)
                .into_iter()
                .collect::<Result<(), _>>()?;
        } else {
            (0..units).try_for_each(run_unit)?;
        }
        Ok(unit_len)
    }

    fn run_task(
        &self,
        task: &Task,
        input: StepInput<'_, T>,
        work: &mut RowWork<T>,
    ) -> Result<(), DecodeError> {
        let RowWork {
            best,
            banned,
            sequence,
            seen,
            counts,
            tail,
            other_tail,
            tokens,
        } = work;
        let beam = self.beams[task.global_row];
        let prompt = &self.prompts[task.item];
        if self.rules.has_row_bans() {
            self.rules.row_bans(
                self.history,
                beam.node,
                prompt,
                self.vocab,
                sequence,
                banned,
            );
        } else {
            banned.clear();
        }
        let penalty = self.diversity.as_ref().and_then(|d| {
            let penalty =
                self.penalty(d, task, beam.node, prompt, counts, tail, other_tail, tokens);
            penalty.is_active().then_some(penalty)
        });
        let adjust = RowAdjust {
            rules: self.rules,
            ban_eos: self.ban_eos,
            banned,
            penalty,
        };
        let row = task.input_row;
        let beam_score = if self.greedy {
            T::default()
        } else {
            beam.score
        };
        let result = match input {
            StepInput::Dense { logprobs, vocab } => select_dense(
                &logprobs[row * vocab..(row + 1) * vocab],
                task.beam,
                beam_score,
                &adjust,
                self.keep,
                best,
            ),
            StepInput::Candidates {
                tokens,
                logprobs,
                k,
            } => select_sparse(
                SparseRow {
                    tokens: &tokens[row * k..(row + 1) * k],
                    values: &logprobs[row * k..(row + 1) * k],
                    vocab: self.vocab,
                },
                task.beam,
                beam_score,
                &adjust,
                self.keep,
                best,
                seen,
            ),
        };
        result.map_err(|error| match error {
            RowError::NonFinite { col, value } => DecodeError::NonFinite { row, col, value },
            RowError::OutOfRange { token } => DecodeError::TokenOutOfRange {
                row,
                token,
                vocab_size: self.vocab,
            },
            RowError::Duplicate { token } => DecodeError::Shape(format!(
                "candidate row {row} lists token {token} more than once"
            )),
        })
    }

    /// The diversity penalty of one row of group `task.group > 0`.
    #[allow(clippy::too_many_arguments)]
    fn penalty<'b>(
        &'b self,
        diversity: &DiversityContext<'b, T>,
        task: &Task,
        node: u32,
        prompt: &[u32],
        counts: &'b mut Vec<(u32, u32)>,
        tail: &mut Vec<u32>,
        other_tail: &mut Vec<u32>,
        tokens: &mut Vec<u32>,
    ) -> Penalty<'b, T> {
        let this_step: &[(u32, u32)] = match diversity.kind {
            Diversity::Hamming | Diversity::Cumulative => &diversity.step_counts[task.item],
            Diversity::Ngram(n) => {
                // Earlier beams whose n-1 tokens before their new one equal
                // this row's last n-1 tokens.
                tokens.clear();
                self.history.tail_tokens(node, prompt, n - 1, tail);
                for &(parent, token) in &diversity.step_choices[task.item] {
                    let same = parent == node || {
                        self.history.tail_tokens(parent, prompt, n - 1, other_tail);
                        tail == other_tail
                    };
                    if same {
                        tokens.push(token);
                    }
                }
                super::rules::count_tokens(tokens, counts);
                counts
            }
        };
        let earlier_steps = match diversity.kind {
            Diversity::Cumulative => {
                Some(&diversity.cumulative[task.item * diversity.num_groups + task.group])
            }
            _ => None,
        };
        Penalty {
            strength: diversity.strength,
            this_step,
            earlier_steps,
        }
    }
}
