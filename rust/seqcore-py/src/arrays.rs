//! numpy arrays in, core views out, and back.

use numpy::{
    dtype, Complex32, Complex64, Element, IxDyn, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods,
    PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use seqcore::array::DisplayShape;
use seqcore::ArrayView;

/// The element types the kernels run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F64,
    C64,
    C128,
}

impl Dtype {
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
            Dtype::C64 => "complex64",
            Dtype::C128 => "complex128",
        }
    }
}

/// Calls `$body` with the type alias `$t` bound to the Rust type of `$dtype`.
macro_rules! with_dtype {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            $crate::arrays::Dtype::F32 => {
                type $t = f32;
                $body
            }
            $crate::arrays::Dtype::F64 => {
                type $t = f64;
                $body
            }
            $crate::arrays::Dtype::C64 => {
                type $t = numpy::Complex32;
                $body
            }
            $crate::arrays::Dtype::C128 => {
                type $t = numpy::Complex64;
                $body
            }
        }
    };
}
pub(crate) use with_dtype;

fn as_array<'a, 'py>(
    name: &str,
    obj: &'a Bound<'py, PyAny>,
) -> PyResult<&'a Bound<'py, PyUntypedArray>> {
    obj.cast::<PyUntypedArray>().map_err(|_| {
        let type_name = obj
            .get_type()
            .name()
            .map_or_else(|_| "?".to_owned(), |n| n.to_string());
        PyTypeError::new_err(format!("{name} must be a numpy array, got {type_name}"))
    })
}

/// The kernel dtype of `obj`, or a TypeError naming the argument.
pub fn dtype_of(name: &str, obj: &Bound<'_, PyAny>) -> PyResult<Dtype> {
    let array = as_array(name, obj)?;
    let py = obj.py();
    let found = array.dtype();
    let candidates = [
        (dtype::<f32>(py), Dtype::F32),
        (dtype::<f64>(py), Dtype::F64),
        (dtype::<Complex32>(py), Dtype::C64),
        (dtype::<Complex64>(py), Dtype::C128),
    ];
    for (candidate, kind) in candidates {
        if found.is_equiv_to(&candidate) {
            return Ok(kind);
        }
    }
    Err(PyTypeError::new_err(format!(
        "{name} must have dtype float32, float64, complex64 or complex128, got {found}"
    )))
}

/// Checks that every named array has the dtype of the first one.
pub fn common_dtype(arrays: &[(&str, &Bound<'_, PyAny>)]) -> PyResult<Dtype> {
    let (first_name, first) = arrays[0];
    let expected = dtype_of(first_name, first)?;
    for &(name, obj) in &arrays[1..] {
        let got = dtype_of(name, obj)?;
        if got != expected {
            return Err(PyTypeError::new_err(format!(
                "{first_name} and {name} must have the same dtype, got {} and {}",
                expected.name(),
                got.name()
            )));
        }
    }
    Ok(expected)
}

/// A read-only borrow of `obj` as an array of `T` (whose dtype was checked).
pub fn borrow<'py, T: Element>(
    name: &str,
    obj: &Bound<'py, PyAny>,
) -> PyResult<PyReadonlyArrayDyn<'py, T>> {
    let array = obj
        .cast::<PyArrayDyn<T>>()
        .map_err(|e| PyTypeError::new_err(format!("{name}: {e}")))?;
    array
        .try_readonly()
        .map_err(|e| PyValueError::new_err(format!("{name} cannot be read: {e}")))
}

/// A core view of a C-contiguous array.
pub fn view<'a, T: Element>(
    name: &str,
    array: &'a PyReadonlyArrayDyn<'_, T>,
) -> PyResult<ArrayView<'a, T>> {
    let data = array.as_slice().map_err(|_| {
        PyValueError::new_err(format!(
            "{name} must be C-contiguous (seqcore.scan functions make their inputs contiguous; \
             the low-level _core functions do not)"
        ))
    })?;
    ArrayView::new(data, array.shape()).map_err(|e| PyValueError::new_err(format!("{name}: {e}")))
}

/// A new, uninitialised C-contiguous numpy array for a kernel to fill.
///
/// Outputs are allocated by numpy rather than Rust because numpy asks the
/// kernel for transparent huge pages on large arrays: with 4 KiB pages, the
/// page faults of a fresh output cost more than the scan itself (measured:
/// 6 GB/s instead of 20+ GB/s on a (8, 4096, 1024) float32 scan).
pub fn new_output<'py, T: Element>(py: Python<'py>, shape: &[usize]) -> Bound<'py, PyArrayDyn<T>> {
    // SAFETY: every caller hands the array to a core `*_into` function, which
    // writes every element before the array reaches Python; on an error the
    // array is dropped unread.
    unsafe { PyArrayDyn::<T>::new(py, IxDyn(shape), false) }
}

/// A caller's `out=` array: the right shape, C-contiguous and writeable.
/// (Overlap with an input is refused by numpy's borrow tracking, in
/// [`output_slice`].)
pub fn caller_output<'py, T: Element>(
    name: &str,
    obj: &Bound<'py, PyAny>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    let array = obj
        .cast::<PyArrayDyn<T>>()
        .map_err(|e| PyTypeError::new_err(format!("{name}: {e}")))?;
    if array.shape() != shape {
        return Err(PyValueError::new_err(format!(
            "{name} must have shape {}, got {}",
            DisplayShape(shape),
            DisplayShape(array.shape())
        )));
    }
    if !array.is_c_contiguous() {
        return Err(PyValueError::new_err(format!(
            "{name} must be C-contiguous"
        )));
    }
    Ok(array.clone())
}

/// The writable contents of an output array.
pub fn output_slice<'py, T: Element>(
    array: &Bound<'py, PyArrayDyn<T>>,
) -> PyResult<PyReadwriteArrayDyn<'py, T>> {
    array.try_readwrite().map_err(|e| {
        PyValueError::new_err(format!(
            "the output array cannot be written ({e}); it must be writeable and must not \
                 share memory with an input"
        ))
    })
}

/// Moves an array the core returned into numpy, without copying its data.
pub fn owned_to_numpy<'py, T: Element>(
    py: Python<'py>,
    array: seqcore::Array<T>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(numpy::PyArray1::from_vec(py, array.data)
        .reshape(array.shape)?
        .into_any())
}

/// Sequence lengths from an int64 array (negative ones refused).
pub fn lengths_arg(lengths: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    let array: numpy::PyReadonlyArrayDyn<'_, i64> = borrow("lengths", lengths)
        .map_err(|_| pyo3::exceptions::PyTypeError::new_err("lengths must be an int64 array"))?;
    array
        .as_slice()?
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            usize::try_from(n).map_err(|_| {
                pyo3::exceptions::PyValueError::new_err(format!(
                    "lengths[{i}] is {n}; lengths must be >= 0"
                ))
            })
        })
        .collect()
}
