//! The per-thread cache in front of the pair table.

use super::{pair_key, Bpe};

/// A direct-mapped cache in front of the pair table, one per thread: the
/// table is megabytes (a cache miss per lookup), while text keeps meeting
/// the same few thousand pairs. It serves one table at a time and is
/// cleared when a thread switches tables.
pub(super) struct PairCache {
    table_id: u64,
    slots: Vec<(u64, u64)>,
}

impl PairCache {
    const BITS: u32 = 13;

    pub(super) fn new() -> Self {
        PairCache {
            table_id: 0,
            slots: vec![(u64::MAX, 0); 1 << Self::BITS],
        }
    }

    /// Makes the cache serve `bpe` (clearing it if it served another table).
    pub(super) fn serve(&mut self, bpe: &Bpe) {
        if self.table_id != bpe.table_id {
            self.slots.fill((u64::MAX, 0));
            self.table_id = bpe.table_id;
        }
    }

    #[inline]
    pub(super) fn get(&mut self, bpe: &Bpe, left: u32, right: u32) -> u64 {
        let key = pair_key(left, right);
        let slot = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - Self::BITS)) as usize;
        let (k, v) = self.slots[slot];
        if k == key {
            return v;
        }
        let v = bpe.packed(left, right);
        self.slots[slot] = (key, v);
        v
    }
}
