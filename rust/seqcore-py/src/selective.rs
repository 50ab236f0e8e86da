//! Bindings of the selective scan (`seqcore::scan::selective_*`).
//!
//! `u`, `delta`, `D`, `z`, `delta_bias` (and `grad_out`) are real, float32
//! or float64; `A`, `B`, `C` (and `grad_last_state`) have that dtype or its
//! complex counterpart (complex `A`, as mamba-ssm allows).

use numpy::{Complex32, Complex64, PyReadonlyArrayDyn};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use seqcore::scan::{self, SelectiveInputs, StateElement};
use seqcore::Array;

use crate::arrays::{borrow, common_dtype, new_output, output_slice, owned_to_numpy, view, Dtype};
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

/// Which kernel instance: the real dtype, and whether states are complex.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Real32,
    Real64,
    Complex32,
    Complex64,
}

impl<'py> Args<'py> {
    fn kind(
        &self,
        real_extra: Option<(&'static str, &Bound<'py, PyAny>)>,
        state_extra: Option<(&'static str, &Bound<'py, PyAny>)>,
    ) -> PyResult<Kind> {
        let mut real = vec![("u", &self.u), ("delta", &self.delta)];
        real.extend(self.d.as_ref().map(|x| ("D", x)));
        real.extend(self.z.as_ref().map(|x| ("z", x)));
        real.extend(self.delta_bias.as_ref().map(|x| ("delta_bias", x)));
        real.extend(real_extra);
        let real_dtype = common_dtype(&real)?;
        let mut state = vec![("A", &self.a), ("B", &self.b), ("C", &self.c)];
        state.extend(state_extra);
        let state_dtype = common_dtype(&state)?;
        match (real_dtype, state_dtype) {
            (Dtype::F32, Dtype::F32) => Ok(Kind::Real32),
            (Dtype::F64, Dtype::F64) => Ok(Kind::Real64),
            (Dtype::F32, Dtype::C64) => Ok(Kind::Complex32),
            (Dtype::F64, Dtype::C128) => Ok(Kind::Complex64),
            (Dtype::C64 | Dtype::C128, _) => Err(PyTypeError::new_err(format!(
                "u, delta, D, z and delta_bias must be real (float32 or float64), got {}",
                real_dtype.name()
            ))),
            _ => Err(PyTypeError::new_err(format!(
                "A, B and C must have the dtype of u ({}) or its complex counterpart, got {}",
                real_dtype.name(),
                state_dtype.name()
            ))),
        }
    }
}

/// Read-only borrows of every argument, kept alive while views exist.
struct Borrowed<'py, S: StateElement + numpy::Element>
where
    S::Real: numpy::Element,
{
    real: [PyReadonlyArrayDyn<'py, S::Real>; 2],
    state: [PyReadonlyArrayDyn<'py, S>; 3],
    optional: [Option<PyReadonlyArrayDyn<'py, S::Real>>; 3],
}

fn view_optional<'a, T: numpy::Element>(
    name: &str,
    x: &'a Option<PyReadonlyArrayDyn<'_, T>>,
) -> PyResult<Option<seqcore::ArrayView<'a, T>>> {
    x.as_ref().map(|x| view(name, x)).transpose()
}

impl<'py, S: StateElement + numpy::Element> Borrowed<'py, S>
where
    S::Real: numpy::Element,
{
    fn new(args: &Args<'py>) -> PyResult<Self> {
        let opt = |name, x: &Option<Bound<'py, PyAny>>| {
            x.as_ref().map(|x| borrow::<S::Real>(name, x)).transpose()
        };
        Ok(Self {
            real: [borrow("u", &args.u)?, borrow("delta", &args.delta)?],
            state: [
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

    fn inputs(&self, delta_softplus: bool) -> PyResult<SelectiveInputs<'_, S>> {
        let [u, delta] = &self.real;
        let [a, b, c] = &self.state;
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

/// Calls `$body` with `$s` bound to the state type of `$kind`.
macro_rules! with_kind {
    ($kind:expr, $s:ident => $body:expr) => {
        match $kind {
            Kind::Real32 => {
                type $s = f32;
                $body
            }
            Kind::Real64 => {
                type $s = f64;
                $body
            }
            Kind::Complex32 => {
                type $s = Complex32;
                $body
            }
            Kind::Complex64 => {
                type $s = Complex64;
                $body
            }
        }
    };
}

/// Selective scan (mamba-ssm semantics): returns (out, last_state).
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
    with_kind!(args.kind(None, None)?, S => forward::<S>(py, &args, delta_softplus))
}

fn forward<'py, S: StateElement + numpy::Element>(
    py: Python<'py>,
    args: &Args<'py>,
    delta_softplus: bool,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)>
where
    S::Real: numpy::Element,
{
    let borrowed = Borrowed::<S>::new(args)?;
    let inputs = borrowed.inputs(delta_softplus)?;
    // Shapes for the outputs; the core validates everything else.
    let (batch_dim_len, states) = match (inputs.u.shape(), inputs.a.shape()) {
        ([b, d, l], [_, n]) => ([*b, *d, *l], *n),
        _ => ([0, 0, 0], 0),
    };
    let out = new_output::<S::Real>(py, &batch_dim_len);
    let last = new_output::<S>(py, &[batch_dim_len[0], batch_dim_len[1], states]);
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
    let kind = args.kind(
        Some(("grad_out", &grad_out)),
        grad_last_state.as_ref().map(|g| ("grad_last_state", g)),
    )?;
    let grads = (&grad_out, grad_last_state.as_ref());
    with_kind!(kind, S => backward::<S>(py, &args, delta_softplus, grads))
}

fn backward<'py, S: StateElement + numpy::Element>(
    py: Python<'py>,
    args: &Args<'py>,
    delta_softplus: bool,
    (grad_out, grad_last_state): (&Bound<'py, PyAny>, Option<&Bound<'py, PyAny>>),
) -> PyResult<Grads<'py>>
where
    S::Real: numpy::Element,
{
    let borrowed = Borrowed::<S>::new(args)?;
    let inputs = borrowed.inputs(delta_softplus)?;
    let grad_out = borrow::<S::Real>("grad_out", grad_out)?;
    let grad_out = view("grad_out", &grad_out)?;
    let grad_last = grad_last_state
        .map(|g| borrow::<S>("grad_last_state", g))
        .transpose()?;
    let grad_last = view_optional("grad_last_state", &grad_last)?;
    let grads = enter(py, || {
        scan::selective_scan_backward(inputs, grad_out, grad_last)
    })?
    .map_err(ToPyErr::to_py_err)?;
    let real = |array: Array<S::Real>| owned_to_numpy(py, array);
    let state = |array: Array<S>| owned_to_numpy(py, array);
    let opt = |array: Option<Array<S::Real>>| array.map(real).transpose();
    Ok((
        real(grads.u)?,
        real(grads.delta)?,
        state(grads.a)?,
        state(grads.b)?,
        state(grads.c)?,
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
