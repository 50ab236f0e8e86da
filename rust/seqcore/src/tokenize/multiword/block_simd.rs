//! The two per-piece passes of bigram encoding ([`super::bigrams`]) over
//! a block of 64 pieces, with AVX-512 where the processor has it and a
//! plain loop otherwise. Both give the same bits.
//!
//! With AVX-512, 16 pieces take one step: the flags are tested in vector
//! registers, the bit filter is read with one gather, and the ids to write
//! are packed together with one compress. The plain loops cost ~50
//! instructions per piece, as much as a third of base encoding.

use super::{NOT_WHOLE, STARTS_BY_BYTES, STARTS_BY_IDS, WORD};

/// Pieces (and pairs) per block.
pub(super) const BLOCK: usize = 64;
/// Bits of a lookup value that hold the id (flags are the top byte).
pub(super) const ID: u32 = 0xFF_FFFF;
/// Filter size in bits (16 KiB: stays in the first-level cache; 5,000
/// bigrams set under 4% of it).
pub(super) const FILTER_BITS: u32 = 17;

/// Size of the byte-keyed bigram filter, in bits (4 KiB).
pub(super) const BYTE_FILTER_BITS: u32 = 15;

/// The byte-keyed filter bit of two adjacent pieces (not empty): from
/// each one's length and first and last bytes.
#[inline(always)]
pub(super) fn byte_pair_bit(first: &[u8], second: &[u8]) -> usize {
    let signature =
        |w: &[u8]| (w.len() as u32) << 16 | u32::from(w[0]) << 8 | u32::from(w[w.len() - 1]);
    (signature(first).wrapping_mul(0x9E37_79B1) ^ signature(second).wrapping_mul(0x85EB_CA77))
        as usize
        >> (32 - BYTE_FILTER_BITS)
}

/// The filter bit of a pair of ids (below 2^24).
#[inline(always)]
pub(super) fn filter_bit(first: u32, second: u32) -> usize {
    (first.wrapping_mul(0x9E37_79B1) ^ second.wrapping_mul(0x85EB_CA77)) as usize
        >> (32 - FILTER_BITS)
}

/// What the block's lookup values say about its pairs and pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Masks {
    /// Bit `i`: pieces `i` and `i + 1` are one token each, a first word
    /// then a word, and pass the filter.
    pub by_ids: u64,
    /// Bit `i`: piece `i` starts a byte-keyed bigram and one of the two
    /// pieces is not one token.
    pub by_bytes: u64,
    /// Bit `i`: piece `i` is not one token.
    pub not_whole: u64,
}

/// The masks for the first `pieces` pieces of `values` (lookup values;
/// `values[pieces..]` are ignored, but must be readable).
pub(super) fn masks(values: &[u32; BLOCK + 1], pieces: usize, filter: &[u32]) -> Masks {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512() {
        // SAFETY: the processor supports the features just detected.
        return unsafe { avx512::masks(values, pieces, filter) };
    }
    masks_plain(values, pieces, filter)
}

fn masks_plain(values: &[u32; BLOCK + 1], pieces: usize, filter: &[u32]) -> Masks {
    let mut m = Masks {
        by_ids: 0,
        by_bytes: 0,
        not_whole: 0,
    };
    for i in 0..pieces.min(BLOCK) {
        let (v, w) = (values[i], values[i + 1]);
        let (f, g) = ((v >> 24) as u8, (w >> 24) as u8);
        let whole = (f | g) & NOT_WHOLE == 0;
        let words = (f & STARTS_BY_IDS != 0) & (g & WORD != 0) & whole;
        let bit = filter_bit(v & ID, w & ID);
        let passes = filter[bit / 32] >> (bit % 32) & 1 != 0;
        m.by_ids |= u64::from(words & passes) << i;
        m.by_bytes |= u64::from((f & STARTS_BY_BYTES != 0) & !whole) << i;
        m.not_whole |= u64::from(f & NOT_WHOLE != 0) << i;
    }
    // The last piece has no pair in this block.
    let pairs = low_bits(pieces.saturating_sub(1));
    m.by_ids &= pairs;
    m.by_bytes &= pairs;
    m
}

/// Bits `0..n` set (`n <= 64`).
#[inline(always)]
pub(super) fn low_bits(n: usize) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1 << n) - 1
    }
}

/// Appends, for each piece `i` in `start..end` whose bit is set in `keep`,
/// `hits[i]` if its bit is set in `taken`, else its id.
pub(super) fn emit(
    values: &[u32; BLOCK + 1],
    hits: &[u32; BLOCK],
    taken: u64,
    keep: u64,
    (start, end): (usize, usize),
    out: &mut Vec<u32>,
) {
    let keep = keep & low_bits(end) & !low_bits(start);
    if keep == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512() {
        // SAFETY: the processor supports the features just detected.
        return unsafe { avx512::emit(values, hits, taken, keep, out) };
    }
    out.extend((start..end).filter(|&i| keep >> i & 1 != 0).map(|i| {
        if taken >> i & 1 != 0 {
            hits[i]
        } else {
            values[i] & ID
        }
    }));
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Masks, BLOCK, FILTER_BITS, ID, NOT_WHOLE, STARTS_BY_BYTES, STARTS_BY_IDS, WORD};

    #[target_feature(enable = "avx512f,avx512vl,avx2,popcnt")]
    pub(super) fn masks(values: &[u32; BLOCK + 1], pieces: usize, filter: &[u32]) -> Masks {
        assert!(filter.len() << 5 >= 1 << FILTER_BITS);
        let ids = _mm512_set1_epi32(ID as i32);
        let flag = |f: u8| _mm512_set1_epi32(i32::from(f));
        let mut m = Masks {
            by_ids: 0,
            by_bytes: 0,
            not_whole: 0,
        };
        for j in (0..BLOCK).step_by(16) {
            // SAFETY: lanes j..j + 17 are inside the BLOCK + 1 values.
            let (v, w) = unsafe {
                (
                    _mm512_loadu_si512(values.as_ptr().add(j).cast()),
                    _mm512_loadu_si512(values.as_ptr().add(j + 1).cast()),
                )
            };
            let f = _mm512_srli_epi32::<24>(v);
            let g = _mm512_srli_epi32::<24>(w);
            let whole = _mm512_testn_epi32_mask(_mm512_or_si512(f, g), flag(NOT_WHOLE));
            let words = _mm512_test_epi32_mask(f, flag(STARTS_BY_IDS))
                & _mm512_test_epi32_mask(g, flag(WORD))
                & whole;
            let hash = _mm512_xor_si512(
                _mm512_mullo_epi32(
                    _mm512_and_si512(v, ids),
                    _mm512_set1_epi32(0x9E37_79B1_u32 as i32),
                ),
                _mm512_mullo_epi32(
                    _mm512_and_si512(w, ids),
                    _mm512_set1_epi32(0x85EB_CA77_u32 as i32),
                ),
            );
            let bit = _mm512_srli_epi32::<{ 32 - FILTER_BITS }>(hash);
            // SAFETY: every word index is below 2^FILTER_BITS / 32, inside
            // `filter` (asserted above); lanes outside `words` are not read.
            let word = unsafe {
                _mm512_mask_i32gather_epi32::<4>(
                    _mm512_setzero_si512(),
                    words,
                    _mm512_srli_epi32::<5>(bit),
                    filter.as_ptr().cast(),
                )
            };
            let shifted = _mm512_srlv_epi32(word, _mm512_and_si512(bit, _mm512_set1_epi32(31)));
            let passes = _mm512_mask_test_epi32_mask(words, shifted, _mm512_set1_epi32(1));
            let starts_bytes = _mm512_test_epi32_mask(f, flag(STARTS_BY_BYTES)) & !whole;
            let not_whole = _mm512_test_epi32_mask(f, flag(NOT_WHOLE));
            m.by_ids |= u64::from(passes) << j;
            m.by_bytes |= u64::from(starts_bytes) << j;
            m.not_whole |= u64::from(not_whole) << j;
        }
        let pairs = super::low_bits(pieces.saturating_sub(1));
        m.by_ids &= pairs;
        m.by_bytes &= pairs;
        m.not_whole &= super::low_bits(pieces);
        m
    }

    #[target_feature(enable = "avx512f,avx512vl,avx2,popcnt")]
    pub(super) fn emit(
        values: &[u32; BLOCK + 1],
        hits: &[u32; BLOCK],
        taken: u64,
        keep: u64,
        out: &mut Vec<u32>,
    ) {
        let n = keep.count_ones() as usize;
        // Each step stores 16 lanes, of which only the packed ones count.
        out.reserve(n + 16);
        let ids = _mm512_set1_epi32(ID as i32);
        let len = out.len();
        let mut written = 0;
        let first = keep.trailing_zeros() as usize / 16 * 16;
        let last = (63 - keep.leading_zeros() as usize) / 16 * 16;
        for j in (first..=last).step_by(16) {
            let lanes = (keep >> j) as u16;
            // SAFETY: lanes j..j + 16 are inside both arrays; the store
            // writes 16 lanes at `len + written`, with `written + 16 <=
            // n + 16` reserved slots (`written` counts kept lanes so far).
            unsafe {
                let v = _mm512_and_si512(_mm512_loadu_si512(values.as_ptr().add(j).cast()), ids);
                let v =
                    _mm512_mask_loadu_epi32(v, (taken >> j) as u16, hits.as_ptr().add(j).cast());
                let packed = _mm512_maskz_compress_epi32(lanes, v);
                _mm512_storeu_si512(out.as_mut_ptr().add(len + written).cast(), packed);
            }
            written += lanes.count_ones() as usize;
        }
        // SAFETY: the first `written` slots past `len` were stored above.
        unsafe { out.set_len(len + written) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_and_plain_masks_and_writes_agree() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let filter: Vec<u32> = (0..(1 << FILTER_BITS) / 32)
            .map(|_| next() as u32)
            .collect();
        for _ in 0..2000 {
            let mut values = [0u32; BLOCK + 1];
            for v in &mut values {
                *v = (next() as u32 & 0x0F00_0000) | (next() as u32 % 5000);
            }
            let pieces = (next() % 66) as usize;
            let plain = masks_plain(&values, pieces, &filter);
            assert_eq!(masks(&values, pieces, &filter), plain);
            let hits: [u32; BLOCK] = std::array::from_fn(|_| next() as u32);
            let (taken, keep) = (next(), next());
            let start = (next() % 65) as usize;
            let end = start + (next() as usize % (65 - start));
            let mut fast = vec![7];
            emit(&values, &hits, taken, keep, (start, end), &mut fast);
            let want: Vec<u32> = std::iter::once(7)
                .chain((start..end).filter(|&i| keep >> i & 1 != 0).map(|i| {
                    if taken >> i & 1 != 0 {
                        hits[i]
                    } else {
                        values[i] & ID
                    }
                }))
                .collect();
            assert_eq!(fast, want);
        }
    }
}
