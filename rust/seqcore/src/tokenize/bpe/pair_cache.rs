//! The per-thread cache in front of the pair table.

use super::{pair_key, Bpe};

/// Each thread's pair caches, one per merge table it used lately, the most
/// recent first: a thread that alternates between tokenizers keeps each
/// one's cache instead of clearing 512 KiB at every switch.
pub(super) struct PairCaches {
    caches: Vec<PairCache>,
}

impl PairCaches {
    /// Caches kept per thread.
    const KEEP: usize = 4;

    pub(super) fn new() -> Self {
        PairCaches { caches: Vec::new() }
    }

    /// The cache for `bpe`'s table (the least recently used one, cleared,
    /// if none serves it yet).
    pub(super) fn serve(&mut self, bpe: &Bpe) -> &mut PairCache {
        if self.caches.first().map(|c| c.table_id) != Some(bpe.table_id) {
            let cache = match self.caches.iter().position(|c| c.table_id == bpe.table_id) {
                Some(at) => self.caches.remove(at),
                None if self.caches.len() < Self::KEEP => PairCache::new(),
                None => self.caches.pop().expect("KEEP caches"),
            };
            self.caches.insert(0, cache);
        }
        let cache = &mut self.caches[0];
        cache.serve(bpe);
        cache
    }
}

/// A direct-mapped cache in front of the pair table: the table is
/// megabytes (a cache miss per lookup), while text keeps meeting the same
/// few thousand pairs. 2^15 slots (512 KiB): against 2^13, merging text
/// without spaces took 8% less time and prose encoding 15-20% less
/// (`examples/bpe_speed.rs`; 4-6% in a single pass over the whole King
/// James Bible from Python), and 2^16-2^17 gained nothing more.
pub(super) struct PairCache {
    table_id: u64,
    slots: Vec<(u64, u64)>,
}

impl PairCache {
    const BITS: u32 = 15;

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

    #[inline(always)]
    pub(super) fn get(&mut self, bpe: &Bpe, left: u32, right: u32) -> u64 {
        let key = pair_key(left, right);
        let slot = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - Self::BITS)) as usize;
        let (k, v) = self.slots[slot];
        if k == key {
            return v;
        }
        self.miss(bpe, key, slot)
    }

    /// Kept out of line: the callers hold state in vector registers, which
    /// a call inside their loop would make them save and restore on every
    /// lookup rather than on the one in five that misses.
    #[cold]
    #[inline(never)]
    fn miss(&mut self, bpe: &Bpe, key: u64, slot: usize) -> u64 {
        let v = bpe.packed((key >> 32) as u32, key as u32);
        self.slots[slot] = (key, v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::bpe::MergeRule;

    fn table() -> Bpe {
        let tokens: Vec<(u32, Vec<u8>)> = (0..=255u8)
            .map(|b| (u32::from(b), vec![b]))
            .chain([(256, b"ab".to_vec())])
            .collect();
        let refs: Vec<(u32, &[u8])> = tokens.iter().map(|(i, b)| (*i, &b[..])).collect();
        Bpe::new(&refs, &[], MergeRule::Ranks).unwrap()
    }

    fn filled(cache: &PairCache) -> usize {
        cache.slots.iter().filter(|s| s.0 != u64::MAX).count()
    }

    #[test]
    fn alternating_tables_keep_their_caches_until_evicted() {
        let tables: Vec<Bpe> = (0..=PairCaches::KEEP).map(|_| table()).collect();
        let mut caches = PairCaches::new();
        for (i, t) in tables.iter().enumerate() {
            let cache = caches.serve(t);
            assert_eq!(filled(cache), 0, "a new table starts empty");
            for r in 0..=i as u32 {
                assert_eq!(cache.get(t, 97, 98), (256 << 32) | 256);
                cache.get(t, 1, r);
            }
            if i + 1 < PairCaches::KEEP {
                // Back to the first table: its entries are still there.
                assert_eq!(filled(caches.serve(&tables[0])), 2);
            }
        }
        // Five tables through four caches: the least recently used (the
        // second) was given to the fifth and cleared.
        assert_eq!(caches.caches.len(), PairCaches::KEEP);
        assert_eq!(filled(caches.serve(&tables[1])), 0);
        assert_eq!(filled(caches.serve(&tables[0])), 2);
    }
}
