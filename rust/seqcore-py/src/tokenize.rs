//! Bindings of the tokenizer (`seqcore::tokenize`): conversion only.

use std::sync::Arc;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use seqcore::parallel::map_tasks;
use seqcore::tokenize::{
    hf_json, tiktoken_file, tokenizer::Offsets, AddedToken, MergeRule, PreTokenizer, Preset,
    SpecialPolicy, Splitting, Template, TokenizeError, Tokenizer,
};

use crate::encode_forms::{self, Encoder};
use crate::enter::enter;
use crate::errors::ToPyErr;
use crate::ids::{extract_ids, single, IdInts};

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
}

impl Encoder for PyTokenizer {
    fn encode_into(
        &self,
        text: &str,
        policy: &SpecialPolicy,
        add_special_tokens: bool,
        out: &mut Vec<u32>,
    ) -> Result<(), TokenizeError> {
        self.inner
            .encode_into(text, policy, add_special_tokens, out)
    }

    fn encode_with_offsets(
        &self,
        text: &str,
        policy: &SpecialPolicy,
        add_special_tokens: bool,
    ) -> Result<(Vec<u32>, Offsets), TokenizeError> {
        self.inner
            .encode_with_offsets(text, policy, add_special_tokens)
    }

    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }

    fn ints(&self) -> &IdInts {
        &self.ints
    }
}

encode_forms::pymethods_with_encode_forms! {
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
        let build = || tiktoken_file::tokenizer_from_ranks(data, splitting, &special_tokens);
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
        let id = single(id)?;
        self.inner.token_of_id(id).map_err(ToPyErr::to_py_err)
    }

    /// The token's raw bytes.
    fn id_to_bytes<'py>(
        &self,
        py: Python<'py>,
        id: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let id = single(id)?;
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
