//! Thread pool settings.

use pyo3::prelude::*;

use crate::errors::ToPyErr;

/// The number of threads seqcore's parallel kernels use.
#[pyfunction]
fn get_num_threads() -> usize {
    seqcore::parallel::num_threads()
}

/// Sets the number of threads for later calls (1 to `MAX_NUM_THREADS`).
#[pyfunction]
fn set_num_threads(threads: usize) -> PyResult<()> {
    seqcore::parallel::set_num_threads(threads).map_err(ToPyErr::to_py_err)
}

/// The pool size `SEQCORE_NUM_THREADS` asks for (all cores when unset);
/// raises ValueError when the variable is not a positive integer.
#[pyfunction]
fn default_num_threads() -> PyResult<usize> {
    seqcore::parallel::default_num_threads().map_err(ToPyErr::to_py_err)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(default_num_threads, m)?)?;
    m.add("MAX_NUM_THREADS", seqcore::parallel::max_threads())?;
    Ok(())
}
