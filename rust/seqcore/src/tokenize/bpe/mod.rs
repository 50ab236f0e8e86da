//! Byte-pair merging of one piece: the heart of encoding.
//!
//! Both file formats reduce to one rule: repeatedly merge the adjacent pair
//! with the lowest rank, the leftmost one among equals.
//! * Hugging Face `tokenizer.json`: a pair's rank is its position in the
//!   merge list.
//! * tiktoken rank files: any adjacent pair whose concatenation is a token
//!   may merge, at that token's rank.
//!
//! So both become one table `(left id, right id) -> (rank, merged id)`.
//! Short pieces (nearly all of them) merge with a linear scan over a small
//! array or in vector registers. Longer ones are first cut where no token
//! can span (`cuts`), and parts that stay long merge in chunks whose joins
//! are checked (`chunks`), or with a heap and a linked list where a join
//! fails, so a megabyte without a single space costs O(n log n), not
//! O(n^2). A long piece that is one short unit repeated is merged from
//! the tokens of its head (`periodic`).

use rustc_hash::FxHashMap;

use crate::tokenize::error::TokenizeError;

/// Pieces up to this many bytes merge with the quadratic-but-tiny scan.
const SMALL_PIECE: usize = 96;
/// Pieces up to this many bytes merge with a heap of candidate pairs (it
/// stays in cache); longer ones with per-rank position lists.
const HEAP_PIECE: usize = 4096;
/// Pieces longer than this are cut where no token can span (`cuts`) and
/// the parts merged one by one: the parts mostly fit the vector path's
/// narrow form.
const CUT_PIECE: usize = vector_pieces::NARROW_PIECE;
/// Parts left longer than this by the cuts merge in chunks (`chunks`);
/// shorter ones in one go on the vector path (chunking parts of 65-128
/// bytes as well was slower).
const CHUNKED_PART: usize = 128;
/// No pair: sorts after every real rank.
const NO_PAIR: u64 = u64::MAX;
/// Encoder values with this bit set are tokens whose bytes do not encode to
/// themselves, so a piece equal to them must still be merged step by step.
const NOT_DIRECT: u32 = 1 << 31;

/// Which file semantics the merge table came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeRule {
    /// tiktoken: every split of a token into two tokens merges at its rank,
    /// and a piece that is a token is that token.
    Ranks,
    /// Hugging Face merges; `ignore_merges` makes a piece that is a token
    /// that token (Llama-3 sets it).
    Merges { ignore_merges: bool },
}

/// The merge table and the bytes -> id map of the mergeable tokens.
#[derive(Debug, Clone)]
pub struct Bpe {
    /// The id of each single byte, or `u32::MAX` when the vocabulary lacks it.
    byte_ids: [u32; 256],
    /// `(left << 32) | right` -> `(rank << 32) | merged`.
    pairs: FxHashMap<u64, u64>,
    rule: MergeRule,
    /// Identifies this table to the per-thread pair cache.
    table_id: u64,
    /// Whether every rank leaves room for a slot number in a vector lane
    /// (`vector_pieces`).
    ranks_fit_lanes: bool,
    /// Every mergeable token by its bytes, its id `| NOT_DIRECT` when a
    /// piece of those bytes must still be merged: the lookup every piece
    /// takes first, and lookups by bytes.
    whole: WholeTable,
    /// The id of the empty byte string, if the vocabulary has it (the
    /// table holds non-empty strings only).
    empty: Option<u32>,
    /// Where long pieces can be cut; `None` when some byte is not a token
    /// (a dropped byte joins its neighbours, which the cut tests ignore).
    cuts: Option<Cuts>,
    /// Token lengths for merging long parts in chunks; kept with `cuts`.
    lens: Option<TokenLengths>,
}

/// Hands out a distinct id to every merge table built.
static NEXT_TABLE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

thread_local! {
    /// Each thread's caches in front of the pair tables it used lately.
    static PAIR_CACHE: std::cell::RefCell<PairCaches> = std::cell::RefCell::new(PairCaches::new());
}

#[inline]
fn pair_key(left: u32, right: u32) -> u64 {
    (u64::from(left) << 32) | u64::from(right)
}

impl Bpe {
    /// Builds the table from mergeable tokens and, for `MergeRule::Merges`,
    /// the merge list (pairs of ids, in rank order). For `MergeRule::Ranks`
    /// a token's id is its rank.
    pub fn new(
        tokens: &[(u32, &[u8])],
        merges: &[(u32, u32)],
        rule: MergeRule,
    ) -> Result<Self, TokenizeError> {
        if let Some((id, _)) = tokens.iter().find(|t| t.0 >= NOT_DIRECT) {
            return Err(TokenizeError::format(
                "vocabulary",
                format!("token id {id} is over the 2^31 limit"),
            ));
        }
        let mut encoder = FxHashMap::default();
        encoder.reserve(tokens.len());
        let mut by_id: FxHashMap<u32, &[u8]> = FxHashMap::default();
        by_id.reserve(tokens.len());
        for &(id, bytes) in tokens {
            // Two ids with the same bytes: the lower id wins, as in a
            // rank file where the lower rank merges first.
            encoder
                .entry(bytes.to_vec().into_boxed_slice())
                .and_modify(|old: &mut u32| *old = (*old).min(id))
                .or_insert(id);
            by_id.insert(id, bytes);
        }
        let mut byte_ids = [u32::MAX; 256];
        for (byte, slot) in byte_ids.iter_mut().enumerate() {
            if let Some(&id) = encoder.get(&[byte as u8][..]) {
                *slot = id;
            }
        }
        let mut pairs = FxHashMap::default();
        match rule {
            MergeRule::Ranks => {
                for &(id, bytes) in tokens {
                    for split in 1..bytes.len() {
                        let (left, right) = bytes.split_at(split);
                        if let (Some(&l), Some(&r)) = (encoder.get(left), encoder.get(right)) {
                            pairs.insert(pair_key(l, r), (u64::from(id) << 32) | u64::from(id));
                        }
                    }
                }
            }
            MergeRule::Merges { .. } => {
                pairs.reserve(merges.len());
                let mut joined = Vec::new();
                for (rank, &(l, r)) in merges.iter().enumerate() {
                    let (Some(lb), Some(rb)) = (by_id.get(&l), by_id.get(&r)) else {
                        return Err(TokenizeError::format(
                            format!("model.merges[{rank}]"),
                            format!("merge of ids {l} and {r}: an id is not in the vocabulary"),
                        ));
                    };
                    joined.clear();
                    joined.extend_from_slice(lb);
                    joined.extend_from_slice(rb);
                    let Some(&merged) = encoder.get(&joined[..]) else {
                        return Err(TokenizeError::format(
                            format!("model.merges[{rank}]"),
                            format!(
                                "the merge of {:?} and {:?} makes {:?}, which is not in the vocabulary",
                                String::from_utf8_lossy(lb),
                                String::from_utf8_lossy(rb),
                                String::from_utf8_lossy(&joined)
                            ),
                        ));
                    };
                    // A repeated pair keeps its last rank, as Hugging Face does.
                    pairs.insert(pair_key(l, r), ((rank as u64) << 32) | u64::from(merged));
                }
            }
        }
        let ranks_fit_lanes = pairs
            .values()
            .all(|&v| (v >> 32) < u64::from(vector_pieces::RANK_LIMIT));
        let mut bpe = Bpe {
            byte_ids,
            pairs,
            rule,
            table_id: NEXT_TABLE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            ranks_fit_lanes,
            whole: WholeTable::new(std::iter::empty()),
            empty: encoder.get(&[][..]).copied(),
            cuts: None,
            lens: None,
        };
        if rule
            == (MergeRule::Merges {
                ignore_merges: false,
            })
        {
            bpe.mark_indirect_tokens(&mut encoder);
        }
        let held: Vec<(&[u8], u32)> = encoder
            .iter()
            .filter(|(bytes, _)| !bytes.is_empty())
            .map(|(bytes, &id)| (&bytes[..], id))
            .collect();
        if byte_ids.iter().all(|&id| id != u32::MAX) {
            bpe.cuts = Some(Cuts::new(held.iter().map(|&(bytes, _)| bytes)));
            bpe.lens = TokenLengths::new(tokens);
        }
        bpe.whole = WholeTable::new(held.into_iter());
        Ok(bpe)
    }

    /// With plain Hugging Face merges a piece that equals a token may still
    /// merge into other tokens; flag those so lookups do not shortcut them.
    fn mark_indirect_tokens(&self, encoder: &mut FxHashMap<Box<[u8]>, u32>) {
        let mut scratch = Vec::new();
        for (bytes, id) in encoder.iter_mut() {
            if bytes.len() < 2 {
                continue;
            }
            scratch.clear();
            self.merge_bytes(bytes, &mut scratch);
            if scratch.as_slice() != [*id] {
                *id |= NOT_DIRECT;
            }
        }
    }

    /// The semantics this table follows.
    pub fn rule(&self) -> MergeRule {
        self.rule
    }

    /// The id of a mergeable token, if `bytes` is one.
    pub fn token_id(&self, bytes: &[u8]) -> Option<u32> {
        if bytes.is_empty() {
            return self.empty;
        }
        self.whole
            .get(bytes, (0, bytes.len()), piece_key(bytes, 0, bytes.len()))
            .map(|v| v & !NOT_DIRECT)
    }

    /// `(rank, merged id)` of an adjacent pair, if it merges.
    pub fn pair(&self, left: u32, right: u32) -> Option<(u32, u32)> {
        self.pairs
            .get(&pair_key(left, right))
            .map(|&v| ((v >> 32) as u32, v as u32))
    }

    /// Appends the ids of one pre-tokenized piece to `out`.
    #[inline]
    pub fn encode_piece(&self, piece: &[u8], out: &mut Vec<u32>) {
        self.encode_piece_in(piece, (0, piece.len()), out);
    }

    /// Appends the ids of the piece `seg[a..b]` to `out` (the bytes after
    /// it may be read, not changed: a lookup key takes eight at once).
    #[inline(always)]
    pub fn encode_piece_in(&self, seg: &[u8], (a, b): (usize, usize), out: &mut Vec<u32>) {
        match self.whole.get(seg, (a, b), piece_key(seg, a, b)) {
            Some(id) if id & NOT_DIRECT == 0 => out.push(id),
            _ => self.merge_bytes(&seg[a..b], out),
        }
    }

    /// The token a piece encodes to as a whole, when a lookup settles it.
    #[inline]
    pub fn whole_piece(&self, piece: &[u8]) -> Option<u32> {
        self.whole_piece_in(piece, (0, piece.len()), piece_key(piece, 0, piece.len()))
    }

    /// [`Bpe::whole_piece`] of `seg[a..b]`, whose [`piece_key`] is `key`.
    #[inline(always)]
    pub fn whole_piece_in(&self, seg: &[u8], range: (usize, usize), key: u64) -> Option<u32> {
        self.whole
            .get(seg, range, key)
            .filter(|id| id & NOT_DIRECT == 0)
    }

    /// Appends the ids of a piece that [`Bpe::whole_piece`] did not settle.
    pub fn merge_piece(&self, piece: &[u8], out: &mut Vec<u32>) {
        self.merge_bytes(piece, out);
    }

    /// Merges a piece from its single bytes (bytes missing from the
    /// vocabulary are dropped, as Hugging Face does without `unk_token`).
    fn merge_bytes(&self, piece: &[u8], out: &mut Vec<u32>) {
        PAIR_CACHE.with(|caches| {
            let mut caches = caches.borrow_mut();
            let cache = caches.serve(self);
            // A piece that is one unit repeated has no cuts, or the same
            // one in every unit: testing its gaps would only cost time,
            // and the chunks copy its repeats. One byte repeated takes the
            // run-length path, whose cost is bounded whatever the
            // vocabulary.
            let unit = (piece.len() > CUT_PIECE)
                .then(|| periodic::unit_of(piece))
                .flatten();
            if unit == Some(1) {
                self.merge_segment(piece, out, cache);
                return;
            }
            let repeats = unit.is_some();
            if let (None, Some(lens)) = (unit, &self.lens) {
                let period = (piece.len() >= periodic::LONG_PIECE)
                    .then(|| periodic::long_period(piece))
                    .flatten();
                if let Some(period) = period {
                    if self.merge_long_period(piece, period, lens, out, cache) {
                        return;
                    }
                }
            }
            let chunked = |part: &[u8], out: &mut Vec<u32>, cache: &mut PairCache| match &self.lens
            {
                Some(lens) if part.len() > CHUNKED_PART => {
                    self.merge_in_chunks(part, lens, out, cache);
                }
                _ => self.merge_segment(part, out, cache),
            };
            match &self.cuts {
                Some(cuts) if piece.len() > CUT_PIECE && !repeats => {
                    cuts.for_each_segment(piece, CUT_PIECE, |a, b| {
                        chunked(&piece[a..b], out, cache);
                    });
                }
                _ => chunked(piece, out, cache),
            }
        });
    }

    /// [`Bpe::merge_bytes`] of a piece or of a part between two cuts.
    #[inline]
    fn merge_segment(&self, piece: &[u8], out: &mut Vec<u32>, cache: &mut PairCache) {
        // Parts of one or two bytes are common where cuts are (CJK, random
        // bytes): settled here, without the general path's setup.
        if let [x, y] = *piece {
            let (x, y) = (self.byte_ids[usize::from(x)], self.byte_ids[usize::from(y)]);
            if x != u32::MAX && y != u32::MAX {
                match cache.get(self, x, y) {
                    NO_PAIR => out.extend([x, y]),
                    packed => out.push(packed as u32),
                }
                return;
            }
        }
        let start = out.len();
        out.extend(
            piece
                .iter()
                .map(|&b| self.byte_ids[usize::from(b)])
                .filter(|&id| id != u32::MAX),
        );
        let len = self.merge_ids(&mut out[start..], cache);
        out.truncate(start + len);
    }

    /// Merges single-byte ids in place by the path that suits their
    /// number; returns the new length.
    fn merge_ids(&self, ids: &mut [u32], cache: &mut PairCache) -> usize {
        if ids.len() < 2 {
            return ids.len();
        }
        #[cfg(target_arch = "x86_64")]
        if (vector_pieces::VECTOR_MIN..=vector_pieces::VECTOR_PIECE).contains(&ids.len())
            && self.ranks_fit_lanes
        {
            return self.merge_vector(ids, cache);
        }
        if ids.len() <= SMALL_PIECE {
            self.merge_small(ids, cache)
        } else if let Some(len) = ids
            .iter()
            .all(|&id| id == ids[0])
            .then(|| self.merge_run(ids))
            .flatten()
        {
            len
        } else if ids.len() <= HEAP_PIECE {
            self.merge_heap(ids, cache)
        } else {
            self.merge_large(ids, cache)
        }
    }

    #[inline]
    fn packed(&self, left: u32, right: u32) -> u64 {
        self.pairs
            .get(&pair_key(left, right))
            .copied()
            .unwrap_or(NO_PAIR)
    }
}

mod chunks;
mod cuts;
mod long_pieces;
mod pair_cache;
mod periodic;
#[cfg(test)]
mod periodic_tests;
mod small_pieces;
#[cfg(test)]
mod tests;
mod vector_pieces;
mod whole_table;

use chunks::TokenLengths;
use cuts::Cuts;
use pair_cache::{PairCache, PairCaches};
pub use whole_table::piece_key;
use whole_table::WholeTable;
