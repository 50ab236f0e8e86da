//! Bit-for-bit agreement with transformers, on the fixtures written by
//! `hf_fixtures.py`: 5.18 greedy and beam search, 4.56 diverse beam search.

use serde_json::Value;

use super::support::{fake_logprobs, run_dense};
use crate::decode::{EarlyStopping, Hypothesis, SearchConfig};

fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect()
}

/// A JSON float; the fixtures write infinities as strings.
fn float(value: &Value) -> f32 {
    match value {
        Value::String(text) => text.parse().unwrap(),
        _ => value.as_f64().unwrap() as f32,
    }
}

fn config_of(case: &Value) -> SearchConfig {
    let int = |key: &str| case[key].as_u64().unwrap() as usize;
    let mut config = SearchConfig::new(int("vocab"), int("num_beams"));
    config.num_groups = int("num_groups");
    config.diversity_strength = case["diversity_penalty"].as_f64().unwrap();
    config.length_penalty = case["length_penalty"].as_f64().unwrap();
    config.early_stopping = match case["early_stopping"].as_str().unwrap() {
        "heuristic" => EarlyStopping::Heuristic,
        "finish" => EarlyStopping::Finish,
        _ => EarlyStopping::Never,
    };
    config.num_return_sequences = int("num_return_sequences");
    config.eos_token_ids = ids(&case["eos"]);
    config.pad_token_id = case["pad"].as_u64().map(|pad| pad as u32);
    config.min_new_tokens = int("min_new_tokens");
    config.max_new_tokens = int("max_new_tokens");
    config.no_repeat_ngram_size = int("no_repeat_ngram_size");
    config.bad_words_ids = case["bad_words_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(ids)
        .collect();
    config
}

/// transformers 4.56's output rows (generated part) for a batch's returned
/// hypotheses: each hypothesis without its final EOS, then
/// `eos_token_id[0]` if the row is shorter than the longest + 1 (capped at
/// the maximum length), then padding.
fn rows_as_4_56(hyps: &[&Hypothesis<f32>], config: &SearchConfig) -> Vec<Vec<u32>> {
    let eos = &config.eos_token_ids;
    let stored: Vec<&[u32]> = hyps
        .iter()
        .map(|h| match h.tokens.split_last() {
            Some((last, rest)) if eos.contains(last) => rest,
            _ => &h.tokens[..],
        })
        .collect();
    let longest = stored.iter().map(|s| s.len()).max().unwrap();
    let width = (longest + 1).min(config.max_new_tokens);
    stored
        .iter()
        .map(|s| {
            let mut row = s.to_vec();
            if row.len() < width {
                row.push(eos[0]);
            }
            if row.len() < width {
                row.resize(width, config.pad_token_id.unwrap_or(eos[0]));
            }
            row
        })
        .collect()
}

/// Runs every case of a fixture file; returns the number of rows compared,
/// the number skipped, and descriptions of the rows that differ.
///
/// Rows whose expected score is -inf or at most -1e9 are skipped: they come
/// from ties (all -inf, or -1e9 placeholders) that torch.topk breaks in no
/// defined order.
fn mismatches(fixture: &str) -> (usize, usize, Vec<String>) {
    let doc: Value = serde_json::from_str(fixture).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    let (mut compared, mut skipped) = (0, 0);
    let mut failures = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let config = config_of(case);
        let prompts: Vec<Vec<u32>> = case["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .map(ids)
            .collect();
        let seed = case["seed"].as_u64().unwrap();
        let eos = config.eos_token_ids.clone();
        let model = |seq: &[u32]| fake_logprobs(seed, seq, config.vocab_size, &eos);
        let output = run_dense(&config, &prompts, model).unwrap();
        let got: Vec<_> = output.sequences.iter().flatten().collect();
        let expected = case["expected"].as_array().unwrap();
        assert_eq!(got.len(), expected.len(), "case {index}");
        let mode = case["mode"].as_str().unwrap();
        let rows_4_56 = if mode == "group" {
            rows_as_4_56(&got, &config)
        } else {
            Vec::new()
        };
        for (row, (hyp, want)) in got.iter().zip(expected).enumerate() {
            if let Some(score) = want.get("score").map(float) {
                if score <= -1.0e9 {
                    skipped += 1;
                    assert!(
                        hyp.score <= -1.0e9,
                        "case {index} row {row}: score {}",
                        hyp.score
                    );
                    continue;
                }
            }
            compared += 1;
            let mut same = match want.get("row") {
                Some(hf_row) => rows_4_56[row] == ids(hf_row),
                None => hyp.tokens == ids(&want["tokens"]),
            };
            if let Some(score) = want.get("score") {
                same &= hyp.score == float(score);
            }
            if let Some(indices) = want.get("beam_indices") {
                let indices: Vec<usize> = ids(indices).into_iter().map(|i| i as usize).collect();
                same &= hyp.beam_indices == indices;
            }
            if let Some(scores) = want.get("token_scores") {
                let scores: Vec<f32> = scores.as_array().unwrap().iter().map(float).collect();
                same &= hyp.token_scores == scores;
            }
            if !same {
                failures.push(format!(
                    "case {index} ({mode}) row {row}: got {:?} score {} indices {:?}, expected {want}",
                    hyp.tokens, hyp.score, hyp.beam_indices
                ));
            }
        }
    }
    (compared, skipped, failures)
}

fn check(fixture: &str, least_compared: usize) {
    let (compared, skipped, failures) = mismatches(fixture);
    assert!(
        failures.is_empty(),
        "{} of {compared} rows differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        compared >= least_compared,
        "only {compared} rows compared ({skipped} skipped)"
    );
}

#[test]
fn greedy_and_beam_search_match_transformers_5_18() {
    check(include_str!("fixtures/beam.json"), 500);
}

#[test]
fn diverse_beam_search_matches_transformers_4_56() {
    check(include_str!("fixtures/group.json"), 300);
}
