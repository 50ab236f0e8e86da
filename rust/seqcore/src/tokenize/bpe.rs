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
//! array, long ones with a heap and a linked list, so a megabyte without a
//! single space costs O(n log n), not O(n^2).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

use crate::tokenize::error::TokenizeError;

/// Pieces up to this many bytes merge with the quadratic-but-tiny scan.
const SMALL_PIECE: usize = 96;
/// Pieces up to this many bytes merge with a heap of candidate pairs (it
/// stays in cache); longer ones with per-rank position lists.
const HEAP_PIECE: usize = 4096;
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
    /// Piece bytes -> id (| NOT_DIRECT).
    encoder: FxHashMap<Box<[u8]>, u32>,
    /// The id of each single byte, or `u32::MAX` when the vocabulary lacks it.
    byte_ids: [u32; 256],
    /// `(left << 32) | right` -> `(rank << 32) | merged`.
    pairs: FxHashMap<u64, u64>,
    rule: MergeRule,
    /// Identifies this table to the per-thread pair cache.
    table_id: u64,
}

/// Hands out a distinct id to every merge table built.
static NEXT_TABLE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

thread_local! {
    /// Each thread's cache in front of the pair table it used last.
    static PAIR_CACHE: std::cell::RefCell<PairCache> = std::cell::RefCell::new(PairCache::new());
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
        let mut bpe = Bpe {
            encoder,
            byte_ids,
            pairs,
            rule,
            table_id: NEXT_TABLE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        };
        if rule
            == (MergeRule::Merges {
                ignore_merges: false,
            })
        {
            bpe.mark_indirect_tokens();
        }
        Ok(bpe)
    }

    /// With plain Hugging Face merges a piece that equals a token may still
    /// merge into other tokens; flag those so lookups do not shortcut them.
    fn mark_indirect_tokens(&mut self) {
        let mut scratch = Vec::new();
        let mut indirect = Vec::new();
        for (bytes, &id) in &self.encoder {
            if bytes.len() < 2 {
                continue;
            }
            scratch.clear();
            self.merge_bytes(bytes, &mut scratch);
            if scratch.as_slice() != [id] {
                indirect.push(bytes.clone());
            }
        }
        for bytes in indirect {
            if let Some(v) = self.encoder.get_mut(&bytes) {
                *v |= NOT_DIRECT;
            }
        }
    }

    /// The semantics this table follows.
    pub fn rule(&self) -> MergeRule {
        self.rule
    }

    /// The id of a mergeable token, if `bytes` is one.
    pub fn token_id(&self, bytes: &[u8]) -> Option<u32> {
        self.encoder.get(bytes).map(|&v| v & !NOT_DIRECT)
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
        if let Some(&v) = self.encoder.get(piece) {
            if v & NOT_DIRECT == 0 {
                out.push(v);
                return;
            }
        }
        self.merge_bytes(piece, out);
    }

    /// The token a piece encodes to as a whole, when a lookup settles it.
    #[inline]
    pub fn whole_piece(&self, piece: &[u8]) -> Option<u32> {
        match self.encoder.get(piece) {
            Some(&v) if v & NOT_DIRECT == 0 => Some(v),
            _ => None,
        }
    }

    /// Every `(bytes, id)` that [`Bpe::whole_piece`] settles.
    pub fn whole_pieces(&self) -> impl Iterator<Item = (&[u8], u32)> + '_ {
        self.encoder
            .iter()
            .filter(|(_, &v)| v & NOT_DIRECT == 0)
            .map(|(k, &v)| (&k[..], v))
    }

    /// Appends the ids of a piece that [`Bpe::whole_piece`] did not settle.
    pub fn merge_piece(&self, piece: &[u8], out: &mut Vec<u32>) {
        self.merge_bytes(piece, out);
    }

    /// Merges a piece from its single bytes (bytes missing from the
    /// vocabulary are dropped, as Hugging Face does without `unk_token`).
    fn merge_bytes(&self, piece: &[u8], out: &mut Vec<u32>) {
        let start = out.len();
        out.extend(
            piece
                .iter()
                .map(|&b| self.byte_ids[usize::from(b)])
                .filter(|&id| id != u32::MAX),
        );
        let ids = &mut out[start..];
        let len = PAIR_CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            cache.serve(self);
            if ids.len() <= SMALL_PIECE {
                self.merge_small(ids, &mut cache)
            } else if let Some(len) = ids
                .iter()
                .all(|&id| id == ids[0])
                .then(|| self.merge_run(ids))
                .flatten()
            {
                len
            } else if ids.len() <= HEAP_PIECE {
                self.merge_heap(ids, &mut cache)
            } else {
                self.merge_large(ids, &mut cache)
            }
        });
        out.truncate(start + len);
    }

    #[inline]
    fn packed(&self, left: u32, right: u32) -> u64 {
        self.pairs
            .get(&pair_key(left, right))
            .copied()
            .unwrap_or(NO_PAIR)
    }

    /// Merges in place with a scan for the lowest rank; returns the new length.
    fn merge_small(&self, ids: &mut [u32], cache: &mut PairCache) -> usize {
        let mut len = ids.len();
        if len < 2 {
            return len;
        }
        // ranks[i]: (rank << 32 | merged) of the pair (ids[i], ids[i + 1]).
        let mut ranks = [NO_PAIR; SMALL_PIECE];
        for i in 0..len - 1 {
            ranks[i] = cache.get(self, ids[i], ids[i + 1]);
        }
        loop {
            let mut best = NO_PAIR;
            let mut at = 0;
            for (i, &r) in ranks[..len - 1].iter().enumerate() {
                if r < best {
                    best = r;
                    at = i;
                }
            }
            if best == NO_PAIR {
                return len;
            }
            ids[at] = best as u32;
            ids.copy_within(at + 2..len, at + 1);
            if at + 2 < len {
                ranks.copy_within(at + 2..len - 1, at + 1);
            }
            len -= 1;
            if len == 1 {
                return len;
            }
            ranks[len - 1] = NO_PAIR;
            if at + 1 < len {
                ranks[at] = cache.get(self, ids[at], ids[at + 1]);
            } else {
                ranks[at] = NO_PAIR;
            }
            if at > 0 {
                ranks[at - 1] = cache.get(self, ids[at - 1], ids[at]);
            }
        }
    }

    /// Merges a piece of one repeated symbol (a megabyte of "a", of spaces)
    /// on its run-length form: runs of equal symbols, a handful of them at
    /// any time. Each round takes the lowest-ranked pair present (inside a
    /// run or where two runs meet) and sweeps it left to right over the
    /// runs, which is what the rule does as long as no merge makes a pair of
    /// lower rank; every pair a merge makes is checked, and if one ranks
    /// lower, this gives up (`None`) and the caller merges the general way.
    /// Cost: rounds x runs, independent of the length.
    fn merge_run(&self, ids: &mut [u32]) -> Option<usize> {
        let mut runs: Vec<(u32, usize)> = vec![(ids[0], ids.len())];
        let mut next: Vec<(u32, usize)> = Vec::new();
        let push = |runs: &mut Vec<(u32, usize)>, symbol: u32, count: usize| {
            if count == 0 {
                return;
            }
            match runs.last_mut() {
                Some(last) if last.0 == symbol => last.1 += count,
                _ => runs.push((symbol, count)),
            }
        };
        loop {
            let mut best = NO_PAIR;
            for (i, &(symbol, count)) in runs.iter().enumerate() {
                if count >= 2 {
                    best = best.min(self.packed(symbol, symbol));
                }
                if let Some(&(after, _)) = runs.get(i + 1) {
                    best = best.min(self.packed(symbol, after));
                }
            }
            if best == NO_PAIR {
                break;
            }
            let rank = best >> 32;
            let merge = |left: u32, right: u32| {
                let p = self.packed(left, right);
                (p != NO_PAIR && p >> 32 == rank).then_some(p as u32)
            };
            // A pair made during the sweep that ranks below the sweep's rank
            // would have merged first: the sweep would be wrong.
            let lower = |left: Option<u32>, right: Option<u32>| match (left, right) {
                (Some(l), Some(r)) => {
                    let p = self.packed(l, r);
                    p != NO_PAIR && p >> 32 < rank
                }
                _ => false,
            };
            next.clear();
            // The symbol at the sweep's position, not yet placed.
            let mut pending: Option<u32> = None;
            for (i, &(symbol, mut count)) in runs.iter().enumerate() {
                let following = runs.get(i + 1).map(|r| r.0);
                if let Some(before) = pending.take() {
                    match merge(before, symbol) {
                        Some(merged) => {
                            let right = if count > 1 { Some(symbol) } else { following };
                            if lower(next.last().map(|r| r.0), Some(merged))
                                || lower(Some(merged), right)
                            {
                                return None;
                            }
                            push(&mut next, merged, 1);
                            count -= 1;
                        }
                        None => push(&mut next, before, 1),
                    }
                }
                if count == 0 {
                    continue;
                }
                match merge(symbol, symbol) {
                    Some(merged) => {
                        let pairs = count / 2;
                        let right = if count % 2 == 1 {
                            Some(symbol)
                        } else {
                            following
                        };
                        if lower(next.last().map(|r| r.0), Some(merged))
                            || (pairs >= 2 && lower(Some(merged), Some(merged)))
                            || lower(Some(merged), right)
                        {
                            return None;
                        }
                        push(&mut next, merged, pairs);
                        if count % 2 == 1 {
                            pending = Some(symbol);
                        }
                    }
                    None => {
                        push(&mut next, symbol, count - 1);
                        pending = Some(symbol);
                    }
                }
            }
            if let Some(last) = pending {
                push(&mut next, last, 1);
            }
            std::mem::swap(&mut runs, &mut next);
        }
        let mut len = 0;
        for (symbol, count) in runs {
            ids[len..len + count].fill(symbol);
            len += count;
        }
        Some(len)
    }

    /// Merges in place with a linked list of live symbols and a min-heap of
    /// candidate pairs ordered by (rank, position): the rule itself. A
    /// candidate is still there iff both its ids are unchanged (a merged
    /// symbol only grows, a dead one is set to NONE), so checking costs no
    /// lookup. Returns the new length.
    fn merge_heap(&self, ids: &mut [u32], cache: &mut PairCache) -> usize {
        const NONE: u32 = u32::MAX;
        let n = ids.len();
        let mut next: Vec<u32> = (1..=n as u32).collect();
        next[n - 1] = NONE;
        let mut prev: Vec<u32> = (0..n as u32).map(|i| i.wrapping_sub(1)).collect();
        let mut heap: BinaryHeap<Reverse<Candidate>> = BinaryHeap::with_capacity(n);
        let candidate = |packed: u64, pos: u32, left: u32, right: u32| {
            Reverse(Candidate {
                order: (packed >> 32) << 32 | u64::from(pos),
                merged: packed as u32,
                left,
                right,
            })
        };
        for i in 0..n - 1 {
            let p = cache.get(self, ids[i], ids[i + 1]);
            if p != NO_PAIR {
                heap.push(candidate(p, i as u32, ids[i], ids[i + 1]));
            }
        }
        while let Some(Reverse(c)) = heap.pop() {
            let pos = (c.order & 0xFFFF_FFFF) as usize;
            let right = next[pos];
            if right == NONE || ids[pos] != c.left || ids[right as usize] != c.right {
                continue;
            }
            let right = right as usize;
            ids[pos] = c.merged;
            ids[right] = NONE;
            let after = next[right];
            next[pos] = after;
            if after != NONE {
                prev[after as usize] = pos as u32;
                let r = ids[after as usize];
                let p = cache.get(self, c.merged, r);
                if p != NO_PAIR {
                    heap.push(candidate(p, pos as u32, c.merged, r));
                }
            }
            let before = prev[pos];
            if before != NONE {
                let l = ids[before as usize];
                let p = cache.get(self, l, c.merged);
                if p != NO_PAIR {
                    heap.push(candidate(p, before, l, c.merged));
                }
            }
        }
        compact(ids, &next)
    }

    /// Merges in place with a linked list of live symbols and, per rank, the
    /// positions where a pair of that rank was seen; a small heap holds the
    /// ranks that have positions. Ranks are taken lowest first and each one's
    /// positions left to right, which is the rule itself: a merge never makes
    /// a new pair of the rank being merged (the new pair is longer), and in
    /// the rare file where it makes a pair of a *lower* rank, the rest of the
    /// current rank goes back and the lower one is taken first.
    /// Returns the new length. A megabyte of one repeated byte costs a few
    /// dozen nanoseconds per byte: far less work than a heap of positions.
    fn merge_large(&self, ids: &mut [u32], cache: &mut PairCache) -> usize {
        const NONE: u32 = u32::MAX;
        let n = ids.len();
        let mut next: Vec<u32> = (1..=n as u32).collect();
        next[n - 1] = NONE;
        let mut prev: Vec<u32> = (0..n as u32).map(|i| i.wrapping_sub(1)).collect();
        // rank -> (merged id, [(position, left id, right id)]): a noted pair is
        // still there iff both ids are unchanged, so checking costs no lookup.
        let mut lists: FxHashMap<u32, (u32, Vec<[u32; 3]>)> = FxHashMap::default();
        let mut ranks: BinaryHeap<Reverse<u32>> = BinaryHeap::new();
        let note = |lists: &mut FxHashMap<u32, (u32, Vec<[u32; 3]>)>,
                    ranks: &mut BinaryHeap<Reverse<u32>>,
                    packed: u64,
                    entry: [u32; 3]| {
            let rank = (packed >> 32) as u32;
            match lists.get_mut(&rank) {
                Some((_, list)) => list.push(entry),
                None => {
                    lists.insert(rank, (packed as u32, vec![entry]));
                    ranks.push(Reverse(rank));
                }
            }
        };
        for i in 0..n - 1 {
            let p = cache.get(self, ids[i], ids[i + 1]);
            if p != NO_PAIR {
                note(&mut lists, &mut ranks, p, [i as u32, ids[i], ids[i + 1]]);
            }
        }
        while let Some(Reverse(rank)) = ranks.pop() {
            let Some((merged, mut entries)) = lists.remove(&rank) else {
                continue;
            };
            entries.sort_unstable_by_key(|e| e[0]);
            let mut k = 0;
            while k < entries.len() {
                let [pos, left, right_id] = entries[k];
                let pos = pos as usize;
                k += 1;
                let right = next[pos];
                // Stale: the pair here changed since it was noted (a dead
                // symbol's id is set to NONE, so it never matches).
                if right == NONE || ids[pos] != left || ids[right as usize] != right_id {
                    continue;
                }
                let right = right as usize;
                ids[pos] = merged;
                ids[right] = NONE;
                let after = next[right];
                next[pos] = after;
                let mut lower = false;
                if after != NONE {
                    prev[after as usize] = pos as u32;
                    let (l, r) = (merged, ids[after as usize]);
                    let p = cache.get(self, l, r);
                    if p != NO_PAIR {
                        lower |= ((p >> 32) as u32) < rank;
                        note(&mut lists, &mut ranks, p, [pos as u32, l, r]);
                    }
                }
                let before = prev[pos];
                if before != NONE {
                    let (l, r) = (ids[before as usize], merged);
                    let p = cache.get(self, l, r);
                    if p != NO_PAIR {
                        lower |= ((p >> 32) as u32) < rank;
                        note(&mut lists, &mut ranks, p, [before, l, r]);
                    }
                }
                if lower && k < entries.len() {
                    // A lower rank appeared: it goes first, this one waits.
                    let packed = (u64::from(rank) << 32) | u64::from(merged);
                    for &entry in &entries[k..] {
                        note(&mut lists, &mut ranks, packed, entry);
                    }
                    break;
                }
            }
        }
        compact(ids, &next)
    }
}

/// Moves the live symbols (the linked list from position 0) to the front
/// of `ids`; returns how many there are.
fn compact(ids: &mut [u32], next: &[u32]) -> usize {
    let mut len = 0;
    let mut at = 0u32;
    while at != u32::MAX {
        ids[len] = ids[at as usize];
        len += 1;
        at = next[at as usize];
    }
    len
}

/// A pair that may merge: ordered by `order` = (rank << 32 | position).
#[derive(Clone, Copy)]
struct Candidate {
    order: u64,
    merged: u32,
    left: u32,
    right: u32,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.order == other.order
    }
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order.cmp(&other.order)
    }
}

/// A direct-mapped cache in front of the pair table, one per thread: the
/// table is megabytes (a cache miss per lookup), while text keeps meeting
/// the same few thousand pairs. It serves one table at a time and is
/// cleared when a thread switches tables.
struct PairCache {
    table_id: u64,
    slots: Vec<(u64, u64)>,
}

impl PairCache {
    const BITS: u32 = 13;

    fn new() -> Self {
        PairCache {
            table_id: 0,
            slots: vec![(u64::MAX, 0); 1 << Self::BITS],
        }
    }

    /// Makes the cache serve `bpe` (clearing it if it served another table).
    fn serve(&mut self, bpe: &Bpe) {
        if self.table_id != bpe.table_id {
            self.slots.fill((u64::MAX, 0));
            self.table_id = bpe.table_id;
        }
    }

    #[inline]
    fn get(&mut self, bpe: &Bpe, left: u32, right: u32) -> u64 {
        let key = pair_key(left, right);
        let slot = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - Self::BITS)) as usize;
        let (k, v) = self.slots[slot];
        if k == key {
            return v;
        }
        let v = bpe.packed(left, right);
        self.slots[slot] = (key, v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny merge table: bytes, then "ab", "bc", "abc" (via ab+c), "aa".
    fn table(rule: MergeRule) -> Bpe {
        let mut tokens: Vec<(u32, Vec<u8>)> =
            (0..=255u8).map(|b| (u32::from(b), vec![b])).collect();
        for (i, t) in ["ab", "bc", "abc", "aa"].iter().enumerate() {
            tokens.push((256 + i as u32, t.as_bytes().to_vec()));
        }
        let refs: Vec<(u32, &[u8])> = tokens.iter().map(|(i, b)| (*i, &b[..])).collect();
        let merges = [(97, 98), (98, 99), (256, 99), (97, 97)];
        Bpe::new(&refs, &merges, rule).unwrap()
    }

    fn encode(bpe: &Bpe, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        bpe.encode_piece(text.as_bytes(), &mut out);
        out
    }

    #[test]
    fn merges_lowest_rank_leftmost_first() {
        let bpe = table(MergeRule::Merges {
            ignore_merges: false,
        });
        assert_eq!(encode(&bpe, "abc"), vec![258]);
        assert_eq!(encode(&bpe, "bcab"), vec![257, 256]);
        assert_eq!(encode(&bpe, "aaa"), vec![259, 97]);
        assert_eq!(encode(&bpe, "aaaa"), vec![259, 259]);
        assert_eq!(encode(&bpe, ""), Vec::<u32>::new());
    }

    #[test]
    fn rank_files_merge_any_split() {
        // "abc" = a + bc also merges under tiktoken rules; ranks are ids.
        let bpe = table(MergeRule::Ranks);
        assert_eq!(bpe.pair(97, 257), Some((258, 258)));
        assert_eq!(encode(&bpe, "abc"), vec![258]);
    }

    /// The rule written out plainly: find the lowest-rank pair, merge, repeat.
    fn naive(bpe: &Bpe, piece: &[u8]) -> Vec<u32> {
        let mut ids: Vec<u32> = piece.iter().map(|&b| u32::from(b)).collect();
        loop {
            let best = (0..ids.len().saturating_sub(1))
                .filter_map(|i| bpe.pair(ids[i], ids[i + 1]).map(|(r, m)| (r, i, m)))
                .min();
            let Some((_, i, merged)) = best else {
                return ids;
            };
            ids[i] = merged;
            ids.remove(i + 1);
        }
    }

    /// A file where a merge makes a pair of lower rank: "ab" (rank 1) then
    /// "x" + "ab" (rank 0).
    fn lower_rank_table() -> Bpe {
        let mut tokens: Vec<(u32, Vec<u8>)> =
            (0..=255u8).map(|b| (u32::from(b), vec![b])).collect();
        tokens.push((256, b"ab".to_vec()));
        tokens.push((257, b"xab".to_vec()));
        let refs: Vec<(u32, &[u8])> = tokens.iter().map(|(i, b)| (*i, &b[..])).collect();
        let rule = MergeRule::Merges {
            ignore_merges: false,
        };
        Bpe::new(&refs, &[(120, 256), (97, 98)], rule).unwrap()
    }

    #[test]
    fn runs_of_one_symbol_follow_the_rule() {
        for bpe in [
            table(MergeRule::Ranks),
            table(MergeRule::Merges {
                ignore_merges: false,
            }),
        ] {
            for byte in [b'a', b'b', b'x'] {
                for len in (0..300).chain([997, 1024, 4097]) {
                    let piece = vec![byte; len];
                    let mut out = Vec::new();
                    bpe.merge_bytes(&piece, &mut out);
                    assert_eq!(out, naive(&bpe, &piece), "{len} x {byte}");
                }
            }
        }
        // Many tokens of one letter, made in an order that mixes lengths.
        let mut tokens: Vec<(u32, Vec<u8>)> =
            (0..=255u8).map(|b| (u32::from(b), vec![b])).collect();
        for (i, n) in [2usize, 3, 4, 5, 7, 8, 6].iter().enumerate() {
            tokens.push((256 + i as u32, vec![b'a'; *n]));
        }
        let refs: Vec<(u32, &[u8])> = tokens.iter().map(|(i, b)| (*i, &b[..])).collect();
        // aa, aaa = aa+a, aaaa = aa+aa, aaaaa = aaaa+a, a7 = aaaa+aaa, a8 = aaaa+aaaa, a6 = aaa+aaa
        let merges = [
            (97, 97),
            (256, 97),
            (256, 256),
            (258, 97),
            (258, 257),
            (258, 258),
            (257, 257),
        ];
        for rule in [
            MergeRule::Ranks,
            MergeRule::Merges {
                ignore_merges: false,
            },
        ] {
            let bpe = Bpe::new(&refs, &merges, rule).unwrap();
            // The run path succeeds here (no merge makes a lower rank).
            if rule != MergeRule::Ranks {
                let mut ids = vec![97; 1000];
                assert!(bpe.merge_run(&mut ids).is_some());
            }
            for len in (0..400).chain([4097, 10_000]) {
                let piece = vec![b'a'; len];
                let mut out = Vec::new();
                bpe.merge_bytes(&piece, &mut out);
                assert_eq!(out, naive(&bpe, &piece), "{len} under {rule:?}");
            }
        }
    }

    #[test]
    fn both_merge_paths_follow_the_rule() {
        let tables = [
            table(MergeRule::Ranks),
            table(MergeRule::Merges {
                ignore_merges: false,
            }),
            lower_rank_table(),
        ];
        for bpe in tables {
            let mut state = 12345u64;
            for len in [0usize, 1, 2, 3, 47, 48, 49, 95, 96, 97, 100, 500, 5000] {
                for _ in 0..50 {
                    let piece: Vec<u8> = (0..len)
                        .map(|_| {
                            state = state
                                .wrapping_mul(6364136223846793005)
                                .wrapping_add(1442695040888963407);
                            b"abcx"[(state >> 33) as usize % 4]
                        })
                        .collect();
                    let mut via_merge = Vec::new();
                    bpe.merge_bytes(&piece, &mut via_merge);
                    assert_eq!(via_merge, naive(&bpe, &piece), "{piece:?}");
                    if len >= 2 {
                        let mut large: Vec<u32> = piece.iter().map(|&b| u32::from(b)).collect();
                        let mut cache = PairCache::new();
                        cache.serve(&bpe);
                        let mut heap = large.clone();
                        let n = bpe.merge_large(&mut large, &mut cache);
                        assert_eq!(&large[..n], naive(&bpe, &piece), "{piece:?}");
                        let n = bpe.merge_heap(&mut heap, &mut cache);
                        assert_eq!(&heap[..n], naive(&bpe, &piece), "{piece:?}");
                    }
                }
            }
        }
    }
}
