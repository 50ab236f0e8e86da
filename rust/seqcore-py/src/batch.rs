//! Batch encoding: a batch cut into tasks of similar size, run on the
//! pool, and the results turned into Python lists (built on the calling
//! thread as tasks finish) or into two flat numpy arrays.

use numpy::{IntoPyArray, PyArray1};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};
use seqcore::tokenize::TokenizeError;

use crate::enter::enter;
use crate::errors::ToPyErr;
use crate::ids::IdInts;

/// A batch's ids (uint32, all texts one after another) and bounds (int64:
/// text i's ids are `ids[bounds[i]..bounds[i + 1]]`).
pub type IdsAndBounds<'py> = (Bound<'py, PyArray1<u32>>, Bound<'py, PyArray1<i64>>);

/// The ids of one task's texts, end to end, and where each text's ids end.
///
/// One buffer per task rather than one per text: the buffers are made on a
/// pool thread and freed on the calling thread, and thousands of small
/// frees of another thread's memory contend for the allocator's lock of
/// that thread's arena.
pub struct TaskIds {
    pub ids: Vec<u32>,
    pub ends: Vec<usize>,
}

/// Runs the tasks of a batch on the pool and builds the result list on the
/// calling thread as tasks finish, so building Python lists (serial: it
/// needs the GIL) overlaps the encoding of the rest. The GIL is released
/// while waiting; the first error in text order is raised.
pub fn batch_to_lists<'py, F, L>(
    py: Python<'py>,
    tasks: &[usize],
    task: F,
    list: L,
) -> PyResult<Bound<'py, PyList>>
where
    F: Fn(usize) -> Result<TaskIds, TokenizeError> + Send + Sync,
    L: Fn(&[u32]) -> PyResult<Bound<'py, PyList>>,
{
    let total = *tasks.last().unwrap_or(&0);
    let out = PyList::new(py, (0..total).map(|_| py.None()))?;
    let mut errors: Vec<(usize, PyErr)> = Vec::new();
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        seqcore::parallel::map_tasks_streaming(
            tasks.len() - 1,
            &task,
            |receive| py.detach(receive),
            |t, result| {
                let built = result.map_err(ToPyErr::to_py_err).and_then(|done| {
                    let mut start = 0;
                    for (k, &end) in done.ends.iter().enumerate() {
                        out.set_item(tasks[t] + k, list(&done.ids[start..end])?)?;
                        start = end;
                    }
                    Ok(())
                });
                if let Err(e) = built {
                    errors.push((t, e));
                }
            },
        )
    }));
    if let Err(payload) = run {
        return Err(crate::enter::panic_error(py, payload.as_ref()));
    }
    py.check_signals()?;
    match errors.into_iter().min_by_key(|(t, _)| *t) {
        Some((_, e)) => Err(e),
        None => Ok(out),
    }
}

/// The strings of `owned`, borrowed (TypeError naming the first that is not).
pub fn texts_of<'a>(owned: &'a [Bound<'_, PyAny>]) -> PyResult<Vec<&'a str>> {
    owned
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.cast::<PyString>()
                .map_err(|_| {
                    PyTypeError::new_err(format!(
                        "texts must be strings, got {} at position {i}",
                        t.get_type()
                    ))
                })?
                .to_str()
        })
        .collect()
}

/// Encodes every text of the iterable `texts` with `encode`, in parallel
/// on seqcore's pool with the GIL released, into a list of id lists.
pub fn encode_texts<'py>(
    py: Python<'py>,
    texts: &Bound<'py, PyAny>,
    ints: &IdInts,
    vocab_size: usize,
    encode: impl Fn(&str, &mut Vec<u32>) -> Result<(), TokenizeError> + Sync,
) -> PyResult<Bound<'py, PyList>> {
    let owned: Vec<Bound<'py, PyAny>> = texts.try_iter()?.collect::<PyResult<_>>()?;
    let strs = texts_of(&owned)?;
    let tasks = batch_tasks(&strs);
    batch_to_lists(
        py,
        &tasks,
        |t| encode_task(&strs, &tasks, t, &encode),
        |ids| ints.list(py, vocab_size, ids),
    )
}

/// Encodes many texts in parallel (GIL released) into one flat uint32
/// array of ids and int64 bounds: text i's ids are `ids[bounds[i]..bounds[i + 1]]`.
pub fn encode_texts_flat<'py>(
    py: Python<'py>,
    texts: &Bound<'py, PyAny>,
    encode: impl Fn(&str, &mut Vec<u32>) -> Result<(), TokenizeError> + Sync,
) -> PyResult<IdsAndBounds<'py>> {
    let owned: Vec<Bound<'py, PyAny>> = texts.try_iter()?.collect::<PyResult<_>>()?;
    let strs = texts_of(&owned)?;
    let tasks = batch_tasks(&strs);
    let done = enter(py, || {
        seqcore::parallel::map_tasks(tasks.len() - 1, |t| encode_task(&strs, &tasks, t, &encode))
    })?;
    let mut ids = Vec::with_capacity(done.iter().flatten().map(|d| d.ids.len()).sum());
    let mut bounds = Vec::with_capacity(strs.len() + 1);
    bounds.push(0i64);
    // The first error in text order is raised (tasks are in text order).
    for task in done {
        let task = task.map_err(ToPyErr::to_py_err)?;
        let base = ids.len();
        bounds.extend(task.ends.iter().map(|&end| (base + end) as i64));
        ids.extend_from_slice(&task.ids);
    }
    Ok((ids.into_pyarray(py), bounds.into_pyarray(py)))
}

/// Encodes task `t` of a batch: the texts `strs[tasks[t]..tasks[t + 1]]`.
fn encode_task(
    strs: &[&str],
    tasks: &[usize],
    t: usize,
    encode: &(impl Fn(&str, &mut Vec<u32>) -> Result<(), TokenizeError> + Sync),
) -> Result<TaskIds, TokenizeError> {
    let texts = &strs[tasks[t]..tasks[t + 1]];
    let bytes: usize = texts.iter().map(|text| text.len()).sum();
    let mut done = TaskIds {
        ids: Vec::with_capacity(bytes / 4 + 4),
        ends: Vec::with_capacity(texts.len()),
    };
    for text in texts {
        encode(text, &mut done.ids)?;
        done.ends.push(done.ids.len());
    }
    Ok(done)
}

/// Splits a batch into tasks of roughly equal bytes (at least ~64 KiB or
/// one text each), as boundaries `[0, .., n]`.
pub fn batch_tasks(texts: &[&str]) -> Vec<usize> {
    let total: usize = texts.iter().map(|t| t.len()).sum();
    let threads = seqcore::parallel::num_threads();
    // Small enough that the caller starts building lists early and the
    // pool stays busy meanwhile; large enough to amortise task overhead.
    let target = (total / (threads * 16).max(1)).clamp(16 << 10, 256 << 10);
    let mut bounds = vec![0];
    let mut acc = 0;
    for (i, t) in texts.iter().enumerate() {
        acc += t.len();
        if acc >= target {
            bounds.push(i + 1);
            acc = 0;
        }
    }
    if *bounds.last().unwrap_or(&0) != texts.len() {
        bounds.push(texts.len());
    }
    if bounds.len() == 1 {
        bounds.push(0);
    }
    bounds
}
