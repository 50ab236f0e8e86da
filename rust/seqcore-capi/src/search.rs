//! `SeqcoreSearch`: a search in progress.

use seqcore::decode::{Score, SearchState};

use crate::config::{split_flat, SeqcoreSearchConfig};
use crate::error::{guard, guard_free, Failure, Outcome, SeqcoreStatus};
use crate::ptr::{borrow, fill, write};

/// A search in progress (opaque): greedy, beam or diverse beam search over a
/// batch of prompts, on float32 or float64 log-probs. Made by
/// seqcore_search_new() or seqcore_search_new_f64(), released by
/// seqcore_search_free().
pub struct SeqcoreSearch {
    pub(crate) machine: Machine,
    /// Set while a step runs; still set afterwards only if the step
    /// panicked, leaving the state half-updated.
    pub(crate) poisoned: bool,
}

pub(crate) enum Machine {
    F32(SearchState<f32>),
    F64(SearchState<f64>),
}

/// The float types of the C API, and how each finds its search.
pub(crate) trait Float: Score {
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
pub(crate) struct View<'a> {
    pub(crate) active: &'a [usize],
    pub(crate) done: bool,
    pub(crate) generated: usize,
    pub(crate) batch: usize,
    pub(crate) num_beams: usize,
    pub(crate) vocab_size: usize,
    pub(crate) candidates_per_group: usize,
}

impl SeqcoreSearch {
    pub(crate) fn view(&self) -> View<'_> {
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

    pub(crate) fn check_poison(&self) -> Outcome {
        if self.poisoned {
            return Err(Failure::internal(
                "an earlier step of this search failed inside seqcore (a bug); \
                 the search can only be freed",
            ));
        }
        Ok(())
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
