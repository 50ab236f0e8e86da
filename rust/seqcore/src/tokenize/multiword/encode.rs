//! Encoding and decoding with multi-word tokens.

use super::id_pairs;
use super::{
    pack, piece_hash, MultiWord, MAX_ORDER, NONE, STARTS_BY_BYTES, STARTS_BY_IDS, WINDOW, WORD,
};
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
                    if self.orders == [2] {
                        self.encode_segment_bigrams(base, &text[start..end], out)?
                    } else {
                        self.encode_segment(base, &text[start..end], out)?
                    }
                }
            }
        }
        if add_special_tokens {
            out.extend_from_slice(&base.template().suffix);
        }
        Ok(())
    }

    /// Encodes one run of text, streaming its pieces through a window of
    /// at most [`WINDOW`] pieces (plus look-ahead), so a long text needs no
    /// piece arrays of its own size.
    pub(super) fn encode_segment(
        &self,
        base: &Tokenizer,
        segment: &str,
        out: &mut Vec<u32>,
    ) -> Result<(), TokenizeError> {
        let text = base.prefixed(segment);
        let seg = text.as_bytes();
        let bpe = base.bpe();
        let lookahead = self.orders.first().map_or(0, |&n| n - 1);
        let mut pieces: Vec<(usize, usize)> = Vec::with_capacity(WINDOW + MAX_ORDER);
        let mut whole: Vec<u32> = Vec::with_capacity(WINDOW + MAX_ORDER);
        base.split_pieces(&text, &mut |a, b| {
            pieces.push((a, b));
            // The piece's id when it is one token: base encoding needs it anyway.
            whole.push(bpe.whole_piece(&seg[a..b]).unwrap_or(NONE));
            if pieces.len() >= WINDOW + lookahead {
                let done = self.encode_window(base, seg, &pieces, &whole, WINDOW, out);
                pieces.drain(..done);
                whole.drain(..done);
            }
        })?;
        self.encode_window(base, seg, &pieces, &whole, pieces.len(), out);
        Ok(())
    }

    /// Encodes the pieces at positions before `limit` (n-grams starting
    /// there may reach past it); returns the first position not encoded.
    fn encode_window(
        &self,
        base: &Tokenizer,
        seg: &[u8],
        pieces: &[(usize, usize)],
        whole: &[u32],
        limit: usize,
        out: &mut Vec<u32>,
    ) -> usize {
        let bpe = base.bpe();
        let mut i = 0;
        'pieces: while i < limit {
            let (a, b) = pieces[i];
            let first = whole[i];
            let flags = if first == NONE {
                0
            } else {
                self.flags[first as usize]
            };
            let fast_start =
                flags & STARTS_BY_IDS != 0 && i + 1 < pieces.len() && whole[i + 1] != NONE && {
                    let bit = id_pairs::filter_bit(first, whole[i + 1]);
                    self.pair_bits[bit / 32] & (1 << (bit % 32)) != 0
                };
            let slow_start = match first {
                NONE => {
                    !self.first_hashes.is_empty()
                        && self.first_hashes.contains(&piece_hash(&seg[a..b]))
                }
                _ => flags & STARTS_BY_BYTES != 0,
            };
            if fast_start || slow_start {
                for &n in &self.orders {
                    if i + n > pieces.len() {
                        continue;
                    }
                    let window = &whole[i..i + n];
                    if fast_start
                        && n <= 4
                        && window
                            .iter()
                            .all(|&w| w != NONE && self.flags[w as usize] & WORD != 0)
                    {
                        let found = match *window {
                            [first, second] => self.bigrams.get(first, second),
                            _ => self.by_ids[n - 3].get(&pack(window)).copied(),
                        };
                        if let Some(id) = found {
                            out.push(id);
                            i += n;
                            continue 'pieces;
                        }
                    }
                    if slow_start {
                        let end = pieces[i + n - 1].1;
                        if let Some((id, lengths)) = self.by_bytes.get(&seg[a..end]) {
                            // The same bytes must be the same n words here:
                            // same piece boundaries, not just the same bytes.
                            let id = *id;
                            let same_words = lengths.len() == n
                                && pieces[i..i + n]
                                    .iter()
                                    .zip(lengths.iter())
                                    .all(|(&(s, e), &l)| e - s == l);
                            if same_words {
                                out.push(id);
                                i += n;
                                continue 'pieces;
                            }
                        }
                    }
                }
            }
            match first {
                NONE => bpe.merge_piece(&seg[a..b], out),
                id => out.push(id),
            }
            i += 1;
        }
        i
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
