//! Test support: random chains, and every quantity computed by enumerating
//! all `L^T` labellings straight from the model's definition.

use super::inputs::{HigherOrderInputs, MAX_ORDER};
use crate::array::ArrayView;

/// SplitMix64: a small deterministic generator for test data.
pub(super) struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Per order: f32 data, if any.
pub(super) type Single = Vec<Option<Vec<f32>>>;

/// An owned chain: data and shapes for [`HigherOrderInputs`].
#[derive(Debug, Clone)]
pub(super) struct Case {
    pub order: usize,
    pub labels: usize,
    pub max_len: usize,
    pub lengths: Vec<usize>,
    pub factors: [Option<Vec<f64>>; MAX_ORDER],
    pub tables: [Option<Vec<f64>>; MAX_ORDER],
    factor_shapes: [[usize; 3]; MAX_ORDER],
    table_shapes: [[usize; 1]; MAX_ORDER],
}

impl Case {
    pub fn new(order: usize, labels: usize, max_len: usize, lengths: Vec<usize>) -> Self {
        let batch = lengths.len();
        Self {
            order,
            labels,
            max_len,
            lengths,
            factors: Default::default(),
            tables: Default::default(),
            factor_shapes: std::array::from_fn(|i| [batch, max_len, labels.pow(i as u32 + 1)]),
            table_shapes: std::array::from_fn(|i| [labels.pow(i as u32 + 1)]),
        }
    }

    /// A random chain: orders, labels, lengths (0, 1 and short ones
    /// included), which factors and tables exist, and `-inf` entries.
    pub fn random(rng: &mut Rng, max_labels: usize, max_time: usize) -> Self {
        let order = 1 + rng.below(4);
        let labels = 1 + rng.below(max_labels);
        let max_len = rng.below(max_time + 1);
        let batch = 1 + rng.below(3);
        let lengths = (0..batch).map(|_| rng.below(max_len + 1)).collect();
        let mut case = Self::new(order, labels, max_len, lengths);
        let forbid = [0.0, 0.1, 0.3][rng.below(3)];
        for n in 1..=order {
            if rng.below(4) != 0 {
                case.set_factor(n, |_, _, _| value(rng, forbid));
            }
            if rng.below(2) == 0 {
                case.set_table(n, |_| value(rng, forbid));
            }
        }
        case
    }

    pub fn batch(&self) -> usize {
        self.lengths.len()
    }

    pub fn size(&self, n: usize) -> usize {
        self.labels.pow(n as u32)
    }

    /// Sets the order-`n` factors to `f(b, t, i)`.
    pub fn set_factor(&mut self, n: usize, mut f: impl FnMut(usize, usize, usize) -> f64) {
        let size = self.size(n);
        let mut data = Vec::with_capacity(self.batch() * self.max_len * size);
        for b in 0..self.batch() {
            for t in 0..self.max_len {
                for i in 0..size {
                    data.push(f(b, t, i));
                }
            }
        }
        self.factors[n - 1] = Some(data);
    }

    pub fn set_table(&mut self, n: usize, f: impl FnMut(usize) -> f64) {
        self.tables[n - 1] = Some((0..self.size(n)).map(f).collect());
    }

    pub fn inputs(&self) -> HigherOrderInputs<'_, f64> {
        let mut inputs = HigherOrderInputs::new(self.order, self.labels, &self.lengths);
        for i in 0..MAX_ORDER {
            inputs.factors[i] = self.factors[i]
                .as_ref()
                .map(|f| ArrayView::new(f, &self.factor_shapes[i]).unwrap());
            inputs.tables[i] = self.tables[i]
                .as_ref()
                .map(|t| ArrayView::new(t, &self.table_shapes[i]).unwrap());
        }
        inputs
    }

    /// The same chain's factors and tables in f32.
    pub fn to_f32(&self) -> (Single, Single) {
        let cast = |v: &Option<Vec<f64>>| v.as_ref().map(|v| v.iter().map(|&x| x as f32).collect());
        (
            self.factors.iter().map(cast).collect(),
            self.tables.iter().map(cast).collect(),
        )
    }

    pub fn inputs_f32<'a>(
        &'a self,
        factors: &'a [Option<Vec<f32>>],
        tables: &'a [Option<Vec<f32>>],
    ) -> HigherOrderInputs<'a, f32> {
        let mut inputs = HigherOrderInputs::new(self.order, self.labels, &self.lengths);
        for i in 0..MAX_ORDER {
            inputs.factors[i] = factors[i]
                .as_ref()
                .map(|f| ArrayView::new(f, &self.factor_shapes[i]).unwrap());
            inputs.tables[i] = tables[i]
                .as_ref()
                .map(|t| ArrayView::new(t, &self.table_shapes[i]).unwrap());
        }
        inputs
    }

    pub fn index(&self, y: &[u32]) -> usize {
        y.iter().fold(0, |i, &a| i * self.labels + a as usize)
    }

    /// The score of labelling `y` of sequence `b`, from the definition.
    pub fn score(&self, b: usize, y: &[u32]) -> f64 {
        let mut total = 0.0;
        for t in 0..y.len() {
            for n in 1..=self.order.min(t + 1) {
                let i = self.index(&y[t + 1 - n..=t]);
                if let Some(f) = &self.factors[n - 1] {
                    total += f[(b * self.max_len + t) * self.size(n) + i];
                }
                if let Some(tab) = &self.tables[n - 1] {
                    total += tab[i];
                }
            }
        }
        total
    }

    /// Every labelling of length `len`, in lexicographic order.
    pub fn all_paths(&self, len: usize) -> Vec<Vec<u32>> {
        let count = self.labels.pow(len as u32);
        (0..count)
            .map(|mut code| {
                let mut y = vec![0; len];
                for slot in y.iter_mut().rev() {
                    *slot = (code % self.labels) as u32;
                    code /= self.labels;
                }
                y
            })
            .collect()
    }

    /// Brute-force results for sequence `b`.
    pub fn brute(&self, b: usize) -> Brute {
        let len = self.lengths[b];
        let paths = self.all_paths(len);
        let scores: Vec<f64> = paths.iter().map(|y| self.score(b, y)).collect();
        let top = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let log_z = if top == f64::NEG_INFINITY {
            f64::NEG_INFINITY
        } else {
            top + scores.iter().map(|s| (s - top).exp()).sum::<f64>().ln()
        };
        let mut marginals: Vec<Vec<f64>> = (1..=MAX_ORDER)
            .map(|n| {
                vec![
                    0.0;
                    if n <= self.order {
                        self.max_len * self.size(n)
                    } else {
                        0
                    }
                ]
            })
            .collect();
        if log_z.is_finite() {
            for (y, &s) in paths.iter().zip(&scores) {
                let p = (s - log_z).exp();
                for n in 1..=self.order {
                    for t in n - 1..len {
                        marginals[n - 1][t * self.size(n) + self.index(&y[t + 1 - n..=t])] += p;
                    }
                }
            }
        }
        let mut ranked: Vec<(f64, Vec<u32>)> = scores.iter().cloned().zip(paths).collect();
        // Best first; ties in lexicographic order (a stable sort keeps it).
        ranked.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
        ranked.retain(|(s, _)| *s > f64::NEG_INFINITY);
        Brute {
            log_z,
            marginals,
            ranked,
        }
    }
}

/// What enumeration says about one sequence.
pub(super) struct Brute {
    pub log_z: f64,
    /// Per order `n`: `(max_len, L^n)`.
    pub marginals: Vec<Vec<f64>>,
    /// Every labelling of finite score, best first.
    pub ranked: Vec<(f64, Vec<u32>)>,
}

/// A score: roughly normal, or `-inf` with probability `forbid`.
pub(super) fn value(rng: &mut Rng, forbid: f64) -> f64 {
    if rng.uniform() < forbid {
        f64::NEG_INFINITY
    } else {
        (rng.uniform() + rng.uniform() + rng.uniform() - 1.5) * 2.0
    }
}

/// `|a - b| <= tol * max(1, |b|)`, with equal infinities and NaNs accepted.
pub(super) fn close(a: f64, b: f64, tol: f64) -> bool {
    if a == b || (a.is_nan() && b.is_nan()) {
        return true;
    }
    (a - b).abs() <= tol * b.abs().max(1.0)
}

/// A random chain the scaled passes apply to (no factor of the full
/// order): order 2 to 4 with up to `max_labels[order - 2]` labels, a batch
/// that fills vectors partly, lengths from 0 up, lower factors and tables
/// present or not, `-inf` entries.
pub(super) fn scaled_case(rng: &mut Rng, max_labels: [usize; 3]) -> Case {
    let order = 2 + rng.below(3);
    let labels = 1 + rng.below(max_labels[order - 2]);
    let max_len = rng.below(12);
    let batch = 1 + rng.below(19);
    let lengths = (0..batch).map(|_| rng.below(max_len + 1)).collect();
    let mut case = Case::new(order, labels, max_len, lengths);
    let forbid = [0.0, 0.05, 0.3][rng.below(3)];
    let scale = [1.0, 5.0, 20.0][rng.below(3)];
    for n in 1..=order {
        if n < order && rng.below(3) != 0 {
            case.set_factor(n, |_, _, _| value(rng, forbid) * scale);
        }
        if rng.below(3) != 0 {
            case.set_table(n, |_| value(rng, forbid) * scale);
        }
    }
    case
}
