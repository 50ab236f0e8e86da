//! Bindings of `seqcore::crf::higher`: higher-order linear-chain CRFs.
//!
//! Factors and tables come as Python lists with one entry per order
//! `1..=order`, each a numpy array or None.

use numpy::{IntoPyArray, PyReadonlyArrayDyn};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use seqcore::crf::higher::{self, HigherOrderInputs, MAX_ORDER};
use seqcore::ArrayView;

use crate::arrays::{borrow, dtype_of, lengths_arg, owned_to_numpy, view, Dtype};
use crate::crf::{paths_list, widen};
use crate::enter::enter;
use crate::errors::ToPyErr;

type Borrowed<'py, T> = [Option<PyReadonlyArrayDyn<'py, T>>; MAX_ORDER];

/// The dtype shared by every given factor and table.
fn common_real_dtype(lists: &[(&str, &[Option<Bound<'_, PyAny>>])]) -> PyResult<Dtype> {
    let mut found: Option<(String, Dtype)> = None;
    for (name, list) in lists {
        for (i, item) in list.iter().enumerate() {
            let Some(obj) = item else { continue };
            let label = format!("{name}[{i}]");
            let dtype = dtype_of(&label, obj)?;
            if !matches!(dtype, Dtype::F32 | Dtype::F64) {
                return Err(PyTypeError::new_err(format!(
                    "{label} must be float32 or float64, got {}",
                    dtype.name()
                )));
            }
            match &found {
                Some((first, d)) if *d != dtype => {
                    return Err(PyTypeError::new_err(format!(
                        "{label} is {} but {first} is {}; give every factor one dtype",
                        dtype.name(),
                        d.name()
                    )))
                }
                None => found = Some((label, dtype)),
                _ => {}
            }
        }
    }
    found
        .map(|(_, d)| d)
        .ok_or_else(|| PyValueError::new_err("give at least one factor tensor or table"))
}

fn borrow_all<'py, T: numpy::Element>(
    name: &str,
    list: &[Option<Bound<'py, PyAny>>],
    order: usize,
) -> PyResult<Borrowed<'py, T>> {
    if list.len() > order || order > MAX_ORDER || order == 0 {
        return Err(PyValueError::new_err(format!(
            "{name} has {} entries for order {order} (order must be 1..={MAX_ORDER}, one entry per n-gram order up to it)",
            list.len()
        )));
    }
    let mut out: Borrowed<'py, T> = Default::default();
    for (i, item) in list.iter().enumerate() {
        if let Some(obj) = item {
            out[i] = Some(borrow::<T>(&format!("{name}[{i}]"), obj)?);
        }
    }
    Ok(out)
}

fn views<'a, T: numpy::Element>(
    name: &str,
    borrowed: &'a Borrowed<'_, T>,
) -> PyResult<[Option<ArrayView<'a, T>>; MAX_ORDER]> {
    let mut out: [Option<ArrayView<'a, T>>; MAX_ORDER] = Default::default();
    for (i, item) in borrowed.iter().enumerate() {
        if let Some(array) = item {
            out[i] = Some(view(&format!("{name}[{i}]"), array)?);
        }
    }
    Ok(out)
}

/// Calls `$body` with `$inputs: HigherOrderInputs<$t>` borrowed from Python.
macro_rules! with_inputs {
    ($order:expr, $labels:expr, $factors:expr, $tables:expr, $lengths:expr,
     $t:ident, $inputs:ident => $body:expr) => {{
        let lengths = lengths_arg($lengths)?;
        match common_real_dtype(&[("factors", &$factors), ("tables", &$tables)])? {
            Dtype::F32 => {
                type $t = f32;
                with_inputs!(@body $order, $labels, $factors, $tables, lengths, $t, $inputs => $body)
            }
            _ => {
                type $t = f64;
                with_inputs!(@body $order, $labels, $factors, $tables, lengths, $t, $inputs => $body)
            }
        }
    }};
    (@body $order:expr, $labels:expr, $factors:expr, $tables:expr, $lengths:expr,
     $t:ident, $inputs:ident => $body:expr) => {{
        let factors = borrow_all::<$t>("factors", &$factors, $order)?;
        let tables = borrow_all::<$t>("tables", &$tables, $order)?;
        let mut $inputs = HigherOrderInputs::new($order, $labels, &$lengths);
        $inputs.factors = views("factors", &factors)?;
        $inputs.tables = views("tables", &tables)?;
        $body
    }};
}

fn optional_arrays<'py, T: numpy::Element>(
    py: Python<'py>,
    arrays: [Option<seqcore::Array<T>>; MAX_ORDER],
    order: usize,
) -> PyResult<Bound<'py, PyList>> {
    let items = arrays
        .into_iter()
        .take(order)
        .map(|a| match a {
            Some(a) => owned_to_numpy(py, a),
            None => Ok(py.None().into_bound(py)),
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// log Z per sequence.
#[pyfunction]
fn hocrf_log_partition<'py>(
    py: Python<'py>,
    order: usize,
    num_labels: usize,
    factors: Vec<Option<Bound<'py, PyAny>>>,
    tables: Vec<Option<Bound<'py, PyAny>>>,
    lengths: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    with_inputs!(order, num_labels, factors, tables, lengths, T, inputs => {
        let out = enter(py, || higher::log_partition(&inputs))?.map_err(ToPyErr::to_py_err)?;
        owned_to_numpy(py, out)
    })
}

/// Per order: the n-gram marginals (batch, max_len, L^n), or None.
#[pyfunction]
fn hocrf_marginals<'py>(
    py: Python<'py>,
    order: usize,
    num_labels: usize,
    factors: Vec<Option<Bound<'py, PyAny>>>,
    tables: Vec<Option<Bound<'py, PyAny>>>,
    lengths: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    with_inputs!(order, num_labels, factors, tables, lengths, T, inputs => {
        let out = enter(py, || higher::marginals(&inputs))?.map_err(ToPyErr::to_py_err)?;
        optional_arrays(py, out.orders, order)
    })
}

/// (nll, factor gradients per order, table gradients per order).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn hocrf_nll<'py>(
    py: Python<'py>,
    order: usize,
    num_labels: usize,
    factors: Vec<Option<Bound<'py, PyAny>>>,
    tables: Vec<Option<Bound<'py, PyAny>>>,
    lengths: &Bound<'py, PyAny>,
    tags: &Bound<'py, PyAny>,
    d_nll: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyTuple>> {
    let tags = borrow::<i64>("tags", tags)?;
    with_inputs!(order, num_labels, factors, tables, lengths, T, inputs => {
        let weights = borrow::<T>("d_nll", d_nll)?;
        let (tags, weights) = (view("tags", &tags)?, view("d_nll", &weights)?);
        let out = enter(py, || higher::nll_and_grad(&inputs, tags, weights))?
            .map_err(ToPyErr::to_py_err)?;
        PyTuple::new(
            py,
            [
                owned_to_numpy(py, out.nll)?,
                optional_arrays(py, out.factors, order)?.into_any(),
                optional_arrays(py, out.tables, order)?.into_any(),
            ],
        )
    })
}

/// (paths, scores): the best labelling per sequence.
#[pyfunction]
fn hocrf_viterbi<'py>(
    py: Python<'py>,
    order: usize,
    num_labels: usize,
    factors: Vec<Option<Bound<'py, PyAny>>>,
    tables: Vec<Option<Bound<'py, PyAny>>>,
    lengths: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyTuple>> {
    with_inputs!(order, num_labels, factors, tables, lengths, T, inputs => {
        let out = enter(py, || higher::viterbi(&inputs))?.map_err(ToPyErr::to_py_err)?;
        let labels: Vec<Vec<u32>> = out.iter().map(|p| p.labels.clone()).collect();
        let scores: Vec<f64> = out.iter().map(|p| widen(p.score)).collect();
        PyTuple::new(py, [labels.into_pyobject(py)?.into_any(), scores.into_pyarray(py).into_any()])
    })
}

/// Per sequence, its `k` best (path, score), best first.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn hocrf_nbest<'py>(
    py: Python<'py>,
    order: usize,
    num_labels: usize,
    factors: Vec<Option<Bound<'py, PyAny>>>,
    tables: Vec<Option<Bound<'py, PyAny>>>,
    lengths: &Bound<'py, PyAny>,
    k: usize,
) -> PyResult<Bound<'py, PyList>> {
    with_inputs!(order, num_labels, factors, tables, lengths, T, inputs => {
        let out = enter(py, || higher::nbest(&inputs, k))?.map_err(ToPyErr::to_py_err)?;
        PyList::new(py, out.iter().map(|p| paths_list(py, p)).collect::<PyResult<Vec<_>>>()?)
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(hocrf_log_partition, m)?)?;
    m.add_function(wrap_pyfunction!(hocrf_marginals, m)?)?;
    m.add_function(wrap_pyfunction!(hocrf_nll, m)?)?;
    m.add_function(wrap_pyfunction!(hocrf_viterbi, m)?)?;
    m.add_function(wrap_pyfunction!(hocrf_nbest, m)?)?;
    Ok(())
}
