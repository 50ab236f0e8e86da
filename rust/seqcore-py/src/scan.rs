//! Bindings of `seqcore::scan`.

use numpy::PyReadonlyArrayDyn;
use pyo3::prelude::*;
use seqcore::scan::{self, LinearScanGradsMut, ScanElement};

use crate::arrays::{
    borrow, caller_output, common_dtype, new_output, output_slice, view, with_dtype,
};
use crate::enter::enter;
use crate::errors::ToPyErr;

/// Borrows an optional argument of the same dtype as the others.
fn borrow_optional<'py, T: numpy::Element>(
    name: &str,
    obj: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<PyReadonlyArrayDyn<'py, T>>> {
    obj.map(|obj| borrow::<T>(name, obj)).transpose()
}

/// h_t = a_t * h_{t-1} + b_t over (batch, time, dim) arrays; writes into
/// `out` (and returns it) when given.
#[pyfunction]
#[pyo3(signature = (a, b, h0=None, reverse=false, out=None))]
fn linear_scan<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    h0: Option<&Bound<'py, PyAny>>,
    reverse: bool,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut named = vec![("a", a), ("b", b)];
    named.extend(h0.map(|h0| ("h0", h0)));
    named.extend(out.map(|out| ("out", out)));
    let dtype = common_dtype(&named)?;
    with_dtype!(dtype, T => forward::<T>(py, a, b, h0, reverse, out))
}

fn forward<'py, T: ScanElement + numpy::Element>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    h0: Option<&Bound<'py, PyAny>>,
    reverse: bool,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (a, b) = (borrow::<T>("a", a)?, borrow::<T>("b", b)?);
    let h0 = borrow_optional::<T>("h0", h0)?;
    let (a, b) = (view("a", &a)?, view("b", &b)?);
    let h0 = h0.as_ref().map(|h0| view("h0", h0)).transpose()?;
    let h = match out {
        Some(out) => caller_output::<T>("out", out, a.shape())?,
        None => new_output::<T>(py, a.shape()),
    };
    let mut h_out = output_slice(&h)?;
    let out = h_out.as_slice_mut()?;
    enter(py, || scan::linear_scan_into(a, b, h0, reverse, out))?.map_err(ToPyErr::to_py_err)?;
    Ok(h.into_any())
}

/// Gradients of linear_scan: returns (grad_a, grad_b, grad_h0).
#[pyfunction]
#[pyo3(signature = (a, h, grad_h, h0=None, reverse=false))]
fn linear_scan_backward<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    h: &Bound<'py, PyAny>,
    grad_h: &Bound<'py, PyAny>,
    h0: Option<&Bound<'py, PyAny>>,
    reverse: bool,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let mut named = vec![("a", a), ("h", h), ("grad_h", grad_h)];
    named.extend(h0.map(|h0| ("h0", h0)));
    let dtype = common_dtype(&named)?;
    with_dtype!(dtype, T => backward::<T>(py, a, h, grad_h, h0, reverse))
}

type Triple<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>);

fn backward<'py, T: ScanElement + numpy::Element>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    h: &Bound<'py, PyAny>,
    grad_h: &Bound<'py, PyAny>,
    h0: Option<&Bound<'py, PyAny>>,
    reverse: bool,
) -> PyResult<Triple<'py>> {
    let (a, h) = (borrow::<T>("a", a)?, borrow::<T>("h", h)?);
    let grad_h = borrow::<T>("grad_h", grad_h)?;
    let h0 = borrow_optional::<T>("h0", h0)?;
    let (a, h, grad_h) = (view("a", &a)?, view("h", &h)?, view("grad_h", &grad_h)?);
    let h0 = h0.as_ref().map(|h0| view("h0", h0)).transpose()?;
    let shape = a.shape();
    let state_shape = match *shape {
        [batch, _, dim] => vec![batch, dim],
        _ => vec![0],
    };
    let (grad_a, grad_b) = (new_output::<T>(py, shape), new_output::<T>(py, shape));
    let grad_h0 = new_output::<T>(py, &state_shape);
    let (mut ga, mut gb) = (output_slice(&grad_a)?, output_slice(&grad_b)?);
    let mut gh0 = output_slice(&grad_h0)?;
    let out = LinearScanGradsMut {
        grad_a: ga.as_slice_mut()?,
        grad_b: gb.as_slice_mut()?,
        grad_h0: gh0.as_slice_mut()?,
    };
    enter(py, || {
        scan::linear_scan_backward_into(a, h, grad_h, h0, reverse, out)
    })?
    .map_err(ToPyErr::to_py_err)?;
    drop((ga, gb, gh0));
    Ok((grad_a.into_any(), grad_b.into_any(), grad_h0.into_any()))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(linear_scan, m)?)?;
    m.add_function(wrap_pyfunction!(linear_scan_backward, m)?)?;
    Ok(())
}
