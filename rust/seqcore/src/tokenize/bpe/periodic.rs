//! Merging a long piece that is one short unit repeated (a megabyte of
//! "é", of an emoji, of "-=", of "abcde") from the merge of its head.
//!
//! Two facts, from the argument in `chunks`: if a split point of a text is
//! a boundary between two of its tokens, no merge ever crossed it, so the
//! tokens on either side are the merges of those bytes alone; and `bpe(L
//! ++ R) = bpe(L) ++ bpe(R)` exactly when the last token `a` of `bpe(L)`
//! and the first `b` of `bpe(R)` join, `bpe(bytes(a) ++ bytes(b)) = [a,
//! b]`.
//!
//! Let the piece have period `p` bytes. Merge its head (its first
//! [`HEAD`] bytes) and pick two token boundaries `s1 < s2` of the head
//! whose distance is a multiple of `p`. By the first fact the tokens before
//! `s1` are `bpe(A)` for `A = piece[..s1]`, and those between are `bpe(S)`
//! for `S = piece[s1..s2]`; the piece is `A ++ S^k ++ Z` for some `k >= 1`
//! and a tail `Z` of at least [`TAIL`] bytes. If the last token of `bpe(S)`
//! joins its first, and the first of `bpe(Z)`, the second fact applied
//! split by split gives `bpe(piece) = bpe(A) ++ bpe(S)^k ++ bpe(Z)`: the
//! last token of every prefix so far is the last of `bpe(S)`. So a
//! megabyte costs two short merges, a few joins and copying, and no
//! assumption on ranks is made. Where no pair of boundaries joins (tokens
//! cross every repeat), the caller merges the general way; a run of one
//! byte also has the run-length path (`long_pieces`).

use super::chunks::TokenLengths;
use super::{Bpe, PairCache};

/// Longest unit looked for.
pub(super) const MAX_UNIT: usize = 16;
/// Bytes of the head whose merge gives the repeated tokens.
const HEAD: usize = 192;
/// Tokens ending this close to the head's end may differ from the whole
/// piece's (its end merges as an end), so their boundaries are not used.
const HEAD_END: usize = 32;
/// Bytes of the tail at least, so that the piece's end lies far from the
/// last join.
const TAIL: usize = 64;
/// Pairs of boundaries tried before giving up.
const TRIES: usize = 24;
/// Pieces from this length on are tried as repeats of a unit (shorter ones
/// merge fast enough the general way).
pub(super) const PERIODIC_PIECE: usize = 2 * HEAD;

/// The smallest `p <= MAX_UNIT` such that the piece is a unit of `p`
/// bytes repeated (its last unit may be cut short), if there is one.
pub(super) fn unit_of(piece: &[u8]) -> Option<usize> {
    (1..=MAX_UNIT).find(|&unit| piece.len() > unit && piece[unit..] == piece[..piece.len() - unit])
}

/// The bounds of [`Bpe::merge_periodic_with`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub head: usize,
    pub head_end: usize,
    pub tail: usize,
}

impl Bpe {
    /// Appends `bpe(piece)` to `out` for a piece with period `unit`, from
    /// the merge of its head (see the module notes); `false`, with `out`
    /// unchanged, where no repeat of the head's tokens joins or the piece
    /// is too short.
    pub(super) fn merge_periodic(
        &self,
        piece: &[u8],
        unit: usize,
        lens: &TokenLengths,
        out: &mut Vec<u32>,
        cache: &mut PairCache,
    ) -> bool {
        let span = Span {
            head: HEAD,
            head_end: HEAD_END,
            tail: TAIL,
        };
        self.merge_periodic_with(piece, unit, span, lens, out, cache)
    }

    /// [`Bpe::merge_periodic`] with other bounds (tests use small ones,
    /// where joins fail more often).
    pub(super) fn merge_periodic_with(
        &self,
        piece: &[u8],
        unit: usize,
        span: Span,
        lens: &TokenLengths,
        out: &mut Vec<u32>,
        cache: &mut PairCache,
    ) -> bool {
        let n = piece.len();
        if unit == 0 || span.tail == 0 || n < span.head + span.tail {
            return false;
        }
        let Some(head) = self.merge_alone(&piece[..span.head], cache) else {
            return false;
        };
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
                    return false;
                }
                if (s2 - s1) % unit != 0 {
                    continue;
                }
                tries += 1;
                let repeated = &head[i..j];
                let (first, last) = (repeated[0], repeated[repeated.len() - 1]);
                // The bytes after a repeat's end are the repeat's start.
                if !self.join_at(piece, s2, last, first, lens, cache) {
                    continue;
                }
                // At least one repeat (the head's end lies before the tail).
                let k = (n - s1 - span.tail) / (s2 - s1);
                let z = s1 + k * (s2 - s1);
                let Some(tail) = self.merge_alone(&piece[z..], cache) else {
                    return false;
                };
                if !self.join_at(piece, z, last, tail[0], lens, cache) {
                    continue;
                }
                out.reserve(i + k * repeated.len() + tail.len());
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
                out.extend_from_slice(&tail);
                return true;
            }
        }
        false
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

    /// Whether token `a`, ending at `at` in `piece`, joins token `b`,
    /// starting there.
    pub(super) fn join_at(
        &self,
        piece: &[u8],
        at: usize,
        a: u32,
        b: u32,
        lens: &TokenLengths,
        cache: &mut PairCache,
    ) -> bool {
        let (from, to) = (at - lens.of(a), at + lens.of(b));
        to <= piece.len() && self.joins(&piece[from..to], a, b, cache)
    }
}
