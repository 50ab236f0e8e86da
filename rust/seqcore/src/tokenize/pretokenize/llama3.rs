//! Llama 3's pattern (its `tokenizer.json`, and the original spelling of
//! cl100k_base's), by hand:
//!
//! ```text
//! (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
//! | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//! ```
//!
//! Alternative by alternative against cl100k's
//! `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+`:
//!
//! - The contractions are the same set: the apostrophe has no other case,
//!   so folding it changes nothing, and no contraction is a prefix of
//!   another, so their order does not matter. `'ſ` (U+017F, which folds to
//!   `s`) is one, as in cl100k.
//! - `[^\r\n\p{L}\p{N}]?\p{L}+`: backtracking can only drop the prefix, and
//!   then `\p{L}+` would have to start on that non-letter, so it fails the
//!   same way the possessive `?+` does. The letter run ends the
//!   alternative, so greedy is the longest run either way.
//! - `\p{N}{1,3}` and ` ?[^\s\p{L}\p{N}]+[\r\n]*` likewise: dropping the
//!   space leaves `[^\s\p{L}\p{N}]+` to start on a space, and the quantified
//!   tails end the alternative, so nothing is ever given back.
//!
//! That leaves whitespace, which is where the two part ways: Llama 3 has
//! no `\s++$`, so a run that ends the text still stops after its last
//! newline ("\n " is one piece under cl100k, two here), and its
//! `\s*[\r\n]+|\s+(?!\S)|\s+` is o200k's, character for character: the
//! greedy `\s*` gives back up to the run's last newline, where `[\r\n]+`
//! takes that newline alone; without a newline, `\s+(?!\S)` takes the run
//! at the end of the text and all but its last character before a
//! non-space; `\s+` is left with a lone space before a non-space.
//!
//! So the splitter is cl100k's with o200k's whitespace alternatives, and
//! linear time like both.

use super::{cl100k, o200k};

/// Calls `piece(start, end)` for each match of the Llama 3 pattern in `text`.
pub(super) fn split(text: &str, piece: &mut dyn FnMut(usize, usize)) {
    cl100k::split_with(text, piece, o200k::space);
}
