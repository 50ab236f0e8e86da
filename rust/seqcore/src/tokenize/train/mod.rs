//! Learning byte-level BPE merges from word counts.
//!
//! Training runs in two stages:
//!
//! 1. [`WordCounts`] counts the pre-tokenized pieces ("words") of a corpus.
//!    Counts are mergeable, so shards can be counted separately (in threads,
//!    or in other processes via [`WordCounts::to_bytes`]) and then combined.
//! 2. [`train`] learns merges from the counts: it repeatedly merges the most
//!    frequent adjacent pair of tokens, updating only the words that contain
//!    it (see `learn.rs` for the data structures).
//!
//! The result is deterministic: the same counts give the same merges however
//! they were inserted, whatever the thread count.
//!
//! ```
//! use seqcore::tokenize::train::{train, TrainerConfig, WordCounts};
//! use seqcore::tokenize::{PreTokenizer, Preset};
//!
//! let mut counts = WordCounts::new();
//! counts
//!     .add_text(&PreTokenizer::preset(Preset::Gpt2), "low lower lowest")
//!     .unwrap();
//! let config = TrainerConfig {
//!     vocab_size: 256 + 2 + 1,
//!     min_frequency: 2,
//!     special_tokens: vec!["<|endoftext|>".to_string()],
//!     max_token_length: None,
//! };
//! let trained = train(&counts, &config, &mut |_done, _wanted| true).unwrap();
//! // ("l", "o") and ("o", "w") are both seen 3 times; the tie goes to the
//! // smaller bytes. Then ("lo", "w") is seen 3 times.
//! assert_eq!(trained.tokens[256], b"lo");
//! assert_eq!(trained.tokens[257], b"low");
//! assert_eq!(trained.merges, vec![(b'l' as u32, b'o' as u32), (256, b'w' as u32)]);
//! assert_eq!(trained.special_ids, vec![258]);
//! ```

mod counts;
mod heap;
mod learn;
mod wire;
mod word;

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;

pub use counts::WordCounts;

use rustc_hash::FxHashSet;

use crate::tokenize::byte_level;
use crate::tokenize::error::TokenizeError;

/// What to learn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainerConfig {
    /// The size of the whole vocabulary: the 256 byte tokens, the learned
    /// merges and the special tokens. Training stops early (with a smaller
    /// vocabulary) when no pair is frequent enough.
    pub vocab_size: usize,
    /// Pairs seen fewer times than this are never merged (0 counts as 1).
    pub min_frequency: u64,
    /// Tokens added after the learned ones, in this order. Their bytes are
    /// their UTF-8 text; no learned token gets the same bytes as a special
    /// token. They must be distinct and non-empty.
    pub special_tokens: Vec<String>,
    /// When set, no merged token is longer than this many bytes (at least 1;
    /// 1 means nothing is merged).
    pub max_token_length: Option<usize>,
}

impl Default for TrainerConfig {
    /// A 32,000-token vocabulary, pairs seen at least twice, no specials.
    fn default() -> Self {
        TrainerConfig {
            vocab_size: 32_000,
            min_frequency: 2,
            special_tokens: Vec::new(),
            max_token_length: None,
        }
    }
}

/// A trained vocabulary.
///
/// `tokens[id]` is each token's bytes. Ids `0..256` are the single bytes
/// (byte value = id); then one token per merge, in the order learned
/// (`merges[k] = (left, right)` creates token `256 + k`, whose bytes are the
/// left token's bytes followed by the right's); then the special tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trained {
    /// The bytes of every token, indexed by id.
    pub tokens: Vec<Vec<u8>>,
    /// The merges in rank order: `merges[k]` creates token `256 + k`.
    pub merges: Vec<(u32, u32)>,
    /// The ids of the special tokens, in the order of the configuration.
    pub special_ids: Vec<u32>,
}

/// Learns byte-level BPE merges from `counts`.
///
/// Each step merges the adjacent pair of tokens with the highest count,
/// where a pair's count is the sum over words of the word's count times the
/// number of times merging would replace the pair in that word. Merging
/// works left to right without overlaps, so a word `"aaaa"` counts the pair
/// `("a", "a")` twice, not three times (Hugging Face's trainer counts every
/// adjacent position, three here; the two agree on every pair of different
/// tokens). Ties go to the pair whose (left token bytes, right token bytes)
/// is smallest lexicographically, an order that depends on nothing but the
/// bytes. Pairs whose merged bytes already name a token (or a special
/// token) are skipped, so every token's bytes are distinct.
///
/// Training stops when the vocabulary reaches `vocab_size`, or when no pair
/// is seen at least `min_frequency` times.
///
/// `progress(merges_done, merges_wanted)` is called before the first merge,
/// about every 1% of the merges and at the end; when it returns `false`,
/// training stops with [`TokenizeError::Interrupted`].
pub fn train(
    counts: &WordCounts,
    config: &TrainerConfig,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Trained, TokenizeError> {
    let mut specials = FxHashSet::default();
    for special in &config.special_tokens {
        if special.is_empty() {
            return Err(TokenizeError::Invalid(
                "special tokens must not be empty".to_string(),
            ));
        }
        if !specials.insert(special.as_bytes()) {
            return Err(TokenizeError::Invalid(format!(
                "special token {special:?} is listed twice"
            )));
        }
    }
    // tokenizer.json writes a special token as its text and the other
    // tokens in byte-level spelling, so a special spelled like a learned
    // token would read back as that token: the bytes it spells are
    // reserved too. A byte token cannot be left out, so a special with a
    // single byte's bytes or spelling is refused.
    let spelled: Vec<Vec<u8>> = config
        .special_tokens
        .iter()
        .filter_map(|s| byte_level::decode_token(s))
        .collect();
    for special in &config.special_tokens {
        let spells_one_byte = byte_level::decode_token(special).is_some_and(|b| b.len() == 1);
        if special.len() == 1 || spells_one_byte {
            return Err(TokenizeError::Invalid(format!(
                "special token {special:?} has the bytes or the tokenizer.json spelling of \
                 a single byte, which is always a token of its own; choose a longer one"
            )));
        }
    }
    specials.extend(spelled.iter().map(|b| &b[..]));
    let fixed = 256 + config.special_tokens.len();
    if config.vocab_size < fixed {
        return Err(TokenizeError::Invalid(format!(
            "vocab_size {} is smaller than the 256 byte tokens plus {} special token(s) ({fixed})",
            config.vocab_size,
            config.special_tokens.len()
        )));
    }
    if config.max_token_length == Some(0) {
        return Err(TokenizeError::Invalid(
            "max_token_length must be at least 1".to_string(),
        ));
    }
    let wanted = config.vocab_size - fixed;
    let options = learn::Options {
        merges_wanted: wanted,
        min_count: config.min_frequency.max(1),
        max_token_length: config.max_token_length,
        reserved: specials,
    };
    let (mut tokens, merges) = learn::learn(counts, &options, progress)?;
    let mut special_ids = Vec::with_capacity(config.special_tokens.len());
    for special in &config.special_tokens {
        special_ids.push(tokens.len() as u32);
        tokens.push(special.as_bytes().to_vec());
    }
    Ok(Trained {
        tokens,
        merges,
        special_ids,
    })
}
