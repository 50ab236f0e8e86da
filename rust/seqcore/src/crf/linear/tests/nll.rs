//! The negative log-likelihood and its gradients against brute force and
//! finite differences.

use super::reference::*;
use crate::array::ArrayView;
use crate::crf::linear::NllAndGrad;
use crate::crf::CrfError;
use proptest::prelude::*;

/// Random gold tags, with garbage beyond each length (never read).
fn tags(rng: &mut Gen, p: &Problem) -> Vec<u32> {
    (0..p.batch * p.max_len)
        .map(|i| {
            if i % p.max_len < p.lengths[i / p.max_len] {
                rng.below(p.labels) as u32
            } else {
                999
            }
        })
        .collect()
}

/// The expected NLL and gradients from brute-force marginals.
fn expected(p: &Problem, tags: &[u32], d: &[f64]) -> NllAndGrad<f64> {
    let (l, t_max) = (p.labels, p.max_len);
    let mut out = NllAndGrad {
        nll: vec![],
        emissions: crate::Array {
            data: vec![0.0; p.batch * t_max * l],
            shape: vec![],
        },
        transitions: crate::Array {
            data: vec![0.0; l * l],
            shape: vec![],
        },
        start: vec![0.0; l],
        end: vec![0.0; l],
    };
    for b in 0..p.batch {
        let len = p.lengths[b];
        let path = &tags[b * t_max..][..len];
        let r = brute_force(p, b);
        if len == 0 {
            out.nll.push(0.0);
            continue;
        }
        if r.log_z == f64::NEG_INFINITY {
            out.nll.push(f64::INFINITY);
            continue;
        }
        out.nll.push(r.log_z - p.path_score(b, path));
        for t in 0..len {
            for j in 0..l {
                let gold = if path[t] as usize == j { 1.0 } else { 0.0 };
                let g = d[b] * (r.nodes[t * l + j] - gold);
                out.emissions.data[(b * t_max + t) * l + j] = g;
                if t == 0 {
                    out.start[j] += g;
                }
                if t == len - 1 {
                    out.end[j] += g;
                }
            }
            if t > 0 {
                for i in 0..l {
                    for j in 0..l {
                        let gold =
                            (path[t - 1] as usize == i && path[t] as usize == j) as u8 as f64;
                        out.transitions.data[i * l + j] +=
                            d[b] * (r.edges[((t - 1) * l + i) * l + j] - gold);
                    }
                }
            }
        }
    }
    out
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = if w.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= tol * (1.0 + w.abs())
        };
        assert!(ok, "{what}[{i}]: {g} vs {w}");
    }
}

fn run_f64(p: &Problem, tags: &[u32], d: &[f64]) -> NllAndGrad<f64> {
    let shape = [p.batch, p.max_len];
    p.with_f64(|crf| {
        crf.nll_and_grad(ArrayView::new(tags, &shape).unwrap(), Some(d))
            .unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn tiny_cases_match_brute_force(
        batch in 1usize..4, max_len in 0usize..6, labels in 1usize..5, seed: u64,
        banned in prop_oneof![Just(0.0), Just(0.3)],
    ) {
        let mut rng = Gen::new(seed);
        let draw = Draw { scale: 3.0, banned, banned_emission: banned / 3.0, integers: false };
        let p = Problem::random(&mut rng, batch, max_len, labels, draw);
        let tags = tags(&mut rng, &p);
        let d: Vec<f64> = (0..batch).map(|_| rng.unit() * 4.0 - 2.0).collect();
        let want = expected(&p, &tags, &d);
        let got = run_f64(&p, &tags, &d);
        assert_close(&got.nll, &want.nll, 1e-9, "nll");
        assert_close(&got.emissions.data, &want.emissions.data, 1e-9, "d emissions");
        assert_close(&got.transitions.data, &want.transitions.data, 1e-9, "d transitions");
        assert_close(&got.start, &want.start, 1e-9, "d start");
        assert_close(&got.end, &want.end, 1e-9, "d end");
        // f32: the same against the reference on the rounded inputs.
        let q = p.rounded_to_f32();
        let want = expected(&q, &tags, &d);
        let d32: Vec<f32> = d.iter().map(|&x| x as f32).collect();
        let shape = [p.batch, p.max_len];
        let got = p.with_f32(|crf| {
            crf.nll_and_grad(ArrayView::new(&tags, &shape).unwrap(), Some(&d32)).unwrap()
        });
        let to64 = |x: &[f32]| x.iter().map(|&v| v as f64).collect::<Vec<_>>();
        // d was rounded to f32 too: a relative 1e-7 on top of the kernels'.
        assert_close(&to64(&got.nll), &want.nll, 1e-5, "nll f32");
        assert_close(&to64(&got.emissions.data), &want.emissions.data, 1e-5, "d emissions f32");
        assert_close(&to64(&got.transitions.data), &want.transitions.data, 1e-5, "d transitions f32");
        assert_close(&to64(&got.start), &want.start, 1e-5, "d start f32");
        assert_close(&to64(&got.end), &want.end, 1e-5, "d end f32");
    }
}

/// Score `i` of emissions, transitions, start or end (`which` 0 to 3).
fn param(p: &mut Problem, which: usize, i: usize) -> &mut f64 {
    match which {
        0 => &mut p.emissions[i],
        1 => &mut p.trans[i],
        2 => &mut p.start[i],
        _ => &mut p.end[i],
    }
}

/// `sum_b d_b nll_b` as a function of the scores, by central differences.
#[test]
fn gradients_match_finite_differences() {
    let mut rng = Gen::new(5);
    for case in 0..20 {
        let banned = if case % 2 == 0 { 0.0 } else { 0.3 };
        let draw = Draw {
            scale: 2.0,
            banned,
            banned_emission: 0.0,
            integers: false,
        };
        let mut p = Problem::random(&mut rng, 2, 4, 3, draw);
        p.lengths = vec![4, 1 + case % 4];
        let tags = tags(&mut rng, &p);
        let d = [0.7, -1.3];
        let got = run_f64(&p, &tags, &d);
        let loss = |p: &Problem| -> f64 {
            let r = run_f64(p, &tags, &d);
            r.nll.iter().zip(&d).map(|(n, d)| n * d).sum()
        };
        if !loss(&p).is_finite() {
            continue;
        }
        let h = 1e-5;
        let n = [p.emissions.len(), p.trans.len(), p.labels, p.labels];
        let analytic = [
            &got.emissions.data,
            &got.transitions.data,
            &got.start,
            &got.end,
        ];
        for (which, &count) in n.iter().enumerate() {
            for i in 0..count {
                let mut q = p.clone();
                let x = *param(&mut q, which, i);
                if !x.is_finite() {
                    continue;
                }
                *param(&mut q, which, i) = x + h;
                let up = loss(&q);
                *param(&mut q, which, i) = x - h;
                let down = loss(&q);
                let numeric = (up - down) / (2.0 * h);
                let want = analytic[which][i];
                assert!(
                    (numeric - want).abs() < 1e-6,
                    "param {which}[{i}]: {numeric} vs {want}"
                );
            }
        }
    }
}

#[test]
fn tag_errors() {
    let p = Problem::random(&mut Gen::new(2), 2, 3, 4, Draw::plain(1.0));
    let mut p = p;
    p.lengths = vec![3, 2];
    let shape = [2, 3];
    let run = |tags: &[i64]| {
        p.with_f64(|crf| {
            crf.nll_and_grad(ArrayView::new(tags, &shape).unwrap(), None)
                .map(|_| ())
        })
    };
    // Beyond a length, anything goes.
    assert_eq!(run(&[0, 1, 2, 3, 0, -7]), Ok(()));
    assert_eq!(
        run(&[0, 1, 2, 3, 4, 0]),
        Err(CrfError::LabelOutOfRange {
            sequence: 1,
            position: 1,
            label: 4,
            num_labels: 4
        })
    );
    assert!(matches!(
        run(&[0, -1, 2, 3, 0, 0]),
        Err(CrfError::Invalid(_))
    ));
    let wrong = [0i64; 4];
    let err = p.with_f64(|crf| crf.nll_and_grad(ArrayView::new(&wrong, &[2, 2]).unwrap(), None));
    assert!(matches!(err, Err(CrfError::Shape(_))));
    let tags = [0u32; 6];
    let err =
        p.with_f64(|crf| crf.nll_and_grad(ArrayView::new(&tags, &shape).unwrap(), Some(&[1.0])));
    assert!(matches!(err, Err(CrfError::Shape(_))));
}
