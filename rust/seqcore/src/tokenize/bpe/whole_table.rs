//! The pieces that are one token, found with one cache line per lookup.
//!
//! Most pieces of prose are one token, so this lookup is most of encoding
//! once the text is cut. A hash map keyed by the token's bytes costs three
//! dependent memory reads (its control bytes, the entry, then the key's
//! bytes, which live elsewhere on the heap). Here a piece is keyed by its
//! length and its first eight bytes ([`piece_key`], no loop), entries sit
//! four to a 64-byte bucket, and a piece of up to eight bytes is settled by
//! that one bucket; only longer ones also compare the rest of their bytes.
//! Tokens with the same length and first eight bytes share a home bucket
//! (at most six of cl100k's do), so the rest of a long piece is never
//! hashed.

/// A piece's key: a bijection of its first eight bytes (zero-padded), so
/// for pieces of up to eight bytes equal keys and lengths mean equal
/// bytes. Reads `seg[a..b]`, and the bytes after it when there are eight;
/// requires `a <= b <= seg.len()`.
#[inline(always)]
pub fn piece_key(seg: &[u8], a: usize, b: usize) -> u64 {
    eight_bytes(seg, a, (b - a).min(8)).wrapping_mul(0xBF58_476D_1CE4_E5B9)
}

/// `seg[at..at + n]` (`n <= 8`, and `n > 0`) as a little-endian word, zero
/// above: one load when eight bytes follow `at`.
#[inline(always)]
fn eight_bytes(seg: &[u8], at: usize, n: usize) -> u64 {
    let word = match seg.get(at..at + 8) {
        Some(eight) => u64::from_le_bytes(eight.try_into().expect("eight bytes")),
        None => {
            let mut buf = [0u8; 8];
            buf[..n].copy_from_slice(&seg[at..at + n]);
            u64::from_le_bytes(buf)
        }
    };
    word & u64::MAX.wrapping_shr(8 * (8 - n) as u32)
}

/// Bytes a key covers.
const KEY_BYTES: usize = 8;
/// Entries per bucket (one cache line).
const WAYS: usize = 4;

#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Bucket {
    keys: [u64; WAYS],
    /// Piece lengths; 0 marks an empty entry (entries fill in order).
    lens: [u32; WAYS],
    ids: [u32; WAYS],
}

const EMPTY: Bucket = Bucket {
    keys: [0; WAYS],
    lens: [0; WAYS],
    ids: [0; WAYS],
};

/// Pieces that encode as one token, by key and length.
#[derive(Debug, Clone)]
pub(super) struct WholeTable {
    buckets: Vec<Bucket>,
    /// `64 - log2(bucket count)`.
    shift: u32,
    /// One bit per [`Self::filter_bit`] of each held piece: a piece whose
    /// bit is clear is no token, known without reading a bucket.
    filter: Vec<u64>,
    /// `64 - log2(filter bits)`.
    filter_shift: u32,
    /// For each entry (bucket * WAYS + way) of a token over eight bytes:
    /// its next eight bytes, and where any after those start in `rest`.
    tails: Vec<Tail>,
    rest: Vec<u8>,
}

impl WholeTable {
    /// The table of `(bytes, id)`; byte strings distinct and non-empty.
    pub(super) fn new<'a>(tokens: impl ExactSizeIterator<Item = (&'a [u8], u32)>) -> Self {
        // At most 3/8 full on average, so that few buckets overflow (a
        // piece that is no token reads buckets until one has room).
        let count = (tokens.len() * 8 / (3 * WAYS) + 1)
            .next_power_of_two()
            .max(2);
        let bits = (tokens.len() * 16).next_power_of_two().max(64);
        let mut table = WholeTable {
            buckets: vec![EMPTY; count],
            shift: 64 - count.trailing_zeros(),
            filter: vec![0; bits / 64],
            filter_shift: 64 - bits.trailing_zeros(),
            tails: Vec::new(),
            rest: Vec::new(),
        };
        for (bytes, id) in tokens {
            table.insert(bytes, id);
        }
        table
    }

    #[inline(always)]
    fn hash(key: u64, len: usize) -> u64 {
        key ^ (len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    #[inline(always)]
    fn home(&self, key: u64, len: usize) -> usize {
        (Self::hash(key, len) >> self.shift) as usize
    }

    #[inline(always)]
    fn filter_bit(&self, key: u64, len: usize) -> usize {
        (Self::hash(key, len).wrapping_mul(0xD6E8_FEB8_6659_FD93) >> self.filter_shift) as usize
    }

    fn insert(&mut self, bytes: &[u8], id: u32) {
        let (key, len) = (piece_key(bytes, 0, bytes.len()), bytes.len());
        let bit = self.filter_bit(key, len);
        self.filter[bit / 64] |= 1 << (bit % 64);
        let mask = self.buckets.len() - 1;
        let mut at = self.home(key, len);
        loop {
            let bucket = &mut self.buckets[at];
            if let Some(way) = bucket.lens.iter().position(|&l| l == 0) {
                bucket.keys[way] = key;
                bucket.lens[way] = len as u32;
                bucket.ids[way] = id;
                if len > KEY_BYTES {
                    let entry = at * WAYS + way;
                    if self.tails.len() <= entry {
                        self.tails.resize(entry + 1, Tail { next: 0, rest: 0 });
                    }
                    let next = (len - KEY_BYTES).min(KEY_BYTES);
                    self.tails[entry] = Tail {
                        next: eight_bytes(bytes, KEY_BYTES, next),
                        rest: self.rest.len() as u32,
                    };
                    self.rest.extend_from_slice(&bytes[KEY_BYTES + next..]);
                }
                return;
            }
            at = (at + 1) & mask;
        }
    }

    /// The id of `seg[a..b]` if it is one of the table's pieces; `key` is
    /// its [`piece_key`].
    #[inline(always)]
    pub(super) fn get(&self, seg: &[u8], (a, b): (usize, usize), key: u64) -> Option<u32> {
        let len = b - a;
        let bit = self.filter_bit(key, len);
        if self.filter[bit / 64] >> (bit % 64) & 1 == 0 {
            return None;
        }
        let mask = self.buckets.len() - 1;
        let mut at = self.home(key, len);
        loop {
            let bucket = &self.buckets[at];
            for way in 0..WAYS {
                let l = bucket.lens[way] as usize;
                // Empty entries first, so an empty piece matches none.
                if l == 0 {
                    return None;
                }
                if l == len
                    && bucket.keys[way] == key
                    && (len <= KEY_BYTES || self.rest_matches(at * WAYS + way, seg, (a, b)))
                {
                    return Some(bucket.ids[way]);
                }
            }
            at = (at + 1) & mask;
        }
    }

    /// Whether the bytes of `seg[a..b]` after its first eight are those
    /// of the entry's token (of the same length): one word compare for
    /// tokens of up to 16 bytes, which most longer words are.
    #[inline]
    fn rest_matches(&self, entry: usize, seg: &[u8], (a, b): (usize, usize)) -> bool {
        let tail = &self.tails[entry];
        let next = (b - a - KEY_BYTES).min(KEY_BYTES);
        if eight_bytes(seg, a + KEY_BYTES, next) != tail.next {
            return false;
        }
        let after = &seg[a + KEY_BYTES + next..b];
        let start = tail.rest as usize;
        after.is_empty() || self.rest.get(start..start + after.len()) == Some(after)
    }
}

/// The bytes of a long token past its key (see [`WholeTable::tails`]).
#[derive(Debug, Clone, Copy)]
struct Tail {
    /// Bytes 8..16, zero above the token's end.
    next: u64,
    /// Where bytes 16.. start in `WholeTable::rest`.
    rest: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(table: &WholeTable, piece: &[u8]) -> Option<u32> {
        table.get(piece, (0, piece.len()), piece_key(piece, 0, piece.len()))
    }

    proptest::proptest! {
        /// Against a plain map, with words that share their first eight
        /// bytes and length, and lookups inside a longer text.
        #[test]
        fn finds_exactly_the_pieces_it_holds(
            words in proptest::collection::btree_set(
                proptest::collection::vec(proptest::sample::select(b"ab\x00\xff".to_vec()), 1..20),
                0..300,
            ),
            probes in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(b"ab\x00\xffc".to_vec()), 1..20),
                0..50,
            ),
        ) {
            let words: Vec<Vec<u8>> = words.into_iter().collect();
            let table = WholeTable::new(words.iter().enumerate().map(|(i, w)| (&w[..], i as u32 * 3)));
            for (i, w) in words.iter().enumerate() {
                proptest::prop_assert_eq!(lookup(&table, w), Some(i as u32 * 3));
                // The same piece in the middle of a text.
                let text = [b"xy".as_slice(), w, b"zzzzzzzzz"].concat();
                let key = piece_key(&text, 2, 2 + w.len());
                proptest::prop_assert_eq!(table.get(&text, (2, 2 + w.len()), key), Some(i as u32 * 3));
            }
            // Long words changed after their first eight bytes: same key
            // and length, so only the tail comparison tells them apart.
            for w in words.iter().filter(|w| w.len() > 8) {
                for at in [8, w.len() - 1, 16.min(w.len() - 1)] {
                    let mut changed = w.clone();
                    changed[at] ^= 1;
                    let want = words.iter().position(|x| *x == changed).map(|i| i as u32 * 3);
                    proptest::prop_assert_eq!(lookup(&table, &changed), want);
                }
            }
            for p in &probes {
                let want = words.iter().position(|w| w == p).map(|i| i as u32 * 3);
                proptest::prop_assert_eq!(lookup(&table, p), want);
            }
        }
    }

    #[test]
    fn an_empty_table_holds_nothing_and_no_table_holds_the_empty_piece() {
        let table = WholeTable::new(std::iter::empty::<(&[u8], u32)>());
        assert_eq!(lookup(&table, b"a"), None);
        assert_eq!(lookup(&table, b"abcdefghij"), None);
        let words: [&[u8]; 3] = [b"a", b"\x00", b"abcdefghij"];
        let table = WholeTable::new(words.iter().map(|w| (*w, 7)));
        assert_eq!(lookup(&table, b""), None);
        assert_eq!(lookup(&table, b"\x00"), Some(7));
        assert_eq!(lookup(&table, b"\x00\x00"), None);
    }
}
