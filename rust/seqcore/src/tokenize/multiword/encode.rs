//! Encoding and decoding with multi-word tokens.

use super::MultiWord;
use crate::tokenize::added::{Segment, SpecialPolicy};
use crate::tokenize::error::TokenizeError;
use crate::tokenize::tokenizer::Tokenizer;
use crate::tokenize::vocab::TokenKind;

impl MultiWord {
    /// Encodes with n-grams merged first; `base` must be the tokenizer this
    /// vocabulary was built on.
    pub fn encode(
        &self,
        base: &Tokenizer,
        text: &str,
        policy: &SpecialPolicy,
        add_special_tokens: bool,
    ) -> Result<Vec<u32>, TokenizeError> {
        let mut out = Vec::with_capacity(text.len() / 4 + 4);
        self.encode_into(base, text, policy, add_special_tokens, &mut out)?;
        Ok(out)
    }

    /// [`Self::encode`], appending to `out`.
    pub fn encode_into(
        &self,
        base: &Tokenizer,
        text: &str,
        policy: &SpecialPolicy,
        add_special_tokens: bool,
        out: &mut Vec<u32>,
    ) -> Result<(), TokenizeError> {
        if add_special_tokens {
            out.extend_from_slice(&base.template().prefix);
        }
        let mut segments = Vec::new();
        base.segments(text, policy, &mut segments)?;
        for segment in segments {
            match segment {
                Segment::Token(id, ..) => out.push(id),
                Segment::Text(start, end) => {
                    self.encode_segment_blocks(base, &text[start..end], out)?
                }
            }
        }
        if add_special_tokens {
            out.extend_from_slice(&base.template().suffix);
        }
        Ok(())
    }

    /// The bytes of `ids` (base ids and n-gram ids).
    pub fn decode_bytes(
        &self,
        base: &Tokenizer,
        ids: &[u32],
        skip_special: bool,
    ) -> Result<Vec<u8>, TokenizeError> {
        let vocab = base.vocab();
        let mut out = Vec::with_capacity(ids.len() * 6);
        for &id in ids {
            if id >= self.base_vocab_size {
                match self.bytes.get((id - self.base_vocab_size) as usize) {
                    Some(b) => out.extend_from_slice(b),
                    None => {
                        return Err(TokenizeError::IdOutOfRange {
                            id: u64::from(id),
                            vocab_size: self.vocab_size(),
                        })
                    }
                }
            } else {
                match vocab.kind(id) {
                    TokenKind::Absent => {
                        return Err(TokenizeError::IdOutOfRange {
                            id: u64::from(id),
                            vocab_size: self.vocab_size(),
                        })
                    }
                    TokenKind::Special if skip_special => {}
                    _ => out.extend_from_slice(vocab.bytes(id).unwrap_or_default()),
                }
            }
        }
        Ok(out)
    }
}
