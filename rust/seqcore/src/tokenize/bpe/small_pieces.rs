//! Merging short pieces (up to [`SMALL_PIECE`] bytes, nearly all of them):
//! a scan for the lowest rank over a small array, repeated once per merge.
//!
//! A merge removes one slot, so the tails of the id and rank arrays move
//! one slot left each time. `copy_within` makes that a `memmove` call, and
//! its dispatch on the length mispredicts often for these tiny, varying
//! lengths; moving fixed blocks of [`BLOCK`] slots instead (the arrays carry
//! that many spare slots) cut the merge time of text without whitespace by
//! about a tenth (`examples/bpe_speed.rs`).

use super::{Bpe, PairCache, NO_PAIR, SMALL_PIECE};

/// Slots moved per block copy, and the spare slots past the end.
const BLOCK: usize = 8;
/// Pieces up to this many ids merge in arrays of this size (plus
/// [`BLOCK`]); prose pieces the base splits are mostly 5-12 bytes.
const SHORT_PIECE: usize = 24;

impl Bpe {
    /// Merges in place with a scan for the lowest rank (the leftmost among
    /// equals, as the scan keeps the first minimum); returns the new length.
    pub(super) fn merge_small(&self, piece: &mut [u32], cache: &mut PairCache) -> usize {
        debug_assert!(piece.len() <= SMALL_PIECE);
        // Most pieces are short: arrays sized for them are filled with a
        // few vector stores, where the longest size took a `memset` call
        // of 1.2 KB per piece (4% of encoding prose without AVX-512).
        if piece.len() <= SHORT_PIECE {
            self.merge_small_in::<{ SHORT_PIECE + BLOCK }>(piece, cache)
        } else {
            self.merge_small_in::<{ SMALL_PIECE + BLOCK }>(piece, cache)
        }
    }

    /// [`Bpe::merge_small`] in arrays of `SLOTS` slots (at least the
    /// piece's length plus [`BLOCK`]).
    #[inline(always)]
    fn merge_small_in<const SLOTS: usize>(
        &self,
        piece: &mut [u32],
        cache: &mut PairCache,
    ) -> usize {
        let mut len = piece.len();
        if len < 2 {
            return len;
        }
        debug_assert!(len + BLOCK <= SLOTS);
        let mut ids = [0u32; SLOTS];
        ids[..len].copy_from_slice(piece);
        // ranks[i]: (rank << 32 | merged) of the pair (ids[i], ids[i + 1]).
        let mut ranks = [NO_PAIR; SLOTS];
        for i in 0..len - 1 {
            ranks[i] = cache.get(self, ids[i], ids[i + 1]);
        }
        loop {
            let mut best = NO_PAIR;
            let mut at = 0;
            for (i, &r) in ranks[..len - 1].iter().enumerate() {
                if r < best {
                    best = r;
                    at = i;
                }
            }
            if best == NO_PAIR {
                break;
            }
            ids[at] = best as u32;
            // Slots past the live ones may receive stale values: the scan
            // never reads them, and the last pair slot is reset below.
            shift_left(&mut ids, at + 2, len);
            shift_left(&mut ranks, at + 2, len);
            len -= 1;
            if len == 1 {
                break;
            }
            ranks[len - 1] = NO_PAIR;
            ranks[at] = if at + 1 < len {
                cache.get(self, ids[at], ids[at + 1])
            } else {
                NO_PAIR
            };
            if at > 0 {
                ranks[at - 1] = cache.get(self, ids[at - 1], ids[at]);
            }
        }
        piece[..len].copy_from_slice(&ids[..len]);
        len
    }
}

/// Moves `a[from..to]` one slot left in blocks of [`BLOCK`], reading each
/// block before writing it, so the overlap is safe. Writes up to
/// `BLOCK - 1` slots past `to - 1`: `a` needs that many spare slots.
#[inline(always)]
fn shift_left<T: Copy>(a: &mut [T], from: usize, to: usize) {
    let mut j = from;
    while j < to {
        let block: [T; BLOCK] = a[j..j + BLOCK].try_into().expect("a block");
        a[j - 1..j - 1 + BLOCK].copy_from_slice(&block);
        j += BLOCK;
    }
}
