//! Driving a search: the step functions, which advance it by one token, and
//! seqcore_search_finalize(), which reads its best hypotheses.

use seqcore::decode::{DecodeError, SearchState, StepOutput};

use crate::error::{guard, Failure, Outcome, SeqcoreStatus};
use crate::ptr::{borrow, borrow_mut, check_out, copy_out, read_slice, write};
use crate::result::SeqcoreSearchResult;
use crate::search::{Float, Machine, SeqcoreSearch, View};

impl SeqcoreSearch {
    /// The most rows the next step can return: `num_beams` per batch item
    /// still running.
    fn next_rows_bound(&self) -> usize {
        let view = self.view();
        let mut running = vec![false; view.batch];
        for &row in view.active {
            running[row / view.num_beams] = true;
        }
        running.iter().filter(|&&r| r).count() * view.num_beams
    }

    /// Runs one step of the `T` machine, with the poison flag held over it.
    fn step<T: Float>(
        &mut self,
        run: impl FnOnce(&mut SearchState<T>) -> Result<StepOutput, DecodeError>,
    ) -> Outcome<StepOutput> {
        let state = T::state(&mut self.machine).ok_or_else(|| Failure::invalid(T::MISMATCH))?;
        self.poisoned = true;
        let output = run(state);
        self.poisoned = false;
        Ok(output?)
    }
}

/// The caller's three step output buffers.
struct StepBuffers {
    tokens: *mut u32,
    parents: *mut usize,
    rows: *mut usize,
    capacity: usize,
    out_len: *mut usize,
}

/// A step: checks everything that does not need the step to run (so that a
/// failure leaves the search unchanged), turns the caller's input into
/// slices with `prepare`, runs `run` on them, copies the answer out.
///
/// # Safety
///
/// `search` is NULL or a live search handle used only here; the output
/// buffers are NULL or valid for writes of `capacity` elements each,
/// `out_len` is NULL or valid for a write, and none overlaps the input that
/// `prepare` reads.
unsafe fn step<T: Float, I>(
    search: *mut SeqcoreSearch,
    rows: usize,
    out: StepBuffers,
    prepare: impl FnOnce(&View<'_>) -> Outcome<I>,
    run: impl FnOnce(&mut SearchState<T>, I) -> Result<StepOutput, DecodeError>,
) -> SeqcoreStatus {
    guard(|| {
        // SAFETY: `search` is NULL or a live handle used only here, by the
        // caller's promise.
        let search = unsafe { borrow_mut(search, "search")? };
        if out.out_len.is_null() {
            return Err(Failure::invalid("out_len is NULL"));
        }
        search.check_poison()?;
        if T::state(&mut search.machine).is_none() {
            return Err(Failure::invalid(T::MISMATCH));
        }
        let view = search.view();
        if view.done {
            return Err(DecodeError::Finished.into());
        }
        if rows != view.active.len() {
            return Err(Failure::shape(format!(
                "rows is {rows} but the search has {} active rows",
                view.active.len()
            )));
        }
        let input = prepare(&view)?;
        let needed = search.next_rows_bound();
        if out.capacity < needed {
            // SAFETY: `out_len` is non-NULL and, by the caller's promise,
            // valid for a write.
            unsafe { write(out.out_len, needed, "out_len")? };
            return Err(Failure::too_small(
                "the step's output buffers",
                needed,
                out.capacity,
            ));
        }
        check_out(out.tokens, out.capacity, needed, "out_tokens")?;
        check_out(out.parents, out.capacity, needed, "out_parents")?;
        check_out(out.rows, out.capacity, needed, "out_rows")?;
        let output = search.step::<T>(|state| run(state, input))?;
        if output.rows.len() > needed {
            return Err(Failure::internal(format!(
                "a step returned {} rows, more than the bound {needed}",
                output.rows.len()
            )));
        }
        // SAFETY: check_out accepted each buffer for `needed >= rows`
        // elements; by the caller's promise each is valid for `capacity >=
        // needed` writes and overlaps nothing read here.
        unsafe {
            copy_out(&output.tokens, out.tokens);
            copy_out(&output.parents, out.parents);
            copy_out(&output.rows, out.rows);
            write(out.out_len, output.rows.len(), "out_len")
        }
    })
}

/// `rows * width` for an input array, or a shape error.
fn input_len(rows: usize, width: usize, what: &str) -> Outcome<usize> {
    rows.checked_mul(width)
        .ok_or_else(|| Failure::shape(format!("rows * {what} ({rows} * {width}) overflows")))
}

/// seqcore_search_step_logprobs() for float type `T`.
///
/// # Safety
///
/// As seqcore_search_step_logprobs().
unsafe fn step_logprobs<T: Float>(
    search: *mut SeqcoreSearch,
    logprobs: *const T,
    rows: usize,
    vocab: usize,
    out: StepBuffers,
) -> SeqcoreStatus {
    let prepare = |view: &View<'_>| {
        // Refused before the array is looked at: a wrong vocab most likely
        // means the array is not `rows * vocab` long either.
        if vocab != view.vocab_size {
            return Err(Failure::shape(format!(
                "vocab is {vocab} but the configuration says {}",
                view.vocab_size
            )));
        }
        let len = input_len(rows, vocab, "vocab")?;
        // SAFETY: `logprobs` is NULL or points to `rows * vocab` readable
        // values that nothing mutates during the call, by the caller's
        // promise.
        unsafe { read_slice(logprobs, len, "logprobs") }
    };
    // SAFETY: forwarded caller promises.
    unsafe {
        step::<T, _>(search, rows, out, prepare, |state, values| {
            state.step_logprobs(values, vocab)
        })
    }
}

/// seqcore_search_step_candidates() for float type `T`.
///
/// # Safety
///
/// As seqcore_search_step_candidates().
unsafe fn step_candidates<T: Float>(
    search: *mut SeqcoreSearch,
    tokens: *const u32,
    logprobs: *const T,
    rows: usize,
    k: usize,
    out: StepBuffers,
) -> SeqcoreStatus {
    let prepare = |_: &View<'_>| {
        let len = input_len(rows, k, "k")?;
        // SAFETY: `tokens` and `logprobs` are NULL or point to `rows * k`
        // readable values that nothing mutates during the call, by the
        // caller's promise.
        unsafe {
            Ok((
                read_slice(tokens, len, "tokens")?,
                read_slice(logprobs, len, "logprobs")?,
            ))
        }
    };
    // SAFETY: forwarded caller promises.
    unsafe {
        step::<T, _>(search, rows, out, prepare, |state, (ids, values)| {
            state.step_candidates(ids, values, k)
        })
    }
}

/// Advances every active row by one token, from full float32 log-probs.
///
/// `logprobs` is `(rows, vocab)` row-major: row `i` holds the normalized
/// log-probs (log_softmax of the logits) of the next token after active row
/// `i` (seqcore_search_active_rows()). NaN and +inf are refused; -inf is
/// allowed (a banned token).
///
/// The answer has one entry per new active row: new row `j` is old active
/// row `out_parents[j]` (an index into the previous active rows: gather the
/// model's cache with it) with `out_tokens[j]` appended, and its global id is
/// `out_rows[j]` (the next seqcore_search_active_rows()). It is empty when
/// this step finished the search.
///
/// On any failure the search is unchanged.
///
/// @param search The search (float32).
/// @param logprobs `rows * vocab` log-probs.
/// @param rows The number of active rows.
/// @param vocab The vocabulary size of the configuration.
/// @param out_tokens Receives each new row's token.
/// @param out_parents Receives each new row's parent.
/// @param out_rows Receives each new row's global id.
/// @param capacity The length of each of the three buffers, in elements. It
///   must be at least `num_beams` times the number of batch items still
///   running; seqcore_search_max_rows() is always enough.
/// @param out_len Receives the number of new rows; with
///   SEQCORE_STATUS_BUFFER_TOO_SMALL, the capacity needed.
/// @return SEQCORE_STATUS_OK; SEQCORE_STATUS_FINISHED when the search is
///   done; SEQCORE_STATUS_SHAPE_ERROR when `rows` or `vocab` is wrong;
///   SEQCORE_STATUS_NON_FINITE for a NaN or +inf;
///   SEQCORE_STATUS_BUFFER_TOO_SMALL; SEQCORE_STATUS_INVALID_ARGUMENT for a
///   NULL pointer or a float64 search; SEQCORE_STATUS_INTERNAL if a step of
///   this search ever panicked.
///
/// # Safety
///
/// `search` is NULL or a live search handle not used elsewhere meanwhile;
/// `logprobs` is NULL or points to `rows * vocab` readable floats; each
/// output buffer is NULL or valid for writes of `capacity` elements;
/// `out_len` is NULL or valid for a write; outputs do not overlap inputs.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_step_logprobs(
    search: *mut SeqcoreSearch,
    logprobs: *const f32,
    rows: usize,
    vocab: usize,
    out_tokens: *mut u32,
    out_parents: *mut usize,
    out_rows: *mut usize,
    capacity: usize,
    out_len: *mut usize,
) -> SeqcoreStatus {
    let out = StepBuffers {
        tokens: out_tokens,
        parents: out_parents,
        rows: out_rows,
        capacity,
        out_len,
    };
    // SAFETY: forwarded caller promises.
    unsafe { step_logprobs::<f32>(search, logprobs, rows, vocab, out) }
}

/// seqcore_search_step_logprobs() on float64 log-probs, for a search made by
/// seqcore_search_new_f64().
///
/// @param search The search (float64).
/// @param logprobs `rows * vocab` log-probs.
/// @param rows The number of active rows.
/// @param vocab The vocabulary size of the configuration.
/// @param out_tokens Receives each new row's token.
/// @param out_parents Receives each new row's parent.
/// @param out_rows Receives each new row's global id.
/// @param capacity The length of each of the three buffers, in elements.
/// @param out_len Receives the number of new rows (or the capacity needed).
/// @return As seqcore_search_step_logprobs().
///
/// # Safety
///
/// As seqcore_search_step_logprobs(), with `logprobs` pointing to doubles.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_step_logprobs_f64(
    search: *mut SeqcoreSearch,
    logprobs: *const f64,
    rows: usize,
    vocab: usize,
    out_tokens: *mut u32,
    out_parents: *mut usize,
    out_rows: *mut usize,
    capacity: usize,
    out_len: *mut usize,
) -> SeqcoreStatus {
    let out = StepBuffers {
        tokens: out_tokens,
        parents: out_parents,
        rows: out_rows,
        capacity,
        out_len,
    };
    // SAFETY: forwarded caller promises.
    unsafe { step_logprobs::<f64>(search, logprobs, rows, vocab, out) }
}

/// Advances every active row by one token, from each row's own top-k
/// candidates (e.g. computed on a GPU), float32.
///
/// `tokens` and `logprobs` are `(rows, k)` row-major: row `i` lists `k`
/// distinct token ids of active row `i` and their log-probs, in any order.
/// `k` must be at least seqcore_search_candidates_per_group() and at most
/// the vocabulary size. Tokens not listed count as never chosen; the answer
/// equals seqcore_search_step_logprobs() on the full rows whenever each
/// row's best tokens after bans and penalties are among the `k` listed.
/// The outputs are as for seqcore_search_step_logprobs(). On any failure
/// the search is unchanged.
///
/// @param search The search (float32).
/// @param tokens `rows * k` token ids.
/// @param logprobs `rows * k` log-probs.
/// @param rows The number of active rows.
/// @param k Candidates per row.
/// @param out_tokens Receives each new row's token.
/// @param out_parents Receives each new row's parent.
/// @param out_rows Receives each new row's global id.
/// @param capacity The length of each of the three buffers, in elements (see
///   seqcore_search_step_logprobs()).
/// @param out_len Receives the number of new rows (or the capacity needed).
/// @return As seqcore_search_step_logprobs(); also
///   SEQCORE_STATUS_SHAPE_ERROR for a `k` out of range and
///   SEQCORE_STATUS_INVALID_ARGUMENT for a token id outside the vocabulary.
///
/// # Safety
///
/// `search` is NULL or a live search handle not used elsewhere meanwhile;
/// `tokens` and `logprobs` are NULL or point to `rows * k` readable
/// elements; each output buffer is NULL or valid for writes of `capacity`
/// elements; `out_len` is NULL or valid for a write; outputs do not overlap
/// inputs.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_step_candidates(
    search: *mut SeqcoreSearch,
    tokens: *const u32,
    logprobs: *const f32,
    rows: usize,
    k: usize,
    out_tokens: *mut u32,
    out_parents: *mut usize,
    out_rows: *mut usize,
    capacity: usize,
    out_len: *mut usize,
) -> SeqcoreStatus {
    let out = StepBuffers {
        tokens: out_tokens,
        parents: out_parents,
        rows: out_rows,
        capacity,
        out_len,
    };
    // SAFETY: forwarded caller promises.
    unsafe { step_candidates::<f32>(search, tokens, logprobs, rows, k, out) }
}

/// seqcore_search_step_candidates() on float64 log-probs, for a search made
/// by seqcore_search_new_f64().
///
/// @param search The search (float64).
/// @param tokens `rows * k` token ids.
/// @param logprobs `rows * k` log-probs.
/// @param rows The number of active rows.
/// @param k Candidates per row.
/// @param out_tokens Receives each new row's token.
/// @param out_parents Receives each new row's parent.
/// @param out_rows Receives each new row's global id.
/// @param capacity The length of each of the three buffers, in elements.
/// @param out_len Receives the number of new rows (or the capacity needed).
/// @return As seqcore_search_step_candidates().
///
/// # Safety
///
/// As seqcore_search_step_candidates(), with `logprobs` pointing to doubles.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_step_candidates_f64(
    search: *mut SeqcoreSearch,
    tokens: *const u32,
    logprobs: *const f64,
    rows: usize,
    k: usize,
    out_tokens: *mut u32,
    out_parents: *mut usize,
    out_rows: *mut usize,
    capacity: usize,
    out_len: *mut usize,
) -> SeqcoreStatus {
    let out = StepBuffers {
        tokens: out_tokens,
        parents: out_parents,
        rows: out_rows,
        capacity,
        out_len,
    };
    // SAFETY: forwarded caller promises.
    unsafe { step_candidates::<f64>(search, tokens, logprobs, rows, k, out) }
}

/// The best hypotheses per batch item, as a result handle. Callable before
/// the search is done (the running beams then count as finished at their
/// current length); the search is not changed and may go on.
///
/// @param search The search.
/// @param out_result Receives the new result handle; free it with
///   seqcore_search_result_free().
/// @return SEQCORE_STATUS_OK; SEQCORE_STATUS_NOT_STARTED before the first
///   step; SEQCORE_STATUS_INVALID_ARGUMENT for a NULL pointer;
///   SEQCORE_STATUS_INTERNAL if a step of this search ever panicked.
///
/// # Safety
///
/// `search` is NULL or a live search handle; `out_result` is NULL or valid
/// for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_finalize(
    search: *const SeqcoreSearch,
    out_result: *mut *mut SeqcoreSearchResult,
) -> SeqcoreStatus {
    guard(|| {
        if out_result.is_null() {
            return Err(Failure::invalid("out_result is NULL"));
        }
        // SAFETY: `search` is NULL or a live handle, by the caller's promise.
        let search = unsafe { borrow(search, "search")? };
        search.check_poison()?;
        let result = match &search.machine {
            Machine::F32(state) => SeqcoreSearchResult::new(state.finalize()?),
            Machine::F64(state) => SeqcoreSearchResult::new(state.finalize()?),
        };
        let handle = Box::into_raw(Box::new(result));
        // SAFETY: `out_result` is valid for writing a pointer, by the
        // caller's promise (NULL was refused above).
        unsafe { write(out_result, handle, "out_result") }
    })
}
