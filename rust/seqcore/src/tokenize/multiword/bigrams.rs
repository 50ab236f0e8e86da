//! Encoding when every n-gram is a bigram (the default), in blocks of 64
//! pieces.
//!
//! Whether pieces `i` and `i + 1` form a bigram depends on those two pieces
//! alone; only the greedy left-to-right choice between overlapping matches
//! needs what came before. So:
//! 1. as each piece arrives, only its key is taken, from its length and
//!    first eight bytes ([`joined::piece_key`]), with no table lookup;
//! 2. at the end of the block, each pair's hash tests a bit filter
//!    ([`block_simd::candidates`], 8 pairs a step with AVX-512; ~2 points
//!    less than testing each pair as its second piece arrived), and only
//!    the pairs that pass (a quarter of them on English prose, nearly all
//!    bigrams) probe the bigram table ([`joined::Joined`]), each probe
//!    independent of the others, so the processor overlaps them;
//! 3. the greedy choice is made on the 64-bit mask of matches with a few
//!    word operations ([`greedy`]);
//! 4. only the pieces left over are looked up in the base's table: the
//!    two pieces of a bigram cost one probe of a small table instead of
//!    two lookups in the base's large one;
//! 5. ids are written 16 at a time ([`block_simd::emit`]), with the pieces
//!    the base must merge merged in order between them.
//!
//! The version this replaced looked every piece up in a copy of the
//! base's table with flags added (6 MB for cl100k, built on the first
//! encode in 10-13 ms) and keyed bigrams by the two ids. Both cost the
//! same, +18-19% over base encoding in the same runs from Python; this one
//! needs no copy. Streaming one piece at a time with the same keys cost
//! +20-23%: the filter's answer then decides a branch that mispredicts on
//! about a third of the pieces, and each miss throws away the lookups
//! in flight.

use super::block_simd::{self, BLOCK};
use super::joined::{self, Joined};
use super::MultiWord;
use crate::tokenize::bpe::Bpe;
use crate::tokenize::error::TokenizeError;
use crate::tokenize::tokenizer::Tokenizer;

/// The value of a piece that is not one base token.
const NOT_WHOLE: u32 = u32::MAX;
/// The even bit positions (0, 2, 4, ...).
const EVEN: u64 = 0x5555_5555_5555_5555;

/// The pieces of one block. Piece `BLOCK` is the first piece of the next
/// block, kept for the pair that ends there.
struct Block {
    keys: [u64; BLOCK + 1],
    /// Lengths up to [`joined::LONGEST`].
    lengths: [u32; BLOCK + 1],
    ranges: [(usize, usize); BLOCK + 1],
    /// Base ids of the pieces looked up ([`NOT_WHOLE`] if not one token;
    /// the others are not read).
    values: [u32; BLOCK + 1],
    /// The bigram of pieces `i` and `i + 1`, where one was found (kept
    /// here rather than cleared per block: only found entries are read).
    hits: [u32; BLOCK],
    len: usize,
    /// Whether piece 0 was taken by the last pair of the previous block.
    consumed: bool,
}

impl Block {
    fn new() -> Self {
        Block {
            keys: [0; BLOCK + 1],
            lengths: [0; BLOCK + 1],
            ranges: [(0, 0); BLOCK + 1],
            values: [0; BLOCK + 1],
            hits: [0; BLOCK],
            len: 0,
            consumed: false,
        }
    }

    /// Adds a piece; returns whether the block is full.
    #[inline(always)]
    fn push(&mut self, seg: &[u8], (a, b): (usize, usize)) -> bool {
        let at = self.len;
        self.keys[at] = joined::piece_key(seg, a, b);
        self.lengths[at] = (b - a).min(joined::LONGEST) as u32;
        self.ranges[at] = (a, b);
        self.len = at + 1;
        self.len == BLOCK + 1
    }
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
        let mut block = Block::new();
        base.split_pieces(&text, &mut |a, b| {
            if block.push(seg, (a, b)) {
                encode_block(&self.joined, bpe, seg, &mut block, BLOCK, out);
            }
        })?;
        let len = block.len;
        encode_block(&self.joined, bpe, seg, &mut block, len, out);
        Ok(())
    }
}

/// Writes the ids of the block's first `emit` pieces (all of them, or all
/// but the last, which then starts the next block).
fn encode_block(
    bigrams: &Joined,
    bpe: &Bpe,
    seg: &[u8],
    block: &mut Block,
    emit: usize,
    out: &mut Vec<u32>,
) {
    let n = block.len;
    let pairs = n.saturating_sub(1);
    // The filter, then probes for the pairs that pass it.
    let mut matches = 0u64;
    let mut todo = block_simd::candidates(&block.keys, &block.lengths, pairs, bigrams.filter());
    while todo != 0 {
        let i = todo.trailing_zeros() as usize;
        let ((a, b), (_, d)) = (block.ranges[i], block.ranges[i + 1]);
        let keys = (block.keys[i], block.keys[i + 1]);
        if let Some(hit) = bigrams.find(seg, (a, d), keys, joined::lengths(b - a, d - b)) {
            block.hits[i] = hit;
            matches |= 1 << i;
        }
        todo &= todo - 1;
    }
    // The greedy choice.
    let taken = greedy(matches & !u64::from(block.consumed));
    let skipped = (taken << 1) | u64::from(block.consumed);
    // The pieces left over, looked up in the base's table.
    let single = !taken & !skipped & block_simd::low_bits(emit);
    let mut not_whole = 0u64;
    let mut todo = single;
    while todo != 0 {
        let i = todo.trailing_zeros() as usize;
        let (a, b) = block.ranges[i];
        let v = bpe.whole_piece(&seg[a..b]).unwrap_or(NOT_WHOLE);
        block.values[i] = v;
        not_whole |= u64::from(v == NOT_WHOLE) << i;
        todo &= todo - 1;
    }
    // Ids in order, with the pieces the base must merge merged between
    // runs of single ids.
    let keep = single & !not_whole | taken;
    let mut merge = not_whole;
    let mut start = 0;
    while merge != 0 {
        let i = merge.trailing_zeros() as usize;
        block_simd::emit(&block.values, &block.hits, taken, keep, (start, i), out);
        let (a, b) = block.ranges[i];
        bpe.merge_piece(&seg[a..b], out);
        start = i + 1;
        merge &= merge - 1;
    }
    block_simd::emit(&block.values, &block.hits, taken, keep, (start, emit), out);
    if emit < n {
        // The last piece starts the next block.
        block.keys[0] = block.keys[emit];
        block.lengths[0] = block.lengths[emit];
        block.ranges[0] = block.ranges[emit];
        block.consumed = (taken >> (emit - 1)) & 1 != 0;
        block.len = 1;
    } else {
        block.len = 0;
        block.consumed = false;
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
