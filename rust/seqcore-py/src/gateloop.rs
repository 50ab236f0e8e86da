//! Bindings of GateLoop's three forms (`seqcore::scan::gateloop*`): the
//! recurrence, surrogate attention and chunks.

use numpy::PyReadonlyArrayDyn;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use seqcore::scan::{self, GateLoopInputs, ScanElement};

use crate::arrays::{
    borrow, common_dtype, new_output, output_slice, owned_to_numpy, view, with_dtype,
};
use crate::enter::enter;
use crate::errors::ToPyErr;

/// Read-only borrows of q, k, v and a, kept alive while views exist.
struct Borrowed<'py, T: numpy::Element>([PyReadonlyArrayDyn<'py, T>; 4]);

impl<'py, T: numpy::Element> Borrowed<'py, T> {
    fn new(args: [&Bound<'py, PyAny>; 4]) -> PyResult<Self> {
        let [q, k, v, a] = args;
        Ok(Self([
            borrow("q", q)?,
            borrow("k", k)?,
            borrow("v", v)?,
            borrow("a", a)?,
        ]))
    }

    fn inputs(&self) -> PyResult<GateLoopInputs<'_, T>> {
        let [q, k, v, a] = &self.0;
        Ok(GateLoopInputs {
            q: view("q", q)?,
            k: view("k", k)?,
            v: view("v", v)?,
            a: view("a", a)?,
        })
    }
}

/// Which form computes y (all give the same result, to rounding).
#[derive(Clone, Copy)]
enum Form {
    Recurrent,
    Attention,
    Chunked(usize),
}

impl Form {
    fn parse(form: &str, chunk_size: usize) -> PyResult<Self> {
        match form {
            "recurrent" => Ok(Form::Recurrent),
            "attention" => Ok(Form::Attention),
            "chunked" => Ok(Form::Chunked(chunk_size)),
            other => Err(PyValueError::new_err(format!(
                "form must be 'recurrent', 'attention' or 'chunked', got {other:?}"
            ))),
        }
    }
}

/// GateLoop: S_t = diag(a_t) S_{t-1} + k_t^T v_t, y_t = q_t S_t; returns y,
/// computed by the recurrence, the surrogate-attention form or chunks of
/// chunk_size steps.
#[pyfunction]
#[pyo3(signature = (q, k, v, a, form="recurrent", chunk_size=64))]
fn gateloop<'py>(
    py: Python<'py>,
    q: &Bound<'py, PyAny>,
    k: &Bound<'py, PyAny>,
    v: &Bound<'py, PyAny>,
    a: &Bound<'py, PyAny>,
    form: &str,
    chunk_size: usize,
) -> PyResult<Bound<'py, PyAny>> {
    dispatch_forward(py, [q, k, v, a], Form::parse(form, chunk_size)?)
}

fn dispatch_forward<'py>(
    py: Python<'py>,
    args: [&Bound<'py, PyAny>; 4],
    form: Form,
) -> PyResult<Bound<'py, PyAny>> {
    let [q, k, v, a] = args;
    let dtype = common_dtype(&[("q", q), ("k", k), ("v", v), ("a", a)])?;
    with_dtype!(dtype, T => forward::<T>(py, args, form))
}

fn forward<'py, T: ScanElement + numpy::Element>(
    py: Python<'py>,
    args: [&Bound<'py, PyAny>; 4],
    form: Form,
) -> PyResult<Bound<'py, PyAny>> {
    let borrowed = Borrowed::<T>::new(args)?;
    let inputs = borrowed.inputs()?;
    // The output has the shape of v; the core checks it against the rest.
    let y = new_output::<T>(py, inputs.v.shape());
    {
        let mut y_rw = output_slice(&y)?;
        let out = y_rw.as_slice_mut()?;
        let run = || match form {
            Form::Recurrent => scan::gateloop_into(inputs, out),
            Form::Attention => scan::gateloop_attention_into(inputs, out),
            Form::Chunked(chunk_size) => scan::gateloop_chunked_into(inputs, chunk_size, out),
        };
        enter(py, run)?.map_err(ToPyErr::to_py_err)?;
    }
    Ok(y.into_any())
}

type Grads<'py> = (
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
);

/// Gradients of gateloop (same form): returns (grad_q, grad_k, grad_v, grad_a).
#[pyfunction]
#[pyo3(signature = (q, k, v, a, grad_y, form="recurrent", chunk_size=64))]
#[allow(clippy::too_many_arguments)]
fn gateloop_backward<'py>(
    py: Python<'py>,
    q: &Bound<'py, PyAny>,
    k: &Bound<'py, PyAny>,
    v: &Bound<'py, PyAny>,
    a: &Bound<'py, PyAny>,
    grad_y: &Bound<'py, PyAny>,
    form: &str,
    chunk_size: usize,
) -> PyResult<Grads<'py>> {
    dispatch_backward(py, [q, k, v, a], grad_y, Form::parse(form, chunk_size)?)
}

fn dispatch_backward<'py>(
    py: Python<'py>,
    args: [&Bound<'py, PyAny>; 4],
    grad_y: &Bound<'py, PyAny>,
    form: Form,
) -> PyResult<Grads<'py>> {
    let [q, k, v, a] = args;
    let named = [("q", q), ("k", k), ("v", v), ("a", a), ("grad_y", grad_y)];
    let dtype = common_dtype(&named)?;
    with_dtype!(dtype, T => backward::<T>(py, args, grad_y, form))
}

fn backward<'py, T: ScanElement + numpy::Element>(
    py: Python<'py>,
    args: [&Bound<'py, PyAny>; 4],
    grad_y: &Bound<'py, PyAny>,
    form: Form,
) -> PyResult<Grads<'py>> {
    let borrowed = Borrowed::<T>::new(args)?;
    let inputs = borrowed.inputs()?;
    let grad_y = borrow::<T>("grad_y", grad_y)?;
    let grad_y = view("grad_y", &grad_y)?;
    let run = || match form {
        Form::Recurrent => scan::gateloop_backward(inputs, grad_y),
        Form::Attention => scan::gateloop_attention_backward(inputs, grad_y),
        Form::Chunked(chunk_size) => scan::gateloop_chunked_backward(inputs, grad_y, chunk_size),
    };
    let grads = enter(py, run)?.map_err(ToPyErr::to_py_err)?;
    let np = |array| owned_to_numpy(py, array);
    Ok((np(grads.q)?, np(grads.k)?, np(grads.v)?, np(grads.a)?))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(gateloop, m)?)?;
    m.add_function(wrap_pyfunction!(gateloop_backward, m)?)?;
    Ok(())
}
