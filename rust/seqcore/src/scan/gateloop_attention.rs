//! GateLoop in surrogate-attention form, O(L^2) per (batch, head):
//!
//! ```text
//! y_t = sum_{s <= t} (sum_i q_t[i] k_s[i] P(s,t)[i]) v_s,   P(s,t) = prod_{r=s+1..t} a_r
//! ```
//!
//! the same `y` as the recurrence ([`super::gateloop`]). The whole sequence
//! is one block of [`super::gateloop_block`]: products of gates are running
//! products, never logarithms or quotients, so gates that are exactly 0 and
//! long float32 sequences are exact and finite. One task per (batch, head);
//! each output element is computed by the same operations in the same order
//! whatever the thread count.

use super::element::ScanElement;
use super::error::ScanError;
use super::gateloop::{validate, GateLoopDims, GateLoopInputs};
use super::gateloop_backward::GateLoopGrads;
use super::gateloop_block::{block_backward, block_forward, BlockGrads};
use super::gateloop_rows::{
    gather, into_grads, scatter, validate_grad, zero_grads, SharedGrads, TaskRows,
};
use crate::array::{Array, ArrayView};
use crate::parallel::{self, SharedOutput};
use crate::simd::widest;

/// `y` of GateLoop (shape of `v`) in surrogate-attention form.
pub fn gateloop_attention<T: ScanElement>(
    inputs: GateLoopInputs<'_, T>,
) -> Result<Array<T>, ScanError> {
    let dims = validate(&inputs)?;
    let mut out = vec![T::ZERO; inputs.v.data().len()];
    forward_unchecked(&inputs, dims, &mut out);
    Ok(Array {
        data: out,
        shape: dims.value_shape(),
    })
}

/// Like [`gateloop_attention`], writing `y` into `out` (the shape of `v`).
pub fn gateloop_attention_into<T: ScanElement>(
    inputs: GateLoopInputs<'_, T>,
    out: &mut [T],
) -> Result<(), ScanError> {
    let dims = validate(&inputs)?;
    let shape = dims.value_shape();
    ArrayView::new(&*out, &shape).map_err(|source| ScanError::Shape {
        name: "out",
        source,
    })?;
    forward_unchecked(&inputs, dims, out);
    Ok(())
}

/// Gradients of [`gateloop_attention`] (PyTorch's conjugate convention);
/// `grad_y` has the shape of `v`.
pub fn gateloop_attention_backward<T: ScanElement>(
    inputs: GateLoopInputs<'_, T>,
    grad_y: ArrayView<'_, T>,
) -> Result<GateLoopGrads<T>, ScanError> {
    let dims = validate_grad(&inputs, &grad_y)?;
    let mut grads = zero_grads(&inputs);
    if dims.d_k > 0 && dims.d_v > 0 {
        let shared = SharedGrads::new(&mut grads);
        let grad_y = grad_y.data();
        parallel::for_each_task(dims.tasks(), |task| {
            backward_task_fast(&inputs, grad_y, dims, &shared, task)
        });
    }
    Ok(into_grads(grads, &dims))
}

fn forward_unchecked<T: ScanElement>(
    inputs: &GateLoopInputs<'_, T>,
    dims: GateLoopDims,
    out: &mut [T],
) {
    out.iter_mut().for_each(|y| *y = T::ZERO);
    if dims.d_k == 0 || dims.d_v == 0 {
        return; // y is zero (or empty)
    }
    let out = SharedOutput::new(out.as_mut_ptr(), out.len());
    parallel::for_each_task(dims.tasks(), |task| {
        forward_task_fast(inputs, dims, &out, task)
    });
}

#[inline(always)]
fn forward_task<T: ScanElement>(
    inputs: &GateLoopInputs<'_, T>,
    dims: GateLoopDims,
    out: &SharedOutput<T>,
    task: usize,
) {
    let rows = TaskRows::gather(inputs, &dims, task);
    let mut y = vec![T::ZERO; dims.length * dims.d_v];
    block_forward(rows.block(&dims), None, &mut y);
    // SAFETY: the rows of this task are written by this task alone.
    unsafe { scatter(&y, out, &dims, task, dims.d_v) };
}

#[inline(always)]
fn backward_task<T: ScanElement>(
    inputs: &GateLoopInputs<'_, T>,
    grad_y: &[T],
    dims: GateLoopDims,
    shared: &SharedGrads<T>,
    task: usize,
) {
    let rows = TaskRows::gather(inputs, &dims, task);
    let gy = gather(grad_y, &dims, task, dims.d_v);
    let mut grads = [&rows.q, &rows.k, &rows.v, &rows.a].map(|x| vec![T::ZERO; x.len()]);
    {
        let [gq, gk, gv, ga] = &mut grads;
        let block_grads = BlockGrads {
            q: gq,
            k: gk,
            v: gv,
            a: ga,
        };
        block_backward(rows.block(&dims), &gy, None, None, block_grads);
    }
    // SAFETY: the rows of this task are written by this task alone.
    unsafe { shared.write(&grads, &dims, task) };
}

widest!(
    fn forward_task_fast<T: ScanElement>(
    inputs: &GateLoopInputs<'_, T>,
    dims: GateLoopDims,
    out: &SharedOutput<T>,
    task: usize,
    ) -> () => forward_task
);

widest!(
    fn backward_task_fast<T: ScanElement>(
    inputs: &GateLoopInputs<'_, T>,
    grad_y: &[T],
    dims: GateLoopDims,
    shared: &SharedGrads<T>,
    task: usize,
    ) -> () => backward_task
);
