//! Bindings of multi-word tokens (`seqcore::tokenize::multiword`).

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use seqcore::tokenize::multiword::{MultiWord, MAX_MULTIWORD_JSON_BYTES, MAX_ORDER};
use seqcore::tokenize::tokenizer::Offsets;
use seqcore::tokenize::{SpecialPolicy, TokenizeError, Tokenizer};

use crate::batch::texts_of;
use crate::encode_forms::{self, Encoder};
use crate::enter::enter;
use crate::errors::ToPyErr;
use crate::ids::{extract_ids, IdInts};
use crate::tokenize::PyTokenizer;

/// A multi-word vocabulary bound to its base tokenizer.
#[pyclass(frozen, module = "seqcore._core", name = "MultiWord")]
pub struct PyMultiWord {
    inner: Arc<MultiWord>,
    base: Arc<Tokenizer>,
    ints: IdInts,
}

impl Encoder for PyMultiWord {
    fn encode_into(
        &self,
        text: &str,
        policy: &SpecialPolicy,
        add_special_tokens: bool,
        out: &mut Vec<u32>,
    ) -> Result<(), TokenizeError> {
        self.inner
            .encode_into(&self.base, text, policy, add_special_tokens, out)
    }

    fn encode_with_offsets(
        &self,
        text: &str,
        policy: &SpecialPolicy,
        add_special_tokens: bool,
    ) -> Result<(Vec<u32>, Offsets), TokenizeError> {
        self.inner
            .encode_with_offsets(&self.base, text, policy, add_special_tokens)
    }

    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }

    fn ints(&self) -> &IdInts {
        &self.ints
    }
}

encode_forms::pymethods_with_encode_forms! {
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

    /// The base-token ids that make up token `id`.
    fn pieces(&self, id: &Bound<'_, PyAny>) -> PyResult<Vec<u32>> {
        let id = crate::ids::single(id)?;
        self.inner
            .pieces(&self.base, id)
            .map_err(ToPyErr::to_py_err)
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
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMultiWord>()?;
    m.add("MAX_MULTIWORD_JSON_BYTES", MAX_MULTIWORD_JSON_BYTES)?;
    m.add("MAX_NGRAM_ORDER", MAX_ORDER)?;
    Ok(())
}
