//! Bindings of BPE training (`seqcore::tokenize::train`).

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use seqcore::tokenize::train::{train, TrainerConfig, WordCounts};
use seqcore::tokenize::{PreTokenizer, TokenizeError};

use crate::enter::enter;
use crate::errors::ToPyErr;

/// Counts of pre-tokenized words; mergeable across shards and processes.
#[pyclass(module = "seqcore._core", name = "WordCounts")]
#[derive(Default)]
pub struct PyWordCounts {
    counts: WordCounts,
    /// The last pre-tokenizer used, kept so a stream of batches compiles
    /// its pattern once.
    pretokenizer: Option<(String, PreTokenizer)>,
}

#[pymethods]
impl PyWordCounts {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Counts the words of `texts` (split by `pattern`, a preset name or a
    /// regex) in parallel, GIL released.
    fn add_texts(
        &mut self,
        py: Python<'_>,
        texts: &Bound<'_, PyAny>,
        pattern: &str,
    ) -> PyResult<()> {
        let owned: Vec<Bound<'_, PyAny>> = texts.try_iter()?.collect::<PyResult<_>>()?;
        let mut strs = Vec::with_capacity(owned.len());
        for (i, t) in owned.iter().enumerate() {
            let s = t.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "texts must be strings, got {} at position {i}",
                    t.get_type()
                ))
            })?;
            strs.push(s.to_str()?);
        }
        if self.pretokenizer.as_ref().is_none_or(|(p, _)| p != pattern) {
            self.pretokenizer = Some((
                pattern.to_string(),
                PreTokenizer::from_name_or_pattern(pattern).map_err(ToPyErr::to_py_err)?,
            ));
        }
        let (_, pretokenizer) = self.pretokenizer.as_ref().expect("set above");
        let counts = &mut self.counts;
        enter(py, || counts.add_texts(pretokenizer, &strs))?.map_err(ToPyErr::to_py_err)
    }

    /// Adds `count` occurrences of one word (raw bytes).
    fn add_word(&mut self, word: &[u8], count: u64) {
        self.counts.add_word(word, count);
    }

    /// Adds another shard's counts (which stays unchanged).
    fn merge(slf: &Bound<'_, Self>, other: &Bound<'_, PyWordCounts>) -> PyResult<()> {
        // Copied before `slf` is borrowed to change: `c.merge(c)` doubles c.
        let other = other.try_borrow()?.counts.clone();
        slf.try_borrow_mut()?.counts.merge(other);
        Ok(())
    }

    /// The compact, versioned binary form.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.counts.to_bytes())
    }

    /// Reads the binary form; TokenizerFormatError if malformed.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        Ok(PyWordCounts {
            counts: WordCounts::from_bytes(data).map_err(ToPyErr::to_py_err)?,
            pretokenizer: None,
        })
    }

    /// Number of distinct words.
    fn __len__(&self) -> usize {
        self.counts.len()
    }

    /// Total number of words counted.
    #[getter]
    fn total(&self) -> u64 {
        self.counts.total()
    }

    /// The `n` most frequent words as (bytes, count), most frequent first.
    fn most_common<'py>(&self, py: Python<'py>, n: usize) -> Vec<(Bound<'py, PyBytes>, u64)> {
        let mut all: Vec<(&[u8], u64)> = self.counts.iter().collect();
        all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        all.into_iter()
            .take(n)
            .map(|(w, c)| (PyBytes::new(py, w), c))
            .collect()
    }
}

type TrainedTuple<'py> = (Vec<Bound<'py, PyBytes>>, Vec<(u32, u32)>, Vec<u32>);

/// Learns merges from counts; returns (tokens, merges, special_ids).
/// `progress(done, wanted)` is called about every 1% (it may raise to stop).
#[pyfunction]
#[pyo3(signature = (counts, vocab_size, min_frequency, special_tokens, max_token_length=None, progress=None))]
fn train_bpe<'py>(
    py: Python<'py>,
    counts: &Bound<'py, PyWordCounts>,
    vocab_size: usize,
    min_frequency: u64,
    special_tokens: Vec<String>,
    max_token_length: Option<usize>,
    progress: Option<Py<PyAny>>,
) -> PyResult<TrainedTuple<'py>> {
    let config = TrainerConfig {
        vocab_size,
        min_frequency,
        special_tokens,
        max_token_length,
    };
    let counts = counts.try_borrow()?;
    let counts = &counts.counts;
    let mut callback_error: Option<PyErr> = None;
    let result = {
        let callback_error = &mut callback_error;
        let mut report = move |done: usize, wanted: usize| -> bool {
            Python::attach(|py| {
                if let Err(e) = py.check_signals() {
                    *callback_error = Some(e);
                    return false;
                }
                match &progress {
                    Some(f) => match f.call1(py, (done, wanted)) {
                        Ok(_) => true,
                        Err(e) => {
                            *callback_error = Some(e);
                            false
                        }
                    },
                    None => true,
                }
            })
        };
        enter(py, move || train(counts, &config, &mut report))?
    };
    let trained = match result {
        Ok(t) => t,
        Err(TokenizeError::Interrupted) if callback_error.is_some() => {
            return Err(callback_error.expect("checked"));
        }
        Err(e) => return Err(e.to_py_err()),
    };
    let tokens = trained.tokens.iter().map(|t| PyBytes::new(py, t)).collect();
    Ok((tokens, trained.merges, trained.special_ids))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyWordCounts>()?;
    m.add_function(wrap_pyfunction!(train_bpe, m)?)?;
    Ok(())
}
