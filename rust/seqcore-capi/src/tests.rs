//! The C API called from Rust: results equal `seqcore::decode` used
//! directly, and every failure gives its status and message.

use std::ffi::{c_int, CStr};
use std::ptr::{null, null_mut};

use seqcore::decode::{
    Diversity, EarlyStopping, Score, SearchConfig, SearchOutput, SearchState, Semantics, StepOutput,
};

use crate::error::{guard, Failure};
use crate::*;

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

/// The C API's float functions for one float type.
trait CFloat: Score {
    /// seqcore_search_new or seqcore_search_new_f64.
    const NEW: unsafe extern "C" fn(
        *const SeqcoreSearchConfig,
        *const u32,
        *const usize,
        usize,
        *mut *mut SeqcoreSearch,
    ) -> SeqcoreStatus;
    #[allow(clippy::type_complexity)]
    const STEP: unsafe extern "C" fn(
        *mut SeqcoreSearch,
        *const Self,
        usize,
        usize,
        *mut u32,
        *mut usize,
        *mut usize,
        usize,
        *mut usize,
    ) -> SeqcoreStatus;
    #[allow(clippy::type_complexity)]
    const CANDIDATES: unsafe extern "C" fn(
        *mut SeqcoreSearch,
        *const u32,
        *const Self,
        usize,
        usize,
        *mut u32,
        *mut usize,
        *mut usize,
        usize,
        *mut usize,
    ) -> SeqcoreStatus;
}

impl CFloat for f32 {
    const NEW: unsafe extern "C" fn(
        *const SeqcoreSearchConfig,
        *const u32,
        *const usize,
        usize,
        *mut *mut SeqcoreSearch,
    ) -> SeqcoreStatus = seqcore_search_new;
    const STEP: unsafe extern "C" fn(
        *mut SeqcoreSearch,
        *const f32,
        usize,
        usize,
        *mut u32,
        *mut usize,
        *mut usize,
        usize,
        *mut usize,
    ) -> SeqcoreStatus = seqcore_search_step_logprobs;
    const CANDIDATES: unsafe extern "C" fn(
        *mut SeqcoreSearch,
        *const u32,
        *const f32,
        usize,
        usize,
        *mut u32,
        *mut usize,
        *mut usize,
        usize,
        *mut usize,
    ) -> SeqcoreStatus = seqcore_search_step_candidates;
}

impl CFloat for f64 {
    const NEW: unsafe extern "C" fn(
        *const SeqcoreSearchConfig,
        *const u32,
        *const usize,
        usize,
        *mut *mut SeqcoreSearch,
    ) -> SeqcoreStatus = seqcore_search_new_f64;
    const STEP: unsafe extern "C" fn(
        *mut SeqcoreSearch,
        *const f64,
        usize,
        usize,
        *mut u32,
        *mut usize,
        *mut usize,
        usize,
        *mut usize,
    ) -> SeqcoreStatus = seqcore_search_step_logprobs_f64;
    const CANDIDATES: unsafe extern "C" fn(
        *mut SeqcoreSearch,
        *const u32,
        *const f64,
        usize,
        usize,
        *mut u32,
        *mut usize,
        *mut usize,
        usize,
        *mut usize,
    ) -> SeqcoreStatus = seqcore_search_step_candidates_f64;
}

/// A search through the C API, freed on drop.
struct CSearch(*mut SeqcoreSearch);

impl CSearch {
    fn new<T: CFloat>(config: &SearchConfig, prompts: &[&[u32]]) -> Self {
        let c = c_config(config);
        let ids: Vec<u32> = prompts.concat();
        let lengths: Vec<usize> = prompts.iter().map(|p| p.len()).collect();
        let mut search = null_mut();
        // SAFETY: `c` is a live configuration, the arrays match their
        // lengths, and `search` is a live local.
        let status = unsafe {
            T::NEW(
                c,
                ids.as_ptr(),
                lengths.as_ptr(),
                lengths.len(),
                &mut search,
            )
        };
        expect(status, S::Ok, "");
        // SAFETY: `c` is live and freed once; the search holds a copy.
        unsafe { seqcore_search_config_free(c) };
        Self(search)
    }

    fn active_rows(&self) -> Vec<usize> {
        let mut len = 0;
        // SAFETY: a live search; (NULL, 0) asks for the length.
        let status = unsafe { seqcore_search_active_rows(self.0, null_mut(), 0, &mut len) };
        let want = if len == 0 { S::Ok } else { S::BufferTooSmall };
        expect(status, want, "out_rows");
        let mut rows = vec![usize::MAX; len];
        let mut written = 0;
        // SAFETY: `rows` holds `len` elements.
        let status =
            unsafe { seqcore_search_active_rows(self.0, rows.as_mut_ptr(), len, &mut written) };
        expect(status, S::Ok, "");
        assert_eq!(written, len);
        rows
    }

    fn done(&self) -> bool {
        let mut done = false;
        // SAFETY: a live search and a live local.
        expect(unsafe { seqcore_search_done(self.0, &mut done) }, S::Ok, "");
        done
    }

    fn usize_of(
        &self,
        f: unsafe extern "C" fn(*const SeqcoreSearch, *mut usize) -> SeqcoreStatus,
    ) -> usize {
        let mut value = usize::MAX;
        // SAFETY: a live search and a live local.
        expect(unsafe { f(self.0, &mut value) }, S::Ok, "");
        value
    }

    /// The step buffers, sized by seqcore_search_max_rows().
    fn buffers(&self) -> (Vec<u32>, Vec<usize>, Vec<usize>) {
        let cap = self.usize_of(seqcore_search_max_rows);
        (
            vec![u32::MAX; cap],
            vec![usize::MAX; cap],
            vec![usize::MAX; cap],
        )
    }

    fn step<T: CFloat>(&mut self, logprobs: &[T], rows: usize, vocab: usize) -> StepOutput {
        let (mut tokens, mut parents, mut new_rows) = self.buffers();
        let mut n = usize::MAX;
        // SAFETY: a live search, `logprobs` holds rows * vocab values (the
        // callers make it so), the buffers hold `tokens.len()` each.
        let status = unsafe {
            T::STEP(
                self.0,
                logprobs.as_ptr(),
                rows,
                vocab,
                tokens.as_mut_ptr(),
                parents.as_mut_ptr(),
                new_rows.as_mut_ptr(),
                tokens.len(),
                &mut n,
            )
        };
        expect(status, S::Ok, "");
        StepOutput {
            tokens: tokens[..n].to_vec(),
            parents: parents[..n].to_vec(),
            rows: new_rows[..n].to_vec(),
        }
    }

    fn step_candidates<T: CFloat>(&mut self, ids: &[u32], logprobs: &[T], k: usize) -> StepOutput {
        let (mut tokens, mut parents, mut new_rows) = self.buffers();
        let mut n = usize::MAX;
        let rows = ids.len() / k;
        // SAFETY: a live search, both inputs hold rows * k values, the
        // buffers hold `tokens.len()` each.
        let status = unsafe {
            T::CANDIDATES(
                self.0,
                ids.as_ptr(),
                logprobs.as_ptr(),
                rows,
                k,
                tokens.as_mut_ptr(),
                parents.as_mut_ptr(),
                new_rows.as_mut_ptr(),
                tokens.len(),
                &mut n,
            )
        };
        expect(status, S::Ok, "");
        StepOutput {
            tokens: tokens[..n].to_vec(),
            parents: parents[..n].to_vec(),
            rows: new_rows[..n].to_vec(),
        }
    }

    fn finalize(&self) -> CResult {
        let mut result = null_mut();
        // SAFETY: a live search and a live local.
        expect(
            unsafe { seqcore_search_finalize(self.0, &mut result) },
            S::Ok,
            "",
        );
        CResult(result)
    }
}

impl Drop for CSearch {
    fn drop(&mut self) {
        // SAFETY: the handle is live and freed only here.
        unsafe { seqcore_search_free(self.0) };
    }
}

/// A result through the C API, freed on drop.
struct CResult(*mut SeqcoreSearchResult);

/// One hypothesis read back through the accessors.
#[derive(Debug, PartialEq)]
struct Read {
    tokens: Vec<u32>,
    score: f64,
    token_scores: Vec<f64>,
    beam_indices: Vec<usize>,
    group: usize,
    finished: bool,
}

impl CResult {
    fn array<T: Copy + Default>(
        &self,
        item: usize,
        index: usize,
        f: unsafe extern "C" fn(
            *const SeqcoreSearchResult,
            usize,
            usize,
            *mut T,
            usize,
            *mut usize,
        ) -> SeqcoreStatus,
    ) -> Vec<T> {
        let mut len = usize::MAX;
        // SAFETY: a live result; (NULL, 0) asks for the length.
        let status = unsafe { f(self.0, item, index, null_mut(), 0, &mut len) };
        assert!(matches!(status, S::Ok | S::BufferTooSmall));
        let mut out = vec![T::default(); len];
        // SAFETY: `out` holds `len` elements.
        let status = unsafe { f(self.0, item, index, out.as_mut_ptr(), len, &mut len) };
        expect(status, S::Ok, "");
        assert_eq!(len, out.len());
        out
    }

    fn read(&self) -> Vec<Vec<Read>> {
        let mut items = 0;
        // SAFETY: a live result and a live local.
        let status = unsafe { seqcore_search_result_num_items(self.0, &mut items) };
        expect(status, S::Ok, "");
        (0..items)
            .map(|item| {
                let mut count = 0;
                // SAFETY: a live result and a live local.
                let status =
                    unsafe { seqcore_search_result_num_hypotheses(self.0, item, &mut count) };
                expect(status, S::Ok, "");
                (0..count)
                    .map(|index| {
                        let (mut n, mut score, mut group, mut finished) = (0, 0.0, 0, false);
                        // SAFETY: a live result and live locals.
                        unsafe {
                            let r = self.0;
                            let statuses = [
                                seqcore_search_result_num_tokens(r, item, index, &mut n),
                                seqcore_search_result_score(r, item, index, &mut score),
                                seqcore_search_result_group(r, item, index, &mut group),
                                seqcore_search_result_finished(r, item, index, &mut finished),
                            ];
                            assert_eq!(statuses, [S::Ok; 4]);
                        }
                        let read = Read {
                            tokens: self.array(item, index, seqcore_search_result_tokens),
                            score,
                            token_scores: self.array(
                                item,
                                index,
                                seqcore_search_result_token_scores,
                            ),
                            beam_indices: self.array(
                                item,
                                index,
                                seqcore_search_result_beam_indices,
                            ),
                            group,
                            finished,
                        };
                        assert_eq!(n, read.tokens.len());
                        read
                    })
                    .collect()
            })
            .collect()
    }
}

impl Drop for CResult {
    fn drop(&mut self) {
        // SAFETY: the handle is live and freed only here.
        unsafe { seqcore_search_result_free(self.0) };
    }
}

fn expected<T: Score>(output: &SearchOutput<T>) -> Vec<Vec<Read>> {
    output
        .sequences
        .iter()
        .map(|item| {
            item.iter()
                .map(|h| Read {
                    tokens: h.tokens.clone(),
                    score: h.score.to_f64(),
                    token_scores: h.token_scores.iter().map(|s| s.to_f64()).collect(),
                    beam_indices: h.beam_indices.clone(),
                    group: h.group,
                    finished: h.finished,
                })
                .collect()
        })
        .collect()
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

/// Runs the same search through the core and through the C API, on the toy
/// model, comparing every step and the result. `k`: feed each row's top-k
/// candidates instead of full rows.
fn compare<T: CFloat>(config: &SearchConfig, prompts: &[&[u32]], k: Option<usize>) {
    let vocab = config.vocab_size;
    let mut core = SearchState::<T>::new(config.clone(), prompts).unwrap();
    let mut c = CSearch::new::<T>(config, prompts);
    let mut last: Vec<u32> = prompts.iter().map(|p| *p.last().unwrap_or(&0)).collect();
    assert_eq!(
        c.usize_of(seqcore_search_candidates_per_group),
        config.candidates_per_group()
    );
    assert_eq!(c.usize_of(seqcore_search_batch_size), prompts.len());
    while !core.done() {
        assert!(!c.done());
        assert_eq!(c.active_rows(), core.active_rows());
        assert_eq!(c.usize_of(seqcore_search_generated), core.generated());
        let rows = core.active_rows().len();
        let step = core.generated();
        let logprobs: Vec<T> = last
            .iter()
            .flat_map(|&t| model::<T>(t, step, vocab))
            .collect();
        let (want, got) = match k {
            None => (
                core.step_logprobs(&logprobs, vocab).unwrap(),
                c.step(&logprobs, rows, vocab),
            ),
            Some(k) => {
                let (ids, values) = top_k(&logprobs, vocab, k);
                (
                    core.step_candidates(&ids, &values, k).unwrap(),
                    c.step_candidates(&ids, &values, k),
                )
            }
        };
        assert_eq!(got, want);
        last = want.tokens;
    }
    assert!(c.done());
    assert_eq!(c.active_rows(), Vec::<usize>::new());
    let want = expected(&core.finalize().unwrap());
    assert_eq!(c.finalize().read(), want);
    assert_eq!(want.len(), prompts.len());
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

#[test]
fn beam_search_equals_the_core() {
    compare::<f32>(&beam_config(), &PROMPTS, None);
    compare::<f64>(&beam_config(), &PROMPTS, None);
    let mut never = beam_config();
    never.early_stopping = EarlyStopping::Never;
    never.semantics = Semantics::Scorer;
    compare::<f32>(&never, &PROMPTS, None);
}

#[test]
fn greedy_search_equals_the_core() {
    let mut config = beam_config();
    config.num_beams = 1;
    config.num_return_sequences = 1;
    compare::<f32>(&config, &PROMPTS, None);
}

#[test]
fn diverse_beam_search_equals_the_core() {
    let mut config = diverse_config();
    for diversity in [
        Diversity::Hamming,
        Diversity::Cumulative,
        Diversity::Ngram(2),
    ] {
        config.diversity = diversity;
        compare::<f32>(&config, &PROMPTS, None);
        compare::<f64>(&config, &PROMPTS, None);
    }
}

#[test]
fn candidate_steps_equal_the_core() {
    let mut config = beam_config();
    config.eos_token_ids = vec![1];
    let k = config.candidates_per_group() + 2;
    assert!(k < config.vocab_size);
    compare::<f32>(&config, &PROMPTS, Some(k));
    compare::<f64>(&diverse_config(), &PROMPTS, Some(6));
}

#[test]
fn a_result_can_be_read_before_the_search_is_done() {
    let config = beam_config();
    let mut c = CSearch::new::<f32>(&config, &PROMPTS[..1]);
    let logprobs = model::<f32>(7, 0, config.vocab_size);
    c.step(&logprobs, 1, config.vocab_size);
    let mut core = SearchState::<f32>::new(config.clone(), &PROMPTS[..1]).unwrap();
    core.step_logprobs(&logprobs, config.vocab_size).unwrap();
    assert_eq!(c.finalize().read(), expected(&core.finalize().unwrap()));
    assert!(!c.done(), "finalize leaves the search running");
}

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
        let (mut t, mut p, mut r, mut n) = ([0u32; 8], [0usize; 8], [0usize; 8], 0);
        // SAFETY: a live search; ids/values hold 2 * 13 >= 2 * k elements;
        // the buffers hold 8 elements.
        let status = unsafe {
            seqcore_search_step_candidates(
                search.0,
                ids.as_ptr(),
                values.as_ptr(),
                2,
                k,
                t.as_mut_ptr(),
                p.as_mut_ptr(),
                r.as_mut_ptr(),
                8,
                &mut n,
            )
        };
        let _ = (&mut t, &mut p, &mut r);
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
    let (mut t, mut p, mut r, mut n) = ([0u32; 8], [0usize; 8], [0usize; 8], 0);
    // SAFETY: a live search; ids/values hold 2 * k elements; the buffers
    // hold 8 elements each.
    let status = unsafe {
        seqcore_search_step_candidates(
            search.0,
            ids.as_ptr(),
            values.as_ptr(),
            2,
            k,
            t.as_mut_ptr(),
            p.as_mut_ptr(),
            r.as_mut_ptr(),
            8,
            &mut n,
        )
    };
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
