//! The GPT-2 pattern, by hand:
//!
//! ```text
//! 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//! ```
//!
//! Every character starts some alternative, so the matches tile the text and
//! each one starts where the last one ended. The alternatives are tried in
//! order (leftmost-first), and the only backtracking is `\s+(?!\S)` giving
//! back the last whitespace character of a run that a non-space follows;
//! that character then starts the next match (which is how " word" keeps its
//! space). Each byte is looked at a bounded number of times: linear time.

use super::classes::{drive, Text, LETTER, NUMBER, SPACE, WORDISH};

/// Calls `piece(start, end)` for each match of the GPT-2 pattern in `text`.
pub(super) fn split(text: &str, piece: &mut dyn FnMut(usize, usize)) {
    drive(text, piece, next);
}

/// The end of the match starting at `i` (`i < len`).
#[inline(always)]
fn next(text: &Text, i: usize) -> usize {
    let b = text.bytes[i];
    if b == b'\'' {
        if let Some(end) = text.contraction(i, false) {
            return end;
        }
    }
    if b == b' ' {
        // ` ?X+`: the space joins a run of the class of the character after it.
        if i + 1 < text.len() {
            let (after, len) = text.class_at(i + 1);
            if let Some(end) = run(text, i + 1 + len, after) {
                return end;
            }
        }
    }
    let (class, len) = text.class_at(i);
    if let Some(end) = run(text, i + len, class) {
        return end;
    }
    // `\s+(?!\S)`, else `\s+`: at the end of the text the whole run; before
    // a non-space, all but the last character if that leaves any.
    let run = text.space_run(i);
    if run.end == text.len() || run.last == i {
        run.end
    } else {
        run.last
    }
}

/// The end of `\p{L}+`, `\p{N}+` or `[^\s\p{L}\p{N}]+`, by `class`, the
/// class of the character that ends at `rest`; `None` for whitespace.
#[inline(always)]
fn run(text: &Text, rest: usize, class: u8) -> Option<usize> {
    if class & LETTER != 0 {
        Some(text.skip_any(rest, LETTER))
    } else if class & NUMBER != 0 {
        Some(text.skip_any(rest, NUMBER))
    } else if class & SPACE == 0 {
        debug_assert_eq!(class & WORDISH, 0);
        Some(text.skip_other(rest))
    } else {
        None
    }
}
