//! Slow, obviously correct versions of training and encoding that the
//! tests compare the real ones against.

use rustc_hash::FxHashMap;

use super::{Trained, TrainerConfig, WordCounts};

/// How many times merging `(a, b)` left to right would replace it in `word`.
fn occurrences(word: &[u32], a: u32, b: u32) -> u64 {
    let (mut i, mut n) = (0, 0);
    while i + 1 < word.len() {
        if word[i] == a && word[i + 1] == b {
            n += 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    n
}

/// A slow, obviously correct trainer with the documented semantics.
pub(super) fn reference_train(counts: &WordCounts, config: &TrainerConfig) -> Vec<(u32, u32)> {
    let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    let mut words: Vec<(Vec<u32>, u64)> = counts
        .iter()
        .map(|(w, c)| (w.iter().map(|&b| u32::from(b)).collect(), c))
        .collect();
    let wanted = config.vocab_size - 256 - config.special_tokens.len();
    let min = config.min_frequency.max(1);
    let max_len = config.max_token_length.unwrap_or(usize::MAX);
    let mut merges = Vec::new();
    while merges.len() < wanted {
        let mut pairs: FxHashMap<(u32, u32), u64> = FxHashMap::default();
        for (word, count) in &words {
            let mut distinct: Vec<(u32, u32)> = word.windows(2).map(|p| (p[0], p[1])).collect();
            distinct.sort_unstable();
            distinct.dedup();
            for (a, b) in distinct {
                *pairs.entry((a, b)).or_default() += occurrences(word, a, b) * count;
            }
        }
        let best = pairs
            .into_iter()
            .filter(|&((a, b), n)| {
                let bytes = [&tokens[a as usize][..], &tokens[b as usize][..]].concat();
                n >= min
                    && bytes.len() <= max_len
                    && !tokens.contains(&bytes)
                    && !config.special_tokens.iter().any(|s| s.as_bytes() == bytes)
            })
            .max_by(|x, y| {
                x.1.cmp(&y.1).then_with(|| {
                    let kx = (&tokens[x.0 .0 as usize], &tokens[x.0 .1 as usize]);
                    let ky = (&tokens[y.0 .0 as usize], &tokens[y.0 .1 as usize]);
                    ky.cmp(&kx)
                })
            });
        let Some(((a, b), _)) = best else { break };
        let z = tokens.len() as u32;
        tokens.push([&tokens[a as usize][..], &tokens[b as usize][..]].concat());
        merges.push((a, b));
        for (word, _) in &mut words {
            let mut out = Vec::with_capacity(word.len());
            let mut i = 0;
            while i < word.len() {
                if i + 1 < word.len() && word[i] == a && word[i + 1] == b {
                    out.push(z);
                    i += 2;
                } else {
                    out.push(word[i]);
                    i += 1;
                }
            }
            *word = out;
        }
    }
    merges
}

/// Standard BPE encoding of one word: repeatedly merge the adjacent pair
/// with the lowest rank, leftmost first.
pub(super) fn encode(trained: &Trained, word: &[u8]) -> Vec<u32> {
    let ranks: FxHashMap<(u32, u32), usize> = trained
        .merges
        .iter()
        .enumerate()
        .map(|(k, &pair)| (pair, k))
        .collect();
    let mut ids: Vec<u32> = word.iter().map(|&b| u32::from(b)).collect();
    loop {
        let best = (1..ids.len())
            .filter_map(|i| ranks.get(&(ids[i - 1], ids[i])).map(|&r| (r, i)))
            .min();
        let Some((rank, i)) = best else { return ids };
        ids[i - 1] = 256 + rank as u32;
        ids.remove(i);
    }
}

/// Checks the invariants every trained vocabulary has.
pub(super) fn check_vocabulary(trained: &Trained, config: &TrainerConfig) {
    let tokens = &trained.tokens;
    assert!(tokens.len() <= config.vocab_size);
    for b in 0..256 {
        assert_eq!(tokens[b], vec![b as u8]);
    }
    let n_learned = trained.merges.len();
    assert_eq!(tokens.len(), 256 + n_learned + config.special_tokens.len());
    for (k, &(a, b)) in trained.merges.iter().enumerate() {
        let z = 256 + k;
        assert!((a as usize) < z && (b as usize) < z);
        let bytes = [&tokens[a as usize][..], &tokens[b as usize][..]].concat();
        assert_eq!(tokens[z], bytes);
        if let Some(max) = config.max_token_length {
            assert!(bytes.len() <= max);
        }
    }
    let expected_ids: Vec<u32> = (0..config.special_tokens.len())
        .map(|i| (256 + n_learned + i) as u32)
        .collect();
    assert_eq!(trained.special_ids, expected_ids);
    for (i, special) in config.special_tokens.iter().enumerate() {
        assert_eq!(tokens[trained.special_ids[i] as usize], special.as_bytes());
    }
    // Learned tokens are distinct from each other, the bytes and specials.
    let mut seen = rustc_hash::FxHashSet::default();
    for token in &tokens[..256 + n_learned] {
        assert!(seen.insert(token.clone()), "duplicate token {token:?}");
    }
    for special in &config.special_tokens {
        assert!(!tokens[256..256 + n_learned].contains(&special.as_bytes().to_vec()));
    }
}
