//! Merging pieces of 20 to 128 ids with AVX-512: the ranks of all pairs sit
//! in four vector registers (eight above 64 ids), so finding the lowest is
//! a vector minimum, and a merge kills a slot in a bitmask instead of
//! moving the tail.
//!
//! A merge's steps depend on each other (find the lowest rank, look up the
//! two new neighbour pairs, find the lowest again), so what counts is the
//! length of that chain: here a vector reduction, a few bit operations,
//! two lookups side by side and three lane writes, with no loop over the
//! slots.
//!
//! Processors with AVX2 but not AVX-512 run the same merge with the lanes
//! in memory: on a Zen 1 EPYC, against the scan of `small_pieces` (and the
//! heap above 96 ids), squashed prose merged in 3-10% less time and the
//! one-piece cases of `examples/bpe_speed.rs` in 15-25% less (their parts
//! are chunks of 96 bytes).

use super::{Bpe, PairCache, NO_PAIR, SMALL_PIECE};

/// Pieces up to this many ids take the vector path.
pub(super) const VECTOR_PIECE: usize = 128;
/// Up to this many ids, four registers of ranks are enough.
pub(super) const NARROW_PIECE: usize = 64;
/// ... and from this many: below it the plain scan is as fast (its setup
/// is smaller; prose pieces the base splits are mostly 5-12 bytes).
pub(super) const VECTOR_MIN: usize = 20;
/// Bits of a slot number: a lane holds `rank << SLOT_BITS | slot`, so the
/// vector minimum is at once the lowest rank and its leftmost slot.
const SLOT_BITS: u32 = 7;
/// Ranks must be below this to leave room for the slot number (checked
/// when the table is built; cl100k's go to 100k, o200k's to 200k).
pub(super) const RANK_LIMIT: u32 = (1 << (32 - SLOT_BITS)) - 1;
/// Ranks per vector register.
const LANES: usize = 16;

impl Bpe {
    /// [`Bpe::merge_small`] for pieces of 2 to [`VECTOR_PIECE`] ids, with
    /// AVX-512 where the processor has it; returns the new length. The
    /// table's ranks must be below [`RANK_LIMIT`] (`ranks_fit_lanes`).
    #[cfg(target_arch = "x86_64")]
    pub(super) fn merge_vector(&self, piece: &mut [u32], cache: &mut PairCache) -> usize {
        debug_assert!((2..=VECTOR_PIECE).contains(&piece.len()) && self.ranks_fit_lanes);
        if !crate::simd::has_avx512() {
            return if crate::simd::has_avx2() {
                // SAFETY: the processor supports the features just detected.
                unsafe { self.merge_lanes_avx2(piece, cache) }
            } else if piece.len() <= SMALL_PIECE {
                self.merge_small(piece, cache)
            } else {
                self.merge_heap(piece, cache)
            };
        }
        // SAFETY: the processor supports the features just detected.
        unsafe {
            if piece.len() <= NARROW_PIECE {
                self.merge_vector_avx512::<NARROW_PIECE, { NARROW_PIECE / LANES }>(piece, cache)
            } else {
                self.merge_vector_avx512::<VECTOR_PIECE, { VECTOR_PIECE / LANES }>(piece, cache)
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl,avx2,bmi1,bmi2,lzcnt,popcnt")]
    unsafe fn merge_vector_avx512<const SLOTS: usize, const REGS: usize>(
        &self,
        piece: &mut [u32],
        cache: &mut PairCache,
    ) -> usize {
        use std::arch::x86_64::*;
        let n = piece.len();
        debug_assert!(n <= SLOTS && SLOTS == REGS * LANES);
        let (mut ids, mut merged, ranks) = self.first_lanes::<SLOTS>(piece, cache);
        // SAFETY: each load reads 16 of the ranks.
        let mut regs: [__m512i; REGS] = std::array::from_fn(|r| unsafe {
            _mm512_loadu_si512(ranks.as_ptr().add(r * LANES).cast())
        });
        // Writes `value` into lane `i`. Every register takes a masked write
        // (three of them with an empty mask): indexing the array by a
        // runtime number would keep it in memory instead of registers.
        let set = |regs: &mut [__m512i; REGS], i: u32, value: u32| {
            let bit = 1u128 << i;
            for (r, reg) in regs.iter_mut().enumerate() {
                *reg = _mm512_mask_set1_epi32(*reg, (bit >> (r * LANES)) as u16, value as i32);
            }
        };
        let mut live: u128 = if n == 128 { u128::MAX } else { (1 << n) - 1 };
        loop {
            let mut m = regs[0];
            for reg in &regs[1..] {
                m = _mm512_min_epu32(m, *reg);
            }
            let best = _mm512_reduce_min_epu32(m);
            if best == u32::MAX {
                break;
            }
            // The leftmost of the lowest: slot `at` and the next live one.
            let at = best & ((1 << SLOT_BITS) - 1);
            let above = live & !((2u128 << at).wrapping_sub(1));
            let gone = above.trailing_zeros();
            ids[at as usize] = merged[at as usize];
            live &= !(1 << gone);
            set(&mut regs, gone, u32::MAX);
            // New neighbours: the live slots after and before `at`.
            let after = above & !(1 << gone);
            let (rank, id) = if after != 0 {
                split(cache.get(self, ids[at as usize], ids[after.trailing_zeros() as usize]))
            } else {
                (u32::MAX, 0)
            };
            merged[at as usize] = id;
            set(&mut regs, at, lane(rank, at));
            let below = live & ((1u128 << at) - 1);
            if below != 0 {
                let h = 127 - below.leading_zeros();
                let (rank, id) = split(cache.get(self, ids[h as usize], ids[at as usize]));
                merged[h as usize] = id;
                set(&mut regs, h, lane(rank, h));
            }
        }
        let mut len = 0;
        let mut rest = live;
        while rest != 0 {
            piece[len] = ids[rest.trailing_zeros() as usize];
            len += 1;
            rest &= rest - 1;
        }
        len
    }
}

impl Bpe {
    /// The same merge with the lanes in memory, for AVX2 (no masked lane
    /// writes, no 32 registers): a merge writes three lanes as plain
    /// stores, and each round takes the vector minimum of all of them
    /// again (eight lanes a load).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt")]
    unsafe fn merge_lanes_avx2(&self, piece: &mut [u32], cache: &mut PairCache) -> usize {
        if piece.len() <= NARROW_PIECE {
            self.merge_lanes::<NARROW_PIECE, u64>(piece, cache)
        } else {
            self.merge_lanes::<VECTOR_PIECE, u128>(piece, cache)
        }
    }

    /// The start of both merges: the piece's ids, and for each pair its
    /// merged id and lane value (`u32::MAX` past the last pair).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn first_lanes<const SLOTS: usize>(
        &self,
        piece: &[u32],
        cache: &mut PairCache,
    ) -> ([u32; SLOTS], [u32; SLOTS], [u32; SLOTS]) {
        let n = piece.len();
        let mut ids = [0u32; SLOTS];
        ids[..n].copy_from_slice(piece);
        // merged[i]: the id pair (i, next live slot) merges into.
        let mut merged = [0u32; SLOTS];
        let mut ranks = [u32::MAX; SLOTS];
        for i in 0..n - 1 {
            let (rank, id) = split(cache.get(self, ids[i], ids[i + 1]));
            ranks[i] = lane(rank, i as u32);
            merged[i] = id;
        }
        (ids, merged, ranks)
    }

    /// The body of [`Bpe::merge_lanes_avx2`], plain Rust.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(super) fn merge_lanes<const SLOTS: usize, M: LiveSlots>(
        &self,
        piece: &mut [u32],
        cache: &mut PairCache,
    ) -> usize {
        const STEP: usize = 8;
        let n = piece.len();
        debug_assert!((2..=SLOTS).contains(&n) && SLOTS <= M::BITS as usize);
        let (mut ids, mut merged, mut ranks) = self.first_lanes::<SLOTS>(piece, cache);
        // Lanes past the last pair hold u32::MAX, so whole steps are read.
        let width = (n - 1).div_ceil(STEP) * STEP;
        let mut live = M::first(n);
        loop {
            let mut lowest = [u32::MAX; STEP];
            for step in ranks[..width].chunks_exact(STEP) {
                for (low, &r) in lowest.iter_mut().zip(step) {
                    *low = (*low).min(r);
                }
            }
            let best = lowest.into_iter().fold(u32::MAX, u32::min);
            if best == u32::MAX {
                break;
            }
            let at = best & ((1 << SLOT_BITS) - 1);
            let gone = live.next_after(at);
            ids[at as usize] = merged[at as usize];
            live = live.without(gone);
            ranks[gone as usize] = u32::MAX;
            let (rank, id) = match live.next_after(at) {
                u32::MAX => (u32::MAX, 0),
                after => split(cache.get(self, ids[at as usize], ids[after as usize])),
            };
            merged[at as usize] = id;
            ranks[at as usize] = lane(rank, at);
            if let Some(h) = live.last_before(at) {
                let (rank, id) = split(cache.get(self, ids[h as usize], ids[at as usize]));
                merged[h as usize] = id;
                ranks[h as usize] = lane(rank, h);
            }
        }
        let mut len = 0;
        for slot in live.slots() {
            piece[len] = ids[slot];
            len += 1;
        }
        len
    }
}

/// The live slots of [`Bpe::merge_lanes`] as a bit set: a word for pieces
/// of up to 64 ids (a two-word set cost those 6% more time).
#[cfg(target_arch = "x86_64")]
pub(super) trait LiveSlots: Copy {
    const BITS: u32;
    /// Slots `0..n`.
    fn first(n: usize) -> Self;
    /// The lowest live slot above `slot`, or `u32::MAX`.
    fn next_after(self, slot: u32) -> u32;
    /// The highest live slot below `slot`.
    fn last_before(self, slot: u32) -> Option<u32>;
    fn without(self, slot: u32) -> Self;
    /// The live slots, lowest first.
    fn slots(self) -> impl Iterator<Item = usize>;
}

#[cfg(target_arch = "x86_64")]
macro_rules! live_slots {
    ($t:ty) => {
        impl LiveSlots for $t {
            const BITS: u32 = <$t>::BITS;

            #[inline(always)]
            fn first(n: usize) -> Self {
                if n as u32 == Self::BITS {
                    <$t>::MAX
                } else {
                    (1 << n) - 1
                }
            }

            #[inline(always)]
            fn next_after(self, slot: u32) -> u32 {
                let above = self & !((2 as $t << slot).wrapping_sub(1));
                if above == 0 {
                    u32::MAX
                } else {
                    above.trailing_zeros()
                }
            }

            #[inline(always)]
            fn last_before(self, slot: u32) -> Option<u32> {
                let below = self & ((1 as $t << slot) - 1);
                (below != 0).then(|| Self::BITS - 1 - below.leading_zeros())
            }

            #[inline(always)]
            fn without(self, slot: u32) -> Self {
                self & !(1 << slot)
            }

            #[inline(always)]
            fn slots(self) -> impl Iterator<Item = usize> {
                let mut rest = self;
                std::iter::from_fn(move || {
                    (rest != 0).then(|| {
                        let slot = rest.trailing_zeros() as usize;
                        rest &= rest - 1;
                        slot
                    })
                })
            }
        }
    };
}
#[cfg(target_arch = "x86_64")]
live_slots!(u64);
#[cfg(target_arch = "x86_64")]
live_slots!(u128);

/// The lane value of a pair at `slot`: its rank and slot, or `u32::MAX`
/// for no pair.
#[inline(always)]
fn lane(rank: u32, slot: u32) -> u32 {
    if rank == u32::MAX {
        u32::MAX
    } else {
        rank << SLOT_BITS | slot
    }
}

/// `(rank, merged id)` of a packed pair value; no pair ranks `u32::MAX`.
#[inline(always)]
fn split(packed: u64) -> (u32, u32) {
    if packed == NO_PAIR {
        (u32::MAX, 0)
    } else {
        ((packed >> 32) as u32, packed as u32)
    }
}
