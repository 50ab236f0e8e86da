//! Bindings of multi-word tokens (`seqcore::tokenize::multiword`).

use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};
use seqcore::tokenize::multiword::{MultiWord, MAX_MULTIWORD_JSON_BYTES};
use seqcore::tokenize::{SpecialPolicy, Tokenizer};

use crate::enter::enter;
use crate::errors::ToPyErr;
use crate::tokenize::{
    batch_tasks, batch_to_lists, extract_ids, IdInts, PySpecialPolicy, PyTokenizer,
};

/// A multi-word vocabulary bound to its base tokenizer.
#[pyclass(frozen, module = "seqcore._core", name = "MultiWord")]
pub struct PyMultiWord {
    inner: Arc<MultiWord>,
    base: Arc<Tokenizer>,
    ints: IdInts,
}

fn texts_of<'a, 'py>(owned: &'a [Bound<'py, PyAny>]) -> PyResult<Vec<&'a str>> {
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

fn policy_of(policy: Option<&Bound<'_, PySpecialPolicy>>) -> SpecialPolicy {
    policy.map_or_else(SpecialPolicy::strict, |p| p.get().policy().clone())
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
            ints: IdInts::default(),
        })
    }

    /// Reads a saved multi-word vocabulary for `base`.
    #[staticmethod]
    fn from_json(base: &Bound<'_, PyTokenizer>, data: &[u8]) -> PyResult<Self> {
        let base = Arc::clone(&base.get().inner);
        let inner = MultiWord::from_json(data, &base).map_err(ToPyErr::to_py_err)?;
        Ok(PyMultiWord {
            inner: Arc::new(inner),
            base,
            ints: IdInts::default(),
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
        let policy = policy_of(policy);
        let run = || {
            self.inner
                .encode(&self.base, text, &policy, add_special_tokens)
        };
        let ids = if text.len() < 512 {
            run()
        } else {
            enter(py, run)?
        }
        .map_err(ToPyErr::to_py_err)?;
        self.ints.list(py, self.inner.vocab_size(), &ids)
    }

    #[pyo3(signature = (texts, policy=None, add_special_tokens=true))]
    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
        policy: Option<&Bound<'py, PySpecialPolicy>>,
        add_special_tokens: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let policy = policy_of(policy);
        let owned: Vec<Bound<'py, PyAny>> = texts.try_iter()?.collect::<PyResult<_>>()?;
        let strs = texts_of(&owned)?;
        let tasks = batch_tasks(&strs);
        let encode_task = |t: usize| {
            strs[tasks[t]..tasks[t + 1]]
                .iter()
                .map(|text| {
                    self.inner
                        .encode(&self.base, text, &policy, add_special_tokens)
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let ints = |ids: &[u32]| self.ints.list(py, self.inner.vocab_size(), ids);
        batch_to_lists(py, &tasks, encode_task, ints)
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
