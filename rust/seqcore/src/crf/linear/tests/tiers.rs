//! Each tier of the fast path against the f64 log-space reference, and
//! the hand-off between tiers on inputs that underflow.

use super::reference::*;
use crate::crf::linear::posterior::{Prepared, Tier};
use crate::crf::linear::scaled::Edges;
use crate::crf::linear::{CrfFloat, LinearCrf};

/// Runs every tier on every non-empty sequence; checks the ones that
/// answer against the reference; returns which tiers answered, per
/// sequence, for the posterior and for the log-partition.
fn check_tiers<T: CrfFloat>(
    crf: &LinearCrf<'_, T>,
    p: &Problem,
    tol: [f64; 3],
) -> Vec<[(bool, bool); 3]> {
    let prepared = Prepared::new(crf);
    let l = p.labels;
    let mut answered = vec![];
    for b in 0..p.batch {
        let len = p.lengths[b];
        if len == 0 {
            continue;
        }
        let r = reference(p, b);
        let mut row = [(false, false); 3];
        for (k, tier) in [Tier::Single, Tier::Double, Tier::Log]
            .into_iter()
            .enumerate()
        {
            let mut nodes = vec![T::NAN; len * l];
            let mut steps = vec![T::NAN; (len - 1) * l * l];
            let mut sum = vec![f64::NAN; l * l];
            let z = prepared.posterior_in(tier, b, &mut nodes, Edges::Steps(&mut steps));
            let z_sum = prepared.posterior_in(tier, b, &mut nodes, Edges::Sum(&mut sum));
            let z_only = prepared.log_partition_in(tier, b);
            row[k] = (z.is_some(), z_only.is_some());
            let close = |got: f64, want: f64| {
                if want.is_infinite() {
                    got == want
                } else {
                    (got - want).abs() <= tol[k] * (1.0 + want.abs())
                }
            };
            if let Some(z_only) = z_only {
                assert!(
                    close(z_only, r.log_z),
                    "{tier:?} log Z of {b}: {z_only} vs {}",
                    r.log_z
                );
            }
            let Some(z) = z else { continue };
            assert_eq!(z_sum, Some(z));
            assert!(
                close(z, r.log_z),
                "{tier:?} log Z of {b}: {z} vs {}",
                r.log_z
            );
            if z == f64::NEG_INFINITY {
                continue;
            }
            for (i, (&got, &want)) in nodes.iter().zip(&r.nodes).enumerate() {
                let got = got.to_f64();
                assert!(
                    (got - want).abs() <= tol[k],
                    "{tier:?} node {b} {i}: {got} vs {want}"
                );
            }
            let mut want_sum = vec![0.0; l * l];
            for (i, (&got, &want)) in steps.iter().zip(&r.edges).enumerate() {
                let got = got.to_f64();
                assert!(
                    (got - want).abs() <= tol[k],
                    "{tier:?} edge {b} {i}: {got} vs {want}"
                );
                want_sum[i % (l * l)] += want;
            }
            for (&got, &want) in sum.iter().zip(&want_sum) {
                assert!(
                    (got - want).abs() <= tol[k] * len as f64,
                    "{tier:?} edge sum"
                );
            }
        }
        answered.push(row);
    }
    answered
}

const F64_TOL: [f64; 3] = [0.0, 1e-9, 1e-9];
const F32_TOL: [f64; 3] = [2e-4, 1e-5, 1e-5];

#[test]
fn every_tier_that_answers_is_right() {
    let mut rng = Gen::new(21);
    let mut seen = [[0usize; 2]; 3];
    for &(labels, len, scale, banned) in &[
        (6usize, 50usize, 3.0, 0.0),
        (40, 120, 3.0, 0.3),
        (13, 90, 50.0, 0.0),
        (13, 90, 50.0, 0.5),
        (7, 60, 200.0, 0.0),
        (21, 70, 200.0, 0.6),
        (3, 200, 1000.0, 0.2),
    ] {
        let draw = Draw {
            scale,
            banned,
            banned_emission: banned / 4.0,
            integers: false,
        };
        let p = Problem::random(&mut rng, 4, len, labels, draw);
        p.with_f64(|crf| check_tiers(crf, &p, F64_TOL));
        let q = p.rounded_to_f32();
        for row in q.with_f32(|crf| check_tiers(crf, &q, F32_TOL)) {
            for (k, (posterior, partition)) in row.into_iter().enumerate() {
                seen[k][0] += posterior as usize;
                seen[k][1] += partition as usize;
            }
        }
    }
    // The f32 tier must have answered (and been checked) on mild inputs.
    assert!(seen[0][0] > 0 && seen[0][1] > 0, "{seen:?}");
}

/// Two labels that never reach each other: the first wins every step by
/// `gap` nats, until the last position allows only the second. The second
/// label's paths fall below the first one's by far more than f32 (and, for
/// large gaps, f64) can represent, yet they are all that remains.
fn separated(gap: f64, len: usize) -> Problem {
    let mut emissions = vec![];
    for t in 0..len {
        if t + 1 < len {
            emissions.extend([gap, 0.0]);
        } else {
            emissions.extend([f64::NEG_INFINITY, 0.0]);
        }
    }
    Problem {
        batch: 1,
        max_len: len,
        labels: 2,
        emissions,
        lengths: vec![len],
        trans: vec![0.0, f64::NEG_INFINITY, f64::NEG_INFINITY, 0.0],
        start: vec![0.0, 0.0],
        end: vec![0.0, 0.0],
    }
}

#[test]
fn vanishing_paths_that_win_in_the_end_are_found() {
    for (gap, len) in [(3.0, 40), (30.0, 40), (30.0, 400)] {
        let p = separated(gap, len);
        // Only the all-second-label path survives, with score 0.
        let want = reference(&p, 0);
        assert_eq!(want.log_z, 0.0);
        let got = p.with_f64(|crf| crf.marginals(true));
        assert_eq!(got.log_partition, vec![0.0]);
        assert!(got.nodes.data.iter().step_by(2).all(|&x| x == 0.0));
        assert!(got
            .nodes
            .data
            .iter()
            .skip(1)
            .step_by(2)
            .all(|&x| (x - 1.0).abs() < 1e-12));
        let got = p.with_f32(|crf| crf.marginals(true));
        assert_eq!(got.log_partition, vec![0.0]);
        assert!(got
            .nodes
            .data
            .iter()
            .skip(1)
            .step_by(2)
            .all(|&x| (x - 1.0).abs() < 1e-6));
        for tier_answers in p.with_f32(|crf| check_tiers(crf, &p, F32_TOL)) {
            // 40 steps of 30 nats leave f32 behind.
            if gap * len as f64 > 100.0 {
                assert!(!tier_answers[0].0 && !tier_answers[0].1, "{tier_answers:?}");
            }
            if gap * len as f64 > 1000.0 {
                assert!(!tier_answers[1].0, "{tier_answers:?}");
            }
        }
    }
}

#[test]
fn transitions_beyond_the_f64_range_use_log_space() {
    let mut rng = Gen::new(4);
    let mut p = Problem::random(&mut rng, 3, 30, 4, Draw::plain(2.0));
    p.trans[5] = -900.0;
    p.trans[6] = 400.0;
    let answered = p.with_f64(|crf| check_tiers(crf, &p, F64_TOL));
    assert!(
        answered.iter().all(|row| !row[1].0 && row[2].0),
        "{answered:?}"
    );
    let want: Vec<f64> = (0..3).map(|b| reference(&p, b).log_z).collect();
    let got = p.with_f64(|crf| crf.log_partition());
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-9 * (1.0 + w.abs()));
    }
}
