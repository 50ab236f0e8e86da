//! The binary form of [`WordCounts`], for pickling and for sending counts
//! between processes.
//!
//! Layout (version 1):
//!
//! ```text
//! "SQWC"            4 bytes, magic
//! 1                 1 byte, version
//! n                 varint, number of words
//! n times:
//!   len             varint, >= 1
//!   bytes           len bytes; strictly increasing from word to word
//!   count           varint, >= 1
//! ```
//!
//! Varints are unsigned LEB128 (7 bits a byte, low bits first). Words are
//! written sorted, so equal counts always give equal bytes, and a reader
//! finds duplicates by comparing neighbours instead of hashing.

use rustc_hash::FxHashMap;

use super::counts::WordCounts;
use crate::tokenize::error::TokenizeError;

const MAGIC: &[u8; 4] = b"SQWC";
const VERSION: u8 = 1;
/// The fewest bytes one word takes: a 1-byte length, 1 byte, a 1-byte count.
const MIN_ENTRY_BYTES: usize = 3;

impl WordCounts {
    /// A compact, versioned binary form of these counts (see
    /// [`from_bytes`](WordCounts::from_bytes)). Equal counts give equal
    /// bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut entries: Vec<(&[u8], u64)> = self.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let payload: usize = entries.iter().map(|(w, _)| w.len() + 4).sum();
        let mut out = Vec::with_capacity(MAGIC.len() + 1 + 10 + payload);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        put_varint(&mut out, entries.len() as u64);
        for (word, count) in entries {
            put_varint(&mut out, word.len() as u64);
            out.extend_from_slice(word);
            put_varint(&mut out, count);
        }
        out
    }

    /// Reads counts written by [`to_bytes`](WordCounts::to_bytes).
    ///
    /// Malformed, truncated or trailing data is a [`TokenizeError::Format`];
    /// nothing is allocated beyond what the data's own length can justify.
    pub fn from_bytes(data: &[u8]) -> Result<Self, TokenizeError> {
        let mut reader = Reader { data, pos: 0 };
        if reader.take(MAGIC.len())? != MAGIC {
            return Err(reader.error("not serialized word counts (bad magic bytes)"));
        }
        let version = reader.take(1)?[0];
        if version != VERSION {
            return Err(reader.error(&format!(
                "unsupported word counts version {version} (this build reads {VERSION})"
            )));
        }
        let n = reader.varint()?;
        // A corrupt count must not make us reserve gigabytes: every word
        // takes at least MIN_ENTRY_BYTES, so the rest of the data bounds n.
        if n > (reader.remaining() / MIN_ENTRY_BYTES) as u64 {
            return Err(reader.error(&format!(
                "{n} words cannot fit in the remaining {} bytes",
                reader.remaining()
            )));
        }
        let n = n as usize;
        let mut words = FxHashMap::default();
        // Reserve little up front: the table then grows with the words
        // actually read, not with what a header claims.
        words.reserve(n.min(1 << 16));
        let mut total = 0u64;
        let mut previous: &[u8] = &[];
        for _ in 0..n {
            let len = reader.varint()?;
            if len == 0 {
                return Err(reader.error("empty word"));
            }
            if len > reader.remaining() as u64 {
                return Err(reader.error(&format!(
                    "word of {len} bytes runs past the end of the data"
                )));
            }
            let word = reader.take(len as usize)?;
            if word <= previous {
                return Err(reader.error("words are not in strictly increasing order"));
            }
            let count = reader.varint()?;
            if count == 0 {
                return Err(reader.error("zero count"));
            }
            words.insert(Box::from(word), count);
            total = total.saturating_add(count);
            previous = word;
        }
        if reader.remaining() != 0 {
            return Err(reader.error(&format!(
                "{} unexpected bytes after the last word",
                reader.remaining()
            )));
        }
        Ok(WordCounts { words, total })
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn error(&self, message: &str) -> TokenizeError {
        TokenizeError::format(format!("word counts, byte {}", self.pos), message)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], TokenizeError> {
        if len > self.remaining() {
            return Err(self.error("unexpected end of data"));
        }
        let bytes = &self.data[self.pos..self.pos + len];
        self.pos += len;
        Ok(bytes)
    }

    fn varint(&mut self) -> Result<u64, TokenizeError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            let bits = u64::from(byte & 0x7f);
            // The tenth byte may only hold the top bit of a u64.
            if shift == 63 && bits > 1 {
                return Err(self.error("varint overflows 64 bits"));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error("varint longer than 10 bytes"))
    }
}
