//! Tests of the selective scan's gradients against finite differences.

use super::*;
use crate::scan::selective_scan;
use proptest::prelude::*;

fn values(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (((x >> 11) as f64 / (1u64 << 53) as f64) - 0.5) * 2.0 * scale
        })
        .collect()
}

struct Case {
    shapes: Vec<Vec<usize>>,
    data: Vec<Vec<f64>>,
    softplus: bool,
}

impl Case {
    fn inputs(&self) -> SelectiveInputs<'_, f64> {
        let v = |i: usize| ArrayView::new(&self.data[i], &self.shapes[i]).unwrap();
        let opt = |i: usize| (!self.data[i].is_empty()).then(|| v(i));
        SelectiveInputs {
            u: v(0),
            delta: v(1),
            a: v(2),
            b: v(3),
            c: v(4),
            d: opt(5),
            z: opt(6),
            delta_bias: opt(7),
            delta_softplus: self.softplus,
        }
    }

    fn loss(&self, weights: &[f64], state_weights: &[f64]) -> f64 {
        let out = selective_scan(self.inputs()).unwrap();
        let outputs: f64 = out.out.data.iter().zip(weights).map(|(o, w)| o * w).sum();
        let states: f64 = out
            .last_state
            .data
            .iter()
            .zip(state_weights)
            .map(|(x, w)| x * w)
            .sum();
        outputs + states
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn gradients_match_finite_differences(
        batch in 1usize..3, dim in 1usize..5, length in 1usize..6, states in 1usize..4,
        variable_b: bool, variable_c: bool, optional: [bool; 3], softplus: bool, seed: u64,
    ) {
        let groups = if dim % 2 == 0 { 2 } else { 1 };
        let seq = vec![batch, dim, length];
        let proj = |variable: bool| if variable { vec![batch, groups, states, length] } else { vec![dim, states] };
        let shapes = vec![
            seq.clone(), seq.clone(), vec![dim, states], proj(variable_b), proj(variable_c),
            vec![dim], seq.clone(), vec![dim],
        ];
        let mut data: Vec<Vec<f64>> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| values(s.iter().product(), seed ^ (i as u64 * 7919), 1.0))
            .collect();
        // A negative (a decaying state), delta positive when used raw.
        data[2].iter_mut().for_each(|a| *a = -a.abs() - 0.1);
        if !softplus {
            data[1].iter_mut().for_each(|d| *d = d.abs() * 0.5 + 0.05);
        }
        for (k, present) in optional.iter().enumerate() {
            if !present {
                data[5 + k].clear();
            }
        }
        let case = Case { shapes, data, softplus };
        let weights = values(batch * dim * length, seed ^ 99, 1.0);
        // The loss also weighs the last state, to check its gradient.
        let state_shape = [batch, dim, states];
        let state_weights = values(batch * dim * states, seed ^ 98, 1.0);
        let grads = selective_scan_backward(
            case.inputs(),
            ArrayView::new(&weights, &seq).unwrap(),
            Some(ArrayView::new(&state_weights, &state_shape).unwrap()),
        ).unwrap();
        let analytic: Vec<Option<Vec<f64>>> = vec![
            Some(grads.u.data), Some(grads.delta.data), Some(grads.a.data),
            Some(grads.b.data), Some(grads.c.data), grads.d.map(|g| g.data),
            grads.z.map(|g| g.data), grads.delta_bias.map(|g| g.data),
        ];
        let eps = 1e-6;
        for (which, analytic) in analytic.iter().enumerate() {
            let Some(analytic) = analytic else {
                prop_assert!(case.data[which].is_empty());
                continue;
            };
            prop_assert_eq!(analytic.len(), case.data[which].len());
            for i in 0..analytic.len() {
                let mut probe = Case { shapes: case.shapes.clone(), data: case.data.clone(), softplus };
                probe.data[which][i] += eps;
                let up = probe.loss(&weights, &state_weights);
                probe.data[which][i] -= 2.0 * eps;
                let down = probe.loss(&weights, &state_weights);
                let numeric = (up - down) / (2.0 * eps);
                prop_assert!(
                    (numeric - analytic[i]).abs() < 1e-5 * (1.0 + numeric.abs()),
                    "input {} index {}: numeric {} analytic {}", which, i, numeric, analytic[i]
                );
            }
        }
    }
}

#[test]
fn thread_count_does_not_change_bits() {
    let (batch, dim, length, states) = (2, 24, 50, 5);
    let seq = vec![batch, dim, length];
    let shapes = [
        seq.clone(),
        seq.clone(),
        vec![dim, states],
        vec![batch, 2, states, length],
    ];
    let data: Vec<Vec<f64>> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| values(s.iter().product(), i as u64, 1.0))
        .collect();
    let run = || {
        let inputs = SelectiveInputs {
            u: ArrayView::new(&data[0], &shapes[0]).unwrap(),
            delta: ArrayView::new(&data[1], &shapes[1]).unwrap(),
            a: ArrayView::new(&data[2], &shapes[2]).unwrap(),
            b: ArrayView::new(&data[3], &shapes[3]).unwrap(),
            c: ArrayView::new(&data[3], &shapes[3]).unwrap(),
            d: None,
            z: Some(ArrayView::new(&data[0], &shapes[0]).unwrap()),
            delta_bias: None,
            delta_softplus: true,
        };
        let out = selective_scan(inputs).unwrap();
        let grads =
            selective_scan_backward(inputs, ArrayView::new(&data[1], &seq).unwrap(), None).unwrap();
        (out, grads)
    };
    let before = run();
    crate::parallel::set_num_threads(5).unwrap();
    let after = run();
    assert_eq!(before, after);
}
