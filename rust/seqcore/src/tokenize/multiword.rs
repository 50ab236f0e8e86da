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

use std::hash::BuildHasher;

use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};
use serde_json::{json, Value};

use crate::parallel::map_tasks;
use crate::tokenize::added::{Segment, SpecialPolicy};
use crate::tokenize::error::TokenizeError;
use crate::tokenize::tokenizer::Tokenizer;
use crate::tokenize::vocab::TokenKind;

/// Multi-word files larger than this are refused before parsing.
pub const MAX_MULTIWORD_JSON_BYTES: u64 = 64 << 20;
/// The format name and version written into saved files.
pub const FORMAT: &str = "seqcore.multiword";
/// Version of the saved format.
pub const VERSION: u64 = 1;
/// The longest n-gram order supported.
pub const MAX_ORDER: usize = 8;

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

/// A byte-keyed n-gram: its id and its words' lengths in bytes.
type ByBytes = (u32, Box<[usize]>);

/// A piece while streaming: (start, end, whole-token id or NONE, flags).
type Piece = (usize, usize, u32, u8);

/// Flag: the base id is a word.
const WORD: u8 = 1;
/// Flag: the base id starts an id-keyed n-gram.
const STARTS_BY_IDS: u8 = 2;
/// Flag: the base id starts a byte-keyed n-gram.
const STARTS_BY_BYTES: u8 = 4;

/// Pieces encoded per window when streaming a long text.
const WINDOW: usize = 1024;
/// `whole` entry of a piece that is not one base token.
const NONE: u32 = u32::MAX;

/// Size of the (first id, second id) filter, in bits (16 KiB: stays in
/// the first-level cache; 5,000 bigrams set under 4% of it).
const PAIR_BITS: usize = 1 << 17;

fn pair_bit(first: u32, second: u32) -> usize {
    let key = (u64::from(first) << 32) | u64::from(second);
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - 17)) as usize
}

/// Up to four ids as one hash key.
fn pack(ids: &[u32]) -> u128 {
    ids.iter()
        .fold(0u128, |key, &id| (key << 32) | u128::from(id))
}

fn piece_hash(bytes: &[u8]) -> u64 {
    FxBuildHasher.hash_one(bytes)
}

/// Visits the text segments of `text` as (segment text with any prefix
/// space, its pieces); added tokens end a segment.
fn for_each_segment(
    base: &Tokenizer,
    text: &str,
    policy: &SpecialPolicy,
    mut visit: impl FnMut(Option<u32>, &[u8], &[(usize, usize)]),
) -> Result<(), TokenizeError> {
    let mut segments = Vec::new();
    let mut pieces = Vec::new();
    base.segments(text, policy, &mut segments)?;
    for segment in segments {
        match segment {
            Segment::Text(start, end) => {
                let seg = base.pieces(&text[start..end], &mut pieces)?;
                visit(None, seg.as_bytes(), &pieces);
            }
            Segment::Token(id, ..) => visit(Some(id), &[], &[]),
        }
    }
    Ok(())
}

/// Counts of word n-grams: `[order] ++ bytes -> count`. Mergeable.
#[derive(Debug, Clone, Default)]
pub struct NgramCounts {
    map: FxHashMap<Vec<u8>, u64>,
}

impl NgramCounts {
    /// Counts the n-grams of the given orders in `texts`, in parallel.
    /// Special tokens in the texts count as separators.
    pub fn count(
        base: &Tokenizer,
        texts: &[&str],
        orders: &[usize],
    ) -> Result<Self, TokenizeError> {
        check_orders(orders)?;
        let chunk = 256;
        let tasks = texts.len().div_ceil(chunk);
        let parts = map_tasks(tasks, |t| {
            let mut counts = NgramCounts::default();
            for text in &texts[t * chunk..((t + 1) * chunk).min(texts.len())] {
                counts.add_text(base, text, orders)?;
            }
            Ok::<_, TokenizeError>(counts)
        });
        let mut total = NgramCounts::default();
        for part in parts {
            total.merge(part?);
        }
        Ok(total)
    }

    fn add_text(
        &mut self,
        base: &Tokenizer,
        text: &str,
        orders: &[usize],
    ) -> Result<(), TokenizeError> {
        let mut words = Vec::new();
        let mut key = Vec::new();
        for_each_segment(base, text, &SpecialPolicy::allow_all(), |_, seg, pieces| {
            words.clear();
            words.extend(pieces.iter().map(|&(a, b)| is_word(&seg[a..b])));
            for &n in orders {
                for i in 0..pieces.len().saturating_sub(n - 1) {
                    if words[i..i + n].iter().all(|&w| w) {
                        key.clear();
                        key.push(n as u8);
                        key.extend_from_slice(&seg[pieces[i].0..pieces[i + n - 1].1]);
                        match self.map.get_mut(&key) {
                            Some(c) => *c += 1,
                            None => {
                                self.map.insert(key.clone(), 1);
                            }
                        }
                    }
                }
            }
        })
    }

    /// Adds another shard's counts.
    pub fn merge(&mut self, other: NgramCounts) {
        if self.map.len() < other.map.len() {
            let mine = std::mem::replace(&mut self.map, other.map);
            for (k, c) in mine {
                *self.map.entry(k).or_insert(0) += c;
            }
        } else {
            for (k, c) in other.map {
                *self.map.entry(k).or_insert(0) += c;
            }
        }
    }

    /// Number of distinct n-grams counted.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The `top_k` most frequent n-grams with at least `min_count`
    /// occurrences, as `(order, bytes, count)`; ties go to the smaller bytes
    /// so the choice never depends on hashing.
    pub fn top(&self, top_k: usize, min_count: u64) -> Vec<(usize, Vec<u8>, u64)> {
        let mut all: Vec<(&Vec<u8>, u64)> = self
            .map
            .iter()
            .filter(|(_, &c)| c >= min_count.max(1))
            .map(|(k, &c)| (k, c))
            .collect();
        all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        all.truncate(top_k);
        all.into_iter()
            .map(|(k, c)| (usize::from(k[0]), k[1..].to_vec(), c))
            .collect()
    }
}

fn check_orders(orders: &[usize]) -> Result<(), TokenizeError> {
    if orders.is_empty() || orders.iter().any(|&n| !(2..=MAX_ORDER).contains(&n)) {
        return Err(TokenizeError::Invalid(format!(
            "ngram_orders must be a non-empty list of orders from 2 to {MAX_ORDER}, got {orders:?}"
        )));
    }
    Ok(())
}

/// The n-gram vocabulary and the tables that find n-grams while encoding.
#[derive(Debug, Clone)]
pub struct MultiWord {
    base_vocab_size: u32,
    /// The words of each n-gram; id = base_vocab_size + index.
    ngrams: Vec<Vec<String>>,
    /// N-grams of 2 to 4 words that are each one base token, keyed by the
    /// words' ids (`by_ids[n - 2]`): the words' ids come from the lookup
    /// base encoding does anyway, so matching costs one integer hash.
    by_ids: [FxHashMap<u128, u32>; 3],
    /// Per base id, [`WORD`] | [`STARTS_BY_IDS`] | [`STARTS_BY_BYTES`]: one
    /// byte per id, so each piece costs one load for all three questions.
    flags: Vec<u8>,
    /// The base's whole-piece lookup with each id's flags in the top byte
    /// (ids are below 2^24): one probe per piece answers both questions.
    lookup: FxHashMap<Box<[u8]>, u32>,
    /// A bit per hash of (first id, second id) of every `by_ids` n-gram:
    /// most positions where a first word occurs fail this test, which
    /// costs one load instead of a hash-map probe.
    pair_bits: Vec<u64>,
    /// The other n-grams (a word the base splits, or over 4 words), keyed by
    /// joined bytes -> (id, order), with hashes of their first words.
    by_bytes: FxHashMap<Box<[u8]>, ByBytes>,
    /// (First words that are one base token have STARTS_BY_BYTES instead,
    /// so the hash is only computed for pieces that are not.)
    first_hashes: FxHashSet<u64>,
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
        let bpe = base.bpe();
        let mut flags = vec![0u8; base_vocab_size];
        for (id, bytes, kind) in base.vocab().iter() {
            if kind == TokenKind::Merged && is_word(bytes) {
                flags[id as usize] |= WORD;
            }
        }
        let mut by_ids: [FxHashMap<u128, u32>; 3] = Default::default();
        let mut pair_bits = vec![0u64; PAIR_BITS / 64];
        let mut by_bytes = FxHashMap::default();
        let mut first_hashes = FxHashSet::default();
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
            let joined: Vec<u8> = words.concat().into_bytes();
            if !seen.insert(joined.clone()) {
                return Err(TokenizeError::format(
                    at(),
                    format!("{:?} appears twice", words.concat()),
                ));
            }
            let id = first_id + i as u32;
            let ids: Option<Vec<u32>> = words
                .iter()
                .map(|w| bpe.whole_piece(w.as_bytes()))
                .collect();
            match ids {
                Some(ids) if ids.len() <= 4 => {
                    flags[ids[0] as usize] |= STARTS_BY_IDS;
                    let bit = pair_bit(ids[0], ids[1]);
                    pair_bits[bit / 64] |= 1 << (bit % 64);
                    by_ids[ids.len() - 2].insert(pack(&ids), id);
                }
                _ => {
                    match bpe.whole_piece(words[0].as_bytes()) {
                        Some(first) => flags[first as usize] |= STARTS_BY_BYTES,
                        None => {
                            first_hashes.insert(piece_hash(words[0].as_bytes()));
                        }
                    }
                    let lengths = words.iter().map(String::len).collect();
                    by_bytes.insert(joined.clone().into_boxed_slice(), (id, lengths));
                }
            }
            if !orders.contains(&words.len()) {
                orders.push(words.len());
            }
            bytes.push(joined);
        }
        orders.sort_unstable_by(|a, b| b.cmp(a));
        let lookup = bpe
            .whole_pieces()
            .map(|(piece, id)| (piece.into(), id | (u32::from(flags[id as usize]) << 24)))
            .collect();
        Ok(MultiWord {
            base_vocab_size: first_id,
            ngrams,
            by_ids,
            flags,
            lookup,
            pair_bits,
            by_bytes,
            first_hashes,
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

    /// Encodes with n-grams merged first; `base` must be the tokenizer this
    /// vocabulary was built on.
    pub fn encode(
        &self,
        base: &Tokenizer,
        text: &str,
        policy: &SpecialPolicy,
        add_special_tokens: bool,
    ) -> Result<Vec<u32>, TokenizeError> {
        let mut out = Vec::with_capacity(text.len() / 5 + 4);
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
                        self.encode_segment_bigrams(base, &text[start..end], &mut out)?
                    } else {
                        self.encode_segment(base, &text[start..end], &mut out)?
                    }
                }
            }
        }
        if add_special_tokens {
            out.extend_from_slice(&base.template().suffix);
        }
        Ok(out)
    }

    /// Encodes one run of text when every n-gram is a bigram (the default):
    /// at most one piece waits, and a piece where no bigram can start goes
    /// straight to the base encoding, so the cost over plain encoding is a
    /// flag lookup per piece and, where a bigram may start, a bit filter and
    /// one probe. Gives the same ids as [`Self::encode_segment`].
    fn encode_segment_bigrams(
        &self,
        base: &Tokenizer,
        segment: &str,
        out: &mut Vec<u32>,
    ) -> Result<(), TokenizeError> {
        let text = base.prefixed(segment);
        let seg = text.as_bytes();
        let bpe = base.bpe();
        let emit = |out: &mut Vec<u32>, (a, b, id, _): Piece| match id {
            NONE => bpe.merge_piece(&seg[a..b], out),
            id => out.push(id),
        };
        // (start, end, whole id or NONE, flags)
        let mut pending: Option<Piece> = None;
        base.split_pieces(&text, &mut |a, b| {
            let (id, flags) = match self.lookup.get(&seg[a..b]) {
                Some(&v) => (v & 0xFF_FFFF, (v >> 24) as u8),
                None => (NONE, 0),
            };
            let piece = (a, b, id, flags);
            if let Some(first) = pending.take() {
                if let Some(bigram) = self.bigram(seg, first, piece) {
                    out.push(bigram);
                    return;
                }
                emit(out, first);
            }
            let may_start = match id {
                NONE => {
                    !self.first_hashes.is_empty()
                        && self.first_hashes.contains(&piece_hash(&seg[a..b]))
                }
                _ => flags & (STARTS_BY_IDS | STARTS_BY_BYTES) != 0,
            };
            if may_start {
                pending = Some(piece);
            } else {
                emit(out, piece);
            }
        })?;
        if let Some(last) = pending {
            emit(out, last);
        }
        Ok(())
    }

    /// The bigram token of two adjacent pieces, if any.
    #[inline]
    fn bigram(&self, seg: &[u8], first: Piece, second: Piece) -> Option<u32> {
        let (a, b, id, flags) = first;
        if flags & STARTS_BY_IDS != 0 && second.3 & WORD != 0 {
            let bit = pair_bit(id, second.2);
            if self.pair_bits[bit / 64] & (1 << (bit % 64)) != 0 {
                if let Some(&token) = self.by_ids[0].get(&pack(&[id, second.2])) {
                    return Some(token);
                }
            }
        }
        let slow_start = match id {
            NONE => {
                !self.first_hashes.is_empty() && self.first_hashes.contains(&piece_hash(&seg[a..b]))
            }
            _ => flags & STARTS_BY_BYTES != 0,
        };
        if slow_start {
            if let Some((token, lengths)) = self.by_bytes.get(&seg[a..second.1]) {
                // Same bytes and the same two word boundaries.
                if lengths[..] == [b - a, second.1 - second.0] {
                    return Some(*token);
                }
            }
        }
        None
    }

    /// Encodes one run of text, streaming its pieces through a window of
    /// at most [`WINDOW`] pieces (plus look-ahead), so a long text needs no
    /// piece arrays of its own size.
    fn encode_segment(
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
                    let bit = pair_bit(first, whole[i + 1]);
                    self.pair_bits[bit / 64] & (1 << (bit % 64)) != 0
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
                        if let Some(&id) = self.by_ids[n - 2].get(&pack(window)) {
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
        if data.len() as u64 > MAX_MULTIWORD_JSON_BYTES {
            return Err(TokenizeError::TooLarge {
                what: "the multi-word file".into(),
                size: data.len() as u64,
                cap: MAX_MULTIWORD_JSON_BYTES,
            });
        }
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
        match root.get("version").and_then(Value::as_u64) {
            Some(VERSION) => {}
            v => {
                return Err(TokenizeError::format(
                    "version",
                    format!("expected {VERSION}, got {v:?}"),
                ))
            }
        }
        let saved_base = root.get("base_vocab_size").and_then(Value::as_u64);
        if saved_base != Some(base_vocab_size as u64) {
            return Err(TokenizeError::format(
                "base_vocab_size",
                format!(
                    "the file was made for a base vocabulary of {saved_base:?} ids, this base tokenizer has {base_vocab_size}"
                ),
            ));
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
