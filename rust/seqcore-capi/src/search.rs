//! `SeqcoreSearch`: a search in progress.

use seqcore::decode::{DecodeError, Score, SearchState, StepOutput};

use crate::config::{split_flat, SeqcoreSearchConfig};
use crate::error::{guard, guard_free, Failure, Outcome, SeqcoreStatus};
use crate::ptr::{borrow, borrow_mut, check_out, copy_out, fill, read_slice, write};
use crate::result::SeqcoreSearchResult;

/// A search in progress (opaque): greedy, beam or diverse beam search over a
/// batch of prompts, on float32 or float64 log-probs. Made by
/// seqcore_search_new() or seqcore_search_new_f64(), released by
/// seqcore_search_free().
pub struct SeqcoreSearch {
    machine: Machine,
    /// Set while a step runs; still set afterwards only if the step
    /// panicked, leaving the state half-updated.
    pub(crate) poisoned: bool,
}

enum Machine {
    F32(SearchState<f32>),
    F64(SearchState<f64>),
}

/// The float types of the C API, and how each finds its search.
trait Float: Score {
    /// The message for a search of the other float type.
    const MISMATCH: &'static str;
    fn wrap(state: SearchState<Self>) -> Machine;
    fn state(machine: &mut Machine) -> Option<&mut SearchState<Self>>;
}

impl Float for f32 {
    const MISMATCH: &'static str = "this search runs on float64 log-probs \
        (seqcore_search_new_f64); use the step functions with the _f64 suffix";
    fn wrap(state: SearchState<Self>) -> Machine {
        Machine::F32(state)
    }
    fn state(machine: &mut Machine) -> Option<&mut SearchState<Self>> {
        match machine {
            Machine::F32(state) => Some(state),
            Machine::F64(_) => None,
        }
    }
}

impl Float for f64 {
    const MISMATCH: &'static str = "this search runs on float32 log-probs \
        (seqcore_search_new); use the step functions without the _f64 suffix";
    fn wrap(state: SearchState<Self>) -> Machine {
        Machine::F64(state)
    }
    fn state(machine: &mut Machine) -> Option<&mut SearchState<Self>> {
        match machine {
            Machine::F64(state) => Some(state),
            Machine::F32(_) => None,
        }
    }
}

/// What every search accessor needs, whatever the float type.
struct View<'a> {
    active: &'a [usize],
    done: bool,
    generated: usize,
    batch: usize,
    num_beams: usize,
    vocab_size: usize,
    candidates_per_group: usize,
}

impl SeqcoreSearch {
    fn view(&self) -> View<'_> {
        fn of<T: Score>(s: &SearchState<T>) -> View<'_> {
            View {
                active: s.active_rows(),
                done: s.done(),
                generated: s.generated(),
                batch: s.batch_size(),
                num_beams: s.config().num_beams,
                vocab_size: s.config().vocab_size,
                candidates_per_group: s.config().candidates_per_group(),
            }
        }
        match &self.machine {
            Machine::F32(s) => of(s),
            Machine::F64(s) => of(s),
        }
    }

    fn check_poison(&self) -> Outcome {
        if self.poisoned {
            return Err(Failure::internal(
                "an earlier step of this search failed inside seqcore (a bug); \
                 the search can only be freed",
            ));
        }
        Ok(())
    }

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

/// seqcore_search_new() for float type `T`.
///
/// # Safety
///
/// As seqcore_search_new().
unsafe fn new_search<T: Float>(
    config: *const SeqcoreSearchConfig,
    prompt_ids: *const u32,
    prompt_lengths: *const usize,
    num_prompts: usize,
    out_search: *mut *mut SeqcoreSearch,
) -> SeqcoreStatus {
    guard(|| {
        if out_search.is_null() {
            return Err(Failure::invalid("out_search is NULL"));
        }
        // SAFETY: `config` is NULL or a live handle, by the caller's promise.
        let config = unsafe { borrow(config, "config")? };
        // SAFETY: the prompt arrays are NULL or as long as documented, by
        // the caller's promise.
        let prompts = unsafe {
            split_flat(
                prompt_ids,
                prompt_lengths,
                num_prompts,
                "prompt_ids",
                "prompt_lengths",
            )?
        };
        let prompts: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
        let state = SearchState::<T>::new(config.inner.clone(), &prompts)?;
        let handle = Box::into_raw(Box::new(SeqcoreSearch {
            machine: T::wrap(state),
            poisoned: false,
        }));
        // SAFETY: `out_search` is valid for writing a pointer, by the
        // caller's promise (NULL was refused above).
        unsafe { write(out_search, handle, "out_search") }
    })
}

/// Starts a search on float32 log-probs over one prompt per batch item.
///
/// Prompts are what the model's input rows hold (left padding included, if
/// the host pads); only `no_repeat_ngram_size` and bad words read them, so
/// they may be empty. They are given flattened: prompt `i` is the next
/// `prompt_lengths[i]` ids of `prompt_ids`.
///
/// @param config The configuration; the search keeps a copy, so it may be
///   freed right after.
/// @param prompt_ids All prompts' ids, one prompt after another (may be NULL
///   when they are all empty).
/// @param prompt_lengths Each prompt's length.
/// @param num_prompts The batch size, at least 1.
/// @param out_search Receives the new handle; free it with
///   seqcore_search_free().
/// @return SEQCORE_STATUS_OK; SEQCORE_STATUS_CONFIG_ERROR when the
///   configuration cannot run; SEQCORE_STATUS_SHAPE_ERROR when
///   `num_prompts` is 0; SEQCORE_STATUS_INVALID_ARGUMENT for a NULL
///   pointer or lengths that overflow.
///
/// # Safety
///
/// `config` is NULL or a live configuration handle; `prompt_lengths` is
/// NULL or points to `num_prompts` readable lengths; `prompt_ids` is NULL or
/// points to as many readable ids as they add up to; `out_search` is NULL
/// or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_new(
    config: *const SeqcoreSearchConfig,
    prompt_ids: *const u32,
    prompt_lengths: *const usize,
    num_prompts: usize,
    out_search: *mut *mut SeqcoreSearch,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promises.
    unsafe { new_search::<f32>(config, prompt_ids, prompt_lengths, num_prompts, out_search) }
}

/// seqcore_search_new() for a search on float64 log-probs: drive it with
/// the `_f64` step functions.
///
/// @param config The configuration (copied).
/// @param prompt_ids All prompts' ids, one prompt after another.
/// @param prompt_lengths Each prompt's length.
/// @param num_prompts The batch size, at least 1.
/// @param out_search Receives the new handle.
/// @return As seqcore_search_new().
///
/// # Safety
///
/// As seqcore_search_new().
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_new_f64(
    config: *const SeqcoreSearchConfig,
    prompt_ids: *const u32,
    prompt_lengths: *const usize,
    num_prompts: usize,
    out_search: *mut *mut SeqcoreSearch,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promises.
    unsafe { new_search::<f64>(config, prompt_ids, prompt_lengths, num_prompts, out_search) }
}

/// Releases a search. NULL is a no-op; freeing twice is undefined
/// behaviour. Results from seqcore_search_finalize() are not affected.
///
/// @param search The handle, or NULL.
///
/// # Safety
///
/// `search` is NULL or a handle from seqcore_search_new() or
/// seqcore_search_new_f64() that was not freed yet.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_free(search: *mut SeqcoreSearch) {
    guard_free(|| {
        if !search.is_null() {
            // SAFETY: a non-NULL `search` came from Box::into_raw in
            // new_search and was not freed, by the caller's promise;
            // ownership returns to the Box, which drops it.
            drop(unsafe { Box::from_raw(search) });
        }
    })
}

/// Runs `read` on the search behind `search`, then stores its answer at
/// `out`.
///
/// # Safety
///
/// `search` is NULL or a live search handle; `out` is NULL or valid for a
/// write.
unsafe fn query<T>(
    search: *const SeqcoreSearch,
    out: *mut T,
    out_name: &str,
    read: impl FnOnce(&View<'_>) -> T,
) -> SeqcoreStatus {
    guard(|| {
        // SAFETY: `search` is NULL or a live handle, by the caller's promise.
        let search = unsafe { borrow(search, "search")? };
        let value = read(&search.view());
        // SAFETY: `out` is NULL or valid for a write, by the caller's
        // promise.
        unsafe { write(out, value, out_name) }
    })
}

/// Whether the search is over: every batch item stopped, or
/// `max_new_tokens` were generated. seqcore_search_finalize() then gives the
/// result, and steps return SEQCORE_STATUS_FINISHED.
///
/// @param search The search.
/// @param out_done Receives the answer.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT for a NULL
///   pointer.
///
/// # Safety
///
/// `search` is NULL or a live search handle; `out_done` is NULL or valid for
/// a write.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_done(
    search: *const SeqcoreSearch,
    out_done: *mut bool,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promises.
    unsafe { query(search, out_done, "out_done", |v| v.done) }
}

/// Steps taken so far (tokens generated per row).
///
/// @param search The search.
/// @param out_generated Receives the count.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT for a NULL
///   pointer.
///
/// # Safety
///
/// `search` is NULL or a live search handle; `out_generated` is NULL or
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_generated(
    search: *const SeqcoreSearch,
    out_generated: *mut usize,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promises.
    unsafe { query(search, out_generated, "out_generated", |v| v.generated) }
}

/// The number of batch items (prompts).
///
/// @param search The search.
/// @param out_batch_size Receives the count.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT for a NULL
///   pointer.
///
/// # Safety
///
/// `search` is NULL or a live search handle; `out_batch_size` is NULL or
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_batch_size(
    search: *const SeqcoreSearch,
    out_batch_size: *mut usize,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promises.
    unsafe { query(search, out_batch_size, "out_batch_size", |v| v.batch) }
}

/// The most rows the search ever has: `batch_size * num_beams`. Buffers of
/// this many elements are always large enough for
/// seqcore_search_active_rows() and the step functions.
///
/// @param search The search.
/// @param out_max_rows Receives the count.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT for a NULL
///   pointer.
///
/// # Safety
///
/// `search` is NULL or a live search handle; `out_max_rows` is NULL or
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_max_rows(
    search: *const SeqcoreSearch,
    out_max_rows: *mut usize,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promises.
    unsafe {
        query(search, out_max_rows, "out_max_rows", |v| {
            v.batch * v.num_beams
        })
    }
}

/// The smallest `k` seqcore_search_step_candidates() accepts: the
/// candidates each group keeps per step (transformers'
/// `max(2, 1 + number of EOS ids) * beams per group`; 1 for greedy).
///
/// @param search The search.
/// @param out_k Receives the count.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT for a NULL
///   pointer.
///
/// # Safety
///
/// `search` is NULL or a live search handle; `out_k` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_candidates_per_group(
    search: *const SeqcoreSearch,
    out_k: *mut usize,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promises.
    unsafe { query(search, out_k, "out_k", |v| v.candidates_per_group) }
}

/// The rows whose log-probs the next step needs, in the order the step's
/// input must follow. Each is a global row `batch_item * num_beams + beam`.
/// Before the first step this is one row per batch item (`item *
/// num_beams`, the prompt, which stands for all the item's beams);
/// afterwards the rows of the beams still running. Empty when the search is
/// done.
///
/// @param search The search.
/// @param out_rows The caller's buffer (may be NULL when `capacity` is 0).
/// @param capacity The buffer's length in elements.
/// @param out_len Receives the number of active rows, also when the buffer
///   is too small.
/// @return SEQCORE_STATUS_OK; SEQCORE_STATUS_BUFFER_TOO_SMALL (nothing
///   copied); SEQCORE_STATUS_INVALID_ARGUMENT for a NULL pointer.
///
/// # Safety
///
/// `search` is NULL or a live search handle; `out_rows` is NULL or valid for
/// writes of `capacity` elements; `out_len` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_active_rows(
    search: *const SeqcoreSearch,
    out_rows: *mut usize,
    capacity: usize,
    out_len: *mut usize,
) -> SeqcoreStatus {
    guard(|| {
        // SAFETY: `search` is NULL or a live handle, by the caller's promise.
        let search = unsafe { borrow(search, "search")? };
        // SAFETY: the output pointers are NULL or as valid as documented, by
        // the caller's promise, and cannot overlap the search's own memory.
        unsafe {
            fill(
                search.view().active,
                out_rows,
                capacity,
                out_len,
                "out_rows",
            )
        }
    })
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
