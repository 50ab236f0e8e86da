//! Sequences without an allowed path, NaN and `+inf` scores, empty
//! batches and sequences, shape errors, and thread counts.

use super::reference::*;
use crate::array::ArrayView;
use crate::crf::linear::{LinearCrf, Marginals, NllAndGrad, Path};
use crate::crf::CrfError;
use crate::parallel;

/// Every output of every kernel, for comparing whole runs.
#[derive(Debug, Clone, PartialEq)]
struct Everything<T> {
    log_z: Vec<T>,
    marginals: Marginals<T>,
    nll: NllAndGrad<T>,
    viterbi: Vec<Path<T>>,
    nbest: Vec<Vec<Path<T>>>,
}

fn gold(p: &Problem) -> Vec<u32> {
    (0..p.batch * p.max_len)
        .map(|i| (i * 7 % p.labels) as u32)
        .collect()
}

fn everything_f64(p: &Problem) -> Everything<f64> {
    let tags = gold(p);
    let shape = [p.batch, p.max_len];
    let d: Vec<f64> = (0..p.batch).map(|b| 0.5 + b as f64).collect();
    p.with_f64(|crf| Everything {
        log_z: crf.log_partition(),
        marginals: crf.marginals(true),
        nll: crf
            .nll_and_grad(ArrayView::new(&tags, &shape).unwrap(), Some(&d))
            .unwrap(),
        viterbi: crf.viterbi(),
        nbest: crf.nbest(4).unwrap(),
    })
}

fn everything_f32(p: &Problem) -> Everything<f32> {
    let tags = gold(p);
    let shape = [p.batch, p.max_len];
    p.with_f32(|crf| Everything {
        log_z: crf.log_partition(),
        marginals: crf.marginals(true),
        nll: crf
            .nll_and_grad(ArrayView::new(&tags, &shape).unwrap(), None)
            .unwrap(),
        viterbi: crf.viterbi(),
        nbest: crf.nbest(4).unwrap(),
    })
}

/// Bit-level equality (NaN equal to NaN).
fn same_bits(a: &Everything<f64>, b: &Everything<f64>) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

fn no_path_everywhere(out: &Everything<f64>, p: &Problem, b: usize) {
    let (l, t) = (p.labels, p.max_len);
    assert_eq!(out.log_z[b], f64::NEG_INFINITY);
    assert_eq!(out.marginals.log_partition[b], f64::NEG_INFINITY);
    assert!(out.marginals.nodes.data[b * t * l..][..t * l]
        .iter()
        .all(|&x| x == 0.0));
    let e = &out.marginals.edges.as_ref().unwrap().data;
    let steps = t.saturating_sub(1) * l * l;
    assert!(e[b * steps..][..steps].iter().all(|&x| x == 0.0));
    assert_eq!(out.nll.nll[b], f64::INFINITY);
    assert!(out.nll.emissions.data[b * t * l..][..t * l]
        .iter()
        .all(|&x| x == 0.0));
    assert_eq!(
        out.viterbi[b],
        Path {
            labels: vec![],
            score: f64::NEG_INFINITY
        }
    );
    assert!(out.nbest[b].is_empty());
}

#[test]
fn no_allowed_path() {
    let mut rng = Gen::new(8);
    let base = Problem::random(&mut rng, 3, 5, 3, Draw::plain(2.0));
    // Every transition banned: sequences of length >= 2 have no path.
    let mut p = base.clone();
    p.lengths = vec![5, 1, 2];
    p.trans.fill(f64::NEG_INFINITY);
    let out = everything_f64(&p);
    no_path_everywhere(&out, &p, 0);
    no_path_everywhere(&out, &p, 2);
    assert!(out.log_z[1].is_finite());
    // Only the banned sequences' gradients are missing from the sums:
    // sequence 1 alone gives the parameter gradients.
    let mut alone = p.clone();
    alone.lengths = vec![0, 1, 0];
    let single = everything_f64(&alone);
    assert_eq!(out.nll.start, single.nll.start);
    assert_eq!(out.nll.transitions, single.nll.transitions);
    // Every start score banned; every end score banned; a position where
    // every label is banned.
    for which in 0..3 {
        let mut p = base.clone();
        p.lengths = vec![5, 1, 3];
        match which {
            0 => p.start.fill(f64::NEG_INFINITY),
            1 => p.end.fill(f64::NEG_INFINITY),
            _ => {
                for b in 0..3 {
                    for j in 0..3 {
                        p.emissions[(b * 5) * 3 + j] = f64::NEG_INFINITY;
                    }
                }
            }
        }
        let out = everything_f64(&p);
        for b in 0..3 {
            no_path_everywhere(&out, &p, b);
        }
        assert!(out.nll.transitions.data.iter().all(|&x| x == 0.0));
    }
    // f32 agrees.
    let out = everything_f32(&p);
    assert_eq!(out.log_z[0], f32::NEG_INFINITY);
    assert!(out.marginals.nodes.data.iter().all(|x| !x.is_nan()));
}

#[test]
fn gold_path_through_a_banned_transition() {
    let mut rng = Gen::new(9);
    let mut p = Problem::random(&mut rng, 1, 3, 3, Draw::plain(1.0));
    p.lengths = vec![3];
    p.trans[1] = f64::NEG_INFINITY; // 0 -> 1
    let tags = [0u32, 1, 2];
    let out = p.with_f64(|crf| crf.nll_and_grad(ArrayView::new(&tags, &[1, 3]).unwrap(), None));
    let out = out.unwrap();
    assert_eq!(out.nll, vec![f64::INFINITY]);
    assert!(out.emissions.data.iter().all(|x| x.is_finite()));
    // The banned entry: no marginal, one gold use.
    assert_eq!(out.transitions.data[1], -1.0);
    assert!(out.transitions.data.iter().all(|x| x.is_finite()));
}

#[test]
fn nan_stays_in_its_sequence() {
    let mut rng = Gen::new(10);
    let draw = Draw {
        scale: 2.0,
        banned: 0.2,
        banned_emission: 0.1,
        integers: false,
    };
    let clean = Problem::random(&mut rng, 3, 6, 4, draw);
    let mut p = clean.clone();
    p.lengths = vec![6, 6, 4];
    let mut clean = clean;
    clean.lengths = p.lengths.clone();
    for bad in [f64::NAN, f64::INFINITY] {
        let mut q = p.clone();
        q.emissions[6 * 4 + 2 * 4 + 1] = bad; // sequence 1, position 2
        q.emissions[2 * 6 * 4 + 5 * 4] = bad; // sequence 2, beyond its length
        let out = everything_f64(&q);
        let want = everything_f64(&clean);
        let size = 6 * 4;
        assert!(out.log_z[1].is_nan() && out.marginals.log_partition[1].is_nan());
        assert!(out.marginals.nodes.data[size..2 * size]
            .iter()
            .all(|x| x.is_nan()));
        assert!(out.nll.nll[1].is_nan());
        assert!(out.nll.emissions.data[size..2 * size]
            .iter()
            .all(|x| x.is_nan()));
        assert!(out.nll.transitions.data.iter().all(|x| x.is_nan()));
        assert_eq!(out.viterbi[1].labels, Vec::<u32>::new());
        assert!(out.viterbi[1].score.is_nan());
        assert!(out.nbest[1].len() == 1 && out.nbest[1][0].score.is_nan());
        for b in [0, 2] {
            assert_eq!(out.log_z[b].to_bits(), want.log_z[b].to_bits());
            assert_eq!(out.nll.nll[b].to_bits(), want.nll.nll[b].to_bits());
            assert_eq!(out.viterbi[b], want.viterbi[b]);
            assert_eq!(out.nbest[b], want.nbest[b]);
            let range = b * size..(b + 1) * size;
            assert_eq!(
                out.marginals.nodes.data[range.clone()],
                want.marginals.nodes.data[range]
            );
        }
    }
    // A bad parameter spoils everything.
    let mut q = p.clone();
    q.end[0] = f64::NAN;
    let out = everything_f64(&q);
    assert!(out.log_z.iter().all(|x| x.is_nan()));
    assert!(out.viterbi.iter().all(|v| v.score.is_nan()));
}

#[test]
fn empty_batches_and_sequences() {
    let mut rng = Gen::new(12);
    for (batch, max_len) in [(0, 4), (3, 0), (2, 3)] {
        let mut p = Problem::random(&mut rng, batch, max_len, 3, Draw::plain(1.0));
        p.lengths = vec![0; batch];
        let out = everything_f64(&p);
        assert_eq!(out.log_z, vec![0.0; batch]);
        assert_eq!(out.marginals.nodes.shape, vec![batch, max_len, 3]);
        assert_eq!(
            out.marginals.edges.unwrap().shape,
            vec![batch, max_len.saturating_sub(1), 3, 3]
        );
        assert!(out.marginals.nodes.data.iter().all(|&x| x == 0.0));
        assert_eq!(out.nll.nll, vec![0.0; batch]);
        assert!(out.nll.transitions.data.iter().all(|&x| x == 0.0));
        assert_eq!(
            out.viterbi,
            vec![
                Path {
                    labels: vec![],
                    score: 0.0
                };
                batch
            ]
        );
        assert_eq!(
            out.nbest,
            vec![
                vec![Path {
                    labels: vec![],
                    score: 0.0
                }];
                batch
            ]
        );
    }
}

#[test]
fn shapes_are_checked() {
    let e = [0.0f32; 12];
    let t = [0.0f32; 4];
    let s = [0.0f32; 2];
    let new = |eshape: &[usize], tshape: &[usize], start: &[f32], lengths: Option<&[usize]>| {
        LinearCrf::new(
            ArrayView::new(&e[..eshape.iter().product::<usize>()], eshape).unwrap(),
            lengths,
            ArrayView::new(&t[..tshape.iter().product::<usize>()], tshape).unwrap(),
            start,
            &s,
        )
        .map(|_| ())
    };
    assert_eq!(new(&[2, 3, 2], &[2, 2], &s, Some(&[3, 0])), Ok(()));
    let shape_error = |r: Result<(), CrfError>| matches!(r, Err(CrfError::Shape(_)));
    assert!(shape_error(new(&[6, 2], &[2, 2], &s, None)));
    assert!(shape_error(new(&[2, 3, 2], &[1, 4], &s, None)));
    assert!(shape_error(new(&[2, 3, 2], &[2, 2], &s[..1], None)));
    assert!(shape_error(new(&[2, 3, 2], &[2, 2], &s, Some(&[3]))));
    assert!(shape_error(new(&[2, 3, 2], &[2, 2], &s, Some(&[4, 0]))));
    assert!(shape_error(new(&[2, 6, 0], &[0, 0], &[], None)));
}

#[test]
fn thread_counts_give_the_same_bits() {
    let mut rng = Gen::new(13);
    let draw = Draw {
        scale: 40.0,
        banned: 0.3,
        banned_emission: 0.05,
        integers: false,
    };
    let mut p = Problem::random(&mut rng, 9, 70, 11, draw);
    p.lengths[3] = 0;
    p.lengths[4] = 1;
    let before = parallel::num_threads();
    parallel::set_num_threads(1).unwrap();
    let (one, one32) = (everything_f64(&p), everything_f32(&p));
    parallel::set_num_threads(2).unwrap();
    let (two, two32) = (everything_f64(&p), everything_f32(&p));
    parallel::set_num_threads(before).unwrap();
    assert!(same_bits(&one, &two));
    assert_eq!(format!("{one32:?}"), format!("{two32:?}"));
}
