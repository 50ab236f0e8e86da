//! A binary max-heap of candidate pairs ordered by an outside comparator.
//!
//! `std::collections::BinaryHeap` needs `Ord` on the items themselves, but
//! breaking ties between equal counts needs the token bytes, which live in
//! the learner. This heap takes the "comes out first" test as an argument to
//! each operation instead.

/// A candidate merge: a pair (`left << 32 | right`) and its count when it
/// was pushed. The count may be stale; the learner checks it on pop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) count: u64,
    pub(super) pair: u64,
}

/// A max-heap where `first(a, b)` says whether `a` must come out before `b`.
/// `first` must be a strict total order on the entries in the heap.
#[derive(Debug, Default)]
pub(super) struct Heap {
    items: Vec<Entry>,
}

impl Heap {
    /// Builds a heap from unordered entries in linear time.
    pub(super) fn from_vec(items: Vec<Entry>, first: &impl Fn(&Entry, &Entry) -> bool) -> Self {
        let mut heap = Heap { items };
        for i in (0..heap.items.len() / 2).rev() {
            heap.sift_down(i, first);
        }
        heap
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    pub(super) fn push(&mut self, entry: Entry, first: &impl Fn(&Entry, &Entry) -> bool) {
        self.items.push(entry);
        let mut i = self.items.len() - 1;
        while i > 0 {
            let parent = (i - 1) / 2;
            if !first(&self.items[i], &self.items[parent]) {
                break;
            }
            self.items.swap(i, parent);
            i = parent;
        }
    }

    pub(super) fn pop(&mut self, first: &impl Fn(&Entry, &Entry) -> bool) -> Option<Entry> {
        let last = self.items.pop()?;
        if self.items.is_empty() {
            return Some(last);
        }
        let top = std::mem::replace(&mut self.items[0], last);
        self.sift_down(0, first);
        Some(top)
    }

    fn sift_down(&mut self, mut i: usize, first: &impl Fn(&Entry, &Entry) -> bool) {
        let n = self.items.len();
        loop {
            let left = 2 * i + 1;
            if left >= n {
                return;
            }
            let right = left + 1;
            let child = if right < n && first(&self.items[right], &self.items[left]) {
                right
            } else {
                left
            };
            if !first(&self.items[child], &self.items[i]) {
                return;
            }
            self.items.swap(i, child);
            i = child;
        }
    }
}

#[cfg(test)]
mod heap_tests {
    use super::{Entry, Heap};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn pops_in_order(counts in proptest::collection::vec(0u64..20, 0..200), extra in proptest::collection::vec(0u64..20, 0..50)) {
            // Order: higher count first, then smaller pair.
            let first = |a: &Entry, b: &Entry| a.count > b.count || (a.count == b.count && a.pair < b.pair);
            let items: Vec<Entry> = counts.iter().enumerate().map(|(i, &c)| Entry { count: c, pair: i as u64 }).collect();
            let mut heap = Heap::from_vec(items.clone(), &first);
            let mut all = items;
            for (j, &c) in extra.iter().enumerate() {
                let e = Entry { count: c, pair: (1000 + j) as u64 };
                heap.push(e, &first);
                all.push(e);
            }
            all.sort_by(|a, b| b.count.cmp(&a.count).then(a.pair.cmp(&b.pair)));
            prop_assert_eq!(heap.len(), all.len());
            let mut popped = Vec::new();
            while let Some(e) = heap.pop(&first) {
                popped.push(e);
            }
            prop_assert_eq!(popped, all);
        }
    }
}
