//! Encoding when every n-gram is a bigram (the default), in blocks of 64
//! pieces.
//!
//! Whether pieces `i` and `i + 1` form a bigram depends on those two pieces
//! alone; only the greedy left-to-right choice between overlapping matches
//! needs what came before. So a block is encoded in passes:
//! 1. each piece is looked up once as it arrives (its id and flags; base
//!    encoding needs the same lookup);
//! 2. flags and a bit filter mark the pairs that may be bigrams
//!    ([`block_simd::masks`], 16 pieces per step with AVX-512);
//! 3. only those pairs probe the bigram table, each probe independent of
//!    the others, so the processor overlaps them;
//! 4. the greedy choice is made on the 64-bit mask of matches with a few
//!    word operations ([`greedy`]);
//! 5. ids are written 16 at a time ([`block_simd::emit`]), with the pieces
//!    the base must merge merged in order between them.
//!
//! The streaming version this replaced probed one piece at a time, and the
//! next write depended on each probe's answer: a chain of dependent cache
//! accesses that cost 36-40% over base encoding, against 15-19% here.

use super::block_simd::{self, BLOCK, ID};
use super::{id_pairs, MultiWord, NOT_WHOLE};
use crate::tokenize::bpe::Bpe;
use crate::tokenize::error::TokenizeError;
use crate::tokenize::tokenizer::Tokenizer;

/// The lookup value of a piece that is not in the lookup: not one token,
/// starts nothing.
const NOT_FOUND: u32 = (NOT_WHOLE as u32) << 24;
/// The even bit positions (0, 2, 4, ...).
const EVEN: u64 = 0x5555_5555_5555_5555;

/// The pieces of one block: lookup values and byte ranges. Piece `BLOCK`
/// is the first piece of the next block, kept for the pair that ends there.
struct Block {
    values: [u32; BLOCK + 1],
    ranges: [(usize, usize); BLOCK + 1],
    /// The bigram of pieces `i` and `i + 1`, where one was found (kept
    /// here rather than cleared per block: only found entries are read).
    hits: [u32; BLOCK],
    len: usize,
    /// Whether piece 0 was taken by the last pair of the previous block.
    consumed: bool,
}

/// Of each run of consecutive matches in `matches` (bit `i`: pieces `i`
/// and `i + 1` form a bigram), the ones greedy left-to-right merging takes:
/// the first, third, fifth... of the run, since taking a pair uses up the
/// first piece of the next one.
fn greedy(matches: u64) -> u64 {
    let starts = matches & !(matches << 1);
    // Adding a run's first bit carries through the run and clears it, so
    // this is the runs that start at an even position.
    let even_runs = matches & !matches.wrapping_add(starts & EVEN);
    (even_runs & EVEN) | (matches & !even_runs & !EVEN)
}

impl MultiWord {
    /// Encodes one run of text when every n-gram is a bigram. Gives the
    /// same ids as [`Self::encode_segment`].
    pub(super) fn encode_segment_bigrams(
        &self,
        base: &Tokenizer,
        segment: &str,
        out: &mut Vec<u32>,
    ) -> Result<(), TokenizeError> {
        let text = base.prefixed(segment);
        let seg = text.as_bytes();
        let bpe = base.bpe();
        let lookup = self.lookup(base);
        let mut block = Block {
            values: [0; BLOCK + 1],
            ranges: [(0, 0); BLOCK + 1],
            hits: [0; BLOCK],
            len: 0,
            consumed: false,
        };
        base.split_pieces(&text, &mut |a, b| {
            let at = block.len;
            block.values[at] = lookup.get(&seg[a..b]).copied().unwrap_or(NOT_FOUND);
            block.ranges[at] = (a, b);
            block.len = at + 1;
            if block.len == BLOCK + 1 {
                self.encode_block(bpe, seg, &mut block, BLOCK, out);
            }
        })?;
        let len = block.len;
        self.encode_block(bpe, seg, &mut block, len, out);
        Ok(())
    }

    /// Writes the ids of the block's first `emit` pieces (all of them, or
    /// all but the last, which then starts the next block).
    fn encode_block(
        &self,
        bpe: &Bpe,
        seg: &[u8],
        block: &mut Block,
        emit: usize,
        out: &mut Vec<u32>,
    ) {
        let n = block.len;
        let masks = block_simd::masks(&block.values, n, &self.pair_bits);
        let mut matches = 0u64;
        let mut todo = masks.by_ids;
        while todo != 0 {
            let i = todo.trailing_zeros() as usize;
            let hit = self
                .bigrams
                .find(block.values[i] & ID, block.values[i + 1] & ID);
            block.hits[i] = hit;
            matches |= u64::from(hit != id_pairs::ABSENT) << i;
            todo &= todo - 1;
        }
        let mut todo = masks.by_bytes;
        while todo != 0 {
            let i = todo.trailing_zeros() as usize;
            let ((a, b), (c, d)) = (block.ranges[i], block.ranges[i + 1]);
            let bit = block_simd::byte_pair_bit(&seg[a..b], &seg[c..d]);
            let passes = self.byte_pair_bits[bit / 32] >> (bit % 32) & 1 != 0;
            if let Some(hit) = passes
                .then(|| self.byte_bigram(seg, (a, b), (c, d)))
                .flatten()
            {
                block.hits[i] = hit;
                matches |= 1 << i;
            }
            todo &= todo - 1;
        }
        let taken = greedy(matches & !u64::from(block.consumed));
        let skipped = (taken << 1) | u64::from(block.consumed);
        // Pieces the base must merge, in order between runs of single ids.
        let mut merge = masks.not_whole & !taken & !skipped & block_simd::low_bits(emit);
        let mut start = 0;
        while merge != 0 {
            let i = merge.trailing_zeros() as usize;
            block_simd::emit(&block.values, &block.hits, taken, !skipped, (start, i), out);
            let (a, b) = block.ranges[i];
            bpe.merge_piece(&seg[a..b], out);
            start = i + 1;
            merge &= merge - 1;
        }
        block_simd::emit(
            &block.values,
            &block.hits,
            taken,
            !skipped,
            (start, emit),
            out,
        );
        if emit < n {
            // The last piece starts the next block.
            block.values[0] = block.values[emit];
            block.ranges[0] = block.ranges[emit];
            block.consumed = (taken >> (emit - 1)) & 1 != 0;
            block.len = 1;
        } else {
            block.len = 0;
            block.consumed = false;
        }
    }

    /// The bigram of two adjacent pieces when one of its words is not one
    /// base token: same bytes and the same two word boundaries.
    fn byte_bigram(
        &self,
        seg: &[u8],
        first: (usize, usize),
        second: (usize, usize),
    ) -> Option<u32> {
        let (token, lengths) = self.by_bytes.get(&seg[first.0..second.1])?;
        (lengths[..] == [first.1 - first.0, second.1 - second.0]).then_some(*token)
    }
}

#[cfg(test)]
mod tests {
    use super::greedy;

    /// Greedy left to right, one pair at a time.
    fn plain(matches: u64) -> u64 {
        let mut taken = 0;
        let mut i = 0;
        while i < 64 {
            if matches & (1 << i) != 0 {
                taken |= 1 << i;
                i += 2;
            } else {
                i += 1;
            }
        }
        taken
    }

    #[test]
    fn greedy_takes_every_other_match_of_each_run() {
        let mut state = 0x1234_5678_9abc_def0u64;
        for special in [0, u64::MAX, 1, 1 << 63, 0b0110_1110, EVEN_ODD] {
            assert_eq!(greedy(special), plain(special), "{special:b}");
        }
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Denser and sparser masks than uniform bits.
            let m = state & (state >> 3 | state << 5);
            assert_eq!(greedy(m), plain(m), "{m:b}");
            assert_eq!(greedy(state), plain(state), "{state:b}");
        }
    }

    const EVEN_ODD: u64 = 0xAAAA_AAAA_AAAA_AAAA;
}
