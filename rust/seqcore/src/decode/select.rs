//! Top-k selection: the best candidates of one row in one pass, then the
//! best of a group's rows.
//!
//! Ranking: higher score first; equal scores go to the lower flattened index
//! `beam * vocab + token` (torch.topk does not define an order for ties).
//!
//! A dense row is scanned in chunks against a running threshold, the score
//! of the current k-th best. Bans and penalties can only lower a score, so an
//! element whose raw score does not beat the threshold is skipped without
//! looking at them; only the few that pass are adjusted and inserted.

use super::rules::{Penalty, Rules};
use super::score::{add_scores, ranks_before, Score};

/// Elements compared per chunk before any is looked at individually.
const CHUNK: usize = 32;

/// A candidate of one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Entry<T> {
    /// Beam score plus processed log-prob: what the candidate is ranked by.
    pub score: T,
    /// The processed log-prob (after bans and penalties).
    pub value: T,
    pub token: u32,
}

/// A candidate of a group: an [`Entry`] and the beam (within the group) it
/// extends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Candidate<T> {
    pub score: T,
    pub value: T,
    pub token: u32,
    pub beam: usize,
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

/// Inserts `entry` into `best` (sorted best first, at most `keep` long) if
/// it ranks among the best `keep`.
#[inline]
fn insert<T: Score>(best: &mut Vec<Entry<T>>, keep: usize, entry: Entry<T>) {
    if best.len() == keep {
        let worst = best[keep - 1];
        if !ranks_before(
            entry.score,
            entry.token as usize,
            worst.score,
            worst.token as usize,
        ) {
            return;
        }
        best.pop();
    }
    let at = best.partition_point(|e| {
        ranks_before(e.score, e.token as usize, entry.score, entry.token as usize)
    });
    best.insert(at, entry);
}

/// The best `keep` candidates of a dense row (`row[token]` = raw log-prob),
/// written to `best`, best first.
// The chunk test is written `!(a <= b)` on purpose: it is true for NaN.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
pub(crate) fn select_dense<T: Score>(
    row: &[T],
    beam_score: T,
    adjust: &RowAdjust<'_, T>,
    keep: usize,
    best: &mut Vec<Entry<T>>,
) -> Result<(), RowError> {
    best.clear();
    let consider = |best: &mut Vec<Entry<T>>, token: usize, raw: T| -> Result<(), RowError> {
        if raw.is_refused() {
            return Err(RowError::NonFinite {
                col: token,
                value: raw.to_f64(),
            });
        }
        // Stored scores are never NaN, so `<=` is "does not beat".
        if best.len() == keep && add_scores(raw, beam_score) <= best[keep - 1].score {
            // Later tokens lose ties, and adjusting only lowers the score.
            return Ok(());
        }
        let value = adjust.apply(raw, token as u32);
        let entry = Entry {
            score: add_scores(value, beam_score),
            value,
            token: token as u32,
        };
        insert(best, keep, entry);
        Ok(())
    };
    let fill = keep.min(row.len());
    for (token, &raw) in row[..fill].iter().enumerate() {
        consider(best, token, raw)?;
    }
    let mut start = fill;
    while start < row.len() {
        let end = (start + CHUNK).min(row.len());
        // The threshold is never +inf here, so NaN and +inf inputs always
        // fail `<=` and reach `consider`, which refuses them.
        let threshold = best[keep - 1].score;
        let threshold = if threshold > T::MAX {
            T::MAX
        } else {
            threshold
        };
        let mut any = false;
        for &raw in &row[start..end] {
            any |= !(raw + beam_score <= threshold);
        }
        if any {
            for (offset, &raw) in row[start..end].iter().enumerate() {
                consider(best, start + offset, raw)?;
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

/// The best `keep` of a row of host-chosen candidates, written to `best`,
/// best first. `seen` is scratch space for the duplicate check.
pub(crate) fn select_sparse<T: Score>(
    row: SparseRow<'_, T>,
    beam_score: T,
    adjust: &RowAdjust<'_, T>,
    keep: usize,
    best: &mut Vec<Entry<T>>,
    seen: &mut Vec<u32>,
) -> Result<(), RowError> {
    let SparseRow {
        tokens,
        values,
        vocab,
    } = row;
    best.clear();
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
        if best.len() == keep {
            let worst = best[keep - 1];
            let raw_score = add_scores(raw, beam_score);
            if !ranks_before(raw_score, token as usize, worst.score, worst.token as usize) {
                continue;
            }
        }
        let value = adjust.apply(raw, token);
        insert(
            best,
            keep,
            Entry {
                score: add_scores(value, beam_score),
                value,
                token,
            },
        );
    }
    Ok(())
}

/// Merges the per-row lists of one group (`rows[beam]`, each best first)
/// into the group's best `keep` candidates, best first, ties to the lower
/// `beam * vocab + token`.
pub(crate) fn merge_rows<'a, T: Score>(
    rows: impl Iterator<Item = &'a [Entry<T>]>,
    vocab: usize,
    keep: usize,
    out: &mut Vec<Candidate<T>>,
) {
    out.clear();
    for (beam, row) in rows.enumerate() {
        out.extend(row.iter().map(|e| Candidate {
            score: e.score,
            value: e.value,
            token: e.token,
            beam,
        }));
    }
    let flat = |c: &Candidate<T>| c.beam * vocab + c.token as usize;
    // Scores are never NaN (see `add_scores`) and flat indices are unique,
    // so this is a total order.
    out.sort_unstable_by(|a, b| {
        if flat(a) == flat(b) {
            std::cmp::Ordering::Equal
        } else if ranks_before(a.score, flat(a), b.score, flat(b)) {
            std::cmp::Ordering::Less
        } else {
            std::cmp::Ordering::Greater
        }
    });
    out.truncate(keep);
}
