//! Mega's multi-dimensional damped EMA as one fused scan.
//!
//! ```text
//! h_t[d, j] = decay[d, j] * h_{t-1}[d, j] + drive[d, j] * x_t[d]     (h_{-1} = 0)
//! y_t[d]    = sum_j readout[d, j] * h_t[d, j]
//! ```
//!
//! over `x` of shape `(batch, time, dim)`, with `decay` (Mega's `q`),
//! `drive` (`p * beta`) and `readout` (`gamma`) of shape `(dim, ndim)`.
//! The same recurrence as `linear_scan` on a `(batch, time, dim * ndim)`
//! state, without materialising the `ndim` times larger gates, inputs and
//! states: the state of a block of channels stays in cache, laid out
//! `[j][d]` so that the loops run along channels (contiguous in `x`) and
//! vectorise with no horizontal sums. The backward pass recomputes states
//! from checkpoints every `SEGMENT` steps.

use super::element::ScanElement;
use super::error::ScanError;
use super::real::Real;
use super::tasks::{Block, ColumnBlocks};
use crate::array::{Array, ArrayView};
use crate::parallel::{self, SharedOutput};

/// Steps between stored states in the backward pass.
const SEGMENT: usize = 64;

/// Inputs of [`damped_ema`] (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct EmaInputs<'a, T> {
    pub x: ArrayView<'a, T>,
    pub decay: ArrayView<'a, T>,
    pub drive: ArrayView<'a, T>,
    pub readout: ArrayView<'a, T>,
}

/// Gradients of [`damped_ema`], each in its input's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct EmaGrads<T> {
    pub x: Array<T>,
    pub decay: Array<T>,
    pub drive: Array<T>,
    pub readout: Array<T>,
}

/// `[batch, time, dim, ndim]` after validation.
fn validate<T>(inputs: &EmaInputs<'_, T>) -> Result<[usize; 4], ScanError> {
    let [batch, time, dim] = match *inputs.x.shape() {
        [b, t, d] => [b, t, d],
        _ => {
            return Err(ScanError::Rank {
                name: "x",
                expected: 3,
                layout: "(batch, time, dim)",
                shape: inputs.x.shape().to_vec(),
            })
        }
    };
    let ndim = match *inputs.decay.shape() {
        [d, n] if d == dim => n,
        _ => {
            return Err(ScanError::StateShape {
                name: "decay",
                layout: "(dim, ndim)",
                expected: vec![dim, inputs.decay.shape().get(1).copied().unwrap_or(1)],
                got: inputs.decay.shape().to_vec(),
            })
        }
    };
    for (name, param) in [("drive", &inputs.drive), ("readout", &inputs.readout)] {
        if param.shape() != [dim, ndim] {
            return Err(ScanError::StateShape {
                name,
                layout: "(dim, ndim)",
                expected: vec![dim, ndim],
                got: param.shape().to_vec(),
            });
        }
    }
    Ok([batch, time, dim, ndim])
}

/// One block's parameters transposed to `[j][d]`.
struct BlockParams<T> {
    decay: Vec<T>,
    drive: Vec<T>,
    readout: Vec<T>,
}

impl<T: ScanElement> BlockParams<T> {
    fn new(inputs: &EmaInputs<'_, T>, block: Block, ndim: usize) -> Self {
        let transpose = |p: &ArrayView<'_, T>| {
            let mut out = Vec::with_capacity(ndim * block.width);
            for j in 0..ndim {
                out.extend((0..block.width).map(|d| p.data()[(block.start + d) * ndim + j]));
            }
            out
        };
        Self {
            decay: transpose(&inputs.decay),
            drive: transpose(&inputs.drive),
            readout: transpose(&inputs.readout),
        }
    }
}

/// One step of the block: updates `state` (`[j][d]`) and writes `y`.
#[inline(always)]
fn step<T: ScanElement>(params: &BlockParams<T>, state: &mut [T], x: &[T], y: &mut [T]) {
    let width = x.len();
    y.fill(T::ZERO);
    for (j, h) in state.chunks_exact_mut(width).enumerate() {
        let range = j * width..(j + 1) * width;
        let (q, c, g) = (
            &params.decay[range.clone()],
            &params.drive[range.clone()],
            &params.readout[range],
        );
        for ((((h, y), &q), &c), (&g, &x)) in h
            .iter_mut()
            .zip(y.iter_mut())
            .zip(q)
            .zip(c)
            .zip(g.iter().zip(x))
        {
            *h = q * *h + c * x;
            *y = *y + g * *h;
        }
    }
}

/// Runs the EMA; returns `y` of shape `(batch, time, dim)`.
pub fn damped_ema<T: Real>(inputs: EmaInputs<'_, T>) -> Result<Array<T>, ScanError> {
    let [batch, time, dim, ndim] = validate(&inputs)?;
    let mut out = vec![T::ZERO; batch * time * dim];
    let blocks = ColumnBlocks::new(batch, time, dim);
    let shared = SharedOutput::new(out.as_mut_ptr(), out.len());
    parallel::for_each_task(blocks.tasks(), |task| {
        let block = blocks.block(task);
        let params = BlockParams::new(&inputs, block, ndim);
        let mut state = vec![T::ZERO; ndim * block.width];
        for t in 0..time {
            let row = blocks.row_offset(block, t);
            // SAFETY: this task alone writes these columns of this sequence.
            let y = unsafe { shared.slice(row, block.width) };
            step(
                &params,
                &mut state,
                &inputs.x.data()[row..row + block.width],
                y,
            );
        }
    });
    Ok(Array {
        data: out,
        shape: vec![batch, time, dim],
    })
}

/// Backward pass of [`damped_ema`]; `grad_y` has the shape of `y`.
pub fn damped_ema_backward<T: Real>(
    inputs: EmaInputs<'_, T>,
    grad_y: ArrayView<'_, T>,
) -> Result<EmaGrads<T>, ScanError> {
    let [batch, time, dim, ndim] = validate(&inputs)?;
    if grad_y.shape() != inputs.x.shape() {
        return Err(ScanError::ShapeMismatch {
            first: "x",
            second: "grad_y",
            first_shape: inputs.x.shape().to_vec(),
            second_shape: grad_y.shape().to_vec(),
        });
    }
    let blocks = ColumnBlocks::new(batch, time, dim);
    let mut grad_x = vec![T::ZERO; batch * time * dim];
    // Per-batch partial sums of the parameter gradients, `(batch, dim, ndim)`
    // each, added in batch order at the end (thread-count independent).
    let mut partials = vec![vec![T::ZERO; batch * dim * ndim]; 3];
    {
        let gx = SharedOutput::new(grad_x.as_mut_ptr(), grad_x.len());
        let outs: Vec<SharedOutput<T>> = partials
            .iter_mut()
            .map(|p| SharedOutput::new(p.as_mut_ptr(), p.len()))
            .collect();
        parallel::for_each_task(blocks.tasks(), |task| {
            let block = blocks.block(task);
            let params = BlockParams::new(&inputs, block, ndim);
            let width = block.width;
            let size = ndim * width;
            let x_row = |t: usize| {
                let row = blocks.row_offset(block, t);
                &inputs.x.data()[row..row + width]
            };
            // Forward, keeping the state before every SEGMENT-th step.
            let segments = time.div_ceil(SEGMENT);
            let mut checkpoints = vec![T::ZERO; segments * size];
            let mut state = vec![T::ZERO; size];
            let mut scratch_y = vec![T::ZERO; width];
            for t in 0..time {
                if t % SEGMENT == 0 {
                    let k = t / SEGMENT;
                    checkpoints[k * size..(k + 1) * size].copy_from_slice(&state);
                }
                step(&params, &mut state, x_row(t), &mut scratch_y);
            }
            // Reverse, one segment at a time.
            let mut states = vec![T::ZERO; SEGMENT * size];
            let mut carry = vec![T::ZERO; size];
            let mut grads = [
                vec![T::ZERO; size],
                vec![T::ZERO; size],
                vec![T::ZERO; size],
            ];
            for k in (0..segments).rev() {
                let (t0, t1) = (k * SEGMENT, ((k + 1) * SEGMENT).min(time));
                let start = &checkpoints[k * size..(k + 1) * size];
                state.copy_from_slice(start);
                for t in t0..t1 {
                    step(&params, &mut state, x_row(t), &mut scratch_y);
                    states[(t - t0) * size..(t - t0 + 1) * size].copy_from_slice(&state);
                }
                for t in (t0..t1).rev() {
                    let row = blocks.row_offset(block, t);
                    let gy = &grad_y.data()[row..row + width];
                    let x = x_row(t);
                    let now = &states[(t - t0) * size..(t - t0 + 1) * size];
                    let before = if t > t0 {
                        &states[(t - t0 - 1) * size..(t - t0) * size]
                    } else {
                        start
                    };
                    // SAFETY: this task alone writes these columns of this sequence.
                    let gx_row = unsafe { gx.slice(row, width) };
                    gx_row.fill(T::ZERO);
                    backward_step(
                        &params,
                        &mut carry,
                        &mut grads,
                        [now, before],
                        [gy, x],
                        gx_row,
                    );
                }
            }
            // Write this block's partial sums, back in `(dim, ndim)` order.
            for (out, grad) in outs.iter().zip(&grads) {
                for d in 0..width {
                    let at = (block.batch_index * dim + block.start + d) * ndim;
                    // SAFETY: (batch, channel) rows belong to this task alone.
                    let dst = unsafe { out.slice(at, ndim) };
                    for j in 0..ndim {
                        dst[j] = grad[j * width + d];
                    }
                }
            }
        });
    }
    let total = |partial: &[T]| {
        let mut sum = vec![T::ZERO; dim * ndim];
        for chunk in partial.chunks(dim * ndim).take(batch) {
            for (s, &p) in sum.iter_mut().zip(chunk) {
                *s = *s + p;
            }
        }
        Array {
            data: sum,
            shape: vec![dim, ndim],
        }
    };
    Ok(EmaGrads {
        x: Array {
            data: grad_x,
            shape: vec![batch, time, dim],
        },
        decay: total(&partials[0]),
        drive: total(&partials[1]),
        readout: total(&partials[2]),
    })
}

/// One reverse step: with `g_h = readout * g_y + carry`,
/// `g_decay += g_h * h_{t-1}`, `g_drive += g_h * x`, `g_readout += g_y * h_t`,
/// `g_x = sum_j drive * g_h`, and `carry = decay * g_h` for the step before.
#[inline(always)]
fn backward_step<T: ScanElement>(
    params: &BlockParams<T>,
    carry: &mut [T],
    [grad_decay, grad_drive, grad_readout]: &mut [Vec<T>; 3],
    [now, before]: [&[T]; 2],
    [gy, x]: [&[T]; 2],
    gx: &mut [T],
) {
    let width = x.len();
    for j in 0..carry.len() / width {
        let range = j * width..(j + 1) * width;
        let lanes = carry[range.clone()]
            .iter_mut()
            .zip(&params.decay[range.clone()])
            .zip(&params.drive[range.clone()])
            .zip(&params.readout[range.clone()])
            .zip(grad_decay[range.clone()].iter_mut())
            .zip(grad_drive[range.clone()].iter_mut())
            .zip(grad_readout[range.clone()].iter_mut())
            .zip(now[range.clone()].iter().zip(&before[range]))
            .zip(gx.iter_mut().zip(gy.iter().zip(x)));
        for ((((((((carry, &q), &c), &g), gq), gc), gg), (&h, &h_before)), (gx, (&gy, &x))) in lanes
        {
            let gh = g * gy + *carry;
            *gq = *gq + gh * h_before;
            *gc = *gc + gh * x;
            *gg = *gg + gy * h;
            *gx = *gx + c * gh;
            *carry = q * gh;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn values(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                lo + (hi - lo) * ((s >> 11) as f64 / (1u64 << 53) as f64)
            })
            .collect()
    }

    fn naive(x: &[f64], q: &[f64], c: &[f64], g: &[f64], [b, t, d, n]: [usize; 4]) -> Vec<f64> {
        let mut y = vec![0.0; b * t * d];
        for bi in 0..b {
            for di in 0..d {
                let mut h = vec![0.0; n];
                for ti in 0..t {
                    let xv = x[(bi * t + ti) * d + di];
                    let mut acc = 0.0;
                    for j in 0..n {
                        h[j] = q[di * n + j] * h[j] + c[di * n + j] * xv;
                        acc += g[di * n + j] * h[j];
                    }
                    y[(bi * t + ti) * d + di] = acc;
                }
            }
        }
        y
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn values_and_gradients(batch in 1usize..3, time in 1usize..140, dim in 1usize..5, ndim in 1usize..4, seed: u64) {
            let shape = [batch, time, dim, ndim];
            let x = values(batch * time * dim, seed, -1.0, 1.0);
            let q = values(dim * ndim, seed ^ 1, 0.0, 0.99);
            let c = values(dim * ndim, seed ^ 2, -1.0, 1.0);
            let g = values(dim * ndim, seed ^ 3, -1.0, 1.0);
            let w = values(batch * time * dim, seed ^ 4, -1.0, 1.0);
            let (xs, ps) = ([batch, time, dim], [dim, ndim]);
            let inputs = |x: &[f64], q: &[f64], c: &[f64], g: &[f64]| -> f64 {
                let y = naive(x, q, c, g, shape);
                y.iter().zip(&w).map(|(a, b)| a * b).sum()
            };
            let view = EmaInputs {
                x: ArrayView::new(&x, &xs).unwrap(),
                decay: ArrayView::new(&q, &ps).unwrap(),
                drive: ArrayView::new(&c, &ps).unwrap(),
                readout: ArrayView::new(&g, &ps).unwrap(),
            };
            let y = damped_ema(view).unwrap();
            let want = naive(&x, &q, &c, &g, shape);
            for (a, b) in y.data.iter().zip(&want) {
                prop_assert!((a - b).abs() < 1e-12 * (1.0 + b.abs()));
            }
            let grads = damped_ema_backward(view, ArrayView::new(&w, &xs).unwrap()).unwrap();
            let eps = 1e-6;
            let mut args = [x.clone(), q.clone(), c.clone(), g.clone()];
            let analytic = [&grads.x.data, &grads.decay.data, &grads.drive.data, &grads.readout.data];
            for which in 0..4 {
                for i in (0..args[which].len()).step_by(7) {
                    args[which][i] += eps;
                    let up = inputs(&args[0], &args[1], &args[2], &args[3]);
                    args[which][i] -= 2.0 * eps;
                    let down = inputs(&args[0], &args[1], &args[2], &args[3]);
                    args[which][i] += eps;
                    let numeric = (up - down) / (2.0 * eps);
                    prop_assert!((numeric - analytic[which][i]).abs() < 1e-6 * (1.0 + numeric.abs()),
                        "arg {} index {}: {} vs {}", which, i, numeric, analytic[which][i]);
                }
            }
        }
    }

    #[test]
    fn shapes_are_checked() {
        let x = [0.0_f32; 6];
        let p = [0.0_f32; 4];
        let err = damped_ema(EmaInputs {
            x: ArrayView::new(&x, &[1, 2, 3]).unwrap(),
            decay: ArrayView::new(&p, &[2, 2]).unwrap(),
            drive: ArrayView::new(&p, &[2, 2]).unwrap(),
            readout: ArrayView::new(&p, &[2, 2]).unwrap(),
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("decay must have shape (dim, ndim)"),
            "{err}"
        );
    }
}
