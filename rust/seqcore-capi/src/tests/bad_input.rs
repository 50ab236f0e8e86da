//! Bad input is refused with its status and message, and changes nothing:
//! NULL and misaligned pointers, configurations that cannot run, wrong
//! shapes, token ids outside the vocabulary, non-finite log-probs.

use std::ptr::{null, null_mut};

use super::handles::CSearch;
use super::{beam_config, c_config, expect, raw_candidates, raw_step, started, top_k, PROMPTS, S};
use crate::*;

#[test]
fn null_pointers_are_refused() {
    let config = c_config(&beam_config());
    let search = CSearch::new::<f32>(&beam_config(), &PROMPTS);
    let s = search.0;
    let (mut n, mut flag, mut value) = (0usize, false, 0.0f64);
    let mut sink = [0u32; 64];
    let mut rows = [0usize; 64];
    let logprobs = [0.0f32; 3 * 12];
    let null_config: *mut SeqcoreSearchConfig = null_mut();
    let null_search: *mut SeqcoreSearch = null_mut();
    let null_result: *const SeqcoreSearchResult = null();
    // SAFETY: every pointer is NULL (which each function accepts and
    // refuses) or a live local / handle.
    unsafe {
        let cases = [
            seqcore_search_config_new(4, 1, null_mut()),
            seqcore_search_config_validate(null_config),
            seqcore_search_config_set_num_beams(null_config, 2),
            seqcore_search_config_set_vocab_size(null_config, 2),
            seqcore_search_config_set_num_groups(null_config, 2),
            seqcore_search_config_set_diversity_strength(null_config, 0.5),
            seqcore_search_config_set_diversity(null_config, 0, 0),
            seqcore_search_config_set_length_penalty(null_config, 1.0),
            seqcore_search_config_set_early_stopping(null_config, 0),
            seqcore_search_config_set_num_return_sequences(null_config, 1),
            seqcore_search_config_set_eos_token_ids(null_config, null(), 0),
            seqcore_search_config_set_eos_token_ids(config, null(), 2),
            seqcore_search_config_set_pad_token_id(null_config, 0),
            seqcore_search_config_set_min_new_tokens(null_config, 0),
            seqcore_search_config_set_max_new_tokens(null_config, 1),
            seqcore_search_config_set_no_repeat_ngram_size(null_config, 0),
            seqcore_search_config_set_bad_words_ids(null_config, null(), null(), 0),
            seqcore_search_config_set_bad_words_ids(config, null(), null(), 1),
            seqcore_search_config_set_bad_words_ids(config, null(), [2usize].as_ptr(), 1),
            seqcore_search_config_set_semantics(null_config, 0),
            seqcore_search_new(null(), null(), null(), 0, &mut null_mut()),
            seqcore_search_new(config, null(), [1usize].as_ptr(), 1, &mut null_mut()),
            seqcore_search_new(config, null(), null(), 1, &mut null_mut()),
            seqcore_search_new(config, null(), [0usize].as_ptr(), 1, null_mut()),
            seqcore_search_new_f64(config, null(), [0usize].as_ptr(), 1, null_mut()),
            seqcore_search_done(null_search, &mut flag),
            seqcore_search_done(s, null_mut()),
            seqcore_search_generated(null_search, &mut n),
            seqcore_search_generated(s, null_mut()),
            seqcore_search_batch_size(null_search, &mut n),
            seqcore_search_max_rows(s, null_mut()),
            seqcore_search_candidates_per_group(null_search, &mut n),
            seqcore_search_active_rows(null_search, rows.as_mut_ptr(), 64, &mut n),
            seqcore_search_active_rows(s, rows.as_mut_ptr(), 64, null_mut()),
            seqcore_search_active_rows(s, null_mut(), 64, &mut n),
            seqcore_search_step_logprobs(
                null_search,
                logprobs.as_ptr(),
                3,
                12,
                sink.as_mut_ptr(),
                rows.as_mut_ptr(),
                rows.as_mut_ptr(),
                12,
                &mut n,
            ),
            seqcore_search_step_logprobs(
                s,
                null(),
                3,
                12,
                sink.as_mut_ptr(),
                rows.as_mut_ptr(),
                rows.as_mut_ptr(),
                12,
                &mut n,
            ),
            seqcore_search_step_logprobs(
                s,
                logprobs.as_ptr(),
                3,
                12,
                null_mut(),
                rows.as_mut_ptr(),
                rows.as_mut_ptr(),
                12,
                &mut n,
            ),
            seqcore_search_step_logprobs(
                s,
                logprobs.as_ptr(),
                3,
                12,
                sink.as_mut_ptr(),
                rows.as_mut_ptr(),
                rows.as_mut_ptr(),
                12,
                null_mut(),
            ),
            seqcore_search_step_candidates(
                s,
                null(),
                logprobs.as_ptr(),
                3,
                12,
                sink.as_mut_ptr(),
                rows.as_mut_ptr(),
                rows.as_mut_ptr(),
                12,
                &mut n,
            ),
            seqcore_search_step_logprobs_f64(
                null_search,
                null(),
                3,
                12,
                null_mut(),
                null_mut(),
                null_mut(),
                0,
                &mut n,
            ),
            seqcore_search_step_candidates_f64(
                null_search,
                null(),
                null(),
                3,
                12,
                null_mut(),
                null_mut(),
                null_mut(),
                0,
                &mut n,
            ),
            seqcore_search_finalize(null(), &mut null_mut()),
            seqcore_search_finalize(s, null_mut()),
            seqcore_search_result_num_items(null_result, &mut n),
            seqcore_search_result_num_hypotheses(null_result, 0, &mut n),
            seqcore_search_result_num_tokens(null_result, 0, 0, &mut n),
            seqcore_search_result_tokens(null_result, 0, 0, sink.as_mut_ptr(), 8, &mut n),
            seqcore_search_result_score(null_result, 0, 0, &mut value),
            seqcore_search_result_token_scores(null_result, 0, 0, null_mut(), 0, &mut n),
            seqcore_search_result_beam_indices(null_result, 0, 0, null_mut(), 0, &mut n),
            seqcore_search_result_group(null_result, 0, 0, &mut n),
            seqcore_search_result_finished(null_result, 0, 0, &mut flag),
        ];
        for (i, status) in cases.into_iter().enumerate() {
            assert_eq!(status, S::InvalidArgument, "case {i}");
        }
        // The message names the pointer.
        let status = seqcore_search_done(s, null_mut());
        expect(status, S::InvalidArgument, "out_done is NULL");
        let status = seqcore_search_new(config, null(), null(), 1, &mut null_mut());
        expect(status, S::InvalidArgument, "prompt_lengths is NULL");
        // Nothing above changed the search.
        assert_eq!(search.usize_of(seqcore_search_generated), 0);
        seqcore_search_config_free(config);
    }
}

#[test]
fn freeing_null_is_a_no_op() {
    // SAFETY: NULL is documented as a no-op for every free function.
    unsafe {
        seqcore_search_config_free(null_mut());
        seqcore_search_free(null_mut());
        seqcore_search_result_free(null_mut());
    }
}

#[test]
fn misaligned_pointers_are_refused() {
    let buffer = [0u64; 4];
    let misaligned = (buffer.as_ptr() as *const u8).wrapping_add(1) as *const u32;
    let config = c_config(&beam_config());
    // SAFETY: `config` is live; the misaligned pointer is refused before
    // any use.
    unsafe {
        let status = seqcore_search_config_set_eos_token_ids(config, misaligned, 1);
        expect(status, S::InvalidArgument, "ids is not aligned");
        seqcore_search_config_free(config);
    }
}

#[test]
fn configuration_errors() {
    let mut bad = beam_config();
    bad.num_groups = 3;
    let config = c_config(&bad);
    let mut search = null_mut();
    // SAFETY: a live configuration and live locals.
    unsafe {
        let status = seqcore_search_config_validate(config);
        expect(status, S::ConfigError, "num_groups (3)");
        let status = seqcore_search_new(config, null(), [0].as_ptr(), 1, &mut search);
        expect(status, S::ConfigError, "num_groups (3)");
        assert!(search.is_null(), "nothing is made on failure");
        for status in [
            seqcore_search_config_set_diversity(config, 3, 2),
            seqcore_search_config_set_early_stopping(config, -1),
            seqcore_search_config_set_semantics(config, 7),
        ] {
            expect(status, S::InvalidArgument, "is not a Seqcore");
        }
        assert_eq!((*config).inner, bad, "refused values change nothing");
        let status = seqcore_search_config_set_num_groups(config, 2);
        expect(status, S::Ok, "");
        expect(seqcore_search_config_validate(config), S::Ok, "");
        // Values are stored as given and checked together.
        let status = seqcore_search_config_set_diversity_strength(config, f64::NAN);
        expect(status, S::Ok, "");
        let status = seqcore_search_config_validate(config);
        expect(status, S::ConfigError, "diversity_strength");
        seqcore_search_config_set_diversity_strength(config, 0.5);
        seqcore_search_config_set_diversity(config, SeqcoreDiversity::Ngram as i32, 0);
        expect(
            seqcore_search_config_validate(config),
            S::ConfigError,
            "n >= 1",
        );
        seqcore_search_config_set_diversity(config, SeqcoreDiversity::Ngram as i32, 3);
        let ids = [1u32, 2, 3];
        let status =
            seqcore_search_config_set_bad_words_ids(config, ids.as_ptr(), [3, 0].as_ptr(), 2);
        expect(status, S::Ok, "");
        expect(
            seqcore_search_config_validate(config),
            S::ConfigError,
            "empty",
        );
        let status = seqcore_search_config_set_bad_words_ids(
            config,
            ids.as_ptr(),
            [usize::MAX, 2].as_ptr(),
            2,
        );
        expect(status, S::InvalidArgument, "overflow");
        seqcore_search_config_set_bad_words_ids(config, null(), null(), 0);
        seqcore_search_config_set_pad_token_id(config, 99);
        expect(
            seqcore_search_config_validate(config),
            S::ConfigError,
            "pad token id 99",
        );
        seqcore_search_config_set_pad_token_id(config, SEQCORE_NO_TOKEN);
        assert_eq!((*config).inner.pad_token_id, None);
        expect(seqcore_search_config_validate(config), S::Ok, "");
        seqcore_search_config_free(config);
    }
}

#[test]
fn shape_errors_leave_the_search_unchanged() {
    let (search, logprobs) = started();
    let (status, n) = raw_step(&search, &logprobs, 2, 11, 8);
    expect(
        status,
        S::ShapeError,
        "vocab is 11 but the configuration says 12",
    );
    assert_eq!(n, usize::MAX, "nothing written on failure");
    let (status, _) = raw_step(&search, &logprobs, 1, 12, 8);
    expect(
        status,
        S::ShapeError,
        "rows is 1 but the search has 2 active rows",
    );
    let (status, _) = raw_step(&search, &logprobs, usize::MAX, 12, 8);
    expect(status, S::ShapeError, "active rows");
    assert_eq!(search.usize_of(seqcore_search_generated), 0);

    // k below what each group keeps, and above the vocabulary.
    let (mut ids, mut values) = top_k(&logprobs, 12, 12);
    ids.resize(2 * 13, 0);
    values.resize(2 * 13, 0.0);
    for k in [search.usize_of(seqcore_search_candidates_per_group) - 1, 13] {
        let (status, _) = raw_candidates(&search, &ids, &values, 2, k);
        expect(status, S::ShapeError, "k must be in");
    }

    // An empty batch.
    let config = c_config(&beam_config());
    let mut s = null_mut();
    // SAFETY: a live configuration; zero prompts need no arrays.
    unsafe {
        let status = seqcore_search_new(config, null(), null(), 0, &mut s);
        expect(status, S::ShapeError, "no prompts");
        seqcore_search_config_free(config);
    }

    // The search still runs.
    let (status, n) = raw_step(&search, &logprobs, 2, 12, 8);
    expect(status, S::Ok, "");
    assert_eq!(n, 8);
}

#[test]
fn candidate_tokens_outside_the_vocabulary_are_refused() {
    let (search, logprobs) = started();
    let k = search.usize_of(seqcore_search_candidates_per_group);
    let (mut ids, values) = top_k(&logprobs, 12, k);
    ids[3] = 12;
    let (status, _) = raw_candidates(&search, &ids, &values, 2, k);
    expect(status, S::InvalidArgument, "token id 12");
    assert_eq!(search.usize_of(seqcore_search_generated), 0);
}

#[test]
fn non_finite_log_probs_are_refused() {
    let (search, mut logprobs) = started();
    logprobs[12 + 5] = f32::NAN;
    let (status, _) = raw_step(&search, &logprobs, 2, 12, 8);
    expect(status, S::NonFinite, "row 1, column 5 is NaN");
    logprobs[12 + 5] = f32::INFINITY;
    let (status, _) = raw_step(&search, &logprobs, 2, 12, 8);
    expect(status, S::NonFinite, "inf");
    logprobs[12 + 5] = f32::NEG_INFINITY;
    let (status, _) = raw_step(&search, &logprobs, 2, 12, 8);
    expect(status, S::Ok, "");
}
