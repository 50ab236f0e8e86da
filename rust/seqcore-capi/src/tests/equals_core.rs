//! Searches through the C API equal the same searches run on
//! `seqcore::decode` directly: beam, greedy, diverse beam, candidate steps,
//! and results read before the search is done.

use seqcore::decode::{
    Diversity, EarlyStopping, Score, SearchConfig, SearchOutput, SearchState, Semantics,
};

use super::handles::{CFloat, CSearch, Read};
use super::{beam_config, diverse_config, model, top_k, PROMPTS};
use crate::*;

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
