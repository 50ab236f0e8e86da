//! Bans and penalties: what transformers' logits processors do to a row
//! (MinNewTokensLength, NoRepeatNGram, NoBadWords, HammingDiversity), applied
//! only to the few elements that pass the selection threshold.

use rustc_hash::FxHashMap;

use super::config::SearchConfig;
use super::history::History;
use super::score::Score;

/// Which length check decides whether a multi-token bad word can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadWordContext {
    /// transformers 5.18: skipped while the word's prefix is longer than the
    /// sequence.
    PrefixFits,
    /// transformers 4.56: skipped while the whole word is longer than the
    /// sequence (so a prefix equal to the whole sequence bans nothing).
    WordFits,
}

/// The search-wide part of the bans.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    /// Sorted, without repeats.
    pub eos: Vec<u32>,
    min_new_tokens: usize,
    no_repeat_ngram_size: usize,
    /// Bit `v` set: token `v` is banned everywhere (one-token bad words).
    static_bans: Vec<u64>,
    /// Bad words of two or more tokens.
    multi_token_words: Vec<Vec<u32>>,
    longest_prefix: usize,
    context_rule: BadWordContext,
}

impl Rules {
    pub fn new(config: &SearchConfig, context_rule: BadWordContext) -> Self {
        let eos = config.distinct_eos();
        let mut static_bans = Vec::new();
        let mut multi_token_words = Vec::new();
        for word in &config.bad_words_ids {
            match word.as_slice() {
                // transformers drops bad words that are exactly one EOS id.
                [token] if eos.binary_search(token).is_ok() => {}
                [token] => {
                    if static_bans.is_empty() {
                        static_bans = vec![0u64; config.vocab_size.div_ceil(64)];
                    }
                    static_bans[*token as usize / 64] |= 1 << (token % 64);
                }
                _ => multi_token_words.push(word.clone()),
            }
        }
        let longest_prefix = multi_token_words
            .iter()
            .map(|w| w.len() - 1)
            .max()
            .unwrap_or(0);
        Self {
            eos,
            min_new_tokens: config.min_new_tokens,
            no_repeat_ngram_size: config.no_repeat_ngram_size,
            static_bans,
            multi_token_words,
            longest_prefix,
            context_rule,
        }
    }

    /// Whether EOS is banned when `generated` tokens exist.
    pub fn bans_eos(&self, generated: usize) -> bool {
        generated < self.min_new_tokens && !self.eos.is_empty()
    }

    pub fn is_eos(&self, token: u32) -> bool {
        self.eos.binary_search(&token).is_ok()
    }

    /// Whether rows need a per-row ban list (no_repeat or long bad words).
    pub fn has_row_bans(&self) -> bool {
        self.no_repeat_ngram_size > 0 || !self.multi_token_words.is_empty()
    }

    /// Fills `banned` (sorted, no repeats) with the tokens that this row's
    /// sequence (`prompt` then the chain ending at `last`) bans through
    /// no_repeat_ngram and multi-token bad words. The no_repeat scan reads
    /// the whole sequence: O(length) per row and step, as in transformers.
    pub fn row_bans<T: Score>(
        &self,
        history: &History<T>,
        last: u32,
        prompt: &[u32],
        vocab: usize,
        sequence: &mut Vec<u32>,
        banned: &mut Vec<u32>,
    ) {
        banned.clear();
        let n = self.no_repeat_ngram_size;
        if n > 0 {
            history.full_sequence(last, prompt, sequence);
            repeated_ngram_bans(sequence, n, vocab, banned);
        } else if self.longest_prefix > 0 {
            history.tail_tokens(last, prompt, self.longest_prefix + 1, sequence);
        }
        // `sequence` holds the whole sequence or at least its last
        // `longest_prefix + 1` tokens, so a word fits the context exactly when
        // it fits `sequence`.
        for word in &self.multi_token_words {
            let prefix = &word[..word.len() - 1];
            let needed = match self.context_rule {
                BadWordContext::PrefixFits => prefix.len(),
                BadWordContext::WordFits => word.len(),
            };
            if needed > sequence.len() {
                continue;
            }
            if sequence.ends_with(prefix) {
                banned.push(word[word.len() - 1]);
            }
        }
        banned.sort_unstable();
        banned.dedup();
    }

    /// Whether `token` is banned for a row, given its per-row list.
    #[inline]
    pub fn is_banned(&self, token: u32, ban_eos: bool, row_banned: &[u32]) -> bool {
        if !self.static_bans.is_empty()
            && self.static_bans[token as usize / 64] & (1 << (token % 64)) != 0
        {
            return true;
        }
        (ban_eos && self.is_eos(token))
            || (!row_banned.is_empty() && row_banned.binary_search(&token).is_ok())
    }
}

/// transformers' NoRepeatNGramLogitsProcessor for one sequence: every window
/// of `n` tokens whose first `n - 1` tokens equal the sequence's last
/// `n - 1` bans its last token (ids outside the vocabulary are ignored).
fn repeated_ngram_bans(sequence: &[u32], n: usize, vocab: usize, banned: &mut Vec<u32>) {
    let length = sequence.len();
    if length < n {
        return;
    }
    let prefix = &sequence[length + 1 - n..];
    for window in sequence.windows(n) {
        if window[..n - 1] == *prefix && (window[n - 1] as usize) < vocab {
            banned.push(window[n - 1]);
        }
    }
}

/// The diversity counts that apply to one row: a small sorted list for this
/// step's choices, plus (for [`Diversity::Cumulative`]) the counts of earlier
/// steps.
///
/// [`Diversity::Cumulative`]: super::config::Diversity::Cumulative
#[derive(Debug, Clone, Copy)]
pub(crate) struct Penalty<'a, T> {
    pub strength: T,
    pub this_step: &'a [(u32, u32)],
    pub earlier_steps: Option<&'a FxHashMap<u32, u32>>,
}

impl<T: Score> Penalty<'_, T> {
    /// The processed log-prob: `value - strength * count` (as transformers
    /// computes it in the input float type), or `value` when the count is 0.
    #[inline]
    pub fn apply(&self, value: T, token: u32) -> T {
        let mut count = match self.this_step.binary_search_by_key(&token, |&(t, _)| t) {
            Ok(at) => self.this_step[at].1,
            Err(_) => 0,
        };
        if let Some(map) = self.earlier_steps {
            count += map.get(&token).copied().unwrap_or(0);
        }
        if count == 0 {
            value
        } else {
            value - self.strength * T::from_f64(count as f64)
        }
    }

    /// Whether the penalty can change anything.
    pub fn is_active(&self) -> bool {
        !self.this_step.is_empty() || self.earlier_steps.is_some_and(|map| !map.is_empty())
    }
}

/// Counts `tokens` into a sorted `(token, count)` list.
pub(crate) fn count_tokens(tokens: &mut [u32], counts: &mut Vec<(u32, u32)>) {
    counts.clear();
    tokens.sort_unstable();
    for &token in tokens.iter() {
        match counts.last_mut() {
            Some((last, count)) if *last == token => *count += 1,
            _ => counts.push((token, 1)),
        }
    }
}
