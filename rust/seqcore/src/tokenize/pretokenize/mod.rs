//! Pre-tokenization: splitting text into pieces before byte-pair merging.
//!
//! Four presets (GPT-2, cl100k, o200k, Llama 3) have hand-written splitters that
//! give exactly the pieces of their regular expressions; any other pattern
//! runs on the `regex` crate (linear time) when it compiles there, and on
//! `fancy-regex` (backtracking, for look-around) otherwise.

use crate::tokenize::error::TokenizeError;

mod cl100k;
mod classes;
mod gpt2;
mod llama3;
mod o200k;
#[cfg(test)]
mod tests;

/// The named pre-tokenization patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    /// GPT-2 / RoBERTa (the pattern of Hugging Face's `ByteLevel` pre-tokenizer).
    Gpt2,
    /// cl100k_base (GPT-3.5/4).
    Cl100k,
    /// o200k_base (GPT-4o).
    O200k,
    /// Llama 3: cl100k as first published, which splits whitespace that
    /// ends the text differently (see [`Preset::recognize`]).
    Llama3,
}

/// The GPT-2 pattern as Hugging Face's `ByteLevel` pre-tokenizer spells it.
pub const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// cl100k_base's pattern as tiktoken spells it.
pub const CL100K_PATTERN: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";

/// o200k_base's pattern as tiktoken spells it.
pub const O200K_PATTERN: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|\p{N}{1,3}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"|\s*[\r\n]+",
    r"|\s+(?!\S)",
    r"|\s+",
);

/// Llama 3's pattern as its `tokenizer.json` spells it (cl100k's original
/// spelling, before tiktoken made it possessive and added `\s++$`).
pub const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// GPT-2's pattern as tiktoken spells it (r50k_base, p50k_base): the same
/// pieces as [`GPT2_PATTERN`] (the differential tests check this).
pub const GPT2_PATTERN_TIKTOKEN: &str =
    r"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s";

/// GPT-2's pattern as OpenAI's original release spells it: the same pieces
/// as [`GPT2_PATTERN`] (the differential tests check this).
pub const GPT2_PATTERN_ORIGINAL: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?[\p{L}]+| ?[\p{N}]+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// cl100k's pattern spelled so that Oniguruma (Hugging Face) reads it the
/// same way: Oniguruma takes `\p{N}{1,3}+` as "one to three digits, one or
/// more times" rather than as a possessive quantifier. The `+` changes
/// nothing in the regex crate, since nothing follows it in its alternative.
pub const CL100K_PATTERN_PORTABLE: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";

impl Preset {
    /// The pattern to write into a file other engines read (Hugging Face's
    /// Oniguruma): the canonical one, except cl100k's.
    pub fn portable_pattern(self) -> &'static str {
        match self {
            Preset::Cl100k => CL100K_PATTERN_PORTABLE,
            other => other.pattern(),
        }
    }

    /// Every preset.
    pub const ALL: [Preset; 4] = [Preset::Gpt2, Preset::Cl100k, Preset::O200k, Preset::Llama3];

    /// The canonical pattern string (what a saved tokenizer file holds).
    pub fn pattern(self) -> &'static str {
        match self {
            Preset::Gpt2 => GPT2_PATTERN,
            Preset::Cl100k => CL100K_PATTERN,
            Preset::O200k => O200K_PATTERN,
            Preset::Llama3 => LLAMA3_PATTERN,
        }
    }

    /// The preset's name: `"gpt2"`, `"cl100k"`, `"o200k"` or `"llama3"`.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Gpt2 => "gpt2",
            Preset::Cl100k => "cl100k",
            Preset::O200k => "o200k",
            Preset::Llama3 => "llama3",
        }
    }

    /// The preset with this name, if any.
    pub fn from_name(name: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The preset whose regex is exactly equivalent to `pattern`, if any
    /// (several spellings of the same pattern are in circulation).
    ///
    /// Llama 3's spelling of cl100k is its own preset, not cl100k: it ends
    /// with `\s*[\r\n]+` where cl100k has `\s++$|\s*[\r\n]`, so whitespace
    /// that ends the text splits differently ("\n " is one piece under
    /// cl100k, two under Llama 3's).
    pub fn recognize(pattern: &str) -> Option<Preset> {
        match pattern {
            GPT2_PATTERN_TIKTOKEN | GPT2_PATTERN_ORIGINAL => Some(Preset::Gpt2),
            CL100K_PATTERN_PORTABLE => Some(Preset::Cl100k),
            _ => Preset::ALL.into_iter().find(|p| p.pattern() == pattern),
        }
    }

    /// Calls `piece(start, end)` for each match of the preset's pattern in
    /// `text`, by the hand-written splitter. The matches tile the text.
    fn split(self, text: &str, piece: &mut dyn FnMut(usize, usize)) {
        match self {
            Preset::Gpt2 => gpt2::split(text, piece),
            Preset::Cl100k => cl100k::split(text, piece),
            Preset::O200k => o200k::split(text, piece),
            Preset::Llama3 => llama3::split(text, piece),
        }
    }
}

#[derive(Debug, Clone)]
enum Engine {
    /// A hand-written splitter.
    Preset(Preset),
    /// The `regex` crate: linear time in the text.
    Linear(regex::Regex),
    /// `fancy-regex`: backtracking, needed for look-around.
    Backtracking(fancy_regex::Regex),
}

/// Splits text into the pieces that byte-pair merging then works on.
#[derive(Debug, Clone)]
pub struct PreTokenizer {
    engine: Engine,
    pattern: String,
}

impl PreTokenizer {
    /// A preset's pre-tokenizer.
    pub fn preset(preset: Preset) -> Self {
        // Build the character tables now (under a millisecond) rather than
        // on the first split.
        classes::classes();
        PreTokenizer {
            engine: Engine::Preset(preset),
            pattern: preset.pattern().to_string(),
        }
    }

    /// A preset by name (`"gpt2"`, `"cl100k"`, `"o200k"`, `"llama3"`) or any
    /// regex. A bare lowercase word that names no preset is refused rather
    /// than taken as a regex that matches that word (a misspelt preset).
    pub fn from_name_or_pattern(name_or_pattern: &str) -> Result<Self, TokenizeError> {
        if let Some(preset) = Preset::from_name(name_or_pattern) {
            return Ok(PreTokenizer::preset(preset));
        }
        // "GPT2" would otherwise compile as a regex matching those letters.
        if let Some(preset) = Preset::from_name(&name_or_pattern.to_ascii_lowercase()) {
            return Err(TokenizeError::Pattern(format!(
                "{name_or_pattern:?} is not a preset: preset names are lowercase ({:?})",
                preset.name()
            )));
        }
        let looks_like_a_name = !name_or_pattern.is_empty()
            && name_or_pattern
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if looks_like_a_name {
            let names: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
            return Err(TokenizeError::Pattern(format!(
                "{name_or_pattern:?} is not a preset (expected one of {names:?}, or a regex)"
            )));
        }
        PreTokenizer::new(name_or_pattern)
    }

    /// A pre-tokenizer for any pattern (a preset's spelling gets its fast path).
    pub fn new(pattern: &str) -> Result<Self, TokenizeError> {
        if let Some(preset) = Preset::recognize(pattern) {
            classes::classes();
            return Ok(PreTokenizer {
                engine: Engine::Preset(preset),
                pattern: pattern.to_string(),
            });
        }
        let engine = match regex::Regex::new(pattern) {
            Ok(re) => Engine::Linear(re),
            Err(_) => Engine::Backtracking(
                fancy_regex::Regex::new(pattern)
                    .map_err(|e| TokenizeError::Pattern(format!("{pattern:?}: {e}")))?,
            ),
        };
        Ok(PreTokenizer {
            engine,
            pattern: pattern.to_string(),
        })
    }

    /// The pattern this pre-tokenizer splits by.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The preset whose fast path runs, if any.
    pub fn preset_kind(&self) -> Option<Preset> {
        match self.engine {
            Engine::Preset(p) => Some(p),
            _ => None,
        }
    }

    /// Calls `piece(start, end)` for each piece of `text`, in order, with byte
    /// offsets. The pieces tile the text: text between two matches becomes a
    /// piece of its own (Hugging Face's `Isolated` split behaviour), and
    /// empty matches are skipped.
    pub fn split(
        &self,
        text: &str,
        piece: &mut dyn FnMut(usize, usize),
    ) -> Result<(), TokenizeError> {
        match &self.engine {
            Engine::Preset(p) => {
                p.split(text, piece);
                Ok(())
            }
            Engine::Linear(re) => {
                let mut last = 0;
                for m in re.find_iter(text) {
                    emit(last, m.start(), m.end(), piece);
                    last = last.max(m.end());
                }
                if last < text.len() {
                    piece(last, text.len());
                }
                Ok(())
            }
            Engine::Backtracking(re) => split_backtracking(re, text, piece),
        }
    }
}

fn split_backtracking(
    re: &fancy_regex::Regex,
    text: &str,
    piece: &mut dyn FnMut(usize, usize),
) -> Result<(), TokenizeError> {
    let mut last = 0;
    for m in re.find_iter(text) {
        let m = m.map_err(|e| TokenizeError::Pattern(e.to_string()))?;
        emit(last, m.start(), m.end(), piece);
        last = last.max(m.end());
    }
    if last < text.len() {
        piece(last, text.len());
    }
    Ok(())
}

/// Emits the gap before a match, then the match itself (if not empty).
fn emit(last: usize, start: usize, end: usize, piece: &mut dyn FnMut(usize, usize)) {
    if start > last {
        piece(last, start);
    }
    if end > start {
        piece(start, end);
    }
}
