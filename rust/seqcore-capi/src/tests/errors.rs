//! Misuse of a search and how errors are reported: finished and unstarted
//! searches, float type mismatches, small buffers, out-of-range indices,
//! panics, the per-thread last error, status names, and thread safety.

use std::ffi::CStr;
use std::ptr::null_mut;

use super::handles::CSearch;
use super::{beam_config, expect, last_error, model, raw_step, started, PROMPTS, S};
use crate::error::{guard, Failure};
use crate::*;

#[test]
fn stepping_a_finished_search_is_refused() {
    let mut config = beam_config();
    config.max_new_tokens = 1;
    let mut search = CSearch::new::<f32>(&config, &PROMPTS[..1]);
    let logprobs = model::<f32>(7, 0, 12);
    let output = search.step(&logprobs, 1, 12);
    assert!(output.rows.is_empty(), "the only step finishes the search");
    assert!(search.done());
    let (status, n) = raw_step(&search, &logprobs, 1, 12, 8);
    expect(status, S::Finished, "the search is finished");
    assert_eq!(n, usize::MAX);
    assert_eq!(search.finalize().read().len(), 1);
}

#[test]
fn finalizing_before_the_first_step_is_refused() {
    let search = CSearch::new::<f64>(&beam_config(), &PROMPTS);
    let mut result = null_mut();
    // SAFETY: a live search and a live local.
    let status = unsafe { seqcore_search_finalize(search.0, &mut result) };
    expect(status, S::NotStarted, "at least one step");
    assert!(result.is_null());
}

#[test]
fn float_types_must_match() {
    let (search, logprobs) = started();
    let wide: Vec<f64> = logprobs.iter().map(|&v| v as f64).collect();
    let (mut t, mut p, mut r, mut n) = ([0u32; 8], [0usize; 8], [0usize; 8], 0);
    // SAFETY: a live search; `wide` holds 2 * 12 values; the buffers hold 8
    // elements each.
    let status = unsafe {
        seqcore_search_step_logprobs_f64(
            search.0,
            wide.as_ptr(),
            2,
            12,
            t.as_mut_ptr(),
            p.as_mut_ptr(),
            r.as_mut_ptr(),
            8,
            &mut n,
        )
    };
    expect(status, S::InvalidArgument, "runs on float32");
}

#[test]
fn small_buffers_report_the_size_needed() {
    let (search, logprobs) = started();
    // Active rows: 2 before the first step.
    let mut rows = [0usize; 1];
    let mut n = 0;
    // SAFETY: a live search; `rows` holds 1 element.
    let status = unsafe { seqcore_search_active_rows(search.0, rows.as_mut_ptr(), 1, &mut n) };
    expect(status, S::BufferTooSmall, "out_rows: capacity 1, 2 needed");
    assert_eq!((n, rows[0]), (2, 0), "size reported, nothing copied");

    // A step needs num_beams (4) rows per running item (2): 8.
    assert_eq!(search.usize_of(seqcore_search_max_rows), 8);
    let (status, n) = raw_step(&search, &logprobs, 2, 12, 7);
    expect(status, S::BufferTooSmall, "capacity 7, 8 needed");
    assert_eq!(n, 8);
    assert_eq!(search.usize_of(seqcore_search_generated), 0, "not stepped");
    let (status, n) = raw_step(&search, &logprobs, 2, 12, 0);
    expect(status, S::BufferTooSmall, "capacity 0, 8 needed");
    assert_eq!(n, 8);
    let (status, n) = raw_step(&search, &logprobs, 2, 12, 8);
    expect(status, S::Ok, "");
    assert_eq!(n, 8);

    // Result arrays.
    let result = search.finalize();
    let mut tokens = [0u32; 1];
    let mut len = 0;
    // SAFETY: a live result; `tokens` holds 1 element.
    unsafe {
        let status = seqcore_search_result_tokens(result.0, 0, 0, tokens.as_mut_ptr(), 0, &mut len);
        expect(status, S::BufferTooSmall, "1 needed");
        assert_eq!(len, 1);
        let status = seqcore_search_result_tokens(result.0, 0, 0, tokens.as_mut_ptr(), 1, &mut len);
        expect(status, S::Ok, "");
    }
}

#[test]
fn result_indices_out_of_range_are_refused() {
    let (mut search, logprobs) = started();
    search.step(&logprobs, 2, 12);
    let result = search.finalize();
    let (mut n, mut score) = (0, 0.0);
    // SAFETY: a live result and live locals.
    unsafe {
        let status = seqcore_search_result_num_hypotheses(result.0, 2, &mut n);
        expect(
            status,
            S::InvalidArgument,
            "item 2 is out of range: the result has 2 items",
        );
        let status = seqcore_search_result_score(result.0, 1, 3, &mut score);
        expect(status, S::InvalidArgument, "hypothesis 3 is out of range");
        let status = seqcore_search_result_tokens(result.0, 5, 0, null_mut(), 0, &mut n);
        expect(status, S::InvalidArgument, "item 5");
    }
}

#[test]
fn panics_become_internal_errors() {
    let status = guard(|| panic!("boom {}", 42));
    expect(status, S::Internal, "boom 42");
    let status = guard(|| Err(Failure::invalid("plain failure")));
    expect(status, S::InvalidArgument, "plain failure");

    // A search whose step panicked refuses to go on.
    let (search, logprobs) = started();
    // SAFETY: the handle is live; the test fakes a panicked step.
    unsafe { (*search.0).poisoned = true };
    let (status, _) = raw_step(&search, &logprobs, 2, 12, 8);
    expect(status, S::Internal, "can only be freed");
    let mut result = null_mut();
    // SAFETY: a live search and a live local.
    let status = unsafe { seqcore_search_finalize(search.0, &mut result) };
    expect(status, S::Internal, "can only be freed");
}

#[test]
fn the_last_error_is_per_thread_and_cleared_by_success() {
    let (search, _) = started();
    // SAFETY: NULL output pointer, refused.
    let status = unsafe { seqcore_search_done(search.0, null_mut()) };
    assert_eq!(status, S::InvalidArgument);
    assert!(last_error().contains("NULL"));
    std::thread::spawn(|| assert_eq!(last_error(), ""))
        .join()
        .unwrap();
    // Free functions and the string functions leave it alone.
    // SAFETY: NULL frees are no-ops; the string functions take no pointers.
    unsafe {
        seqcore_search_result_free(null_mut());
        seqcore_status_name(0);
        seqcore_version();
    }
    assert!(last_error().contains("NULL"));
    assert!(!search.done());
    assert_eq!(last_error(), "");
}

#[test]
fn status_names_and_version() {
    let name = |s: i32| {
        // SAFETY: seqcore_status_name returns a static NUL-terminated string.
        unsafe { CStr::from_ptr(seqcore_status_name(s)) }
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(name(S::Ok as i32), "SEQCORE_STATUS_OK");
    assert_eq!(
        name(S::BufferTooSmall as i32),
        "SEQCORE_STATUS_BUFFER_TOO_SMALL"
    );
    assert_eq!(name(S::NotStarted as i32), "SEQCORE_STATUS_NOT_STARTED");
    assert_eq!(name(-1), "SEQCORE_STATUS_UNKNOWN");
    for value in 0..=8 {
        let status = SeqcoreStatus::from_int(value).unwrap();
        assert_eq!(status as i32, value);
        assert!(name(value).starts_with("SEQCORE_STATUS_"));
    }
    assert_eq!(SeqcoreStatus::from_int(9), None);
    // SAFETY: seqcore_version returns a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr(seqcore_version()) };
    assert_eq!(version.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn handles_may_move_between_threads_and_be_shared_const() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<SeqcoreSearchConfig>();
    send_and_sync::<SeqcoreSearch>();
    send_and_sync::<SeqcoreSearchResult>();
}
