//! The scaled backward (marginals, NLL and gradients) against the
//! log-space passes: random shapes, every tier, fallbacks, NaN and `-inf`,
//! zero upstream weights, and independence from the thread count.

use proptest::prelude::*;

use super::gradients::{marginals_with, nll_and_grad_with};
use super::tests_brute::{close, scaled_case, value, Case, Rng};
use super::*;
use crate::array::ArrayView;
use crate::parallel;

/// Gold tags (a max_len wide row each) and upstream weights (some zero).
fn tags_and_weights(case: &Case, rng: &mut Rng) -> (Vec<i64>, Vec<f64>) {
    let tags = (0..case.batch() * case.max_len)
        .map(|_| rng.below(case.labels) as i64)
        .collect();
    let d = (0..case.batch())
        .map(|_| [1.0, 0.0, 0.5, -2.0][rng.below(4)])
        .collect();
    (tags, d)
}

fn assert_close<T: CrfFloat>(got: &[T], want: &[T], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g.to_f64(), w.to_f64());
        assert!(
            close(g, w, tol) || (g - w).abs() <= tol,
            "{what} [{i}]: {g} vs {w}"
        );
    }
}

/// Scaled against log space, for one float type.
fn compare<T: CrfFloat>(inputs: &HigherOrderInputs<'_, T>, tags: &[i64], d: &[T], tol: f64) {
    let batch = inputs.lengths.len();
    let width = tags.len() / batch.max(1);
    let (tag_shape, d_shape) = ([batch, width], [batch]);
    let tags = ArrayView::new(tags, &tag_shape).unwrap();
    let d = ArrayView::new(d, &d_shape).unwrap();
    let fast = nll_and_grad_with(inputs, tags, d, true).unwrap();
    let slow = nll_and_grad_with(inputs, tags, d, false).unwrap();
    // The NLL is a difference of two values as large as log Z: its error
    // is relative to log Z's magnitude.
    let log_z = log_partition(inputs).unwrap().data;
    for (b, (f, s)) in fast.nll.data.iter().zip(&slow.nll.data).enumerate() {
        let (f, s) = (f.to_f64(), s.to_f64());
        let scale = log_z[b].to_f64().abs().max(1.0);
        assert!(
            f == s || (f - s).abs() <= tol * scale || (f.is_nan() && s.is_nan()),
            "nll [{b}]: {f} vs {s}"
        );
    }
    for n in 0..MAX_ORDER {
        assert_eq!(fast.factors[n].is_some(), slow.factors[n].is_some());
        if let (Some(f), Some(s)) = (&fast.factors[n], &slow.factors[n]) {
            assert_close(&f.data, &s.data, tol, &format!("factor {}", n + 1));
        }
        if let (Some(f), Some(s)) = (&fast.tables[n], &slow.tables[n]) {
            assert_close(&f.data, &s.data, tol * 10.0, &format!("table {}", n + 1));
        }
    }
    let fast = marginals_with(inputs, true).unwrap();
    let slow = marginals_with(inputs, false).unwrap();
    for n in 0..MAX_ORDER {
        if let (Some(f), Some(s)) = (&fast.orders[n], &slow.orders[n]) {
            assert_close(&f.data, &s.data, tol, &format!("marginals {}", n + 1));
        }
    }
}

fn check(case: &Case, rng: &mut Rng, tol64: f64, tol32: f64) {
    let (tags, d) = tags_and_weights(case, rng);
    compare(&case.inputs(), &tags, &d, tol64);
    let (f, t) = case.to_f32();
    let d32: Vec<f32> = d.iter().map(|&x| x as f32).collect();
    compare(&case.inputs_f32(&f, &t), &tags, &d32, tol32);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn matches_log_space(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let case = scaled_case(&mut rng, [9, 6, 4]);
        check(&case, &mut rng, 1e-10, 1e-4);
    }
}

#[test]
fn short_lengths_odd_labels_and_fallbacks() {
    let mut rng = Rng(21);
    for order in 2..=4 {
        for labels in [1, 3, 5] {
            let mut case = Case::new(order, labels, 7, vec![0, 1, 2, 3, 4, 5, 7, 0, 6]);
            for n in 1..order {
                case.set_factor(n, |_, _, _| value(&mut rng, 0.1));
            }
            for n in 1..=order {
                case.set_table(n, |_| value(&mut rng, 0.1));
            }
            check(&case, &mut rng, 1e-11, 1e-4);
            // Scores 200 nats apart at one position of sequence 6 (f32
            // falls back to f64), and -1e4 soft masks in sequence 8 (both
            // fall back to log space).
            let mut wide = case.clone();
            wide.set_factor(order - 1, |b, t, i| match b {
                6 if t == 4 && i % 2 == 0 => -200.0,
                8 if i == 0 => -1e4,
                _ => 0.25 * (i % 3) as f64,
            });
            check(&wide, &mut rng, 1e-11, 1e-4);
        }
    }
}

#[test]
fn forbidden_and_nan_stay_in_their_sequence() {
    let mut rng = Rng(8);
    let mut case = Case::new(3, 3, 7, vec![7, 7, 6, 7, 2]);
    case.set_factor(1, |_, _, _| value(&mut rng, 0.0));
    case.set_factor(2, |b, t, i| match (b, t, i) {
        (0, 4, 2) => f64::NAN,
        (1, 3, _) => f64::NEG_INFINITY,
        (2, 6, _) => f64::NAN,
        (4, 0, _) => f64::NAN,
        _ => 0.3,
    });
    case.set_table(3, |i| {
        if i == 5 {
            f64::NEG_INFINITY
        } else {
            0.1 * i as f64
        }
    });
    check(&case, &mut rng, 1e-11, 1e-4);
    let m = marginals(&case.inputs()).unwrap();
    let unigrams = m.orders[0].as_ref().unwrap();
    let row = 7 * 3;
    assert!(unigrams.data[..row].iter().any(|x| x.is_nan()));
    assert!(unigrams.data[row..2 * row].iter().all(|&x| x == 0.0));
    assert!(unigrams.data[2 * row..].iter().all(|x| x.is_finite()));
    let mut none = case.clone();
    none.set_table(3, |_| f64::NEG_INFINITY);
    check(&none, &mut rng, 0.0, 0.0);
    let mut nan_table = case.clone();
    nan_table.set_table(3, |i| if i == 4 { f64::NAN } else { 0.0 });
    check(&nan_table, &mut rng, 0.0, 0.0);
}

#[test]
fn thread_counts_give_the_same_bits() {
    let mut rng = Rng(13);
    let lengths: Vec<usize> = (0..45).map(|_| 3 + rng.below(30)).collect();
    let mut case = Case::new(3, 6, 32, lengths);
    case.set_factor(1, |_, _, _| value(&mut rng, 0.02));
    case.set_factor(2, |_, _, _| value(&mut rng, 0.02));
    case.set_table(3, |_| value(&mut rng, 0.02));
    case.set_table(2, |_| value(&mut rng, 0.02));
    let (tags, d) = tags_and_weights(&case, &mut rng);
    let (f, t) = case.to_f32();
    let d32: Vec<f32> = d.iter().map(|&x| x as f32).collect();
    let run = || {
        let tv = ArrayView::new(&tags, &[45, 32]).unwrap();
        let a = nll_and_grad(&case.inputs(), tv, ArrayView::new(&d, &[45]).unwrap()).unwrap();
        let single = case.inputs_f32(&f, &t);
        let b = nll_and_grad(&single, tv, ArrayView::new(&d32, &[45]).unwrap()).unwrap();
        let bits64 = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let bits32 = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let mut out = vec![
            bits64(&a.nll.data),
            bits64(&a.tables[2].as_ref().unwrap().data),
        ];
        out.push(bits64(&a.factors[1].as_ref().unwrap().data));
        let more = [
            bits32(&b.nll.data),
            bits32(&b.tables[2].as_ref().unwrap().data),
            bits32(&b.tables[1].as_ref().unwrap().data),
            bits32(&b.factors[0].as_ref().unwrap().data),
        ];
        (out, more)
    };
    let before = parallel::num_threads();
    parallel::set_num_threads(1).unwrap();
    let one = run();
    parallel::set_num_threads(3).unwrap();
    let three = run();
    parallel::set_num_threads(before).unwrap();
    assert_eq!(one, three);
}
