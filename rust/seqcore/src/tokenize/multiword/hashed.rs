//! What the two n-gram tables ([`super::joined`], [`super::longer`])
//! share: a bit filter read from the top bits of an n-gram's hash, and
//! open-addressing slots (linear probing, at most 5/16 full) homed by the
//! bits below those, so the two are independent.

/// Filter size in bits (16 KiB: stays in the first-level cache; 5,000
/// n-grams set under 4% of it).
pub(super) const FILTER_BITS: u32 = 17;

/// The filter bit of a hash.
#[inline(always)]
pub(super) fn filter_bit(hash: u64) -> usize {
    (hash >> (64 - FILTER_BITS)) as usize
}

#[derive(Debug, Clone)]
pub(super) struct Slots {
    filter: Vec<u64>,
    /// `64 - log2(slot count)`.
    shift: u32,
    /// Slot count - 1.
    mask: usize,
}

impl Slots {
    /// Room for `entries`; also returns the number of slots. At most 5/16
    /// full rather than 5/8: probing the 5,000-bigram table took a quarter
    /// less time (fewer runs of taken slots to step through), for 512 KiB
    /// instead of 256.
    pub(super) fn new(entries: usize) -> (Self, usize) {
        let len = (entries * 16 / 5 + 1).next_power_of_two().max(2);
        let slots = Slots {
            filter: vec![0; (1 << FILTER_BITS) / 64],
            shift: 64 - len.trailing_zeros(),
            mask: len - 1,
        };
        (slots, len)
    }

    /// Sets the filter bit of an n-gram's hash.
    pub(super) fn mark(&mut self, hash: u64) {
        let bit = filter_bit(hash);
        self.filter[bit / 64] |= 1 << (bit % 64);
    }

    /// Whether a hash may be an n-gram's (no false negatives).
    #[inline(always)]
    pub(super) fn may_hold(&self, hash: u64) -> bool {
        let bit = filter_bit(hash);
        self.filter[bit / 64] >> (bit % 64) & 1 != 0
    }

    /// The filter's words (bit [`filter_bit`] of a hash).
    pub(super) fn filter(&self) -> &[u64] {
        &self.filter
    }

    /// The first slot to look at for a hash.
    #[inline(always)]
    pub(super) fn home(&self, hash: u64) -> usize {
        ((hash << FILTER_BITS) >> self.shift) as usize
    }

    /// The slot after `slot`, wrapping around.
    #[inline(always)]
    pub(super) fn next(&self, slot: usize) -> usize {
        (slot + 1) & self.mask
    }
}

/// Starts loading `entries[slot]` (the home slot of a hash about to be
/// probed), so the probes that follow find their lines on the way.
#[inline(always)]
pub(super) fn prefetch<T>(entries: &[T], slot: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(entry) = entries.get(slot) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: the pointer comes from a reference; a prefetch reads
        // nothing into the program.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((entry as *const T).cast()) };
    }
}
