//! Bindings of the tokenizer (`seqcore::tokenize`): conversion only.

use std::sync::Arc;

use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyIndexError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use seqcore::parallel::map_tasks;
use seqcore::tokenize::{
    hf_json, tiktoken_file,
    tokenizer::{char_offsets, Offsets},
    AddedToken, MergeRule, PreTokenizer, Preset, SpecialPolicy, Splitting, Template, TokenizeError,
    Tokenizer,
};

use crate::enter::{enter, panic_error};
use crate::errors::ToPyErr;

/// Ids (uint32) and their character spans (int64, shape (tokens, 2)).
type IdsAndSpans<'py> = (Bound<'py, PyArray1<u32>>, Bound<'py, PyArray2<i64>>);

/// A batch's ids (uint32, all texts one after another) and bounds (int64:
/// text i's ids are `ids[bounds[i]..bounds[i + 1]]`).
pub type IdsAndBounds<'py> = (Bound<'py, PyArray1<u32>>, Bound<'py, PyArray1<i64>>);

/// Texts shorter than this encode without releasing the GIL: releasing and
/// taking it back costs more than the work.
const SHORT_TEXT: usize = 512;

/// Runs the encoding of `text`: a short text keeps the GIL (releasing and
/// taking it back costs more than the work), a longer one releases it.
/// Either way a panic becomes `seqcore.InternalError`.
pub fn encode_work<T: Send>(
    py: Python<'_>,
    text: &str,
    work: impl FnOnce() -> Result<T, TokenizeError> + Send,
) -> PyResult<T> {
    let outcome = if text.len() < SHORT_TEXT {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
            .map_err(|payload| panic_error(py, payload.as_ref()))?
    } else {
        enter(py, work)?
    };
    outcome.map_err(ToPyErr::to_py_err)
}

/// Which special tokens encode as themselves (see `SpecialPolicy`).
#[pyclass(frozen, module = "seqcore._core", name = "SpecialPolicy")]
pub struct PySpecialPolicy(SpecialPolicy);

impl PySpecialPolicy {
    pub fn policy(&self) -> &SpecialPolicy {
        &self.0
    }
}

#[pymethods]
impl PySpecialPolicy {
    #[new]
    #[pyo3(signature = (allow_all=false, allowed=None, disallow_all=true, disallowed=None))]
    fn new(
        allow_all: bool,
        allowed: Option<Vec<u32>>,
        disallow_all: bool,
        disallowed: Option<Vec<u32>>,
    ) -> Self {
        PySpecialPolicy(SpecialPolicy {
            allow_all,
            allowed: allowed.unwrap_or_default(),
            disallow_all,
            disallowed: disallowed.unwrap_or_default(),
        })
    }
}

/// A byte-level BPE tokenizer (immutable; share it between threads freely).
#[pyclass(frozen, module = "seqcore._core", name = "Tokenizer")]
pub struct PyTokenizer {
    pub inner: Arc<Tokenizer>,
    /// One Python int per id, made on first use (see [`IdInts`]).
    pub ints: Arc<IdInts>,
}

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

fn pattern_splitting(pattern: Option<&str>, add_prefix_space: bool) -> PyResult<Splitting> {
    let pretokenizer = match pattern {
        None => None,
        Some(p) => Some(PreTokenizer::from_name_or_pattern(p).map_err(ToPyErr::to_py_err)?),
    };
    Ok(Splitting {
        pretokenizer,
        add_prefix_space,
    })
}

fn specials_from(specials: Vec<(String, u32)>) -> Vec<AddedToken> {
    specials
        .into_iter()
        .map(|(content, id)| AddedToken::special(id, &content))
        .collect()
}

/// One token id from any Python integer (IndexError when out of range).
fn one(item: &Bound<'_, PyAny>, position: usize) -> PyResult<u32> {
    let out_of_range = || {
        PyIndexError::new_err(format!(
            "token id {item} at position {position} is out of range"
        ))
    };
    match item.extract::<i64>() {
        Ok(value) => u32::try_from(value).map_err(|_| out_of_range()),
        Err(_) if item.is_instance_of::<pyo3::types::PyInt>() => Err(out_of_range()),
        Err(_) => {
            let kind = item
                .get_type()
                .name()
                .map_or_else(|_| "?".to_owned(), |n| n.to_string());
            Err(PyTypeError::new_err(format!(
                "token ids must be integers, got {kind} at position {position}"
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

/// Decodes UTF-8 into a Python string with Python's error handlers, in one
/// pass (CPython's decoder validates as it copies).
fn bytes_to_str<'py>(py: Python<'py>, bytes: &[u8], errors: &str) -> PyResult<Bound<'py, PyAny>> {
    let errors = std::ffi::CString::new(errors)
        .map_err(|_| PyValueError::new_err("errors must not contain NUL"))?;
    // SAFETY: pointer and length describe `bytes`; errors is NUL-terminated.
    unsafe {
        let obj = pyo3::ffi::PyUnicode_DecodeUTF8(
            bytes.as_ptr().cast(),
            bytes.len() as pyo3::ffi::Py_ssize_t,
            errors.as_ptr(),
        );
        Bound::from_owned_ptr_or_err(py, obj)
    }
}

pub fn policy_or_default(policy: Option<&Bound<'_, PySpecialPolicy>>) -> SpecialPolicy {
    policy.map_or_else(SpecialPolicy::strict, |p| p.get().0.clone())
}

impl PyTokenizer {
    fn wrap(tokenizer: Tokenizer) -> Self {
        PyTokenizer {
            inner: Arc::new(tokenizer),
            ints: Arc::default(),
        }
    }

    /// The ids of one text (see [`encode_work`]).
    fn encode_ids(
        &self,
        py: Python<'_>,
        text: &str,
        policy: Option<&Bound<'_, PySpecialPolicy>>,
        add_special_tokens: bool,
    ) -> PyResult<Vec<u32>> {
        let policy = policy_or_default(policy);
        encode_work(py, text, || {
            self.inner.encode(text, &policy, add_special_tokens)
        })
    }

    /// The ids of one text and each one's character span, GIL released.
    fn ids_and_offsets(
        &self,
        py: Python<'_>,
        text: &str,
        policy: Option<&Bound<'_, PySpecialPolicy>>,
        add_special_tokens: bool,
    ) -> PyResult<(Vec<u32>, Offsets)> {
        let policy = policy_or_default(policy);
        enter(py, || {
            self.inner
                .encode_with_offsets(text, &policy, add_special_tokens)
                .map(|(ids, mut offsets)| {
                    char_offsets(text, &mut offsets);
                    (ids, offsets)
                })
        })?
        .map_err(ToPyErr::to_py_err)
    }
}

#[pymethods]
impl PyTokenizer {
    /// Loads a Hugging Face `tokenizer.json` document.
    #[staticmethod]
    fn from_json(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let tokenizer = enter(py, || hf_json::from_json(data))?.map_err(ToPyErr::to_py_err)?;
        Ok(PyTokenizer::wrap(tokenizer))
    }

    /// Loads a tiktoken rank file with a pre-tokenizer (preset name or
    /// regex pattern) and special tokens `[(content, id)]`.
    #[staticmethod]
    #[pyo3(signature = (data, pattern, special_tokens))]
    fn from_ranks(
        py: Python<'_>,
        data: &[u8],
        pattern: &str,
        special_tokens: Vec<(String, u32)>,
    ) -> PyResult<Self> {
        let splitting = pattern_splitting(Some(pattern), false)?;
        let build = || -> Result<Tokenizer, TokenizeError> {
            let ranks = tiktoken_file::parse_ranks(data)?;
            let tokens: Vec<(u32, &[u8])> = ranks.iter().map(|(r, b)| (*r, &b[..])).collect();
            Tokenizer::new(
                &tokens,
                Vec::new(),
                MergeRule::Ranks,
                splitting,
                specials_from(special_tokens),
                Template::default(),
            )
        };
        let tokenizer = enter(py, build)?.map_err(ToPyErr::to_py_err)?;
        Ok(PyTokenizer::wrap(tokenizer))
    }

    /// Builds a tokenizer from token bytes (id = position) and merges (pairs
    /// of ids, in rank order), e.g. what the trainer learned.
    #[staticmethod]
    #[pyo3(signature = (tokens, merges, pattern, special_tokens, add_prefix_space=false))]
    fn from_merges(
        py: Python<'_>,
        tokens: Vec<Vec<u8>>,
        merges: Vec<(u32, u32)>,
        pattern: Option<&str>,
        special_tokens: Vec<(String, u32)>,
        add_prefix_space: bool,
    ) -> PyResult<Self> {
        let splitting = pattern_splitting(pattern, add_prefix_space)?;
        let build = || {
            let refs: Vec<(u32, &[u8])> = tokens
                .iter()
                .enumerate()
                .map(|(i, b)| (i as u32, &b[..]))
                .collect();
            Tokenizer::new(
                &refs,
                merges,
                MergeRule::Merges {
                    ignore_merges: false,
                },
                splitting,
                specials_from(special_tokens),
                Template::default(),
            )
        };
        let tokenizer = enter(py, build)?.map_err(ToPyErr::to_py_err)?;
        Ok(PyTokenizer::wrap(tokenizer))
    }

    /// The `tokenizer.json` document.
    fn to_json(&self, py: Python<'_>) -> PyResult<String> {
        enter(py, || hf_json::to_json(&self.inner))?.map_err(ToPyErr::to_py_err)
    }

    /// The rank file (only for tokenizers loaded from one).
    fn to_ranks(&self) -> PyResult<String> {
        if self.inner.rule() != MergeRule::Ranks {
            return Err(PyValueError::new_err(
                "only a tokenizer loaded from a rank file can be written as one (merges do not reduce to ranks)",
            ));
        }
        let vocab = self.inner.vocab();
        Ok(tiktoken_file::write_ranks(vocab.iter().filter_map(
            |(id, bytes, kind)| {
                (kind == seqcore::tokenize::vocab::TokenKind::Merged).then_some((id, bytes))
            },
        )))
    }

    /// "ranks" (tiktoken) or "merges" (Hugging Face).
    #[getter]
    fn rule(&self) -> &'static str {
        match self.inner.rule() {
            MergeRule::Ranks => "ranks",
            MergeRule::Merges { .. } => "merges",
        }
    }

    /// The pre-tokenization pattern, or None.
    #[getter]
    fn pattern(&self) -> Option<String> {
        self.inner
            .splitting()
            .pretokenizer
            .as_ref()
            .map(|p| p.pattern().to_string())
    }

    /// One past the largest id.
    #[getter]
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }

    /// The added tokens as (content, id, special).
    fn added_tokens(&self) -> Vec<(String, u32, bool)> {
        self.inner
            .added_tokens()
            .iter()
            .map(|t| (t.content.clone(), t.id, t.special))
            .collect()
    }

    /// Encodes one text into a list of ids.
    #[pyo3(signature = (text, policy=None, add_special_tokens=true))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        policy: Option<&Bound<'py, PySpecialPolicy>>,
        add_special_tokens: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let ids = self.encode_ids(py, text, policy, add_special_tokens)?;
        self.ints.list(py, self.inner.vocab_size(), &ids)
    }

    /// Encodes one text into a uint32 array of ids (no Python int per id).
    #[pyo3(signature = (text, policy=None, add_special_tokens=true))]
    fn encode_to_numpy<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        policy: Option<&Bound<'py, PySpecialPolicy>>,
        add_special_tokens: bool,
    ) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let ids = self.encode_ids(py, text, policy, add_special_tokens)?;
        Ok(ids.into_pyarray(py))
    }

    /// Encodes one text; also returns (start, end) character offsets per token.
    #[pyo3(signature = (text, policy=None, add_special_tokens=true))]
    fn encode_with_offsets<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        policy: Option<&Bound<'py, PySpecialPolicy>>,
        add_special_tokens: bool,
    ) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>)> {
        let (ids, offsets) = self.ids_and_offsets(py, text, policy, add_special_tokens)?;
        Ok((
            self.ints.list(py, self.inner.vocab_size(), &ids)?,
            offsets_list(py, &offsets)?,
        ))
    }

    /// [`Self::encode_with_offsets`] as arrays: uint32 ids and int64
    /// offsets of shape (tokens, 2).
    #[pyo3(signature = (text, policy=None, add_special_tokens=true))]
    fn encode_with_offsets_to_numpy<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        policy: Option<&Bound<'py, PySpecialPolicy>>,
        add_special_tokens: bool,
    ) -> PyResult<IdsAndSpans<'py>> {
        let (ids, offsets) = self.ids_and_offsets(py, text, policy, add_special_tokens)?;
        let n = offsets.len();
        let flat: Vec<i64> = offsets
            .iter()
            .flat_map(|&(start, end)| [start as i64, end as i64])
            .collect();
        let spans = PyArray1::from_vec(py, flat).reshape([n, 2])?;
        Ok((ids.into_pyarray(py), spans))
    }

    /// Encodes many texts in parallel on seqcore's pool, GIL released.
    #[pyo3(signature = (texts, policy=None, add_special_tokens=true))]
    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
        policy: Option<&Bound<'py, PySpecialPolicy>>,
        add_special_tokens: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let policy = policy_or_default(policy);
        let inner = &self.inner;
        encode_texts(py, texts, &self.ints, inner.vocab_size(), |text, out| {
            inner.encode_into(text, &policy, add_special_tokens, out)
        })
    }

    /// [`Self::encode_batch`] into one flat uint32 array of ids and int64
    /// bounds (text i's ids are `ids[bounds[i]:bounds[i + 1]]`).
    #[pyo3(signature = (texts, policy=None, add_special_tokens=true))]
    fn encode_batch_to_numpy<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
        policy: Option<&Bound<'py, PySpecialPolicy>>,
        add_special_tokens: bool,
    ) -> PyResult<IdsAndBounds<'py>> {
        let policy = policy_or_default(policy);
        let inner = &self.inner;
        encode_texts_flat(py, texts, |text, out| {
            inner.encode_into(text, &policy, add_special_tokens, out)
        })
    }

    /// The bytes of `ids`, concatenated.
    #[pyo3(signature = (ids, skip_special_tokens=false))]
    fn decode_bytes<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
        skip_special_tokens: bool,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let ids = extract_ids(ids)?;
        let bytes = self
            .inner
            .decode_bytes(&ids, skip_special_tokens)
            .map_err(ToPyErr::to_py_err)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The text of `ids`; `errors` is a Python codec error handler for
    /// byte sequences that are not valid UTF-8.
    #[pyo3(signature = (ids, skip_special_tokens=false, errors="replace"))]
    fn decode<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
        skip_special_tokens: bool,
        errors: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ids = extract_ids(ids)?;
        let bytes = self
            .inner
            .decode_bytes(&ids, skip_special_tokens)
            .map_err(ToPyErr::to_py_err)?;
        bytes_to_str(py, &bytes, errors)
    }

    /// Decodes many id lists in parallel.
    #[pyo3(signature = (batch, skip_special_tokens=false, errors="replace"))]
    fn decode_batch<'py>(
        &self,
        py: Python<'py>,
        batch: &Bound<'py, PyAny>,
        skip_special_tokens: bool,
        errors: &str,
    ) -> PyResult<Bound<'py, PyList>> {
        let lists: Vec<Vec<u32>> = batch
            .try_iter()?
            .map(|item| extract_ids(&item?))
            .collect::<PyResult<_>>()?;
        let inner = &self.inner;
        let decoded = enter(py, || {
            map_tasks(lists.len(), |i| {
                inner.decode_bytes(&lists[i], skip_special_tokens)
            })
        })?;
        let out = PyList::empty(py);
        for bytes in decoded {
            out.append(bytes_to_str(
                py,
                &bytes.map_err(ToPyErr::to_py_err)?,
                errors,
            )?)?;
        }
        Ok(out)
    }

    /// The id of a token: `str` as tokenizer.json spells it (or an added
    /// token's content), `bytes` as its raw bytes. None if absent.
    fn token_to_id(&self, token: &Bound<'_, PyAny>) -> PyResult<Option<u32>> {
        if let Ok(s) = token.cast::<PyString>() {
            return Ok(self.inner.id_of_token(s.to_str()?));
        }
        if let Ok(b) = token.cast::<PyBytes>() {
            return Ok(self.inner.id_of_bytes(b.as_bytes()));
        }
        Err(PyTypeError::new_err(format!(
            "token must be str or bytes, got {}",
            token.get_type()
        )))
    }

    /// The token's tokenizer.json spelling.
    fn id_to_token(&self, id: &Bound<'_, PyAny>) -> PyResult<String> {
        let id = one(id, 0)?;
        self.inner.token_of_id(id).map_err(ToPyErr::to_py_err)
    }

    /// The token's raw bytes.
    fn id_to_bytes<'py>(
        &self,
        py: Python<'py>,
        id: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let id = one(id, 0)?;
        self.inner.check_ids(&[id]).map_err(ToPyErr::to_py_err)?;
        Ok(PyBytes::new(
            py,
            self.inner.vocab().bytes(id).unwrap_or_default(),
        ))
    }

    /// {tokenizer.json spelling: id} for every token.
    fn get_vocab<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (id, _, _) in self.inner.vocab().iter() {
            out.set_item(self.inner.token_of_id(id).map_err(ToPyErr::to_py_err)?, id)?;
        }
        Ok(out)
    }
}

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

/// The pattern of a named preset ("gpt2", "cl100k", "o200k").
#[pyfunction]
fn preset_pattern(name: &str) -> PyResult<&'static str> {
    Preset::from_name(name).map(Preset::pattern).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown pattern preset {name:?}; expected 'gpt2', 'cl100k', 'o200k' or 'llama3'"
        ))
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTokenizer>()?;
    m.add_class::<PySpecialPolicy>()?;
    m.add_function(wrap_pyfunction!(preset_pattern, m)?)?;
    m.add("MAX_JSON_BYTES", hf_json::MAX_JSON_BYTES)?;
    m.add("MAX_RANK_FILE_BYTES", tiktoken_file::MAX_RANK_FILE_BYTES)?;
    Ok(())
}
