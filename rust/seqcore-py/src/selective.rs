//! Bindings of the selective scan (`seqcore::scan::selective_*`).

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use seqcore::scan::{self, Real, SelectiveInputs};
use seqcore::Array;

use crate::arrays::{borrow, common_dtype, new_output, output_slice, view, Dtype};
use crate::enter::enter;
use crate::errors::ToPyErr;

/// The Python arguments, in the order of mamba-ssm's `selective_scan_fn`.
struct Args<'py> {
    u: Bound<'py, PyAny>,
    delta: Bound<'py, PyAny>,
    a: Bound<'py, PyAny>,
    b: Bound<'py, PyAny>,
    c: Bound<'py, PyAny>,
    d: Option<Bound<'py, PyAny>>,
    z: Option<Bound<'py, PyAny>>,
    delta_bias: Option<Bound<'py, PyAny>>,
}

impl<'py> Args<'py> {
    fn named(&self) -> Vec<(&'static str, &Bound<'py, PyAny>)> {
        let mut named = vec![
            ("u", &self.u),
            ("delta", &self.delta),
            ("A", &self.a),
            ("B", &self.b),
            ("C", &self.c),
        ];
        named.extend(self.d.as_ref().map(|x| ("D", x)));
        named.extend(self.z.as_ref().map(|x| ("z", x)));
        named.extend(self.delta_bias.as_ref().map(|x| ("delta_bias", x)));
        named
    }

    /// The common dtype, which must be real: complex A goes through the
    /// Python layer's complex path.
    fn dtype(&self, extra: Option<(&'static str, &Bound<'py, PyAny>)>) -> PyResult<Dtype> {
        let mut named = self.named();
        named.extend(extra);
        match common_dtype(&named)? {
            dtype @ (Dtype::F32 | Dtype::F64) => Ok(dtype),
            other => Err(PyTypeError::new_err(format!(
                "selective_scan kernels take float32 or float64 arrays, got {}",
                other.name()
            ))),
        }
    }
}

/// Read-only borrows of every argument, kept alive while views exist.
struct Borrowed<'py, T: numpy::Element> {
    required: [PyReadonlyArrayDyn<'py, T>; 5],
    optional: [Option<PyReadonlyArrayDyn<'py, T>>; 3],
}

impl<'py, T: numpy::Element + Real> Borrowed<'py, T> {
    fn new(args: &Args<'py>) -> PyResult<Self> {
        let opt = |name, x: &Option<Bound<'py, PyAny>>| {
            x.as_ref().map(|x| borrow::<T>(name, x)).transpose()
        };
        Ok(Self {
            required: [
                borrow("u", &args.u)?,
                borrow("delta", &args.delta)?,
                borrow("A", &args.a)?,
                borrow("B", &args.b)?,
                borrow("C", &args.c)?,
            ],
            optional: [
                opt("D", &args.d)?,
                opt("z", &args.z)?,
                opt("delta_bias", &args.delta_bias)?,
            ],
        })
    }

    fn inputs(&self, delta_softplus: bool) -> PyResult<SelectiveInputs<'_, T>> {
        let [u, delta, a, b, c] = &self.required;
        let [d, z, bias] = &self.optional;
        Ok(SelectiveInputs {
            u: view("u", u)?,
            delta: view("delta", delta)?,
            a: view("A", a)?,
            b: view("B", b)?,
            c: view("C", c)?,
            d: view_optional("D", d)?,
            z: view_optional("z", z)?,
            delta_bias: view_optional("delta_bias", bias)?,
            delta_softplus,
        })
    }
}

fn view_optional<'a, T: numpy::Element>(
    name: &str,
    x: &'a Option<PyReadonlyArrayDyn<'_, T>>,
) -> PyResult<Option<seqcore::ArrayView<'a, T>>> {
    x.as_ref().map(|x| view(name, x)).transpose()
}

/// Selective scan (mamba-ssm semantics, real A): returns (out, last_state).
#[pyfunction]
#[pyo3(signature = (u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=false))]
#[allow(non_snake_case, clippy::too_many_arguments)]
fn selective_scan<'py>(
    py: Python<'py>,
    u: Bound<'py, PyAny>,
    delta: Bound<'py, PyAny>,
    A: Bound<'py, PyAny>,
    B: Bound<'py, PyAny>,
    C: Bound<'py, PyAny>,
    D: Option<Bound<'py, PyAny>>,
    z: Option<Bound<'py, PyAny>>,
    delta_bias: Option<Bound<'py, PyAny>>,
    delta_softplus: bool,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let args = Args {
        u,
        delta,
        a: A,
        b: B,
        c: C,
        d: D,
        z,
        delta_bias,
    };
    match args.dtype(None)? {
        Dtype::F64 => forward::<f64>(py, &args, delta_softplus),
        _ => forward::<f32>(py, &args, delta_softplus),
    }
}

fn forward<'py, T: numpy::Element + Real>(
    py: Python<'py>,
    args: &Args<'py>,
    delta_softplus: bool,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let borrowed = Borrowed::<T>::new(args)?;
    let inputs = borrowed.inputs(delta_softplus)?;
    // Shapes for the outputs; the core validates everything else.
    let (batch_dim_len, states) = match (inputs.u.shape(), inputs.a.shape()) {
        ([b, d, l], [_, n]) => ([*b, *d, *l], *n),
        _ => ([0, 0, 0], 0),
    };
    let out = new_output::<T>(py, &batch_dim_len);
    let last = new_output::<T>(py, &[batch_dim_len[0], batch_dim_len[1], states]);
    {
        let (mut out_rw, mut last_rw) = (output_slice(&out)?, output_slice(&last)?);
        let (out_slice, last_slice) = (out_rw.as_slice_mut()?, last_rw.as_slice_mut()?);
        enter(py, || {
            scan::selective_scan_into(inputs, out_slice, last_slice)
        })?
        .map_err(ToPyErr::to_py_err)?;
    }
    Ok((out.into_any(), last.into_any()))
}

type Grads<'py> = (
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Option<Bound<'py, PyAny>>,
    Option<Bound<'py, PyAny>>,
    Option<Bound<'py, PyAny>>,
);

/// Gradients of selective_scan for (u, delta, A, B, C, D, z, delta_bias);
/// None where the input was None.
#[pyfunction]
#[pyo3(signature = (u, delta, A, B, C, D, z, delta_bias, delta_softplus, grad_out, grad_last_state=None))]
#[allow(non_snake_case, clippy::too_many_arguments)]
fn selective_scan_backward<'py>(
    py: Python<'py>,
    u: Bound<'py, PyAny>,
    delta: Bound<'py, PyAny>,
    A: Bound<'py, PyAny>,
    B: Bound<'py, PyAny>,
    C: Bound<'py, PyAny>,
    D: Option<Bound<'py, PyAny>>,
    z: Option<Bound<'py, PyAny>>,
    delta_bias: Option<Bound<'py, PyAny>>,
    delta_softplus: bool,
    grad_out: Bound<'py, PyAny>,
    grad_last_state: Option<Bound<'py, PyAny>>,
) -> PyResult<Grads<'py>> {
    let args = Args {
        u,
        delta,
        a: A,
        b: B,
        c: C,
        d: D,
        z,
        delta_bias,
    };
    if let Some(g) = &grad_last_state {
        args.dtype(Some(("grad_last_state", g)))?;
    }
    let grads = (&grad_out, grad_last_state.as_ref());
    match args.dtype(Some(("grad_out", &grad_out)))? {
        Dtype::F64 => backward::<f64>(py, &args, delta_softplus, grads),
        _ => backward::<f32>(py, &args, delta_softplus, grads),
    }
}

fn backward<'py, T: numpy::Element + Real>(
    py: Python<'py>,
    args: &Args<'py>,
    delta_softplus: bool,
    (grad_out, grad_last_state): (&Bound<'py, PyAny>, Option<&Bound<'py, PyAny>>),
) -> PyResult<Grads<'py>> {
    let borrowed = Borrowed::<T>::new(args)?;
    let inputs = borrowed.inputs(delta_softplus)?;
    let grad_out = borrow::<T>("grad_out", grad_out)?;
    let grad_out = view("grad_out", &grad_out)?;
    let grad_last = grad_last_state
        .map(|g| borrow::<T>("grad_last_state", g))
        .transpose()?;
    let grad_last = view_optional("grad_last_state", &grad_last)?;
    let grads = enter(py, || {
        scan::selective_scan_backward(inputs, grad_out, grad_last)
    })?
    .map_err(ToPyErr::to_py_err)?;
    let np = |array: Array<T>| -> PyResult<Bound<'py, PyAny>> {
        Ok(PyArray1::from_vec(py, array.data)
            .reshape(array.shape)?
            .into_any())
    };
    let opt = |array: Option<Array<T>>| array.map(np).transpose();
    Ok((
        np(grads.u)?,
        np(grads.delta)?,
        np(grads.a)?,
        np(grads.b)?,
        np(grads.c)?,
        opt(grads.d)?,
        opt(grads.z)?,
        opt(grads.delta_bias)?,
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(selective_scan, m)?)?;
    m.add_function(wrap_pyfunction!(selective_scan_backward, m)?)?;
    Ok(())
}
