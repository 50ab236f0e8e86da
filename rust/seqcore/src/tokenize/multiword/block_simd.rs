//! The two per-block passes of multi-word encoding ([`super::blocks`]) that
//! touch every piece: testing each pair against the bigram filter (8 pairs
//! a step: the hashes in vector registers, the filter read with one
//! gather) and writing the ids (16 pieces a step: one load, one masked
//! load of the bigram ids, one compress). With AVX-512 where the processor
//! has it; else the writes take 8 pieces a step with AVX2 (a blend and a
//! permutation from a table, as AVX2 has no compress) and the filter test
//! is a plain loop (AVX2 versions of it, with a gather or without, measured
//! no faster on Zen 1). All forms give the same bits.

use super::{hashed, joined};

/// Pieces (and pairs) per block.
pub(super) const BLOCK: usize = 64;
/// Words of the bigram filter.
const FILTER_WORDS: usize = (1 << hashed::FILTER_BITS) / 64;

/// Bit `i`: pieces `i` and `i + 1` pass the bigram filter, for the first
/// `pairs` pairs; each pair's [`joined::pair_hash`] goes to `hashes` (the
/// probes reuse it). `keys` and `lengths` ([`joined::piece_key`], lengths
/// up to [`joined::LONGEST`]) are read in full; entries past the block's
/// pieces only make bits that are cleared.
pub(super) fn candidates(
    keys: &[u64; BLOCK + 1],
    lengths: &[u32; BLOCK + 1],
    pairs: usize,
    filter: &[u64],
    hashes: &mut [u64; BLOCK],
) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512() && std::arch::is_x86_feature_detected!("avx512dq") {
        // SAFETY: the processor supports the features just detected.
        return unsafe { avx512::candidates(keys, lengths, filter, hashes) } & low_bits(pairs);
    }
    candidates_plain(keys, lengths, filter, hashes) & low_bits(pairs)
}

fn candidates_plain(
    keys: &[u64; BLOCK + 1],
    lengths: &[u32; BLOCK + 1],
    filter: &[u64],
    hashes: &mut [u64; BLOCK],
) -> u64 {
    // Every filter word index is below this, so no load is bounds-checked.
    let filter: &[u64; FILTER_WORDS] = filter[..FILTER_WORDS].try_into().expect("filter size");
    let mut mask = 0u64;
    for i in 0..BLOCK {
        let hash = joined::pair_hash(keys[i], keys[i + 1], lengths[i] << 16 | lengths[i + 1]);
        hashes[i] = hash;
        let bit = hashed::filter_bit(hash);
        mask |= (filter[bit / 64] >> (bit % 64) & 1) << i;
    }
    mask
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
/// `hits[i]` if its bit is set in `taken`, else `values[i]`.
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
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2() {
        // SAFETY: the processor supports the features just detected.
        return unsafe { avx2::emit(values, hits, taken, keep, out) };
    }
    emit_plain(values, hits, taken, keep, (start, end), out);
}

/// [`emit`] without vector instructions, for `keep` already cut to
/// `start..end`: every piece's value is stored and the write position
/// moves on by its `keep` bit, so there is no branch per piece to
/// mispredict (a filtered `extend` was a third of the multi-word
/// overhead on a processor without AVX-512).
fn emit_plain(
    values: &[u32; BLOCK + 1],
    hits: &[u32; BLOCK],
    taken: u64,
    keep: u64,
    (start, end): (usize, usize),
    out: &mut Vec<u32>,
) {
    let start = start.max(keep.trailing_zeros() as usize);
    let end = end.min(64 - keep.leading_zeros() as usize);
    out.reserve(end - start);
    let len = out.len();
    let mut written = 0;
    let spare = out.spare_capacity_mut();
    for i in start..end {
        let value = if taken >> i & 1 != 0 {
            hits[i]
        } else {
            values[i]
        };
        // `written <= i - start`, inside the `end - start` reserved.
        spare[written].write(value);
        written += (keep >> i & 1) as usize;
    }
    // SAFETY: the first `written` slots past `len` were written above.
    unsafe { out.set_len(len + written) };
}

/// The frame of the vector forms of [`emit`]: for each step of `W` pieces
/// that keeps one, `pack(j, to)` stores `W` lanes at `to`, the kept pieces
/// of `j..j + W` first, in order; the others are overwritten by the next
/// step or left past the length.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn emit_steps<const W: usize>(
    keep: u64,
    out: &mut Vec<u32>,
    mut pack: impl FnMut(usize, *mut u32),
) {
    let n = keep.count_ones() as usize;
    out.reserve(n + W);
    let len = out.len();
    let mut written = 0;
    let first = keep.trailing_zeros() as usize / W * W;
    let last = (63 - keep.leading_zeros() as usize) / W * W;
    for j in (first..=last).step_by(W) {
        // SAFETY: `written` counts the kept pieces so far, so `written +
        // W <= n + W` slots past `len` are reserved.
        pack(j, unsafe { out.as_mut_ptr().add(len + written) });
        written += (keep >> j & ((1 << W) - 1)).count_ones() as usize;
    }
    // SAFETY: the first `written` slots past `len` were stored by `pack`.
    unsafe { out.set_len(len + written) };
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{hashed, joined, BLOCK};

    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2")]
    pub(super) fn candidates(
        keys: &[u64; BLOCK + 1],
        lengths: &[u32; BLOCK + 1],
        filter: &[u64],
        hashes: &mut [u64; BLOCK],
    ) -> u64 {
        assert!(filter.len() << 6 >= 1 << hashed::FILTER_BITS);
        let mix = _mm512_set1_epi64(joined::PAIR_MIX as i64);
        let mut mask = 0u64;
        for j in (0..BLOCK).step_by(8) {
            // SAFETY: lanes j..j + 9 are inside the BLOCK + 1 entries.
            let (k1, k2, l1, l2) = unsafe {
                (
                    _mm512_loadu_si512(keys.as_ptr().add(j).cast()),
                    _mm512_loadu_si512(keys.as_ptr().add(j + 1).cast()),
                    _mm512_cvtepu32_epi64(_mm256_loadu_si256(lengths.as_ptr().add(j).cast())),
                    _mm512_cvtepu32_epi64(_mm256_loadu_si256(lengths.as_ptr().add(j + 1).cast())),
                )
            };
            let both = _mm512_or_si512(_mm512_slli_epi64::<16>(l1), l2);
            let rotated = _mm512_rol_epi64::<{ joined::PAIR_ROTATE as i32 }>(k1);
            let hash =
                _mm512_mullo_epi64(_mm512_xor_si512(_mm512_xor_si512(rotated, k2), both), mix);
            // SAFETY: lanes j..j + 8 are inside the BLOCK hashes.
            unsafe { _mm512_storeu_si512(hashes.as_mut_ptr().add(j).cast(), hash) };
            let bit = _mm512_srli_epi64::<{ 64 - hashed::FILTER_BITS }>(hash);
            // SAFETY: every word index is below 2^FILTER_BITS / 64, inside
            // `filter` (asserted above).
            let word = unsafe {
                _mm512_i64gather_epi64::<8>(_mm512_srli_epi64::<6>(bit), filter.as_ptr().cast())
            };
            let shifted = _mm512_srlv_epi64(word, _mm512_and_si512(bit, _mm512_set1_epi64(63)));
            let passes = _mm512_test_epi64_mask(shifted, _mm512_set1_epi64(1));
            mask |= u64::from(passes) << j;
        }
        mask
    }

    #[target_feature(enable = "avx512f,avx512vl,avx2,popcnt")]
    pub(super) fn emit(
        values: &[u32; BLOCK + 1],
        hits: &[u32; BLOCK],
        taken: u64,
        keep: u64,
        out: &mut Vec<u32>,
    ) {
        super::emit_steps::<16>(keep, out, |j, to| {
            let lanes = (keep >> j) as u16;
            // SAFETY: lanes j..j + 16 are inside both arrays, and `to` has
            // room for 16 (`emit_steps`).
            unsafe {
                let v = _mm512_loadu_si512(values.as_ptr().add(j).cast());
                let v =
                    _mm512_mask_loadu_epi32(v, (taken >> j) as u16, hits.as_ptr().add(j).cast());
                let packed = _mm512_maskz_compress_epi32(lanes, v);
                _mm512_storeu_si512(to.cast(), packed);
            }
        });
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::BLOCK;

    /// For each byte `m`, the positions of its set bits, packed into the
    /// low bytes (the lane order of a compress of 8 lanes by `m`).
    const PACKED_LANES: [u64; 256] = {
        let mut table = [0u64; 256];
        let mut m = 0;
        while m < 256 {
            let (mut packed, mut at, mut lane) = (0u64, 0, 0);
            while lane < 8 {
                if m >> lane & 1 != 0 {
                    packed |= (lane as u64) << (8 * at);
                    at += 1;
                }
                lane += 1;
            }
            table[m] = packed;
            m += 1;
        }
        table
    };

    /// [`super::emit`] 8 pieces a step: a blend picks each piece's value,
    /// a permutation from [`PACKED_LANES`] packs the kept ones (AVX2 has
    /// no compress instruction).
    #[target_feature(enable = "avx2,popcnt")]
    pub(super) fn emit(
        values: &[u32; BLOCK + 1],
        hits: &[u32; BLOCK],
        taken: u64,
        keep: u64,
        out: &mut Vec<u32>,
    ) {
        let bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
        super::emit_steps::<8>(keep, out, |j, to| {
            let lanes = (keep >> j) as u8;
            let from_hits = _mm256_set1_epi32(i32::from((taken >> j) as u8));
            let from_hits = _mm256_cmpeq_epi32(_mm256_and_si256(from_hits, bits), bits);
            let order =
                _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(PACKED_LANES[lanes as usize] as i64));
            // SAFETY: lanes j..j + 8 are inside both arrays, and `to` has
            // room for 8 (`emit_steps`).
            unsafe {
                let v = _mm256_loadu_si256(values.as_ptr().add(j).cast());
                let h = _mm256_loadu_si256(hits.as_ptr().add(j).cast());
                let v = _mm256_blendv_epi8(v, h, from_hits);
                let packed = _mm256_permutevar8x32_epi32(v, order);
                _mm256_storeu_si256(to.cast(), packed);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A xorshift generator.
    fn random(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    #[test]
    fn vector_and_plain_filters_agree() {
        let mut next = random(0x2545_F491_4F6C_DD1D);
        let filter: Vec<u64> = (0..(1 << hashed::FILTER_BITS) / 64)
            .map(|_| next())
            .collect();
        for _ in 0..2000 {
            let keys: [u64; BLOCK + 1] = std::array::from_fn(|_| next());
            let lengths: [u32; BLOCK + 1] =
                std::array::from_fn(|_| (next() % (joined::LONGEST as u64 + 1)) as u32);
            let pairs = (next() % 65) as usize;
            let (mut plain, mut fast) = ([0; BLOCK], [0; BLOCK]);
            let want = candidates_plain(&keys, &lengths, &filter, &mut plain) & low_bits(pairs);
            assert_eq!(candidates(&keys, &lengths, pairs, &filter, &mut fast), want);
            assert_eq!(fast, plain);
            assert_eq!(
                plain[5],
                joined::pair_hash(keys[5], keys[6], lengths[5] << 16 | lengths[6])
            );
        }
    }

    /// An `emit` form, given `keep` already cut to `start..end` and not
    /// empty, as [`emit`] passes it on.
    type EmitForm = fn(&[u32; BLOCK + 1], &[u32; BLOCK], u64, u64, (usize, usize), &mut Vec<u32>);

    /// Every form of [`emit`] this processor can run.
    fn emit_forms() -> Vec<(&'static str, EmitForm)> {
        let mut forms: Vec<(&'static str, EmitForm)> = vec![("plain", emit_plain)];
        #[cfg(target_arch = "x86_64")]
        {
            if crate::simd::has_avx2() {
                // SAFETY: the processor supports the features just detected.
                forms.push(("avx2", |v, h, t, k, _, o| unsafe {
                    avx2::emit(v, h, t, k, o)
                }));
            }
            if crate::simd::has_avx512() {
                // SAFETY: as above.
                forms.push(("avx512", |v, h, t, k, _, o| unsafe {
                    avx512::emit(v, h, t, k, o)
                }));
            }
        }
        forms
    }

    #[test]
    fn every_form_of_the_writes_agrees_with_the_rule() {
        let mut next = random(0x9E37_79B9_7F4A_7C15);
        let mut cases: Vec<(u64, u64, usize, usize)> = vec![
            (0, u64::MAX, 0, 64),
            (u64::MAX, u64::MAX, 0, 64),
            (0x5555_5555_5555_5555, u64::MAX, 0, 64),
            (0, 1 << 63, 0, 64),
            (0, 1, 0, 1),
            (0, u64::MAX, 63, 64),
            (0, u64::MAX, 7, 9),
        ];
        for _ in 0..2000 {
            let start = (next() % 65) as usize;
            let end = start + (next() as usize % (65 - start));
            cases.push((next(), next(), start, end));
        }
        let forms = emit_forms();
        for (taken, keep, start, end) in cases {
            let values: [u32; BLOCK + 1] = std::array::from_fn(|_| next() as u32);
            let hits: [u32; BLOCK] = std::array::from_fn(|_| next() as u32);
            let want: Vec<u32> = std::iter::once(7)
                .chain((start..end).filter(|&i| keep >> i & 1 != 0).map(|i| {
                    if taken >> i & 1 != 0 {
                        hits[i]
                    } else {
                        values[i]
                    }
                }))
                .collect();
            let mut got = vec![7];
            emit(&values, &hits, taken, keep, (start, end), &mut got);
            assert_eq!(got, want);
            let cut = keep & low_bits(end) & !low_bits(start);
            if cut == 0 {
                continue;
            }
            for (name, form) in &forms {
                let mut got = vec![7];
                form(&values, &hits, taken, cut, (start, end), &mut got);
                assert_eq!(got, want, "{name}");
            }
        }
    }
}
