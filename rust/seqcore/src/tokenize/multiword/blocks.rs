//! Encoding in blocks of 64 pieces.
//!
//! Whether pieces `i..i + n` form an n-gram depends on those pieces alone;
//! only the greedy choice between overlapping matches (longest order first,
//! left to right) needs what came before. So:
//! 1. as each piece arrives, only its key is taken, from its length and
//!    first eight bytes ([`joined::piece_key`]), with no table lookup.
//!    Prefetching the lines that lookup would read gained 1-2 points on an
//!    AVX-512 Xeon but cost 6 on an AVX2-only EPYC (Zen 1): the prefetches
//!    of the 43% of pieces a bigram takes are wasted loads of the large
//!    table there, and the lookups of the pieces left over overlap well
//!    enough in step 4;
//! 2. at the end of the block, each pair's hash tests the bigram filter
//!    ([`block_simd::candidates`], 8 pairs a step with AVX-512; ~2 points
//!    less than testing each pair as its second piece arrived), and each
//!    longer window's hash, built a piece at a time, tests the filter of
//!    longer n-grams ([`longer`]); only the windows that pass (a quarter of
//!    the pairs on English prose, nearly all of them bigrams) probe a
//!    table;
//! 3. every candidate's home slot is prefetched, then the candidates are
//!    probed in the greedy order, so a bigram taken at piece `i` spares
//!    the probe at `i + 1` (a third of the bigram probes on English prose:
//!    probing every candidate independently and choosing from the mask of
//!    matches afterwards measured 2-4 points slower; the branch on each
//!    probe's answer is nearly always "found", so the processor still runs
//!    ahead, and the prefetch starts the loads the branch would delay);
//! 4. only the pieces left over are looked up in the base's table
//!    ([`Bpe::whole_piece_in`], reusing each piece's key): the two pieces
//!    of a bigram cost one probe of a small table instead of two lookups
//!    in the base's large one;
//! 5. ids are written 16 (AVX-512) or 8 (AVX2) at a time, else one at a
//!    time without a branch ([`block_simd::emit`]), with the pieces
//!    the base must merge merged in order between them.
//!
//! A full block writes all but its last `longest order - 1` pieces, which
//! start the next block (with a count of those an n-gram already took).
//!
//! The bigram version this replaced looked every piece up in a copy of the
//! base's table with flags added (6 MB for cl100k, built on the first
//! encode in 10-13 ms) and keyed bigrams by the two ids. Both cost the
//! same, +18-19% over base encoding in the same runs from Python; this one
//! needs no copy. Streaming one piece at a time with the same keys cost
//! +20-23%: the filter's answer then decides a branch that mispredicts on
//! about a third of the pieces, and each miss throws away the lookups
//! in flight. Longer orders went through a window of pieces looked up one
//! at a time: +55-58% over base with bigrams and trigrams, +37% here.

use super::block_simd::{self, BLOCK};
use super::{joined, longer, MultiWord, MAX_ORDER};
use crate::tokenize::bpe::Bpe;
use crate::tokenize::error::TokenizeError;
use crate::tokenize::tokenizer::Tokenizer;

/// The value of a piece that is not one base token.
const NOT_WHOLE: u32 = u32::MAX;

/// The pieces of one block. A full block holds `BLOCK + 1` pieces; the
/// last `longest order - 1` of them start the next block, kept for the
/// n-grams that reach them.
struct Block {
    keys: [u64; BLOCK + 1],
    /// Lengths up to [`joined::LONGEST`].
    lengths: [u32; BLOCK + 1],
    ranges: [(usize, usize); BLOCK + 1],
    /// Base ids of the pieces looked up ([`NOT_WHOLE`] if not one token;
    /// the others are not read).
    values: [u32; BLOCK + 1],
    /// The id of the n-gram taken at piece `i`, where one was (kept here
    /// rather than cleared per block: only taken entries are read).
    hits: [u32; BLOCK],
    /// [`joined::pair_hash`] of each pair, from the filter pass.
    hashes: [u64; BLOCK],
    len: usize,
    /// How many of the first pieces the previous block's last n-gram
    /// took.
    consumed: usize,
}

impl Block {
    fn new() -> Self {
        Block {
            keys: [0; BLOCK + 1],
            lengths: [0; BLOCK + 1],
            ranges: [(0, 0); BLOCK + 1],
            values: [0; BLOCK + 1],
            hits: [0; BLOCK],
            hashes: [0; BLOCK],
            len: 0,
            consumed: 0,
        }
    }

    /// Adds a piece; returns whether the block is full.
    #[inline(always)]
    fn push(&mut self, seg: &[u8], (a, b): (usize, usize)) -> bool {
        let at = self.len;
        let key = joined::piece_key(seg, a, b);
        self.keys[at] = key;
        self.lengths[at] = (b - a).min(joined::LONGEST) as u32;
        self.ranges[at] = (a, b);
        self.len = at + 1;
        self.len == BLOCK + 1
    }
}

impl MultiWord {
    /// Encodes one run of text (between special tokens): n-grams greedily,
    /// longest order first, left to right, the other pieces by the base.
    pub(super) fn encode_segment_blocks(
        &self,
        base: &Tokenizer,
        segment: &str,
        out: &mut Vec<u32>,
    ) -> Result<(), TokenizeError> {
        let text = base.prefixed(segment);
        let seg = text.as_bytes();
        let bpe = base.bpe();
        let Some(&longest) = self.orders.first() else {
            // No n-grams: the base's encoding.
            return base.split_pieces(&text, &mut |a, b| bpe.encode_piece_in(seg, (a, b), out));
        };
        let mut block = Block::new();
        // A full block writes all but the pieces an n-gram starting in it
        // may still reach.
        let emit = BLOCK + 2 - longest;
        // With orders other than 2: the hash of the window of `k` pieces
        // from each piece (`windows[k]`).
        let mut windows =
            vec![[0u64; BLOCK + 1]; if self.orders == [2] { 0 } else { MAX_ORDER + 1 }];
        if windows.is_empty() {
            // Bigrams only (the default): the block size known here.
            base.split_pieces(&text, &mut |a, b| {
                if block.push(seg, (a, b)) {
                    self.encode_block(bpe, seg, &mut block, &mut [], BLOCK, out);
                }
            })?;
        } else {
            base.split_pieces(&text, &mut |a, b| {
                if block.push(seg, (a, b)) {
                    self.encode_block(bpe, seg, &mut block, &mut windows, emit, out);
                }
            })?;
        }
        let len = block.len;
        self.encode_block(bpe, seg, &mut block, &mut windows, len, out);
        Ok(())
    }

    /// Writes the ids of the block's first `emit` pieces (all of them, or
    /// all but the last few, which then start the next block).
    #[inline(always)]
    fn encode_block(
        &self,
        bpe: &Bpe,
        seg: &[u8],
        block: &mut Block,
        windows: &mut [[u64; BLOCK + 1]],
        emit: usize,
        out: &mut Vec<u32>,
    ) {
        let (taken, skipped, next) = if windows.is_empty() {
            self.bigrams_taken(seg, block)
        } else {
            self.ngrams_taken(seg, block, windows, emit)
        };
        write_block(bpe, seg, block, (taken, skipped), emit, out);
        let n = block.len;
        if emit < n {
            // The last pieces start the next block.
            for (to, from) in (emit..n).enumerate() {
                block.keys[to] = block.keys[from];
                block.lengths[to] = block.lengths[from];
                block.ranges[to] = block.ranges[from];
            }
            block.consumed = next.saturating_sub(emit);
            block.len = n - emit;
        } else {
            block.len = 0;
            block.consumed = 0;
        }
    }

    /// The bigrams greedy merging takes (bit `i`: one starts at piece `i`;
    /// their ids go to `block.hits`), the pieces they and the previous
    /// block's last n-gram cover other than those starts, and the first
    /// piece after the last one.
    #[inline(always)]
    fn bigrams_taken(&self, seg: &[u8], block: &mut Block) -> (u64, u64, usize) {
        let pairs = block.len.saturating_sub(1);
        let bigrams = &self.joined;
        let consumed = block_simd::low_bits(block.consumed);
        let mut todo = block_simd::candidates(
            &block.keys,
            &block.lengths,
            pairs,
            bigrams.filter(),
            &mut block.hashes,
        ) & !consumed;
        let mut taken = 0u64;
        let mut ahead = todo;
        while ahead != 0 {
            bigrams.prefetch(block.hashes[ahead.trailing_zeros() as usize]);
            ahead &= ahead - 1;
        }
        // In greedy order: a bigram taken at `i` rules out the one at
        // `i + 1`, which is then not probed.
        while todo != 0 {
            let i = todo.trailing_zeros() as usize;
            todo &= todo - 1;
            let ((a, b), (_, d)) = (block.ranges[i], block.ranges[i + 1]);
            let keys = (block.keys[i], block.keys[i + 1]);
            let lengths = joined::lengths(b - a, d - b);
            if let Some(hit) = bigrams.find(seg, (a, d), keys, lengths, block.hashes[i]) {
                block.hits[i] = hit;
                taken |= 1 << i;
                todo &= !(2u64 << i);
            }
        }
        let next = if taken == 0 {
            0
        } else {
            64 - taken.leading_zeros() as usize + 1
        };
        (taken, (taken << 1) | consumed, next)
    }

    /// The n-grams greedy merging takes among the first `emit` pieces
    /// (longest order first, left to right), as [`Self::bigrams_taken`].
    fn ngrams_taken(
        &self,
        seg: &[u8],
        block: &mut Block,
        windows: &mut [[u64; BLOCK + 1]],
        emit: usize,
    ) -> (u64, u64, usize) {
        let n = block.len;
        let starts = emit.min(n);
        // Bit `i` of `candidates[k]`: pieces `i..i + k` pass the filter of
        // n-grams of `k` words.
        let mut candidates = [0u64; MAX_ORDER + 1];
        if self.orders.contains(&2) {
            candidates[2] = block_simd::candidates(
                &block.keys,
                &block.lengths,
                n.saturating_sub(1),
                self.joined.filter(),
                &mut block.hashes,
            );
        }
        let longest = self.orders[0];
        if longest >= 3 {
            // The hash of the window of `k` pieces from each piece, for k
            // = 2, 3, ... in turn; kept for the orders present.
            let mut hashes = [0u64; BLOCK + 1];
            for i in 0..n {
                hashes[i] = longer::start(block.keys[i], block.lengths[i]);
            }
            for k in 2..=longest.min(n) {
                for i in 0..=n - k {
                    hashes[i] =
                        longer::extend(hashes[i], block.keys[i + k - 1], block.lengths[i + k - 1]);
                }
                if k >= 3 && self.orders.contains(&k) {
                    windows[k][..=n - k].copy_from_slice(&hashes[..=n - k]);
                    for (i, &h) in hashes[..=n - k].iter().enumerate().take(starts) {
                        candidates[k] |= u64::from(self.longer.may_hold(h)) << i;
                    }
                }
            }
        }
        // The greedy choice, probing candidates as it reaches them: most
        // are bigrams, and a longer n-gram at a piece spares the probes of
        // the pieces it covers (probing every candidate first, each probe
        // independent, measured 6-10 points slower with trigrams).
        let consumed = block_simd::low_bits(block.consumed);
        let mut todo =
            candidates.iter().fold(0, |all, &m| all | m) & block_simd::low_bits(starts) & !consumed;
        let (mut taken, mut skipped, mut next) = (0u64, consumed, block.consumed);
        for &k in &self.orders {
            let mut ahead = candidates[k] & todo;
            while ahead != 0 {
                let i = ahead.trailing_zeros() as usize;
                if k == 2 {
                    self.joined.prefetch(block.hashes[i]);
                } else {
                    self.longer.prefetch(windows[k][i]);
                }
                ahead &= ahead - 1;
            }
        }
        while todo != 0 {
            let i = todo.trailing_zeros() as usize;
            todo &= todo - 1;
            if i < next {
                continue;
            }
            for &k in &self.orders {
                if candidates[k] >> i & 1 == 0 || i + k > n {
                    continue;
                }
                let hit = if k == 2 {
                    let ((a, b), (_, d)) = (block.ranges[i], block.ranges[i + 1]);
                    let keys = (block.keys[i], block.keys[i + 1]);
                    self.joined.find(
                        seg,
                        (a, d),
                        keys,
                        joined::lengths(b - a, d - b),
                        block.hashes[i],
                    )
                } else {
                    self.longer
                        .find(seg, &block.ranges[i..i + k], windows[k][i])
                };
                if let Some(id) = hit {
                    block.hits[i] = id;
                    taken |= 1 << i;
                    skipped |= block_simd::low_bits((i + k).min(64)) & !block_simd::low_bits(i + 1);
                    next = i + k;
                    break;
                }
            }
        }
        (taken, skipped, next)
    }
}

/// Writes the ids of the block's first `emit` pieces: the taken n-grams'
/// ids, and the other pieces (not `skipped`) looked up in the base's
/// table, with the pieces the base must merge merged in order between runs
/// of single ids.
#[inline(always)]
fn write_block(
    bpe: &Bpe,
    seg: &[u8],
    block: &mut Block,
    (taken, skipped): (u64, u64),
    emit: usize,
    out: &mut Vec<u32>,
) {
    let single = !taken & !skipped & block_simd::low_bits(emit);
    let mut not_whole = 0u64;
    let mut todo = single;
    while todo != 0 {
        let i = todo.trailing_zeros() as usize;
        let (a, b) = block.ranges[i];
        let v = bpe
            .whole_piece_in(seg, (a, b), block.keys[i])
            .unwrap_or(NOT_WHOLE);
        block.values[i] = v;
        not_whole |= u64::from(v == NOT_WHOLE) << i;
        todo &= todo - 1;
    }
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
}
