//! Bindings of `seqcore::crf::linear`: the first-order linear-chain CRF.

use numpy::IntoPyArray;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use seqcore::crf::linear::LinearCrf;

use crate::arrays::{borrow, common_dtype, lengths_arg, owned_to_numpy, view, Dtype};
use crate::enter::enter;
use crate::errors::ToPyErr;

/// The real dtype shared by the score arrays, or a TypeError.
fn real_dtype(arrays: &[(&str, &Bound<'_, PyAny>)]) -> PyResult<Dtype> {
    match common_dtype(arrays)? {
        dtype @ (Dtype::F32 | Dtype::F64) => Ok(dtype),
        other => Err(PyTypeError::new_err(format!(
            "CRF scores must be float32 or float64, got {}",
            other.name()
        ))),
    }
}

/// Runs `work` on the borrowed model in the dtype of the score arrays.
macro_rules! with_model {
    ($py:expr, $emissions:expr, $transitions:expr, $start:expr, $end:expr, $lengths:expr,
     $t:ident, $model:ident => $body:expr) => {{
        let named = [
            ("emissions", $emissions),
            ("transitions", $transitions),
            ("start", $start),
            ("end", $end),
        ];
        let lengths = lengths_arg($lengths)?;
        match real_dtype(&named)? {
            Dtype::F32 => {
                type $t = f32;
                with_model!(@body $py, $emissions, $transitions, $start, $end, lengths, $t, $model => $body)
            }
            _ => {
                type $t = f64;
                with_model!(@body $py, $emissions, $transitions, $start, $end, lengths, $t, $model => $body)
            }
        }
    }};
    (@body $py:expr, $emissions:expr, $transitions:expr, $start:expr, $end:expr, $lengths:expr,
     $t:ident, $model:ident => $body:expr) => {{
        let e = borrow::<$t>("emissions", $emissions)?;
        let tr = borrow::<$t>("transitions", $transitions)?;
        let s = borrow::<$t>("start", $start)?;
        let en = borrow::<$t>("end", $end)?;
        let $model = LinearCrf::new(
            view("emissions", &e)?,
            Some(&$lengths),
            view("transitions", &tr)?,
            s.as_slice()?,
            en.as_slice()?,
        )
        .map_err(ToPyErr::to_py_err)?;
        $body
    }};
}

/// log Z per sequence.
#[pyfunction]
fn crf_log_partition<'py>(
    py: Python<'py>,
    emissions: &Bound<'py, PyAny>,
    transitions: &Bound<'py, PyAny>,
    start: &Bound<'py, PyAny>,
    end: &Bound<'py, PyAny>,
    lengths: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    with_model!(py, emissions, transitions, start, end, lengths, T, model => {
        let out = enter(py, || model.log_partition())?;
        Ok(out.into_pyarray(py).into_any())
    })
}

/// Node marginals (batch, max_len, L); with `edges`, also (batch, max_len - 1, L, L).
#[pyfunction]
#[pyo3(signature = (emissions, transitions, start, end, lengths, edges=false))]
fn crf_marginals<'py>(
    py: Python<'py>,
    emissions: &Bound<'py, PyAny>,
    transitions: &Bound<'py, PyAny>,
    start: &Bound<'py, PyAny>,
    end: &Bound<'py, PyAny>,
    lengths: &Bound<'py, PyAny>,
    edges: bool,
) -> PyResult<Bound<'py, PyAny>> {
    with_model!(py, emissions, transitions, start, end, lengths, T, model => {
        let out = enter(py, || model.marginals(edges))?;
        let nodes = owned_to_numpy(py, out.nodes)?;
        match out.edges {
            Some(e) => Ok(PyTuple::new(py, [nodes, owned_to_numpy(py, e)?])?.into_any()),
            None => Ok(nodes),
        }
    })
}

/// (nll, d emissions, d transitions, d start, d end); `d_nll` weights each
/// sequence's gradient (None: all 1).
#[pyfunction]
#[pyo3(signature = (emissions, transitions, start, end, lengths, tags, d_nll=None))]
#[allow(clippy::too_many_arguments)]
fn crf_nll<'py>(
    py: Python<'py>,
    emissions: &Bound<'py, PyAny>,
    transitions: &Bound<'py, PyAny>,
    start: &Bound<'py, PyAny>,
    end: &Bound<'py, PyAny>,
    lengths: &Bound<'py, PyAny>,
    tags: &Bound<'py, PyAny>,
    d_nll: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let tags = borrow::<i64>("tags", tags)?;
    with_model!(py, emissions, transitions, start, end, lengths, T, model => {
        let weights = d_nll.map(|d| borrow::<T>("d_nll", d)).transpose()?;
        let weights = weights.as_ref().map(|w| w.as_slice()).transpose()?;
        let tags = view("tags", &tags)?;
        let out = enter(py, || model.nll_and_grad(tags, weights))?.map_err(ToPyErr::to_py_err)?;
        PyTuple::new(
            py,
            [
                out.nll.into_pyarray(py).into_any(),
                owned_to_numpy(py, out.emissions)?,
                owned_to_numpy(py, out.transitions)?,
                out.start.into_pyarray(py).into_any(),
                out.end.into_pyarray(py).into_any(),
            ],
        )
    })
}

/// Per path, a `(labels, score)` tuple (first or higher order).
pub fn paths_list<'py, T: Copy + Into<f64>>(
    py: Python<'py>,
    paths: &[seqcore::crf::Path<T>],
) -> PyResult<Bound<'py, PyList>> {
    PyList::new(
        py,
        paths
            .iter()
            .map(|p| (p.labels.clone(), p.score.into()).into_pyobject(py))
            .collect::<PyResult<Vec<_>>>()?,
    )
}

/// (paths, scores): the best path per sequence.
#[pyfunction]
fn crf_viterbi<'py>(
    py: Python<'py>,
    emissions: &Bound<'py, PyAny>,
    transitions: &Bound<'py, PyAny>,
    start: &Bound<'py, PyAny>,
    end: &Bound<'py, PyAny>,
    lengths: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyTuple>> {
    with_model!(py, emissions, transitions, start, end, lengths, T, model => {
        let out = enter(py, || model.viterbi())?;
        let labels: Vec<Vec<u32>> = out.iter().map(|p| p.labels.clone()).collect();
        let scores: Vec<f64> = out.iter().map(|p| widen(p.score)).collect();
        PyTuple::new(py, [labels.into_pyobject(py)?.into_any(), scores.into_pyarray(py).into_any()])
    })
}

/// Per sequence, its `k` best (path, score), best first.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn crf_nbest<'py>(
    py: Python<'py>,
    emissions: &Bound<'py, PyAny>,
    transitions: &Bound<'py, PyAny>,
    start: &Bound<'py, PyAny>,
    end: &Bound<'py, PyAny>,
    lengths: &Bound<'py, PyAny>,
    k: usize,
) -> PyResult<Bound<'py, PyList>> {
    with_model!(py, emissions, transitions, start, end, lengths, T, model => {
        let out = enter(py, || model.nbest(k))?.map_err(ToPyErr::to_py_err)?;
        PyList::new(py, out.iter().map(|paths| paths_list(py, paths)).collect::<PyResult<Vec<_>>>()?)
    })
}

/// A score as f64 (generic, so one body serves f32 and f64).
pub fn widen<T: Into<f64>>(score: T) -> f64 {
    score.into()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(crf_log_partition, m)?)?;
    m.add_function(wrap_pyfunction!(crf_marginals, m)?)?;
    m.add_function(wrap_pyfunction!(crf_nll, m)?)?;
    m.add_function(wrap_pyfunction!(crf_viterbi, m)?)?;
    m.add_function(wrap_pyfunction!(crf_nbest, m)?)?;
    Ok(())
}
