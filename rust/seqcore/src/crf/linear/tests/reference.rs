//! Plain references the kernels are tested against: a float64 log-space
//! forward-backward written for clarity, and enumeration of every path.

use crate::array::ArrayView;
use crate::crf::linear::LinearCrf;

/// A batch of CRF inputs in f64, convertible to f32.
#[derive(Debug, Clone)]
pub struct Problem {
    pub batch: usize,
    pub max_len: usize,
    pub labels: usize,
    pub emissions: Vec<f64>,
    pub lengths: Vec<usize>,
    pub trans: Vec<f64>,
    pub start: Vec<f64>,
    pub end: Vec<f64>,
}

/// A tiny deterministic generator (tests must not depend on a crate's RNG).
pub struct Gen(u64);

impl Gen {
    pub fn new(seed: u64) -> Self {
        Gen(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let x = self.0;
        (x ^ (x >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9) ^ (x >> 32)
    }
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// How to draw scores.
#[derive(Debug, Clone, Copy)]
pub struct Draw {
    /// Scores are uniform in `[-scale, scale]`.
    pub scale: f64,
    /// Probability that a transition, start or end score is `-inf`.
    pub banned: f64,
    /// Probability that an emission is `-inf`.
    pub banned_emission: f64,
    /// Round scores to integers (so that ties are exact).
    pub integers: bool,
}

impl Draw {
    pub fn plain(scale: f64) -> Self {
        Draw {
            scale,
            banned: 0.0,
            banned_emission: 0.0,
            integers: false,
        }
    }
}

impl Problem {
    pub fn random(
        rng: &mut Gen,
        batch: usize,
        max_len: usize,
        labels: usize,
        draw: Draw,
    ) -> Problem {
        let value = |rng: &mut Gen, banned: f64| {
            if rng.unit() < banned {
                return f64::NEG_INFINITY;
            }
            let x = (rng.unit() * 2.0 - 1.0) * draw.scale;
            if draw.integers {
                x.round()
            } else {
                x
            }
        };
        let emissions = (0..batch * max_len * labels)
            .map(|_| value(rng, draw.banned_emission))
            .collect();
        let trans = (0..labels * labels)
            .map(|_| value(rng, draw.banned))
            .collect();
        let start = (0..labels).map(|_| value(rng, draw.banned)).collect();
        let end = (0..labels).map(|_| value(rng, draw.banned)).collect();
        let lengths = (0..batch).map(|_| rng.below(max_len + 1)).collect();
        Problem {
            batch,
            max_len,
            labels,
            emissions,
            lengths,
            trans,
            start,
            end,
        }
    }

    pub fn shape(&self) -> [usize; 3] {
        [self.batch, self.max_len, self.labels]
    }

    /// Runs `f` on the problem as an f64 CRF.
    pub fn with_f64<R>(&self, f: impl FnOnce(&LinearCrf<'_, f64>) -> R) -> R {
        let shape = self.shape();
        let tshape = [self.labels, self.labels];
        let crf = LinearCrf::new(
            ArrayView::new(&self.emissions, &shape).unwrap(),
            Some(&self.lengths),
            ArrayView::new(&self.trans, &tshape).unwrap(),
            &self.start,
            &self.end,
        )
        .unwrap();
        f(&crf)
    }

    /// Runs `f` on the problem rounded to f32.
    pub fn with_f32<R>(&self, f: impl FnOnce(&LinearCrf<'_, f32>) -> R) -> R {
        let single = |x: &[f64]| x.iter().map(|&v| v as f32).collect::<Vec<f32>>();
        let (e, t, s, n) = (
            single(&self.emissions),
            single(&self.trans),
            single(&self.start),
            single(&self.end),
        );
        let shape = self.shape();
        let tshape = [self.labels, self.labels];
        let crf = LinearCrf::new(
            ArrayView::new(&e, &shape).unwrap(),
            Some(&self.lengths),
            ArrayView::new(&t, &tshape).unwrap(),
            &s,
            &n,
        )
        .unwrap();
        f(&crf)
    }

    /// The f32 rounding of the problem, as an f64 problem (the reference
    /// for f32 runs).
    pub fn rounded_to_f32(&self) -> Problem {
        let round = |x: &[f64]| x.iter().map(|&v| v as f32 as f64).collect();
        Problem {
            emissions: round(&self.emissions),
            trans: round(&self.trans),
            start: round(&self.start),
            end: round(&self.end),
            ..self.clone()
        }
    }

    pub fn emission(&self, b: usize, t: usize, j: usize) -> f64 {
        self.emissions[(b * self.max_len + t) * self.labels + j]
    }

    pub fn tr(&self, i: usize, j: usize) -> f64 {
        self.trans[i * self.labels + j]
    }

    /// The score of a path of sequence `b`, summed left to right in the
    /// order Viterbi adds (so that ties are exact in f64).
    pub fn path_score(&self, b: usize, path: &[u32]) -> f64 {
        let Some(&first) = path.first() else {
            return 0.0;
        };
        let mut score = self.start[first as usize] + self.emission(b, 0, first as usize);
        for t in 1..path.len() {
            let (i, j) = (path[t - 1] as usize, path[t] as usize);
            score = (score + self.tr(i, j)) + self.emission(b, t, j);
        }
        score + self.end[path[path.len() - 1] as usize]
    }

    /// Every label path of sequence `b` with its score (`L^len` of them).
    pub fn all_paths(&self, b: usize) -> Vec<(Vec<u32>, f64)> {
        let len = self.lengths[b];
        let total = self.labels.pow(len as u32);
        (0..total)
            .map(|mut code| {
                let mut path = vec![0u32; len];
                for t in (0..len).rev() {
                    path[t] = (code % self.labels) as u32;
                    code /= self.labels;
                }
                let score = self.path_score(b, &path);
                (path, score)
            })
            .collect()
    }
}

pub fn log_sum_exp(values: impl IntoIterator<Item = f64>) -> f64 {
    let values: Vec<f64> = values.into_iter().collect();
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + values.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// Log-partition and marginals of one sequence, from the f64 log-space
/// forward-backward.
#[derive(Debug, Clone)]
pub struct Reference {
    pub log_z: f64,
    /// `(len, L)`.
    pub nodes: Vec<f64>,
    /// `(len - 1, L, L)`.
    pub edges: Vec<f64>,
}

pub fn reference(p: &Problem, b: usize) -> Reference {
    let (len, l) = (p.lengths[b], p.labels);
    if len == 0 {
        return Reference {
            log_z: 0.0,
            nodes: vec![],
            edges: vec![],
        };
    }
    let mut alpha = vec![vec![0.0; l]; len];
    let mut beta = vec![vec![0.0; l]; len];
    for j in 0..l {
        alpha[0][j] = p.start[j] + p.emission(b, 0, j);
        beta[len - 1][j] = p.end[j];
    }
    for t in 1..len {
        for j in 0..l {
            alpha[t][j] =
                log_sum_exp((0..l).map(|i| alpha[t - 1][i] + p.tr(i, j))) + p.emission(b, t, j);
        }
    }
    for t in (0..len - 1).rev() {
        for i in 0..l {
            beta[t][i] =
                log_sum_exp((0..l).map(|j| p.tr(i, j) + p.emission(b, t + 1, j) + beta[t + 1][j]));
        }
    }
    let log_z = log_sum_exp((0..l).map(|j| alpha[len - 1][j] + p.end[j]));
    let dead = log_z == f64::NEG_INFINITY;
    let prob = |x: f64| if dead { 0.0 } else { (x - log_z).exp() };
    let mut nodes = vec![0.0; len * l];
    let mut edges = vec![0.0; (len - 1) * l * l];
    for t in 0..len {
        for j in 0..l {
            nodes[t * l + j] = prob(alpha[t][j] + beta[t][j]);
            if t > 0 {
                for i in 0..l {
                    edges[((t - 1) * l + i) * l + j] =
                        prob(alpha[t - 1][i] + p.tr(i, j) + p.emission(b, t, j) + beta[t][j]);
                }
            }
        }
    }
    Reference {
        log_z,
        nodes,
        edges,
    }
}

/// The same from enumerating every path.
pub fn brute_force(p: &Problem, b: usize) -> Reference {
    let (len, l) = (p.lengths[b], p.labels);
    let paths = p.all_paths(b);
    let log_z = log_sum_exp(paths.iter().map(|(_, s)| *s));
    let mut nodes = vec![0.0; len * l];
    let mut edges = vec![0.0; len.saturating_sub(1) * l * l];
    if log_z > f64::NEG_INFINITY {
        for (path, score) in &paths {
            let w = (score - log_z).exp();
            for t in 0..len {
                nodes[t * l + path[t] as usize] += w;
                if t > 0 {
                    edges[((t - 1) * l + path[t - 1] as usize) * l + path[t] as usize] += w;
                }
            }
        }
    }
    Reference {
        log_z,
        nodes,
        edges,
    }
}

/// The paths of sequence `b` with a finite score, best first; equal scores
/// ordered by their labels compared from the last position backwards.
pub fn ranked_paths(p: &Problem, b: usize) -> Vec<(Vec<u32>, f64)> {
    let mut paths: Vec<_> = p
        .all_paths(b)
        .into_iter()
        .filter(|(_, s)| *s > f64::NEG_INFINITY)
        .collect();
    paths.sort_by(|(pa, sa), (pb, sb)| {
        sb.partial_cmp(sa)
            .unwrap()
            .then_with(|| pa.iter().rev().cmp(pb.iter().rev()))
    });
    paths
}
