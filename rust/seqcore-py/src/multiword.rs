//! Bindings of multi-word tokens (`seqcore::tokenize::multiword`).

use std::sync::Arc;

use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use seqcore::tokenize::multiword::{MultiWord, MAX_MULTIWORD_JSON_BYTES};
use seqcore::tokenize::tokenizer::Offsets;
use seqcore::tokenize::Tokenizer;

use crate::batch::{encode_texts, encode_texts_flat, texts_of, IdsAndBounds};
use crate::enter::enter;
use crate::errors::ToPyErr;
use crate::ids::{extract_ids, offsets_list, spans_array, with_char_spans, IdInts, IdsAndSpans};
use crate::tokenize::{encode_work, policy_or_default, PySpecialPolicy, PyTokenizer};

/// A multi-word vocabulary bound to its base tokenizer.
#[pyclass(frozen, module = "seqcore._core", name = "MultiWord")]
pub struct PyMultiWord {
    inner: Arc<MultiWord>,
    base: Arc<Tokenizer>,
    ints: IdInts,
}

impl PyMultiWord {
    /// The ids of one text and each one's character span, GIL released.
    fn ids_and_offsets(
        &self,
        py: Python<'_>,
        text: &str,
        policy: Option<&Bound<'_, PySpecialPolicy>>,
        add_special_tokens: bool,
    ) -> PyResult<(Vec<u32>, Offsets)> {
        let policy = policy_or_default(policy);
        with_char_spans(py, text, || {
            self.inner
                .encode_with_offsets(&self.base, text, &policy, add_special_tokens)
        })
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
            self.inner
                .encode(&self.base, text, &policy, add_special_tokens)
        })
    }
}

#[pymethods]
impl PyMultiWord {
    /// Learns the top_k most frequent word n-grams of `texts`.
    #[staticmethod]
    fn train(
        py: Python<'_>,
        base: &Bound<'_, PyTokenizer>,
        texts: &Bound<'_, PyAny>,
        orders: Vec<usize>,
        top_k: usize,
        min_count: u64,
    ) -> PyResult<Self> {
        let ints = IdInts::extending(Arc::clone(&base.get().ints), base.get().inner.vocab_size());
        let base = Arc::clone(&base.get().inner);
        let owned: Vec<Bound<'_, PyAny>> = texts.try_iter()?.collect::<PyResult<_>>()?;
        let strs = texts_of(&owned)?;
        let inner = enter(py, || {
            MultiWord::train(&base, &strs, &orders, top_k, min_count)
        })?
        .map_err(ToPyErr::to_py_err)?;
        Ok(PyMultiWord {
            inner: Arc::new(inner),
            base,
            ints,
        })
    }

    /// Reads a saved multi-word vocabulary for `base`.
    #[staticmethod]
    fn from_json(base: &Bound<'_, PyTokenizer>, data: &[u8]) -> PyResult<Self> {
        let ints = IdInts::extending(Arc::clone(&base.get().ints), base.get().inner.vocab_size());
        let base = Arc::clone(&base.get().inner);
        let inner = MultiWord::from_json(data, &base).map_err(ToPyErr::to_py_err)?;
        Ok(PyMultiWord {
            inner: Arc::new(inner),
            base,
            ints,
        })
    }

    /// The saved form (JSON).
    fn to_json(&self) -> String {
        self.inner.to_json()
    }

    /// The n-grams as lists of words, in id order.
    fn ngrams(&self) -> Vec<Vec<String>> {
        self.inner.ngrams().to_vec()
    }

    #[getter]
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }

    #[getter]
    fn base_vocab_size(&self) -> usize {
        self.inner.base_vocab_size()
    }

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

    /// Encodes one text; also returns (start, end) character offsets per
    /// token (an n-gram spans its words).
    #[pyo3(signature = (text, policy=None, add_special_tokens=true))]
    fn encode_with_offsets<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        policy: Option<&Bound<'py, PySpecialPolicy>>,
        add_special_tokens: bool,
    ) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>)> {
        let (ids, spans) = self.ids_and_offsets(py, text, policy, add_special_tokens)?;
        Ok((
            self.ints.list(py, self.inner.vocab_size(), &ids)?,
            offsets_list(py, &spans)?,
        ))
    }

    /// `encode_with_offsets` as arrays: uint32 ids, int64 spans (tokens, 2).
    #[pyo3(signature = (text, policy=None, add_special_tokens=true))]
    fn encode_with_offsets_to_numpy<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        policy: Option<&Bound<'py, PySpecialPolicy>>,
        add_special_tokens: bool,
    ) -> PyResult<IdsAndSpans<'py>> {
        let (ids, spans) = self.ids_and_offsets(py, text, policy, add_special_tokens)?;
        Ok((ids.into_pyarray(py), spans_array(py, &spans)?))
    }

    #[pyo3(signature = (texts, policy=None, add_special_tokens=true))]
    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
        policy: Option<&Bound<'py, PySpecialPolicy>>,
        add_special_tokens: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let policy = policy_or_default(policy);
        encode_texts(
            py,
            texts,
            &self.ints,
            self.inner.vocab_size(),
            |text, out| {
                self.inner
                    .encode_into(&self.base, text, &policy, add_special_tokens, out)
            },
        )
    }

    /// `encode_batch` into one flat uint32 array of ids and int64 bounds.
    #[pyo3(signature = (texts, policy=None, add_special_tokens=true))]
    fn encode_batch_to_numpy<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
        policy: Option<&Bound<'py, PySpecialPolicy>>,
        add_special_tokens: bool,
    ) -> PyResult<IdsAndBounds<'py>> {
        let policy = policy_or_default(policy);
        encode_texts_flat(py, texts, |text, out| {
            self.inner
                .encode_into(&self.base, text, &policy, add_special_tokens, out)
        })
    }

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
            .decode_bytes(&self.base, &ids, skip_special_tokens)
            .map_err(ToPyErr::to_py_err)?;
        Ok(PyBytes::new(py, &bytes))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMultiWord>()?;
    m.add("MAX_MULTIWORD_JSON_BYTES", MAX_MULTIWORD_JSON_BYTES)?;
    Ok(())
}
