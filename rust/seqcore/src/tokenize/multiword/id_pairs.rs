//! The table of bigrams whose two words are each one base token, keyed by
//! the two ids.
//!
//! Bigram encoding probes it at nearly every other piece, so the probe must
//! cost next to nothing: open addressing over a power-of-two array at most a
//! quarter full, one multiply for the hash, and the key and the value in the
//! same 16-byte slot. A miss (most probes) usually ends at the first slot,
//! which is empty; 5,000 bigrams take 320 KiB, which stays in cache.

/// Empty slot marker (no real key: ids are below 2^31).
const EMPTY: u64 = u64::MAX;

#[derive(Debug, Clone)]
pub(super) struct IdPairs {
    /// `(first << 32 | second, bigram id)`.
    slots: Vec<(u64, u32)>,
    /// `64 - log2(slots.len())`.
    shift: u32,
}

#[inline]
fn key(first: u32, second: u32) -> u64 {
    (u64::from(first) << 32) | u64::from(second)
}

impl IdPairs {
    /// A table holding `entries` (`(first, second, bigram id)`).
    pub(super) fn new(entries: &[(u32, u32, u32)]) -> Self {
        let len = (entries.len() * 4).next_power_of_two().max(16);
        let mut table = IdPairs {
            slots: vec![(EMPTY, 0); len],
            shift: 64 - len.trailing_zeros(),
        };
        for &(first, second, id) in entries {
            let k = key(first, second);
            let mut slot = table.home(k);
            while table.slots[slot].0 != EMPTY && table.slots[slot].0 != k {
                slot = (slot + 1) & (len - 1);
            }
            table.slots[slot] = (k, id);
        }
        table
    }

    #[inline]
    fn home(&self, k: u64) -> usize {
        (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// The bigram token of `first` followed by `second`, if there is one.
    #[inline]
    pub(super) fn get(&self, first: u32, second: u32) -> Option<u32> {
        let k = key(first, second);
        let mask = self.slots.len() - 1;
        let mut slot = self.home(k);
        loop {
            let (found, id) = self.slots[slot];
            if found == k {
                return Some(id);
            }
            if found == EMPTY {
                return None;
            }
            slot = (slot + 1) & mask;
        }
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
    }
}
