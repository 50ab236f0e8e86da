//! The C ABI of seqcore's search step machine: greedy, beam and diverse beam
//! search with Hugging Face transformers' semantics, driven one step at a
//! time from C or C++.
//!
//! The crate builds `libseqcore_capi.so` (cdylib) and `libseqcore_capi.a`
//! (staticlib); `include/seqcore.h` declares what they export. (The library
//! is not called `libseqcore`: that is the name of the core crate's own
//! library in this workspace, and the two would collide in `cargo doc`.)
//! The header is generated from this crate by cbindgen, so the
//! documentation of every function below is also its documentation in the
//! header. The engine is [`seqcore::decode`]; this crate only converts,
//! checks and reports. `README.md` beside this crate says how to build and
//! link.
//!
//! # Conventions
//!
//! * **Handles.** [`SeqcoreSearchConfig`], [`SeqcoreSearch`] and
//!   [`SeqcoreSearchResult`] are opaque. Each is made by one function
//!   (`..._new`, `seqcore_search_finalize`) and released by its `..._free`
//!   function. Freeing NULL does nothing; freeing a handle twice, or using
//!   it after it is freed, is the caller's bug (undefined behaviour, as with
//!   `free`). A search copies the configuration it starts from, and a
//!   result does not refer to its search: each may be freed independently.
//! * **Status codes.** Every function that can fail returns a
//!   [`SeqcoreStatus`]; [`SEQCORE_STATUS_OK`](SeqcoreStatus::Ok) is 0. On
//!   failure [`seqcore_last_error`] describes what went wrong.
//! * **Pointers.** Every pointer argument is checked: a NULL (or misaligned)
//!   pointer where one is needed gives
//!   [`SEQCORE_STATUS_INVALID_ARGUMENT`](SeqcoreStatus::InvalidArgument).
//!   An input array of length 0 may be NULL.
//! * **Output buffers.** Functions that return an array take the caller's
//!   buffer, its capacity in elements, and `out_len`. They set `*out_len` to
//!   the number of elements the answer has; when that exceeds the capacity
//!   they write nothing else and return
//!   [`SEQCORE_STATUS_BUFFER_TOO_SMALL`](SeqcoreStatus::BufferTooSmall). A
//!   buffer may be NULL when its capacity is 0, so calling once with
//!   `(NULL, 0)` asks for the size. On any other failure nothing is written.
//! * **Errors are values.** No Rust panic crosses the boundary: a panic is
//!   caught and reported as
//!   [`SEQCORE_STATUS_INTERNAL`](SeqcoreStatus::Internal) (a bug in
//!   seqcore). A search whose step panicked refuses further steps.
//! * **Floats.** [`seqcore_search_new`] and the step functions take float32
//!   log-probs (transformers' float32 numbers, bit for bit);
//!   [`seqcore_search_new_f64`] and the `_f64` step functions take float64.
//!   Result scores are doubles either way.
//! * **Threads.** Handles may move between threads. A handle must not be
//!   used by two threads at once, except that functions taking a `const`
//!   handle may run concurrently with each other. The last-error message is
//!   per thread.
//!
//! # Protocol
//!
//! ```c
//! SeqcoreSearchConfig *config = NULL;
//! seqcore_search_config_new(vocab, 4, &config);          // 4 beams
//! seqcore_search_config_set_eos_token_ids(config, &eos, 1);
//! SeqcoreSearch *search = NULL;
//! seqcore_search_new(config, ids, lengths, batch, &search);
//! seqcore_search_config_free(config);                    // the search copied it
//! size_t cap = 0, rows = 0;
//! seqcore_search_max_rows(search, &cap);                 // enough for any step
//! seqcore_search_active_rows(search, active, cap, &rows);
//! bool done = false;
//! while (seqcore_search_done(search, &done) == SEQCORE_STATUS_OK && !done) {
//!     // logprobs: (rows, vocab) row-major, for the rows in `active`
//!     seqcore_search_step_logprobs(search, logprobs, rows, vocab,
//!                                  tokens, parents, active, cap, &rows);
//!     // new row i is old row parents[i] with tokens[i] appended
//! }
//! SeqcoreSearchResult *result = NULL;
//! seqcore_search_finalize(search, &result);
//! ```
//!
//! `examples/c/beam_search.c` at the repository root is a complete program.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod config;
mod config_kinds;
mod error;
mod ptr;
mod result;
mod search;
mod step;
#[cfg(test)]
mod tests;

use std::ffi::{c_char, c_int};

pub use config::*;
pub use config_kinds::*;
pub use error::*;
pub use result::*;
pub use search::*;
pub use step::*;

/// The token id that means "no token" where an id is optional (the pad
/// token). Never a valid id: token ids are below the vocabulary size, which
/// is at most `2^32 - 1`.
pub const SEQCORE_NO_TOKEN: u32 = u32::MAX;

/// The version of this library, e.g. `"0.1.0"`: a static NUL-terminated
/// string.
///
/// @return The version string (never NULL; do not free it).
#[no_mangle]
pub extern "C" fn seqcore_version() -> *const c_char {
    // Nothing here can panic; no guard needed.
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The name of a status code, e.g. `"SEQCORE_STATUS_SHAPE_ERROR"`, as a
/// static NUL-terminated string; `"SEQCORE_STATUS_UNKNOWN"` for a value
/// that is not a status.
///
/// @param status A SeqcoreStatus value.
/// @return The name (never NULL; do not free it).
#[no_mangle]
pub extern "C" fn seqcore_status_name(status: c_int) -> *const c_char {
    // A plain match on an integer: nothing here can panic.
    let name: &'static std::ffi::CStr = match SeqcoreStatus::from_int(status) {
        Some(SeqcoreStatus::Ok) => c"SEQCORE_STATUS_OK",
        Some(SeqcoreStatus::InvalidArgument) => c"SEQCORE_STATUS_INVALID_ARGUMENT",
        Some(SeqcoreStatus::ConfigError) => c"SEQCORE_STATUS_CONFIG_ERROR",
        Some(SeqcoreStatus::ShapeError) => c"SEQCORE_STATUS_SHAPE_ERROR",
        Some(SeqcoreStatus::NonFinite) => c"SEQCORE_STATUS_NON_FINITE",
        Some(SeqcoreStatus::Finished) => c"SEQCORE_STATUS_FINISHED",
        Some(SeqcoreStatus::BufferTooSmall) => c"SEQCORE_STATUS_BUFFER_TOO_SMALL",
        Some(SeqcoreStatus::Internal) => c"SEQCORE_STATUS_INTERNAL",
        Some(SeqcoreStatus::NotStarted) => c"SEQCORE_STATUS_NOT_STARTED",
        None => c"SEQCORE_STATUS_UNKNOWN",
    };
    name.as_ptr()
}
