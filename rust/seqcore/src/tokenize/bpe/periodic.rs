//! Merging a long piece that is one short unit repeated (a megabyte of
//! "é", of "日", of an emoji) by merging one block of it.
//!
//! Let the piece `P` have period `p` (bytes) and let a block `K` be its
//! first `B` bytes, `B` a multiple of `p`, so that `P` starts with `K`
//! repeated. Let `a` and `b` be the last and first tokens of `bpe(K)`. The
//! join fact of `chunks` says `bpe(K ++ K) = bpe(K) ++ bpe(K)` exactly when
//! `bpe(bytes(a) ++ bytes(b)) = [a, b]`; and then `bpe(K^j)` ends in `a`
//! for every `j`, so the same one check gives `bpe(K^j) = bpe(K)^j` for all
//! `j` by induction. The piece is `K^r ++ T` with a tail `T` of `B` to
//! `2B - 1` bytes, and one more check of `a` against the first token of
//! `bpe(T)` gives `bpe(P) = bpe(K)^r ++ bpe(T)`. Two small merges and two
//! checks, then copying: the cost does not depend on how merging a long
//! run would go, and no assumption on ranks is made. Where a check fails
//! (a token would cross the blocks' joins), the caller merges the general
//! way.
//!
//! A run of one byte also has the run-length path (`long_pieces`), which
//! is the fallback when its blocks do not join.

use super::chunks::TokenLengths;
use super::{Bpe, PairCache};

/// Longest unit looked for: one character of UTF-8.
pub(super) const MAX_UNIT: usize = 4;
/// Bytes per block: a multiple of every unit length up to [`MAX_UNIT`],
/// merged on the vector path.
pub(super) const BLOCK: usize = 96;
/// Pieces from this length on are tried as repeats of a unit (shorter ones
/// merge fast enough the general way).
pub(super) const PERIODIC_PIECE: usize = 4 * BLOCK;

/// The smallest `p <= MAX_UNIT` such that the piece is a unit of `p`
/// bytes repeated (its last unit may be cut short), if there is one.
pub(super) fn unit_of(piece: &[u8]) -> Option<usize> {
    (1..=MAX_UNIT).find(|&unit| piece.len() > unit && piece[unit..] == piece[..piece.len() - unit])
}

impl Bpe {
    /// Appends `bpe(piece)` to `out` for a piece with period `unit` (at
    /// most [`MAX_UNIT`]) from blocks of [`BLOCK`] bytes; `false`, with
    /// `out` unchanged, where a join does not hold or the piece is too
    /// short for two blocks and a tail.
    pub(super) fn merge_periodic(
        &self,
        piece: &[u8],
        unit: usize,
        lens: &TokenLengths,
        out: &mut Vec<u32>,
        cache: &mut PairCache,
    ) -> bool {
        self.merge_periodic_with(piece, unit, BLOCK / unit, lens, out, cache)
    }

    /// [`Bpe::merge_periodic`] with blocks of `units` units (tests use
    /// small ones, where joins fail more often).
    pub(super) fn merge_periodic_with(
        &self,
        piece: &[u8],
        unit: usize,
        units: usize,
        lens: &TokenLengths,
        out: &mut Vec<u32>,
        cache: &mut PairCache,
    ) -> bool {
        let block = unit * units;
        let n = piece.len();
        if block == 0 || n < 3 * block {
            return false;
        }
        let mut ids: Vec<u32> = Vec::with_capacity(2 * block);
        // The block's tokens; `None` when some byte is not a token.
        let mut merge = |bytes: &[u8], ids: &mut Vec<u32>| {
            ids.clear();
            ids.extend(bytes.iter().map(|&b| self.byte_ids[usize::from(b)]));
            if ids.contains(&u32::MAX) {
                return false;
            }
            let len = self.merge_ids(ids, cache);
            ids.truncate(len);
            true
        };
        if !merge(&piece[..block], &mut ids) {
            return false;
        }
        let repeated = std::mem::take(&mut ids);
        let (first, last) = (repeated[0], repeated[repeated.len() - 1]);
        // The tail: the last full block and what follows it.
        let tail_at = (n / block - 1) * block;
        let mut tail = Vec::with_capacity(2 * block);
        if !merge(&piece[tail_at..], &mut tail) {
            return false;
        }
        // Both joins, each read where it lies in the piece (the bytes after
        // a block boundary repeat the piece's start).
        let last_len = lens.of(last);
        let join = |at: usize, after: u32, cache: &mut PairCache| {
            self.joins(
                &piece[at - last_len..at + lens.of(after)],
                last,
                after,
                cache,
            )
        };
        if !join(block, first, cache) || !join(tail_at, tail[0], cache) {
            return false;
        }
        out.reserve(tail_at / block * repeated.len() + tail.len());
        for _ in 0..tail_at / block {
            out.extend_from_slice(&repeated);
        }
        out.extend_from_slice(&tail);
        true
    }
}
