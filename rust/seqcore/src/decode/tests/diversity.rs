//! The diversity penalties recomputed naively from what every group chose
//! at every step (no EOS, so no group stops early and every choice shows in
//! the step outputs; the last step's choices do not show, so it is not
//! checked).

use super::support::{fake_logprobs, random_prompts, run_recorded, StepRecord};
use crate::decode::{Diversity, SearchConfig};

/// The last `n` tokens of `sequence` (all of it when shorter).
fn last(sequence: &[u32], n: usize) -> &[u32] {
    &sequence[sequence.len().saturating_sub(n)..]
}

/// The count the penalty of `kind` multiplies, for appending `token` at step
/// `step` to `sequence` (prompt and earlier tokens) in `group` of `item`.
fn naive_count(
    config: &SearchConfig,
    record: &[StepRecord],
    item: usize,
    group: usize,
    step: usize,
    sequence: &[u32],
    token: u32,
) -> u32 {
    let group_size = config.beams_per_group();
    let earlier = |rows: &StepRecord| -> Vec<Vec<u32>> {
        rows.iter()
            .filter(|(r, _)| {
                r / config.num_beams == item && (r % config.num_beams) / group_size < group
            })
            .map(|(_, s)| s.clone())
            .collect()
    };
    let chose = |s: &Vec<u32>| *s.last().unwrap() == token;
    match config.diversity {
        Diversity::Hamming => earlier(&record[step]).iter().filter(|s| chose(s)).count() as u32,
        Diversity::Cumulative => record[..=step]
            .iter()
            .map(|rows| earlier(rows).iter().filter(|s| chose(s)).count() as u32)
            .sum(),
        Diversity::Ngram(n) => {
            let mut gram = last(sequence, n - 1).to_vec();
            gram.push(token);
            earlier(&record[step])
                .iter()
                .filter(|s| last(s, n) == &gram[..])
                .count() as u32
        }
    }
}

#[test]
fn penalties_match_their_definitions() {
    let mut penalized = 0;
    for seed in 0..120 {
        let kind = [
            Diversity::Hamming,
            Diversity::Cumulative,
            Diversity::Ngram(2),
            Diversity::Ngram(3),
        ][seed % 4];
        let group_size = 1 + seed % 3;
        let groups = 2 + seed % 2;
        let vocab = 6 + seed % 9;
        let mut config = SearchConfig::new(vocab, groups * group_size);
        config.num_groups = groups;
        config.diversity = kind;
        config.diversity_strength = [0.3, 1.0, 2.5][seed % 3];
        config.max_new_tokens = 2 + seed % 7;
        let prompts = random_prompts(seed as u64, 2, vocab);
        let model = |s: &[u32]| fake_logprobs(seed as u64, s, vocab, &[]);
        let (state, record) = run_recorded(&config, &prompts, model, usize::MAX);
        let output = state.finalize().unwrap();
        let strength = config.diversity_strength as f32;
        for (item, per_group) in output.per_group.iter().enumerate() {
            for (group, hyps) in per_group.iter().enumerate() {
                for hyp in hyps {
                    let mut sequence = prompts[item].clone();
                    let checked = record.len() - 1;
                    let steps = hyp.tokens.iter().zip(&hyp.token_scores).take(checked);
                    for (step, (&token, &score)) in steps.enumerate() {
                        let raw = model(&sequence)[token as usize];
                        let count =
                            naive_count(&config, &record, item, group, step, &sequence, token);
                        let want = if count == 0 {
                            raw
                        } else {
                            raw - strength * count as f32
                        };
                        assert_eq!(
                            score, want,
                            "seed {seed} item {item} group {group} step {step}"
                        );
                        penalized += usize::from(count > 0);
                        sequence.push(token);
                    }
                }
            }
        }
    }
    assert!(penalized > 100, "{penalized}");
}
