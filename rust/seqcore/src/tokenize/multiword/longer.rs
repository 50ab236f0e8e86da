//! The table of n-grams of 3 or more words, keyed by a hash of their
//! pieces' keys and lengths ([`joined::piece_key`]), and checked against
//! their bytes.
//!
//! A window's hash is built a piece at a time ([`extend`]), so one pass
//! over a block gives the hashes of all its windows of every order; a bit
//! filter (16 KiB) turns most of them away, and the rest probe the table,
//! whose entries hold the full hash, the order, where the words' lengths
//! and joined bytes are kept, and the id.

use super::hashed::{self, Slots};
use super::joined;

/// Order field of an empty slot.
const EMPTY: u32 = 0;

/// The hash of a window of one piece.
#[inline(always)]
pub(super) fn start(key: u64, length: u32) -> u64 {
    key ^ u64::from(length)
}

/// The hash of a window grown by one piece.
#[inline(always)]
pub(super) fn extend(hash: u64, key: u64, length: u32) -> u64 {
    joined::pair_hash(hash, key, length)
}

#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct Entry {
    hash: u64,
    /// Number of words, or [`EMPTY`].
    order: u32,
    id: u32,
    /// Where the joined bytes start in `Longer::bytes`.
    at: u32,
    /// Where the words' lengths start in `Longer::lengths`.
    lengths_at: u32,
}

const EMPTY_ENTRY: Entry = Entry {
    hash: 0,
    order: EMPTY,
    id: 0,
    at: 0,
    lengths_at: 0,
};

#[derive(Debug, Clone)]
pub(super) struct Longer {
    slots: Slots,
    entries: Vec<Entry>,
    bytes: Vec<u8>,
    lengths: Vec<u32>,
}

/// The hash of a list of words, as [`start`] and [`extend`] build it from
/// the pieces.
fn words_hash(words: &[&[u8]]) -> u64 {
    let key = |w: &[u8]| joined::piece_key(w, 0, w.len());
    let length = |w: &[u8]| w.len().min(joined::LONGEST) as u32;
    words[1..]
        .iter()
        .fold(start(key(words[0]), length(words[0])), |h, w| {
            extend(h, key(w), length(w))
        })
}

impl Longer {
    /// A table of `ngrams` (their words, 3 or more of them, and their id).
    pub(super) fn new(ngrams: &[(Vec<&[u8]>, u32)]) -> Self {
        let (slots, len) = Slots::new(ngrams.len());
        let mut table = Longer {
            slots,
            entries: vec![EMPTY_ENTRY; len],
            bytes: Vec::new(),
            lengths: Vec::new(),
        };
        for (words, id) in ngrams {
            debug_assert!(words.len() >= 3);
            let hash = words_hash(words);
            table.slots.mark(hash);
            let entry = Entry {
                hash,
                order: words.len() as u32,
                id: *id,
                at: table.bytes.len() as u32,
                lengths_at: table.lengths.len() as u32,
            };
            for w in words {
                table.bytes.extend_from_slice(w);
                table.lengths.push(w.len() as u32);
            }
            let mut slot = table.slots.home(hash);
            while table.entries[slot].order != EMPTY {
                slot = table.slots.next(slot);
            }
            table.entries[slot] = entry;
        }
        table
    }

    /// Whether a window with this hash may be an n-gram.
    #[inline(always)]
    pub(super) fn may_hold(&self, hash: u64) -> bool {
        self.slots.may_hold(hash)
    }

    /// Starts loading the home slot of a window with this hash.
    #[inline(always)]
    pub(super) fn prefetch(&self, hash: u64) {
        hashed::prefetch(&self.entries, self.slots.home(hash));
    }

    /// The n-gram whose words are the pieces `ranges` (adjacent, in
    /// `seg`), given the window's hash.
    pub(super) fn find(&self, seg: &[u8], ranges: &[(usize, usize)], hash: u64) -> Option<u32> {
        let mut slot = self.slots.home(hash);
        loop {
            let e = &self.entries[slot];
            if e.order == EMPTY {
                return None;
            }
            if e.hash == hash && e.order as usize == ranges.len() {
                let lengths = &self.lengths[e.lengths_at as usize..][..ranges.len()];
                let same_words = ranges
                    .iter()
                    .zip(lengths)
                    .all(|(&(a, b), &l)| b - a == l as usize);
                let (start, end) = (ranges[0].0, ranges[ranges.len() - 1].1);
                if same_words && self.bytes[e.at as usize..][..end - start] == seg[start..end] {
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
    fn finds_each_ngram_by_its_pieces_and_nothing_else() {
        let words: Vec<String> = (0..200)
            .map(|i| format!(" w{}{}", i, "x".repeat(i % 11)))
            .collect();
        let ngrams: Vec<(Vec<&[u8]>, u32)> = (0..150)
            .map(|i| {
                let n = 3 + i % 4;
                let ws = words[i..i + n].iter().map(|w| w.as_bytes()).collect();
                (ws, 1000 + i as u32)
            })
            .collect();
        let table = Longer::new(&ngrams);
        let find = |ws: &[&[u8]]| {
            let seg = ws.concat();
            let mut ranges = Vec::new();
            let mut at = 0;
            let mut hash = 0;
            for (k, w) in ws.iter().enumerate() {
                ranges.push((at, at + w.len()));
                let key = joined::piece_key(&seg, at, at + w.len());
                let length = w.len() as u32;
                hash = if k == 0 {
                    start(key, length)
                } else {
                    extend(hash, key, length)
                };
                at += w.len();
            }
            let found = table.find(&seg, &ranges, hash);
            assert!(found.is_none() || table.may_hold(hash));
            found
        };
        for (ws, id) in &ngrams {
            assert_eq!(find(ws), Some(*id));
            // One word fewer, one more, or the last changed: none.
            assert_eq!(find(&ws[..ws.len() - 1]), None);
            let mut more = ws.clone();
            more.push(b" the");
            assert_eq!(find(&more), None);
            let mut changed = ws.clone();
            let last = [ws[ws.len() - 1], b"y"].concat();
            *changed.last_mut().unwrap() = &last;
            assert_eq!(find(&changed), None);
        }
        // The same bytes cut at other places.
        let (ws, _) = &ngrams[0];
        let joined = ws.concat();
        let (a, b) = joined.split_at(3);
        let (b, c) = b.split_at(b.len() - 2);
        assert_eq!(find(&[a, b, c]), None);
    }
}
