//! Byte-level BPE tokenization (Hugging Face `tokenizer.json` and tiktoken
//! compatible), training, and multi-word tokens.

pub mod added;
pub mod bpe;
pub mod byte_level;
pub mod error;
pub mod hf_json;
pub mod multiword;
pub mod oniguruma;
pub mod pretokenize;
pub mod tiktoken_file;
pub mod tokenizer;
pub mod train;
pub mod vocab;

pub use added::{AddedToken, SpecialPolicy};
pub use bpe::MergeRule;
pub use error::TokenizeError;
pub use pretokenize::{PreTokenizer, Preset};
pub use tokenizer::{Splitting, Template, Tokenizer};
