//! Counting the pre-tokenized words of a corpus.

use rustc_hash::FxHashMap;

use crate::parallel;
use crate::tokenize::error::TokenizeError;
use crate::tokenize::pretokenize::PreTokenizer;

/// Counts of pre-tokenized words (piece bytes -> count).
///
/// Counts are mergeable: count shards separately (in threads, or in other
/// processes and sent back with [`WordCounts::to_bytes`]), then
/// [`merge`](WordCounts::merge) them; the result is the same as counting
/// everything in one place. Empty words and zero counts are ignored, and
/// counts saturate at `u64::MAX` instead of wrapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WordCounts {
    pub(super) words: FxHashMap<Box<[u8]>, u64>,
    pub(super) total: u64,
}

/// Texts per thread when splitting work for [`WordCounts::add_texts`]: more
/// than one so that a thread that drew slow texts does not hold up the rest,
/// few so that merging the per-task tables stays cheap.
const TASKS_PER_THREAD: usize = 3;

impl WordCounts {
    /// No words.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts the pieces of `text`.
    ///
    /// If the pre-tokenizer fails part way (only a backtracking pattern can),
    /// the pieces before the failure stay counted.
    pub fn add_text(
        &mut self,
        pretokenizer: &PreTokenizer,
        text: &str,
    ) -> Result<(), TokenizeError> {
        let bytes = text.as_bytes();
        let words = &mut self.words;
        let total = &mut self.total;
        pretokenizer.split(text, &mut |start, end| {
            // Look up by borrowed bytes first: most pieces are words already
            // seen, and this saves allocating a key for them.
            let word = &bytes[start..end];
            if word.is_empty() {
                return;
            }
            if let Some(count) = words.get_mut(word) {
                *count = count.saturating_add(1);
            } else {
                words.insert(word.into(), 1);
            }
            *total = total.saturating_add(1);
        })
    }

    /// Counts many texts in parallel on the project's thread pool.
    ///
    /// The texts are split into tasks of roughly equal bytes (a single text
    /// is never split, since the pre-tokenizer's pieces may span any
    /// boundary); each task counts into its own table and the tables are
    /// merged. On error nothing is added.
    pub fn add_texts(
        &mut self,
        pretokenizer: &PreTokenizer,
        texts: &[&str],
    ) -> Result<(), TokenizeError> {
        let threads = parallel::num_threads();
        let tasks = if threads > 1 {
            threads * TASKS_PER_THREAD
        } else {
            1
        };
        let ranges = partition_by_bytes(texts, tasks);
        if ranges.len() <= 1 {
            let mut local = WordCounts::new();
            for text in texts {
                local.add_text(pretokenizer, text)?;
            }
            self.merge(local);
            return Ok(());
        }
        let parts = parallel::map_tasks(ranges.len(), |task| {
            let mut local = WordCounts::new();
            for text in &texts[ranges[task].clone()] {
                local.add_text(pretokenizer, text)?;
            }
            Ok(local)
        });
        let parts = parts
            .into_iter()
            .collect::<Result<Vec<_>, TokenizeError>>()?;
        for part in parts {
            self.merge(part);
        }
        Ok(())
    }

    /// Adds `count` occurrences of `word` (nothing for an empty word or a
    /// zero count).
    pub fn add_word(&mut self, word: &[u8], count: u64) {
        if word.is_empty() || count == 0 {
            return;
        }
        if let Some(existing) = self.words.get_mut(word) {
            *existing = existing.saturating_add(count);
        } else {
            self.words.insert(word.into(), count);
        }
        self.total = self.total.saturating_add(count);
    }

    /// Adds all of `other`'s counts to these.
    pub fn merge(&mut self, mut other: WordCounts) {
        // Insert the smaller table into the larger one.
        if other.words.len() > self.words.len() {
            std::mem::swap(self, &mut other);
        }
        self.words.reserve(other.words.len());
        for (word, count) in other.words {
            self.words
                .entry(word)
                .and_modify(|c| *c = c.saturating_add(count))
                .or_insert(count);
        }
        self.total = self.total.saturating_add(other.total);
    }

    /// The number of distinct words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether no word was counted.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The sum of all counts (the number of pieces seen).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Every distinct word with its count, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
        self.words.iter().map(|(word, &count)| (&word[..], count))
    }
}

/// Splits `texts` into at most `tasks` contiguous ranges of roughly equal
/// total bytes (no empty ranges).
fn partition_by_bytes(texts: &[&str], tasks: usize) -> Vec<std::ops::Range<usize>> {
    let total: usize = texts.iter().map(|t| t.len()).sum();
    let tasks = tasks.clamp(1, texts.len().max(1));
    let mut ranges = Vec::with_capacity(tasks);
    let mut start = 0;
    let mut seen = 0usize;
    for (i, text) in texts.iter().enumerate() {
        seen += text.len();
        // Close the current range once it holds its share of the bytes.
        let boundary = (total as u128 * (ranges.len() as u128 + 1) / tasks as u128) as usize;
        if seen >= boundary && ranges.len() + 1 < tasks {
            ranges.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < texts.len() {
        ranges.push(start..texts.len());
    }
    ranges
}

#[cfg(test)]
mod partition_tests {
    use super::partition_by_bytes;

    #[test]
    fn ranges_tile_the_texts() {
        let texts = ["a", "bbbb", "", "cc", "dddddd", "e", "", "ff"];
        for tasks in 1..12 {
            let ranges = partition_by_bytes(&texts, tasks);
            assert!(ranges.len() <= tasks);
            let mut next = 0;
            for r in &ranges {
                assert_eq!(r.start, next);
                assert!(r.end > r.start);
                next = r.end;
            }
            assert_eq!(next, texts.len());
        }
        assert!(partition_by_bytes(&[], 4).is_empty());
    }
}
