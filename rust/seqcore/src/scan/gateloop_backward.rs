//! Gradients of the GateLoop recurrence, by a reverse scan that recomputes
//! the states.
//!
//! With `G_t = dL/dS_t` (the total gradient reaching the state, through
//! `y_t` and through later steps) and PyTorch's conjugate convention:
//!
//! ```text
//! G_t       = conj(q_t)^T gy_t + diag(conj(a_{t+1})) G_{t+1}
//! dL/dq_t   = gy_t S_t^H                   (row i: sum_j gy[j] conj(S[i, j]))
//! dL/da_t   = rowsum(G_t * conj(S_{t-1}))
//! dL/dk_t   = G_t conj(v_t)^T
//! dL/dv_t   = conj(k_t) G_t
//! ```
//!
//! The reverse pass needs `S_{t-1}` and `S_t` at every step. Storing every
//! state would take `length * d_k * d_v` values per (batch, head), and
//! running the recurrence backwards (`S_{t-1} = (S_t - k_t^T v_t) / a_t`)
//! is unstable where gates are small. So each task runs the forward
//! recurrence once, keeping a checkpoint every `segment` steps, and then
//! recomputes one segment of states at a time from its checkpoint while
//! walking the segments in reverse. With `segment ~ sqrt(length)` the
//! scratch is `2 sqrt(length)` states per task and the states are computed
//! twice in all.

use super::element::ScanElement;
use super::error::ScanError;
use super::gateloop::{advance, validate, GateLoopDims, GateLoopInputs};
use crate::array::{Array, ArrayView};
use crate::parallel::{self, SharedOutput};

/// Gradients of a loss with respect to the inputs of [`super::gateloop`].
#[derive(Debug, Clone, PartialEq)]
pub struct GateLoopGrads<T> {
    pub q: Array<T>,
    pub k: Array<T>,
    pub v: Array<T>,
    pub a: Array<T>,
}

/// Backward pass of [`super::gateloop`]: `grad_y` has the shape of `y`
/// (that of `v`).
pub fn gateloop_backward<T: ScanElement>(
    inputs: GateLoopInputs<'_, T>,
    grad_y: ArrayView<'_, T>,
) -> Result<GateLoopGrads<T>, ScanError> {
    let dims = validate(&inputs)?;
    if grad_y.shape() != inputs.v.shape() {
        return Err(ScanError::ShapeMismatch {
            first: "v",
            second: "grad_y",
            first_shape: inputs.v.shape().to_vec(),
            second_shape: grad_y.shape().to_vec(),
        });
    }
    let key_len = inputs.q.data().len();
    let mut grads = [
        vec![T::ZERO; key_len],
        vec![T::ZERO; key_len],
        vec![T::ZERO; inputs.v.data().len()],
        vec![T::ZERO; key_len],
    ];
    backward_unchecked(&inputs, grad_y.data(), dims, &mut grads);
    let [q, k, v, a] = grads;
    let key_shape = inputs.q.shape().to_vec();
    let array = |data, shape: &Vec<usize>| Array {
        data,
        shape: shape.clone(),
    };
    Ok(GateLoopGrads {
        q: array(q, &key_shape),
        k: array(k, &key_shape),
        v: array(v, &dims.value_shape()),
        a: array(a, &key_shape),
    })
}

/// Steps per checkpoint segment: about `sqrt(length)`, at least 8.
fn segment_length(length: usize) -> usize {
    ((length as f64).sqrt().ceil() as usize).max(8)
}

fn backward_unchecked<T: ScanElement>(
    inputs: &GateLoopInputs<'_, T>,
    grad_y: &[T],
    dims: GateLoopDims,
    [gq, gk, gv, ga]: &mut [Vec<T>; 4],
) {
    if dims.d_v == 0 {
        return; // y is empty, so every gradient stays zero
    }
    let segment = segment_length(dims.length);
    let work = Work {
        q: inputs.q.data(),
        k: inputs.k.data(),
        v: inputs.v.data(),
        a: inputs.a.data(),
        grad_y,
        dims,
        segment,
        segments: dims.length.div_ceil(segment),
        outputs: [gq, gk, gv, ga].map(|g| SharedOutput::new(g.as_mut_ptr(), g.len())),
    };
    parallel::for_each_task(dims.tasks(), |task| run_task(&work, task));
}

/// Everything a task reads, and the gradient buffers it writes its rows of.
struct Work<'a, T> {
    q: &'a [T],
    k: &'a [T],
    v: &'a [T],
    a: &'a [T],
    grad_y: &'a [T],
    dims: GateLoopDims,
    segment: usize,
    segments: usize,
    outputs: [SharedOutput<T>; 4],
}

/// Runs one (batch, head), on AVX2 and FMA where the processor has them.
fn run_task<T: ScanElement>(work: &Work<'_, T>, task: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the processor supports the features just detected.
            unsafe { run_task_avx2(work, task) };
            return;
        }
    }
    run_task_body(work, task);
}

/// The same code compiled for AVX2 (see `selective::run_channel_avx2`):
/// wider vectors, and the same bits, since no multiply-add is fused.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_task_avx2<T: ScanElement>(work: &Work<'_, T>, task: usize) {
    run_task_body(work, task);
}

#[inline(always)]
fn run_task_body<T: ScanElement>(work: &Work<'_, T>, task: usize) {
    let Work {
        q,
        k,
        v,
        a,
        grad_y,
        dims,
        segment,
        segments,
        ref outputs,
    } = *work;
    let GateLoopDims {
        length, d_k, d_v, ..
    } = dims;
    let size = d_k * d_v;
    // checkpoints[s] is the state before segment s's first step.
    let mut checkpoints = vec![T::ZERO; segments * size];
    let mut state = vec![T::ZERO; size];
    for t in 0..length {
        if t % segment == 0 {
            let s = t / segment;
            checkpoints[s * size..(s + 1) * size].copy_from_slice(&state);
        }
        let (key, value) = dims.offsets(task, t);
        advance(
            &mut state,
            &k[key..key + d_k],
            &v[value..value + d_v],
            &a[key..key + d_k],
        );
    }
    // states[j] is S at step start + j of the current segment.
    let mut states = vec![T::ZERO; segment * size];
    // carry = diag(conj(a_{t+1})) G_{t+1}; becomes G_t in place.
    let mut carry = vec![T::ZERO; size];
    for s in (0..segments).rev() {
        let start = s * segment;
        let end = (start + segment).min(length);
        let mut current = checkpoints[s * size..(s + 1) * size].to_vec();
        for t in start..end {
            let (key, value) = dims.offsets(task, t);
            advance(
                &mut current,
                &k[key..key + d_k],
                &v[value..value + d_v],
                &a[key..key + d_k],
            );
            let j = t - start;
            states[j * size..(j + 1) * size].copy_from_slice(&current);
        }
        for t in (start..end).rev() {
            let j = t - start;
            let now = &states[j * size..(j + 1) * size];
            let before = if j == 0 {
                &checkpoints[s * size..(s + 1) * size]
            } else {
                &states[(j - 1) * size..j * size]
            };
            let (key, value) = dims.offsets(task, t);
            // SAFETY: rows (batch, t, head) of the gradients belong to this
            // task alone and lie inside the buffers.
            let rows = unsafe {
                [
                    outputs[0].slice(key, d_k),
                    outputs[1].slice(key, d_k),
                    outputs[2].slice(value, d_v),
                    outputs[3].slice(key, d_k),
                ]
            };
            step_backward(
                &mut carry,
                Saved {
                    now,
                    before,
                    q: &q[key..key + d_k],
                    k: &k[key..key + d_k],
                    v: &v[value..value + d_v],
                    a: &a[key..key + d_k],
                    grad_y: &grad_y[value..value + d_v],
                },
                rows,
            );
        }
    }
}

/// What one reverse step reads.
struct Saved<'a, T> {
    now: &'a [T],
    before: &'a [T],
    q: &'a [T],
    k: &'a [T],
    v: &'a [T],
    a: &'a [T],
    grad_y: &'a [T],
}

/// One reverse step: turns `carry` into `G_t`, writes the four gradient
/// rows, and leaves `diag(conj(a_t)) G_t` in `carry` for step `t - 1`.
///
/// The elementwise updates and the three row sums are separate loops: a
/// sum written in the same loop is one serial chain of additions (floats
/// are not reassociated), which made this step ten times slower than the
/// forward one; [`dot_conj`] keeps independent partial sums instead.
#[inline(always)]
fn step_backward<T: ScanElement>(
    carry: &mut [T],
    x: Saved<'_, T>,
    [gq, gk, gv, ga]: [&mut [T]; 4],
) {
    let d_v = x.v.len();
    gv.iter_mut().for_each(|g| *g = T::ZERO);
    for (i, g_row) in carry.chunks_exact_mut(d_v).enumerate() {
        let now = &x.now[i * d_v..(i + 1) * d_v];
        let before = &x.before[i * d_v..(i + 1) * d_v];
        let (q_conj, k_conj) = (x.q[i].conj(), x.k[i].conj());
        for ((g, &gy), gv) in g_row.iter_mut().zip(x.grad_y).zip(gv.iter_mut()) {
            let total = *g + q_conj * gy;
            *gv = *gv + k_conj * total;
            *g = total;
        }
        gq[i] = dot_conj(x.grad_y, now);
        gk[i] = dot_conj(g_row, x.v);
        ga[i] = dot_conj(g_row, before);
        let a_conj = x.a[i].conj();
        g_row.iter_mut().for_each(|g| *g = a_conj * *g);
    }
}

/// Independent partial sums of [`dot_conj`]: enough to hide the latency
/// of an addition and to fill a vector register.
const LANES: usize = 8;

/// `sum_j x[j] conj(y[j])` with `LANES` partial sums combined in a fixed
/// order, so the result does not depend on anything but the inputs.
#[inline(always)]
fn dot_conj<T: ScanElement>(x: &[T], y: &[T]) -> T {
    let mut lanes = [T::ZERO; LANES];
    let (x_blocks, y_blocks) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
    let (x_rest, y_rest) = (x_blocks.remainder(), y_blocks.remainder());
    for (xb, yb) in x_blocks.zip(y_blocks) {
        for l in 0..LANES {
            lanes[l] = lanes[l] + xb[l] * yb[l].conj();
        }
    }
    for (l, (&a, &b)) in x_rest.iter().zip(y_rest).enumerate() {
        lanes[l] = lanes[l] + a * b.conj();
    }
    let [a, b, c, d, e, f, g, h] = lanes;
    ((a + b) + (c + d)) + ((e + f) + (g + h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::gateloop;
    use num_complex::Complex64;
    use proptest::prelude::*;

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

    /// Loss L = sum(Re(conj(w) * y)), whose gradient with respect to y is w.
    fn loss(args: &[Vec<Complex64>; 4], w: &[Complex64], dims: [usize; 5]) -> f64 {
        let [b, l, h, dk, dv] = dims;
        let (ks, vs) = ([b, l, h, dk], [b, l, h, dv]);
        let y = gateloop(GateLoopInputs {
            q: ArrayView::new(&args[0], &ks).unwrap(),
            k: ArrayView::new(&args[1], &ks).unwrap(),
            v: ArrayView::new(&args[2], &vs).unwrap(),
            a: ArrayView::new(&args[3], &ks).unwrap(),
        })
        .unwrap();
        y.data.iter().zip(w).map(|(y, w)| (w.conj() * y).re).sum()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(30))]
        /// Every gradient against central finite differences; for complex z
        /// PyTorch's gradient is dL/dRe(z) + i dL/dIm(z). Lengths up to 20
        /// cover several checkpoint segments (segment >= 8).
        #[test]
        fn gateloop_gradients_match_finite_differences(
            batch in 1usize..3, length in 1usize..20, heads in 1usize..3,
            d_k in 1usize..4, d_v in 1usize..4, seed: u64
        ) {
            let dims = [batch, length, heads, d_k, d_v];
            let (nk, nv) = (batch * length * heads * d_k, batch * length * heads * d_v);
            let args = [values(nk, seed), values(nk, seed ^ 1), values(nv, seed ^ 2), values(nk, seed ^ 3)];
            let w = values(nv, seed ^ 4);
            let (ks, vs) = ([batch, length, heads, d_k], [batch, length, heads, d_v]);
            let grads = gateloop_backward(
                GateLoopInputs {
                    q: ArrayView::new(&args[0], &ks).unwrap(),
                    k: ArrayView::new(&args[1], &ks).unwrap(),
                    v: ArrayView::new(&args[2], &vs).unwrap(),
                    a: ArrayView::new(&args[3], &ks).unwrap(),
                },
                ArrayView::new(&w, &vs).unwrap(),
            ).unwrap();
            let analytic = [&grads.q.data, &grads.k.data, &grads.v.data, &grads.a.data];
            let eps = 1e-6;
            for which in 0..4 {
                for i in 0..analytic[which].len() {
                    let mut numeric = Complex64::new(0.0, 0.0);
                    for (dir, unit) in [(0, Complex64::new(eps, 0.0)), (1, Complex64::new(0.0, eps))] {
                        let mut moved = args.clone();
                        moved[which][i] += unit;
                        let up = loss(&moved, &w, dims);
                        moved[which][i] -= unit * 2.0;
                        let down = loss(&moved, &w, dims);
                        let d = (up - down) / (2.0 * eps);
                        if dir == 0 { numeric.re = d } else { numeric.im = d }
                    }
                    let got = analytic[which][i];
                    prop_assert!((numeric - got).norm() < 1e-6, "arg {} index {}: {} vs {}", which, i, numeric, got);
                }
            }
        }
    }

    #[test]
    fn gateloop_thread_count_does_not_change_bits() {
        let (b, l, h, dk, dv) = (2, 300, 3, 8, 5);
        let ks = [b, l, h, dk];
        let vs = [b, l, h, dv];
        let x: Vec<f32> = (0..b * l * h * dk)
            .map(|i| ((i % 13) as f32) / 13.0 - 0.4)
            .collect();
        let y: Vec<f32> = (0..b * l * h * dv)
            .map(|i| ((i % 7) as f32) / 7.0 - 0.5)
            .collect();
        let inputs = GateLoopInputs {
            q: ArrayView::new(&x, &ks).unwrap(),
            k: ArrayView::new(&x, &ks).unwrap(),
            v: ArrayView::new(&y, &vs).unwrap(),
            a: ArrayView::new(&x, &ks).unwrap(),
        };
        let run = || {
            let out = gateloop(inputs).unwrap();
            let grads = gateloop_backward(inputs, out.view()).unwrap();
            (out, grads)
        };
        let before = run();
        crate::parallel::set_num_threads(5).unwrap();
        let wide = run();
        crate::parallel::set_num_threads(1).unwrap();
        let serial = run();
        assert_eq!(before, wide);
        assert_eq!(before, serial);
    }

    #[test]
    fn gateloop_backward_checks_grad_shape() {
        let x = [0.0_f64; 8];
        let view = ArrayView::new(&x, &[1, 2, 2, 2]).unwrap();
        let inputs = GateLoopInputs {
            q: view,
            k: view,
            v: view,
            a: view,
        };
        let err = gateloop_backward(inputs, ArrayView::new(&x[..4], &[1, 2, 2, 1]).unwrap());
        assert_eq!(
            err.unwrap_err().to_string(),
            "v and grad_y must have the same shape, got (1, 2, 2, 2) and (1, 2, 2, 1)"
        );
    }
}
