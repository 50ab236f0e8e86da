//! Timings at batch 32, length 128, one thread: order 3 with 26 labels
//! against order 2 with 50, and log space against a scaled-probability
//! forward (run with `--ignored --nocapture` in release mode; it prints
//! and checks nothing but agreement of the two forwards).
//!
//! `log_partition_vs_first_order` measures the batched scaled forward
//! (`scaled.rs`) against the log-space one and against the first-order
//! chain of `crf::linear` with 50 labels, on lengths drawn from 64 to 128,
//! in interleaved rounds (the machine's load then hits all alike), and
//! prints medians of the thread's CPU time.

use std::time::Instant;

use super::float::CrfFloat;
use super::forward::{log_partition_in_log_space, Workspace};
use super::inputs::{validate, Chain, HigherOrderInputs, MAX_ORDER};
use super::lanes::{row_max, row_sum, safe_shift};
use super::tests_brute::Rng;
use super::*;
use crate::array::ArrayView;
use crate::crf::linear::LinearCrf;
use crate::parallel;
use crate::simd::widest;

const BATCH: usize = 32;
const LEN: usize = 128;

/// Random f32 scores: factors for the orders in `factors`, tables for
/// those in `tables`.
struct Setup {
    order: usize,
    labels: usize,
    data: Vec<Option<Vec<f32>>>,
    tables: Vec<Option<Vec<f32>>>,
    factor_shapes: Vec<[usize; 3]>,
    table_shapes: Vec<[usize; 1]>,
    lengths: Vec<usize>,
}

impl Setup {
    fn new(order: usize, labels: usize, factors: &[usize], tables: &[usize]) -> Self {
        let mut rng = Rng(1);
        let mut normal = || ((rng.uniform() + rng.uniform() + rng.uniform()) - 1.5) as f32 * 2.0;
        let size = |n: usize| labels.pow(n as u32);
        Self {
            order,
            labels,
            data: (1..=MAX_ORDER)
                .map(|n| {
                    factors
                        .contains(&n)
                        .then(|| (0..BATCH * LEN * size(n)).map(|_| normal()).collect())
                })
                .collect(),
            tables: (1..=MAX_ORDER)
                .map(|n| {
                    tables
                        .contains(&n)
                        .then(|| (0..size(n)).map(|_| normal()).collect())
                })
                .collect(),
            factor_shapes: (1..=MAX_ORDER).map(|n| [BATCH, LEN, size(n)]).collect(),
            table_shapes: (1..=MAX_ORDER).map(|n| [size(n)]).collect(),
            lengths: vec![LEN; BATCH],
        }
    }

    /// The same scores with lengths drawn uniformly from `64..=LEN`.
    fn random_lengths(mut self) -> Self {
        let mut rng = Rng(77);
        self.lengths = (0..BATCH).map(|_| 64 + rng.below(LEN - 63)).collect();
        self
    }

    fn inputs(&self) -> HigherOrderInputs<'_, f32> {
        let mut inputs = HigherOrderInputs::new(self.order, self.labels, &self.lengths);
        for i in 0..MAX_ORDER {
            inputs.factors[i] = self.data[i]
                .as_ref()
                .map(|d| ArrayView::new(d, &self.factor_shapes[i]).unwrap());
            inputs.tables[i] = self.tables[i]
                .as_ref()
                .map(|d| ArrayView::new(d, &self.table_shapes[i]).unwrap());
        }
        inputs
    }
}

/// The best of a few runs, in milliseconds (the best, since other load
/// on the machine only ever adds time).
fn time(mut f: impl FnMut()) -> f64 {
    f();
    (0..7)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
#[ignore]
fn timings_order_3_vs_order_2() {
    let before = parallel::num_threads();
    parallel::set_num_threads(1).unwrap();
    let configs: [(&str, Setup); 4] = [
        ("N=3 L=26, factors 1-3", Setup::new(3, 26, &[1, 2, 3], &[])),
        (
            "N=3 L=26, factor 1, tables 2-3",
            Setup::new(3, 26, &[1], &[2, 3]),
        ),
        ("N=2 L=50, factors 1-2", Setup::new(2, 50, &[1, 2], &[])),
        ("N=2 L=50, factor 1, table 2", Setup::new(2, 50, &[1], &[2])),
    ];
    let tags = vec![1_i64; BATCH * LEN];
    let ones = vec![1.0_f32; BATCH];
    for (name, setup) in &configs {
        let inputs = setup.inputs();
        let tag_view = ArrayView::new(&tags, &[BATCH, LEN]).unwrap();
        let d = ArrayView::new(&ones, &[BATCH]).unwrap();
        let chain = validate(&inputs).unwrap();
        let scores = time(|| {
            let mut ws = Workspace::new(&chain);
            for b in 0..BATCH {
                for t in 0..LEN {
                    chain.fill_scores(b, t, &mut ws.scores);
                }
            }
        });
        let log_z = time(|| drop(log_partition(&inputs).unwrap()));
        let scaled = time(|| drop(scaled_log_partition(&chain)));
        let marg = time(|| drop(marginals(&inputs).unwrap()));
        let grad = time(|| drop(nll_and_grad(&inputs, tag_view, d).unwrap()));
        let best = time(|| drop(viterbi(&inputs).unwrap()));
        let five = time(|| drop(nbest(&inputs, 5).unwrap()));
        println!(
            "{name}: log Z {log_z:.1} ms (scaled {scaled:.1}; scores alone {scores:.1}), marginals {marg:.1}, \
             nll+grad {grad:.1}, viterbi {best:.1}, 5-best {five:.1}"
        );
        // The two forwards agree (the scores are tame here).
        let exact = log_partition(&inputs).unwrap();
        for (a, b) in exact.data.iter().zip(scaled_log_partition(&chain)) {
            assert!(
                (*a as f64 - b).abs() < 1e-3 * b.abs().max(1.0),
                "{a} vs {b}"
            );
        }
    }
    parallel::set_num_threads(before).unwrap();
}

/// The median of `xs`.
fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

/// Milliseconds of one call: CPU time of this thread where the system
/// tells it (the machine is shared, and time spent descheduled is not the
/// kernel's), else wall-clock time.
fn once(f: impl FnOnce()) -> f64 {
    let start = (cpu_ms(), Instant::now());
    f();
    match (start.0, cpu_ms()) {
        (Some(a), Some(b)) => b - a,
        _ => start.1.elapsed().as_secs_f64() * 1e3,
    }
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn cpu_ms() -> Option<f64> {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: a valid pointer to a timespec of the platform's layout.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then_some(ts.sec as f64 * 1e3 + ts.nsec as f64 * 1e-6)
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn cpu_ms() -> Option<f64> {
    None
}

#[test]
#[ignore]
fn log_partition_vs_first_order() {
    let before = parallel::num_threads();
    parallel::set_num_threads(1).unwrap();
    // First order, 50 labels: emissions and a transition matrix.
    let first = Setup::new(2, 50, &[1], &[2]).random_lengths();
    let emissions = first.data[0].as_ref().unwrap();
    let transitions = first.tables[1].as_ref().unwrap();
    let zeros = vec![0.0_f32; 50];
    let linear = LinearCrf::new(
        ArrayView::new(emissions, &[BATCH, LEN, 50]).unwrap(),
        Some(&first.lengths),
        ArrayView::new(transitions, &[50, 50]).unwrap(),
        &zeros,
        &zeros,
    )
    .unwrap();
    let configs: [(&str, Setup); 5] = [
        (
            "N=3 L=26, factors 1-2, table 3",
            Setup::new(3, 26, &[1, 2], &[3]).random_lengths(),
        ),
        (
            "N=3 L=26, tables 1-3 (no per-position exp)",
            Setup::new(3, 26, &[], &[1, 2, 3]).random_lengths(),
        ),
        (
            "N=3 L=26, factors 1-2, table 3 (again)",
            Setup::new(3, 26, &[1, 2], &[3]).random_lengths(),
        ),
        (
            "N=3 L=26, factor 1, tables 2-3",
            Setup::new(3, 26, &[1], &[2, 3]).random_lengths(),
        ),
        (
            "N=3 L=26, factors 1-3 (log space only)",
            Setup::new(3, 26, &[1, 2, 3], &[]).random_lengths(),
        ),
    ];
    for (name, setup) in &configs {
        let inputs = setup.inputs();
        let chain = validate(&inputs).unwrap();
        let (mut new, mut old, mut base) = (vec![], vec![], vec![]);
        for _ in 0..21 {
            new.push(once(|| drop(log_partition(&inputs).unwrap())));
            old.push(once(|| drop(log_partition_in_log_space(&chain))));
            base.push(once(|| drop(linear.log_partition())));
        }
        let (new, old, base) = (median(new), median(old), median(base));
        println!(
            "{name}: log Z {new:.2} ms (log space {old:.2} ms, {:.1}x faster); \
             first order L=50 {base:.3} ms; ratio {:.1}x (log space {:.1}x)",
            old / new,
            new / base,
            old / base
        );
        let fast = log_partition(&inputs).unwrap();
        let exact = log_partition_in_log_space(&chain);
        for (a, b) in fast.data.iter().zip(&exact) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
        }
    }
    parallel::set_num_threads(before).unwrap();
}

/// log Z by the scaled-probability forward, for comparison only: `exp` of
/// each position's scores shifted by their maximum, then the forward sum
/// as plain multiply-adds, messages renormalised to sum 1 at every step.
/// Not robust: a state whose weight falls `e^87` (f32) below the best one
/// is lost even if it alone survives later.
fn scaled_log_partition<T: CrfFloat>(chain: &Chain<'_, T>) -> Vec<f64> {
    (0..chain.batch)
        .map(|b| {
            let mut ws = Workspace::new(chain);
            scaled_forward(chain, b, &mut ws)
        })
        .collect()
}

widest!(
    /// The scaled forward over one sequence.
    pub(crate) fn scaled_forward<T: CrfFloat>(chain: &Chain<'_, T>, b: usize, ws: &mut Workspace<T>) -> f64 => scaled_body
);

#[inline(always)]
fn scaled_body<T: CrfFloat>(chain: &Chain<'_, T>, b: usize, ws: &mut Workspace<T>) -> f64 {
    let (l, w) = (chain.labels, chain.states);
    ws.prev.fill(T::ZERO);
    ws.prev[0] = T::ONE;
    let mut log_z = 0.0;
    for t in 0..chain.lengths[b] {
        let n = chain.fill_scores(b, t, &mut ws.scores);
        let e = &mut ws.scores[..chain.sizes[n]];
        let top = safe_shift(row_max(e));
        for x in e.iter_mut() {
            *x = (*x - top).exp_lanes();
        }
        ws.next.fill(T::ZERO);
        if n < chain.order || chain.order == 1 {
            // One state or the early positions: each target has one source
            // (order 1: all n-grams land on the single state).
            for (j, &x) in e.iter().enumerate() {
                let target = j % w;
                ws.next[target] = ws.next[target] + ws.prev[j / l] * x;
            }
        } else {
            let k = w / l;
            for (block, from) in e.chunks_exact(w).zip(ws.prev.chunks_exact(k)) {
                for ((row, &v), acc) in block
                    .chunks_exact(l)
                    .zip(from)
                    .zip(ws.next.chunks_exact_mut(l))
                {
                    for (a, &x) in acc.iter_mut().zip(row) {
                        *a = *a + v * x;
                    }
                }
            }
        }
        let total = row_sum(&ws.next);
        let scale = T::ONE * T::from_f64(1.0 / total.to_f64());
        for x in ws.next.iter_mut() {
            *x = *x * scale;
        }
        log_z += top.to_f64() + total.to_f64().ln();
        std::mem::swap(&mut ws.prev, &mut ws.next);
    }
    log_z
}

/// NLL and gradient of order 3 / 26 labels (scaled passes and log space)
/// against the first-order chain with 50 labels, medians of interleaved
/// rounds of thread CPU time.
#[test]
#[ignore]
fn nll_and_grad_vs_first_order() {
    use super::gradients::nll_and_grad_with;
    let before = parallel::num_threads();
    parallel::set_num_threads(1).unwrap();
    let first = Setup::new(2, 50, &[1], &[2]).random_lengths();
    let emissions = first.data[0].as_ref().unwrap();
    let transitions = first.tables[1].as_ref().unwrap();
    let zeros = vec![0.0_f32; 50];
    let linear = LinearCrf::new(
        ArrayView::new(emissions, &[BATCH, LEN, 50]).unwrap(),
        Some(&first.lengths),
        ArrayView::new(transitions, &[50, 50]).unwrap(),
        &zeros,
        &zeros,
    )
    .unwrap();
    let mut rng = Rng(5);
    let tags: Vec<i64> = (0..BATCH * LEN).map(|_| rng.below(26) as i64).collect();
    let ones = vec![1.0_f32; BATCH];
    let setup = Setup::new(3, 26, &[1, 2], &[3]).random_lengths();
    let inputs = setup.inputs();
    let tv = ArrayView::new(&tags, &[BATCH, LEN]).unwrap();
    let dv = ArrayView::new(&ones, &[BATCH]).unwrap();
    let (mut new, mut old, mut base) = (vec![], vec![], vec![]);
    for _ in 0..9 {
        new.push(once(|| {
            drop(nll_and_grad_with(&inputs, tv, dv, true).unwrap())
        }));
        old.push(once(|| {
            drop(nll_and_grad_with(&inputs, tv, dv, false).unwrap())
        }));
        base.push(once(|| drop(linear.nll_and_grad(tv, Some(&ones)).unwrap())));
    }
    let (new, old, base) = (median(new), median(old), median(base));
    println!(
        "N=3 L=26, factors 1-2, table 3: nll+grad {new:.2} ms (log space {old:.2} ms, {:.1}x faster); \
         first order L=50 {base:.3} ms; ratio {:.1}x (log space {:.1}x)",
        old / new,
        new / base,
        old / base
    );
    parallel::set_num_threads(before).unwrap();
}
