//! The id -> bytes table: what decoding needs, laid out flat.

use crate::tokenize::error::TokenizeError;

/// The largest token id accepted: tables are indexed by id, so a file
/// with one huge id would otherwise ask for gigabytes.
pub const MAX_ID: u32 = (1 << 24) - 1;

/// Tokens up to this long are copied as one fixed-size chunk when decoding.
const COPY_CHUNK: usize = 16;

/// What an id stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// No token has this id (ids may have gaps, e.g. in cl100k_base).
    Absent,
    /// A token that byte-pair merging produces.
    Merged,
    /// An added token that is not special (matched in text, always allowed).
    Added,
    /// A special token (matched only where the caller allows it).
    Special,
}

/// Every token's bytes, indexed by id.
#[derive(Debug, Clone, Default)]
pub struct Vocab {
    flat: Vec<u8>,
    /// `flat[starts[id]..starts[id + 1]]` is token `id`.
    starts: Vec<u32>,
    kinds: Vec<TokenKind>,
}

impl Vocab {
    /// A table from `(id, bytes, kind)` entries in any order; ids not given are absent.
    pub fn new(entries: &[(u32, &[u8], TokenKind)]) -> Result<Self, TokenizeError> {
        let size = entries.iter().map(|e| e.0 as usize + 1).max().unwrap_or(0);
        if size > MAX_ID as usize + 1 {
            return Err(TokenizeError::format(
                "vocabulary",
                format!("token id {} is over the limit of {MAX_ID}", size - 1),
            ));
        }
        let mut slots: Vec<Option<(&[u8], TokenKind)>> = vec![None; size];
        for &(id, bytes, kind) in entries {
            if slots[id as usize].is_some() {
                return Err(TokenizeError::format(
                    "vocabulary",
                    format!("token id {id} is used twice"),
                ));
            }
            slots[id as usize] = Some((bytes, kind));
        }
        let total: usize = entries.iter().map(|e| e.1.len()).sum();
        if total > u32::MAX as usize {
            return Err(TokenizeError::format(
                "vocabulary",
                "tokens total over 4 GiB",
            ));
        }
        let mut flat = Vec::with_capacity(total + COPY_CHUNK);
        let mut starts = Vec::with_capacity(size + 1);
        let mut kinds = Vec::with_capacity(size);
        for slot in slots {
            starts.push(flat.len() as u32);
            match slot {
                Some((bytes, kind)) => {
                    flat.extend_from_slice(bytes);
                    kinds.push(kind);
                }
                None => kinds.push(TokenKind::Absent),
            }
        }
        starts.push(flat.len() as u32);
        // Padding so a fixed-size copy of the last token stays in bounds.
        flat.extend_from_slice(&[0; COPY_CHUNK]);
        Ok(Vocab {
            flat,
            starts,
            kinds,
        })
    }

    /// One past the largest id.
    pub fn size(&self) -> usize {
        self.kinds.len()
    }

    /// The token's bytes (empty for an absent id), or `None` past the end.
    #[inline]
    pub fn bytes(&self, id: u32) -> Option<&[u8]> {
        let i = id as usize;
        if i >= self.kinds.len() {
            return None;
        }
        Some(&self.flat[self.starts[i] as usize..self.starts[i + 1] as usize])
    }

    /// The token's kind; `Absent` past the end too.
    #[inline]
    pub fn kind(&self, id: u32) -> TokenKind {
        self.kinds
            .get(id as usize)
            .copied()
            .unwrap_or(TokenKind::Absent)
    }

    /// Appends the bytes of `ids` to `out`; skips special tokens when asked.
    pub fn decode_into(
        &self,
        ids: &[u32],
        skip_special: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), TokenizeError> {
        // First pass: check every id and size the output exactly.
        let mut total = 0usize;
        for &id in ids {
            match self.kind(id) {
                TokenKind::Absent => {
                    return Err(TokenizeError::IdOutOfRange {
                        id: u64::from(id),
                        vocab_size: self.size(),
                    })
                }
                TokenKind::Special if skip_special => {}
                _ => {
                    let i = id as usize;
                    total += (self.starts[i + 1] - self.starts[i]) as usize;
                }
            }
        }
        out.reserve(total + COPY_CHUNK);
        let base = out.len();
        let mut at = base;
        let dst = out.as_mut_ptr();
        for &id in ids {
            let i = id as usize;
            if skip_special && self.kinds[i] == TokenKind::Special {
                continue;
            }
            let (start, end) = (self.starts[i] as usize, self.starts[i + 1] as usize);
            let len = end - start;
            // SAFETY: `flat` has COPY_CHUNK bytes of padding after the last
            // token, and `out` has room for `total + COPY_CHUNK` bytes past
            // `base`; `at + len <= base + total`. Short tokens (nearly all)
            // are copied as one fixed-size chunk instead of a memcpy call;
            // the bytes past `len` are overwritten by the next token or left
            // beyond the final length.
            unsafe {
                if len <= COPY_CHUNK {
                    std::ptr::copy_nonoverlapping(
                        self.flat.as_ptr().add(start),
                        dst.add(at),
                        COPY_CHUNK,
                    );
                } else {
                    std::ptr::copy_nonoverlapping(self.flat.as_ptr().add(start), dst.add(at), len);
                }
            }
            at += len;
        }
        debug_assert_eq!(at, base + total);
        // SAFETY: bytes base..at were written above.
        unsafe { out.set_len(at) };
        Ok(())
    }

    /// `(id, bytes, kind)` for every present id, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &[u8], TokenKind)> + '_ {
        (0..self.kinds.len() as u32).filter_map(move |id| match self.kind(id) {
            TokenKind::Absent => None,
            kind => Some((id, self.bytes(id).unwrap_or_default(), kind)),
        })
    }
}
