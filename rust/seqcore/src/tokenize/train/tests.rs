//! Tests of counting, serialization and training.
//!
//! The merge loop is checked against `reference::reference_train`, a slow
//! and obvious trainer that recounts every pair of every word at every step.

use proptest::prelude::*;

use super::reference::{check_vocabulary, encode, reference_train};
use super::*;
use crate::tokenize::error::TokenizeError;
use crate::tokenize::pretokenize::{PreTokenizer, Preset};

fn config(vocab_size: usize, min_frequency: u64) -> TrainerConfig {
    TrainerConfig {
        vocab_size,
        min_frequency,
        special_tokens: Vec::new(),
        max_token_length: None,
    }
}

fn counts_of(words: &[(&str, u64)]) -> WordCounts {
    let mut counts = WordCounts::new();
    for &(word, count) in words {
        counts.add_word(word.as_bytes(), count);
    }
    counts
}

fn train_ok(counts: &WordCounts, config: &TrainerConfig) -> Trained {
    train(counts, config, &mut |_, _| true).unwrap()
}

/// The learned tokens (after the 256 bytes, before the specials) as text.
fn learned(trained: &Trained) -> Vec<String> {
    let end = trained.tokens.len() - trained.special_ids.len();
    trained.tokens[256..end]
        .iter()
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect()
}

#[test]
fn runs_count_without_overlaps() {
    // "aaa" holds one ("a", "a") merge, not two: 10 < 15, so "bc" wins.
    // (Hugging Face's trainer counts 20 here and merges "aa" first.)
    let counts = counts_of(&[("aaa", 10), ("bc", 15)]);
    let trained = train_ok(&counts, &config(258, 1));
    assert_eq!(learned(&trained), ["bc", "aa"]);

    // "aaaa" holds two ("a", "a") merges, then one ("aa", "aa").
    let counts = counts_of(&[("aaaa", 1)]);
    let trained = train_ok(&counts, &config(300, 2));
    assert_eq!(learned(&trained), ["aa"]);
    let trained = train_ok(&counts, &config(300, 1));
    assert_eq!(learned(&trained), ["aa", "aaaa"]);

    // "aaaaa" -> "aa aa a"; ("aa", "aa") and ("aa", "a") tie at 3, and "a"
    // sorts first -> "aa aaa" -> "aaaaa".
    let counts = counts_of(&[("aaaaa", 3)]);
    let trained = train_ok(&counts, &config(300, 1));
    assert_eq!(learned(&trained), ["aa", "aaa", "aaaaa"]);
    assert_eq!(trained.merges, [(97, 97), (256, 97), (256, 257)]);

    // "aaa" x 3: ("a","a") = 3, then ("aa","a") = 3.
    let counts = counts_of(&[("aaa", 3), ("xy", 2)]);
    let trained = train_ok(&counts, &config(300, 3));
    assert_eq!(learned(&trained), ["aa", "aaa"]);
}

#[test]
fn hand_checked_merges() {
    let counts = counts_of(&[
        ("hug", 10),
        ("pug", 5),
        ("pun", 12),
        ("bun", 4),
        ("hugs", 5),
    ]);
    let trained = train_ok(&counts, &config(256 + 4, 1));
    // (u,g)=20, (u,n)=16, (h,u)=15 -> "ug", "un", then (h,ug)=15, ...
    assert_eq!(learned(&trained), ["ug", "un", "hug", "pun"]);
}

#[test]
fn ties_go_to_the_smallest_bytes() {
    // Every pair is seen once; the smallest (left, right) bytes go first.
    let counts = counts_of(&[("zy", 1), ("ba", 1), ("bc", 1), ("ab", 1)]);
    let trained = train_ok(&counts, &config(256 + 4, 1));
    assert_eq!(learned(&trained), ["ab", "ba", "bc", "zy"]);
}

#[test]
fn vocab_size_is_reached_exactly() {
    let text = "the quick brown fox jumps over the lazy dog; pack my box with five \
                dozen liquor jugs. how vexingly quick daft zebras jump! "
        .repeat(20);
    let mut counts = WordCounts::new();
    counts
        .add_text(&PreTokenizer::preset(Preset::Gpt2), &text)
        .unwrap();
    let mut cfg = config(256 + 40 + 2, 1);
    cfg.special_tokens = vec!["<|endoftext|>".into(), "<pad>".into()];
    let trained = train_ok(&counts, &cfg);
    assert_eq!(trained.tokens.len(), cfg.vocab_size);
    assert_eq!(trained.merges.len(), 40);
    assert_eq!(trained.special_ids, [296, 297]);
    assert_eq!(trained.tokens[297], b"<pad>");
    check_vocabulary(&trained, &cfg);
}

#[test]
fn min_frequency_is_respected() {
    let counts = counts_of(&[("ab", 5), ("cd", 2), ("ef", 1)]);
    let trained = train_ok(&counts, &config(1000, 2));
    assert_eq!(learned(&trained), ["ab", "cd"]);
    let trained = train_ok(&counts, &config(1000, 3));
    assert_eq!(learned(&trained), ["ab"]);
    // 0 counts as 1.
    let trained = train_ok(&counts, &config(1000, 0));
    assert_eq!(learned(&trained), ["ab", "cd", "ef"]);
}

#[test]
fn max_token_length_is_respected() {
    let counts = counts_of(&[("abcdef", 10)]);
    let mut cfg = config(1000, 1);
    cfg.max_token_length = Some(3);
    let trained = train_ok(&counts, &cfg);
    check_vocabulary(&trained, &cfg);
    assert!(trained.tokens.iter().all(|t| t.len() <= 3));
    // All pairs tie; "ab" then "abc" come first by bytes, "abcd" is too long.
    assert_eq!(learned(&trained), ["ab", "abc", "de", "def"]);
    cfg.max_token_length = Some(1);
    assert!(train_ok(&counts, &cfg).merges.is_empty());
}

#[test]
fn no_token_repeats_a_special_token() {
    let counts = counts_of(&[("<s>", 10)]);
    let mut cfg = config(1000, 1);
    cfg.special_tokens = vec!["<s>".into()];
    let trained = train_ok(&counts, &cfg);
    check_vocabulary(&trained, &cfg);
    // ("<", "s") first (a tie broken by bytes); ("<s", ">") would be "<s>".
    assert_eq!(learned(&trained), ["<s"]);
}

#[test]
fn no_token_is_spelled_like_a_special_token() {
    // "\u{120}\u{120}" is how tokenizer.json spells the bytes "  ".
    let counts = counts_of(&[("  ", 10)]);
    let mut cfg = config(1000, 1);
    cfg.special_tokens = vec!["\u{120}\u{120}".into()];
    let trained = train_ok(&counts, &cfg);
    assert!(learned(&trained).is_empty(), "{:?}", learned(&trained));
    cfg.special_tokens = vec![];
    assert_eq!(learned(&train_ok(&counts, &cfg)), ["  "]);
}

#[test]
fn a_special_token_like_a_byte_is_refused() {
    let counts = counts_of(&[("ab", 10)]);
    // Its bytes, or its tokenizer.json spelling, are one byte's.
    for special in ["a", "\u{120}", "\u{100}", "\u{e9}", "\0"] {
        let mut cfg = config(1000, 1);
        cfg.special_tokens = vec![special.into()];
        let err = train(&counts, &cfg, &mut |_, _| true).unwrap_err();
        assert!(
            err.to_string().contains("single byte"),
            "{special:?}: {err}"
        );
    }
}

#[test]
fn empty_counts_give_bytes_and_specials() {
    let mut cfg = config(1000, 2);
    cfg.special_tokens = vec!["<|endoftext|>".into()];
    let trained = train_ok(&WordCounts::new(), &cfg);
    assert_eq!(trained.tokens.len(), 257);
    assert!(trained.merges.is_empty());
    assert_eq!(trained.special_ids, [256]);
    check_vocabulary(&trained, &cfg);
    // Single-byte words hold no pairs either.
    let trained = train_ok(&counts_of(&[("a", 100), ("b", 3)]), &cfg);
    assert!(trained.merges.is_empty());
}

#[test]
fn bad_configurations_are_refused() {
    let counts = counts_of(&[("ab", 5)]);
    let mut cfg = config(257, 1);
    cfg.special_tokens = vec!["<a>".into(), "<b>".into()];
    let err = train(&counts, &cfg, &mut |_, _| true).unwrap_err();
    assert!(
        matches!(&err, TokenizeError::Invalid(m) if m.contains("vocab_size 257")),
        "{err}"
    );

    let mut cfg = config(1000, 1);
    cfg.special_tokens = vec!["<a>".into(), "<a>".into()];
    let err = train(&counts, &cfg, &mut |_, _| true).unwrap_err();
    assert!(
        matches!(&err, TokenizeError::Invalid(m) if m.contains("twice")),
        "{err}"
    );

    cfg.special_tokens = vec![String::new()];
    assert!(matches!(
        train(&counts, &cfg, &mut |_, _| true),
        Err(TokenizeError::Invalid(_))
    ));

    let mut cfg = config(1000, 1);
    cfg.max_token_length = Some(0);
    assert!(matches!(
        train(&counts, &cfg, &mut |_, _| true),
        Err(TokenizeError::Invalid(_))
    ));

    // Exactly 256 + specials is fine: no merges.
    let mut cfg = config(258, 1);
    cfg.special_tokens = vec!["<a>".into(), "<b>".into()];
    assert!(train_ok(&counts, &cfg).merges.is_empty());
}

#[test]
fn progress_reports_and_interrupts() {
    let text = "lorem ipsum dolor sit amet, consectetur adipiscing elit ".repeat(50);
    let mut counts = WordCounts::new();
    counts
        .add_text(&PreTokenizer::preset(Preset::Gpt2), &text)
        .unwrap();
    let cfg = config(256 + 50, 1);
    let mut calls = Vec::new();
    let trained = train(&counts, &cfg, &mut |done, wanted| {
        calls.push((done, wanted));
        true
    })
    .unwrap();
    assert_eq!(calls.first(), Some(&(0, 50)));
    assert_eq!(calls.last(), Some(&(trained.merges.len(), 50)));
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));
    assert!(calls.len() >= 10);

    for stop_after in [0, 1, 5] {
        let mut n = 0;
        let result = train(&counts, &cfg, &mut |_, _| {
            n += 1;
            n <= stop_after
        });
        assert_eq!(result, Err(TokenizeError::Interrupted));
    }
}

/// Pseudo-random words over `alphabet`. With many words and a small
/// alphabet, the first merges touch thousands of words, which takes the
/// parallel path.
fn synthetic_counts(words: usize, seed: u64, alphabet: &[u8]) -> WordCounts {
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let mut counts = WordCounts::new();
    for _ in 0..words {
        let len = 1 + next() % 9;
        let word: Vec<u8> = (0..len)
            .map(|_| alphabet[next() % alphabet.len()])
            .collect();
        counts.add_word(&word, 1 + (next() % 7) as u64);
    }
    counts
}

#[test]
fn thread_count_does_not_change_the_result() {
    let counts = synthetic_counts(40_000, 7, b"abcde ");
    let cfg = config(256 + 300, 2);
    let before = crate::parallel::num_threads();
    crate::parallel::set_num_threads(1).unwrap();
    let serial = train_ok(&counts, &cfg);
    crate::parallel::set_num_threads(3).unwrap();
    let parallel = train_ok(&counts, &cfg);
    crate::parallel::set_num_threads(before).unwrap();
    assert_eq!(serial, parallel);
    check_vocabulary(&serial, &cfg);
}

#[test]
fn matches_the_reference_on_a_larger_corpus() {
    let counts = synthetic_counts(12_000, 11, b"ab c");
    let cfg = config(256 + 80, 2);
    let trained = train_ok(&counts, &cfg);
    assert_eq!(trained.merges, reference_train(&counts, &cfg));
}

#[test]
fn encoding_training_words_stays_in_the_vocabulary() {
    let counts = synthetic_counts(5_000, 3, b" etaoinshrdlu\n");
    let mut cfg = config(256 + 400, 1);
    cfg.special_tokens = vec!["<|endoftext|>".into()];
    let trained = train_ok(&counts, &cfg);
    check_vocabulary(&trained, &cfg);
    for (word, _) in counts.iter() {
        let ids = encode(&trained, word);
        let mut bytes = Vec::new();
        for &id in &ids {
            assert!((id as usize) < trained.tokens.len() - trained.special_ids.len());
            bytes.extend_from_slice(&trained.tokens[id as usize]);
        }
        assert_eq!(bytes, word);
    }
}

#[test]
fn counting_texts_in_parallel_equals_counting_serially() {
    let pre = PreTokenizer::preset(Preset::Gpt2);
    let texts: Vec<String> = (0..40)
        .map(|i| {
            format!(
                "text {i}: it's the {} of {}\n\n  spaces  ",
                i * 7,
                "word ".repeat(i % 5)
            )
        })
        .collect();
    let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
    let mut serial = WordCounts::new();
    for text in &refs {
        serial.add_text(&pre, text).unwrap();
    }
    let mut parallel = WordCounts::new();
    parallel.add_texts(&pre, &refs).unwrap();
    assert_eq!(serial, parallel);
    // Counting adds to what is there.
    parallel.add_texts(&pre, &refs[..3]).unwrap();
    serial.add_texts(&pre, &[]).unwrap();
    assert!(parallel.total() > serial.total());
}

#[test]
fn serialization_round_trips() {
    let counts = counts_of(&[("hello", 3), (" world", 1 << 40), ("\u{1F600}", 7)]);
    let mut counts2 = counts.clone();
    counts2.add_word(&[0xff, 0x00], u64::MAX);
    for c in [WordCounts::new(), counts, counts2] {
        let bytes = c.to_bytes();
        assert_eq!(WordCounts::from_bytes(&bytes).unwrap(), c);
    }
}

#[test]
fn serialization_rejects_every_truncation_and_corruption() {
    let counts = counts_of(&[("hello", 300), (" world", 1), ("x", 1 << 35)]);
    let bytes = counts.to_bytes();
    for len in 0..bytes.len() {
        assert!(
            matches!(
                WordCounts::from_bytes(&bytes[..len]),
                Err(TokenizeError::Format { .. })
            ),
            "truncation to {len} bytes was accepted"
        );
    }
    // Trailing bytes, a bad version, a huge word count.
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(WordCounts::from_bytes(&trailing).is_err());
    let mut version = bytes.clone();
    version[4] = 2;
    assert!(WordCounts::from_bytes(&version).is_err());
    let mut huge = b"SQWC\x01".to_vec();
    huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert!(matches!(
        WordCounts::from_bytes(&huge),
        Err(TokenizeError::Format { .. })
    ));
    // Duplicate or unsorted words, empty words, zero counts.
    for body in [
        &b"\x02\x01a\x01\x01a\x01"[..],
        b"\x02\x01b\x01\x01a\x01",
        b"\x01\x00\x01",
        b"\x01\x01a\x00",
    ] {
        let data = [&b"SQWC\x01"[..], body].concat();
        assert!(matches!(
            WordCounts::from_bytes(&data),
            Err(TokenizeError::Format { .. })
        ));
    }
}

fn words_strategy() -> impl Strategy<Value = Vec<(Vec<u8>, u64)>> {
    // A small alphabet makes long runs, repeated pairs and ties likely.
    proptest::collection::vec(
        (
            proptest::collection::vec(
                prop_oneof![Just(b'a'), Just(b'b'), Just(b'c'), Just(b' ')],
                1..9,
            ),
            1u64..6,
        ),
        0..25,
    )
}

fn counts_from(words: &[(Vec<u8>, u64)]) -> WordCounts {
    let mut counts = WordCounts::new();
    for (word, count) in words {
        counts.add_word(word, *count);
    }
    counts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn agrees_with_the_reference(
        words in words_strategy(),
        extra in 0usize..40,
        min_frequency in 0u64..4,
        max_len in prop_oneof![Just(None), (1usize..6).prop_map(Some)],
        special in any::<bool>(),
    ) {
        let counts = counts_from(&words);
        let mut cfg = config(256 + extra, min_frequency);
        cfg.max_token_length = max_len;
        if special && extra > 0 {
            cfg.special_tokens = vec!["ab".into()];
        }
        let trained = train_ok(&counts, &cfg);
        check_vocabulary(&trained, &cfg);
        prop_assert_eq!(&trained.merges, &reference_train(&counts, &cfg));
        for (word, _) in &words {
            let ids = encode(&trained, word);
            prop_assert!(ids.iter().all(|&id| (id as usize) < trained.tokens.len()));
        }
    }

    #[test]
    fn insertion_order_and_sharding_do_not_matter(
        words in words_strategy(),
        cut in 0usize..25,
        seed in any::<u64>(),
    ) {
        let all = counts_from(&words);
        // Shuffled insertion order.
        let mut shuffled = words.clone();
        let mut state = seed;
        for i in (1..shuffled.len()).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            shuffled.swap(i, (state >> 33) as usize % (i + 1));
        }
        let reordered = counts_from(&shuffled);
        prop_assert_eq!(&all, &reordered);
        // Two shards, merged.
        let cut = cut.min(words.len());
        let mut left = counts_from(&words[..cut]);
        left.merge(counts_from(&words[cut..]));
        prop_assert_eq!(&all, &left);
        prop_assert_eq!(all.to_bytes(), left.to_bytes());
        let cfg = config(256 + 30, 1);
        let expected = train_ok(&all, &cfg);
        prop_assert_eq!(&expected, &train_ok(&reordered, &cfg));
        prop_assert_eq!(&expected, &train_ok(&left, &cfg));
    }

    #[test]
    fn sharded_texts_count_the_same(texts in proptest::collection::vec("[a-c '.\n]{0,20}", 0..12), cut in 0usize..12) {
        let pre = PreTokenizer::preset(Preset::Gpt2);
        let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
        let mut all = WordCounts::new();
        for text in &refs {
            all.add_text(&pre, text).unwrap();
        }
        let cut = cut.min(refs.len());
        let mut shard = WordCounts::new();
        shard.add_texts(&pre, &refs[..cut]).unwrap();
        let mut other = WordCounts::new();
        other.add_texts(&pre, &refs[cut..]).unwrap();
        shard.merge(other);
        prop_assert_eq!(&all, &shard);
        let bytes: usize = refs.iter().map(|t| t.len()).sum();
        let pieces: u64 = all.iter().map(|(w, c)| w.len() as u64 * c).sum();
        prop_assert_eq!(pieces, bytes as u64);
    }

    #[test]
    fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64), prefix in any::<bool>()) {
        let data = if prefix { [&b"SQWC\x01"[..], &data].concat() } else { data };
        if let Err(err) = WordCounts::from_bytes(&data) {
            let is_format = matches!(err, TokenizeError::Format { .. });
            prop_assert!(is_format, "not a format error: {}", err);
        }
    }

    #[test]
    fn round_trip(words in words_strategy()) {
        let counts = counts_from(&words);
        prop_assert_eq!(WordCounts::from_bytes(&counts.to_bytes()).unwrap(), counts);
    }
}
