//! Writing a block's ids for bigram encoding ([`super::bigrams`]): with
//! AVX-512 where the processor has it (16 pieces a step: one load, one
//! masked load of the bigram ids, one compress), a plain loop otherwise.
//! Both write the same ids.

/// Pieces (and pairs) per block.
pub(super) const BLOCK: usize = 64;

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
    out.extend((start..end).filter(|&i| keep >> i & 1 != 0).map(|i| {
        if taken >> i & 1 != 0 {
            hits[i]
        } else {
            values[i]
        }
    }));
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::BLOCK;

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
                let v = _mm512_loadu_si512(values.as_ptr().add(j).cast());
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
    fn vector_and_plain_writes_agree() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2000 {
            let values: [u32; BLOCK + 1] = std::array::from_fn(|_| next() as u32);
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
                        values[i]
                    }
                }))
                .collect();
            assert_eq!(fast, want);
        }
    }
}
