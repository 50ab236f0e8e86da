//! `seqcore._core`: the Python binding of the seqcore Rust core.
//!
//! This crate converts and validates; it holds no algorithm. Each function
//! turns Python objects into borrowed Rust views, calls the core through
//! [`enter::enter`] (GIL released, panics contained, Ctrl-C noticed) and
//! turns the result back into numpy arrays.

use pyo3::prelude::*;

mod arrays;
mod batch;
mod crf;
mod decode;
mod ema;
mod encode_forms;
mod enter;
mod errors;
mod gateloop;
mod higher_crf;
mod ids;
mod multiword;
mod parallel;
mod scan;
mod selective;
mod tokenize;
mod train;
mod vandermonde;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    parallel::register(m)?;
    decode::register(m)?;
    crf::register(m)?;
    higher_crf::register(m)?;
    ema::register(m)?;
    gateloop::register(m)?;
    multiword::register(m)?;
    scan::register(m)?;
    selective::register(m)?;
    tokenize::register(m)?;
    train::register(m)?;
    vandermonde::register(m)?;
    Ok(())
}
