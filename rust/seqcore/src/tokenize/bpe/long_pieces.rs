//! Merging long pieces: a piece of one repeated byte on its run-length
//! form, pieces up to [`HEAP_PIECE`](super::HEAP_PIECE) bytes with a heap of
//! candidate pairs, longer ones with per-rank position lists.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

use super::{Bpe, PairCache, NO_PAIR};

impl Bpe {
    /// Merges a piece of one repeated symbol (a megabyte of "a", of spaces)
    /// on its run-length form: runs of equal symbols, a handful of them at
    /// any time. Each round takes the lowest-ranked pair present (inside a
    /// run or where two runs meet) and sweeps it left to right over the
    /// runs, which is what the rule does as long as no merge makes a pair of
    /// lower rank; every pair a merge makes is checked, and if one ranks
    /// lower, this gives up (`None`) and the caller merges the general way.
    /// Cost: rounds x runs, independent of the length.
    pub(super) fn merge_run(&self, ids: &mut [u32]) -> Option<usize> {
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
    pub(super) fn merge_heap(&self, ids: &mut [u32], cache: &mut PairCache) -> usize {
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
    pub(super) fn merge_large(&self, ids: &mut [u32], cache: &mut PairCache) -> usize {
        LARGE_SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let len = self.merge_large_with(ids, cache, &mut scratch);
            scratch.trim();
            len
        })
    }

    fn merge_large_with(
        &self,
        ids: &mut [u32],
        cache: &mut PairCache,
        scratch: &mut LargeScratch,
    ) -> usize {
        const NONE: u32 = u32::MAX;
        let n = ids.len();
        let LargeScratch { next, prev, spare } = scratch;
        next.clear();
        next.extend(1..=n as u32);
        next[n - 1] = NONE;
        prev.clear();
        prev.extend((0..n as u32).map(|i| i.wrapping_sub(1)));
        // rank -> (merged id, [(position, left id, right id)]): a noted pair is
        // still there iff both ids are unchanged, so checking costs no lookup.
        let mut lists: FxHashMap<u32, (u32, Vec<[u32; 3]>)> = FxHashMap::default();
        let mut ranks: BinaryHeap<Reverse<u32>> = BinaryHeap::new();
        let mut note = |lists: &mut FxHashMap<u32, (u32, Vec<[u32; 3]>)>,
                        ranks: &mut BinaryHeap<Reverse<u32>>,
                        packed: u64,
                        entry: [u32; 3]| {
            let rank = (packed >> 32) as u32;
            match lists.get_mut(&rank) {
                Some((_, list)) => list.push(entry),
                None => {
                    let mut list = spare.pop().unwrap_or_default();
                    list.push(entry);
                    lists.insert(rank, (packed as u32, list));
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
        let mut done: Vec<Vec<[u32; 3]>> = Vec::new();
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
            entries.clear();
            done.push(entries);
        }
        spare.append(&mut done);
        compact(ids, next)
    }
}

thread_local! {
    /// [`Bpe::merge_large`]'s buffers, kept between calls: fresh ones of
    /// megabytes are fresh pages, and faulting them in cost about as much
    /// as merging a megabyte of one repeated character.
    static LARGE_SCRATCH: std::cell::RefCell<LargeScratch> =
        std::cell::RefCell::new(LargeScratch::default());
}

/// Buffers of [`Bpe::merge_large`].
#[derive(Default)]
struct LargeScratch {
    next: Vec<u32>,
    prev: Vec<u32>,
    /// Emptied position lists, for the next ranks to fill.
    spare: Vec<Vec<[u32; 3]>>,
}

impl LargeScratch {
    /// Entries kept per buffer between calls (16 MiB of `u32`): a thread
    /// that once merged a huge piece does not hold its memory forever.
    const KEEP: usize = 1 << 22;

    fn trim(&mut self) {
        for buffer in [&mut self.next, &mut self.prev] {
            if buffer.capacity() > Self::KEEP {
                *buffer = Vec::new();
            }
        }
        let mut kept = 0;
        self.spare.retain(|list| {
            kept += list.capacity();
            kept <= Self::KEEP
        });
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
