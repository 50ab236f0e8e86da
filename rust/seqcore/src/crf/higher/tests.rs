//! Every kernel against enumeration of all labellings, plus the edge cases
//! (no allowed path, NaN, ties, thread counts, argument errors).

use proptest::prelude::*;

use super::tests_brute::{close, value, Case, Rng};
use super::*;
use crate::array::ArrayView;

const TOL: f64 = 1e-6;

/// Tags drawn from the brute-force distribution's support when possible
/// (so the NLL is finite), else uniformly.
fn random_tags(case: &Case, rng: &mut Rng) -> Vec<i64> {
    let mut tags = vec![0_i64; case.batch() * case.max_len];
    for b in 0..case.batch() {
        let ranked = case.brute(b).ranked;
        let len = case.lengths[b];
        let pick: Vec<u32> = if !ranked.is_empty() && rng.below(4) != 0 {
            ranked[rng.below(ranked.len())].1.clone()
        } else {
            (0..len).map(|_| rng.below(case.labels) as u32).collect()
        };
        for t in 0..len {
            tags[b * case.max_len + t] = pick[t] as i64;
        }
        // Padding past the length may hold anything.
        for t in len..case.max_len {
            tags[b * case.max_len + t] = -7;
        }
    }
    tags
}

/// Checks every function on `case` against enumeration.
fn check_against_brute(case: &Case, rng: &mut Rng) {
    let inputs = case.inputs();
    let log_z = log_partition(&inputs).unwrap();
    let marg = marginals(&inputs).unwrap();
    let paths = viterbi(&inputs).unwrap();
    let k = 1 + rng.below(6);
    let best = nbest(&inputs, k).unwrap();
    let tags = random_tags(case, rng);
    let d: Vec<f64> = (0..case.batch())
        .map(|_| rng.uniform() * 2.0 - 0.5)
        .collect();
    let tag_shape = [case.batch(), case.max_len];
    let grads = nll_and_grad(
        &inputs,
        ArrayView::new(&tags, &tag_shape).unwrap(),
        ArrayView::new(&d, &[case.batch()]).unwrap(),
    )
    .unwrap();
    let mut table_grads: Vec<Vec<f64>> = (1..=4).map(|n| vec![0.0; case.size(n)]).collect();
    for b in 0..case.batch() {
        let brute = case.brute(b);
        let len = case.lengths[b];
        assert!(
            close(log_z.data[b], brute.log_z, TOL),
            "log Z {} vs {}",
            log_z.data[b],
            brute.log_z
        );

        // Marginals of every order with factors; gradients of every order.
        let gold: Vec<u32> = tags[b * case.max_len..b * case.max_len + len]
            .iter()
            .map(|&y| y as u32)
            .collect();
        let gold_score = case.score(b, &gold);
        let expect_nll = if brute.log_z == f64::NEG_INFINITY || gold_score == f64::NEG_INFINITY {
            f64::INFINITY
        } else {
            brute.log_z - gold_score
        };
        assert!(
            close(grads.nll.data[b], expect_nll, TOL),
            "nll {} vs {expect_nll}",
            grads.nll.data[b]
        );
        for n in 1..=case.order {
            let size = case.size(n);
            let block = case.max_len * size;
            let mut counts = vec![0.0; block];
            for t in n - 1..len {
                counts[t * size + case.index(&gold[t + 1 - n..=t])] += 1.0;
            }
            let weight = if brute.log_z.is_finite() { d[b] } else { 0.0 };
            let expect_grad: Vec<f64> = brute.marginals[n - 1]
                .iter()
                .zip(&counts)
                .map(|(m, c)| weight * (m - c))
                .collect();
            if let Some(m) = &marg.orders[n - 1] {
                assert_eq!(m.shape, vec![case.batch(), case.max_len, size]);
                for (got, want) in m.data[b * block..(b + 1) * block]
                    .iter()
                    .zip(&brute.marginals[n - 1])
                {
                    assert!(
                        close(*got, *want, TOL),
                        "order {n} marginal {got} vs {want}"
                    );
                }
                let g = grads.factors[n - 1].as_ref().unwrap();
                for (got, want) in g.data[b * block..(b + 1) * block].iter().zip(&expect_grad) {
                    assert!(
                        close(*got, *want, TOL),
                        "order {n} gradient {got} vs {want}"
                    );
                }
            } else {
                assert!(grads.factors[n - 1].is_none());
            }
            for (i, x) in expect_grad.iter().enumerate() {
                table_grads[n - 1][i % size] += x;
            }
        }

        // Viterbi: the best score, and the lexicographically first path
        // when the best is clearly ahead of every other.
        let path = &paths[b];
        match brute.ranked.first() {
            None if len > 0 => {
                assert!(path.labels.is_empty() && path.score == f64::NEG_INFINITY);
                assert!(best[b].is_empty());
            }
            None => unreachable!("the empty labelling scores 0"),
            Some((top, labels)) => {
                assert!(
                    close(path.score, *top, TOL),
                    "viterbi {} vs {top}",
                    path.score
                );
                assert_eq!(path.labels.len(), len);
                assert!(close(case.score(b, &path.labels), *top, TOL));
                let runner_up = brute.ranked.get(1).map_or(f64::NEG_INFINITY, |r| r.0);
                if runner_up < top - 1e-9 {
                    assert_eq!(&path.labels, labels);
                }
                // n-best: the same scores as enumeration, distinct paths,
                // each scored right, never increasing.
                let want: Vec<f64> = brute.ranked.iter().take(k).map(|r| r.0).collect();
                assert_eq!(best[b].len(), want.len(), "n-best count");
                assert_eq!(best[b][0], *path);
                for (i, (got, w)) in best[b].iter().zip(&want).enumerate() {
                    assert!(
                        close(got.score, *w, TOL),
                        "n-best {i}: {} vs {w}",
                        got.score
                    );
                    assert!(close(case.score(b, &got.labels), got.score, TOL));
                    assert!(
                        best[b][..i].iter().all(|p| p.labels != got.labels),
                        "repeated path"
                    );
                    assert!(i == 0 || got.score <= best[b][i - 1].score);
                }
            }
        }
    }
    for n in 1..=case.order {
        match (&grads.tables[n - 1], &case.tables[n - 1]) {
            (Some(g), Some(_)) => {
                for (got, want) in g.data.iter().zip(&table_grads[n - 1]) {
                    assert!(
                        close(*got, *want, TOL),
                        "order {n} table gradient {got} vs {want}"
                    );
                }
            }
            (None, None) => {}
            _ => panic!("table gradient present iff the table is"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn matches_enumeration(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let case = Case::random(&mut rng, 3, 5);
        check_against_brute(&case, &mut rng);
    }
}

#[test]
fn every_order_and_short_lengths() {
    // Deterministic coverage of each order with lengths 0..=5 (so 0, 1 and
    // T < N - 1 all occur) and every factor and table present.
    let mut rng = Rng(11);
    for order in 1..=4 {
        for labels in 1..=3 {
            let mut case = Case::new(order, labels, 5, vec![0, 1, 2, 3, 4, 5]);
            for n in 1..=order {
                case.set_factor(n, |_, _, _| value(&mut rng, 0.15));
                case.set_table(n, |_| value(&mut rng, 0.05));
            }
            check_against_brute(&case, &mut rng);
        }
    }
}

#[test]
fn gradients_match_finite_differences() {
    let mut rng = Rng(5);
    let mut case = Case::new(3, 3, 5, vec![5, 3, 1]);
    for n in 1..=3 {
        case.set_factor(n, |_, _, _| value(&mut rng, 0.0));
        case.set_table(n, |_| value(&mut rng, 0.0));
    }
    let tags: Vec<i64> = (0..15).map(|i| (i * 7 % 3) as i64).collect();
    let d = [0.7, -1.3, 2.0];
    let loss = |case: &Case| -> f64 {
        let g = nll_and_grad(
            &case.inputs(),
            ArrayView::new(&tags, &[3, 5]).unwrap(),
            ArrayView::new(&d, &[3]).unwrap(),
        )
        .unwrap();
        g.nll.data.iter().zip(&d).map(|(l, w)| l * w).sum()
    };
    let grads = nll_and_grad(
        &case.inputs(),
        ArrayView::new(&tags, &[3, 5]).unwrap(),
        ArrayView::new(&d, &[3]).unwrap(),
    )
    .unwrap();
    let h = 1e-5;
    for n in 1..=3 {
        for (kind, analytic) in [
            ("factor", &grads.factors[n - 1]),
            ("table", &grads.tables[n - 1]),
        ] {
            let analytic = &analytic.as_ref().unwrap().data;
            for i in 0..analytic.len() {
                let mut plus = case.clone();
                let mut minus = case.clone();
                *entry(&mut plus, kind, n, i) += h;
                *entry(&mut minus, kind, n, i) -= h;
                let numeric = (loss(&plus) - loss(&minus)) / (2.0 * h);
                assert!(
                    (numeric - analytic[i]).abs() < 1e-6,
                    "order {n} {kind} {i}: {numeric} vs {}",
                    analytic[i]
                );
            }
        }
    }
}

fn entry<'c>(case: &'c mut Case, kind: &str, n: usize, i: usize) -> &'c mut f64 {
    let values = if kind == "factor" {
        &mut case.factors[n - 1]
    } else {
        &mut case.tables[n - 1]
    };
    &mut values.as_mut().unwrap()[i]
}
