//! First-order equivalence, forbidden paths, NaN, ties, precision, thread
//! counts and argument errors.

use super::tests_brute::{close, value, Case, Rng};
use super::*;
use crate::array::ArrayView;
use crate::crf::CrfError;
use crate::parallel;

/// A first-order CRF's log Z and best score, written plainly: emissions
/// `(len, L)`, transitions `(L, L)` (from, to), start and end `(L,)`.
fn plain_first_order(e: &[f64], trans: &[f64], start: &[f64], end: &[f64], l: usize) -> (f64, f64) {
    let len = e.len() / l;
    let lse = |xs: &mut dyn Iterator<Item = f64>| {
        let v: Vec<f64> = xs.collect();
        let m = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
    };
    let mut alpha: Vec<f64> = (0..l).map(|j| start[j] + e[j]).collect();
    let mut delta = alpha.clone();
    for t in 1..len {
        alpha = (0..l)
            .map(|j| lse(&mut (0..l).map(|i| alpha[i] + trans[i * l + j])) + e[t * l + j])
            .collect();
        delta = (0..l)
            .map(|j| {
                (0..l)
                    .map(|i| delta[i] + trans[i * l + j])
                    .fold(f64::NEG_INFINITY, f64::max)
                    + e[t * l + j]
            })
            .collect();
    }
    let log_z = lse(&mut (0..l).map(|j| alpha[j] + end[j]));
    let best = (0..l)
        .map(|j| delta[j] + end[j])
        .fold(f64::NEG_INFINITY, f64::max);
    (log_z, best)
}

#[test]
fn first_order_is_the_plain_chain() {
    let mut rng = Rng(3);
    let (l, max_len) = (4, 7);
    let lengths = vec![7, 1, 4];
    let emissions: Vec<f64> = (0..3 * max_len * l).map(|_| value(&mut rng, 0.0)).collect();
    let trans: Vec<f64> = (0..l * l).map(|_| value(&mut rng, 0.1)).collect();
    let start: Vec<f64> = (0..l).map(|_| value(&mut rng, 0.0)).collect();
    let end: Vec<f64> = (0..l).map(|_| value(&mut rng, 0.0)).collect();
    // Start scores join the unary factor at t = 0, end scores at t = len - 1.
    let mut unary = Case::new(2, l, max_len, lengths.clone());
    unary.set_factor(1, |b, t, i| {
        let mut x = emissions[(b * max_len + t) * l + i];
        if t == 0 {
            x += start[i];
        }
        if t + 1 == lengths[b] {
            x += end[i];
        }
        x
    });
    // Transitions as a table, and the same broadcast as an order-2 factor.
    let mut as_table = unary.clone();
    as_table.set_table(2, |i| trans[i]);
    let mut as_factor = unary.clone();
    as_factor.set_factor(2, |_, _, i| trans[i]);
    for case in [&as_table, &as_factor] {
        let log_z = log_partition(&case.inputs()).unwrap();
        let paths = viterbi(&case.inputs()).unwrap();
        for (b, &len) in lengths.iter().enumerate() {
            let e = &emissions[b * max_len * l..(b * max_len + len) * l];
            let (want_z, want_best) = plain_first_order(e, &trans, &start, &end, l);
            assert!(
                close(log_z.data[b], want_z, 1e-12),
                "{} vs {want_z}",
                log_z.data[b]
            );
            assert!(close(paths[b].score, want_best, 1e-12));
        }
    }
}

#[test]
fn no_allowed_path() {
    // Sequence 0 has a position where every label is forbidden; sequence 1
    // forbids every bigram; sequence 2 is fine (and must stay so).
    let mut case = Case::new(3, 3, 4, vec![4, 2, 3]);
    case.set_factor(1, |b, t, _| {
        if b == 0 && t == 2 {
            f64::NEG_INFINITY
        } else {
            0.5
        }
    });
    case.set_factor(2, |b, _, _| if b == 1 { f64::NEG_INFINITY } else { 0.1 });
    case.set_table(3, |i| i as f64 * 0.01);
    let inputs = case.inputs();
    let log_z = log_partition(&inputs).unwrap();
    assert_eq!(&log_z.data[..2], &[f64::NEG_INFINITY; 2]);
    assert!(close(log_z.data[2], case.brute(2).log_z, 1e-12));
    let marg = marginals(&inputs).unwrap();
    for n in [1, 2] {
        let m = marg.orders[n - 1].as_ref().unwrap();
        let block = 4 * 3_usize.pow(n as u32);
        assert!(m.data[..2 * block].iter().all(|&x| x == 0.0));
        assert!(m.data[2 * block..].iter().all(|x| x.is_finite()));
    }
    let paths = viterbi(&inputs).unwrap();
    for path in &paths[..2] {
        assert!(path.labels.is_empty() && path.score == f64::NEG_INFINITY);
    }
    assert_eq!(paths[2].labels.len(), 3);
    let best = nbest(&inputs, 3).unwrap();
    assert!(best[0].is_empty() && best[1].is_empty() && best[2].len() == 3);
    let tags = vec![0_i64; 12];
    let grads = nll_and_grad(
        &inputs,
        ArrayView::new(&tags, &[3, 4]).unwrap(),
        ArrayView::new(&[1.0, 1.0, 1.0], &[3]).unwrap(),
    )
    .unwrap();
    assert_eq!(&grads.nll.data[..2], &[f64::INFINITY; 2]);
    assert!(grads.nll.data[2].is_finite());
    for n in [1, 2] {
        let g = grads.factors[n - 1].as_ref().unwrap();
        let block = 4 * 3_usize.pow(n as u32);
        assert!(g.data[..2 * block].iter().all(|&x| x == 0.0));
    }
    assert!(grads.tables[2]
        .as_ref()
        .unwrap()
        .data
        .iter()
        .all(|x| x.is_finite()));
}

#[test]
fn nan_stays_in_its_sequence() {
    let mut rng = Rng(9);
    let mut clean = Case::new(3, 3, 5, vec![5, 4, 5]);
    for n in 1..=3 {
        clean.set_factor(n, |_, _, _| value(&mut rng, 0.1));
    }
    // Ignored entries: past the length, and an order that does not fit yet.
    let mut ignored = clean.clone();
    ignored.factors[0].as_mut().unwrap()[(5 + 4) * 3] = f64::NAN; // b 1, t 4
    ignored.factors[2].as_mut().unwrap()[(5 + 1) * 27 + 5] = f64::NAN; // b 1, t 1
    let mut poisoned = clean.clone();
    poisoned.factors[1].as_mut().unwrap()[(5 + 2) * 9 + 4] = f64::NAN; // b 1, t 2
    let tags = vec![1_i64; 15];
    let d = [1.0, 0.5, 1.0];
    let run = |case: &Case| {
        let inputs = case.inputs();
        (
            log_partition(&inputs).unwrap(),
            marginals(&inputs).unwrap(),
            viterbi(&inputs).unwrap(),
            nbest(&inputs, 2).unwrap(),
            nll_and_grad(
                &inputs,
                ArrayView::new(&tags, &[3, 5]).unwrap(),
                ArrayView::new(&d, &[3]).unwrap(),
            )
            .unwrap(),
        )
    };
    let reference = run(&clean);
    assert_eq!(
        run(&ignored),
        reference,
        "ignored NaN entries changed a result"
    );
    let (log_z, marg, paths, best, grads) = run(&poisoned);
    assert!(log_z.data[1].is_nan() && grads.nll.data[1].is_nan());
    assert!(paths[1].labels.is_empty() && paths[1].score.is_nan());
    assert!(best[1].is_empty());
    for b in [0, 2] {
        assert_eq!(log_z.data[b].to_bits(), reference.0.data[b].to_bits());
        assert_eq!(paths[b], reference.2[b]);
        assert_eq!(best[b], reference.3[b]);
        assert_eq!(
            grads.nll.data[b].to_bits(),
            reference.4.nll.data[b].to_bits()
        );
    }
    for n in 1..=3 {
        let (m, g) = (
            &marg.orders[n - 1].as_ref().unwrap().data,
            &grads.factors[n - 1].as_ref().unwrap().data,
        );
        let size = 3_usize.pow(n as u32);
        let block = 5 * size;
        let want_m = &reference.1.orders[n - 1].as_ref().unwrap().data;
        let want_g = &reference.4.factors[n - 1].as_ref().unwrap().data;
        for b in [0, 2] {
            let range = b * block..(b + 1) * block;
            assert_eq!(m[range.clone()], want_m[range.clone()]);
            assert_eq!(g[range.clone()], want_g[range]);
        }
        // Sequence 1: NaN where the order fits, 0 elsewhere.
        for t in 0..5 {
            let row = &m[block + t * size..block + (t + 1) * size];
            let fits = t + 1 >= n && t < 4;
            assert!(row
                .iter()
                .all(|x| if fits { x.is_nan() } else { *x == 0.0 }));
        }
    }
}

#[test]
fn ties_go_to_the_smallest_read_from_the_end() {
    // All scores 0: every labelling ties.
    let mut case = Case::new(3, 2, 3, vec![3]);
    case.set_factor(2, |_, _, _| 0.0);
    let paths = viterbi(&case.inputs()).unwrap();
    assert_eq!(paths[0].labels, vec![0, 0, 0]);
    let best = nbest(&case.inputs(), 8).unwrap();
    let labels: Vec<Vec<u32>> = best[0].iter().map(|p| p.labels.clone()).collect();
    let mut want = case.all_paths(3);
    want.sort_by(|a, b| a.iter().rev().cmp(b.iter().rev()));
    assert_eq!(labels, want);
    assert!(best[0].iter().all(|p| p.score == 0.0));
    // Label 1 better at t = 1 only: ties among the rest stay in order.
    case.set_factor(1, |_, t, i| if t == 1 && i == 1 { 1.0 } else { 0.0 });
    let best = nbest(&case.inputs(), 5).unwrap();
    let labels: Vec<Vec<u32>> = best[0].iter().map(|p| p.labels.clone()).collect();
    assert_eq!(
        labels,
        [[0, 1, 0], [1, 1, 0], [0, 1, 1], [1, 1, 1], [0, 0, 0]]
    );
    // Order 4 with a short sequence, and order 1.
    for order in [1, 4] {
        let mut case = Case::new(order, 3, 2, vec![2]);
        case.set_table(1, |_| 0.0);
        let best = nbest(&case.inputs(), 9).unwrap();
        let labels: Vec<Vec<u32>> = best[0].iter().map(|p| p.labels.clone()).collect();
        let mut want = case.all_paths(2);
        want.sort_by(|a, b| a.iter().rev().cmp(b.iter().rev()));
        assert_eq!(labels, want, "order {order}");
    }
}

#[test]
fn f32_agrees_with_f64_and_long_sequences_keep_precision() {
    let mut rng = Rng(21);
    let mut case = Case::new(3, 4, 3000, vec![3000, 17, 0]);
    for n in 1..=3 {
        case.set_factor(n, |_, _, _| value(&mut rng, 0.05) * 3.0);
        case.set_table(n, |_| value(&mut rng, 0.0));
    }
    let (f, t) = case.to_f32();
    let single = case.inputs_f32(&f, &t);
    // The reference: f64 kernels on the same (f32-rounded) scores.
    let mut rounded = case.clone();
    for v in rounded
        .factors
        .iter_mut()
        .chain(rounded.tables.iter_mut())
        .flatten()
    {
        v.iter_mut().for_each(|x| *x = *x as f32 as f64);
    }
    let want = log_partition(&rounded.inputs()).unwrap();
    let got = log_partition(&single).unwrap();
    for (g, w) in got.data.iter().zip(&want.data) {
        // log Z is about 1e4 here; f32 itself resolves it to about 1e-3.
        assert!(close(*g as f64, *w, 2e-7), "{g} vs {w}");
    }
    let want_m = marginals(&rounded.inputs()).unwrap();
    let got_m = marginals(&single).unwrap();
    for n in 1..=3 {
        let (g, w) = (
            &got_m.orders[n - 1].as_ref().unwrap().data,
            &want_m.orders[n - 1].as_ref().unwrap().data,
        );
        let worst = g
            .iter()
            .zip(w)
            .map(|(a, b)| (*a as f64 - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 2e-6, "order {n}: marginals off by {worst}");
    }
    let (vg, vw) = (
        viterbi(&single).unwrap(),
        viterbi(&rounded.inputs()).unwrap(),
    );
    for (g, w) in vg.iter().zip(&vw) {
        assert!(close(g.score as f64, w.score, 1e-6));
    }
}

#[test]
fn huge_score_ranges_stay_exact() {
    // Soft masks of -1e4 that every labelling hits at least once, next to
    // ordinary scores: scaled probabilities would flush everything to 0.
    let mut rng = Rng(4);
    let mut case = Case::new(3, 3, 5, vec![5, 4]);
    case.set_factor(1, |_, t, i| {
        if t == 2 || i == 0 {
            -1e4
        } else {
            value(&mut rng, 0.0)
        }
    });
    case.set_factor(3, |_, _, i| {
        if i % 5 == 0 {
            3e3
        } else {
            value(&mut rng, 0.0)
        }
    });
    let log_z = log_partition(&case.inputs()).unwrap();
    let marg = marginals(&case.inputs()).unwrap();
    for b in 0..2 {
        let brute = case.brute(b);
        assert!(
            close(log_z.data[b], brute.log_z, 1e-12),
            "{} vs {}",
            log_z.data[b],
            brute.log_z
        );
        let m = &marg.orders[2].as_ref().unwrap().data[b * 5 * 27..(b + 1) * 5 * 27];
        for (got, want) in m.iter().zip(&brute.marginals[2]) {
            assert!((got - want).abs() < 1e-9);
        }
    }
}

#[test]
fn thread_counts_give_the_same_bits() {
    let mut rng = Rng(8);
    let mut case = Case::new(3, 5, 20, (0..9).map(|b| 20 - b).collect());
    for n in 1..=3 {
        case.set_factor(n, |_, _, _| value(&mut rng, 0.05));
        case.set_table(n, |_| value(&mut rng, 0.0));
    }
    let tags: Vec<i64> = (0..9 * 20).map(|i| (i % 5) as i64).collect();
    let d = [1.0; 9];
    let (f, t) = case.to_f32();
    let d32 = [1.0_f32; 9];
    let run = || {
        let inputs = case.inputs();
        let single = case.inputs_f32(&f, &t);
        let tag_view = ArrayView::new(&tags, &[9, 20]).unwrap();
        (
            marginals(&inputs).unwrap(),
            nll_and_grad(&inputs, tag_view, ArrayView::new(&d, &[9]).unwrap()).unwrap(),
            nbest(&inputs, 4).unwrap(),
            marginals(&single).unwrap(),
            nll_and_grad(&single, tag_view, ArrayView::new(&d32, &[9]).unwrap()).unwrap(),
            nbest(&single, 4).unwrap(),
        )
    };
    let before = parallel::num_threads();
    parallel::set_num_threads(1).unwrap();
    let one = run();
    parallel::set_num_threads(3).unwrap();
    let three = run();
    parallel::set_num_threads(before).unwrap();
    // Bitwise: no NaN here, so `==` on floats is bit equality up to -0.
    assert_eq!(format!("{one:?}"), format!("{three:?}"));
}

#[test]
fn argument_errors() {
    let case = Case::new(2, 3, 4, vec![4, 2]);
    let mut inputs = case.inputs();
    inputs.order = 5;
    assert!(matches!(log_partition(&inputs), Err(CrfError::Invalid(_))));
    inputs.order = 0;
    assert!(matches!(viterbi(&inputs), Err(CrfError::Invalid(_))));
    let lengths = [4, 2];
    let data = vec![0.0; 2 * 4 * 27];
    let mut inputs = HigherOrderInputs::new(2, 3, &lengths);
    inputs.factors[2] = Some(ArrayView::new(&data, &[2, 4, 27]).unwrap());
    assert!(matches!(marginals(&inputs), Err(CrfError::Invalid(_))));
    let data = vec![0.0; 2 * 4 * 8];
    let mut inputs = HigherOrderInputs::new(2, 3, &lengths);
    inputs.factors[1] = Some(ArrayView::new(&data, &[2, 4, 8]).unwrap());
    assert!(matches!(log_partition(&inputs), Err(CrfError::Shape(_))));
    let unary = vec![0.0; 2 * 3 * 3];
    let mut inputs = HigherOrderInputs::new(2, 3, &lengths);
    inputs.factors[0] = Some(ArrayView::new(&unary, &[2, 3, 3]).unwrap());
    let err = log_partition(&inputs).unwrap_err();
    assert!(err.to_string().contains("lengths[0] = 4"), "{err}");
    let good = case.inputs();
    assert!(matches!(nbest(&good, 0), Err(CrfError::Invalid(_))));
    let d = [1.0, 1.0];
    let check = |tags: &[i64]| {
        nll_and_grad(
            &good,
            ArrayView::new(tags, &[2, 4]).unwrap(),
            ArrayView::new(&d, &[2]).unwrap(),
        )
    };
    // Past the length anything goes; before it, labels must be in range.
    assert!(check(&[0, 1, 2, 0, 1, 2, -5, 99]).is_ok());
    assert_eq!(
        check(&[0, 1, 3, 0, 1, 2, 0, 0]).unwrap_err(),
        CrfError::LabelOutOfRange {
            sequence: 0,
            position: 2,
            label: 3,
            num_labels: 3
        }
    );
    assert!(matches!(
        check(&[0, 1, 2, 0, -1, 2, 0, 0]),
        Err(CrfError::Invalid(_))
    ));
    let short = [0_i64; 6];
    let err = nll_and_grad(
        &good,
        ArrayView::new(&short, &[2, 3]).unwrap(),
        ArrayView::new(&d, &[2]).unwrap(),
    );
    assert!(matches!(err, Err(CrfError::Shape(_))));
}

#[test]
fn empty_batch() {
    let case = Case::new(3, 2, 4, vec![]);
    let mut case = case;
    case.set_factor(3, |_, _, _| 0.0);
    case.set_table(2, |_| 0.0);
    let inputs = case.inputs();
    assert!(log_partition(&inputs).unwrap().data.is_empty());
    assert_eq!(
        marginals(&inputs).unwrap().orders[2]
            .as_ref()
            .unwrap()
            .shape,
        vec![0, 4, 8]
    );
    assert!(viterbi(&inputs).unwrap().is_empty() && nbest(&inputs, 2).unwrap().is_empty());
    let tags: [i64; 0] = [];
    let d: [f64; 0] = [];
    let grads = nll_and_grad(
        &inputs,
        ArrayView::new(&tags, &[0, 4]).unwrap(),
        ArrayView::new(&d, &[0]).unwrap(),
    )
    .unwrap();
    assert_eq!(grads.tables[1].as_ref().unwrap().data, vec![0.0; 4]);
}
