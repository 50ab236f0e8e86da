//! Searches that must agree: greedy and one beam, one group and plain beam
//! search, groups without penalty and independent searches, host top-k and
//! full rows, early finalize and a shorter search, any thread count.

use super::support::{
    fake_logprobs, grid_logprobs, mix, random_config, random_prompts, run_candidates, run_dense,
    run_recorded,
};
use crate::decode::{Diversity, EarlyStopping, Hypothesis, SearchConfig, SearchOutput, Semantics};
use crate::parallel;

/// Tokens, score bits, token-score bits and beam indices.
type HypothesisBits = (Vec<u32>, u32, Vec<u32>, Vec<usize>);

fn bits(hyps: &[Hypothesis<f32>]) -> Vec<HypothesisBits> {
    hyps.iter()
        .map(|h| {
            let scores = h.token_scores.iter().map(|s| s.to_bits()).collect();
            (
                h.tokens.clone(),
                h.score.to_bits(),
                scores,
                h.beam_indices.clone(),
            )
        })
        .collect()
}

fn same_output(a: &SearchOutput<f32>, b: &SearchOutput<f32>) -> bool {
    a.sequences
        .iter()
        .zip(&b.sequences)
        .all(|(x, y)| bits(x) == bits(y))
        && a.per_group
            .iter()
            .flatten()
            .zip(b.per_group.iter().flatten())
            .all(|(x, y)| bits(x) == bits(y))
}

#[test]
fn greedy_equals_beam_search_with_one_beam() {
    let mut compared = 0;
    for seed in 0..300 {
        let mut config = random_config(seed, 1, 1);
        config.early_stopping = if seed % 2 == 0 {
            EarlyStopping::Heuristic
        } else {
            EarlyStopping::Finish
        };
        let prompts = random_prompts(seed, 1 + seed as usize % 3, config.vocab_size);
        let eos = config.eos_token_ids.clone();
        let model = |seq: &[u32]| grid_logprobs(seed, seq, config.vocab_size, &eos);
        let greedy = run_dense(&config, &prompts, model).unwrap();
        if greedy
            .sequences
            .iter()
            .any(|h| h[0].score == f32::NEG_INFINITY)
        {
            // Every token banned: beam search keeps its -1e9 placeholder
            // rather than a -inf hypothesis (module docs).
            continue;
        }
        for semantics in [Semantics::Vectorized, Semantics::Scorer] {
            let mut beam = config.clone();
            beam.semantics = semantics;
            if beam.validate().is_err() {
                continue; // too small a vocabulary for 2 (or 3) candidates
            }
            let beam = run_dense(&beam, &prompts, model).unwrap();
            for (g, b) in greedy.sequences.iter().zip(&beam.sequences) {
                if semantics == Semantics::Vectorized {
                    // Greedy reports the plain sum; beam search divides it.
                    let mut g = g.clone();
                    let divisor = (g[0].tokens.len() as f64).powf(config.length_penalty) as f32;
                    g[0].score /= divisor;
                    assert_eq!(bits(&g), bits(b), "seed {seed}");
                } else if config.bad_words_ids.is_empty() {
                    // 4.56 keeps finished scores in f64 and reads bad words
                    // differently (module docs); tokens agree.
                    assert_eq!(g[0].tokens, b[0].tokens, "seed {seed}");
                }
            }
            compared += 1;
        }
    }
    assert!(compared > 300, "{compared}");
}

#[test]
fn one_group_of_the_4_56_scorer_equals_5_18_beam_search_when_all_end_on_eos() {
    let mut compared = 0;
    for seed in 0..300 {
        let num_beams = 2 + seed as usize % 3;
        let mut config = random_config(seed, num_beams, 1);
        config.early_stopping = EarlyStopping::Finish;
        config.length_penalty = 1.0;
        config.max_new_tokens = 30;
        config.bad_words_ids.clear();
        config.no_repeat_ngram_size = 0;
        if config.eos_token_ids.is_empty() {
            config.eos_token_ids = vec![1];
        }
        let prompts = random_prompts(seed, 2, config.vocab_size);
        let eos = config.eos_token_ids.clone();
        let model = |seq: &[u32]| fake_logprobs(seed, seq, config.vocab_size, &eos);
        let (vectorized, steps) = {
            let (state, record) = run_recorded(&config, &prompts, model, usize::MAX);
            (state.finalize().unwrap(), record.len())
        };
        if steps == config.max_new_tokens {
            continue; // the two differ at the maximum length (module docs)
        }
        let mut scorer = config.clone();
        scorer.semantics = Semantics::Scorer;
        let scorer = run_dense(&scorer, &prompts, model).unwrap();
        assert!(same_output(&vectorized, &scorer), "seed {seed}");
        compared += 1;
    }
    assert!(compared > 100, "{compared}");
}

#[test]
fn groups_without_penalty_are_independent_searches() {
    for seed in 0..200 {
        let groups = 2 + seed as usize % 2;
        let group_size = 1 + seed as usize % 3;
        let mut config = random_config(seed, groups * group_size, groups);
        config.diversity = [
            Diversity::Hamming,
            Diversity::Cumulative,
            Diversity::Ngram(2),
        ][seed as usize % 3];
        let mut single = config.clone();
        single.num_beams = group_size;
        single.num_groups = 1;
        single.num_return_sequences = 1;
        single.semantics = Semantics::Scorer;
        if single.validate().is_err() {
            continue;
        }
        let prompts = random_prompts(seed, 2, config.vocab_size);
        let eos = config.eos_token_ids.clone();
        let model = |seq: &[u32]| fake_logprobs(seed, seq, config.vocab_size, &eos);
        let grouped = run_dense(&config, &prompts, model).unwrap();
        let alone = run_dense(&single, &prompts, model).unwrap();
        for (item, groups_of_item) in grouped.per_group.iter().enumerate() {
            for (g, hyps) in groups_of_item.iter().enumerate() {
                let want = &alone.per_group[item][0];
                assert_eq!(hyps.len(), want.len(), "seed {seed}");
                for (h, w) in hyps.iter().zip(want) {
                    assert_eq!(
                        (&h.tokens, h.score.to_bits(), h.group),
                        (&w.tokens, w.score.to_bits(), g)
                    );
                    assert_eq!(h.token_scores, w.token_scores);
                    // Rows are numbered within the whole batch item.
                    let mapped: Vec<usize> = w
                        .beam_indices
                        .iter()
                        .map(|r| {
                            r / group_size * config.num_beams + g * group_size + r % group_size
                        })
                        .collect();
                    assert_eq!(h.beam_indices, mapped, "seed {seed}");
                }
            }
        }
    }
}

#[test]
fn host_top_k_equals_full_rows_when_it_holds_the_best() {
    for seed in 0..200 {
        let (beams, groups) = [(1, 1), (3, 1), (4, 2), (6, 3)][seed as usize % 4];
        let mut config = random_config(seed, beams, groups);
        config.diversity_strength = 0.0;
        let prompts = random_prompts(seed, 2, config.vocab_size);
        let eos = config.eos_token_ids.clone();
        let model = |seq: &[u32]| grid_logprobs(seed, seq, config.vocab_size, &eos);
        let dense = run_dense(&config, &prompts, model).unwrap();
        // Every token listed: always the same search.
        let all = run_candidates(&config, &prompts, config.vocab_size, model).unwrap();
        assert!(same_output(&dense, &all), "seed {seed}");
        // Just the best K: the same when nothing is banned or penalized.
        if config.no_repeat_ngram_size == 0
            && config.bad_words_ids.is_empty()
            && config.min_new_tokens == 0
        {
            let keep = config.candidates_per_group();
            let top = run_candidates(&config, &prompts, keep, model).unwrap();
            assert!(same_output(&dense, &top), "seed {seed}");
        }
    }
}

#[test]
fn finalizing_early_equals_a_search_with_that_maximum() {
    let mut compared = 0;
    for seed in 0..200 {
        let (beams, groups) = [(1, 1), (3, 1), (4, 2), (6, 3)][seed as usize % 4];
        let mut config = random_config(seed, beams, groups);
        config.diversity_strength = 0.5;
        config.early_stopping = if seed % 8 < 4 {
            EarlyStopping::Heuristic
        } else {
            EarlyStopping::Finish
        };
        let prompts = random_prompts(seed, 2, config.vocab_size);
        let eos = config.eos_token_ids.clone();
        let model = |seq: &[u32]| fake_logprobs(seed, seq, config.vocab_size, &eos);
        let stop = 1 + mix(seed) as usize % config.max_new_tokens;
        let (state, _) = run_recorded(&config, &prompts, model, stop);
        if state.done() {
            continue; // ended on its own: finalize gives the full result
        }
        let early = state.finalize().unwrap();
        let mut shorter = config.clone();
        shorter.max_new_tokens = stop;
        let want = run_dense(&shorter, &prompts, model).unwrap();
        assert!(same_output(&early, &want), "seed {seed}: stop {stop}");
        compared += 1;
    }
    assert!(compared > 80, "{compared}");
}

#[test]
fn thread_count_does_not_change_results() {
    let vocab = 70_000;
    for (beams, groups, batch) in [(4, 1, 1), (4, 2, 3), (2, 1, 4)] {
        let mut config = SearchConfig::new(vocab, beams);
        config.num_groups = groups;
        config.diversity_strength = 0.7;
        config.eos_token_ids = vec![3];
        config.max_new_tokens = 6;
        config.num_return_sequences = beams;
        config.no_repeat_ngram_size = 2;
        let prompts = random_prompts(9, batch, vocab);
        let model = |seq: &[u32]| fake_logprobs(5, seq, vocab, &[3]);
        let before = parallel::num_threads();
        parallel::set_num_threads(1).unwrap();
        let one = run_dense(&config, &prompts, model).unwrap();
        parallel::set_num_threads(4).unwrap();
        let four = run_dense(&config, &prompts, model).unwrap();
        parallel::set_num_threads(before).unwrap();
        assert!(same_output(&one, &four));
        assert_eq!(one.per_group, four.per_group);
    }
}
