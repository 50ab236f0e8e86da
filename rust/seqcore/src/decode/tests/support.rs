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
