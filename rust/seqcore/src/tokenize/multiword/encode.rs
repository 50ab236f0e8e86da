//! Encoding and decoding with multi-word tokens.

use super::MultiWord;
use crate::tokenize::added::{Segment, SpecialPolicy};
use crate::tokenize::error::TokenizeError;
use crate::tokenize::tokenizer::{Offsets, Tokenizer};
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

    /// [`Self::encode`] and each token's byte span `[start, end)` in `text`.
    ///
    /// The n-gram ids stand in for runs of the base encoding (an n-gram
    /// covers whole pieces, and the base encodes piece by piece), so the
    /// spans come from [`Tokenizer::encode_with_offsets`]: a base token keeps
    /// its span, an n-gram spans the base tokens of its words.
    pub fn encode_with_offsets(
        &self,
        base: &Tokenizer,
        text: &str,
        policy: &SpecialPolicy,
        add_special_tokens: bool,
    ) -> Result<(Vec<u32>, Offsets), TokenizeError> {
        let ids = self.encode(base, text, policy, add_special_tokens)?;
        let (base_ids, base_spans) = base.encode_with_offsets(text, policy, add_special_tokens)?;
        let disagree = |at: usize| {
            TokenizeError::Invalid(format!(
                "internal error: the multi-word encoding and the base encoding disagree at \
                 token {at}; please report it with the text"
            ))
        };
        let vocab = base.vocab();
        let mut spans = Vec::with_capacity(ids.len());
        let mut k = 0;
        for (at, &id) in ids.iter().enumerate() {
            match id.checked_sub(self.base_vocab_size) {
                None => {
                    if base_ids.get(k) != Some(&id) {
                        return Err(disagree(at));
                    }
                    spans.push(base_spans[k]);
                    k += 1;
                }
                Some(ngram) => {
                    let want = self.bytes[ngram as usize].len();
                    let first = k;
                    let mut got = 0;
                    while got < want {
                        let Some(&b) = base_ids.get(k) else {
                            return Err(disagree(at));
                        };
                        got += vocab.bytes(b).map_or(0, <[u8]>::len);
                        k += 1;
                    }
                    if got != want || k == first {
                        return Err(disagree(at));
                    }
                    spans.push((base_spans[first].0, base_spans[k - 1].1));
                }
            }
        }
        if k != base_ids.len() {
            return Err(disagree(ids.len()));
        }
        Ok((ids, spans))
    }

    /// The base-token ids that make up token `id`: a base id itself, an
    /// n-gram's words each merged alone, as base encoding merges them in
    /// running text (so a base that adds a prefix space adds none here).
    pub fn pieces(&self, base: &Tokenizer, id: u32) -> Result<Vec<u32>, TokenizeError> {
        if id < self.base_vocab_size {
            base.check_ids(&[id])?;
            return Ok(vec![id]);
        }
        let words = self
            .ngrams
            .get((id - self.base_vocab_size) as usize)
            .ok_or(TokenizeError::IdOutOfRange {
                id: u64::from(id),
                vocab_size: self.vocab_size(),
            })?;
        let mut out = Vec::new();
        for word in words {
            base.bpe().encode_piece(word.as_bytes(), &mut out);
        }
        Ok(out)
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
