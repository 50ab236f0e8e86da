//! The chain's inputs, their validation, and the combined n-gram score of
//! one position.

use super::float::CrfFloat;
use crate::array::{ArrayView, DisplayShape};
use crate::crf::CrfError;

/// The highest order a chain may have.
pub const MAX_ORDER: usize = 4;
/// The most label n-grams of the full order (`L^N`) a chain may have.
pub const MAX_NGRAMS: usize = 1 << 26;

/// Inputs of every higher-order kernel.
///
/// `factors[n - 1]` holds the order-`n` factors, shape
/// `(batch, max_len, L^n)`; `tables[n - 1]` holds the order-`n` table,
/// shape `(L^n,)`, added at every position. Any subset of orders
/// `1..=order` may be present (a missing one scores 0); orders above
/// `order` must be `None`. `lengths[b]` is sequence `b`'s length (at most
/// `max_len`; 0 allowed). See the [module documentation](super) for the
/// score these define.
#[derive(Debug, Clone, Copy)]
pub struct HigherOrderInputs<'a, T> {
    /// N in `1..=4`: the longest label n-gram scored (2 is a first-order chain).
    pub order: usize,
    /// L: labels are `0..L`.
    pub num_labels: usize,
    /// `factors[n - 1]`: `(batch, max_len, L^n)` or `None`.
    pub factors: [Option<ArrayView<'a, T>>; MAX_ORDER],
    /// `tables[n - 1]`: `(L^n,)` or `None`.
    pub tables: [Option<ArrayView<'a, T>>; MAX_ORDER],
    /// `(batch,)`: the length of each sequence.
    pub lengths: &'a [usize],
}

impl<'a, T> HigherOrderInputs<'a, T> {
    /// A chain with no factors and no tables yet; set them through the
    /// public fields.
    pub fn new(order: usize, num_labels: usize, lengths: &'a [usize]) -> Self {
        Self {
            order,
            num_labels,
            factors: [None, None, None, None],
            tables: [None, None, None, None],
            lengths,
        }
    }
}

/// Validated inputs, with the sizes every kernel needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chain<'a, T> {
    /// N.
    pub order: usize,
    /// L.
    pub labels: usize,
    /// `L^(N-1)`: expanded states (the last N-1 labels).
    pub states: usize,
    /// `L^N`: n-grams of the full order.
    pub ngrams: usize,
    pub batch: usize,
    pub max_len: usize,
    /// `L^n` for `n` in `0..=MAX_ORDER` (only up to `order` is used).
    pub sizes: [usize; MAX_ORDER + 1],
    factors: [Option<&'a [T]>; MAX_ORDER],
    tables: [Option<&'a [T]>; MAX_ORDER],
    pub lengths: &'a [usize],
}

pub(crate) fn validate<'a, T>(inputs: &HigherOrderInputs<'a, T>) -> Result<Chain<'a, T>, CrfError> {
    let order = inputs.order;
    let labels = inputs.num_labels;
    if !(1..=MAX_ORDER).contains(&order) {
        return Err(CrfError::Invalid(format!(
            "the order must be 1 to {MAX_ORDER}, got {order}"
        )));
    }
    if labels == 0 {
        return Err(CrfError::Invalid("num_labels must be at least 1".into()));
    }
    let mut sizes = [1_usize; MAX_ORDER + 1];
    for n in 1..=order {
        sizes[n] = sizes[n - 1].checked_mul(labels).ok_or_else(|| {
            CrfError::Invalid(format!(
                "{labels} labels to the power {n} overflows the address space"
            ))
        })?;
    }
    // The kernels keep per-sequence work arrays of L^N entries; past this
    // the allocation would fail (an abort, not an error).
    if sizes[order] > MAX_NGRAMS {
        return Err(CrfError::Invalid(format!(
            "{labels} labels at order {order} make {} label n-grams per position, over the \
             limit of {MAX_NGRAMS}",
            sizes[order]
        )));
    }
    let batch = inputs.lengths.len();
    let mut max_len = None;
    let mut factors = [None; MAX_ORDER];
    let mut tables = [None; MAX_ORDER];
    for n in 1..=MAX_ORDER {
        let (factor, table) = (&inputs.factors[n - 1], &inputs.tables[n - 1]);
        if n > order && (factor.is_some() || table.is_some()) {
            let what = if factor.is_some() { "factor" } else { "table" };
            return Err(CrfError::Invalid(format!(
                "an order-{n} {what} was given to a chain of order {order}"
            )));
        }
        if let Some(f) = factor {
            let len = match *f.shape() {
                [b, len, size] if b == batch && size == sizes[n] => len,
                _ => {
                    return Err(CrfError::Shape(format!(
                        "order-{n} factors must have shape (batch, max_len, L^{n}) = ({batch}, max_len, {}), got {}",
                        sizes[n],
                        DisplayShape(f.shape())
                    )))
                }
            };
            if let Some(expected) = max_len {
                if expected != len {
                    return Err(CrfError::Shape(format!(
                        "order-{n} factors have max_len {len}, other factors {expected}"
                    )));
                }
            }
            max_len = Some(len);
            factors[n - 1] = Some(f.data());
        }
        if let Some(tab) = table {
            if tab.shape() != [sizes[n]] {
                return Err(CrfError::Shape(format!(
                    "the order-{n} table must have shape (L^{n},) = ({},), got {}",
                    sizes[n],
                    DisplayShape(tab.shape())
                )));
            }
            tables[n - 1] = Some(tab.data());
        }
    }
    let longest = inputs.lengths.iter().copied().max().unwrap_or(0);
    let max_len = match max_len {
        Some(len) => {
            if let Some(b) = inputs.lengths.iter().position(|&l| l > len) {
                return Err(CrfError::Shape(format!(
                    "lengths[{b}] = {} exceeds the factors' max_len {len}",
                    inputs.lengths[b]
                )));
            }
            len
        }
        None => longest,
    };
    Ok(Chain {
        order,
        labels,
        states: sizes[order - 1],
        ngrams: sizes[order],
        batch,
        max_len,
        sizes,
        factors,
        tables,
        lengths: inputs.lengths,
    })
}

impl<T: CrfFloat> Chain<'_, T> {
    pub fn has_factor(&self, n: usize) -> bool {
        self.factors[n - 1].is_some()
    }

    pub fn has_table(&self, n: usize) -> bool {
        self.tables[n - 1].is_some()
    }

    pub fn table(&self, n: usize) -> Option<&[T]> {
        self.tables[n - 1]
    }

    /// The order-`n` factors of sequence `b` at position `t`.
    #[inline]
    pub fn factor_row(&self, n: usize, b: usize, t: usize) -> Option<&[T]> {
        let size = self.sizes[n];
        self.factors[n - 1].map(|f| &f[(b * self.max_len + t) * size..][..size])
    }

    /// The order of the longest n-gram that fits at position `t`.
    #[inline]
    pub fn fitting_order(&self, t: usize) -> usize {
        self.order.min(t + 1)
    }

    /// Writes the combined score of every n-gram ending at position `t` of
    /// sequence `b` into `out[..L^n]`, `n` the fitting order, and returns
    /// `n`. Entry `i` is the sum over orders `m <= n` of the order-`m`
    /// factor and table at the n-gram's last `m` labels (`i mod L^m`).
    ///
    /// Before position `N - 1` the state's missing labels are taken as 0, so
    /// the order-`n` n-gram `i` stands for the full one with index `i` too.
    ///
    /// Built order by order, in place: `u_m[i] = own_m[i] + u_{m-1}[i mod
    /// L^(m-1)]`. Block 0 is updated last, since the others read it. The
    /// scalar [`Self::ngram_score`] adds in the same order, to the bit.
    #[inline(always)]
    pub fn fill_scores(&self, b: usize, t: usize, out: &mut [T]) -> usize {
        let n_top = self.fitting_order(t);
        let l = self.labels;
        let first = &mut out[..l];
        match (self.factor_row(1, b, t), self.table(1)) {
            (Some(f), Some(tab)) => {
                for ((o, &x), &y) in first.iter_mut().zip(f).zip(tab) {
                    *o = x + y;
                }
            }
            (Some(f), None) => first.copy_from_slice(f),
            (None, Some(tab)) => first.copy_from_slice(tab),
            (None, None) => first.fill(T::ZERO),
        }
        for n in 2..=n_top {
            let prev = self.sizes[n - 1];
            let (head, tail) = out[..self.sizes[n]].split_at_mut(prev);
            let f = self.factor_row(n, b, t);
            let tab = self.table(n);
            for (a, block) in tail.chunks_exact_mut(prev).enumerate() {
                let at = (a + 1) * prev;
                add_own(
                    block,
                    head,
                    f.map(|f| &f[at..at + prev]),
                    tab.map(|x| &x[at..at + prev]),
                );
            }
            add_own_in_place(head, f.map(|f| &f[..prev]), tab.map(|x| &x[..prev]));
        }
        n_top
    }

    /// The combined score of n-gram `g` (of the fitting order) at position
    /// `t`: entry `g` of [`Self::fill_scores`], with the same rounding.
    pub fn ngram_score(&self, b: usize, t: usize, g: usize) -> T {
        let n_top = self.fitting_order(t);
        let mut value = T::ZERO;
        for n in 1..=n_top {
            let i = g % self.sizes[n];
            let own = match (self.factor_row(n, b, t), self.table(n)) {
                (Some(f), Some(tab)) => Some(f[i] + tab[i]),
                (Some(f), None) => Some(f[i]),
                (None, Some(tab)) => Some(tab[i]),
                (None, None) => None,
            };
            value = match (n, own) {
                (1, Some(own)) => own,
                (1, None) => T::ZERO,
                (_, Some(own)) => own + value,
                (_, None) => value,
            };
        }
        value
    }

    /// The index of the order-`n` n-gram of `tags` ending at `t` (`t >= n - 1`).
    pub fn gold_index(&self, tags: &[u32], t: usize, n: usize) -> usize {
        tags[t + 1 - n..=t]
            .iter()
            .fold(0, |index, &y| index * self.labels + y as usize)
    }
}

/// `out[i] = own[i] + lower[i]`, where own is `f + tab` (either may be missing).
#[inline(always)]
fn add_own<T: CrfFloat>(out: &mut [T], lower: &[T], f: Option<&[T]>, tab: Option<&[T]>) {
    match (f, tab) {
        (Some(f), Some(tab)) => {
            for (((o, &x), &y), &h) in out.iter_mut().zip(f).zip(tab).zip(lower) {
                *o = (x + y) + h;
            }
        }
        (Some(own), None) | (None, Some(own)) => {
            for ((o, &x), &h) in out.iter_mut().zip(own).zip(lower) {
                *o = x + h;
            }
        }
        (None, None) => out.copy_from_slice(lower),
    }
}

/// `out[i] = own[i] + out[i]`.
#[inline(always)]
fn add_own_in_place<T: CrfFloat>(out: &mut [T], f: Option<&[T]>, tab: Option<&[T]>) {
    match (f, tab) {
        (Some(f), Some(tab)) => {
            for ((o, &x), &y) in out.iter_mut().zip(f).zip(tab) {
                *o = (x + y) + *o;
            }
        }
        (Some(own), None) | (None, Some(own)) => {
            for (o, &x) in out.iter_mut().zip(own) {
                *o = x + *o;
            }
        }
        (None, None) => {}
    }
}
