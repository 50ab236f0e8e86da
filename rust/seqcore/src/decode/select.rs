//! Top-k selection: a group's best candidates from its rows, each row read
//! in one pass.
//!
//! Ranking: higher score first; equal scores go to the lower flattened index
//! `beam * vocab + token` (torch.topk does not define an order for ties).
//!
//! A dense row is scanned in chunks against a running threshold, the score
//! of the current k-th best. Bans and penalties can only lower a score, so an
//! element whose raw score does not beat the threshold is skipped without
//! looking at them; only the few that pass are adjusted and inserted. Rows
//! of one group can share a list (and so a threshold), or be selected
//! separately (in parallel) and merged.

use super::rules::{Penalty, Rules};
use super::score::{add_scores, ranks_before, Score};

/// Elements compared per chunk before any is looked at individually.
const CHUNK: usize = 32;

/// A candidate: a token appended to one beam of a group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Candidate<T> {
    /// Beam score plus processed log-prob: what the candidate is ranked by.
    pub score: T,
    /// The processed log-prob (after bans and penalties).
    pub value: T,
    pub token: u32,
    /// The beam within the group.
    pub beam: usize,
}

impl<T: Score> Candidate<T> {
    #[inline(always)]
    fn flat(&self, vocab: usize) -> usize {
        self.beam * vocab + self.token as usize
    }
}

/// Everything that adjusts one row's log-probs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowAdjust<'a, T> {
    pub rules: &'a Rules,
    pub ban_eos: bool,
    /// Sorted per-row bans (no_repeat, multi-token bad words).
    pub banned: &'a [u32],
    pub penalty: Option<Penalty<'a, T>>,
}

impl<T: Score> RowAdjust<'_, T> {
    /// The processed log-prob of `token` given its raw log-prob.
    #[inline]
    fn apply(&self, value: T, token: u32) -> T {
        if self.rules.is_banned(token, self.ban_eos, self.banned) {
            return T::NEG_INFINITY;
        }
        match &self.penalty {
            Some(penalty) => penalty.apply(value, token),
            None => value,
        }
    }
}

/// Why a row could not be read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RowError {
    /// NaN or `+inf` at this column.
    NonFinite { col: usize, value: f64 },
    /// A candidate token id outside the vocabulary.
    OutOfRange { token: u32 },
    /// A candidate token listed twice.
    Duplicate { token: u32 },
}

/// The best `keep` candidates seen so far, best first.
#[derive(Debug, Clone, Default)]
pub(crate) struct TopList<T> {
    pub entries: Vec<Candidate<T>>,
}

impl<T: Score> TopList<T> {
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Inserts `entry` if it ranks among the best `keep`.
    #[inline]
    fn insert(&mut self, keep: usize, vocab: usize, entry: Candidate<T>) {
        let entries = &mut self.entries;
        let flat = entry.flat(vocab);
        if entries.len() == keep {
            let worst = entries[keep - 1];
            if !ranks_before(entry.score, flat, worst.score, worst.flat(vocab)) {
                return;
            }
            entries.pop();
        }
        let at =
            entries.partition_point(|e| ranks_before(e.score, e.flat(vocab), entry.score, flat));
        entries.insert(at, entry);
    }
}

/// Adds the candidates of a dense row (`row[token]` = raw log-prob of
/// extending `beam`) to `best`. Rows must be added in increasing `beam`
/// order, so each element has a higher flat index than all kept ones.
// The chunk test is written `!(a <= b)` on purpose: it is true for NaN.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
pub(crate) fn select_dense<T: Score>(
    row: &[T],
    beam: usize,
    beam_score: T,
    adjust: &RowAdjust<'_, T>,
    keep: usize,
    best: &mut TopList<T>,
) -> Result<(), RowError> {
    let vocab = row.len();
    let consider = |best: &mut TopList<T>, token: usize, raw: T| -> Result<(), RowError> {
        if raw.is_refused() {
            return Err(RowError::NonFinite {
                col: token,
                value: raw.to_f64(),
            });
        }
        // Stored scores are never NaN, so `<=` is "does not beat"; later
        // elements lose ties, and adjusting only lowers the score.
        if best.entries.len() == keep && add_scores(raw, beam_score) <= best.entries[keep - 1].score
        {
            return Ok(());
        }
        let value = adjust.apply(raw, token as u32);
        let entry = Candidate {
            score: add_scores(value, beam_score),
            value,
            token: token as u32,
            beam,
        };
        best.insert(keep, vocab, entry);
        Ok(())
    };
    let mut start = 0;
    while start < vocab && best.entries.len() < keep {
        consider(best, start, row[start])?;
        start += 1;
    }
    while start < vocab {
        let end = (start + CHUNK).min(vocab);
        // The threshold is never +inf here, so NaN and +inf inputs always
        // fail `<=` and reach `consider`, which refuses them.
        let threshold = best.entries[keep - 1].score;
        let threshold = if threshold > T::MAX {
            T::MAX
        } else {
            threshold
        };
        let chunk = &row[start..end];
        let mut any = false;
        for &raw in chunk {
            any |= !(raw + beam_score <= threshold);
        }
        if any {
            for (offset, &raw) in chunk.iter().enumerate() {
                if !(raw + beam_score <= threshold) {
                    consider(best, start + offset, raw)?;
                }
            }
        }
        start = end;
    }
    Ok(())
}

/// One row of host-chosen candidates: `tokens[j]` has raw log-prob
/// `values[j]`, in any order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SparseRow<'a, T> {
    pub tokens: &'a [u32],
    pub values: &'a [T],
    pub vocab: usize,
}

/// Adds the candidates of a row of host-chosen candidates (extending
/// `beam`) to `best`. `seen` is scratch space for the duplicate check.
pub(crate) fn select_sparse<T: Score>(
    row: SparseRow<'_, T>,
    beam: usize,
    beam_score: T,
    adjust: &RowAdjust<'_, T>,
    keep: usize,
    best: &mut TopList<T>,
    seen: &mut Vec<u32>,
) -> Result<(), RowError> {
    let SparseRow {
        tokens,
        values,
        vocab,
    } = row;
    seen.clear();
    seen.extend_from_slice(tokens);
    seen.sort_unstable();
    if let Some(pair) = seen.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(RowError::Duplicate { token: pair[0] });
    }
    if let Some(&token) = seen.last().filter(|&&token| token as usize >= vocab) {
        return Err(RowError::OutOfRange { token });
    }
    for (col, (&token, &raw)) in tokens.iter().zip(values).enumerate() {
        if raw.is_refused() {
            return Err(RowError::NonFinite {
                col,
                value: raw.to_f64(),
            });
        }
        if best.entries.len() == keep {
            let worst = best.entries[keep - 1];
            let flat = beam * vocab + token as usize;
            if !ranks_before(
                add_scores(raw, beam_score),
                flat,
                worst.score,
                worst.flat(vocab),
            ) {
                continue;
            }
        }
        let value = adjust.apply(raw, token);
        best.insert(
            keep,
            vocab,
            Candidate {
                score: add_scores(value, beam_score),
                value,
                token,
                beam,
            },
        );
    }
    Ok(())
}

/// Merges lists of one group (each best first) into the group's best `keep`
/// candidates, best first.
pub(crate) fn merge_lists<'a, T: Score>(
    lists: impl Iterator<Item = &'a TopList<T>>,
    vocab: usize,
    keep: usize,
    out: &mut Vec<Candidate<T>>,
) {
    out.clear();
    for list in lists {
        out.extend_from_slice(&list.entries);
    }
    // Scores are never NaN (see `add_scores`) and flat indices are unique,
    // so this is a total order.
    out.sort_unstable_by(|a, b| {
        let (fa, fb) = (a.flat(vocab), b.flat(vocab));
        if fa == fb {
            std::cmp::Ordering::Equal
        } else if ranks_before(a.score, fa, b.score, fb) {
            std::cmp::Ordering::Less
        } else {
            std::cmp::Ordering::Greater
        }
    });
    out.truncate(keep);
}
