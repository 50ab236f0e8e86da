//! The k best paths of each sequence: one Viterbi pass, then lazy k-best
//! extraction over its trellis (Huang & Chiang 2005, "Better k-best
//! parsing", algorithm 3, on a chain).
//!
//! The r-th best path ending in label `v` at position `t` is a derivation
//! `(pred u, rank r_u)`: the `r_u`-th best path ending in `u` at `t - 1`,
//! then `u -> v`. Rank 0 is the Viterbi predecessor (found again from the
//! stored Viterbi scores, as `viterbi.rs` does, and remembered). A node's later ranks
//! come from a heap of candidates `(u, r_u)`, filled on first need with
//! the rank-0 candidate of every predecessor (all but the Viterbi one) and
//! fed, after each pop `(u, r_u)`, with `(u, r_u + 1)`: itself computed on
//! demand at `(t - 1, u)`. Only nodes on the way of the k paths are ever
//! expanded, so beyond the Viterbi pass the work is about
//! `O(k * len * (L + log k))`, and every node keeps at most `k` derivations
//! and `k` candidates (a candidate outside the `k - 1` best first ones can
//! never be popped in `k - 1` pops).
//!
//! Candidates are ordered by score (before the shared emission is added,
//! as Viterbi compares them), then by lower `u`, then lower `r_u`: the
//! order of the Viterbi tie rule, so the best path is Viterbi's path, and
//! equal scores come out ordered by their labels read from the last
//! position backwards.

use std::cmp::Ordering;

use super::kernels::{arg_max_plus, max_row};
use super::viterbi::{best_end, run_forward, MaxPlus, Path};
use super::{CrfFloat, LinearCrf};
use crate::crf::CrfError;
use crate::parallel;

/// A candidate or a derivation: a score, the predecessor label, its rank.
#[derive(Debug, Clone, Copy)]
struct Entry<T> {
    score: T,
    pred: u32,
    rank: u32,
}

/// `a` before `b`: higher score, then lower predecessor, then lower rank.
/// Scores are never NaN here (such sequences are answered before).
#[inline(always)]
fn order<T: CrfFloat>(a: &Entry<T>, b: &Entry<T>) -> Ordering {
    b.score
        .partial_cmp(&a.score)
        .unwrap_or(Ordering::Equal)
        .then(a.pred.cmp(&b.pred))
        .then(a.rank.cmp(&b.rank))
}

/// A binary heap on a slice whose first element comes first in `order`.
fn sift_down<T: CrfFloat>(heap: &mut [Entry<T>], mut i: usize) {
    loop {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        let mut top = i;
        if l < heap.len() && order(&heap[l], &heap[top]) == Ordering::Less {
            top = l;
        }
        if r < heap.len() && order(&heap[r], &heap[top]) == Ordering::Less {
            top = r;
        }
        if top == i {
            return;
        }
        heap.swap(i, top);
        i = top;
    }
}

fn sift_up<T: CrfFloat>(heap: &mut [Entry<T>], mut i: usize) {
    while i > 0 {
        let parent = (i - 1) / 2;
        if order(&heap[i], &heap[parent]) != Ordering::Less {
            return;
        }
        heap.swap(i, parent);
        i = parent;
    }
}

/// A node `(t, v)` with derivations beyond rank 0. Its derivations and
/// candidates live in `k`-long slots of the shared arenas.
#[derive(Debug, Clone, Copy, Default)]
struct Node {
    /// Derivations known, rank 0 included.
    count: u32,
    heap_len: u32,
    heap_ready: bool,
    /// Whether the successor of the newest derivation is in the heap.
    successor_done: bool,
    exhausted: bool,
}

/// The k-best search over one sequence's Viterbi trellis.
struct Search<'s, T> {
    crf: &'s LinearCrf<'s, T>,
    rows: &'s [T],
    labels: usize,
    k: usize,
    /// `delta_t`, one `stride`-wide row per position.
    delta: &'s [T],
    stride: usize,
    /// `T[u][v]` at `v * labels + u`: a node's incoming scores, contiguous.
    trans_t: &'s [T],
    /// The Viterbi predecessor of `(t, v)` at `t * labels + v` once known,
    /// else `u32::MAX`.
    viterbi: Vec<u32>,
    /// Node index of `(t, v)` at `t * labels + v`, or `u32::MAX`.
    slot: Vec<u32>,
    nodes: Vec<Node>,
    derivations: Vec<Entry<T>>,
    heaps: Vec<Entry<T>>,
    /// The incoming scores of one node, and the maxima of its blocks of 8.
    keys: Vec<T>,
    block_max: Vec<T>,
    stack: Vec<(usize, usize, usize)>,
}

impl<T: CrfFloat> Search<'_, T> {
    /// The Viterbi predecessor of `(t, v)`, `t >= 1`.
    fn viterbi_pred(&mut self, t: usize, v: usize) -> usize {
        let at = t * self.labels + v;
        if self.viterbi[at] == u32::MAX {
            let prev = &self.delta[(t - 1) * self.stride..][..self.labels];
            let incoming = &self.trans_t[v * self.labels..][..self.labels];
            self.viterbi[at] = arg_max_plus(prev, incoming) as u32;
        }
        self.viterbi[at] as usize
    }

    /// The rank-`r` derivation of `(t, v)` (which must exist).
    fn derivation(&mut self, t: usize, v: usize, r: usize) -> Entry<T> {
        if r == 0 {
            let pred = if t == 0 {
                0
            } else {
                self.viterbi_pred(t, v) as u32
            };
            return Entry {
                score: self.delta[t * self.stride + v],
                pred,
                rank: 0,
            };
        }
        let id = self.slot[t * self.labels + v] as usize;
        self.derivations[id * self.k + r]
    }

    fn node(&mut self, t: usize, v: usize) -> usize {
        let at = t * self.labels + v;
        if self.slot[at] == u32::MAX {
            let rank0 = self.derivation(t, v, 0);
            self.slot[at] = self.nodes.len() as u32;
            self.nodes.push(Node {
                count: 1,
                ..Node::default()
            });
            let filler = Entry {
                score: T::NEG_INF,
                pred: 0,
                rank: 0,
            };
            let at = self.derivations.len();
            self.derivations.resize(at + self.k, filler);
            self.derivations[at] = rank0;
            self.heaps.resize(self.heaps.len() + self.k, filler);
        }
        self.slot[at] as usize
    }

    /// Whether `(t, v)` has a rank-`m` derivation (`m < k`), computing the
    /// missing ones (without recursion: positions can be many).
    fn ensure(&mut self, t: usize, v: usize, m: usize) -> bool {
        let k = self.k;
        self.stack.push((t, v, m));
        while let Some(&(t, v, m)) = self.stack.last() {
            let id = self.node(t, v);
            let node = self.nodes[id];
            if node.count as usize > m || node.exhausted {
                self.stack.pop();
                continue;
            }
            if t == 0 {
                // One path ends at the first position: rank 0 only.
                self.nodes[id].exhausted = true;
                continue;
            }
            if !node.heap_ready {
                self.fill_heap(id, t, v);
            }
            if !self.nodes[id].successor_done {
                let last = self.derivations[id * k + self.nodes[id].count as usize - 1];
                let (u, next) = (last.pred as usize, last.rank as usize + 1);
                let pid = self.node(t - 1, u);
                let pred = self.nodes[pid];
                if pred.count as usize > next {
                    let d = self.derivation(t - 1, u, next);
                    let score = d.score + self.trans_t[v * self.labels + u];
                    self.push(
                        id,
                        Entry {
                            score,
                            pred: u as u32,
                            rank: next as u32,
                        },
                    );
                } else if !pred.exhausted && t - 1 > 0 && next < k {
                    self.stack.push((t - 1, u, next));
                    continue;
                }
                self.nodes[id].successor_done = true;
            }
            match self.pop(id) {
                None => self.nodes[id].exhausted = true,
                Some(c) => {
                    let e = self.rows[t * self.labels + v];
                    let count = self.nodes[id].count as usize;
                    self.derivations[id * k + count] = Entry {
                        score: c.score + e,
                        ..c
                    };
                    let node = &mut self.nodes[id];
                    node.count += 1;
                    node.successor_done = false;
                    if node.count as usize == k {
                        node.exhausted = true;
                    }
                }
            }
        }
        self.nodes[self.slot[t * self.labels + v] as usize].count as usize > m
    }

    /// The first candidates of `(t, v)`: the rank-0 one of every predecessor
    /// but the Viterbi one, the `k - 1` best kept, sorted best first (which
    /// makes them a heap already).
    fn fill_heap(&mut self, id: usize, t: usize, v: usize) {
        let l = self.labels;
        let keep = self.k - 1;
        let viterbi = self.viterbi_pred(t, v);
        let prev = &self.delta[(t - 1) * self.stride..][..l];
        let incoming = &self.trans_t[v * l..][..l];
        for ((key, &d), &tr) in self.keys.iter_mut().zip(prev).zip(incoming) {
            *key = d + tr;
        }
        self.keys[viterbi] = T::NEG_INF;
        // Only keys at or above the keep-th largest maximum of a block of 8
        // can be among the `keep` best (each such block holds one key at
        // least as large); the rest are skipped 8 at a time.
        self.block_max.clear();
        for block in self.keys.chunks(8) {
            self.block_max.push(max_row(block));
        }
        let floor = if keep <= self.block_max.len() {
            let (_, &mut floor, _) = self.block_max.select_nth_unstable_by(keep - 1, |a, b| {
                b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal)
            });
            floor
        } else {
            T::NEG_INF
        };
        let heap = &mut self.heaps[id * self.k..][..self.k];
        let mut n = 0;
        // Insertion into a short sorted list of the best keys: a key enters
        // if it beats the worst kept one (once the list is full). Keys come
        // in increasing predecessor order, so an equal key never displaces
        // an earlier (better-ranked) one.
        for (block, keys) in self.keys.chunks(8).enumerate() {
            let mut candidates = 0u32;
            for (lane, &key) in keys.iter().enumerate() {
                candidates |= (((key >= floor) & (key > T::NEG_INF)) as u32) << lane;
            }
            while candidates != 0 {
                let lane = candidates.trailing_zeros() as usize;
                candidates &= candidates - 1;
                let score = keys[lane];
                if n == keep {
                    if score <= heap[n - 1].score {
                        continue;
                    }
                    n -= 1;
                }
                let mut at = n;
                while at > 0 && heap[at - 1].score < score {
                    heap[at] = heap[at - 1];
                    at -= 1;
                }
                heap[at] = Entry {
                    score,
                    pred: (block * 8 + lane) as u32,
                    rank: 0,
                };
                n += 1;
            }
        }
        let node = &mut self.nodes[id];
        node.heap_len = n as u32;
        node.heap_ready = true;
    }

    fn push(&mut self, id: usize, entry: Entry<T>) {
        let len = self.nodes[id].heap_len as usize;
        let slot = &mut self.heaps[id * self.k..][..self.k];
        if len == self.k {
            // Full: only possible past the last pop this node will see.
            return;
        }
        slot[len] = entry;
        sift_up(&mut slot[..=len], len);
        self.nodes[id].heap_len += 1;
    }

    fn pop(&mut self, id: usize) -> Option<Entry<T>> {
        let len = self.nodes[id].heap_len as usize;
        if len == 0 {
            return None;
        }
        let heap = &mut self.heaps[id * self.k..][..len];
        let top = heap[0];
        heap.swap(0, len - 1);
        sift_down(&mut heap[..len - 1], 0);
        self.nodes[id].heap_len -= 1;
        Some(top)
    }

    /// The labels of the rank-`r` path ending in `v` at the last position.
    fn path(&mut self, mut v: usize, mut r: usize) -> Vec<u32> {
        let len = self.rows.len() / self.labels;
        let mut labels = vec![0u32; len];
        for t in (0..len).rev() {
            labels[t] = v as u32;
            if t > 0 {
                let d = self.derivation(t, v, r);
                v = d.pred as usize;
                r = d.rank as usize;
            }
        }
        labels
    }

    /// The k best complete paths, best first.
    fn run(&mut self) -> Vec<Path<T>> {
        let l = self.labels;
        let len = self.rows.len() / l;
        let end = self.crf.end();
        let last = &self.delta[(len - 1) * self.stride..][..l];
        let mut finals: Vec<Entry<T>> = last
            .iter()
            .zip(end)
            .enumerate()
            .map(|(j, (&d, &e))| Entry {
                score: d + e,
                pred: j as u32,
                rank: 0,
            })
            .filter(|c| c.score > T::NEG_INF)
            .collect();
        if finals.len() > self.k {
            finals.select_nth_unstable_by(self.k - 1, order);
            finals.truncate(self.k);
        }
        for i in (0..finals.len() / 2).rev() {
            sift_down(&mut finals, i);
        }
        let mut paths = Vec::with_capacity(self.k.min(64));
        while let Some(&best) = finals.first() {
            paths.push(Path {
                labels: self.path(best.pred as usize, best.rank as usize),
                score: best.score,
            });
            let n = finals.len();
            finals.swap(0, n - 1);
            finals.pop();
            sift_down(&mut finals, 0);
            if paths.len() == self.k {
                break;
            }
            let (j, next) = (best.pred as usize, best.rank as usize + 1);
            if next < self.k && len > 1 && self.ensure(len - 1, j, next) {
                let d = self.derivation(len - 1, j, next);
                finals.push(Entry {
                    score: d.score + end[j],
                    pred: j as u32,
                    rank: next as u32,
                });
                let at = finals.len() - 1;
                sift_up(&mut finals, at);
            }
        }
        paths
    }
}

/// The most paths n-best returns per sequence.
pub const MAX_NBEST: usize = 1 << 24;

/// `labels ^ len`, the number of label paths, saturating.
fn paths_at_most(labels: usize, len: usize) -> usize {
    u32::try_from(len).map_or(usize::MAX, |len| labels.saturating_pow(len))
}

fn nbest_sequence<T: CrfFloat>(
    mp: &MaxPlus<T>,
    crf: &LinearCrf<'_, T>,
    b: usize,
    k: usize,
    bad: bool,
) -> Vec<Path<T>> {
    let rows = crf.emissions(b);
    let labels = mp.labels;
    let len = rows.len() / labels;
    if len == 0 {
        return vec![Path {
            labels: vec![],
            score: T::ZERO,
        }];
    }
    if crf.sequence_bad(b, bad) {
        return vec![Path {
            labels: vec![],
            score: T::NAN,
        }];
    }
    // No more paths than exist: a huge k must not size the tables.
    let k = k.min(paths_at_most(labels, len));
    let mut delta = vec![T::ZERO; len * mp.stride];
    run_forward(mp, crf, rows, &mut delta);
    let last = &delta[(len - 1) * mp.stride..][..labels];
    if best_end(last, crf.end()).1 == T::NEG_INF {
        return vec![];
    }
    let mut search = Search {
        crf,
        rows,
        labels,
        k,
        delta: &delta,
        stride: mp.stride,
        trans_t: &mp.trans_t,
        viterbi: vec![u32::MAX; len * labels],
        slot: vec![u32::MAX; len * labels],
        nodes: Vec::new(),
        derivations: Vec::new(),
        heaps: Vec::new(),
        keys: vec![T::NEG_INF; labels],
        block_max: Vec::with_capacity(labels.div_ceil(8)),
        stack: Vec::new(),
    };
    search.run()
}

impl<T: CrfFloat> LinearCrf<'_, T> {
    /// The `k` best distinct paths of each sequence with their scores, best
    /// first (fewer when fewer paths have a finite score; paths scoring
    /// `-inf` are never returned). `k = 0` is [`CrfError::Invalid`].
    ///
    /// * The first path is exactly [`viterbi`](Self::viterbi)'s, with the
    ///   same score bits. Equal scores are ordered by their labels compared
    ///   from the last position backwards (smaller first), the same tie
    ///   rule as Viterbi's.
    /// * An empty sequence has one path: empty, score 0. A sequence without
    ///   an allowed path has none; one whose scores contain NaN or `+inf`
    ///   gives a single empty path with score NaN.
    pub fn nbest(&self, k: usize) -> Result<Vec<Vec<Path<T>>>, CrfError> {
        if k == 0 {
            return Err(CrfError::Invalid("n-best needs k >= 1".into()));
        }
        let mp = MaxPlus::new(self);
        for b in 0..self.batch() {
            let len = self.emissions(b).len() / mp.labels.max(1);
            if k.min(paths_at_most(mp.labels, len)) > MAX_NBEST {
                return Err(CrfError::Invalid(format!(
                    "n-best returns at most {MAX_NBEST} paths per sequence (its search keeps \
                     k entries per position and label), and sequence {b} has more paths \
                     than that; asked for k = {k}"
                )));
            }
        }
        let bad = self.parameters_bad();
        Ok(parallel::map_tasks(self.batch(), |b| {
            nbest_sequence(&mp, self, b, k, bad)
        }))
    }
}
