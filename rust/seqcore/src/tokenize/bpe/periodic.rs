//! Merging a long run of one short unit (a megabyte of "é", of an emoji,
//! of "-=", of "abcde", or a stretch of one inside a longer piece) from the
//! merge of its head.
//!
//! Two facts, from the argument in `chunks`: if a split point of a text is
//! a boundary between two of its tokens, no merge ever crossed it, so the
//! tokens on either side are the merges of those bytes alone; and `bpe(L
//! ++ R) = bpe(L) ++ bpe(R)` exactly when the last token `a` of `bpe(L)`
//! and the first `b` of `bpe(R)` join, `bpe(bytes(a) ++ bytes(b)) = [a,
//! b]`.
//!
//! Let a text start with a run of period `p` bytes. Merge the run's head
//! (its first [`HEAD`] bytes) and pick two token boundaries `s1 < s2` of
//! the head whose distance is a multiple of `p`. By the first fact the
//! tokens before `s1` are `bpe(A)` for `A = text[..s1]`, and those between
//! are `bpe(S)` for `S = text[s1..s2]`; the run goes on with `S` again and
//! again. If the last token of `bpe(S)` joins its first, the second fact
//! applied split by split gives `bpe(A ++ S^k) = bpe(A) ++ bpe(S)^k` for
//! every `k` (the last token of every prefix so far is the last of
//! `bpe(S)`). The chunk loop (`chunks`) takes those tokens up to a repeat
//! that ends at least [`TAIL`] bytes before the run does, and goes on from
//! there, checking that join as it checks every other. So a megabyte of a
//! repeated unit costs a short merge, a few joins and copying, and no
//! assumption on ranks is made. Where no pair of boundaries joins (tokens
//! cross every repeat), the chunks merge it as they merge any text.

use super::chunks::TokenLengths;
use super::{Bpe, PairCache};

/// Longest unit looked for.
pub(super) const MAX_UNIT: usize = 16;
/// Bytes of the head whose merge gives the repeated tokens.
const HEAD: usize = 192;
/// Tokens ending this close to the head's end may differ from the whole
/// piece's (its end merges as an end), so their boundaries are not used.
const HEAD_END: usize = 32;
/// Bytes of the run at least that are left to the chunk loop after the
/// repeats taken, so that the run's end lies far from the last join.
const TAIL: usize = 64;
/// Pairs of boundaries tried before giving up.
const TRIES: usize = 24;

/// The smallest `p <= MAX_UNIT` such that the piece is a unit of `p`
/// bytes repeated (its last unit may be cut short), if there is one.
pub(super) fn unit_of(piece: &[u8]) -> Option<usize> {
    (1..=MAX_UNIT).find(|&unit| piece.len() > unit && piece[unit..] == piece[..piece.len() - unit])
}

/// Pieces from this length on are looked at for a period longer than
/// [`MAX_UNIT`].
pub(super) const LONG_PIECE: usize = 4096;
/// Longest window whose period is found.
const PERIOD_WINDOW: usize = 8192;

/// The period of a piece of [`LONG_PIECE`] bytes or more, if it has one
/// longer than [`MAX_UNIT`] that repeats at least four times within its
/// first quarter (up to [`PERIOD_WINDOW`] bytes): found from the window's
/// prefix function (Knuth-Morris-Pratt), linear in the window, which is at
/// most a quarter of the piece, then checked over the whole piece.
pub(super) fn long_period(piece: &[u8]) -> Option<usize> {
    let window = &piece[..(piece.len() / 4).min(PERIOD_WINDOW)];
    if window.len() < 4 * (MAX_UNIT + 1) {
        return None;
    }
    // border[i]: the longest proper prefix of window[..=i] that is also
    // its suffix.
    let mut border = vec![0u32; window.len()];
    for i in 1..window.len() {
        let mut k = border[i - 1] as usize;
        while k > 0 && window[i] != window[k] {
            k = border[k - 1] as usize;
        }
        if window[i] == window[k] {
            k += 1;
        }
        border[i] = k as u32;
    }
    let period = window.len() - border[window.len() - 1] as usize;
    (period > MAX_UNIT
        && 4 * period <= window.len()
        && piece[period..] == piece[..piece.len() - period])
        .then_some(period)
}

/// The bounds of [`Bpe::merge_repeats_with`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub head: usize,
    pub head_end: usize,
    pub tail: usize,
}

/// The bounds used when encoding.
pub(super) const SPAN: Span = Span {
    head: HEAD,
    head_end: HEAD_END,
    tail: TAIL,
};

/// Bytes from the start of `text` that repeat with period `unit`.
fn run_length(text: &[u8], unit: usize) -> usize {
    let (ahead, behind) = (&text[unit..], &text[..text.len() - unit]);
    let mut at = 0;
    // Eight bytes a step, then byte by byte for the rest.
    while at + 8 <= ahead.len() && ahead[at..at + 8] == behind[at..at + 8] {
        at += 8;
    }
    while at < ahead.len() && ahead[at] == behind[at] {
        at += 1;
    }
    unit + at
}

impl Bpe {
    /// If `text` starts with a run of one unit of up to [`MAX_UNIT`] bytes,
    /// at least `2 * span.head + span.tail` long (shorter ones merge about
    /// as fast in chunks), appends the tokens of
    /// `text[..x]` to `out` for the repeat boundary `x` nearest to, and at
    /// least `span.tail` bytes before, the run's end, and returns `x`;
    /// `None`, with `out` unchanged, otherwise (see the module notes).
    pub(super) fn merge_repeats_with(
        &self,
        text: &[u8],
        span: Span,
        lens: &TokenLengths,
        out: &mut Vec<u32>,
        cache: &mut PairCache,
    ) -> Option<usize> {
        if span.tail == 0 || text.len() < span.head + span.tail || span.head < 2 {
            return None;
        }
        // Most chunk starts are not runs: one 8-byte comparison each
        // settles most periods before comparing the head.
        // (The quick comparison stays inside the head, so a short head
        // never reads past the text.)
        let unit = (1..=MAX_UNIT.min(span.head - 1)).find(|&unit| {
            let quick = 8.min(span.head - unit);
            text[unit..unit + quick] == text[..quick]
                && text[unit..span.head] == text[..span.head - unit]
        })?;
        self.merge_repeats_of(text, unit, run_length(text, unit), span, lens, out, cache)
    }

    /// [`Bpe::merge_repeats_with`] for a run of `run` bytes of period
    /// `unit` at the start of `text`.
    #[allow(clippy::too_many_arguments)]
    fn merge_repeats_of(
        &self,
        text: &[u8],
        unit: usize,
        run: usize,
        span: Span,
        lens: &TokenLengths,
        out: &mut Vec<u32>,
        cache: &mut PairCache,
    ) -> Option<usize> {
        if run < 2 * span.head + span.tail {
            return None;
        }
        let head = self.merge_alone(&text[..span.head], cache)?;
        // bounds[i]: where head token i starts; the last entry is the
        // head's end.
        let mut bounds = Vec::with_capacity(head.len() + 1);
        bounds.push(0);
        for &id in &head {
            bounds.push(bounds[bounds.len() - 1] + lens.of(id));
        }
        let usable = span.head.saturating_sub(span.head_end);
        let mut tries = 0;
        for i in 0..head.len() {
            for j in i + 1..head.len() {
                let (s1, s2) = (bounds[i], bounds[j]);
                if s2 > usable {
                    break;
                }
                if tries == TRIES {
                    return None;
                }
                if (s2 - s1) % unit != 0 {
                    continue;
                }
                tries += 1;
                let repeated = &head[i..j];
                let (first, last) = (repeated[0], repeated[repeated.len() - 1]);
                // The bytes after a repeat's end are the repeat's start.
                if !self.join_at(text, s2, last, first, lens, cache) {
                    continue;
                }
                // At least one repeat: the head's end lies before the tail.
                let k = (run - span.tail - s1) / (s2 - s1);
                out.reserve(i + k * repeated.len());
                out.extend_from_slice(&head[..i]);
                // The repeats, doubling what is written so far (a repeat
                // is often one token: one copy call each would be slow).
                let start = out.len();
                out.extend_from_slice(repeated);
                let total = k * repeated.len();
                while out.len() - start < total {
                    let more = (out.len() - start).min(total - (out.len() - start));
                    out.extend_from_within(start..start + more);
                }
                return Some(s1 + k * (s2 - s1));
            }
        }
        None
    }

    /// Appends `bpe(piece)` to `out` for a piece of period `period` (any
    /// length: [`long_period`] finds them), from the tokens of a head that
    /// holds three periods and a tail merged alone, every join checked;
    /// `false`, with `out` unchanged, where a join fails.
    pub(super) fn merge_long_period(
        &self,
        piece: &[u8],
        period: usize,
        lens: &TokenLengths,
        out: &mut Vec<u32>,
        cache: &mut PairCache,
    ) -> bool {
        let span = Span {
            head: 3 * period + HEAD,
            head_end: HEAD_END,
            tail: TAIL,
        };
        self.merge_long_period_with(piece, period, span, lens, out, cache)
    }

    /// [`Bpe::merge_long_period`] with other bounds (tests use small ones,
    /// where joins fail more often).
    pub(super) fn merge_long_period_with(
        &self,
        piece: &[u8],
        period: usize,
        span: Span,
        lens: &TokenLengths,
        out: &mut Vec<u32>,
        cache: &mut PairCache,
    ) -> bool {
        let taken = out.len();
        let n = piece.len();
        let Some(x) = self.merge_repeats_of(piece, period, n, span, lens, out, cache) else {
            return false;
        };
        let last = out[out.len() - 1];
        match self.merge_alone(&piece[x..], cache) {
            Some(tail) if self.join_at(piece, x, last, tail[0], lens, cache) => {
                out.extend_from_slice(&tail);
                true
            }
            _ => {
                out.truncate(taken);
                false
            }
        }
    }

    /// The merge of `bytes` alone; `None` when some byte is not a token.
    pub(super) fn merge_alone(&self, bytes: &[u8], cache: &mut PairCache) -> Option<Vec<u32>> {
        let mut ids: Vec<u32> = bytes
            .iter()
            .map(|&b| self.byte_ids[usize::from(b)])
            .collect();
        if ids.contains(&u32::MAX) {
            return None;
        }
        let len = self.merge_ids(&mut ids, cache);
        ids.truncate(len);
        Some(ids)
    }
}
