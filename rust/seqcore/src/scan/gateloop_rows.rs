//! A GateLoop task's rows: the attention and chunked forms run one task
//! per (batch, head) on contiguous copies of its rows (`length` rows of
//! `d_k` or `d_v` values), gathered from and scattered back to the
//! `(batch, length, heads, d)` layout; and the AVX2 dispatch of their tasks.

use super::element::ScanElement;
use super::error::ScanError;
use super::gateloop::{validate, GateLoopDims, GateLoopInputs};
use super::gateloop_backward::GateLoopGrads;
use super::gateloop_block::Block;
use crate::array::{Array, ArrayView};
use crate::parallel::SharedOutput;

/// Index of the row `(batch, t, head)` of task `task` (one per batch x head).
#[inline(always)]
fn row_index(dims: &GateLoopDims, task: usize, t: usize) -> usize {
    let (b, h) = (task / dims.heads, task % dims.heads);
    (b * dims.length + t) * dims.heads + h
}

/// The rows of one task (`width` values each), copied contiguous.
pub(crate) fn gather<T: Copy>(x: &[T], dims: &GateLoopDims, task: usize, width: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(dims.length * width);
    for t in 0..dims.length {
        let start = row_index(dims, task, t) * width;
        out.extend_from_slice(&x[start..start + width]);
    }
    out
}

/// Copies a task's contiguous rows back to their places in `out`.
///
/// # Safety
/// No other task may write the rows of `task` at the same time.
pub(crate) unsafe fn scatter<T: Copy>(
    x: &[T],
    out: &SharedOutput<T>,
    dims: &GateLoopDims,
    task: usize,
    width: usize,
) {
    for t in 0..dims.length {
        let start = row_index(dims, task, t) * width;
        out.slice(start, width)
            .copy_from_slice(&x[t * width..(t + 1) * width]);
    }
}

/// Checks that `grad_y` has the shape of `v`.
pub(crate) fn validate_grad<T>(
    inputs: &GateLoopInputs<'_, T>,
    grad_y: &ArrayView<'_, T>,
) -> Result<GateLoopDims, ScanError> {
    let dims = validate(inputs)?;
    if grad_y.shape() != inputs.v.shape() {
        return Err(ScanError::ShapeMismatch {
            first: "v",
            second: "grad_y",
            first_shape: inputs.v.shape().to_vec(),
            second_shape: grad_y.shape().to_vec(),
        });
    }
    Ok(dims)
}

/// One task's inputs, each contiguous in time.
pub(crate) struct TaskRows<T> {
    pub q: Vec<T>,
    pub k: Vec<T>,
    pub v: Vec<T>,
    pub a: Vec<T>,
}

impl<T: Copy> TaskRows<T> {
    pub(crate) fn gather(inputs: &GateLoopInputs<'_, T>, dims: &GateLoopDims, task: usize) -> Self {
        let (dk, dv) = (dims.d_k, dims.d_v);
        Self {
            q: gather(inputs.q.data(), dims, task, dk),
            k: gather(inputs.k.data(), dims, task, dk),
            v: gather(inputs.v.data(), dims, task, dv),
            a: gather(inputs.a.data(), dims, task, dk),
        }
    }

    pub(crate) fn block(&self, dims: &GateLoopDims) -> Block<'_, T> {
        Block {
            q: &self.q,
            k: &self.k,
            v: &self.v,
            a: &self.a,
            d_k: dims.d_k,
            d_v: dims.d_v,
        }
    }
}

/// Gradient buffers of a whole call, written task by task.
pub(crate) struct SharedGrads<T> {
    outputs: [SharedOutput<T>; 4],
}

impl<T: ScanElement> SharedGrads<T> {
    pub(crate) fn new(grads: &mut [Vec<T>; 4]) -> Self {
        Self {
            outputs: grads
                .each_mut()
                .map(|g| SharedOutput::new(g.as_mut_ptr(), g.len())),
        }
    }

    /// Writes one task's gradients (`q, k, v, a`, contiguous in time).
    ///
    /// # Safety
    /// No other task may write the rows of `task` at the same time.
    pub(crate) unsafe fn write(&self, rows: &[Vec<T>; 4], dims: &GateLoopDims, task: usize) {
        let widths = [dims.d_k, dims.d_k, dims.d_v, dims.d_k];
        for ((rows, out), width) in rows.iter().zip(&self.outputs).zip(widths) {
            scatter(rows, out, dims, task, width);
        }
    }
}

/// Zeroed gradient buffers for `inputs` and the [`GateLoopGrads`] they become.
pub(crate) fn zero_grads<T: ScanElement>(inputs: &GateLoopInputs<'_, T>) -> [Vec<T>; 4] {
    let (nk, nv) = (inputs.q.data().len(), inputs.v.data().len());
    [
        vec![T::ZERO; nk],
        vec![T::ZERO; nk],
        vec![T::ZERO; nv],
        vec![T::ZERO; nk],
    ]
}

pub(crate) fn into_grads<T: ScanElement>(
    grads: [Vec<T>; 4],
    dims: &GateLoopDims,
) -> GateLoopGrads<T> {
    let [q, k, v, a] = grads;
    let key_shape = vec![dims.batch, dims.length, dims.heads, dims.d_k];
    GateLoopGrads {
        q: Array {
            data: q,
            shape: key_shape.clone(),
        },
        k: Array {
            data: k,
            shape: key_shape.clone(),
        },
        v: Array {
            data: v,
            shape: dims.value_shape(),
        },
        a: Array {
            data: a,
            shape: key_shape,
        },
    }
}
