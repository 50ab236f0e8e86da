//! Viterbi and n-best against enumeration of every path.

use super::reference::*;
use crate::crf::linear::Path;
use crate::crf::CrfError;
use proptest::prelude::*;

/// Checks Viterbi and n-best of every sequence against the ranked paths.
/// With `exact`, scores and the order of ties must match exactly (integer
/// scores, or f64 sums in the kernels' order); else scores within `tol`.
fn check(p: &Problem, viterbi: &[Path<f64>], nbest: &[Vec<Path<f64>>], k: usize, tol: f64) {
    for b in 0..p.batch {
        let ranked = ranked_paths(p, b);
        let v = &viterbi[b];
        if p.lengths[b] == 0 {
            assert_eq!(
                v,
                &Path {
                    labels: vec![],
                    score: 0.0
                }
            );
            assert_eq!(
                nbest[b],
                vec![Path {
                    labels: vec![],
                    score: 0.0
                }]
            );
            continue;
        }
        match ranked.first() {
            None => {
                assert_eq!(v.labels, Vec::<u32>::new());
                assert_eq!(v.score, f64::NEG_INFINITY);
                assert!(nbest[b].is_empty());
            }
            Some((labels, score)) => {
                assert_eq!(&v.labels, labels, "viterbi path of {b}");
                assert!((v.score - score).abs() <= tol, "{} vs {score}", v.score);
                assert_eq!(&nbest[b][0], v, "n-best starts with viterbi");
                assert_eq!(nbest[b].len(), ranked.len().min(k));
                for (got, (labels, score)) in nbest[b].iter().zip(&ranked) {
                    assert_eq!(&got.labels, labels, "n-best of {b}: {:?}", nbest[b]);
                    assert!((got.score - score).abs() <= tol);
                }
            }
        }
    }
}

fn to64(paths: Vec<Path<f32>>) -> Vec<Path<f64>> {
    paths
        .into_iter()
        .map(|p| Path {
            labels: p.labels,
            score: p.score as f64,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn tiny_cases_match_enumeration(
        batch in 1usize..4, max_len in 0usize..6, labels in 1usize..5, seed: u64,
        banned in prop_oneof![Just(0.0), Just(0.3)], integers: bool, k in 1usize..40,
    ) {
        let mut rng = Gen::new(seed);
        // Small integers make ties common and every sum exact, in f32 too.
        let scale = if integers { 2.0 } else { 3.0 };
        let draw = Draw { scale, banned, banned_emission: banned / 3.0, integers };
        let p = Problem::random(&mut rng, batch, max_len, labels, draw);
        let (v, n) = p.with_f64(|crf| (crf.viterbi(), crf.nbest(k).unwrap()));
        check(&p, &v, &n, k, 0.0);
        if integers {
            let (v, n) = p.with_f32(|crf| (crf.viterbi(), crf.nbest(k).unwrap()));
            let n: Vec<_> = n.into_iter().map(to64).collect();
            check(&p, &to64(v), &n, k, 0.0);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Enough labels for several blocks of 8 candidates per node (the
    /// n-best search skips whole blocks): still every path is ranked right.
    #[test]
    fn wide_cases_match_enumeration(
        labels in 9usize..18, max_len in 1usize..4, seed: u64, k in 2usize..6,
        banned in prop_oneof![Just(0.0), Just(0.3)], integers: bool,
    ) {
        let mut rng = Gen::new(seed);
        let draw = Draw { scale: 2.0, banned, banned_emission: banned / 3.0, integers };
        let p = Problem::random(&mut rng, 2, max_len, labels, draw);
        let (v, n) = p.with_f64(|crf| (crf.viterbi(), crf.nbest(k).unwrap()));
        check(&p, &v, &n, k, 0.0);
    }
}

#[test]
fn all_paths_when_k_is_large() {
    let mut rng = Gen::new(3);
    let p = Problem::random(&mut rng, 2, 4, 3, Draw::plain(1.0));
    let n = p.with_f64(|crf| crf.nbest(1000).unwrap());
    for b in 0..2 {
        assert_eq!(n[b].len(), 3usize.pow(p.lengths[b] as u32));
    }
}

#[test]
fn longer_sequences_agree_with_viterbi_and_rank_in_order() {
    let mut rng = Gen::new(11);
    for &(labels, len, banned) in &[(20usize, 60usize, 0.0), (9, 200, 0.5), (70, 30, 0.2)] {
        let draw = Draw {
            scale: 3.0,
            banned,
            banned_emission: 0.1,
            integers: false,
        };
        let p = Problem::random(&mut rng, 3, len, labels, draw);
        let (v, n) = p.with_f64(|crf| (crf.viterbi(), crf.nbest(7).unwrap()));
        for b in 0..p.batch {
            if n[b].is_empty() {
                assert_eq!(v[b].score, f64::NEG_INFINITY);
                continue;
            }
            assert_eq!(n[b][0], v[b]);
            for pair in n[b].windows(2) {
                assert!(pair[0].score >= pair[1].score);
                assert_ne!(pair[0].labels, pair[1].labels);
            }
            for path in &n[b] {
                assert_eq!(path.score, p.path_score(b, &path.labels));
            }
        }
    }
}

#[test]
fn k_zero_is_refused() {
    let p = Problem::random(&mut Gen::new(1), 1, 2, 2, Draw::plain(1.0));
    assert!(matches!(
        p.with_f64(|crf| crf.nbest(0)),
        Err(CrfError::Invalid(_))
    ));
}
