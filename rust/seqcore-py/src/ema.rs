//! Bindings of the fused damped EMA (`seqcore::scan::damped_ema*`).

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use seqcore::scan::{self, EmaInputs, Real};

use crate::arrays::{borrow, common_dtype, owned_to_numpy, view, Dtype};
use crate::enter::enter;
use crate::errors::ToPyErr;

type Four<'py> = (
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
);

fn real_dtype(named: &[(&str, &Bound<'_, PyAny>)]) -> PyResult<Dtype> {
    match common_dtype(named)? {
        dtype @ (Dtype::F32 | Dtype::F64) => Ok(dtype),
        other => Err(PyTypeError::new_err(format!(
            "damped_ema takes float32 or float64 arrays, got {}",
            other.name()
        ))),
    }
}

/// y[b, t, d] = sum_j readout[d, j] h[b, t, d, j], h = decay * h + drive * x.
#[pyfunction]
fn damped_ema<'py>(
    py: Python<'py>,
    x: Bound<'py, PyAny>,
    decay: Bound<'py, PyAny>,
    drive: Bound<'py, PyAny>,
    readout: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let args: Four<'py> = (x, decay, drive, readout);
    match real_dtype(&[
        ("x", &args.0),
        ("decay", &args.1),
        ("drive", &args.2),
        ("readout", &args.3),
    ])? {
        Dtype::F64 => forward::<f64>(py, &args),
        _ => forward::<f32>(py, &args),
    }
}

fn forward<'py, T: Real + numpy::Element>(
    py: Python<'py>,
    args: &Four<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    let (x, q, c, g) = (
        borrow::<T>("x", &args.0)?,
        borrow::<T>("decay", &args.1)?,
        borrow::<T>("drive", &args.2)?,
        borrow::<T>("readout", &args.3)?,
    );
    let inputs = EmaInputs {
        x: view("x", &x)?,
        decay: view("decay", &q)?,
        drive: view("drive", &c)?,
        readout: view("readout", &g)?,
    };
    let y = enter(py, || scan::damped_ema(inputs))?.map_err(ToPyErr::to_py_err)?;
    owned_to_numpy(py, y)
}

/// Gradients of damped_ema: (grad_x, grad_decay, grad_drive, grad_readout).
#[pyfunction]
fn damped_ema_backward<'py>(
    py: Python<'py>,
    x: Bound<'py, PyAny>,
    decay: Bound<'py, PyAny>,
    drive: Bound<'py, PyAny>,
    readout: Bound<'py, PyAny>,
    grad_y: Bound<'py, PyAny>,
) -> PyResult<Four<'py>> {
    let args: Four<'py> = (x, decay, drive, readout);
    let named = [
        ("x", &args.0),
        ("decay", &args.1),
        ("drive", &args.2),
        ("readout", &args.3),
        ("grad_y", &grad_y),
    ];
    match real_dtype(&named)? {
        Dtype::F64 => backward::<f64>(py, &args, &grad_y),
        _ => backward::<f32>(py, &args, &grad_y),
    }
}

fn backward<'py, T: Real + numpy::Element>(
    py: Python<'py>,
    args: &Four<'py>,
    grad_y: &Bound<'py, PyAny>,
) -> PyResult<Four<'py>> {
    let (x, q, c, g) = (
        borrow::<T>("x", &args.0)?,
        borrow::<T>("decay", &args.1)?,
        borrow::<T>("drive", &args.2)?,
        borrow::<T>("readout", &args.3)?,
    );
    let gy = borrow::<T>("grad_y", grad_y)?;
    let inputs = EmaInputs {
        x: view("x", &x)?,
        decay: view("decay", &q)?,
        drive: view("drive", &c)?,
        readout: view("readout", &g)?,
    };
    let gy = view("grad_y", &gy)?;
    let grads = enter(py, || scan::damped_ema_backward(inputs, gy))?.map_err(ToPyErr::to_py_err)?;
    Ok((
        owned_to_numpy(py, grads.x)?,
        owned_to_numpy(py, grads.decay)?,
        owned_to_numpy(py, grads.drive)?,
        owned_to_numpy(py, grads.readout)?,
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(damped_ema, m)?)?;
    m.add_function(wrap_pyfunction!(damped_ema_backward, m)?)?;
    Ok(())
}
