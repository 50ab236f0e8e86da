//! Bindings of `seqcore::decode`: the search step machine.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use seqcore::decode::{
    Diversity, EarlyStopping, Hypothesis, Score, SearchConfig, SearchOutput, SearchState,
    StepOutput,
};

use crate::enter::{enter, panic_error};
use crate::errors::ToPyErr;

/// Steps over at least this many log-probs release the GIL.
const RELEASE_GIL_AT: usize = 1 << 16;

/// A validated search configuration without a vocabulary yet (token ids
/// are checked against the vocabulary when a search starts).
#[pyclass(frozen, module = "seqcore._core", name = "SearchConfig")]
struct PySearchConfig {
    inner: SearchConfig,
}

#[pymethods]
impl PySearchConfig {
    #[new]
    #[pyo3(signature = (*, num_beams, num_groups, diversity_strength, diversity,
        diversity_ngram_size, length_penalty, early_stopping, num_return_sequences,
        eos_token_ids, pad_token_id, min_new_tokens, max_new_tokens,
        no_repeat_ngram_size, bad_words_ids))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        num_beams: usize,
        num_groups: usize,
        diversity_strength: f64,
        diversity: &str,
        diversity_ngram_size: usize,
        length_penalty: f64,
        early_stopping: &str,
        num_return_sequences: usize,
        eos_token_ids: Vec<u32>,
        pad_token_id: Option<u32>,
        min_new_tokens: usize,
        max_new_tokens: usize,
        no_repeat_ngram_size: usize,
        bad_words_ids: Vec<Vec<u32>>,
    ) -> PyResult<Self> {
        // The largest vocabulary (ids are checked when a search starts).
        let vocab_size = u32::MAX as usize;
        let mut config = SearchConfig::new(vocab_size, num_beams);
        config.num_groups = num_groups;
        config.diversity_strength = diversity_strength;
        config.diversity = match diversity {
            "hamming" => Diversity::Hamming,
            "cumulative" => Diversity::Cumulative,
            "ngram" => Diversity::Ngram(diversity_ngram_size),
            other => {
                return Err(PyValueError::new_err(format!(
                    "diversity must be \"hamming\", \"cumulative\" or \"ngram\", got {other:?}"
                )))
            }
        };
        config.length_penalty = length_penalty;
        config.early_stopping = match early_stopping {
            "heuristic" => EarlyStopping::Heuristic,
            "finish" => EarlyStopping::Finish,
            "never" => EarlyStopping::Never,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown early stopping mode {other:?}"
                )))
            }
        };
        config.num_return_sequences = num_return_sequences;
        config.eos_token_ids = eos_token_ids;
        config.pad_token_id = pad_token_id;
        config.min_new_tokens = min_new_tokens;
        config.max_new_tokens = max_new_tokens;
        config.no_repeat_ngram_size = no_repeat_ngram_size;
        config.bad_words_ids = bad_words_ids;
        config.validate().map_err(ToPyErr::to_py_err)?;
        let inner = config;
        Ok(PySearchConfig { inner })
    }
}

/// The machine in the dtype of the host's log-probs.
enum Machine {
    F32(SearchState<f32>),
    F64(SearchState<f64>),
}

/// A search in progress (`seqcore.decode.SearchState` wraps it).
#[pyclass(module = "seqcore._core", name = "SearchState")]
struct PySearchState {
    machine: Machine,
}

fn rows_array<'py>(py: Python<'py>, values: &[usize]) -> Bound<'py, PyArray1<i64>> {
    values
        .iter()
        .map(|&v| v as i64)
        .collect::<Vec<_>>()
        .into_pyarray(py)
}

fn step_tuple<'py>(py: Python<'py>, out: &StepOutput) -> PyResult<Bound<'py, PyTuple>> {
    let tokens: Vec<i64> = out.tokens.iter().map(|&t| i64::from(t)).collect();
    PyTuple::new(
        py,
        [
            tokens.into_pyarray(py).into_any(),
            rows_array(py, &out.parents).into_any(),
            rows_array(py, &out.rows).into_any(),
        ],
    )
}

/// Runs one step, with the GIL released when the step is large.
fn run_step<'py, T: Score + numpy::Element + Into<f64>>(
    py: Python<'py>,
    state: &mut SearchState<T>,
    size: usize,
    work: impl FnOnce(&mut SearchState<T>) -> Result<StepOutput, seqcore::decode::DecodeError> + Send,
) -> PyResult<Bound<'py, PyTuple>> {
    let out = if size >= RELEASE_GIL_AT {
        enter(py, || work(state))?
    } else {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(state)))
            .map_err(|payload| panic_error(py, payload.as_ref()))?
    }
    .map_err(ToPyErr::to_py_err)?;
    step_tuple(py, &out)
}

fn dense<'py, T: Score + numpy::Element + Into<f64>>(
    py: Python<'py>,
    state: &mut SearchState<T>,
    logprobs: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyTuple>> {
    let array: PyReadonlyArray2<'py, T> = logprobs.extract()?;
    let vocab = array.shape()[1];
    let values = array.as_slice()?;
    run_step(py, state, values.len(), |s| s.step_logprobs(values, vocab))
}

fn candidates<'py, T: Score + numpy::Element + Into<f64>>(
    py: Python<'py>,
    state: &mut SearchState<T>,
    tokens: &Bound<'py, PyAny>,
    logprobs: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyTuple>> {
    let ids: PyReadonlyArray2<'py, i64> = tokens.extract()?;
    let values: PyReadonlyArray2<'py, T> = logprobs.extract()?;
    if ids.shape() != values.shape() {
        return Err(PyValueError::new_err(format!(
            "tokens and logprobs must have the same shape, got {:?} and {:?}",
            ids.shape(),
            values.shape()
        )));
    }
    let k = ids.shape()[1];
    let ids: Vec<u32> = ids
        .as_slice()?
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            u32::try_from(t).map_err(|_| {
                pyo3::exceptions::PyIndexError::new_err(format!(
                    "token id {t} at row {}, position {} is out of range",
                    i / k.max(1),
                    i % k.max(1)
                ))
            })
        })
        .collect::<PyResult<_>>()?;
    let values = values.as_slice()?;
    run_step(py, state, values.len(), |s| {
        s.step_candidates(&ids, values, k)
    })
}

fn hypothesis<'py, T: Score + Into<f64>>(
    py: Python<'py>,
    h: &Hypothesis<T>,
) -> PyResult<Bound<'py, PyTuple>> {
    let scores: Vec<f64> = h.token_scores.iter().map(|&s| s.into()).collect();
    (
        h.tokens.clone(),
        h.score.into(),
        scores,
        h.beam_indices.clone(),
        h.group,
    )
        .into_pyobject(py)
}

fn output<'py, T: Score + Into<f64>>(
    py: Python<'py>,
    out: &SearchOutput<T>,
) -> PyResult<Bound<'py, PyTuple>> {
    let items = |list: &[Hypothesis<T>]| -> PyResult<Bound<'py, PyList>> {
        PyList::new(
            py,
            list.iter()
                .map(|h| hypothesis(py, h))
                .collect::<PyResult<Vec<_>>>()?,
        )
    };
    let sequences = PyList::new(
        py,
        out.sequences
            .iter()
            .map(|item| items(item))
            .collect::<PyResult<Vec<_>>>()?,
    )?;
    let groups = PyList::new(
        py,
        out.per_group
            .iter()
            .map(|item| {
                PyList::new(
                    py,
                    item.iter()
                        .map(|group| items(group))
                        .collect::<PyResult<Vec<_>>>()?,
                )
            })
            .collect::<PyResult<Vec<_>>>()?,
    )?;
    PyTuple::new(py, [sequences.into_any(), groups.into_any()])
}

#[pymethods]
impl PySearchState {
    #[new]
    #[pyo3(signature = (config, *, vocab_size, prompts, double))]
    fn new(
        config: &PySearchConfig,
        vocab_size: usize,
        prompts: Vec<Vec<u32>>,
        double: bool,
    ) -> PyResult<Self> {
        let mut config = config.inner.clone();
        config.vocab_size = vocab_size;
        config.validate().map_err(ToPyErr::to_py_err)?;
        let prompts: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
        let machine = if double {
            Machine::F64(SearchState::new(config, &prompts).map_err(ToPyErr::to_py_err)?)
        } else {
            Machine::F32(SearchState::new(config, &prompts).map_err(ToPyErr::to_py_err)?)
        };
        Ok(PySearchState { machine })
    }

    /// True once every batch item has finished.
    #[getter]
    fn done(&self) -> bool {
        match &self.machine {
            Machine::F32(s) => s.done(),
            Machine::F64(s) => s.done(),
        }
    }

    /// Tokens generated so far per row.
    #[getter]
    fn steps(&self) -> usize {
        match &self.machine {
            Machine::F32(s) => s.generated(),
            Machine::F64(s) => s.generated(),
        }
    }

    /// The rows the next step's log-probs must cover, in order.
    fn active_rows<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        match &self.machine {
            Machine::F32(s) => rows_array(py, s.active_rows()),
            Machine::F64(s) => rows_array(py, s.active_rows()),
        }
    }

    /// One step from (rows, vocab) log-probs: (tokens, parents, rows).
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        logprobs: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        match &mut self.machine {
            Machine::F32(s) => dense(py, s, logprobs),
            Machine::F64(s) => dense(py, s, logprobs),
        }
    }

    /// One step from each row's top-k (tokens, log-probs): (tokens, parents, rows).
    fn step_candidates<'py>(
        &mut self,
        py: Python<'py>,
        tokens: &Bound<'py, PyAny>,
        logprobs: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        match &mut self.machine {
            Machine::F32(s) => candidates(py, s, tokens, logprobs),
            Machine::F64(s) => candidates(py, s, tokens, logprobs),
        }
    }

    /// Candidates `(rows[i], tokens[i])` end their beam at the next step
    /// as an EOS would (stop strings).
    fn finish_on(&mut self, rows: Vec<usize>, tokens: Vec<u32>) -> PyResult<()> {
        if rows.len() != tokens.len() {
            return Err(PyValueError::new_err(format!(
                "rows and tokens must have the same length, got {} and {}",
                rows.len(),
                tokens.len()
            )));
        }
        let pairs: Vec<(usize, u32)> = rows.into_iter().zip(tokens).collect();
        match &mut self.machine {
            Machine::F32(s) => s.finish_on(&pairs),
            Machine::F64(s) => s.finish_on(&pairs),
        }
        .map_err(ToPyErr::to_py_err)
    }

    /// (per item: hypotheses, per item and group: hypotheses); each
    /// hypothesis is (tokens, score, token_scores, beam_indices, group).
    fn finalize<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        match &self.machine {
            Machine::F32(s) => output(py, &s.finalize().map_err(ToPyErr::to_py_err)?),
            Machine::F64(s) => output(py, &s.finalize().map_err(ToPyErr::to_py_err)?),
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySearchConfig>()?;
    m.add_class::<PySearchState>()?;
    Ok(())
}
