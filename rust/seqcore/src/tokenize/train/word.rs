//! Merging one pair within one word, and the pair counts of a word.
//!
//! Counting follows what merging does: left to right, without overlaps. A
//! run of one token `x` of length `n` holds `n / 2` pairs `(x, x)`, because
//! merging `(x, x)` turns `x x x` into `xx x`. (Hugging Face's trainer
//! counts every adjacent position instead, `n - 1`, which overstates such
//! pairs.) So after a merge, the pair counts of a word are recounted over
//! small stretches around the merged positions whose ends are run
//! boundaries (outside them nothing changed), and only the difference is
//! reported.

/// The longest token that may be created, in bytes (`usize::MAX`: any).
#[derive(Debug, Clone, Copy)]
pub(super) struct Limit(pub(super) usize);

impl Limit {
    /// Whether merging tokens `left` and `right` is allowed.
    #[inline]
    pub(super) fn allows(self, token_lens: &[u32], left: u32, right: u32) -> bool {
        self.0 == usize::MAX
            || token_lens[left as usize] as usize + token_lens[right as usize] as usize <= self.0
    }
}

/// A pair of tokens as one hash key: `left << 32 | right`.
#[inline]
pub(super) fn pair_key(left: u32, right: u32) -> u64 {
    (u64::from(left) << 32) | u64::from(right)
}

/// The `(left, right)` tokens of a [`pair_key`].
#[inline]
pub(super) fn split_key(pair: u64) -> (u32, u32) {
    ((pair >> 32) as u32, pair as u32)
}

/// Calls `emit(pair)` once for each time merging that pair would replace it
/// in `word`: every adjacent pair of different tokens, and in a run of equal
/// tokens every other position starting from the run's left end.
#[inline]
pub(super) fn for_each_pair(
    word: &[u32],
    token_lens: &[u32],
    limit: Limit,
    mut emit: impl FnMut(u64),
) {
    // Position of `word[i]` within its run of equal tokens.
    let mut in_run = 0usize;
    for i in 1..word.len() {
        let (left, right) = (word[i - 1], word[i]);
        if left == right {
            if in_run.is_multiple_of(2) && limit.allows(token_lens, left, right) {
                emit(pair_key(left, right));
            }
            in_run += 1;
        } else {
            if limit.allows(token_lens, left, right) {
                emit(pair_key(left, right));
            }
            in_run = 0;
        }
    }
}

/// Scratch buffers of one thread's merge work.
#[derive(Default)]
pub(super) struct Scratch {
    before: Vec<u64>,
    after: Vec<u64>,
    regions: Vec<Region>,
}

/// A stretch of a word to recount after a merge: `lo..hi` in the old word,
/// holding `sites` merged positions, with `removed_before` merged positions
/// (one token removed each) to its left.
#[derive(Debug, Clone, Copy)]
struct Region {
    lo: usize,
    hi: usize,
    removed_before: usize,
    sites: usize,
}

/// The start of the run of equal tokens that holds `word[p]`.
#[inline]
fn run_start(word: &[u32], mut p: usize) -> usize {
    while p > 0 && word[p - 1] == word[p] {
        p -= 1;
    }
    p
}

/// The end (exclusive) of the run of equal tokens that holds `word[q]`.
#[inline]
fn run_end(word: &[u32], mut q: usize) -> usize {
    while q + 1 < word.len() && word[q + 1] == word[q] {
        q += 1;
    }
    q + 1
}

/// Merges every occurrence of `(a, b)` in `word` (left to right, without
/// overlaps) into `z`, calls `change(pair, occurrences_delta, appeared)` for
/// each pair whose count in the word changed, and returns the new length.
#[allow(clippy::too_many_arguments)]
pub(super) fn merge_word(
    word: &mut [u32],
    (a, b): (u32, u32),
    z: u32,
    token_lens: &[u32],
    limit: Limit,
    scratch: &mut Scratch,
    mut change: impl FnMut(u64, i64, bool),
) -> usize {
    let n = word.len();
    let is_site = |w: &[u32], i: usize| w[i] == a && w[i + 1] == b;
    // Find the merge sites and the regions to recount around them. A site
    // at `i` changes the pairs from `(word[i - 1], a)` to `(b, word[i + 2])`;
    // its region reaches from the start of the run holding `word[i - 1]` to
    // the end of the run holding `word[i + 2]`. Region ends are run
    // boundaries in the old and the new word alike, so the pairs outside
    // the regions, and their run parities, do not change. Overlapping
    // regions are joined. Recounting per region, rather than the whole word,
    // keeps a merge in a very long word proportional to its sites.
    scratch.regions.clear();
    let mut first = None;
    let mut sites = 0;
    let mut i = 0;
    while i + 1 < n {
        if !is_site(word, i) {
            i += 1;
            continue;
        }
        first.get_or_insert(i);
        let lo = if i == 0 { 0 } else { run_start(word, i - 1) };
        let hi = if i + 2 >= n { n } else { run_end(word, i + 2) };
        match scratch.regions.last_mut() {
            // `hi` never decreases from one site to the next.
            Some(region) if lo < region.hi => {
                region.hi = hi;
                region.sites += 1;
            }
            _ => scratch.regions.push(Region {
                lo,
                hi,
                removed_before: sites,
                sites: 1,
            }),
        }
        sites += 1;
        i += 2;
    }
    let Some(first) = first else {
        // The word list was stale: the pair is gone from this word.
        return n;
    };
    scratch.before.clear();
    for region in &scratch.regions {
        for_each_pair(&word[region.lo..region.hi], token_lens, limit, |p| {
            scratch.before.push(p)
        });
    }

    // Merge in place: the write position never passes the read position.
    let (mut read, mut write) = (first, first);
    while read < n {
        if read + 1 < n && is_site(word, read) {
            word[write] = z;
            read += 2;
        } else {
            word[write] = word[read];
            read += 1;
        }
        write += 1;
    }
    scratch.after.clear();
    for region in &scratch.regions {
        let lo = region.lo - region.removed_before;
        let hi = region.hi - region.removed_before - region.sites;
        for_each_pair(&word[lo..hi], token_lens, limit, |p| scratch.after.push(p));
    }
    diff(&mut scratch.before, &mut scratch.after, &mut change);
    write
}

/// Calls `change(pair, after - before, before == 0)` for every pair whose
/// multiplicity differs between the two lists (which get sorted).
fn diff(before: &mut [u64], after: &mut [u64], change: &mut impl FnMut(u64, i64, bool)) {
    before.sort_unstable();
    after.sort_unstable();
    let (mut i, mut j) = (0, 0);
    while i < before.len() || j < after.len() {
        let pair = match (before.get(i), after.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => unreachable!(),
        };
        let mut old = 0i64;
        while i < before.len() && before[i] == pair {
            old += 1;
            i += 1;
        }
        let mut new = 0i64;
        while j < after.len() && after[j] == pair {
            new += 1;
            j += 1;
        }
        if old != new {
            change(pair, new - old, old == 0);
        }
    }
}

#[cfg(test)]
mod word_tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// Pair counts of a whole word, by brute force.
    fn all_pairs(word: &[u32]) -> BTreeMap<u64, i64> {
        let mut out = BTreeMap::new();
        for_each_pair(word, &[], Limit(usize::MAX), |p| {
            *out.entry(p).or_insert(0) += 1
        });
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The reported changes equal recounting the whole word, for long
        /// words with many separate merge sites and runs.
        #[test]
        fn changes_match_a_full_recount(word in proptest::collection::vec(0u32..3, 0..40), pick in any::<usize>()) {
            let Some(pos) = (word.len() >= 2).then(|| pick % (word.len() - 1)) else { return Ok(()) };
            let (a, b) = (word[pos], word[pos + 1]);
            let before = all_pairs(&word);
            let mut merged = word.clone();
            let mut changes = BTreeMap::new();
            let mut scratch = Scratch::default();
            let len = merge_word(&mut merged, (a, b), 9, &[], Limit(usize::MAX), &mut scratch, |p, d, appeared| {
                // Each pair is reported once.
                assert!(changes.insert(p, (d, appeared)).is_none());
            });
            merged.truncate(len);
            // The merge itself, by the obvious method.
            let mut expected = Vec::new();
            let mut i = 0;
            while i < word.len() {
                if i + 1 < word.len() && word[i] == a && word[i + 1] == b {
                    expected.push(9);
                    i += 2;
                } else {
                    expected.push(word[i]);
                    i += 1;
                }
            }
            prop_assert_eq!(&merged, &expected);
            let after = all_pairs(&merged);
            let mut keys: Vec<u64> = before.keys().chain(after.keys()).copied().collect();
            keys.sort_unstable();
            keys.dedup();
            for key in keys {
                let (old, new) = (before.get(&key).copied().unwrap_or(0), after.get(&key).copied().unwrap_or(0));
                let reported = changes.get(&key).copied();
                if old == new {
                    prop_assert_eq!(reported, None);
                } else {
                    prop_assert_eq!(reported, Some((new - old, old == 0)));
                }
            }
        }
    }
}
