//! Log-partition and marginals against brute force and the f64 reference.

use super::reference::*;
use proptest::prelude::*;

fn close(got: f64, want: f64, tol: f64) -> bool {
    if want.is_infinite() || got.is_infinite() {
        return got == want;
    }
    (got - want).abs() <= tol * (1.0 + want.abs())
}

fn check_against(p: &Problem, want: &dyn Fn(&Problem, usize) -> Reference, f32: bool, tol: f64) {
    let (log_z, marg) = if f32 {
        p.with_f32(|crf| {
            let m = crf.marginals(true);
            let to64 = |x: &[f32]| x.iter().map(|&v| v as f64).collect::<Vec<f64>>();
            (
                to64(&crf.log_partition()),
                (
                    to64(&m.log_partition),
                    to64(&m.nodes.data),
                    to64(&m.edges.unwrap().data),
                ),
            )
        })
    } else {
        p.with_f64(|crf| {
            let m = crf.marginals(true);
            (
                crf.log_partition(),
                (m.log_partition, m.nodes.data, m.edges.unwrap().data),
            )
        })
    };
    let (mz, nodes, edges) = marg;
    // Without edges, the same nodes (the backward pass differs only in
    // where it keeps u_t).
    let nodes_alone: Vec<f64> = if f32 {
        p.with_f32(|crf| {
            crf.marginals(false)
                .nodes
                .data
                .iter()
                .map(|&v| v as f64)
                .collect()
        })
    } else {
        p.with_f64(|crf| crf.marginals(false).nodes.data)
    };
    assert_eq!(nodes_alone, nodes);
    let l = p.labels;
    let steps = p.max_len.saturating_sub(1);
    for b in 0..p.batch {
        let r = want(p, b);
        assert!(
            close(log_z[b], r.log_z, tol),
            "log Z of {b}: {} vs {}",
            log_z[b],
            r.log_z
        );
        assert!(
            close(mz[b], r.log_z, tol),
            "log Z of {b} from marginals: {} vs {}",
            mz[b],
            r.log_z
        );
        let len = p.lengths[b];
        for t in 0..p.max_len {
            for j in 0..l {
                let got = nodes[(b * p.max_len + t) * l + j];
                let want = if t < len { r.nodes[t * l + j] } else { 0.0 };
                assert!(
                    (got - want).abs() <= tol,
                    "node {b} {t} {j}: {got} vs {want}"
                );
            }
        }
        for t in 0..steps {
            for k in 0..l * l {
                let got = edges[(b * steps + t) * l * l + k];
                let want = if t + 1 < len {
                    r.edges[t * l * l + k]
                } else {
                    0.0
                };
                assert!(
                    (got - want).abs() <= tol,
                    "edge {b} {t} {k}: {got} vs {want}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn tiny_cases_match_brute_force(
        batch in 1usize..4, max_len in 0usize..6, labels in 1usize..5, seed: u64,
        banned in prop_oneof![Just(0.0), Just(0.2), Just(0.5)],
        scale in prop_oneof![Just(1.0), Just(4.0), Just(30.0)],
    ) {
        let mut rng = Gen::new(seed);
        let draw = Draw { scale, banned, banned_emission: banned / 2.0, integers: false };
        let p = Problem::random(&mut rng, batch, max_len, labels, draw);
        check_against(&p, &brute_force, false, 1e-9);
        check_against(&p.rounded_to_f32(), &brute_force, true, 2e-5);
    }
}

#[test]
fn larger_cases_match_the_log_space_reference() {
    let mut rng = Gen::new(7);
    for &(labels, max_len, scale, banned) in &[
        (5usize, 40usize, 3.0, 0.0),
        (60, 200, 3.0, 0.0),
        (17, 120, 50.0, 0.0),
        (23, 150, 200.0, 0.0),
        (33, 100, 3.0, 0.6),
        (12, 80, 50.0, 0.4),
        (9, 60, 200.0, 0.5),
    ] {
        let draw = Draw {
            scale,
            banned,
            banned_emission: banned / 3.0,
            integers: false,
        };
        let p = Problem::random(&mut rng, 3, max_len, labels, draw);
        check_against(&p, &reference, false, 1e-9);
        check_against(&p.rounded_to_f32(), &reference, true, 1e-4);
    }
}
