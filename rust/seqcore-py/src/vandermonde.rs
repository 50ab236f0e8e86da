//! Bindings of `seqcore::scan::ssm_kernel` (the Vandermonde kernel of a
//! diagonal SSM) and its backward pass.

use numpy::PyArrayDyn;
use pyo3::prelude::*;
use seqcore::scan::{self, KernelElement, SsmKernelGradsMut};

use crate::arrays::{borrow, common_dtype, new_output, output_slice, view, with_dtype};
use crate::enter::enter;
use crate::errors::ToPyErr;

/// K[h, l] = sum_n w[h, n] * z[h, n]**l for l < length; w and z are
/// (channels, modes), K is (channels, length).
#[pyfunction]
fn ssm_kernel<'py>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    z: &Bound<'py, PyAny>,
    length: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let dtype = common_dtype(&[("w", w), ("z", z)])?;
    with_dtype!(dtype, T => forward::<T>(py, w, z, length))
}

fn forward<'py, T: KernelElement + numpy::Element>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    z: &Bound<'py, PyAny>,
    length: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let (w, z) = (borrow::<T>("w", w)?, borrow::<T>("z", z)?);
    let (w, z) = (view("w", &w)?, view("z", &z)?);
    // The output's shape needs the channels; a bad rank is reported by the
    // core, so any placeholder will do here.
    let channels = w.shape().first().copied().unwrap_or(0);
    let k = output_of_any_size::<T>(py, channels, length)?;
    let mut k_out = output_slice(&k)?;
    let out = k_out.as_slice_mut()?;
    enter(py, || scan::ssm_kernel_into(w, z, length, out))?.map_err(ToPyErr::to_py_err)?;
    drop(k_out);
    Ok(k.into_any())
}

/// A `(channels, length)` output. Unlike the other outputs, its size comes
/// from the caller's `length`, so it may be too large to allocate: numpy's
/// `empty` then raises MemoryError or ValueError, where `new_output` would
/// panic.
fn output_of_any_size<'py, T: numpy::Element>(
    py: Python<'py>,
    channels: usize,
    length: usize,
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    let empty = py.import("numpy")?.getattr("empty")?;
    let array = empty.call1(((channels, length), numpy::dtype::<T>(py)))?;
    Ok(array.cast_into::<PyArrayDyn<T>>()?)
}

/// Gradients of ssm_kernel: returns (grad_w, grad_z), with PyTorch's
/// conjugate convention for complex inputs.
#[pyfunction]
fn ssm_kernel_backward<'py>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    z: &Bound<'py, PyAny>,
    grad_k: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let dtype = common_dtype(&[("w", w), ("z", z), ("grad_k", grad_k)])?;
    with_dtype!(dtype, T => backward::<T>(py, w, z, grad_k))
}

fn backward<'py, T: KernelElement + numpy::Element>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    z: &Bound<'py, PyAny>,
    grad_k: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let (w, z) = (borrow::<T>("w", w)?, borrow::<T>("z", z)?);
    let grad_k = borrow::<T>("grad_k", grad_k)?;
    let (w, z, grad_k) = (view("w", &w)?, view("z", &z)?, view("grad_k", &grad_k)?);
    let (grad_w, grad_z) = (
        new_output::<T>(py, w.shape()),
        new_output::<T>(py, w.shape()),
    );
    let (mut gw, mut gz) = (output_slice(&grad_w)?, output_slice(&grad_z)?);
    let out = SsmKernelGradsMut {
        grad_w: gw.as_slice_mut()?,
        grad_z: gz.as_slice_mut()?,
    };
    enter(py, || scan::ssm_kernel_backward_into(w, z, grad_k, out))?.map_err(ToPyErr::to_py_err)?;
    drop((gw, gz));
    Ok((grad_w.into_any(), grad_z.into_any()))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(ssm_kernel, m)?)?;
    m.add_function(wrap_pyfunction!(ssm_kernel_backward, m)?)?;
    Ok(())
}
