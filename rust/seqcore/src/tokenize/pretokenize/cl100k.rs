//! The cl100k_base pattern, by hand:
//!
//! ```text
//! '(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+
//! | ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s
//! ```
//!
//! Every character starts some alternative (the last one is a bare `\s`),
//! so the matches tile the text. The possessive quantifiers change nothing
//! here: each one is followed by a class disjoint from its own, so giving
//! characters back could never help. What does backtrack is whitespace:
//! `\s*[\r\n]` ends after the run's last newline, and `\s+(?!\S)` gives back
//! the run's last character when a non-space follows. `$` (no multiline
//! flag) is the end of the text only. Linear time: a whitespace run is
//! scanned at most twice, everything else once.
//!
//! Llama 3's spelling differs in the whitespace alternatives only (see
//! `llama3.rs`), so the splitter takes those as a parameter.

use super::classes::{drive, Text, LETTER, NEWLINE, NUMBER, WORDISH};

/// Calls `piece(start, end)` for each match of the cl100k pattern in `text`.
pub(super) fn split(text: &str, piece: &mut dyn FnMut(usize, usize)) {
    split_with(text, piece, space);
}

/// The cl100k splitter with other whitespace alternatives: `space(text, i)`
/// is the end of the match at `i`, a whitespace character that starts no
/// letter or symbol piece. It must be past `i`.
#[inline(always)]
pub(super) fn split_with(
    text: &str,
    piece: &mut dyn FnMut(usize, usize),
    space: impl Fn(&Text, usize) -> usize,
) {
    drive(text, piece, |text, start| {
        next(text, start).unwrap_or_else(|| space(text, start))
    });
}

/// The end of the match starting at `i` (`i < len`) by the alternatives
/// before the whitespace ones; `None` leaves it to those (the character at
/// `i` is then whitespace).
#[inline(always)]
fn next(text: &Text, i: usize) -> Option<usize> {
    let b = text.bytes[i];
    if b == b'\'' {
        if let Some(end) = text.contraction(i, true) {
            return Some(end);
        }
    }
    let (class, len) = text.class_at(i);
    if class & LETTER != 0 {
        return Some(text.skip_any(i + len, LETTER));
    }
    if class & NUMBER != 0 {
        return Some(text.up_to_three_numbers(i, len));
    }
    // Here the character is neither a letter nor a number.
    if class & NEWLINE == 0 && i + len < text.len() {
        let (after, after_len) = text.class_at(i + len);
        // `[^\r\n\p{L}\p{N}]?+\p{L}++` with its one-character prefix.
        if after & LETTER != 0 {
            return Some(text.skip_any(i + len + after_len, LETTER));
        }
        // ` ?[^\s\p{L}\p{N}]++[\r\n]*+` with its space.
        if b == b' ' && after & WORDISH == 0 {
            let end = text.skip_other(i + 1 + after_len);
            return Some(text.skip_bytes(end, b"\r\n"));
        }
    }
    // ` ?[^\s\p{L}\p{N}]++[\r\n]*+` without the space.
    if class & WORDISH == 0 {
        let end = text.skip_other(i + len);
        return Some(text.skip_bytes(end, b"\r\n"));
    }
    None
}

/// `\s++$|\s*[\r\n]|\s+(?!\S)|\s` at the whitespace character at `i`.
#[inline(always)]
fn space(text: &Text, i: usize) -> usize {
    let run = text.space_run(i);
    if run.end == text.len() {
        // `\s++$`
        run.end
    } else if let Some(end) = run.after_newline {
        // `\s*[\r\n]`: backs off to the run's last newline.
        end
    } else if run.last > i {
        // `\s+(?!\S)`: leaves the last character for the next match.
        run.last
    } else {
        // `\s`
        run.end
    }
}
