//! The o200k_base pattern, by hand. With `P = [^\r\n\p{L}\p{N}]`,
//! `U = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`, `W = [\p{Ll}\p{Lm}\p{Lo}\p{M}]` and
//! `C = (?i:'s|'t|'re|'ve|'m|'ll|'d)`:
//!
//! ```text
//! P?U*W+C? | P?U+W*C? | \p{N}{1,3} | ?[^\s\p{L}\p{N}]+[\r\n/]* | \s*[\r\n]+ | \s+(?!\S) | \s+
//! ```
//!
//! Every character starts some alternative, so the matches tile the text.
//! The subtle part is the first alternative under backtracking: `U` and `W`
//! overlap (modifier and other letters, and combining marks, are in both),
//! and marks are in `P` too. A regex engine tries, in order: `P` taken, then
//! not; for each, `U*` from longest to shortest, each time needing `W+` to
//! follow. That comes down to: take the longest run of `U`; if a `W`
//! character follows, the word extends through the `W` run after it;
//! otherwise `U*` gives back up to the last character of the run that is
//! also in `W`, which `W+` then takes alone. One scan of the run does it,
//! so the whole splitter is linear: a run is rescanned at most a constant
//! number of times (a failed prefixed try, then the try without).

use super::classes::{drive, Text, LETTER, LOWER, NEWLINE, NUMBER, UPPER, WORDISH};

/// Calls `piece(start, end)` for each match of the o200k pattern in `text`.
pub(super) fn split(text: &str, piece: &mut dyn FnMut(usize, usize)) {
    drive(text, piece, next);
}

/// The end of the match starting at `i` (`i < len`).
#[inline(always)]
fn next(text: &Text, i: usize) -> usize {
    let b = text.bytes[i];
    let (class, len) = text.class_at(i);
    // `P`: may prefix a word.
    let prefix = class & (LETTER | NUMBER | NEWLINE) == 0;
    if let Some(end) = word(text, i, class, len, prefix) {
        return text.contraction(end, true).unwrap_or(end);
    }
    if class & NUMBER != 0 {
        return text.up_to_three_numbers(i, len);
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n/]*`, with the space, then without.
    if b == b' ' && i + 1 < text.len() {
        let (after, after_len) = text.class_at(i + 1);
        if after & WORDISH == 0 {
            let end = text.skip_other(i + 1 + after_len);
            return text.skip_bytes(end, b"\r\n/");
        }
    }
    if class & WORDISH == 0 {
        let end = text.skip_other(i + len);
        return text.skip_bytes(end, b"\r\n/");
    }
    space(text, i)
}

/// `\s*[\r\n]+|\s+(?!\S)|\s+` at the whitespace character at `i` (Llama 3's
/// whitespace alternatives too).
#[inline(always)]
pub(super) fn space(text: &Text, i: usize) -> usize {
    let run = text.space_run(i);
    if let Some(end) = run.after_newline {
        // `\s*[\r\n]+`: backs off to the run's last newline.
        end
    } else if run.end == text.len() || run.last == i {
        // `\s+(?!\S)` at the end of the text, or `\s+` of one character.
        run.end
    } else {
        // `\s+(?!\S)`: leaves the last character for the next match.
        run.last
    }
}

/// The first two alternatives without their contraction: where
/// `P?U*W+`, else `P?U+W*`, starting at `i` ends, trying the prefix
/// (the character at `i`, of `class` and `len` bytes) first, as the greedy
/// `?` does.
#[inline(always)]
fn word(text: &Text, i: usize, class: u8, len: usize, prefix: bool) -> Option<usize> {
    if prefix {
        if let Some(end) = lower_word(text, i + len) {
            return Some(end);
        }
    }
    if class & (UPPER | LOWER) != 0 {
        if let Some(end) = lower_word(text, i) {
            return Some(end);
        }
    }
    if prefix {
        if let Some(end) = upper_word(text, i + len) {
            return Some(end);
        }
    }
    upper_word(text, i)
}

/// `U*W+` at `p`: the longest run of `U`; then the `W` run after it, if
/// any; else back off to just after the run's last `W` character.
#[inline(always)]
fn lower_word(text: &Text, p: usize) -> Option<usize> {
    let mut j = p;
    let mut after_last_lower = None;
    while j < text.len() {
        let (class, len) = text.class_at(j);
        if class & UPPER == 0 {
            if class & LOWER != 0 {
                return Some(text.skip_any(j + len, LOWER));
            }
            break;
        }
        j += len;
        if class & LOWER != 0 {
            after_last_lower = Some(j);
        }
    }
    after_last_lower
}

/// `U+W*` at `p`: greedy both ways, since nothing after them can fail.
#[inline(always)]
fn upper_word(text: &Text, p: usize) -> Option<usize> {
    match text.class_of(p) {
        Some(class) if class & UPPER != 0 => {
            let end = text.skip_any(p, UPPER);
            Some(text.skip_any(end, LOWER))
        }
        _ => None,
    }
}
