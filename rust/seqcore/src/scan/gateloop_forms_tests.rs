//! Tests of GateLoop's attention and chunked forms against the recurrence:
//! values, gradients against finite differences (complex, gates exactly 0),
//! long float32 sequences, thread counts and bad arguments.

use super::gateloop::GateLoopInputs;
use super::{
    gateloop, gateloop_attention, gateloop_attention_backward, gateloop_backward, gateloop_chunked,
    gateloop_chunked_backward, GateLoopGrads, ScanError,
};
use crate::array::{Array, ArrayView};
use num_complex::{Complex32, Complex64};
use proptest::prelude::*;

/// A form: `chunk_size` 0 is attention, anything else chunked.
fn forward<T: super::ScanElement>(
    inputs: GateLoopInputs<'_, T>,
    chunk: usize,
) -> Result<Array<T>, ScanError> {
    match chunk {
        0 => gateloop_attention(inputs),
        c => gateloop_chunked(inputs, c),
    }
}

fn backward<T: super::ScanElement>(
    inputs: GateLoopInputs<'_, T>,
    grad_y: ArrayView<'_, T>,
    chunk: usize,
) -> Result<GateLoopGrads<T>, ScanError> {
    match chunk {
        0 => gateloop_attention_backward(inputs, grad_y),
        c => gateloop_chunked_backward(inputs, grad_y, c),
    }
}

fn values(n: usize, seed: u64) -> Vec<Complex64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    (0..n).map(|_| Complex64::new(next(), next())).collect()
}

/// Inputs q, k, v, a; every third gate exactly 0 when `zeros`.
fn problem(dims: [usize; 5], seed: u64, zeros: bool) -> [Vec<Complex64>; 4] {
    let [b, l, h, dk, dv] = dims;
    let (nk, nv) = (b * l * h * dk, b * l * h * dv);
    let mut a = values(nk, seed ^ 3);
    if zeros {
        a.iter_mut()
            .step_by(3)
            .for_each(|g| *g = Complex64::new(0.0, 0.0));
    }
    [
        values(nk, seed),
        values(nk, seed ^ 1),
        values(nv, seed ^ 2),
        a,
    ]
}

fn views<T>(args: &[Vec<T>; 4], dims: [usize; 5]) -> GateLoopInputs<'_, T> {
    let [b, l, h, dk, dv] = dims;
    let (ks, vs) = (vec![b, l, h, dk], vec![b, l, h, dv]);
    let ks: &'static [usize] = Box::leak(ks.into_boxed_slice());
    let vs: &'static [usize] = Box::leak(vs.into_boxed_slice());
    GateLoopInputs {
        q: ArrayView::new(&args[0], ks).unwrap(),
        k: ArrayView::new(&args[1], ks).unwrap(),
        v: ArrayView::new(&args[2], vs).unwrap(),
        a: ArrayView::new(&args[3], ks).unwrap(),
    }
}

fn real(args: &[Vec<Complex64>; 4]) -> [Vec<f64>; 4] {
    args.clone().map(|x| x.iter().map(|z| z.re).collect())
}

fn close(got: &[Complex64], want: &[Complex64], tol: f64) -> Result<(), TestCaseError> {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        prop_assert!((g - w).norm() < tol, "index {}: {} vs {}", i, g, w);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]
    /// Values and gradients of both forms equal the recurrent mode's.
    #[test]
    fn forms_match_the_recurrence(
        batch in 1usize..3, length in 1usize..24, heads in 1usize..3,
        d_k in 1usize..5, d_v in 1usize..5, chunk in 0usize..7, zeros: bool, seed: u64
    ) {
        let dims = [batch, length, heads, d_k, d_v];
        let args = problem(dims, seed, zeros);
        let w = values(args[2].len(), seed ^ 4);
        let inputs = views(&args, dims);
        let want = gateloop(inputs).unwrap();
        let got = forward(inputs, chunk).unwrap();
        prop_assert_eq!(&got.shape, &want.shape);
        close(&got.data, &want.data, 1e-12)?;
        let gy = ArrayView::new(&w, &want.shape).unwrap();
        let want = gateloop_backward(inputs, gy).unwrap();
        let got = backward(inputs, gy, chunk).unwrap();
        for (g, w) in [(&got.q, &want.q), (&got.k, &want.k), (&got.v, &want.v), (&got.a, &want.a)] {
            prop_assert_eq!(&g.shape, &w.shape);
            close(&g.data, &w.data, 1e-11)?;
        }
        // Real inputs too.
        let re = real(&args);
        let inputs = views(&re, dims);
        let want = gateloop(inputs).unwrap();
        let got = forward(inputs, chunk).unwrap();
        for (g, w) in got.data.iter().zip(&want.data) {
            prop_assert!((g - w).abs() < 1e-12);
        }
    }

    /// Every gradient of both forms against central finite differences,
    /// complex inputs, gates exactly 0 included; for complex z PyTorch's
    /// gradient is dL/dRe(z) + i dL/dIm(z).
    #[test]
    fn form_gradients_match_finite_differences(
        length in 1usize..12, d_k in 1usize..4, d_v in 1usize..3,
        chunk in 0usize..5, zeros: bool, seed: u64
    ) {
        let dims = [1, length, 2, d_k, d_v];
        let args = problem(dims, seed, zeros);
        let w = values(args[2].len(), seed ^ 4);
        let shape = [1, length, 2, d_v];
        let loss = |args: &[Vec<Complex64>; 4]| -> f64 {
            let y = forward(views(args, dims), chunk).unwrap();
            y.data.iter().zip(&w).map(|(y, w)| (w.conj() * y).re).sum()
        };
        let grads = backward(views(&args, dims), ArrayView::new(&w, &shape).unwrap(), chunk).unwrap();
        let analytic = [&grads.q.data, &grads.k.data, &grads.v.data, &grads.a.data];
        let eps = 1e-6;
        for which in 0..4 {
            for i in 0..analytic[which].len() {
                let mut numeric = Complex64::new(0.0, 0.0);
                for (dir, unit) in [(0, Complex64::new(eps, 0.0)), (1, Complex64::new(0.0, eps))] {
                    let mut moved = args.clone();
                    moved[which][i] += unit;
                    let up = loss(&moved);
                    moved[which][i] -= unit * 2.0;
                    let down = loss(&moved);
                    let d = (up - down) / (2.0 * eps);
                    if dir == 0 { numeric.re = d } else { numeric.im = d }
                }
                let got = analytic[which][i];
                prop_assert!((numeric - got).norm() < 1e-6, "arg {} index {}: {} vs {}", which, i, numeric, got);
            }
        }
    }
}

/// Lengths over several tiles of the backward pass (64 steps) and
/// several chunks, against the recurrence.
#[test]
fn long_forms_match_the_recurrence() {
    for (length, zeros) in [(150, false), (193, true)] {
        let dims = [2, length, 1, 3, 2];
        let args = problem(dims, 5, zeros);
        let w = values(args[2].len(), 6);
        let inputs = views(&args, dims);
        let want = gateloop(inputs).unwrap();
        let gy = ArrayView::new(&w, &want.shape).unwrap();
        let want_grads = gateloop_backward(inputs, gy).unwrap();
        for chunk in [0, 1, 7, 64, 100] {
            close(&forward(inputs, chunk).unwrap().data, &want.data, 1e-12).unwrap();
            let got = backward(inputs, gy, chunk).unwrap();
            for (g, w) in [
                (&got.q, &want_grads.q),
                (&got.k, &want_grads.k),
                (&got.v, &want_grads.v),
                (&got.a, &want_grads.a),
            ] {
                close(&g.data, &w.data, 1e-11).unwrap();
            }
        }
    }
}

/// Length 4096 in complex64 with gates of magnitude 0.01-0.5: finite, and
/// close to the float64 recurrence.
#[test]
fn long_float32_sequences_stay_finite() {
    let dims = [1, 4096, 1, 4, 3];
    let mut args = problem(dims, 7, false);
    for (i, g) in args[3].iter_mut().enumerate() {
        let magnitude = 0.01 + 0.49 * (g.re + 0.5);
        *g = Complex64::from_polar(magnitude, 0.1 * (i as f64).sin());
    }
    let exact = gateloop(views(&args, dims)).unwrap();
    let narrow = args.clone().map(|x| {
        x.iter()
            .map(|z| Complex32::new(z.re as f32, z.im as f32))
            .collect::<Vec<_>>()
    });
    let inputs = views(&narrow, dims);
    for chunk in [0, 64] {
        let y = forward(inputs, chunk).unwrap();
        for (g, w) in y.data.iter().zip(&exact.data) {
            assert!(g.re.is_finite() && g.im.is_finite());
            assert!((Complex64::new(g.re.into(), g.im.into()) - w).norm() < 1e-4);
        }
        let grads = backward(inputs, y.view(), chunk).unwrap();
        for g in [&grads.q, &grads.k, &grads.v, &grads.a] {
            assert!(g.data.iter().all(|z| z.re.is_finite() && z.im.is_finite()));
        }
    }
}

#[test]
fn thread_count_does_not_change_bits() {
    let dims = [2, 150, 3, 8, 5];
    let args =
        real(&problem(dims, 11, false)).map(|x| x.iter().map(|&v| v as f32).collect::<Vec<_>>());
    let inputs = views(&args, dims);
    let run = |chunk| {
        let y = forward(inputs, chunk).unwrap();
        let grads = backward(inputs, y.view(), chunk).unwrap();
        (y, grads)
    };
    for chunk in [0, 16] {
        let before = run(chunk);
        crate::parallel::set_num_threads(5).unwrap();
        let wide = run(chunk);
        crate::parallel::set_num_threads(1).unwrap();
        let serial = run(chunk);
        assert_eq!(before, wide);
        assert_eq!(before, serial);
    }
}

#[test]
fn bad_arguments_give_typed_errors() {
    let x = [0.0_f64; 24];
    let view = ArrayView::new(&x[..24], &[1, 2, 3, 4]).unwrap();
    let inputs = GateLoopInputs {
        q: view,
        k: view,
        v: view,
        a: view,
    };
    assert_eq!(
        gateloop_chunked(inputs, 0).unwrap_err(),
        ScanError::ChunkSize { chunk_size: 0 }
    );
    let other = ArrayView::new(&x[..12], &[1, 2, 3, 2]).unwrap();
    let bad = GateLoopInputs { k: other, ..inputs };
    assert!(matches!(
        gateloop_attention(bad),
        Err(ScanError::ShapeMismatch { second: "k", .. })
    ));
    let err = gateloop_attention_backward(inputs, other).unwrap_err();
    assert_eq!(
        err.to_string(),
        "v and grad_y must have the same shape, got (1, 2, 3, 4) and (1, 2, 3, 2)"
    );
    let err = gateloop_chunked_backward(inputs, other, 4).unwrap_err();
    assert!(matches!(
        err,
        ScanError::ShapeMismatch {
            second: "grad_y",
            ..
        }
    ));
}

#[test]
fn empty_shapes_give_zeros() {
    let none: [f64; 0] = [];
    for shape in [[0, 3, 2, 2], [2, 0, 2, 2], [2, 3, 0, 2], [2, 3, 2, 0]] {
        let view = ArrayView::new(&none, &shape).unwrap();
        let inputs = GateLoopInputs {
            q: view,
            k: view,
            v: view,
            a: view,
        };
        for chunk in [0, 3] {
            assert_eq!(forward(inputs, chunk).unwrap().shape, shape.to_vec());
            assert_eq!(
                backward(inputs, view, chunk).unwrap().a.shape,
                shape.to_vec()
            );
        }
    }
}
