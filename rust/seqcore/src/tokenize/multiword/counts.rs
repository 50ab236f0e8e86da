//! Counting word n-grams (mergeable across shards).

use rustc_hash::FxHashMap;

use super::{is_word, MAX_ORDER, MAX_WORD_BYTES};
use crate::parallel::map_tasks;
use crate::tokenize::added::{Segment, SpecialPolicy};
use crate::tokenize::error::TokenizeError;
use crate::tokenize::tokenizer::Tokenizer;

/// Visits the text segments of `text` as (segment text with any prefix
/// space, its pieces); added tokens end a segment.
fn for_each_segment(
    base: &Tokenizer,
    text: &str,
    policy: &SpecialPolicy,
    mut visit: impl FnMut(Option<u32>, &[u8], &[(usize, usize)]),
) -> Result<(), TokenizeError> {
    let mut segments = Vec::new();
    let mut pieces = Vec::new();
    base.segments(text, policy, &mut segments)?;
    for segment in segments {
        match segment {
            Segment::Text(start, end) => {
                let seg = base.pieces(&text[start..end], &mut pieces)?;
                visit(None, seg.as_bytes(), &pieces);
            }
            Segment::Token(id, ..) => visit(Some(id), &[], &[]),
        }
    }
    Ok(())
}

/// Counts of word n-grams: `[order] ++ bytes -> count`. Mergeable.
#[derive(Debug, Clone, Default)]
pub struct NgramCounts {
    map: FxHashMap<Vec<u8>, u64>,
}

impl NgramCounts {
    /// Counts the n-grams of the given orders in `texts`, in parallel.
    /// Special tokens in the texts count as separators.
    pub fn count(
        base: &Tokenizer,
        texts: &[&str],
        orders: &[usize],
    ) -> Result<Self, TokenizeError> {
        check_orders(orders)?;
        // An order named twice is still counted once per occurrence.
        let mut distinct = orders.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let orders = &distinct[..];
        let chunk = 256;
        let tasks = texts.len().div_ceil(chunk);
        let parts = map_tasks(tasks, |t| {
            let mut counts = NgramCounts::default();
            for text in &texts[t * chunk..((t + 1) * chunk).min(texts.len())] {
                counts.add_text(base, text, orders)?;
            }
            Ok::<_, TokenizeError>(counts)
        });
        let mut total = NgramCounts::default();
        for part in parts {
            total.merge(part?);
        }
        Ok(total)
    }

    fn add_text(
        &mut self,
        base: &Tokenizer,
        text: &str,
        orders: &[usize],
    ) -> Result<(), TokenizeError> {
        let mut words = Vec::new();
        let mut key = Vec::new();
        for_each_segment(base, text, &SpecialPolicy::allow_all(), |_, seg, pieces| {
            words.clear();
            // Words too long for an n-gram are counted as no word.
            words.extend(
                pieces
                    .iter()
                    .map(|&(a, b)| b - a <= MAX_WORD_BYTES && is_word(&seg[a..b])),
            );
            for &n in orders {
                for i in 0..pieces.len().saturating_sub(n - 1) {
                    if words[i..i + n].iter().all(|&w| w) {
                        key.clear();
                        key.push(n as u8);
                        key.extend_from_slice(&seg[pieces[i].0..pieces[i + n - 1].1]);
                        match self.map.get_mut(&key) {
                            Some(c) => *c += 1,
                            None => {
                                self.map.insert(key.clone(), 1);
                            }
                        }
                    }
                }
            }
        })
    }

    /// Adds another shard's counts.
    pub fn merge(&mut self, other: NgramCounts) {
        if self.map.len() < other.map.len() {
            let mine = std::mem::replace(&mut self.map, other.map);
            for (k, c) in mine {
                *self.map.entry(k).or_insert(0) += c;
            }
        } else {
            for (k, c) in other.map {
                *self.map.entry(k).or_insert(0) += c;
            }
        }
    }

    /// Number of distinct n-grams counted.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The `top_k` most frequent n-grams with at least `min_count`
    /// occurrences, as `(order, bytes, count)`; ties go to the smaller bytes
    /// so the choice never depends on hashing.
    pub fn top(&self, top_k: usize, min_count: u64) -> Vec<(usize, Vec<u8>, u64)> {
        let mut all: Vec<(&Vec<u8>, u64)> = self
            .map
            .iter()
            .filter(|(_, &c)| c >= min_count.max(1))
            .map(|(k, &c)| (k, c))
            .collect();
        all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        all.truncate(top_k);
        all.into_iter()
            .map(|(k, c)| (usize::from(k[0]), k[1..].to_vec(), c))
            .collect()
    }
}

fn check_orders(orders: &[usize]) -> Result<(), TokenizeError> {
    if orders.is_empty() || orders.iter().any(|&n| !(2..=MAX_ORDER).contains(&n)) {
        return Err(TokenizeError::Invalid(format!(
            "ngram_orders must be a non-empty list of orders from 2 to {MAX_ORDER}, got {orders:?}"
        )));
    }
    Ok(())
}
