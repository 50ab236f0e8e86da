//! How core errors become Python exceptions.
//!
//! The exception hierarchy lives in Python (`seqcore/errors.py`) so that it
//! can use multiple inheritance (`TokenizerFormatError(SeqcoreError,
//! ValueError)`) and be documented there; this file picks the class for
//! each core error variant.

use pyo3::exceptions::{PyIndexError, PyKeyboardInterrupt, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use seqcore::crf::CrfError;
use seqcore::decode::DecodeError;
use seqcore::parallel::ParallelError;
use seqcore::scan::ScanError;
use seqcore::tokenize::TokenizeError;

/// Builds an instance of `seqcore.errors.<class_name>` with `message`,
/// falling back to `fallback` if the Python module cannot be imported.
fn seqcore_error(
    py: Python<'_>,
    class_name: &str,
    message: String,
    fallback: fn(String) -> PyErr,
) -> PyErr {
    let class = py
        .import("seqcore.errors")
        .and_then(|module| module.getattr(class_name));
    match class {
        Ok(class) => match class.call1((message.clone(),)) {
            Ok(instance) => PyErr::from_value(instance),
            Err(_) => fallback(message),
        },
        Err(_) => fallback(message),
    }
}

pub fn internal_error(py: Python<'_>, message: &str) -> PyErr {
    seqcore_error(
        py,
        "InternalError",
        format!("seqcore hit an internal error (please report it): {message}"),
        PyRuntimeError::new_err,
    )
}

/// Maps a core error to its Python exception.
pub trait ToPyErr {
    fn to_py_err(self) -> PyErr;
}

impl ToPyErr for ScanError {
    fn to_py_err(self) -> PyErr {
        // Every scan error describes a bad shape.
        PyValueError::new_err(self.to_string())
    }
}

impl ToPyErr for ParallelError {
    fn to_py_err(self) -> PyErr {
        PyValueError::new_err(self.to_string())
    }
}

impl ToPyErr for TokenizeError {
    fn to_py_err(self) -> PyErr {
        let message = self.to_string();
        match self {
            TokenizeError::Format { .. } | TokenizeError::TooLarge { .. } => Python::attach(|py| {
                seqcore_error(py, "TokenizerFormatError", message, PyValueError::new_err)
            }),
            TokenizeError::DisallowedSpecial { .. } => Python::attach(|py| {
                seqcore_error(
                    py,
                    "DisallowedSpecialTokenError",
                    message,
                    PyValueError::new_err,
                )
            }),
            TokenizeError::IdOutOfRange { .. } => PyIndexError::new_err(message),
            TokenizeError::Interrupted => PyKeyboardInterrupt::new_err(message),
            TokenizeError::Pattern(_) | TokenizeError::Invalid(_) => PyValueError::new_err(message),
        }
    }
}

impl ToPyErr for DecodeError {
    fn to_py_err(self) -> PyErr {
        let message = self.to_string();
        match self {
            DecodeError::TokenOutOfRange { .. } => PyIndexError::new_err(message),
            _ => PyValueError::new_err(message),
        }
    }
}

impl ToPyErr for CrfError {
    fn to_py_err(self) -> PyErr {
        let message = self.to_string();
        match self {
            CrfError::LabelOutOfRange { .. } => PyIndexError::new_err(message),
            CrfError::Shape(_) | CrfError::Invalid(_) => PyValueError::new_err(message),
        }
    }
}
