//! Byte-level BPE tokenization (Hugging Face `tokenizer.json` and tiktoken
//! compatible), training, and multi-word tokens.

pub mod error;
pub mod pretokenize;
pub mod train;

pub use error::TokenizeError;
pub use pretokenize::{PreTokenizer, Preset};
