//! Token ids between Python and Rust: prebuilt Python ints for result
//! lists, ids read from lists, numpy arrays or any iterable, and offsets
//! as a list of tuples.

use std::sync::Arc;

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::exceptions::{PyIndexError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};
use seqcore::tokenize::tokenizer::{char_offsets, Offsets};
use seqcore::tokenize::TokenizeError;

use crate::enter::enter;
use crate::errors::ToPyErr;

/// Prebuilt Python ints for every id of a vocabulary. Building result
/// lists is the part of batch encoding that must hold the GIL, so it runs
/// on one thread; taking a reference to an existing int instead of
/// allocating one makes it several times cheaper (and freeing the lists
/// too). Python does the same for ints below 257.
#[derive(Default)]
pub struct IdInts {
    ints: std::sync::OnceLock<Vec<Py<PyAny>>>,
    /// Another vocabulary's ints (and its size) that this one extends: a
    /// multi-word vocabulary shares its base's ints rather than making a
    /// second 100k of them.
    base: Option<(Arc<IdInts>, usize)>,
}

impl IdInts {
    /// The ints of a vocabulary whose first `base_size` ids are `base`'s.
    pub fn extending(base: Arc<IdInts>, base_size: usize) -> Self {
        IdInts {
            ints: std::sync::OnceLock::new(),
            base: Some((base, base_size)),
        }
    }

    fn get(&self, py: Python<'_>, vocab_size: usize) -> &[Py<PyAny>] {
        self.ints.get_or_init(|| {
            let shared = match &self.base {
                Some((base, size)) => base.get(py, *size),
                None => &[],
            };
            let own = (shared.len() as u64..vocab_size as u64).map(|i| {
                i.into_pyobject(py)
                    .expect("ints convert")
                    .into_any()
                    .unbind()
            });
            shared
                .iter()
                .map(|int| int.clone_ref(py))
                .chain(own)
                .collect()
        })
    }

    /// A Python list of `ids`.
    pub fn list<'py>(
        &self,
        py: Python<'py>,
        vocab_size: usize,
        ids: &[u32],
    ) -> PyResult<Bound<'py, PyList>> {
        let cache = self.get(py, vocab_size);
        // SAFETY: PyList_New returns a new list (or NULL with an error set);
        // each item is a new reference (an incref'd cached int or a fresh
        // int), which PyList_SetItem steals, at an index below the length.
        unsafe {
            let list = pyo3::ffi::PyList_New(ids.len() as pyo3::ffi::Py_ssize_t);
            let list = Bound::from_owned_ptr_or_err(py, list)?;
            for (i, &id) in ids.iter().enumerate() {
                let item = match cache.get(id as usize) {
                    Some(int) => {
                        pyo3::ffi::Py_IncRef(int.as_ptr());
                        int.as_ptr()
                    }
                    None => pyo3::ffi::PyLong_FromUnsignedLong(std::os::raw::c_ulong::from(id)),
                };
                if item.is_null() {
                    return Err(PyErr::fetch(py));
                }
                pyo3::ffi::PyList_SetItem(list.as_ptr(), i as pyo3::ffi::Py_ssize_t, item);
            }
            // A list of ints cannot be part of a reference cycle, so the
            // cyclic GC need not track it (as CPython does for tuples of
            // atomic objects). Batches create thousands of these lists,
            // and walking them in collections was serial time that capped
            // the speed-up of a second thread. (A list a caller later makes
            // refer to itself would then only be freed when broken up.)
            pyo3::ffi::PyObject_GC_UnTrack(list.as_ptr().cast());
            Ok(list.cast_into_unchecked())
        }
    }
}

/// A Python list of `(start, end)` tuples, built directly: neither the
/// tuples (two ints each) nor the list can be part of a reference cycle,
/// so the cyclic GC does not track them (CPython untracks such tuples at
/// its next collection anyway). Hundreds of thousands of tracked tuples
/// made collections, not the tuples, most of the cost of offsets.
pub fn offsets_list<'py>(
    py: Python<'py>,
    offsets: &[(usize, usize)],
) -> PyResult<Bound<'py, PyList>> {
    use pyo3::ffi;
    // SAFETY: PyList_New and PyTuple_New return new objects (or NULL with
    // an error set, checked); PyList_SetItem and PyTuple_SetItem steal the
    // new references given to them, at indices below the lengths.
    unsafe {
        let list = ffi::PyList_New(offsets.len() as ffi::Py_ssize_t);
        let list = Bound::from_owned_ptr_or_err(py, list)?;
        // One token's end is usually the next one's start: one int for both.
        let mut last: Option<(usize, Bound<'py, PyAny>)> = None;
        for (i, &(start, end)) in offsets.iter().enumerate() {
            let tuple = Bound::from_owned_ptr_or_err(py, ffi::PyTuple_New(2))?;
            for (k, value) in [start, end].into_iter().enumerate() {
                let int = match &last {
                    Some((v, int)) if *v == value => int.clone(),
                    _ => Bound::from_owned_ptr_or_err(py, ffi::PyLong_FromSize_t(value))?,
                };
                last = Some((value, int.clone()));
                ffi::PyTuple_SetItem(tuple.as_ptr(), k as ffi::Py_ssize_t, int.into_ptr());
            }
            ffi::PyObject_GC_UnTrack(tuple.as_ptr().cast());
            ffi::PyList_SetItem(list.as_ptr(), i as ffi::Py_ssize_t, tuple.into_ptr());
        }
        ffi::PyObject_GC_UnTrack(list.as_ptr().cast());
        Ok(list.cast_into_unchecked())
    }
}

/// One token id from any Python integer (IndexError when out of range),
/// the item at `position` of a sequence of ids.
pub fn one(item: &Bound<'_, PyAny>, position: usize) -> PyResult<u32> {
    id_of(item, &format!(" at position {position}"))
}

/// A token id passed alone.
pub fn single(item: &Bound<'_, PyAny>) -> PyResult<u32> {
    id_of(item, "")
}

fn id_of(item: &Bound<'_, PyAny>, place: &str) -> PyResult<u32> {
    let out_of_range = || PyIndexError::new_err(format!("token id {item}{place} is out of range"));
    match item.extract::<i64>() {
        Ok(value) => u32::try_from(value).map_err(|_| out_of_range()),
        // Integers past i64 (Python ints, numpy uint64 from 2^63 up).
        Err(_) if item.is_instance_of::<pyo3::types::PyInt>() || item.extract::<u64>().is_ok() => {
            Err(out_of_range())
        }
        Err(_) => {
            let kind = item
                .get_type()
                .name()
                .map_or_else(|_| "?".to_owned(), |n| n.to_string());
            Err(PyTypeError::new_err(format!(
                "token ids must be integers, got {kind}{place}"
            )))
        }
    }
}

/// Reads token ids from a list, a 1-D integer numpy array or any iterable.
pub fn extract_ids(ids: &Bound<'_, PyAny>) -> PyResult<Vec<u32>> {
    if let Ok(list) = ids.cast::<PyList>() {
        return list_ids(list, one);
    }
    if let Ok(array) = ids.cast::<numpy::PyUntypedArray>() {
        if array.ndim() != 1 {
            return Err(PyValueError::new_err(format!(
                "token ids must be 1-D, got an array of shape {:?}",
                array.shape()
            )));
        }
        if let Ok(a) = ids.extract::<PyReadonlyArray1<'_, u32>>() {
            return Ok(a.as_array().to_vec());
        }
        if let Ok(a) = ids.extract::<PyReadonlyArray1<'_, i64>>() {
            return a
                .as_array()
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    u32::try_from(v).map_err(|_| {
                        PyIndexError::new_err(format!(
                            "token id {v} at position {i} is out of range"
                        ))
                    })
                })
                .collect();
        }
    }
    if ids.is_instance_of::<PyString>() || ids.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(
            "token ids must be a sequence of integers, got a string",
        ));
    }
    let mut out = Vec::new();
    for (i, item) in ids.try_iter()?.enumerate() {
        out.push(one(&item?, i)?);
    }
    Ok(out)
}

/// Reads a list of ids with the C API: decoding is dominated by this loop,
/// and pyo3's generic extraction costs several times more per item.
fn list_ids(
    list: &Bound<'_, PyList>,
    slow: fn(&Bound<'_, PyAny>, usize) -> PyResult<u32>,
) -> PyResult<Vec<u32>> {
    let n = list.len();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // SAFETY: `i < len` of a list we hold a reference to; the item is a
        // borrowed reference used only before the next Python call.
        let value = unsafe {
            let item = pyo3::ffi::PyList_GetItem(list.as_ptr(), i as pyo3::ffi::Py_ssize_t);
            if item.is_null() {
                return Err(PyErr::fetch(list.py()));
            }
            // Ints and anything with __index__ (numpy integers); for other
            // objects this sets a TypeError, handled below.
            pyo3::ffi::PyLong_AsLongLong(item)
        };
        match u32::try_from(value) {
            Ok(id) => out.push(id),
            // Negative, too large, or -1 from an overflow: clear any pending
            // error and let the slow path say which.
            Err(_) => {
                drop(PyErr::take(list.py()));
                let item = list.get_item(i)?;
                return Err(slow(&item, i).err().unwrap_or_else(|| {
                    PyIndexError::new_err(format!(
                        "token id {item} at position {i} is out of range"
                    ))
                }));
            }
        }
    }
    Ok(out)
}

/// Ids (uint32) and their character spans (int64, shape (tokens, 2)).
pub type IdsAndSpans<'py> = (Bound<'py, PyArray1<u32>>, Bound<'py, PyArray2<i64>>);

/// Runs `work` with the GIL released and turns the byte spans it returns
/// into character spans of `text` (Python string indices).
pub fn with_char_spans(
    py: Python<'_>,
    text: &str,
    work: impl FnOnce() -> Result<(Vec<u32>, Offsets), TokenizeError> + Send,
) -> PyResult<(Vec<u32>, Offsets)> {
    enter(py, || {
        work().map(|(ids, mut spans)| {
            char_offsets(text, &mut spans);
            (ids, spans)
        })
    })?
    .map_err(ToPyErr::to_py_err)
}

/// Spans as an int64 array of shape (tokens, 2).
pub fn spans_array<'py>(py: Python<'py>, spans: &Offsets) -> PyResult<Bound<'py, PyArray2<i64>>> {
    let flat: Vec<i64> = spans
        .iter()
        .flat_map(|&(start, end)| [start as i64, end as i64])
        .collect();
    PyArray1::from_vec(py, flat).reshape([spans.len(), 2])
}
