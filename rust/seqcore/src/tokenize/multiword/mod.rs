//! Multi-word tokens (Gee et al. 2023, "Multi-word Tokenization for
//! Sequence Compression"): frequent runs of n words become one token each,
//! on top of an unchanged base vocabulary.
//!
//! A *word* is a pre-tokenized piece made of letters and digits, with an
//! optional leading space (" of"). An n-gram is n consecutive words inside
//! one text segment (never across an added or special token); its token's
//! bytes are the words' bytes joined, leading space included (" of the"),
//! which is where the saving comes from. Encoding merges n-grams greedily,
//! longest order first, left to right; everything else goes through the
//! base BPE unchanged, so decoding gives back the exact text.

use rustc_hash::FxHashSet;
use serde_json::{json, Value};

use crate::tokenize::error::TokenizeError;
use crate::tokenize::tokenizer::Tokenizer;

mod block_simd;
mod blocks;
mod counts;
mod encode;
mod hashed;
mod joined;
mod longer;

#[cfg(test)]
mod tests;

pub use counts::NgramCounts;

/// Multi-word files larger than this are refused before parsing.
pub const MAX_MULTIWORD_JSON_BYTES: u64 = 64 << 20;
/// The format name and version written into saved files.
pub const FORMAT: &str = "seqcore.multiword";
/// Version of the saved format.
pub const VERSION: u64 = 1;
/// The longest n-gram order supported.
pub const MAX_ORDER: usize = 8;
/// The longest word an n-gram may hold, in bytes (the tables keep
/// lengths in 16 bits).
pub const MAX_WORD_BYTES: usize = joined::LONGEST - 1;

/// Whether a piece is a word: letters and digits after an optional space.
pub fn is_word(piece: &[u8]) -> bool {
    let body = piece.strip_prefix(b" ").unwrap_or(piece);
    if body.is_empty() {
        return false;
    }
    if body.is_ascii() {
        return body.iter().all(u8::is_ascii_alphanumeric);
    }
    std::str::from_utf8(body).is_ok_and(|s| s.chars().all(char::is_alphanumeric))
}

/// The n-gram vocabulary and the tables that find n-grams while encoding.
#[derive(Debug, Clone)]
pub struct MultiWord {
    base_vocab_size: u32,
    /// The words of each n-gram; id = base_vocab_size + index.
    ngrams: Vec<Vec<String>>,
    /// Every bigram, keyed by its two words' bytes.
    joined: joined::Joined,
    /// Every n-gram of 3 or more words, keyed by a hash of its pieces.
    longer: longer::Longer,
    /// Orders present, longest first.
    orders: Vec<usize>,
    /// Joined bytes of each n-gram (for decoding).
    bytes: Vec<Vec<u8>>,
}

impl MultiWord {
    /// A multi-word vocabulary over a base of `base_vocab_size` ids; each
    /// n-gram is given as its words.
    pub fn new(base: &Tokenizer, ngrams: Vec<Vec<String>>) -> Result<Self, TokenizeError> {
        let base_vocab_size = base.vocab_size();
        let first_id = u32::try_from(base_vocab_size)
            .ok()
            .filter(|&b| (b as usize) + ngrams.len() < (1 << 31))
            .ok_or_else(|| TokenizeError::Invalid("vocabulary too large".into()))?;
        let mut seen = FxHashSet::default();
        let mut orders = Vec::new();
        let mut bytes = Vec::with_capacity(ngrams.len());
        for (i, words) in ngrams.iter().enumerate() {
            let at = || format!("ngrams[{i}]");
            if !(2..=MAX_ORDER).contains(&words.len()) {
                return Err(TokenizeError::format(
                    at(),
                    format!("an n-gram has 2 to {MAX_ORDER} words, got {}", words.len()),
                ));
            }
            if let Some(w) = words.iter().find(|w| !is_word(w.as_bytes())) {
                return Err(TokenizeError::format(
                    at(),
                    format!("{w:?} is not a word (letters and digits after an optional space)"),
                ));
            }
            if let Some(w) = words.iter().find(|w| w.len() > MAX_WORD_BYTES) {
                return Err(TokenizeError::format(
                    at(),
                    format!(
                        "a word of {} bytes; n-gram words are at most {MAX_WORD_BYTES} bytes",
                        w.len()
                    ),
                ));
            }
            let joined: Vec<u8> = words.concat().into_bytes();
            if !seen.insert(joined.clone()) {
                return Err(TokenizeError::format(
                    at(),
                    format!("{:?} appears twice", words.concat()),
                ));
            }
            if !orders.contains(&words.len()) {
                orders.push(words.len());
            }
            bytes.push(joined);
        }
        orders.sort_unstable_by(|a, b| b.cmp(a));
        let pairs: Vec<(&[u8], &[u8], u32)> = ngrams
            .iter()
            .enumerate()
            .filter_map(|(i, words)| match &words[..] {
                [first, second] => Some((first.as_bytes(), second.as_bytes(), first_id + i as u32)),
                _ => None,
            })
            .collect();
        let joined = joined::Joined::new(&pairs);
        let longer_ngrams: Vec<(Vec<&[u8]>, u32)> = ngrams
            .iter()
            .enumerate()
            .filter(|(_, words)| words.len() >= 3)
            .map(|(i, words)| {
                let words = words.iter().map(|w| w.as_bytes()).collect();
                (words, first_id + i as u32)
            })
            .collect();
        let longer = longer::Longer::new(&longer_ngrams);
        Ok(MultiWord {
            base_vocab_size: first_id,
            ngrams,
            joined,
            longer,
            orders,
            bytes,
        })
    }

    /// Learns the `top_k` most frequent n-grams of `texts`.
    pub fn train(
        base: &Tokenizer,
        texts: &[&str],
        orders: &[usize],
        top_k: usize,
        min_count: u64,
    ) -> Result<Self, TokenizeError> {
        let counts = NgramCounts::count(base, texts, orders)?;
        Self::from_counts(base, &counts, top_k, min_count)
    }

    /// The vocabulary of the `top_k` most frequent counted n-grams.
    pub fn from_counts(
        base: &Tokenizer,
        counts: &NgramCounts,
        top_k: usize,
        min_count: u64,
    ) -> Result<Self, TokenizeError> {
        let mut ngrams = Vec::new();
        let mut pieces = Vec::new();
        for (_, joined, _) in counts.top(top_k, min_count) {
            // Split the joined bytes back into words with the base's own
            // pre-tokenizer (they came from it, so they split the same way).
            let text =
                String::from_utf8(joined).map_err(|e| TokenizeError::Invalid(e.to_string()))?;
            let seg = base.pieces(&text, &mut pieces)?;
            let offset = seg.len() - text.len();
            ngrams.push(
                pieces
                    .iter()
                    .map(|&(a, b)| seg[a.max(offset)..b].to_string())
                    .collect(),
            );
        }
        Self::new(base, ngrams)
    }

    /// The first n-gram id (the base tokenizer's vocabulary size).
    pub fn base_vocab_size(&self) -> usize {
        self.base_vocab_size as usize
    }

    /// Base vocabulary plus n-grams.
    pub fn vocab_size(&self) -> usize {
        self.base_vocab_size as usize + self.ngrams.len()
    }

    /// The n-grams, as their words, in id order.
    pub fn ngrams(&self) -> &[Vec<String>] {
        &self.ngrams
    }

    /// The saved form: a JSON document with a format name and version.
    pub fn to_json(&self) -> String {
        json!({
            "format": FORMAT,
            "version": VERSION,
            "base_vocab_size": self.base_vocab_size,
            "ngrams": self.ngrams,
        })
        .to_string()
    }

    /// Reads the saved form, for a base tokenizer of `base_vocab_size` ids.
    pub fn from_json(data: &[u8], base: &Tokenizer) -> Result<Self, TokenizeError> {
        let base_vocab_size = base.vocab_size();
        TokenizeError::check_size("the multi-word file", data, MAX_MULTIWORD_JSON_BYTES)?;
        let root: Value = serde_json::from_slice(data).map_err(|e| {
            TokenizeError::format(
                format!("line {} column {}", e.line(), e.column()),
                format!("not valid JSON: {e}"),
            )
        })?;
        if root.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return Err(TokenizeError::format(
                "format",
                format!("expected {FORMAT:?}; not a multi-word file"),
            ));
        }
        match root.get("version") {
            Some(v) if v.as_u64() == Some(VERSION) => {}
            v => {
                return Err(TokenizeError::format(
                    "version",
                    format!("expected the number {VERSION}, got {}", json_shown(v)),
                ))
            }
        }
        match root.get("base_vocab_size") {
            Some(v) if v.as_u64() == Some(base_vocab_size as u64) => {}
            Some(v) if v.is_u64() => {
                return Err(TokenizeError::format(
                    "base_vocab_size",
                    format!(
                        "the file was made for a base vocabulary of {v} ids, this base tokenizer has {base_vocab_size}"
                    ),
                ))
            }
            v => {
                return Err(TokenizeError::format(
                    "base_vocab_size",
                    format!("expected a whole number of ids, got {}", json_shown(v)),
                ))
            }
        }
        let list = root
            .get("ngrams")
            .and_then(Value::as_array)
            .ok_or_else(|| TokenizeError::format("ngrams", "expected an array"))?;
        let mut ngrams = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let words = item
                .as_array()
                .and_then(|ws| {
                    ws.iter()
                        .map(|w| w.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                })
                .ok_or_else(|| {
                    TokenizeError::format(format!("ngrams[{i}]"), "expected an array of strings")
                })?;
            ngrams.push(words);
        }
        Self::new(base, ngrams)
    }
}

/// A JSON field's value for an error message ("nothing" when absent),
/// cut short if long.
fn json_shown(value: Option<&Value>) -> String {
    match value {
        None => "nothing".to_string(),
        Some(v) => {
            let text = v.to_string();
            match text.char_indices().nth(40) {
                Some((cut, _)) => format!("{}...", &text[..cut]),
                None => text,
            }
        }
    }
}
