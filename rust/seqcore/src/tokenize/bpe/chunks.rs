//! Merging a long part with no cut in chunks that fit the vector path,
//! checking each join.
//!
//! Split a text `T = L ++ R` anywhere, and let `a` be the last token of
//! `bpe(L)` and `b` the first of `bpe(R)`. Then `bpe(T) = bpe(L) ++
//! bpe(R)` exactly when `bpe(bytes(a) ++ bytes(b)) = [a, b]`. Why: until a
//! merge crosses the split, the merges of `T` on each side are those of
//! `L` and `R` alone, in their own order, and every symbol next to the
//! split lies inside `a` or `b` (symbols only grow, and `a`, `b` are
//! final). Merges outside the spans of `a` and `b` never touch those
//! symbols, so the merges inside the two spans and the pair across the
//! split are taken in the same order as when `bytes(a) ++ bytes(b)` is
//! merged alone, whose only pairs they are: the pair across merges in one
//! exactly when it merges in the other. No assumption on the ranks is
//! needed (a merge may even make a pair of lower rank).
//!
//! Likewise, if a split point is a token boundary of `bpe(C)` for a chunk
//! `C`, the tokens before it are `bpe` of the bytes before it. So a long
//! part is merged a chunk of [`CHUNK`] bytes at a time; the tokens that end
//! at least [`OVERLAP`] bytes before the chunk's end are kept (the end of a
//! chunk is where its tokens may differ from the whole text's), the next
//! chunk starts where they end, and each join is checked as above. If a
//! join fails (rare: the overlap makes the boundary almost always a true
//! one), the loop backs off a few tokens and merges again from there
//! ([`BackOffs`]).

use super::periodic::{self, Span};
use super::{Bpe, PairCache};

/// Bytes merged per chunk: a chunk fits the vector path. (Letters only,
/// one megabyte-long piece, time per byte against prose from Rust: chunks
/// of 96 bytes 5.4-6.1x, of 64 5.9-6.5x, of 128 5.9-6.2x.)
pub(super) const CHUNK: usize = 96;
/// Bytes at a chunk's end whose tokens are merged again with the next one.
const OVERLAP: usize = 12;

/// Byte lengths of the tokens, by id.
#[derive(Debug, Clone)]
pub(super) struct TokenLengths(Box<[u16]>);

impl TokenLengths {
    /// `None` when ids or lengths are too large to keep this way (ids of
    /// 2^22 and over, which would make the table 8 MB or more; tokens over
    /// 65,535 bytes): long parts then merge whole.
    pub(super) fn new(tokens: &[(u32, &[u8])]) -> Option<Self> {
        let top = tokens.iter().map(|t| t.0).max()?;
        if top >= 1 << 22 || tokens.iter().any(|t| t.1.len() > usize::from(u16::MAX)) {
            return None;
        }
        let mut lens = vec![0u16; top as usize + 1];
        for &(id, bytes) in tokens {
            lens[id as usize] = bytes.len() as u16;
        }
        Some(TokenLengths(lens.into_boxed_slice()))
    }

    #[inline(always)]
    pub(super) fn of(&self, id: u32) -> usize {
        usize::from(self.0[id as usize])
    }
}

/// What the chunk loop does where a join fails: the kept tokens nearest
/// the failed join may differ from the whole text's (they ended too close
/// to their chunk's end), so the loop takes back twice the overlap's worth
/// of them (24 bytes; at least one token) and merges again from there,
/// where they now lie far from the chunk's end. The tokens before any
/// token boundary of `bpe(part[..start])` are `bpe` of the bytes before
/// it, so what stays in `out` is still exact. A budget of back-offs, linear in the part's
/// length, bounds the extra merging; past it the part is merged whole.
struct BackOffs {
    budget: usize,
    used: usize,
    /// Bytes of kept tokens taken back at a failed join.
    bytes: usize,
}

/// How a part went through the chunk loop (what tests check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ChunkRun {
    /// Failed joins the loop backed off from.
    pub(super) back_offs: usize,
    /// Whether the part was merged whole in the end.
    pub(super) whole: bool,
}

/// Back-offs allowed in a part of `part_len` bytes: at most one extra
/// chunk merged per four chunks' length, and a few for short parts.
pub(super) fn back_off_budget(part_len: usize) -> usize {
    4 + part_len / (4 * CHUNK)
}

impl BackOffs {
    /// For a part of `part_len` bytes merged keeping the tokens that end
    /// `overlap` bytes before a chunk's end.
    fn new(part_len: usize, overlap: usize) -> Self {
        BackOffs {
            budget: back_off_budget(part_len),
            used: 0,
            bytes: 2 * overlap,
        }
    }

    /// Takes back the kept tokens of the last `self.bytes` bytes (at least
    /// one token, all of them if fewer) from `out` (whose tokens from
    /// `first` on are `bpe(part[..start])`), moving `start` and `last` to
    /// match; false once the budget is spent.
    fn back_off(
        &mut self,
        lens: &TokenLengths,
        first: usize,
        start: &mut usize,
        last: &mut Option<(u32, usize)>,
        out: &mut Vec<u32>,
    ) -> bool {
        if self.used == self.budget {
            return false;
        }
        self.used += 1;
        let mut taken = 0;
        while out.len() > first && (taken == 0 || taken < self.bytes) {
            let id = out.pop().expect("a kept token");
            taken += lens.of(id);
        }
        *start -= taken;
        *last = out[first..].last().map(|&id| (id, lens.of(id)));
        true
    }
}

impl Bpe {
    /// Appends the ids of `part` (longer than [`CHUNK`] bytes, every byte a
    /// token) to `out`, merged chunk by chunk; see the module notes.
    pub(super) fn merge_in_chunks(
        &self,
        part: &[u8],
        lens: &TokenLengths,
        out: &mut Vec<u32>,
        cache: &mut PairCache,
    ) {
        self.merge_in_chunks_with(part, lens, OVERLAP, periodic::SPAN, out, cache);
    }

    /// [`Bpe::merge_in_chunks`] keeping the tokens that end `overlap` bytes
    /// or more before a chunk's end, and taking runs of a unit with the
    /// bounds `span` (exact for any of them: tests use small ones, where
    /// joins often fail).
    pub(super) fn merge_in_chunks_with(
        &self,
        part: &[u8],
        lens: &TokenLengths,
        overlap: usize,
        span: Span,
        out: &mut Vec<u32>,
        cache: &mut PairCache,
    ) -> ChunkRun {
        let first = out.len();
        let n = part.len();
        let mut ids: Vec<u32> = Vec::with_capacity(CHUNK);
        let mut start = 0;
        // The last token kept so far, and its length.
        let mut last: Option<(u32, usize)> = None;
        let mut back_offs = BackOffs::new(n, overlap);
        loop {
            // A long run of one unit from here: its repeats are copied
            // (`periodic`), and joined like a chunk's tokens.
            let taken = out.len();
            if let Some(x) = self.merge_repeats_with(&part[start..], span, lens, out, cache) {
                let b = out[taken];
                if let Some((a, _)) = last {
                    if !self.join_at(part, start, a, b, lens, cache) {
                        out.truncate(taken);
                        if back_offs.back_off(lens, first, &mut start, &mut last, out) {
                            continue;
                        }
                        break;
                    }
                }
                let z = out[out.len() - 1];
                last = Some((z, lens.of(z)));
                start += x;
                continue;
            }
            let end = (start + CHUNK).min(n);
            ids.clear();
            ids.extend(
                part[start..end]
                    .iter()
                    .map(|&b| self.byte_ids[usize::from(b)]),
            );
            let len = self.merge_ids(&mut ids, cache);
            let ids = &ids[..len];
            if let Some((a, _)) = last {
                if !self.join_at(part, start, a, ids[0], lens, cache) {
                    if back_offs.back_off(lens, first, &mut start, &mut last, out) {
                        continue;
                    }
                    break;
                }
            }
            if end == n {
                out.extend_from_slice(ids);
                return ChunkRun {
                    back_offs: back_offs.used,
                    whole: false,
                };
            }
            // Keep the tokens that end `overlap` bytes or more before `end`
            // (and never the last: it may continue in the next chunk).
            let (mut kept, mut at) = (0, start);
            while kept + 1 < len && at + lens.of(ids[kept]) + overlap <= end {
                at += lens.of(ids[kept]);
                kept += 1;
            }
            if kept == 0 {
                break;
            }
            out.extend_from_slice(&ids[..kept]);
            last = Some((ids[kept - 1], lens.of(ids[kept - 1])));
            start = at;
        }
        // Joins failed too often (or one token filled a chunk): merge it
        // whole.
        out.truncate(first);
        self.merge_segment(part, out, cache);
        ChunkRun {
            back_offs: back_offs.used,
            whole: true,
        }
    }

    /// Whether token `a`, ending at `at` in `text`, joins token `b`,
    /// starting there.
    pub(super) fn join_at(
        &self,
        text: &[u8],
        at: usize,
        a: u32,
        b: u32,
        lens: &TokenLengths,
        cache: &mut PairCache,
    ) -> bool {
        let (from, to) = (at - lens.of(a), at + lens.of(b));
        to <= text.len() && self.joins(&text[from..to], a, b, cache)
    }

    /// Whether `bytes`, the bytes of token `a` then of token `b`, merge
    /// into exactly `[a, b]`.
    pub(super) fn joins(&self, bytes: &[u8], a: u32, b: u32, cache: &mut PairCache) -> bool {
        let mut held = [0u32; 2 * CHUNK];
        let mut spilled = Vec::new();
        let ids = if bytes.len() <= held.len() {
            &mut held[..bytes.len()]
        } else {
            spilled.resize(bytes.len(), 0);
            &mut spilled[..]
        };
        for (id, &x) in ids.iter_mut().zip(bytes) {
            *id = self.byte_ids[usize::from(x)];
        }
        let len = self.merge_ids(ids, cache);
        ids[..len] == [a, b]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lengths 1, 2, 3, ... by id.
    fn lens() -> TokenLengths {
        let bytes: Vec<Vec<u8>> = (0..40).map(|i| vec![b'a'; i + 1]).collect();
        let tokens: Vec<(u32, &[u8])> = bytes
            .iter()
            .enumerate()
            .map(|(i, b)| (i as u32, &b[..]))
            .collect();
        TokenLengths::new(&tokens).unwrap()
    }

    #[test]
    fn a_back_off_takes_back_whole_tokens_of_enough_bytes() {
        let lens = lens();
        // Before this part's tokens: one of another part (index 0).
        let mut out = vec![39, 0, 4, 9, 10, 2];
        let (first, mut start) = (1, 1 + 5 + 10 + 11 + 3);
        let mut last = Some((2, 3));
        let mut offs = BackOffs::new(0, OVERLAP);
        assert!(offs.back_off(&lens, first, &mut start, &mut last, &mut out));
        // 3 + 11 + 10 >= 2 * OVERLAP bytes: three tokens go.
        const { assert!(3 + 11 < 2 * OVERLAP && 3 + 11 + 10 >= 2 * OVERLAP) };
        assert_eq!(out, [39, 0, 4]);
        assert_eq!((start, last), (6, Some((4, 5))));
        // Fewer bytes than that left: all go, and no token is left to join.
        assert!(offs.back_off(&lens, first, &mut start, &mut last, &mut out));
        assert_eq!((out.as_slice(), start, last), (&[39][..], 0, None));
        // With no overlap, one token at a time.
        let mut out = vec![4, 9, 2];
        let (mut start, mut last) = (18, Some((2, 3)));
        let mut offs = BackOffs::new(0, 0);
        assert!(offs.back_off(&lens, 0, &mut start, &mut last, &mut out));
        assert_eq!(
            (out.as_slice(), start, last),
            (&[4, 9][..], 15, Some((9, 10)))
        );
    }

    #[test]
    fn back_offs_stop_when_the_budget_is_spent() {
        let lens = lens();
        let part_len = 10 * 4 * CHUNK;
        let mut offs = BackOffs::new(part_len, OVERLAP);
        assert_eq!(back_off_budget(part_len), 4 + 10);
        let mut spent = 0;
        let (mut start, mut last) = (usize::MAX / 2, None);
        let mut out = vec![0; 100];
        while offs.back_off(&lens, 0, &mut start, &mut last, &mut out) {
            spent += 1;
            out.resize(100, 0);
        }
        assert_eq!(spent, 4 + 10);
    }
}
