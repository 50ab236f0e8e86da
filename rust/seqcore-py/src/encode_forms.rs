//! The encode methods both tokenizer classes expose (plain and
//! multi-word): ids as a list or an array, with or without character
//! spans, for one text or a batch. Each is a generic function over
//! [`Encoder`] here, so the classes' methods only name their arguments.

use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use pyo3::types::PyList;
use seqcore::tokenize::tokenizer::Offsets;
use seqcore::tokenize::{SpecialPolicy, TokenizeError};

use crate::batch::{encode_texts, encode_texts_flat, IdsAndBounds};
use crate::enter::{enter, panic_error};
use crate::errors::ToPyErr;
use crate::ids::{offsets_list, spans_array, with_char_spans, IdInts, IdsAndSpans};
use crate::tokenize::{policy_or_default, PySpecialPolicy};

/// Texts shorter than this encode without releasing the GIL: releasing and
/// taking it back costs more than the work.
const SHORT_TEXT: usize = 512;

/// A tokenizer class as the encode forms see it.
pub trait Encoder: Sync {
    /// Appends the ids of `text` to `out`.
    fn encode_into(
        &self,
        text: &str,
        policy: &SpecialPolicy,
        add_special_tokens: bool,
        out: &mut Vec<u32>,
    ) -> Result<(), TokenizeError>;
    /// The ids of `text` and each one's byte span.
    fn encode_with_offsets(
        &self,
        text: &str,
        policy: &SpecialPolicy,
        add_special_tokens: bool,
    ) -> Result<(Vec<u32>, Offsets), TokenizeError>;
    fn vocab_size(&self) -> usize;
    /// The prebuilt Python ints of the vocabulary's ids.
    fn ints(&self) -> &IdInts;
}

/// One text's arguments: the text, the special-token policy and whether
/// the template's tokens are added.
pub type One<'a, 'py> = (&'a str, Option<&'a Bound<'py, PySpecialPolicy>>, bool);
/// A batch's arguments, as [`One`].
pub type Many<'a, 'py> = (
    &'a Bound<'py, PyAny>,
    Option<&'a Bound<'py, PySpecialPolicy>>,
    bool,
);

/// Runs the encoding of `text`: a short text keeps the GIL, a longer one
/// releases it. Either way a panic becomes `seqcore.InternalError`.
fn encode_work<T: Send>(
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

fn ids(e: &impl Encoder, py: Python<'_>, (text, policy, add): One<'_, '_>) -> PyResult<Vec<u32>> {
    let policy = policy_or_default(policy);
    encode_work(py, text, || {
        let mut out = Vec::with_capacity(text.len() / 4 + 4);
        e.encode_into(text, &policy, add, &mut out).map(|()| out)
    })
}

fn ids_and_spans(
    e: &impl Encoder,
    py: Python<'_>,
    (text, policy, add): One<'_, '_>,
) -> PyResult<(Vec<u32>, Offsets)> {
    let policy = policy_or_default(policy);
    with_char_spans(py, text, || e.encode_with_offsets(text, &policy, add))
}

/// `encode`: a list of ids.
pub fn list<'py>(
    e: &impl Encoder,
    py: Python<'py>,
    args: One<'_, 'py>,
) -> PyResult<Bound<'py, PyList>> {
    let ids = ids(e, py, args)?;
    e.ints().list(py, e.vocab_size(), &ids)
}

/// `encode_to_numpy`: a uint32 array of ids.
pub fn array<'py>(
    e: &impl Encoder,
    py: Python<'py>,
    args: One<'_, 'py>,
) -> PyResult<Bound<'py, PyArray1<u32>>> {
    Ok(ids(e, py, args)?.into_pyarray(py))
}

/// `encode_with_offsets`: a list of ids and a list of (start, end).
pub fn lists_with_spans<'py>(
    e: &impl Encoder,
    py: Python<'py>,
    args: One<'_, 'py>,
) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>)> {
    let (ids, spans) = ids_and_spans(e, py, args)?;
    Ok((
        e.ints().list(py, e.vocab_size(), &ids)?,
        offsets_list(py, &spans)?,
    ))
}

/// `encode_with_offsets_to_numpy`: uint32 ids, int64 spans (tokens, 2).
pub fn arrays_with_spans<'py>(
    e: &impl Encoder,
    py: Python<'py>,
    args: One<'_, 'py>,
) -> PyResult<IdsAndSpans<'py>> {
    let (ids, spans) = ids_and_spans(e, py, args)?;
    Ok((ids.into_pyarray(py), spans_array(py, &spans)?))
}

/// `encode_batch`: a list of lists, encoded in parallel.
pub fn batch_lists<'py>(
    e: &impl Encoder,
    py: Python<'py>,
    (texts, policy, add): Many<'_, 'py>,
) -> PyResult<Bound<'py, PyList>> {
    let policy = policy_or_default(policy);
    encode_texts(py, texts, e.ints(), e.vocab_size(), |text, out| {
        e.encode_into(text, &policy, add, out)
    })
}

/// `encode_batch_to_numpy`: flat uint32 ids and int64 bounds.
pub fn batch_arrays<'py>(
    e: &impl Encoder,
    py: Python<'py>,
    (texts, policy, add): Many<'_, 'py>,
) -> PyResult<IdsAndBounds<'py>> {
    let policy = policy_or_default(policy);
    encode_texts_flat(py, texts, |text, out| {
        e.encode_into(text, &policy, add, out)
    })
}

/// The `#[pymethods]` block of a tokenizer class that implements
/// [`Encoder`]: every encode form (one text or a batch; ids as a list or an
/// array; with or without character spans), then the class's own methods
/// as written inside the braces. pyo3 takes one such block per class
/// (without its `multiple-pymethods` feature), so the shared methods come
/// in through this macro rather than a second block. (rustfmt leaves a
/// macro call's body alone: format the methods inside by hand.)
macro_rules! pymethods_with_encode_forms {
    (impl $class:ty { $($own:tt)* }) => {
        #[pyo3::pymethods]
        impl $class {
            /// Encodes one text into a list of ids.
            #[pyo3(signature = (text, policy=None, add_special_tokens=true))]
            fn encode<'py>(
                &self,
                py: pyo3::Python<'py>,
                text: &str,
                policy: Option<&pyo3::Bound<'py, $crate::tokenize::PySpecialPolicy>>,
                add_special_tokens: bool,
            ) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::types::PyList>> {
                $crate::encode_forms::list(self, py, (text, policy, add_special_tokens))
            }

            /// Encodes one text into a uint32 array of ids (no Python int per id).
            #[pyo3(signature = (text, policy=None, add_special_tokens=true))]
            fn encode_to_numpy<'py>(
                &self,
                py: pyo3::Python<'py>,
                text: &str,
                policy: Option<&pyo3::Bound<'py, $crate::tokenize::PySpecialPolicy>>,
                add_special_tokens: bool,
            ) -> pyo3::PyResult<pyo3::Bound<'py, numpy::PyArray1<u32>>> {
                $crate::encode_forms::array(self, py, (text, policy, add_special_tokens))
            }

            /// Encodes one text; also returns (start, end) character offsets
            /// per token (a multi-word token spans its words).
            #[pyo3(signature = (text, policy=None, add_special_tokens=true))]
            fn encode_with_offsets<'py>(
                &self,
                py: pyo3::Python<'py>,
                text: &str,
                policy: Option<&pyo3::Bound<'py, $crate::tokenize::PySpecialPolicy>>,
                add_special_tokens: bool,
            ) -> pyo3::PyResult<(
                pyo3::Bound<'py, pyo3::types::PyList>,
                pyo3::Bound<'py, pyo3::types::PyList>,
            )> {
                $crate::encode_forms::lists_with_spans(self, py, (text, policy, add_special_tokens))
            }

            /// `encode_with_offsets` as arrays: uint32 ids and int64 offsets
            /// of shape (tokens, 2).
            #[pyo3(signature = (text, policy=None, add_special_tokens=true))]
            fn encode_with_offsets_to_numpy<'py>(
                &self,
                py: pyo3::Python<'py>,
                text: &str,
                policy: Option<&pyo3::Bound<'py, $crate::tokenize::PySpecialPolicy>>,
                add_special_tokens: bool,
            ) -> pyo3::PyResult<$crate::ids::IdsAndSpans<'py>> {
                $crate::encode_forms::arrays_with_spans(self, py, (text, policy, add_special_tokens))
            }

            /// Encodes many texts in parallel on seqcore's pool, GIL released.
            #[pyo3(signature = (texts, policy=None, add_special_tokens=true))]
            fn encode_batch<'py>(
                &self,
                py: pyo3::Python<'py>,
                texts: &pyo3::Bound<'py, pyo3::PyAny>,
                policy: Option<&pyo3::Bound<'py, $crate::tokenize::PySpecialPolicy>>,
                add_special_tokens: bool,
            ) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::types::PyList>> {
                $crate::encode_forms::batch_lists(self, py, (texts, policy, add_special_tokens))
            }

            /// `encode_batch` into one flat uint32 array of ids and int64
            /// bounds (text i's ids are `ids[bounds[i]:bounds[i + 1]]`).
            #[pyo3(signature = (texts, policy=None, add_special_tokens=true))]
            fn encode_batch_to_numpy<'py>(
                &self,
                py: pyo3::Python<'py>,
                texts: &pyo3::Bound<'py, pyo3::PyAny>,
                policy: Option<&pyo3::Bound<'py, $crate::tokenize::PySpecialPolicy>>,
                add_special_tokens: bool,
            ) -> pyo3::PyResult<$crate::batch::IdsAndBounds<'py>> {
                $crate::encode_forms::batch_arrays(self, py, (texts, policy, add_special_tokens))
            }

            $($own)*
        }
    };
}
pub(crate) use pymethods_with_encode_forms;
