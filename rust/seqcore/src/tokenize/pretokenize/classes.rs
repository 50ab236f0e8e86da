//! The Unicode character classes the preset patterns use, and a scanner that
//! classifies the characters of a text with them.
//!
//! The classes come from `regex_syntax`, the same tables the `regex` crate
//! (and through it `fancy-regex`) matches `\p{L}` or `\s` with, so a Unicode
//! version bump in that crate moves both sides together. They are built once
//! into a two-level table: the code point's high bits pick a 128-entry leaf,
//! and identical leaves are stored once (most of the code space is a handful
//! of distinct leaves), so a lookup is two loads and the build is a fill plus
//! a deduplication, well under a millisecond.

use std::sync::OnceLock;

use regex_syntax::hir::{Class, HirKind};
use rustc_hash::FxHashMap;

/// `\p{L}`: letters.
pub(super) const LETTER: u8 = 1;
/// `\p{N}`: numbers.
pub(super) const NUMBER: u8 = 1 << 1;
/// `\s`: Unicode White_Space.
pub(super) const SPACE: u8 = 1 << 2;
/// o200k's "upper" class `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`.
pub(super) const UPPER: u8 = 1 << 3;
/// o200k's "lower" class `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`.
pub(super) const LOWER: u8 = 1 << 4;
/// `[\r\n]`.
pub(super) const NEWLINE: u8 = 1 << 5;

/// `[^\s\p{L}\p{N}]` is "none of these bits".
pub(super) const WORDISH: u8 = LETTER | NUMBER | SPACE;

/// The source of each bit: a class in regex syntax.
const SOURCES: [(&str, u8); 6] = [
    (r"\p{L}", LETTER),
    (r"\p{N}", NUMBER),
    (r"\s", SPACE),
    (r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]", UPPER),
    (r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]", LOWER),
    (r"[\r\n]", NEWLINE),
];

/// Code points per leaf (a power of two).
const LEAF_BITS: u32 = 7;
const LEAF_LEN: usize = 1 << LEAF_BITS;
const CODE_SPACE: usize = 0x11_0000;

/// The class bits of every code point.
pub(super) struct Classes {
    /// The bits of the ASCII characters, apart so that the hot ASCII loops
    /// index a fixed-size array (no bounds check once `b < 0x80` is known).
    ascii: [u8; 128],
    /// Leaf number of each 128-code-point block.
    index: Box<[u16]>,
    /// The distinct leaves, back to back.
    leaves: Box<[u8]>,
}

impl Classes {
    /// Builds the tables from `regex_syntax`'s Unicode data.
    pub(super) fn build() -> Classes {
        let mut flat = vec![0u8; CODE_SPACE];
        for (pattern, bit) in SOURCES {
            for (lo, hi) in unicode_ranges(pattern) {
                for bits in &mut flat[lo as usize..=hi as usize] {
                    *bits |= bit;
                }
            }
        }
        let mut ids: FxHashMap<&[u8], u16> = FxHashMap::default();
        let mut leaves = Vec::new();
        let index: Box<[u16]> = flat
            .chunks_exact(LEAF_LEN)
            .map(|leaf| {
                *ids.entry(leaf).or_insert_with(|| {
                    leaves.extend_from_slice(leaf);
                    u16::try_from(leaves.len() / LEAF_LEN - 1).expect("under 65536 leaves")
                })
            })
            .collect();
        let mut ascii = [0u8; 128];
        ascii.copy_from_slice(&flat[..128]);
        Classes {
            ascii,
            index,
            leaves: leaves.into_boxed_slice(),
        }
    }

    /// The class bits of a code point.
    #[inline(always)]
    pub(super) fn of(&self, cp: u32) -> u8 {
        let leaf = self.index[(cp >> LEAF_BITS) as usize] as usize;
        self.leaves[(leaf << LEAF_BITS) | (cp as usize & (LEAF_LEN - 1))]
    }

    /// Bytes of table memory (for the record).
    #[cfg(test)]
    pub(super) fn size(&self) -> usize {
        self.ascii.len() + 2 * self.index.len() + self.leaves.len()
    }
}

/// The shared tables, built on first use.
pub(super) fn classes() -> &'static Classes {
    static CLASSES: OnceLock<Classes> = OnceLock::new();
    CLASSES.get_or_init(Classes::build)
}

/// The code point ranges of a character class in regex syntax.
pub(super) fn unicode_ranges(pattern: &str) -> Vec<(u32, u32)> {
    let hir = regex_syntax::Parser::new()
        .parse(pattern)
        .expect("class patterns parse");
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => class
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect(),
        other => panic!("{pattern} is not a Unicode class: {other:?}"),
    }
}

/// Decodes the character starting at `i`: its code point and byte length.
/// `bytes` is valid UTF-8 (it comes from a `&str`) and `i` a non-ASCII char
/// boundary, so the lead byte alone tells the length.
#[inline(always)]
fn decode(bytes: &[u8], i: usize) -> (u32, usize) {
    let b0 = bytes[i] as u32;
    let cont = |k: usize| bytes[i + k] as u32 & 0x3F;
    if b0 < 0xE0 {
        (((b0 & 0x1F) << 6) | cont(1), 2)
    } else if b0 < 0xF0 {
        (((b0 & 0x0F) << 12) | (cont(1) << 6) | cont(2), 3)
    } else {
        (
            ((b0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3),
            4,
        )
    }
}

/// The ASCII members of a class as a byte range, after OR-ing each byte
/// with `fold` (0x20 folds upper case letters onto lower case ones).
#[derive(Clone, Copy)]
struct AsciiRange {
    fold: u8,
    lo: u8,
    hi: u8,
}

impl AsciiRange {
    /// The range for a class mask whose ASCII members are one range (after
    /// folding), if it is one of those.
    #[inline(always)]
    fn of(mask: u8) -> Option<AsciiRange> {
        let (fold, lo, hi) = match mask {
            LETTER => (0x20, b'a', b'z'),
            LOWER => (0, b'a', b'z'),
            UPPER => (0, b'A', b'Z'),
            NUMBER => (0, b'0', b'9'),
            _ => return None,
        };
        Some(AsciiRange { fold, lo, hi })
    }

    /// The high bit of each byte.
    const HIGH: u64 = 0x8080_8080_8080_8080;

    /// The high bit of each byte of `word` that is an ASCII member of the
    /// range, tested all eight at once (SWAR), so that the length of a
    /// short word costs no unpredictable branch.
    #[inline(always)]
    fn members(self, word: u64) -> u64 {
        const ONES: u64 = 0x0101_0101_0101_0101;
        let low7 = (word | (self.fold as u64 * ONES)) & !Self::HIGH;
        // No byte carries into the next: each sum stays under 0x100.
        let at_least_lo = low7 + (0x80 - self.lo as u64) * ONES;
        let above_hi = low7 + (0x7F - self.hi as u64) * ONES;
        at_least_lo & !above_hi & !word & Self::HIGH
    }
}

/// A whitespace run, as the `\s` alternatives need it.
pub(super) struct SpaceRun {
    /// Where the run ends (the first non-space character, or the text's end).
    pub end: usize,
    /// Where the run's last character starts: `\s+(?!\S)` ends there when
    /// a non-space character follows.
    pub last: usize,
    /// One past the run's last `\r` or `\n`, if it has one: where
    /// `\s*[\r\n]` ends after backing off.
    pub after_newline: Option<usize>,
}

/// A text with its characters' classes at hand.
pub(super) struct Text<'a> {
    /// The text's UTF-8 bytes.
    pub bytes: &'a [u8],
    classes: &'static Classes,
}

impl<'a> Text<'a> {
    /// Wraps `text` (building the class tables on first use).
    pub(super) fn new(text: &'a str) -> Self {
        Text {
            bytes: text.as_bytes(),
            classes: classes(),
        }
    }

    /// The text's length in bytes.
    #[inline(always)]
    pub(super) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// The class bits and byte length of the character at `i` (`i < len`,
    /// on a character boundary).
    #[inline(always)]
    pub(super) fn class_at(&self, i: usize) -> (u8, usize) {
        let b = self.bytes[i];
        if b < 0x80 {
            (self.classes.ascii[b as usize], 1)
        } else {
            let (cp, len) = decode(self.bytes, i);
            (self.classes.of(cp), len)
        }
    }

    /// The class bits of the character at `i`, or `None` at the end.
    #[inline(always)]
    pub(super) fn class_of(&self, i: usize) -> Option<u8> {
        (i < self.bytes.len()).then(|| self.class_at(i).0)
    }

    /// Skips characters whose class bits satisfy `keep`, from `i`; returns
    /// where the run ends. ASCII bytes take a table lookup each, without
    /// decoding.
    #[inline(always)]
    pub(super) fn skip(&self, mut i: usize, keep: impl Fn(u8) -> bool) -> usize {
        let bytes = self.bytes;
        while i < bytes.len() {
            let b = bytes[i];
            if b < 0x80 {
                if !keep(self.classes.ascii[b as usize]) {
                    break;
                }
                i += 1;
            } else {
                let (cp, len) = decode(bytes, i);
                if !keep(self.classes.of(cp)) {
                    break;
                }
                i += len;
            }
        }
        i
    }

    /// Skips characters that have any of the bits in `mask`. Runs of ASCII
    /// letters or digits, the bulk of prose, go eight bytes at a time.
    #[inline(always)]
    pub(super) fn skip_any(&self, mut i: usize, mask: u8) -> usize {
        if let Some(range) = AsciiRange::of(mask) {
            match self.bytes.get(i) {
                Some(&b) if b < 0x80 && self.classes.ascii[b as usize] & mask == 0 => return i,
                _ => {}
            }
            while let Some(word) = self.bytes.get(i..i + 8) {
                let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
                let members = range.members(word);
                if members != AsciiRange::HIGH {
                    // Counting only at the stop keeps `i += 8` the loop's
                    // one dependency, so long runs stream.
                    let stop_bit = (!members & AsciiRange::HIGH).trailing_zeros();
                    i += (stop_bit / 8) as usize;
                    if (word >> stop_bit) & 1 == 0 {
                        // An ASCII non-member ends the run: known without
                        // another load, which would wait on `i`.
                        return i;
                    }
                    break;
                }
                i += 8;
            }
        }
        // The rest: a stop, a non-ASCII character, or the last few bytes.
        self.skip(i, |c| c & mask != 0)
    }

    /// Skips `[^\s\p{L}\p{N}]` characters.
    #[inline(always)]
    pub(super) fn skip_other(&self, i: usize) -> usize {
        self.skip(i, |c| c & WORDISH == 0)
    }

    /// Skips the bytes in `set` (ASCII only).
    #[inline(always)]
    pub(super) fn skip_bytes(&self, mut i: usize, set: &[u8]) -> usize {
        while i < self.bytes.len() && set.contains(&self.bytes[i]) {
            i += 1;
        }
        i
    }

    /// Up to three `\p{N}` characters from `i`, the first known to be one
    /// (`\p{N}{1,3}`).
    #[inline(always)]
    pub(super) fn up_to_three_numbers(&self, i: usize, first_len: usize) -> usize {
        let mut end = i + first_len;
        for _ in 0..2 {
            if end >= self.bytes.len() {
                break;
            }
            let (c, len) = self.class_at(end);
            if c & NUMBER == 0 {
                break;
            }
            end += len;
        }
        end
    }

    /// The whitespace run starting at `i` (a whitespace character).
    #[inline]
    pub(super) fn space_run(&self, i: usize) -> SpaceRun {
        let bytes = self.bytes;
        let mut run = SpaceRun {
            end: i,
            last: i,
            after_newline: None,
        };
        while run.end < bytes.len() {
            let b = bytes[run.end];
            let len = if b < 0x80 {
                if self.classes.ascii[b as usize] & SPACE == 0 {
                    break;
                }
                if b == b'\r' || b == b'\n' {
                    run.after_newline = Some(run.end + 1);
                }
                1
            } else {
                let (cp, len) = decode(bytes, run.end);
                if self.classes.of(cp) & SPACE == 0 {
                    break;
                }
                len
            };
            run.last = run.end;
            run.end += len;
        }
        run
    }

    /// The end of an English contraction at `i`: an apostrophe, then `s`,
    /// `t`, `m`, `d`, `re`, `ve` or `ll`. With `fold`, the letters match as
    /// under `(?i)`, where Unicode simple case folding adds exactly one
    /// character to these: U+017F LATIN SMALL LETTER LONG S for `s` (the
    /// tests check this against `regex_syntax`).
    #[inline(always)]
    pub(super) fn contraction(&self, i: usize, fold: bool) -> Option<usize> {
        // Inline the common "no apostrophe here" answer; the rest is rare.
        if self.bytes.get(i) != Some(&b'\'') {
            return None;
        }
        self.contraction_after_apostrophe(i, fold)
    }

    #[inline(never)]
    fn contraction_after_apostrophe(&self, i: usize, fold: bool) -> Option<usize> {
        let bytes = self.bytes;
        let at = |k: usize| {
            let b = bytes.get(i + k).copied().unwrap_or(0);
            if fold {
                b.to_ascii_lowercase()
            } else {
                b
            }
        };
        match at(1) {
            b's' | b't' | b'm' | b'd' => Some(i + 2),
            b'r' | b'v' if at(2) == b'e' => Some(i + 3),
            b'l' if at(2) == b'l' => Some(i + 3),
            0xC5 if fold && at(2) == 0xBF => Some(i + 3),
            _ => None,
        }
    }
}

/// Runs a splitter: `next(text, i)` is the end of the match that starts at
/// byte `i`; matches follow each other from the start to the end of the text.
#[inline(always)]
pub(super) fn drive(
    text: &str,
    piece: &mut dyn FnMut(usize, usize),
    next: impl Fn(&Text, usize) -> usize,
) {
    let text = Text::new(text);
    let mut start = 0;
    while start < text.len() {
        let end = next(&text, start);
        // Every character starts a match; a stuck loop would be a bug.
        assert!(end > start, "empty piece at byte {start}");
        piece(start, end);
        start = end;
    }
}
