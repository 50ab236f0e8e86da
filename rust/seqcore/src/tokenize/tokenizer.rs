//! The tokenizer: added tokens, then pre-tokenization, then byte-pair merging.

pub use crate::tokenize::added::Segment;
use crate::tokenize::added::{AddedToken, AddedTokens, SpecialPolicy};
use crate::tokenize::bpe::{piece_key, Bpe, MergeRule};
use crate::tokenize::byte_level;
use crate::tokenize::error::TokenizeError;
use crate::tokenize::pretokenize::PreTokenizer;
use crate::tokenize::vocab::{TokenKind, Vocab};

/// How text is cut before merging.
#[derive(Debug, Clone)]
pub struct Splitting {
    /// `None`: each text segment is one piece.
    pub pretokenizer: Option<PreTokenizer>,
    /// Prepend a space to each text segment that does not start with one
    /// (Hugging Face `ByteLevel(add_prefix_space=True)`, RoBERTa).
    pub add_prefix_space: bool,
}

/// Ids added around each encoded text when `add_special_tokens` is on
/// (a `tokenizer.json` post-processor such as Llama-3's `<|begin_of_text|>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Template {
    pub prefix: Vec<u32>,
    pub suffix: Vec<u32>,
}

/// A byte-level BPE tokenizer. Immutable once built, so one instance can
/// serve many threads.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    vocab: Vocab,
    bpe: Bpe,
    /// Hugging Face merges in rank order (empty for rank files).
    merges: Vec<(u32, u32)>,
    splitting: Splitting,
    added: AddedTokens,
    template: Template,
}

/// Where each token came from: byte offsets `[start, end)` into the input.
pub type Offsets = Vec<(usize, usize)>;

impl Tokenizer {
    /// Assembles a tokenizer. `tokens` are the mergeable tokens `(id, bytes)`;
    /// `merges` (Hugging Face rank order) is empty for `MergeRule::Ranks`.
    pub fn new(
        tokens: &[(u32, &[u8])],
        merges: Vec<(u32, u32)>,
        rule: MergeRule,
        splitting: Splitting,
        added: Vec<AddedToken>,
        template: Template,
    ) -> Result<Self, TokenizeError> {
        let bpe = Bpe::new(tokens, &merges, rule)?;
        // A special token that is also a vocabulary entry decodes the same
        // either way; it is marked special so skip_special_tokens sees it.
        let special: rustc_hash::FxHashSet<u32> =
            added.iter().filter(|t| t.special).map(|t| t.id).collect();
        let mut entries: Vec<(u32, &[u8], TokenKind)> = tokens
            .iter()
            .map(|&(id, bytes)| {
                let kind = if special.contains(&id) {
                    TokenKind::Special
                } else {
                    TokenKind::Merged
                };
                (id, bytes, kind)
            })
            .collect();
        let mut taken: rustc_hash::FxHashSet<u32> = tokens.iter().map(|t| t.0).collect();
        for token in &added {
            let kind = if token.special {
                TokenKind::Special
            } else {
                TokenKind::Added
            };
            // An added token may reuse a vocabulary id (Hugging Face gives an
            // added token the id its content already has in the model, even
            // when that entry spells other bytes): it is matched by its
            // content and decodes as the vocabulary entry.
            if taken.insert(token.id) {
                entries.push((token.id, token.content.as_bytes(), kind));
            }
        }
        let vocab = Vocab::new(&entries)?;
        for id in template.prefix.iter().chain(&template.suffix) {
            if vocab.kind(*id) == TokenKind::Absent {
                return Err(TokenizeError::format(
                    "post_processor",
                    format!("template token id {id} is not in the vocabulary"),
                ));
            }
        }
        Ok(Tokenizer {
            vocab,
            bpe,
            merges,
            splitting,
            added: AddedTokens::new(added)?,
            template,
        })
    }

    /// One past the largest id.
    pub fn vocab_size(&self) -> usize {
        self.vocab.size()
    }

    /// The id -> bytes table.
    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// The merge table.
    pub fn bpe(&self) -> &Bpe {
        &self.bpe
    }

    /// Hugging Face merges in rank order (empty for rank files).
    pub fn merges(&self) -> &[(u32, u32)] {
        &self.merges
    }

    /// How text is cut before merging.
    pub fn splitting(&self) -> &Splitting {
        &self.splitting
    }

    /// The added and special tokens.
    pub fn added_tokens(&self) -> &[AddedToken] {
        self.added.tokens()
    }

    /// The post-processor's ids.
    pub fn template(&self) -> &Template {
        &self.template
    }

    /// The id of a token given by its bytes (an added token's content, or a
    /// mergeable token's bytes).
    pub fn id_of_bytes(&self, bytes: &[u8]) -> Option<u32> {
        self.added
            .tokens()
            .iter()
            .find(|t| t.content.as_bytes() == bytes)
            .map(|t| t.id)
            .or_else(|| self.bpe.token_id(bytes))
    }

    /// The id of a token given as `tokenizer.json` spells it ("Ġthe"), or as
    /// an added token's content.
    pub fn id_of_token(&self, token: &str) -> Option<u32> {
        if let Some(t) = self.added.tokens().iter().find(|t| t.content == token) {
            return Some(t.id);
        }
        match byte_level::decode_token(token) {
            Some(bytes) => self.bpe.token_id(&bytes),
            None => self.bpe.token_id(token.as_bytes()),
        }
    }

    /// The token's `tokenizer.json` spelling (added tokens: their content).
    pub fn token_of_id(&self, id: u32) -> Result<String, TokenizeError> {
        match self.vocab.kind(id) {
            TokenKind::Absent => Err(self.out_of_range(id)),
            TokenKind::Merged => Ok(byte_level::encode_token(
                self.vocab.bytes(id).unwrap_or_default(),
            )),
            _ => Ok(String::from_utf8_lossy(self.vocab.bytes(id).unwrap_or_default()).into_owned()),
        }
    }

    fn out_of_range(&self, id: u32) -> TokenizeError {
        TokenizeError::IdOutOfRange {
            id: u64::from(id),
            vocab_size: self.vocab.size(),
        }
    }

    /// Encodes `text`, appending ids to `out`.
    pub fn encode_into(
        &self,
        text: &str,
        policy: &SpecialPolicy,
        add_special_tokens: bool,
        out: &mut Vec<u32>,
    ) -> Result<(), TokenizeError> {
        self.encode_impl(text, policy, add_special_tokens, out, None)
    }

    /// Encodes `text` and returns the ids.
    pub fn encode(
        &self,
        text: &str,
        policy: &SpecialPolicy,
        add_special_tokens: bool,
    ) -> Result<Vec<u32>, TokenizeError> {
        let mut out = Vec::with_capacity(text.len() / 4 + 4);
        self.encode_impl(text, policy, add_special_tokens, &mut out, None)?;
        Ok(out)
    }

    /// Encodes `text`; also returns each token's byte range in `text`
    /// (template tokens get the empty range at their end of the text).
    pub fn encode_with_offsets(
        &self,
        text: &str,
        policy: &SpecialPolicy,
        add_special_tokens: bool,
    ) -> Result<(Vec<u32>, Offsets), TokenizeError> {
        let mut out = Vec::with_capacity(text.len() / 4 + 4);
        let mut offsets = Vec::with_capacity(text.len() / 4 + 4);
        self.encode_impl(
            text,
            policy,
            add_special_tokens,
            &mut out,
            Some(&mut offsets),
        )?;
        Ok((out, offsets))
    }

    fn encode_impl(
        &self,
        text: &str,
        policy: &SpecialPolicy,
        add_special_tokens: bool,
        out: &mut Vec<u32>,
        mut offsets: Option<&mut Offsets>,
    ) -> Result<(), TokenizeError> {
        if add_special_tokens {
            out.extend_from_slice(&self.template.prefix);
            if let Some(o) = offsets.as_deref_mut() {
                o.extend(self.template.prefix.iter().map(|_| (0, 0)));
            }
        }
        if self.added.is_empty() {
            self.encode_segment(text, 0, out, offsets.as_deref_mut())?;
        } else {
            let mut segments = Vec::new();
            self.added.segments(text, policy, &mut segments)?;
            for segment in segments {
                match segment {
                    Segment::Text(start, end) => {
                        self.encode_segment(&text[start..end], start, out, offsets.as_deref_mut())?
                    }
                    Segment::Token(id, start, end) => {
                        out.push(id);
                        if let Some(o) = offsets.as_deref_mut() {
                            o.push((start, end));
                        }
                    }
                }
            }
        }
        if add_special_tokens {
            out.extend_from_slice(&self.template.suffix);
            if let Some(o) = offsets {
                o.extend(
                    self.template
                        .suffix
                        .iter()
                        .map(|_| (text.len(), text.len())),
                );
            }
        }
        Ok(())
    }

    /// Splits `text` at added tokens (one text segment when there are none).
    pub fn segments(
        &self,
        text: &str,
        policy: &SpecialPolicy,
        out: &mut Vec<Segment>,
    ) -> Result<(), TokenizeError> {
        if self.added.is_empty() {
            out.clear();
            if !text.is_empty() {
                out.push(Segment::Text(0, text.len()));
            }
            Ok(())
        } else {
            self.added.segments(text, policy, out)
        }
    }

    /// The pieces of one text segment, as byte ranges into the returned
    /// text (the segment, with a space in front if the tokenizer adds one).
    pub fn pieces<'a>(
        &self,
        segment: &'a str,
        out: &mut Vec<(usize, usize)>,
    ) -> Result<std::borrow::Cow<'a, str>, TokenizeError> {
        out.clear();
        let text = self.prefixed(segment);
        self.split_pieces(&text, &mut |a, b| out.push((a, b)))?;
        Ok(text)
    }

    /// The segment as pre-tokenization sees it: with a space in front if
    /// the tokenizer adds one.
    pub fn prefixed<'a>(&self, segment: &'a str) -> std::borrow::Cow<'a, str> {
        if self.splitting.add_prefix_space && !segment.is_empty() && !segment.starts_with(' ') {
            format!(" {segment}").into()
        } else {
            segment.into()
        }
    }

    /// Calls `piece(start, end)` for each piece of an already prefixed text.
    pub fn split_pieces(
        &self,
        text: &str,
        piece: &mut dyn FnMut(usize, usize),
    ) -> Result<(), TokenizeError> {
        match &self.splitting.pretokenizer {
            Some(p) => p.split(text, piece),
            None if !text.is_empty() => {
                piece(0, text.len());
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Pre-tokenizes and merges one run of ordinary text starting at `base`.
    fn encode_segment(
        &self,
        segment: &str,
        base: usize,
        out: &mut Vec<u32>,
        offsets: Option<&mut Offsets>,
    ) -> Result<(), TokenizeError> {
        if segment.is_empty() {
            return Ok(());
        }
        let prefixed;
        let (text, shift) = if self.splitting.add_prefix_space && !segment.starts_with(' ') {
            prefixed = format!(" {segment}");
            (prefixed.as_str(), 1)
        } else {
            (segment, 0)
        };
        let Some(offsets) = offsets else {
            return match &self.splitting.pretokenizer {
                Some(p) => p.split(text, &mut |a, b| {
                    self.bpe.encode_piece_in(text.as_bytes(), (a, b), out)
                }),
                None => {
                    self.bpe.encode_piece(text.as_bytes(), out);
                    Ok(())
                }
            };
        };
        // The added prefix space is not in the input: spans are clamped to it.
        let span = |at: usize, len: usize| {
            let start = at.saturating_sub(shift);
            let end = (at + len).saturating_sub(shift).min(segment.len());
            (base + start, base + end.max(start))
        };
        let mut piece = |a: usize, b: usize| {
            let seg = text.as_bytes();
            if let Some(id) = self.bpe.whole_piece_in(seg, (a, b), piece_key(seg, a, b)) {
                // The piece is one token (most are): it spans the piece.
                out.push(id);
                offsets.push(span(a, b - a));
                return;
            }
            let first = out.len();
            self.bpe.merge_piece(&seg[a..b], out);
            let mut at = a;
            for &id in &out[first..] {
                let len = self.vocab.bytes(id).map_or(0, <[u8]>::len);
                offsets.push(span(at, len));
                at += len;
            }
        };
        match &self.splitting.pretokenizer {
            Some(p) => p.split(text, &mut piece),
            None => {
                piece(0, text.len());
                Ok(())
            }
        }
    }

    /// The bytes of `ids` concatenated (skipping special tokens if asked).
    pub fn decode_bytes(&self, ids: &[u32], skip_special: bool) -> Result<Vec<u8>, TokenizeError> {
        let mut out = Vec::with_capacity(ids.len() * 5);
        self.vocab.decode_into(ids, skip_special, &mut out)?;
        Ok(out)
    }

    /// Whether `ids` are all present in the vocabulary.
    pub fn check_ids(&self, ids: &[u32]) -> Result<(), TokenizeError> {
        match ids
            .iter()
            .find(|&&id| self.vocab.kind(id) == TokenKind::Absent)
        {
            Some(&id) => Err(self.out_of_range(id)),
            None => Ok(()),
        }
    }

    /// The merge rule (rank file or Hugging Face merges).
    pub fn rule(&self) -> MergeRule {
        self.bpe.rule()
    }
}

/// Turns byte offsets into `text` into character offsets (Python string
/// indices). A token that covers part of a character's bytes covers that
/// whole character; an empty range stays empty.
pub fn char_offsets(text: &str, offsets: &mut [(usize, usize)]) {
    if text.is_ascii() {
        return;
    }
    // char_at[b]: index of the character that byte b belongs to.
    let mut char_at = Vec::with_capacity(text.len() + 1);
    let mut count = 0;
    for c in text.chars() {
        char_at.extend(std::iter::repeat_n(count, c.len_utf8()));
        count += 1;
    }
    char_at.push(count);
    for (start, end) in offsets.iter_mut() {
        let s = char_at[(*start).min(text.len())];
        let e = if *end > *start {
            char_at[(*end - 1).min(text.len())] + 1
        } else {
            s
        };
        *start = s;
        *end = e;
    }
}
