//! The table of bigrams whose two words are each one base token, keyed by
//! the two ids, for the general n-gram path ([`super::encode`]).
//!
//! A probe does not branch on the data, and the table stays small: it
//! shares the caches with the base's own tables, the text and the output.
//! Keys live
//! in buckets of four, one cache line each, 40-80% full; a probe compares
//! the four keys at once and moves on to the next bucket only when the
//! home bucket is full without the key (rare, so well predicted). 5,000
//! bigrams take 128 KiB (at half the load, encoding was ~6% slower when
//! run alone; a denser 8-byte entry cost more in the probe than it saved).

/// Size in bits of the filter over id pairs ([`filter_bit`]; 16 KiB, in
/// the first-level cache; 5,000 bigrams set under 4% of it).
pub(super) const FILTER_BITS: u32 = 17;

/// The filter bit of a pair of ids.
#[inline(always)]
pub(super) fn filter_bit(first: u32, second: u32) -> usize {
    (first.wrapping_mul(0x9E37_79B1) ^ second.wrapping_mul(0x85EB_CA77)) as usize
        >> (32 - FILTER_BITS)
}

/// Empty slot marker (no real id: ids are below 2^24).
const EMPTY: u32 = u32::MAX;
/// What a probe returns when the bigram is absent.
pub(super) const ABSENT: u32 = u32::MAX;
/// Slots per bucket.
const WAYS: usize = 4;

/// Four keys and their bigram ids in one cache line.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Bucket {
    /// First ids of the keys, or [`EMPTY`].
    firsts: [u32; WAYS],
    /// Second ids of the keys.
    seconds: [u32; WAYS],
    /// The ids of the four keys, then [`ABSENT`] four times: the answer
    /// when no way matches, so that the probe needs no branch.
    ids: [u32; 2 * WAYS],
}

impl Bucket {
    /// The id stored for `(first, second)` (or [`ABSENT`]), and whether a
    /// way is empty.
    #[inline(always)]
    fn probe(&self, first: u32, second: u32) -> (u32, bool) {
        let (hits, empty) = self.compare(first, second);
        // The matching way, or WAYS (an ABSENT slot) when none matches:
        // an index, not a branch, since which way matches is random.
        let way = (hits | 1 << WAYS).trailing_zeros() as usize;
        (self.ids[way], empty != 0)
    }

    /// Bit masks of the ways holding the key and of the empty ways: all
    /// four at once, with SSE2 (every x86-64 has it).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn compare(&self, first: u32, second: u32) -> (u32, u32) {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of x86-64; the loads read 16 bytes from
        // 16-byte-aligned arrays of four u32 (the bucket is 64-aligned).
        unsafe {
            let firsts = _mm_load_si128(self.firsts.as_ptr().cast());
            let seconds = _mm_load_si128(self.seconds.as_ptr().cast());
            let same = _mm_and_si128(
                _mm_cmpeq_epi32(firsts, _mm_set1_epi32(first as i32)),
                _mm_cmpeq_epi32(seconds, _mm_set1_epi32(second as i32)),
            );
            let empty = _mm_cmpeq_epi32(firsts, _mm_set1_epi32(EMPTY as i32));
            (
                _mm_movemask_ps(_mm_castsi128_ps(same)) as u32,
                _mm_movemask_ps(_mm_castsi128_ps(empty)) as u32,
            )
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    #[inline(always)]
    fn compare(&self, first: u32, second: u32) -> (u32, u32) {
        let (mut hits, mut empty) = (0, 0);
        for way in 0..WAYS {
            let same = self.firsts[way] == first && self.seconds[way] == second;
            hits |= u32::from(same) << way;
            empty |= u32::from(self.firsts[way] == EMPTY) << way;
        }
        (hits, empty)
    }
}

const EMPTY_BUCKET: Bucket = Bucket {
    firsts: [EMPTY; WAYS],
    seconds: [EMPTY; WAYS],
    ids: [ABSENT; 2 * WAYS],
};

#[derive(Debug, Clone)]
pub(super) struct IdPairs {
    buckets: Vec<Bucket>,
    /// `64 - log2(buckets.len())`.
    shift: u32,
}

#[inline]
fn key(first: u32, second: u32) -> u64 {
    (u64::from(first) << 32) | u64::from(second)
}

impl IdPairs {
    /// A table holding `entries` (`(first, second, bigram id)`).
    pub(super) fn new(entries: &[(u32, u32, u32)]) -> Self {
        Self::with_buckets(
            entries,
            (entries.len() * 5 / 4 / WAYS + 1)
                .next_power_of_two()
                .max(4),
        )
    }

    /// `len` (a power of two) buckets holding `entries`; at least one way
    /// stays empty, so every probe ends.
    fn with_buckets(entries: &[(u32, u32, u32)], len: usize) -> Self {
        assert!(len.is_power_of_two() && entries.len() < len * WAYS);
        let mut table = IdPairs {
            buckets: vec![EMPTY_BUCKET; len],
            shift: 64 - len.trailing_zeros(),
        };
        for &(first, second, id) in entries {
            let k = key(first, second);
            let mut at = table.home(k);
            loop {
                let bucket = &mut table.buckets[at];
                let free = |w: &usize| {
                    bucket.firsts[*w] == EMPTY
                        || (bucket.firsts[*w], bucket.seconds[*w]) == (first, second)
                };
                if let Some(way) = (0..WAYS).find(free) {
                    bucket.firsts[way] = first;
                    bucket.seconds[way] = second;
                    bucket.ids[way] = id;
                    break;
                }
                at = (at + 1) & (len - 1);
            }
        }
        table
    }

    #[inline]
    fn home(&self, k: u64) -> usize {
        (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// The bigram token of `first` followed by `second`, or [`ABSENT`].
    /// A `first` that is no id (e.g. [`ABSENT`]) finds nothing.
    #[inline(always)]
    pub(super) fn find(&self, first: u32, second: u32) -> u32 {
        let k = key(first, second);
        let mask = self.buckets.len() - 1;
        let mut at = self.home(k);
        loop {
            let (found, open) = self.buckets[at].probe(first, second);
            // Keys fill a bucket's ways in order and are never removed, so
            // a bucket with an empty way ends the probe.
            if found != ABSENT || open {
                return found;
            }
            at = (at + 1) & mask;
        }
    }

    /// The bigram token of `first` followed by `second`, if there is one.
    #[inline]
    pub(super) fn get(&self, first: u32, second: u32) -> Option<u32> {
        Some(self.find(first, second)).filter(|&id| id != ABSENT)
    }
}

#[cfg(test)]
mod tests {
    use super::IdPairs;

    #[test]
    fn finds_every_entry_and_nothing_else() {
        let entries: Vec<(u32, u32, u32)> = (0..3000u32)
            .map(|i| (i % 97, i / 97 * 7 + 1, 100_000 + i))
            .collect();
        let table = IdPairs::new(&entries);
        for &(a, b, id) in &entries {
            assert_eq!(table.get(a, b), Some(id));
        }
        assert_eq!(table.get(5, 0), None);
        assert_eq!(table.get(1000, 1), None);
        assert_eq!(IdPairs::new(&[]).get(0, 0), None);
        assert_eq!(table.find(super::ABSENT, 1), super::ABSENT);
    }

    #[test]
    fn full_buckets_overflow_into_the_next() {
        // 7 entries in 2 buckets of 4: one bucket must overflow.
        let entries: Vec<(u32, u32, u32)> = (0..7u32).map(|i| (i, i * 3, 7 + i)).collect();
        let table = IdPairs::with_buckets(&entries, 2);
        for &(a, b, id) in &entries {
            assert_eq!(table.get(a, b), Some(id));
            assert_eq!(table.get(b + 1000, a), None);
        }
    }
}
