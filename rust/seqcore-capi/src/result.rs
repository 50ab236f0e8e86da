//! `SeqcoreSearchResult`: the hypotheses a finished search returns.

use seqcore::decode::{Score, SearchOutput};

use crate::error::{guard, guard_free, Failure, Outcome, SeqcoreStatus};
use crate::ptr::{borrow, fill, write};

/// The result of a search (opaque): per batch item, its best
/// `num_return_sequences` hypotheses, best first. Made by
/// seqcore_search_finalize(), released by seqcore_search_result_free().
/// Scores are doubles; a float32 search's scores are its float values,
/// widened exactly.
pub struct SeqcoreSearchResult {
    items: Vec<Vec<Hyp>>,
}

/// One hypothesis, with float scores widened to `f64`.
struct Hyp {
    tokens: Vec<u32>,
    score: f64,
    token_scores: Vec<f64>,
    beam_indices: Vec<usize>,
    group: usize,
    finished: bool,
}

impl SeqcoreSearchResult {
    pub(crate) fn new<T: Score>(output: SearchOutput<T>) -> Self {
        let items = output
            .sequences
            .into_iter()
            .map(|item| {
                item.into_iter()
                    .map(|h| Hyp {
                        tokens: h.tokens,
                        score: h.score.to_f64(),
                        token_scores: h.token_scores.into_iter().map(Score::to_f64).collect(),
                        beam_indices: h.beam_indices,
                        group: h.group,
                        finished: h.finished,
                    })
                    .collect()
            })
            .collect();
        Self { items }
    }

    fn item(&self, item: usize) -> Outcome<&[Hyp]> {
        self.items.get(item).map(Vec::as_slice).ok_or_else(|| {
            Failure::invalid(format!(
                "item {item} is out of range: the result has {} items",
                self.items.len()
            ))
        })
    }

    fn hyp(&self, item: usize, index: usize) -> Outcome<&Hyp> {
        let hyps = self.item(item)?;
        hyps.get(index).ok_or_else(|| {
            Failure::invalid(format!(
                "hypothesis {index} is out of range: item {item} has {} hypotheses",
                hyps.len()
            ))
        })
    }
}

/// Releases a result. NULL is a no-op; freeing twice is undefined behaviour.
///
/// @param result The handle, or NULL.
///
/// # Safety
///
/// `result` is NULL or a handle from seqcore_search_finalize() that was not
/// freed yet.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_result_free(result: *mut SeqcoreSearchResult) {
    guard_free(|| {
        if !result.is_null() {
            // SAFETY: a non-NULL `result` came from Box::into_raw in
            // seqcore_search_finalize and was not freed, by the caller's
            // promise; ownership returns to the Box, which drops it.
            drop(unsafe { Box::from_raw(result) });
        }
    })
}

/// Reads one value of the result behind `result` and stores it at `out`.
///
/// # Safety
///
/// `result` is NULL or a live result handle; `out` is NULL or valid for a
/// write.
unsafe fn query<T>(
    result: *const SeqcoreSearchResult,
    out: *mut T,
    out_name: &str,
    read: impl FnOnce(&SeqcoreSearchResult) -> Outcome<T>,
) -> SeqcoreStatus {
    guard(|| {
        if out.is_null() {
            return Err(Failure::invalid(format!("{out_name} is NULL")));
        }
        // SAFETY: `result` is NULL or a live handle, by the caller's promise.
        let value = read(unsafe { borrow(result, "result")? })?;
        // SAFETY: `out` is valid for a write, by the caller's promise.
        unsafe { write(out, value, out_name) }
    })
}

/// Copies one array of hypothesis `(item, index)` into the caller's buffer.
///
/// # Safety
///
/// `result` is NULL or a live result handle; `out` is NULL or valid for
/// writes of `capacity` elements; `out_len` is NULL or valid for a write.
unsafe fn copy_array<T: Copy>(
    result: *const SeqcoreSearchResult,
    (item, index): (usize, usize),
    out: *mut T,
    capacity: usize,
    out_len: *mut usize,
    out_name: &str,
    field: impl FnOnce(&Hyp) -> &[T],
) -> SeqcoreStatus {
    guard(|| {
        // SAFETY: `result` is NULL or a live handle, by the caller's promise.
        let hyp = unsafe { borrow(result, "result")? }.hyp(item, index)?;
        // SAFETY: the output pointers are NULL or as valid as documented, by
        // the caller's promise, and cannot overlap the result's own memory.
        unsafe { fill(field(hyp), out, capacity, out_len, out_name) }
    })
}

/// The number of batch items.
///
/// @param result The result.
/// @param out_count Receives the count.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT for a NULL
///   pointer.
///
/// # Safety
///
/// `result` is NULL or a live result handle; `out_count` is NULL or valid
/// for a write.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_result_num_items(
    result: *const SeqcoreSearchResult,
    out_count: *mut usize,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promises.
    unsafe { query(result, out_count, "out_count", |r| Ok(r.items.len())) }
}

/// The number of hypotheses of batch item `item` (`num_return_sequences`).
///
/// @param result The result.
/// @param item The batch item, below seqcore_search_result_num_items().
/// @param out_count Receives the count.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT for a NULL
///   pointer or an index out of range.
///
/// # Safety
///
/// `result` is NULL or a live result handle; `out_count` is NULL or valid
/// for a write.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_result_num_hypotheses(
    result: *const SeqcoreSearchResult,
    item: usize,
    out_count: *mut usize,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promises.
    unsafe { query(result, out_count, "out_count", |r| Ok(r.item(item)?.len())) }
}

/// The number of tokens of hypothesis `index` of batch item `item`.
///
/// @param result The result.
/// @param item The batch item.
/// @param index The hypothesis, 0 being the best.
/// @param out_count Receives the count.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT for a NULL
///   pointer or an index out of range.
///
/// # Safety
///
/// `result` is NULL or a live result handle; `out_count` is NULL or valid
/// for a write.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_result_num_tokens(
    result: *const SeqcoreSearchResult,
    item: usize,
    index: usize,
    out_count: *mut usize,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promises.
    unsafe {
        query(result, out_count, "out_count", |r| {
            Ok(r.hyp(item, index)?.tokens.len())
        })
    }
}

/// The generated tokens of a hypothesis (no prompt), ending with the EOS
/// token when it ended on one.
///
/// @param result The result.
/// @param item The batch item.
/// @param index The hypothesis, 0 being the best.
/// @param out_tokens The caller's buffer (may be NULL when `capacity` is 0).
/// @param capacity The buffer's length in elements.
/// @param out_len Receives the number of tokens, also when the buffer is
///   too small.
/// @return SEQCORE_STATUS_OK; SEQCORE_STATUS_BUFFER_TOO_SMALL (nothing
///   copied); SEQCORE_STATUS_INVALID_ARGUMENT for a NULL pointer or an index
///   out of range.
///
/// # Safety
///
/// `result` is NULL or a live result handle; `out_tokens` is NULL or valid
/// for writes of `capacity` elements; `out_len` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_result_tokens(
    result: *const SeqcoreSearchResult,
    item: usize,
    index: usize,
    out_tokens: *mut u32,
    capacity: usize,
    out_len: *mut usize,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promises.
    unsafe {
        copy_array(
            result,
            (item, index),
            out_tokens,
            capacity,
            out_len,
            "out_tokens",
            |h| &h.tokens,
        )
    }
}

/// The score of a hypothesis (transformers' `sequences_scores`): the sum of
/// its token scores divided by `length ^ length_penalty` (greedy: the plain
/// sum).
///
/// @param result The result.
/// @param item The batch item.
/// @param index The hypothesis, 0 being the best.
/// @param out_score Receives the score.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT for a NULL
///   pointer or an index out of range.
///
/// # Safety
///
/// `result` is NULL or a live result handle; `out_score` is NULL or valid
/// for a write.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_result_score(
    result: *const SeqcoreSearchResult,
    item: usize,
    index: usize,
    out_score: *mut f64,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promises.
    unsafe {
        query(result, out_score, "out_score", |r| {
            Ok(r.hyp(item, index)?.score)
        })
    }
}

/// What each token of a hypothesis added to its beam's score: its log-prob
/// after bans and the diversity penalty (transformers' transition scores).
/// One per token.
///
/// @param result The result.
/// @param item The batch item.
/// @param index The hypothesis, 0 being the best.
/// @param out_scores The caller's buffer (may be NULL when `capacity` is 0).
/// @param capacity The buffer's length in elements.
/// @param out_len Receives the number of scores, also when the buffer is
///   too small.
/// @return SEQCORE_STATUS_OK; SEQCORE_STATUS_BUFFER_TOO_SMALL (nothing
///   copied); SEQCORE_STATUS_INVALID_ARGUMENT for a NULL pointer or an index
///   out of range.
///
/// # Safety
///
/// `result` is NULL or a live result handle; `out_scores` is NULL or valid
/// for writes of `capacity` elements; `out_len` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_result_token_scores(
    result: *const SeqcoreSearchResult,
    item: usize,
    index: usize,
    out_scores: *mut f64,
    capacity: usize,
    out_len: *mut usize,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promises.
    unsafe {
        copy_array(
            result,
            (item, index),
            out_scores,
            capacity,
            out_len,
            "out_scores",
            |h| &h.token_scores,
        )
    }
}

/// transformers' `beam_indices` of a hypothesis: for each token, the global
/// row (`batch_item * num_beams + beam`) it was appended to. One per token.
///
/// @param result The result.
/// @param item The batch item.
/// @param index The hypothesis, 0 being the best.
/// @param out_indices The caller's buffer (may be NULL when `capacity` is
///   0).
/// @param capacity The buffer's length in elements.
/// @param out_len Receives the number of indices, also when the buffer is
///   too small.
/// @return SEQCORE_STATUS_OK; SEQCORE_STATUS_BUFFER_TOO_SMALL (nothing
///   copied); SEQCORE_STATUS_INVALID_ARGUMENT for a NULL pointer or an index
///   out of range.
///
/// # Safety
///
/// `result` is NULL or a live result handle; `out_indices` is NULL or valid
/// for writes of `capacity` elements; `out_len` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_result_beam_indices(
    result: *const SeqcoreSearchResult,
    item: usize,
    index: usize,
    out_indices: *mut usize,
    capacity: usize,
    out_len: *mut usize,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promises.
    unsafe {
        copy_array(
            result,
            (item, index),
            out_indices,
            capacity,
            out_len,
            "out_indices",
            |h| &h.beam_indices,
        )
    }
}

/// The beam group that produced a hypothesis (0 without diverse beam
/// search).
///
/// @param result The result.
/// @param item The batch item.
/// @param index The hypothesis, 0 being the best.
/// @param out_group Receives the group.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT for a NULL
///   pointer or an index out of range.
///
/// # Safety
///
/// `result` is NULL or a live result handle; `out_group` is NULL or valid
/// for a write.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_result_group(
    result: *const SeqcoreSearchResult,
    item: usize,
    index: usize,
    out_group: *mut usize,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promises.
    unsafe {
        query(result, out_group, "out_group", |r| {
            Ok(r.hyp(item, index)?.group)
        })
    }
}

/// Whether a hypothesis is a real one. False only for the placeholder that
/// transformers 5.18 returns when a batch item has fewer finished
/// hypotheses than requested, which needs scores near -1e9 (e.g. nearly
/// every token banned); its score is then about -1e9 and it may have no
/// tokens.
///
/// @param result The result.
/// @param item The batch item.
/// @param index The hypothesis, 0 being the best.
/// @param out_finished Receives the answer.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT for a NULL
///   pointer or an index out of range.
///
/// # Safety
///
/// `result` is NULL or a live result handle; `out_finished` is NULL or
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_result_finished(
    result: *const SeqcoreSearchResult,
    item: usize,
    index: usize,
    out_finished: *mut bool,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promises.
    unsafe {
        query(result, out_finished, "out_finished", |r| {
            Ok(r.hyp(item, index)?.finished)
        })
    }
}
