//! The bigram table of the bigram path, keyed by the two words' bytes.
//!
//! Each piece gets a key from its length and first eight bytes
//! ([`piece_key`], a few instructions on bytes already in cache); a pair
//! of keys gives one hash, which picks a bit of a 16 KiB filter and the
//! table's home slot. A pair whose filter bit is clear is no bigram; the
//! others probe the table, whose entries hold both keys and lengths, so a
//! match is exact for words of up to eight bytes; longer words also
//! compare their bytes. Finding a bigram needs no lookup in the base's
//! table, so the two pieces of a bigram cost one probe of this small table
//! instead of two lookups in the base's large one.

use super::hashed::{self, Slots};

/// Length field of an empty slot (no piece is empty).
const EMPTY: u32 = 0;
/// Lengths are kept up to this many bytes; bigram words are shorter
/// ([`super::MAX_WORD_BYTES`]), so a longer piece, counted as this long,
/// matches none.
pub(super) const LONGEST: usize = 0xFFFF;
/// Words longer than this many bytes also compare their bytes.
const KEY_BYTES: u32 = 8;

pub(super) use crate::tokenize::bpe::piece_key;

/// Both lengths in one word, each at most [`LONGEST`].
#[inline(always)]
pub(super) fn lengths(first: usize, second: usize) -> u32 {
    (first.min(LONGEST) as u32) << 16 | second.min(LONGEST) as u32
}

/// Multiplier of [`pair_hash`].
pub(super) const PAIR_MIX: u64 = 0x94D0_49BB_1331_11EB;
/// Rotation of the first key in [`pair_hash`].
pub(super) const PAIR_ROTATE: u32 = 26;

/// The hash of two adjacent pieces, from their keys and [`lengths`].
#[inline(always)]
pub(super) fn pair_hash(first: u64, second: u64, lengths: u32) -> u64 {
    (first.rotate_left(PAIR_ROTATE) ^ second ^ u64::from(lengths)).wrapping_mul(PAIR_MIX)
}

/// One bigram: 32 bytes, two to a cache line.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct Entry {
    first: u64,
    second: u64,
    /// [`lengths`] of the two words, or [`EMPTY`].
    lengths: u32,
    id: u32,
    /// Where the joined bytes start in `Joined::bytes` (read only for
    /// words over [`KEY_BYTES`]).
    at: u32,
}

const EMPTY_ENTRY: Entry = Entry {
    first: 0,
    second: 0,
    lengths: EMPTY,
    id: 0,
    at: 0,
};

#[derive(Debug, Clone)]
pub(super) struct Joined {
    slots: Slots,
    entries: Vec<Entry>,
    /// The joined bytes of every bigram, one after another.
    bytes: Vec<u8>,
}

impl Joined {
    /// A table of `bigrams` (first word, second word, id), each joined
    /// pair of words once.
    pub(super) fn new(bigrams: &[(&[u8], &[u8], u32)]) -> Self {
        let (slots, len) = Slots::new(bigrams.len());
        let mut table = Joined {
            slots,
            entries: vec![EMPTY_ENTRY; len],
            bytes: Vec::new(),
        };
        for &(first, second, id) in bigrams {
            // `MultiWord::new` refuses longer words (and empty ones).
            debug_assert!(first.len() < LONGEST && second.len() < LONGEST);
            let lengths = lengths(first.len(), second.len());
            let entry = Entry {
                first: piece_key(first, 0, first.len()),
                second: piece_key(second, 0, second.len()),
                lengths,
                id,
                at: table.bytes.len() as u32,
            };
            table.bytes.extend_from_slice(first);
            table.bytes.extend_from_slice(second);
            let hash = pair_hash(entry.first, entry.second, lengths);
            table.slots.mark(hash);
            let mut slot = table.slots.home(hash);
            while table.entries[slot].lengths != EMPTY {
                slot = table.slots.next(slot);
            }
            table.entries[slot] = entry;
        }
        table
    }

    /// The filter's words: bit [`filter_bit`] of a pair's hash is set if
    /// the pair may be a bigram.
    pub(super) fn filter(&self) -> &[u64] {
        self.slots.filter()
    }

    /// Whether a pair with this [`pair_hash`] may be a bigram (no false
    /// negatives); encoding reads [`Self::filter`] a block at a time.
    #[cfg(test)]
    pub(super) fn may_hold(&self, hash: u64) -> bool {
        self.slots.may_hold(hash)
    }

    /// Starts loading the home slot of a pair with this hash.
    #[inline(always)]
    pub(super) fn prefetch(&self, hash: u64) {
        hashed::prefetch(&self.entries, self.slots.home(hash));
    }

    /// The bigram whose words are the two pieces making up
    /// `seg[start..end]`, given their keys, [`lengths`] and [`pair_hash`].
    #[inline]
    pub(super) fn find(
        &self,
        seg: &[u8],
        (start, end): (usize, usize),
        keys: (u64, u64),
        lengths: u32,
        hash: u64,
    ) -> Option<u32> {
        let mut slot = self.slots.home(hash);
        loop {
            let e = &self.entries[slot];
            if e.lengths == EMPTY {
                return None;
            }
            if (e.first, e.second, e.lengths) == (keys.0, keys.1, lengths) {
                let long = (lengths >> 16) > KEY_BYTES || (lengths & 0xFFFF) > KEY_BYTES;
                let at = e.at as usize;
                if !long || self.bytes[at..at + (end - start)] == seg[start..end] {
                    return Some(e.id);
                }
            }
            slot = self.slots.next(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_bigram_by_its_pieces_and_nothing_else() {
        // Words of 3 to 17 bytes: keys alone decide the short ones.
        let words: Vec<String> = (0..300)
            .map(|i| format!(" w{}{}", i, "x".repeat(i % 13)))
            .collect();
        let bigrams: Vec<(&[u8], &[u8], u32)> = words
            .windows(2)
            .enumerate()
            .map(|(i, w)| (w[0].as_bytes(), w[1].as_bytes(), 1000 + i as u32))
            .collect();
        let table = Joined::new(&bigrams);
        let find = |first: &[u8], second: &[u8]| {
            let seg = [first, second].concat();
            let (a, b, c) = (0, first.len(), seg.len());
            let keys = (piece_key(&seg, a, b), piece_key(&seg, b, c));
            let lengths = lengths(b - a, c - b);
            let hash = pair_hash(keys.0, keys.1, lengths);
            let found = table.find(&seg, (a, c), keys, lengths, hash);
            assert!(found.is_none() || table.may_hold(pair_hash(keys.0, keys.1, lengths)));
            found
        };
        for (i, w) in words.windows(2).enumerate() {
            let (first, second) = (w[0].as_bytes(), w[1].as_bytes());
            assert_eq!(find(first, second), Some(1000 + i as u32), "{w:?}");
            assert_eq!(find(second, first), None);
        }
        // A long word that differs from a bigram's only after its first
        // eight bytes: same keys and lengths, different bytes.
        let mut changed = words[12].clone().into_bytes();
        *changed.last_mut().unwrap() = b'y';
        assert_eq!(find(&changed, words[13].as_bytes()), None);
        assert_eq!(find(words[11].as_bytes(), &changed), None);
        // The same joined bytes cut at another place.
        assert_eq!(find(b" w1x", b" w2xx"), Some(1001));
        assert_eq!(find(b" w1", b"x w2xx"), None);
        assert_eq!(
            Joined::new(&[]).find(b"ab", (0, 2), (1, 2), 0x1_0001, 7),
            None
        );
    }
}
