//! Refused configurations and inputs; a refused step changes nothing.

use super::support::{fake_logprobs, run_dense};
use crate::decode::{DecodeError, Diversity, SearchConfig, SearchState, Semantics};

fn config_error(change: impl Fn(&mut SearchConfig)) {
    let mut config = SearchConfig::new(10, 4);
    config.eos_token_ids = vec![2];
    change(&mut config);
    assert!(
        matches!(config.validate(), Err(DecodeError::Config(_))),
        "{config:?}"
    );
    let prompt: &[u32] = &[1];
    assert!(matches!(
        SearchState::<f32>::new(config, &[prompt]),
        Err(DecodeError::Config(_))
    ));
}

#[test]
fn bad_configurations_are_refused() {
    config_error(|c| c.vocab_size = 0);
    config_error(|c| c.num_beams = 0);
    config_error(|c| c.num_groups = 0);
    config_error(|c| c.num_groups = 3);
    config_error(|c| c.num_groups = 8);
    config_error(|c| {
        c.num_groups = 2;
        c.semantics = Semantics::Vectorized;
    });
    config_error(|c| c.num_return_sequences = 0);
    config_error(|c| c.num_return_sequences = 5);
    config_error(|c| c.max_new_tokens = 0);
    config_error(|c| c.diversity_strength = -0.5);
    config_error(|c| c.diversity_strength = f64::NAN);
    config_error(|c| c.length_penalty = f64::INFINITY);
    config_error(|c| c.diversity = Diversity::Ngram(0));
    config_error(|c| c.eos_token_ids = vec![10]);
    config_error(|c| c.pad_token_id = Some(11));
    config_error(|c| c.bad_words_ids = vec![vec![]]);
    config_error(|c| c.bad_words_ids = vec![vec![1, 10]]);
    // 4 beams keep 8 candidates: 4 beams over 1 token offer 4.
    config_error(|c| c.vocab_size = 1);
    // Greedy over one token is fine.
    let mut greedy = SearchConfig::new(1, 1);
    greedy.max_new_tokens = 3;
    assert_eq!(greedy.validate(), Ok(()));
}

#[test]
fn bad_inputs_are_refused_and_change_nothing() {
    let vocab = 12;
    for (beams, groups) in [(1, 1), (3, 1), (4, 2)] {
        let mut config = SearchConfig::new(vocab, beams);
        config.num_groups = groups;
        config.diversity_strength = 0.5;
        config.eos_token_ids = vec![2];
        config.max_new_tokens = 5;
        let prompts = [vec![1u32, 4], vec![3u32]];
        let model = |s: &[u32]| fake_logprobs(3, s, vocab, &[2]);
        let want = run_dense(&config, &prompts, model).unwrap();

        let refs: Vec<&[u32]> = prompts.iter().map(|p| p.as_slice()).collect();
        assert!(matches!(
            SearchState::<f32>::new(config.clone(), &[]),
            Err(DecodeError::Shape(_))
        ));
        let mut state = SearchState::<f32>::new(config.clone(), &refs).unwrap();
        assert_eq!(state.finalize(), Err(DecodeError::NotStarted));
        let mut rows: Vec<Vec<u32>> = state
            .active_rows()
            .iter()
            .map(|&r| prompts[r / beams].clone())
            .collect();
        let keep = config.candidates_per_group();
        while !state.done() {
            let good: Vec<f32> = rows.iter().flat_map(|s| model(s)).collect();
            let shape =
                |r: Result<_, DecodeError>| assert!(matches!(r, Err(DecodeError::Shape(_))));
            shape(state.step_logprobs(&good, vocab + 1));
            shape(state.step_logprobs(&good[1..], vocab));
            // The last row's NaN is found whichever group it belongs to.
            let mut bad = good.clone();
            let last = bad.len() - 1;
            bad[last] = f32::NAN;
            match state.step_logprobs(&bad, vocab) {
                Err(DecodeError::NonFinite { row, col, value }) => {
                    assert_eq!((row, col), (rows.len() - 1, vocab - 1));
                    assert!(value.is_nan());
                }
                other => panic!("{other:?}"),
            }
            bad[last] = f32::INFINITY;
            assert!(matches!(
                state.step_logprobs(&bad, vocab),
                Err(DecodeError::NonFinite { .. })
            ));
            // Candidate lists: too short, repeated and unknown tokens.
            let tokens: Vec<u32> = rows.iter().flat_map(|_| 0..keep as u32).collect();
            let values: Vec<f32> = tokens.iter().map(|_| -1.0).collect();
            if keep > 1 {
                let short = &tokens[..rows.len() * (keep - 1)];
                shape(state.step_candidates(short, &values[..short.len()], keep - 1));
                let mut twice = tokens.clone();
                twice[1] = twice[0];
                shape(state.step_candidates(&twice, &values, keep));
            }
            shape(state.step_candidates(&tokens, &values, vocab + 1));
            let mut unknown = tokens.clone();
            unknown[0] = vocab as u32;
            assert!(matches!(
                state.step_candidates(&unknown, &values, keep),
                Err(DecodeError::TokenOutOfRange { row: 0, token, .. }) if token == vocab as u32
            ));
            let mut nan = values.clone();
            nan[keep - 1] = f32::NAN;
            assert!(matches!(
                state.step_candidates(&tokens, &nan, keep),
                Err(DecodeError::NonFinite { row: 0, col, .. }) if col == keep - 1
            ));

            let out = state.step_logprobs(&good, vocab).unwrap();
            rows = out
                .parents
                .iter()
                .zip(&out.tokens)
                .map(|(&p, &t)| {
                    let mut s = rows[p].clone();
                    s.push(t);
                    s
                })
                .collect();
        }
        assert_eq!(state.finalize().unwrap(), want);
        assert_eq!(state.step_logprobs(&[], vocab), Err(DecodeError::Finished));
        assert_eq!(
            state.step_candidates(&[], &[], keep),
            Err(DecodeError::Finished)
        );
    }
}

#[test]
fn minus_infinity_is_allowed() {
    let mut config = SearchConfig::new(5, 2);
    config.max_new_tokens = 2;
    let prompt: &[u32] = &[0];
    let mut state = SearchState::<f32>::new(config, &[prompt]).unwrap();
    let row = [
        f32::NEG_INFINITY,
        -1.0,
        f32::NEG_INFINITY,
        -2.0,
        f32::NEG_INFINITY,
    ];
    let out = state.step_logprobs(&row, 5).unwrap();
    assert_eq!(out.tokens, vec![1, 3]);
    let rows: Vec<f32> = row.iter().chain(&row).copied().collect();
    state.step_logprobs(&rows, 5).unwrap();
    let best = &state.finalize().unwrap().sequences[0][0];
    assert_eq!((best.tokens.clone(), best.score), (vec![1, 1], -1.0));
}
