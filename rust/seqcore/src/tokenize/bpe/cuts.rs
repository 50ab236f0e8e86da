//! Where a long piece can be cut: between two bytes that no token of the
//! vocabulary can span.
//!
//! Every symbol BPE ever makes is a token, so if no token's bytes can lie
//! across the gap between `piece[i]` and `piece[i + 1]`, no merge ever
//! crosses it, and each side merges as if it were alone (the rule picks
//! the lowest pair of the whole piece each time, but a side's own merges
//! still come in its own rank order). Merging the two sides separately is
//! then exact, and a megabyte without whitespace becomes many short
//! pieces for the fast paths instead of one for the heap.
//!
//! A token across the gap covers bytes `a..=b` with `a <= i < b`. With
//! four bytes of context each case is one set-membership test:
//! * `a <= i - 2`: it contains `piece[i - 2..=i + 1]`;
//! * `a = i - 1`: it is `piece[i - 1..=i + 1]`, or starts with
//!   `piece[i - 1..=i + 2]`;
//! * `a = i`: it is `piece[i..=i + 1]` or `piece[i..=i + 2]`, or starts
//!   with `piece[i..=i + 3]`.
//!
//! The gap is a cut when none of them holds (cases that run past either
//! end of the piece cannot hold), or, cheaper, when no token has the two
//! bytes `piece[i..=i + 1]` side by side at all. Two-byte sets are exact
//! bit sets; the longer ones share one hashed bit filter, where a false
//! "present" only loses a cut, never makes a wrong one.
//!
//! On cl100k this finds a cut every 13 bytes of random lowercase letters
//! and every 31 of English with spaces and punctuation removed (every 58
//! with three bytes of context, every 226 with two).

/// Bits of a 65,536-entry set of byte pairs.
const PAIR_WORDS: usize = 1 << 10;

/// What a hashed entry says about its bytes (mixed into the hash).
#[derive(Clone, Copy)]
enum Held {
    /// Four bytes side by side inside some token.
    Inside = 1,
    /// Four bytes that start some token.
    Starts = 2,
    /// Three bytes that are a token.
    Token = 3,
}

/// The cut tests of one vocabulary.
#[derive(Debug, Clone)]
pub(super) struct Cuts {
    /// Byte pairs that lie side by side inside some token.
    inside_pairs: Box<[u64]>,
    /// Byte pairs that are themselves tokens.
    pair_tokens: Box<[u64]>,
    /// The three- and four-byte sets, hashed by (kind, bytes).
    longer: Box<[u64]>,
    /// log2 of the bits in `longer`.
    longer_bits: u32,
}

#[inline(always)]
fn test(bits: &[u64], index: usize) -> bool {
    bits[index >> 6] >> (index & 63) & 1 != 0
}

#[inline(always)]
fn set(bits: &mut [u64], index: usize) {
    bits[index >> 6] |= 1 << (index & 63);
}

#[inline(always)]
fn pair_index(first: u8, second: u8) -> usize {
    usize::from(first) << 8 | usize::from(second)
}

/// Three or four bytes as one number, the count above them, so that
/// "abc" and "abc\0" differ.
#[inline(always)]
fn pack(bytes: &[u8]) -> u64 {
    let word = match *bytes {
        [a, b, c] => u32::from_le_bytes([a, b, c, 0]),
        [a, b, c, d] => u32::from_le_bytes([a, b, c, d]),
        _ => unreachable!("three or four bytes"),
    };
    (bytes.len() as u64) << 32 | u64::from(word)
}

impl Cuts {
    /// The tests for a vocabulary whose every token is in `tokens` (a
    /// superset is fine: it can only find fewer cuts).
    pub(super) fn new<'a>(tokens: impl Iterator<Item = &'a [u8]> + Clone) -> Self {
        let held = tokens
            .clone()
            .map(|t| t.len().saturating_sub(3) + 2)
            .sum::<usize>();
        // About eight bits per entry: few false "present".
        let bits = (held.max(1) * 8)
            .next_power_of_two()
            .clamp(1 << 12, 1 << 24);
        let mut cuts = Cuts {
            inside_pairs: vec![0; PAIR_WORDS].into_boxed_slice(),
            pair_tokens: vec![0; PAIR_WORDS].into_boxed_slice(),
            longer: vec![0; bits / 64].into_boxed_slice(),
            longer_bits: bits.trailing_zeros(),
        };
        for token in tokens {
            if token.len() == 2 {
                set(&mut cuts.pair_tokens, pair_index(token[0], token[1]));
            }
            for w in token.windows(2) {
                set(&mut cuts.inside_pairs, pair_index(w[0], w[1]));
            }
            let mut held = |kind: Held, bytes: &[u8]| {
                let slot = cuts.slot(kind, bytes);
                set(&mut cuts.longer, slot);
            };
            if token.len() == 3 {
                held(Held::Token, token);
            }
            for w in token.windows(4) {
                held(Held::Inside, w);
            }
            if token.len() >= 4 {
                held(Held::Starts, &token[..4]);
            }
        }
        cuts
    }

    #[inline(always)]
    fn slot(&self, kind: Held, bytes: &[u8]) -> usize {
        let key = pack(bytes) ^ (kind as u64) << 40;
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - self.longer_bits)) as usize
    }

    #[inline(always)]
    fn holds(&self, kind: Held, bytes: &[u8]) -> bool {
        test(&self.longer, self.slot(kind, bytes))
    }

    /// Whether no token can span the gap after `piece[i]` (`i + 1 <
    /// piece.len()`).
    #[inline(always)]
    pub(super) fn is_cut(&self, piece: &[u8], i: usize) -> bool {
        let (x, y) = (piece[i], piece[i + 1]);
        if !test(&self.inside_pairs, pair_index(x, y)) {
            return true;
        }
        if test(&self.pair_tokens, pair_index(x, y)) {
            return false;
        }
        let n = piece.len();
        let spanned = (i >= 2 && self.holds(Held::Inside, &piece[i - 2..i + 2]))
            || (i >= 1 && self.holds(Held::Token, &piece[i - 1..i + 2]))
            || (i >= 1 && i + 2 < n && self.holds(Held::Starts, &piece[i - 1..i + 3]))
            || (i + 2 < n && self.holds(Held::Token, &piece[i..i + 3]))
            || (i + 3 < n && self.holds(Held::Starts, &piece[i..i + 4]));
        !spanned
    }

    /// Calls `segment` with consecutive ranges that cover the piece, each
    /// ending at a cut (the last at the end), left to right; a rest of at
    /// most `longest` bytes is not cut.
    ///
    /// Every gap is tested, not just enough to keep the parts short: on
    /// text with many cuts (random letters, CJK, base64) parts of one or
    /// two tokens merge faster than longer ones, since each cut is a pair
    /// that is never looked up.
    #[inline]
    pub(super) fn for_each_segment(
        &self,
        piece: &[u8],
        longest: usize,
        mut segment: impl FnMut(usize, usize),
    ) {
        let n = piece.len();
        let mut start = 0;
        for i in 0..n.saturating_sub(1) {
            if n - start <= longest {
                break;
            }
            if self.is_cut(piece, i) {
                segment(start, i + 1);
                start = i + 1;
            }
        }
        segment(start, n);
    }
}
