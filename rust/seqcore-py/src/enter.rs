//! The one way into the core for any call that may take a while.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;

use crate::errors;

/// Runs `work` with the GIL released, then turns a panic into
/// `seqcore.InternalError` (a bug report, never a `PanicException`) and
/// raises `KeyboardInterrupt` if Ctrl-C arrived meanwhile.
pub fn enter<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    let outcome = py.detach(|| catch_unwind(AssertUnwindSafe(work)));
    py.check_signals()?;
    outcome.map_err(|payload| panic_error(py, payload.as_ref()))
}

/// `seqcore.InternalError` for a caught panic's payload.
pub fn panic_error(py: Python<'_>, payload: &(dyn std::any::Any + Send)) -> PyErr {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    errors::internal_error(py, &message)
}
