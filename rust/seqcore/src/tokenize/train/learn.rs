//! The merge loop: learning merges from word counts.
//!
//! Data structures, chosen so that each merge only touches the words that
//! contain the merged pair:
//!
//! * Every distinct word of two or more bytes becomes a run of token ids in
//!   one shared arena (`symbols`), with its count. Merging rewrites a word in
//!   place, so it only ever shrinks.
//! * `pairs` maps each pair (`left << 32 | right`) that could still be merged
//!   to its count and to the words it occurs in. A word list may hold words
//!   that no longer contain the pair (they are checked when visited), but
//!   every word that does contain it is there.
//! * A max-heap holds the candidate pairs with the count they had when
//!   pushed. Counts of existing pairs only ever go down (merging only removes
//!   and replaces tokens), and new pairs (with the new token) get all their
//!   occurrences in the step that creates them. So a heap entry's count is
//!   never below the true one: on pop, a stale entry is pushed back with its
//!   current count, and an entry whose count is current is the true best.
//! * Pairs that fall below the minimum count can never come back, so they
//!   are dropped from `pairs` (freeing their word lists); their heap entries
//!   are discarded when popped.
//!
//! Merging within a word, and how a word's pairs are counted (as merging
//! would replace them: left to right, without overlaps), is in `word.rs`.
//!
//! The outcome depends only on the counts: pair counts are exact integer
//! sums, and ties are broken by token bytes. Words are visited in hash-table
//! order and in parallel, which changes nothing but speed.

use rustc_hash::{FxHashMap, FxHashSet};

use super::counts::WordCounts;
use super::heap::{Entry, Heap};
use super::word::{for_each_pair, merge_word, split_key, Limit, Scratch};
use crate::parallel::{self, SharedOutput};
use crate::tokenize::error::TokenizeError;

/// What [`learn`] needs from the trainer's configuration.
pub(super) struct Options<'a> {
    pub(super) merges_wanted: usize,
    /// At least 1.
    pub(super) min_count: u64,
    pub(super) max_token_length: Option<usize>,
    /// Bytes that no learned token may have (the special tokens).
    pub(super) reserved: FxHashSet<&'a [u8]>,
}

/// Words handled per batch of a merge step: bounds the memory of the
/// pending changes for pairs found in most words.
const BATCH_WORDS: usize = 1 << 16;
/// Fewer words than this are merged on the calling thread: below it the
/// pool's start-up costs more than it saves.
const PARALLEL_MIN_WORDS: usize = 2048;
/// Words per parallel task, at least.
const WORDS_PER_TASK: usize = 512;

/// Learns up to `options.merges_wanted` merges. Returns the bytes of every
/// token (256 single bytes, then one per merge) and the merges.
#[allow(clippy::type_complexity)]
pub(super) fn learn(
    counts: &WordCounts,
    options: &Options,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<(Vec<Vec<u8>>, Vec<(u32, u32)>), TokenizeError> {
    let wanted = options.merges_wanted;
    let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    let mut merges = Vec::new();
    if !progress(0, wanted) {
        return Err(TokenizeError::Interrupted);
    }
    if wanted > 0 {
        let mut learner = Learner::new(counts, options)?;
        learner.run(&mut tokens, &mut merges, options, progress)?;
    }
    if !progress(merges.len(), wanted) {
        return Err(TokenizeError::Interrupted);
    }
    Ok((tokens, merges))
}

/// A pair's count and the words it occurs in.
#[derive(Debug)]
struct PairStats {
    count: i64,
    words: Vec<u32>,
}

/// One word's change in one pair's count during a merge step.
#[derive(Debug, Clone, Copy)]
struct Change {
    pair: u64,
    /// Change in occurrences times the word's count.
    delta: i64,
    word: u32,
    /// The pair was absent from the word before.
    appeared: bool,
}

/// The state of training.
struct Learner {
    /// Token ids of all words, back to back.
    symbols: Vec<u32>,
    /// Where each word starts in `symbols`.
    starts: Vec<usize>,
    /// Each word's current length (its slot's start is fixed; it shrinks).
    lens: Vec<u32>,
    /// Each word's count.
    counts: Vec<i64>,
    /// The last merge step that visited each word, to visit it only once
    /// per step even if a pair's word list names it several times.
    stamps: Vec<u32>,
    pairs: FxHashMap<u64, PairStats>,
    /// Each token's length in bytes, for `max_token_length`.
    token_lens: Vec<u32>,
    limit: Limit,
    min_count: i64,
}

impl Learner {
    fn new(counts: &WordCounts, options: &Options) -> Result<Self, TokenizeError> {
        // Single-byte words hold no pair and never change.
        let (n_words, n_symbols) = counts
            .iter()
            .filter(|(w, _)| w.len() >= 2)
            .fold((0, 0), |(n, s), (w, _)| (n + 1, s + w.len()));
        if n_words > u32::MAX as usize {
            return Err(TokenizeError::Invalid(format!(
                "{n_words} distinct words are more than training supports ({})",
                u32::MAX
            )));
        }
        let mut symbols = Vec::with_capacity(n_symbols);
        let mut starts = Vec::with_capacity(n_words);
        let mut lens = Vec::with_capacity(n_words);
        let mut word_counts = Vec::with_capacity(n_words);
        // Bound every pair count up front, so the loop needs no overflow
        // checks: a pair count never exceeds sum(count * (len - 1)).
        let mut bound = 0u128;
        for (word, count) in counts.iter().filter(|(w, _)| w.len() >= 2) {
            bound += u128::from(count) * (word.len() as u128 - 1);
            starts.push(symbols.len());
            lens.push(word.len() as u32);
            word_counts.push(count as i64);
            symbols.extend(word.iter().map(|&b| u32::from(b)));
        }
        if bound > i64::MAX as u128 {
            return Err(TokenizeError::Invalid(
                "word counts are too large to train on (pair counts would overflow)".to_string(),
            ));
        }
        let mut learner = Learner {
            symbols,
            starts,
            lens,
            counts: word_counts,
            stamps: vec![0; n_words],
            pairs: FxHashMap::default(),
            token_lens: vec![1; 256],
            limit: Limit(options.max_token_length.unwrap_or(usize::MAX)),
            min_count: options.min_count.min(i64::MAX as u64) as i64,
        };
        learner.count_pairs();
        Ok(learner)
    }

    fn word(&self, w: usize) -> &[u32] {
        &self.symbols[self.starts[w]..self.starts[w] + self.lens[w] as usize]
    }

    /// Fills `pairs` from all words, counting ranges of words in parallel.
    fn count_pairs(&mut self) {
        let n = self.lens.len();
        let tasks = (parallel::num_threads() * 2).min(n.div_ceil(4096)).max(1);
        let this = &*self;
        let mut parts = parallel::map_tasks(tasks, |task| {
            let mut local: FxHashMap<u64, PairStats> = FxHashMap::default();
            for w in task * n / tasks..(task + 1) * n / tasks {
                let count = this.counts[w];
                for_each_pair(this.word(w), &this.token_lens, this.limit, |pair| {
                    let stats = local.entry(pair).or_insert_with(|| PairStats {
                        count: 0,
                        words: Vec::new(),
                    });
                    stats.count += count;
                    if stats.words.last() != Some(&(w as u32)) {
                        stats.words.push(w as u32);
                    }
                });
            }
            local
        });
        // Merge into the largest table.
        let largest = (0..parts.len())
            .max_by_key(|&i| parts[i].len())
            .unwrap_or(0);
        let mut pairs = parts.swap_remove(largest);
        for part in parts {
            for (pair, stats) in part {
                match pairs.entry(pair) {
                    std::collections::hash_map::Entry::Occupied(mut o) => {
                        let into = o.get_mut();
                        into.count += stats.count;
                        into.words.extend_from_slice(&stats.words);
                    }
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(stats);
                    }
                }
            }
        }
        let min_count = self.min_count;
        pairs.retain(|_, stats| stats.count >= min_count);
        self.pairs = pairs;
    }

    /// The merge loop proper.
    fn run(
        &mut self,
        tokens: &mut Vec<Vec<u8>>,
        merges: &mut Vec<(u32, u32)>,
        options: &Options,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<(), TokenizeError> {
        let wanted = options.merges_wanted;
        let report_every = (wanted / 100).max(1);
        // Bytes of every token, to skip merges that would repeat one.
        let mut known: FxHashSet<Vec<u8>> = tokens.iter().cloned().collect();
        let entries: Vec<Entry> = self
            .pairs
            .iter()
            .map(|(&pair, stats)| Entry {
                count: stats.count as u64,
                pair,
            })
            .collect();
        let mut heap = Heap::from_vec(entries, &order(tokens));
        let mut created = Vec::new();
        let mut changes = Vec::new();
        while merges.len() < wanted {
            let Some(top) = heap.pop(&order(tokens)) else {
                break;
            };
            let Some(stats) = self.pairs.get(&top.pair) else {
                // Dropped below the minimum count since it was pushed.
                continue;
            };
            let count = stats.count as u64;
            if count != top.count {
                heap.push(
                    Entry {
                        count,
                        pair: top.pair,
                    },
                    &order(tokens),
                );
                continue;
            }
            let (left, right) = split_key(top.pair);
            let mut bytes = tokens[left as usize].clone();
            bytes.extend_from_slice(&tokens[right as usize]);
            if options.reserved.contains(&bytes[..]) || known.contains(&bytes) {
                // A special token's bytes: skip the pair. (Greedy merging
                // applied to every word at once never builds the same bytes
                // twice, so `known` is a guard: the tie-break order needs
                // distinct token bytes.)
                self.pairs.remove(&top.pair);
                continue;
            }
            let z = tokens.len() as u32;
            self.token_lens.push(bytes.len() as u32);
            known.insert(bytes.clone());
            tokens.push(bytes);
            merges.push((left, right));
            self.merge(top.pair, z, merges.len() as u32, &mut changes, &mut created);
            for &pair in &created {
                let Some(count) = self.pairs.get(&pair).map(|s| s.count) else {
                    continue;
                };
                if count >= self.min_count {
                    heap.push(
                        Entry {
                            count: count as u64,
                            pair,
                        },
                        &order(tokens),
                    );
                } else {
                    self.pairs.remove(&pair);
                }
            }
            if merges.len().is_multiple_of(report_every)
                && merges.len() < wanted
                && !progress(merges.len(), wanted)
            {
                return Err(TokenizeError::Interrupted);
            }
        }
        Ok(())
    }

    /// Merges `pair` into the new token `z` in every word that holds it and
    /// updates the pair counts. `step` (from 1) marks visited words. Fills
    /// `created` with the pairs that are new in `pairs`.
    fn merge(
        &mut self,
        pair: u64,
        z: u32,
        step: u32,
        changes: &mut Vec<Change>,
        created: &mut Vec<u64>,
    ) {
        created.clear();
        let stats = self
            .pairs
            .remove(&pair)
            .expect("the merged pair is counted");
        let mut todo = stats.words;
        let stamps = &mut self.stamps;
        todo.retain(|&w| std::mem::replace(&mut stamps[w as usize], step) != step);
        let ab = split_key(pair);
        for batch in todo.chunks(BATCH_WORDS) {
            self.merge_batch(batch, ab, z, changes, created);
        }
    }

    /// Merges `(a, b)` into `z` in each word of `batch` (distinct words),
    /// in parallel for large batches, and applies the count changes.
    fn merge_batch(
        &mut self,
        batch: &[u32],
        ab: (u32, u32),
        z: u32,
        changes: &mut Vec<Change>,
        created: &mut Vec<u64>,
    ) {
        let tasks = if batch.len() < PARALLEL_MIN_WORDS {
            1
        } else {
            (parallel::num_threads() * 4).min(batch.len() / WORDS_PER_TASK)
        };
        let symbols = SharedOutput::new(self.symbols.as_mut_ptr(), self.symbols.len());
        let lens = SharedOutput::new(self.lens.as_mut_ptr(), self.lens.len());
        let (starts, counts, token_lens, limit) =
            (&self.starts, &self.counts, &self.token_lens, self.limit);
        let work = |task: usize, out: &mut Vec<Change>| {
            let mut scratch = Scratch::default();
            let range = task * batch.len() / tasks..(task + 1) * batch.len() / tasks;
            for &w in &batch[range] {
                let wi = w as usize;
                // SAFETY: the words of a batch are distinct (deduplicated by
                // stamp) and their slots in `symbols` do not overlap, so no
                // two tasks touch the same elements.
                let len = unsafe { lens.slice(wi, 1) };
                let word = unsafe { symbols.slice(starts[wi], len[0] as usize) };
                let count = counts[wi];
                let new_len = merge_word(
                    word,
                    ab,
                    z,
                    token_lens,
                    limit,
                    &mut scratch,
                    |pair, delta, appeared| {
                        out.push(Change {
                            pair,
                            delta: delta * count,
                            word: w,
                            appeared,
                        })
                    },
                );
                len[0] = new_len as u32;
            }
        };
        if tasks == 1 {
            // The common case: reuse one buffer across steps.
            changes.clear();
            work(0, changes);
            self.apply(changes, created);
        } else {
            let parts = parallel::map_tasks(tasks, |task| {
                let mut out = Vec::new();
                work(task, &mut out);
                out
            });
            for part in &parts {
                self.apply(part, created);
            }
        }
    }

    /// Applies count changes; records pairs new to `pairs` in `created`.
    fn apply(&mut self, changes: &[Change], created: &mut Vec<u64>) {
        use std::collections::hash_map::Entry as MapEntry;
        for change in changes {
            if change.delta < 0 {
                // Pairs already dropped (or the merged pair itself) are gone.
                if let MapEntry::Occupied(mut o) = self.pairs.entry(change.pair) {
                    o.get_mut().count += change.delta;
                    if o.get().count < self.min_count {
                        o.remove();
                    }
                }
            } else {
                match self.pairs.entry(change.pair) {
                    MapEntry::Occupied(mut o) => {
                        let stats = o.get_mut();
                        stats.count += change.delta;
                        if change.appeared {
                            stats.words.push(change.word);
                        }
                    }
                    MapEntry::Vacant(v) => {
                        v.insert(PairStats {
                            count: change.delta,
                            words: vec![change.word],
                        });
                        created.push(change.pair);
                    }
                }
            }
        }
    }
}

/// The heap order: higher count first; among equal counts, the smaller
/// (left token bytes, right token bytes), compared lexicographically.
fn order(tokens: &[Vec<u8>]) -> impl Fn(&Entry, &Entry) -> bool + '_ {
    move |x, y| {
        if x.count != y.count {
            return x.count > y.count;
        }
        let (xl, xr) = split_key(x.pair);
        let (yl, yr) = split_key(y.pair);
        (&tokens[xl as usize], &tokens[xr as usize]) < (&tokens[yl as usize], &tokens[yr as usize])
    }
}
