//! GateLoop in chunked form: chunks of `chunk_size` steps, attention form
//! inside a chunk ([`super::gateloop_block`]), the state recurrence between
//! chunks.
//!
//! For a chunk of steps `c..=e` entering with the state `S_{c-1}`:
//!
//! ```text
//! y_t = q_t diag(P(c-1, t)) S_{c-1} + sum_{c<=s<=t} (sum_i q_t[i] k_s[i] P(s,t)[i]) v_s
//! S_e = diag(P(c-1, e)) S_{c-1} + sum_{c<=s<=e} diag(P(s, e)) k_s^T v_s
//! ```
//!
//! with `P(s, t) = prod_{r=s+1..t} a_r` built by running products inside
//! the chunk only: no exponent spans more than a chunk, no logarithm and no
//! division, so gates that are exactly 0 are exact. The backward pass keeps
//! the state entering every chunk (`length / chunk_size` states per task),
//! then walks the chunks in reverse carrying `dL/dS` across chunk ends.
//! One task per (batch, head); results do not depend on the thread count.

use super::element::ScanElement;
use super::error::ScanError;
use super::gateloop::{advance, validate, GateLoopDims, GateLoopInputs};
use super::gateloop_backward::GateLoopGrads;
use super::gateloop_block::{block_backward, block_forward, Block, BlockGrads, StateIn};
use super::gateloop_rows::{
    gather, into_grads, scatter, validate_grad, zero_grads, SharedGrads, TaskRows,
};
use crate::array::{Array, ArrayView};
use crate::parallel::{self, SharedOutput};
use crate::simd::widest;

fn check_chunk_size(chunk_size: usize) -> Result<(), ScanError> {
    if chunk_size == 0 {
        return Err(ScanError::ChunkSize { chunk_size });
    }
    Ok(())
}

/// `y` of GateLoop (shape of `v`) in chunked form.
pub fn gateloop_chunked<T: ScanElement>(
    inputs: GateLoopInputs<'_, T>,
    chunk_size: usize,
) -> Result<Array<T>, ScanError> {
    let dims = validate(&inputs)?;
    check_chunk_size(chunk_size)?;
    let mut out = vec![T::ZERO; inputs.v.data().len()];
    forward_unchecked(&inputs, dims, chunk_size, &mut out);
    Ok(Array {
        data: out,
        shape: dims.value_shape(),
    })
}

/// Like [`gateloop_chunked`], writing `y` into `out` (the shape of `v`).
pub fn gateloop_chunked_into<T: ScanElement>(
    inputs: GateLoopInputs<'_, T>,
    chunk_size: usize,
    out: &mut [T],
) -> Result<(), ScanError> {
    let dims = validate(&inputs)?;
    check_chunk_size(chunk_size)?;
    let shape = dims.value_shape();
    ArrayView::new(&*out, &shape).map_err(|source| ScanError::Shape {
        name: "out",
        source,
    })?;
    forward_unchecked(&inputs, dims, chunk_size, out);
    Ok(())
}

/// Gradients of [`gateloop_chunked`] (PyTorch's conjugate convention);
/// `grad_y` has the shape of `v`.
pub fn gateloop_chunked_backward<T: ScanElement>(
    inputs: GateLoopInputs<'_, T>,
    grad_y: ArrayView<'_, T>,
    chunk_size: usize,
) -> Result<GateLoopGrads<T>, ScanError> {
    let dims = validate_grad(&inputs, &grad_y)?;
    check_chunk_size(chunk_size)?;
    let mut grads = zero_grads(&inputs);
    if dims.d_k > 0 && dims.d_v > 0 {
        let shared = SharedGrads::new(&mut grads);
        let grad_y = grad_y.data();
        parallel::for_each_task(dims.tasks(), |task| {
            backward_task_fast(&inputs, grad_y, dims, chunk_size, &shared, task)
        });
    }
    Ok(into_grads(grads, &dims))
}

fn forward_unchecked<T: ScanElement>(
    inputs: &GateLoopInputs<'_, T>,
    dims: GateLoopDims,
    chunk_size: usize,
    out: &mut [T],
) {
    out.iter_mut().for_each(|y| *y = T::ZERO);
    if dims.d_k == 0 || dims.d_v == 0 {
        return; // y is zero (or empty)
    }
    let out = SharedOutput::new(out.as_mut_ptr(), out.len());
    parallel::for_each_task(dims.tasks(), |task| {
        forward_task_fast(inputs, dims, chunk_size, &out, task)
    });
}

/// Advances `state` over every step of `block`.
#[inline(always)]
fn advance_block<T: ScanElement>(state: &mut [T], block: &Block<'_, T>, steps: usize) {
    let (dk, dv) = (block.d_k, block.d_v);
    for t in 0..steps {
        advance(
            state,
            &block.k[t * dk..(t + 1) * dk],
            &block.v[t * dv..(t + 1) * dv],
            &block.a[t * dk..(t + 1) * dk],
        );
    }
}

#[inline(always)]
fn forward_task<T: ScanElement>(
    inputs: &GateLoopInputs<'_, T>,
    dims: GateLoopDims,
    chunk_size: usize,
    out: &SharedOutput<T>,
    task: usize,
) {
    let rows = TaskRows::gather(inputs, &dims, task);
    let whole = rows.block(&dims);
    let mut y = vec![T::ZERO; dims.length * dims.d_v];
    let mut state = vec![T::ZERO; dims.d_k * dims.d_v];
    for start in (0..dims.length).step_by(chunk_size) {
        let end = (start + chunk_size).min(dims.length);
        let chunk = whole.steps(start, end);
        let entering = (start > 0).then_some(&state[..]);
        block_forward(chunk, entering, &mut y[start * dims.d_v..end * dims.d_v]);
        if end < dims.length {
            advance_block(&mut state, &chunk, end - start);
        }
    }
    // SAFETY: the rows of this task are written by this task alone.
    unsafe { scatter(&y, out, &dims, task, dims.d_v) };
}

#[inline(always)]
fn backward_task<T: ScanElement>(
    inputs: &GateLoopInputs<'_, T>,
    grad_y: &[T],
    dims: GateLoopDims,
    chunk_size: usize,
    shared: &SharedGrads<T>,
    task: usize,
) {
    let GateLoopDims {
        length, d_k, d_v, ..
    } = dims;
    let size = d_k * d_v;
    let rows = TaskRows::gather(inputs, &dims, task);
    let whole = rows.block(&dims);
    let gy = gather(grad_y, &dims, task, d_v);
    let chunks = length.div_ceil(chunk_size);
    // states[c] is the state entering chunk c.
    let mut states = vec![T::ZERO; chunks * size];
    for c in 1..chunks {
        let (done, next) = states.split_at_mut(c * size);
        let state = &mut next[..size];
        state.copy_from_slice(&done[(c - 1) * size..]);
        let start = (c - 1) * chunk_size;
        advance_block(state, &whole.steps(start, start + chunk_size), chunk_size);
    }
    let mut grads = [&rows.q, &rows.k, &rows.v, &rows.a].map(|x| vec![T::ZERO; x.len()]);
    // dL/dS at the end of the current chunk, and at its start.
    let mut grad_end = vec![T::ZERO; size];
    let mut grad_start = vec![T::ZERO; size];
    for c in (0..chunks).rev() {
        let (start, end) = (c * chunk_size, ((c + 1) * chunk_size).min(length));
        let [gq, gk, gv, ga] = &mut grads;
        let (key, value) = (start * d_k..end * d_k, start * d_v..end * d_v);
        let block_grads = BlockGrads {
            q: &mut gq[key.clone()],
            k: &mut gk[key.clone()],
            v: &mut gv[value.clone()],
            a: &mut ga[key],
        };
        let entering = (c > 0).then(|| StateIn {
            state: &states[c * size..(c + 1) * size],
            grad: &mut grad_start[..],
        });
        let leaving = (c + 1 < chunks).then_some(&grad_end[..]);
        block_backward(
            whole.steps(start, end),
            &gy[value],
            entering,
            leaving,
            block_grads,
        );
        std::mem::swap(&mut grad_end, &mut grad_start);
    }
    // SAFETY: the rows of this task are written by this task alone.
    unsafe { shared.write(&grads, &dims, task) };
}

widest!(
    fn forward_task_fast<T: ScanElement>(
    inputs: &GateLoopInputs<'_, T>,
    dims: GateLoopDims,
    chunk_size: usize,
    out: &SharedOutput<T>,
    task: usize,
    ) -> () => forward_task
);

widest!(
    fn backward_task_fast<T: ScanElement>(
    inputs: &GateLoopInputs<'_, T>,
    grad_y: &[T],
    dims: GateLoopDims,
    chunk_size: usize,
    shared: &SharedGrads<T>,
    task: usize,
    ) -> () => backward_task
);
