//! The C API called from Rust: results equal `seqcore::decode` used
//! directly, and every failure gives its status and message.
//!
//! This module holds the shared harness (the toy model, the configurations,
//! status checks); `handles` wraps the C handles, `equals_core` compares
//! searches with the core, and `bad_input` and `errors` test failures.

mod bad_input;
mod equals_core;
mod errors;
mod handles;

use std::ffi::{c_int, CStr};
use std::ptr::null_mut;

use seqcore::decode::{Diversity, EarlyStopping, Score, SearchConfig, Semantics};

use crate::*;

use handles::CSearch;
use SeqcoreStatus as S;

fn last_error() -> String {
    // SAFETY: seqcore_last_error returns a valid NUL-terminated string that
    // lives until the next call on this thread; it is copied at once.
    unsafe { CStr::from_ptr(seqcore_last_error()) }
        .to_str()
        .expect("messages are UTF-8")
        .to_owned()
}

/// Asserts a status and that the last error mentions `needle` (or is empty
/// for OK).
#[track_caller]
fn expect(status: SeqcoreStatus, want: SeqcoreStatus, needle: &str) {
    let message = last_error();
    assert_eq!(status, want, "message: {message}");
    if want == S::Ok {
        assert_eq!(message, "");
    } else {
        assert!(
            message.contains(needle),
            "{message:?} should mention {needle:?}"
        );
    }
}

/// A C configuration equal to `config`, made with every setter.
fn c_config(config: &SearchConfig) -> *mut SeqcoreSearchConfig {
    let mut handle = null_mut();
    let bad_ids: Vec<u32> = config.bad_words_ids.concat();
    let bad_lengths: Vec<usize> = config.bad_words_ids.iter().map(Vec::len).collect();
    let (kind, ngram) = match config.diversity {
        Diversity::Hamming => (SeqcoreDiversity::Hamming, 0),
        Diversity::Cumulative => (SeqcoreDiversity::Cumulative, 0),
        Diversity::Ngram(n) => (SeqcoreDiversity::Ngram, n),
    };
    let stopping = match config.early_stopping {
        EarlyStopping::Heuristic => SeqcoreEarlyStopping::Heuristic,
        EarlyStopping::Finish => SeqcoreEarlyStopping::Finish,
        EarlyStopping::Never => SeqcoreEarlyStopping::Never,
    };
    let semantics = match config.semantics {
        Semantics::Auto => SeqcoreSemantics::Auto,
        Semantics::Vectorized => SeqcoreSemantics::Vectorized,
        Semantics::Scorer => SeqcoreSemantics::Scorer,
    };
    // SAFETY: `handle` is a live local the constructor writes; afterwards it
    // is a live configuration handle used only here, and every array
    // pointer comes with its own length.
    unsafe {
        let c = &mut handle;
        expect(seqcore_search_config_new(7, 1, c), S::Ok, "");
        let c = handle;
        for status in [
            seqcore_search_config_set_vocab_size(c, config.vocab_size),
            seqcore_search_config_set_num_beams(c, config.num_beams),
            seqcore_search_config_set_num_groups(c, config.num_groups),
            seqcore_search_config_set_diversity_strength(c, config.diversity_strength),
            seqcore_search_config_set_diversity(c, kind as c_int, ngram),
            seqcore_search_config_set_length_penalty(c, config.length_penalty),
            seqcore_search_config_set_early_stopping(c, stopping as c_int),
            seqcore_search_config_set_num_return_sequences(c, config.num_return_sequences),
            seqcore_search_config_set_eos_token_ids(
                c,
                config.eos_token_ids.as_ptr(),
                config.eos_token_ids.len(),
            ),
            seqcore_search_config_set_pad_token_id(
                c,
                config.pad_token_id.unwrap_or(SEQCORE_NO_TOKEN),
            ),
            seqcore_search_config_set_min_new_tokens(c, config.min_new_tokens),
            seqcore_search_config_set_max_new_tokens(c, config.max_new_tokens),
            seqcore_search_config_set_no_repeat_ngram_size(c, config.no_repeat_ngram_size),
            seqcore_search_config_set_bad_words_ids(
                c,
                bad_ids.as_ptr(),
                bad_lengths.as_ptr(),
                bad_lengths.len(),
            ),
            seqcore_search_config_set_semantics(c, semantics as c_int),
        ] {
            assert_eq!(status, S::Ok, "{}", last_error());
        }
        assert_eq!((*c).inner, *config, "every setter reaches its field");
    }
    handle
}

/// The toy model: normalized log-probs of the next token after `last` at
/// step `step`, from a fixed integer hash.
fn model<T: Score>(last: u32, step: usize, vocab: usize) -> Vec<T> {
    let logits: Vec<f64> = (0..vocab)
        .map(|j| {
            let h = (last as usize * 131 + j * 31 + step * 17 + (j * j) % 7) % 97;
            h as f64 / 12.0
        })
        .collect();
    let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let log_sum = logits.iter().map(|l| (l - max).exp()).sum::<f64>().ln() + max;
    logits.iter().map(|l| T::from_f64(l - log_sum)).collect()
}

/// Each row's top-k (tokens, log-probs), best first, ties to lower ids.
fn top_k<T: Score>(logprobs: &[T], vocab: usize, k: usize) -> (Vec<u32>, Vec<T>) {
    let mut ids = Vec::new();
    let mut values = Vec::new();
    for row in logprobs.chunks(vocab) {
        let mut order: Vec<usize> = (0..vocab).collect();
        order.sort_by(|&a, &b| row[b].partial_cmp(&row[a]).unwrap().then(a.cmp(&b)));
        for &j in &order[..k] {
            ids.push(j as u32);
            values.push(row[j]);
        }
    }
    (ids, values)
}

fn beam_config() -> SearchConfig {
    let mut config = SearchConfig::new(12, 4);
    config.eos_token_ids = vec![1, 4];
    config.num_return_sequences = 3;
    config.max_new_tokens = 7;
    config.min_new_tokens = 1;
    config.length_penalty = 0.7;
    config.no_repeat_ngram_size = 2;
    config.bad_words_ids = vec![vec![3], vec![2, 5]];
    config
}

fn diverse_config() -> SearchConfig {
    let mut config = beam_config();
    config.num_beams = 6;
    config.num_groups = 3;
    config.num_return_sequences = 4;
    config.diversity_strength = 0.8;
    config.pad_token_id = Some(0);
    config.early_stopping = EarlyStopping::Finish;
    config
}

const PROMPTS: [&[u32]; 3] = [&[2, 5, 7], &[9], &[]];

/// A two-row search over beam_config() with a step's buffers, for the step
/// error tests.
fn started() -> (CSearch, Vec<f32>) {
    let config = beam_config();
    let search = CSearch::new::<f32>(&config, &PROMPTS[..2]);
    let logprobs = [7u32, 9]
        .iter()
        .flat_map(|&t| model::<f32>(t, 0, config.vocab_size))
        .collect();
    (search, logprobs)
}

/// Calls seqcore_search_step_logprobs with `capacity`-element buffers.
fn raw_step(
    search: &CSearch,
    logprobs: &[f32],
    rows: usize,
    vocab: usize,
    capacity: usize,
) -> (SeqcoreStatus, usize) {
    let mut tokens = vec![0u32; capacity];
    let mut parents = vec![0usize; capacity];
    let mut new_rows = vec![0usize; capacity];
    let mut n = usize::MAX;
    // SAFETY: a live search; `logprobs` holds rows * vocab values whenever
    // the shape matches the search, and a shape that does not is refused
    // before the array is looked at; the buffers hold `capacity` elements
    // each.
    let status = unsafe {
        seqcore_search_step_logprobs(
            search.0,
            logprobs.as_ptr(),
            rows,
            vocab,
            tokens.as_mut_ptr(),
            parents.as_mut_ptr(),
            new_rows.as_mut_ptr(),
            capacity,
            &mut n,
        )
    };
    (status, n)
}

/// seqcore_search_step_candidates on `rows` rows of `k` candidates each,
/// with eight-element output buffers; returns the status and length.
fn raw_candidates(
    search: &CSearch,
    ids: &[u32],
    values: &[f32],
    rows: usize,
    k: usize,
) -> (SeqcoreStatus, usize) {
    assert!(ids.len() >= rows * k && values.len() >= rows * k);
    let (mut t, mut p, mut r, mut n) = ([0u32; 8], [0usize; 8], [0usize; 8], 0);
    // SAFETY: a live search; ids/values hold rows * k elements (asserted);
    // the buffers hold 8 elements each.
    let status = unsafe {
        seqcore_search_step_candidates(
            search.0,
            ids.as_ptr(),
            values.as_ptr(),
            rows,
            k,
            t.as_mut_ptr(),
            p.as_mut_ptr(),
            r.as_mut_ptr(),
            8,
            &mut n,
        )
    };
    (status, n)
}
