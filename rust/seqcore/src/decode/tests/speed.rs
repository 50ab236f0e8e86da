//! Step cost at GPT-2's vocabulary (run with `--ignored --nocapture` in
//! release mode; it prints, and checks nothing).

use std::time::Instant;

use super::support::mix;
use crate::decode::{SearchConfig, SearchState};

/// Log-softmax of hashed logits with a normal-ish spread.
fn logprob_rows(rows: usize, vocab: usize, seed: u64) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows * vocab);
    for r in 0..rows {
        let logits: Vec<f64> = (0..vocab)
            .map(|v| {
                let h = mix(seed ^ mix((r * vocab + v) as u64));
                // Sum of four uniforms: roughly normal, sd about 1.15 * 3.
                (0..4)
                    .map(|i| ((h >> (16 * i)) & 0xffff) as f64 / 65536.0)
                    .sum::<f64>()
                    * 6.0
                    - 12.0
            })
            .collect();
        let max = logits.iter().cloned().fold(f64::MIN, f64::max);
        let lse = max + logits.iter().map(|x| (x - max).exp()).sum::<f64>().ln();
        out.extend(logits.iter().map(|x| (x - lse) as f32));
    }
    out
}

#[test]
#[ignore]
fn step_cost_at_gpt2_vocab() {
    let vocab = 50257;
    for (batch, beams, groups) in [(1, 8, 1), (4, 8, 1), (1, 8, 4), (1, 1, 1), (8, 4, 1)] {
        let mut config = SearchConfig::new(vocab, beams);
        config.num_groups = groups;
        config.diversity_strength = if groups > 1 { 0.5 } else { 0.0 };
        config.eos_token_ids = vec![50256];
        config.min_new_tokens = 1000;
        config.max_new_tokens = 1000;
        let prompts = vec![vec![1u32, 2, 3]; batch];
        let refs: Vec<&[u32]> = prompts.iter().map(|p| p.as_slice()).collect();
        let mut state = SearchState::<f32>::new(config, &refs).unwrap();
        let data = logprob_rows(batch * beams, vocab, 7);
        // First step: one row per item.
        state.step_logprobs(&data[..batch * vocab], vocab).unwrap();
        let steps = 200;
        let start = Instant::now();
        for _ in 0..steps {
            state.step_logprobs(&data, vocab).unwrap();
        }
        let per_step = start.elapsed().as_secs_f64() / steps as f64;
        println!(
            "batch {batch} beams {beams} groups {groups}: {:.1} us/step",
            per_step * 1e6
        );
    }
}
