//! Rust wrappers around the C handles: each calls the C API, checks its
//! status, and frees its handle on drop.

use std::ptr::null_mut;

use seqcore::decode::{Score, SearchConfig, StepOutput};

use super::{c_config, expect, S};
use crate::*;

/// seqcore_search_new and its float64 twin.
type NewFn = unsafe extern "C" fn(
    *const SeqcoreSearchConfig,
    *const u32,
    *const usize,
    usize,
    *mut *mut SeqcoreSearch,
) -> SeqcoreStatus;

/// seqcore_search_step_logprobs and its float64 twin.
type StepFn<T> = unsafe extern "C" fn(
    *mut SeqcoreSearch,
    *const T,
    usize,
    usize,
    *mut u32,
    *mut usize,
    *mut usize,
    usize,
    *mut usize,
) -> SeqcoreStatus;

/// seqcore_search_step_candidates and its float64 twin.
type CandidatesFn<T> = unsafe extern "C" fn(
    *mut SeqcoreSearch,
    *const u32,
    *const T,
    usize,
    usize,
    *mut u32,
    *mut usize,
    *mut usize,
    usize,
    *mut usize,
) -> SeqcoreStatus;

/// The C API's float functions for one float type.
pub(super) trait CFloat: Score {
    /// seqcore_search_new or seqcore_search_new_f64.
    const NEW: NewFn;
    /// seqcore_search_step_logprobs or its `_f64` form.
    const STEP: StepFn<Self>;
    /// seqcore_search_step_candidates or its `_f64` form.
    const CANDIDATES: CandidatesFn<Self>;
}

impl CFloat for f32 {
    const NEW: NewFn = seqcore_search_new;
    const STEP: StepFn<f32> = seqcore_search_step_logprobs;
    const CANDIDATES: CandidatesFn<f32> = seqcore_search_step_candidates;
}

impl CFloat for f64 {
    const NEW: NewFn = seqcore_search_new_f64;
    const STEP: StepFn<f64> = seqcore_search_step_logprobs_f64;
    const CANDIDATES: CandidatesFn<f64> = seqcore_search_step_candidates_f64;
}

/// A search through the C API, freed on drop.
pub(super) struct CSearch(pub(super) *mut SeqcoreSearch);

impl CSearch {
    pub(super) fn new<T: CFloat>(config: &SearchConfig, prompts: &[&[u32]]) -> Self {
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

    pub(super) fn active_rows(&self) -> Vec<usize> {
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

    pub(super) fn done(&self) -> bool {
        let mut done = false;
        // SAFETY: a live search and a live local.
        expect(unsafe { seqcore_search_done(self.0, &mut done) }, S::Ok, "");
        done
    }

    pub(super) fn usize_of(
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

    pub(super) fn step<T: CFloat>(
        &mut self,
        logprobs: &[T],
        rows: usize,
        vocab: usize,
    ) -> StepOutput {
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

    pub(super) fn step_candidates<T: CFloat>(
        &mut self,
        ids: &[u32],
        logprobs: &[T],
        k: usize,
    ) -> StepOutput {
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

    pub(super) fn finalize(&self) -> CResult {
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
pub(super) struct CResult(pub(super) *mut SeqcoreSearchResult);

/// One hypothesis read back through the accessors.
#[derive(Debug, PartialEq)]
pub(super) struct Read {
    pub(super) tokens: Vec<u32>,
    pub(super) score: f64,
    pub(super) token_scores: Vec<f64>,
    pub(super) beam_indices: Vec<usize>,
    pub(super) group: usize,
    pub(super) finished: bool,
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

    pub(super) fn read(&self) -> Vec<Vec<Read>> {
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
