//! What a search does: beams, groups, stopping, bans and penalties.

use super::error::DecodeError;

/// When a batch item stops (transformers' `early_stopping`).
///
/// Whatever the mode, an item also stops at `max_new_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EarlyStopping {
    /// transformers' `False` (its default): stop once the best running beam,
    /// length-penalized at the *current* length, cannot beat the worst kept
    /// hypothesis. A heuristic: with `length_penalty > 0` a longer beam could
    /// still win.
    #[default]
    Heuristic,
    /// transformers' `True`: stop as soon as `num_beams` (per group)
    /// hypotheses are finished.
    Finish,
    /// transformers' `"never"`: like [`Heuristic`](Self::Heuristic), but with
    /// `length_penalty > 0` the best running beam is penalized at the
    /// *maximum* length, so the stop is exact. With `length_penalty <= 0` it
    /// is the same as `Heuristic`.
    Never,
}

/// How diverse beam search penalizes a group for repeating earlier groups.
///
/// In every kind the penalty is `diversity_strength * count`, subtracted from
/// the log-prob of a candidate token of a beam in group `g` of batch item
/// `b`, before the beam score is added; it therefore accumulates into beam
/// scores. Only groups `0..g` of the same batch item count, and group 0 is
/// never penalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Diversity {
    /// transformers' `HammingDiversityLogitsProcessor`: `count` = how many
    /// beams of groups `0..g` chose the token at this step. A group that is
    /// already done counts as choosing the pad token with each of its beams
    /// (transformers keeps feeding finished groups and pads them).
    #[default]
    Hamming,
    /// `count` = how many times beams of groups `0..g` chose the token at any
    /// step so far, this one included (the Hamming count summed over steps,
    /// except that done groups add nothing).
    Cumulative,
    /// `Ngram(n)`, `n >= 1`: `count` = how many running beams of groups
    /// `0..g` (after their choice at this step) end in the n-gram that the
    /// candidate would complete, that is, whose last `n` tokens equal the
    /// candidate beam's last `n - 1` tokens followed by the candidate token.
    /// Sequences include the prompt; when a sequence is shorter than `n - 1`
    /// the whole sequence is compared. Done groups add nothing. `Ngram(1)`
    /// is `Hamming` without the pad rule.
    Ngram(usize),
}

/// Which transformers code path the beam bookkeeping reproduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Semantics {
    /// Greedy search (transformers' `_sample`) for one beam,
    /// [`Vectorized`](Self::Vectorized) for one group of several beams,
    /// [`Scorer`](Self::Scorer) for several groups.
    #[default]
    Auto,
    /// transformers 5.18 `_beam_search` (identical to 4.56's `_beam_search`).
    /// One group only.
    Vectorized,
    /// transformers 4.56 `_group_beam_search` with `BeamSearchScorer` and
    /// `BeamHypotheses`, the last built-in diverse beam search. With one
    /// group it is 4.56's scorer-based plain beam search (which 4.56 itself
    /// no longer used); see the module docs for how it differs.
    Scorer,
}

/// Everything that defines a search. Start from [`SearchConfig::new`] (the
/// transformers defaults) and set fields; [`validate`](Self::validate) runs
/// when a [`SearchState`](super::SearchState) is made.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchConfig {
    /// Beams per batch item; 1 means greedy search (unless `semantics`
    /// asks for a one-beam beam search).
    pub num_beams: usize,
    /// Groups of diverse beam search; must divide `num_beams`.
    pub num_groups: usize,
    /// transformers' `diversity_penalty` (used in the arithmetic as the input
    /// float type, as torch does). Must be finite and `>= 0`; 0 turns the
    /// penalty off (transformers refuses 0 with several groups; we allow it).
    pub diversity_strength: f64,
    /// The kind of diversity penalty.
    pub diversity: Diversity,
    /// Finished score = `sum_logprobs / generated_len ** length_penalty`.
    pub length_penalty: f64,
    /// When a batch item stops.
    pub early_stopping: EarlyStopping,
    /// Hypotheses returned per batch item, `1..=num_beams`.
    pub num_return_sequences: usize,
    /// Tokens that end a hypothesis (none: every hypothesis runs to
    /// `max_new_tokens`).
    pub eos_token_ids: Vec<u32>,
    /// The token finished groups "choose" for the Hamming penalty; `None`
    /// means the first EOS id, as transformers does.
    pub pad_token_id: Option<u32>,
    /// EOS is banned while fewer tokens than this were generated.
    pub min_new_tokens: usize,
    /// At most this many tokens are generated (`>= 1`).
    pub max_new_tokens: usize,
    /// No n-gram of this size occurs twice in prompt + generated tokens
    /// (0: off).
    pub no_repeat_ngram_size: usize,
    /// Token sequences that are never generated. A one-token entry bans the
    /// token everywhere (except a lone EOS id, which transformers ignores); a
    /// longer one bans its last token after its other tokens.
    pub bad_words_ids: Vec<Vec<u32>>,
    /// Vocabulary size: the width of every log-prob row.
    pub vocab_size: usize,
    /// Which transformers code path to reproduce.
    pub semantics: Semantics,
}

impl SearchConfig {
    /// The transformers defaults for `num_beams` beams over `vocab_size`
    /// tokens: one group, length penalty 1, heuristic stopping, one returned
    /// sequence, no EOS, at most 20 new tokens, no bans.
    pub fn new(vocab_size: usize, num_beams: usize) -> Self {
        Self {
            num_beams,
            num_groups: 1,
            diversity_strength: 0.0,
            diversity: Diversity::Hamming,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::Heuristic,
            num_return_sequences: 1,
            eos_token_ids: Vec::new(),
            pad_token_id: None,
            min_new_tokens: 0,
            max_new_tokens: 20,
            no_repeat_ngram_size: 0,
            bad_words_ids: Vec::new(),
            vocab_size,
            semantics: Semantics::Auto,
        }
    }

    /// Checks that the configuration describes a search that can run.
    pub fn validate(&self) -> Result<(), DecodeError> {
        let fail = |message: String| Err(DecodeError::Config(message));
        if self.vocab_size == 0 || self.vocab_size > u32::MAX as usize {
            return fail(format!(
                "vocab_size must be in 1..=2^32-1, got {}",
                self.vocab_size
            ));
        }
        if self.num_beams == 0 {
            return fail("num_beams must be at least 1".into());
        }
        if self.num_groups == 0 || !self.num_beams.is_multiple_of(self.num_groups) {
            return fail(format!(
                "num_groups ({}) must be at least 1 and divide num_beams ({})",
                self.num_groups, self.num_beams
            ));
        }
        if self.num_groups > 1 && self.semantics == Semantics::Vectorized {
            return fail("Semantics::Vectorized supports one group only".into());
        }
        if self.num_return_sequences == 0 || self.num_return_sequences > self.num_beams {
            return fail(format!(
                "num_return_sequences must be in 1..=num_beams ({}), got {}",
                self.num_beams, self.num_return_sequences
            ));
        }
        if self.max_new_tokens == 0 {
            return fail("max_new_tokens must be at least 1".into());
        }
        if !self.diversity_strength.is_finite() || self.diversity_strength < 0.0 {
            return fail(format!(
                "diversity_strength must be finite and >= 0, got {}",
                self.diversity_strength
            ));
        }
        if !self.length_penalty.is_finite() {
            return fail(format!(
                "length_penalty must be finite, got {}",
                self.length_penalty
            ));
        }
        if self.diversity == Diversity::Ngram(0) {
            return fail("Diversity::Ngram needs n >= 1".into());
        }
        let vocab = self.vocab_size;
        let in_vocab = |id: u32| (id as usize) < vocab;
        if let Some(&id) = self.eos_token_ids.iter().find(|&&id| !in_vocab(id)) {
            return fail(format!("eos token id {id} is not below vocab_size {vocab}"));
        }
        if let Some(id) = self.pad_token_id.filter(|&id| !in_vocab(id)) {
            return fail(format!("pad token id {id} is not below vocab_size {vocab}"));
        }
        for word in &self.bad_words_ids {
            if word.is_empty() {
                return fail("bad_words_ids entries must not be empty".into());
            }
            if let Some(&id) = word.iter().find(|&&id| !in_vocab(id)) {
                return fail(format!(
                    "bad word token id {id} is not below vocab_size {vocab}"
                ));
            }
        }
        if !self.is_greedy() {
            let keep = self.candidates_per_group();
            if keep > self.beams_per_group() * vocab {
                return fail(format!(
                    "beam search keeps {keep} candidates per group, more than the {} that \
                     {} beams over a vocabulary of {vocab} offer",
                    self.beams_per_group() * vocab,
                    self.beams_per_group()
                ));
            }
        }
        Ok(())
    }

    /// Beams in each group.
    pub fn beams_per_group(&self) -> usize {
        self.num_beams / self.num_groups.max(1)
    }

    /// How many candidates each group keeps per step (transformers'
    /// `max(2, 1 + number of EOS ids) * beams_per_group`; 1 for greedy). The
    /// candidate lists of [`step_candidates`](super::SearchState::step_candidates)
    /// must be at least this long.
    pub fn candidates_per_group(&self) -> usize {
        if self.is_greedy() {
            return 1;
        }
        (2usize).max(1 + self.distinct_eos().len()) * self.beams_per_group()
    }

    /// Whether this is greedy search: one beam and [`Semantics::Auto`].
    pub fn is_greedy(&self) -> bool {
        self.num_beams == 1 && self.semantics == Semantics::Auto
    }

    /// The EOS ids, sorted and without repeats.
    pub(crate) fn distinct_eos(&self) -> Vec<u32> {
        let mut eos = self.eos_token_ids.clone();
        eos.sort_unstable();
        eos.dedup();
        eos
    }
}
