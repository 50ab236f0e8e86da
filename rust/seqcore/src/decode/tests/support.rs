//! A fake model and a host loop shared by the tests.

use crate::decode::{DecodeError, Score, SearchConfig, SearchOutput, SearchState};

/// splitmix64's finaliser (as in `hf_fixtures.py`).
pub fn mix(x: u64) -> u64 {
    let x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The fixtures' fake model: log-probs that hash the last three tokens and
/// the length; multiples of 2^-16 in (-16, 0], EOS in (-4, 0], the last id
/// at -60.
pub fn fake_logprobs(seed: u64, sequence: &[u32], vocab: usize, eos: &[u32]) -> Vec<f32> {
    let mut h = mix(seed);
    for &t in &sequence[sequence.len().saturating_sub(3)..] {
        h = mix(h ^ t as u64);
    }
    h = mix(h ^ sequence.len() as u64);
    (0..vocab)
        .map(|v| {
            let r = mix(h ^ ((v as u64 + 1).wrapping_mul(0x100_0000_01B3)));
            let mut value = -(((r >> 40) % (1 << 20)) as f64) / 65536.0;
            if eos.contains(&(v as u32)) {
                value /= 4.0;
            }
            if v == vocab - 1 {
                value = -60.0;
            }
            value as f32
        })
        .collect()
}

/// Drives a search to the end: keeps each active row's sequence (prompt and
/// generated tokens), asks `model` for its log-probs, and gathers with
/// `parents` as a host gathers its cache.
pub fn run_dense<T: Score>(
    config: &SearchConfig,
    prompts: &[Vec<u32>],
    model: impl Fn(&[u32]) -> Vec<T>,
) -> Result<SearchOutput<T>, DecodeError> {
    let refs: Vec<&[u32]> = prompts.iter().map(|p| p.as_slice()).collect();
    let mut state = SearchState::new(config.clone(), &refs)?;
    let num_beams = config.num_beams;
    let mut rows: Vec<Vec<u32>> = state
        .active_rows()
        .iter()
        .map(|&r| prompts[r / num_beams].clone())
        .collect();
    while !state.done() {
        let input: Vec<T> = rows.iter().flat_map(|seq| model(seq)).collect();
        let out = state.step_logprobs(&input, config.vocab_size)?;
        assert_eq!(out.rows, state.active_rows());
        rows = out
            .parents
            .iter()
            .zip(&out.tokens)
            .map(|(&p, &t)| {
                let mut seq = rows[p].clone();
                seq.push(t);
                seq
            })
            .collect();
    }
    state.finalize()
}

/// Like [`fake_logprobs`] but on a grid of 1/64 in [-8, 0] (EOS in [-2, 0]),
/// so beam-score sums are exact and only true ties tie.
pub fn grid_logprobs(seed: u64, sequence: &[u32], vocab: usize, eos: &[u32]) -> Vec<f32> {
    fake_logprobs(seed, sequence, vocab, eos)
        .iter()
        .map(|&v| (v * 32.0).round() / 64.0)
        .collect()
}

/// Drives a search with the host's own top-`k` per row (ranked by log-prob,
/// then lower token id), as `step_candidates` expects.
pub fn run_candidates(
    config: &SearchConfig,
    prompts: &[Vec<u32>],
    k: usize,
    model: impl Fn(&[u32]) -> Vec<f32>,
) -> Result<SearchOutput<f32>, DecodeError> {
    let refs: Vec<&[u32]> = prompts.iter().map(|p| p.as_slice()).collect();
    let mut state = SearchState::new(config.clone(), &refs)?;
    let num_beams = config.num_beams;
    let mut rows: Vec<Vec<u32>> = state
        .active_rows()
        .iter()
        .map(|&r| prompts[r / num_beams].clone())
        .collect();
    while !state.done() {
        let (mut tokens, mut values) = (Vec::new(), Vec::new());
        for seq in &rows {
            let row = model(seq);
            let mut order: Vec<u32> = (0..row.len() as u32).collect();
            order.sort_by(|&a, &b| {
                row[b as usize]
                    .partial_cmp(&row[a as usize])
                    .unwrap()
                    .then(a.cmp(&b))
            });
            // Reversed, to show the order within a row does not matter.
            for &t in order[..k].iter().rev() {
                tokens.push(t);
                values.push(row[t as usize]);
            }
        }
        let out = state.step_candidates(&tokens, &values, k)?;
        rows = out
            .parents
            .iter()
            .zip(&out.tokens)
            .map(|(&p, &t)| {
                let mut seq = rows[p].clone();
                seq.push(t);
                seq
            })
            .collect();
    }
    state.finalize()
}

/// The active rows after one step, each with its sequence.
pub type StepRecord = Vec<(usize, Vec<u32>)>;

/// Drives a search for at most `max_steps`: returns the state and, per
/// step, the active rows' sequences after it.
pub fn run_recorded<T: Score>(
    config: &SearchConfig,
    prompts: &[Vec<u32>],
    model: impl Fn(&[u32]) -> Vec<T>,
    max_steps: usize,
) -> (SearchState<T>, Vec<StepRecord>) {
    let refs: Vec<&[u32]> = prompts.iter().map(|p| p.as_slice()).collect();
    let mut state = SearchState::new(config.clone(), &refs).unwrap();
    let num_beams = config.num_beams;
    let mut rows: Vec<Vec<u32>> = state
        .active_rows()
        .iter()
        .map(|&r| prompts[r / num_beams].clone())
        .collect();
    let mut record = Vec::new();
    while !state.done() && record.len() < max_steps {
        let input: Vec<T> = rows.iter().flat_map(|seq| model(seq)).collect();
        let out = state.step_logprobs(&input, config.vocab_size).unwrap();
        rows = out
            .parents
            .iter()
            .zip(&out.tokens)
            .map(|(&p, &t)| {
                let mut seq = rows[p].clone();
                seq.push(t);
                seq
            })
            .collect();
        record.push(out.rows.iter().copied().zip(rows.iter().cloned()).collect());
    }
    (state, record)
}

/// A small random configuration for property tests.
pub fn random_config(seed: u64, num_beams: usize, num_groups: usize) -> SearchConfig {
    let pick = |salt: u64, n: u64| mix(seed ^ salt) % n;
    let vocab = 6 + pick(1, 20) as usize;
    let mut config = SearchConfig::new(vocab, num_beams);
    config.num_groups = num_groups;
    config.eos_token_ids = (0..pick(2, 3))
        .map(|i| pick(3 + i, vocab as u64 - 1) as u32)
        .collect();
    config.eos_token_ids.dedup();
    config.max_new_tokens = 1 + pick(5, 12) as usize;
    config.min_new_tokens = [0, 0, pick(6, 5) as usize][pick(7, 3) as usize];
    config.no_repeat_ngram_size = [0, 0, 1, 2, 3][pick(8, 5) as usize];
    config.length_penalty = [1.0, 0.0, 0.6, 1.7, -0.8][pick(9, 5) as usize];
    config.num_return_sequences = 1 + pick(10, num_beams as u64) as usize;
    if pick(11, 3) == 0 {
        config.bad_words_ids = vec![
            vec![pick(12, vocab as u64) as u32],
            vec![1, pick(13, vocab as u64) as u32],
        ];
    }
    config
}

/// Random prompts for property tests.
pub fn random_prompts(seed: u64, batch: usize, vocab: usize) -> Vec<Vec<u32>> {
    (0..batch)
        .map(|b| {
            (0..1 + mix(seed ^ 77 ^ b as u64) % 4)
                .map(|i| (mix(seed ^ b as u64 ^ (i << 8)) % vocab as u64) as u32)
                .collect()
        })
        .collect()
}
