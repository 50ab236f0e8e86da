//! The scaled forward against the log-space one: random shapes, every
//! tier, the inputs that must fall back, NaN, and independence from the
//! block a sequence lands in.

use proptest::prelude::*;

use super::forward::log_partition_in_log_space;
use super::inputs::validate;
use super::scaled::{applies, one_tier};
use super::tests_brute::{close, scaled_case, value, Case, Rng};
use super::*;
use crate::parallel;

/// Scaled (the public entry point) against log space, f64 and f32.
fn check(case: &Case, tol64: f64, tol32: f64) {
    let inputs = case.inputs();
    let chain = validate(&inputs).unwrap();
    assert!(applies(&chain));
    let got = log_partition(&inputs).unwrap().data;
    let want = log_partition_in_log_space(&chain);
    for (b, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(close(*g, *w, tol64), "f64 sequence {b}: {g} vs {w}");
    }
    let (f, t) = case.to_f32();
    let single = case.inputs_f32(&f, &t);
    let chain = validate(&single).unwrap();
    let got = log_partition(&single).unwrap().data;
    let want = log_partition_in_log_space(&chain);
    for (b, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            close(*g as f64, *w as f64, tol32),
            "f32 sequence {b}: {g} vs {w}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn matches_log_space(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        check(&scaled_case(&mut rng, [8, 6, 4]), 1e-11, 2e-5);
    }
}

#[test]
fn short_lengths_and_empty_batches() {
    let mut rng = Rng(2);
    for order in 2..=4 {
        for labels in [1, 2, 3, 5] {
            let mut case = Case::new(order, labels, 6, vec![0, 1, 2, 3, 4, 5, 6, 0]);
            for n in 1..order {
                case.set_factor(n, |_, _, _| value(&mut rng, 0.1));
            }
            for n in 1..=order {
                case.set_table(n, |_| value(&mut rng, 0.1));
            }
            check(&case, 1e-12, 1e-5);
            // Against enumeration too.
            let log_z = log_partition(&case.inputs()).unwrap().data;
            for (b, got) in log_z.iter().enumerate() {
                let want = case.brute(b).log_z;
                assert!(close(*got, want, 1e-12), "{got} vs {want}");
            }
        }
        let case = Case::new(order, 3, 4, vec![]);
        assert!(log_partition(&case.inputs()).unwrap().data.is_empty());
    }
}

#[test]
fn each_tier_answers_what_it_can() {
    let mut rng = Rng(9);
    // Tame scores: both accumulators answer every sequence with a full
    // step, and agree with log space.
    let mut case = Case::new(3, 5, 30, vec![30, 2, 29, 3, 17, 0, 30]);
    case.set_factor(1, |_, _, _| value(&mut rng, 0.1));
    case.set_factor(2, |_, _, _| value(&mut rng, 0.1));
    case.set_table(3, |_| value(&mut rng, 0.1));
    let inputs = case.inputs();
    let chain = validate(&inputs).unwrap();
    let exact = log_partition_in_log_space(&chain);
    for single in [true, false] {
        for (b, got) in one_tier(&chain, single).into_iter().enumerate() {
            match got {
                Some(got) => assert!(close(got, exact[b], 1e-6), "{got} vs {}", exact[b]),
                None => assert!(case.lengths[b] < 3, "sequence {b} was tainted"),
            }
        }
    }
    // Lower-order scores 200 nats apart at one position: beyond f32's
    // range, inside f64's.
    let mut wide = case.clone();
    wide.set_factor(2, |b, t, i| {
        if b == 0 && t == 9 && i % 3 == 0 {
            -200.0
        } else {
            0.5
        }
    });
    let chain = validate(&wide.inputs()).unwrap();
    assert_eq!(one_tier(&chain, true)[0], None);
    assert!(one_tier(&chain, true)[2].is_some());
    let exact = log_partition_in_log_space(&chain);
    assert!(close(one_tier(&chain, false)[0].unwrap(), exact[0], 1e-12));
    // A table spanning 1000 nats: no accumulator can hold its weights.
    let mut huge = case.clone();
    huge.set_table(3, |i| if i % 4 == 0 { -1000.0 } else { 1.0 });
    let chain = validate(&huge.inputs()).unwrap();
    assert!(one_tier(&chain, true).iter().all(Option::is_none));
    assert!(one_tier(&chain, false).iter().all(Option::is_none));
    check(&huge, 1e-12, 1e-5);
}

#[test]
fn huge_magnitudes_fall_back_exactly() {
    // Soft masks of -1e4 that every labelling hits, next to ordinary
    // scores, and a table with entries 3e3 apart: only log space holds
    // them, and the answer must still be exact.
    let mut rng = Rng(4);
    let mut case = Case::new(3, 3, 6, vec![6, 5, 3, 2]);
    case.set_factor(1, |_, t, i| {
        if t == 2 || i == 0 {
            -1e4
        } else {
            value(&mut rng, 0.0)
        }
    });
    case.set_table(3, |i| {
        if i % 5 == 0 {
            3e3
        } else {
            value(&mut rng, 0.0)
        }
    });
    let log_z = log_partition(&case.inputs()).unwrap().data;
    for (b, got) in log_z.iter().enumerate() {
        let want = case.brute(b).log_z;
        assert!(close(*got, want, 1e-12), "{got} vs {want}");
    }
    // Messages that decay by 60 nats a step relative to the best state,
    // then become the only survivors: each lane's shift keeps them.
    let mut case = Case::new(2, 2, 8, vec![8, 7]);
    case.set_factor(1, |_, t, i| match (t, i) {
        (7, 0) | (6, 0) => f64::NEG_INFINITY,
        (_, 1) => -60.0,
        _ => 0.0,
    });
    case.set_table(2, |_| 0.0);
    check(&case, 1e-12, 1e-5);
}

#[test]
fn forbidden_and_nan_stay_in_their_sequence() {
    let mut rng = Rng(6);
    let mut case = Case::new(3, 3, 7, vec![7, 7, 6, 7, 2]);
    case.set_factor(1, |_, _, _| value(&mut rng, 0.0));
    case.set_factor(2, |b, t, i| match (b, t, i) {
        // Sequence 0: NaN at a full position.
        (0, 4, 2) => f64::NAN,
        // Sequence 1: every bigram forbidden at one position.
        (1, 3, _) => f64::NEG_INFINITY,
        // Sequence 2: NaN past its length (ignored).
        (2, 6, _) => f64::NAN,
        // Sequence 4: NaN at t = 0, where bigrams do not fit (ignored).
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
    let log_z = log_partition(&case.inputs()).unwrap().data;
    assert!(log_z[0].is_nan());
    assert_eq!(log_z[1], f64::NEG_INFINITY);
    for b in [2, 3, 4] {
        let want = case.brute(b).log_z;
        assert!(close(log_z[b], want, 1e-12), "{} vs {want}", log_z[b]);
    }
    check(&case, 1e-12, 1e-5);
    // A table with NaN: the whole call goes to log space.
    let mut nan_table = case.clone();
    nan_table.set_table(3, |i| if i == 4 { f64::NAN } else { 0.0 });
    check(&nan_table, 0.0, 0.0);
    // Every trigram forbidden: only sequences too short for one are finite.
    let mut none = case.clone();
    none.set_table(3, |_| f64::NEG_INFINITY);
    // (Sequence 0 has no labelling left at t = 2, before its NaN at t = 4.)
    let log_z = log_partition(&none.inputs()).unwrap().data;
    assert_eq!(&log_z[..4], &[f64::NEG_INFINITY; 4]);
    assert!(log_z[4].is_finite());
    check(&none, 0.0, 0.0);
}

#[test]
fn blocks_and_threads_give_the_same_bits() {
    let mut rng = Rng(12);
    let lengths: Vec<usize> = (0..37).map(|_| 3 + rng.below(40)).collect();
    let mut case = Case::new(3, 7, 42, lengths.clone());
    case.set_factor(1, |_, _, _| value(&mut rng, 0.02));
    case.set_factor(2, |_, _, _| value(&mut rng, 0.02));
    case.set_table(3, |_| value(&mut rng, 0.02));
    let (f, t) = case.to_f32();
    let run = || {
        (
            log_partition(&case.inputs()).unwrap().data,
            log_partition(&case.inputs_f32(&f, &t)).unwrap().data,
        )
    };
    let before = parallel::num_threads();
    parallel::set_num_threads(1).unwrap();
    let one = run();
    parallel::set_num_threads(3).unwrap();
    let three = run();
    parallel::set_num_threads(before).unwrap();
    assert_eq!(
        one.0.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        three.0.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(
        one.1.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        three.1.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
    // Each sequence alone: the same bits as in the batch.
    for b in [0, 5, 36] {
        let mut alone = Case::new(3, 7, 42, vec![lengths[b]]);
        for n in 1..=2 {
            let size = case.size(n);
            let data = case.factors[n - 1].as_ref().unwrap();
            alone.set_factor(n, |_, t, i| data[(b * 42 + t) * size + i]);
        }
        alone.tables = case.tables.clone();
        let got = log_partition(&alone.inputs()).unwrap().data[0];
        assert_eq!(got.to_bits(), one.0[b].to_bits());
    }
}
