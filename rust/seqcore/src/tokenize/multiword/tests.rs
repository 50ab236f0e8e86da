//! Multi-word tokens: round trips, and the block path against the merge
//! rule written out plainly.

use super::*;
use crate::tokenize::added::SpecialPolicy;
use crate::tokenize::bpe::MergeRule;
use crate::tokenize::pretokenize::{PreTokenizer, Preset};
use crate::tokenize::tokenizer::{Splitting, Template};

/// A byte-level base with GPT-2 pre-tokenization: the 256 bytes, then
/// `merged` (rank file semantics: each is one token if its halves are),
/// then one special token.
fn byte_base(merged: &[&str]) -> Tokenizer {
    let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    tokens.extend(merged.iter().map(|t| t.as_bytes().to_vec()));
    let refs: Vec<(u32, &[u8])> = tokens
        .iter()
        .enumerate()
        .map(|(i, b)| (i as u32, &b[..]))
        .collect();
    let splitting = Splitting {
        pretokenizer: Some(PreTokenizer::preset(Preset::Gpt2)),
        add_prefix_space: false,
    };
    let special = vec![crate::tokenize::added::AddedToken::special(
        tokens.len() as u32,
        "<|end|>",
    )];
    Tokenizer::new(
        &refs,
        Vec::new(),
        MergeRule::Ranks,
        splitting,
        special,
        Template::default(),
    )
    .unwrap()
}

/// A byte-only base (no merges).
fn base() -> Tokenizer {
    byte_base(&[])
}

/// A base where " the", " of" and " day" are one token each and other
/// words are split, so a bigram's words may be base tokens or not.
fn base_with_words() -> Tokenizer {
    byte_base(&[" t", " th", " the", " o", " of", " d", " da", " day"])
}

const CORPUS: &[&str] = &[
    "in the beginning of the day the end of the day",
    "of the people, by the people, for the people",
    "the end of the story is the end of the day",
];

fn texts() -> Vec<String> {
    let mut state = 7u64;
    let words = ["the", "of", "day", "end", "in", "people", "x1", "é"];
    (0..200)
        .map(|_| {
            (0..12)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    words[(state >> 33) as usize % words.len()]
                })
                .collect::<Vec<_>>()
                .join(if state.is_multiple_of(3) { "  " } else { " " })
        })
        .collect()
}

/// The rule written out plainly: at each piece, the longest n-gram whose
/// words are the next pieces, else that piece through the base BPE.
fn reference(mwt: &MultiWord, base: &Tokenizer, segment: &str) -> Vec<u32> {
    let table: std::collections::HashMap<Vec<&[u8]>, u32> = mwt
        .ngrams()
        .iter()
        .enumerate()
        .map(|(i, words)| {
            let words = words.iter().map(|w| w.as_bytes()).collect();
            (words, (mwt.base_vocab_size() + i) as u32)
        })
        .collect();
    let mut pieces = Vec::new();
    let text = base.pieces(segment, &mut pieces).unwrap();
    let piece = |i: usize| &text.as_bytes()[pieces[i].0..pieces[i].1];
    let mut out = Vec::new();
    let mut i = 0;
    'pieces: while i < pieces.len() {
        for &n in &mwt.orders {
            let window: Vec<&[u8]> = (i..i + n)
                .take_while(|&j| j < pieces.len())
                .map(piece)
                .collect();
            if let Some(&id) = table.get(&window) {
                out.push(id);
                i += n;
                continue 'pieces;
            }
        }
        base.bpe().encode_piece(piece(i), &mut out);
        i += 1;
    }
    out
}

#[test]
fn decoding_gives_back_the_text_and_bigrams_shorten_it() {
    let base = base();
    let mwt = MultiWord::train(&base, CORPUS, &[2], 10, 2).unwrap();
    assert!(mwt.ngrams().iter().any(|w| w.concat() == " of the"));
    let all = SpecialPolicy::allow_all();
    for text in texts()
        .iter()
        .map(String::as_str)
        .chain(CORPUS.iter().copied())
    {
        let ids = mwt.encode(&base, text, &all, false).unwrap();
        assert_eq!(
            mwt.decode_bytes(&base, &ids, false).unwrap(),
            text.as_bytes()
        );
        assert!(ids.len() <= base.encode(text, &all, false).unwrap().len());
    }
    // Never across a special token.
    let ids = mwt.encode(&base, " of<|end|> the", &all, false).unwrap();
    assert!(ids.iter().all(|&id| (id as usize) < base.vocab_size()));
}

#[test]
fn offsets_span_each_token_and_each_ngram_its_words() {
    for base in [base(), base_with_words()] {
        let mwt = MultiWord::train(&base, CORPUS, &[2, 3], 30, 1).unwrap();
        let policy = SpecialPolicy::allow_all();
        let mut ngrams = 0;
        for text in texts()
            .iter()
            .chain(&["of the day<|end|> the end of the".to_string()])
        {
            let (ids, spans) = mwt
                .encode_with_offsets(&base, text, &policy, false)
                .unwrap();
            ngrams += ids.iter().filter(|&&id| id >= mwt.base_vocab_size).count();
            assert_eq!(ids, mwt.encode(&base, text, &policy, false).unwrap());
            assert_eq!(spans.len(), ids.len());
            // Spans tile the text: each token's bytes, in order.
            let mut at = 0;
            for (&id, &(start, end)) in ids.iter().zip(&spans) {
                assert_eq!(start, at, "{text:?}");
                let bytes = mwt.decode_bytes(&base, &[id], false).unwrap();
                assert_eq!(&text.as_bytes()[start..end], &bytes[..], "{text:?}");
                at = end;
            }
            assert_eq!(at, text.len());
        }
        assert!(ngrams > 0);
    }
}

#[test]
fn the_block_path_follows_the_rule() {
    for base in [base(), base_with_words()] {
        let mwt = MultiWord::train(&base, CORPUS, &[2], 30, 1).unwrap();
        assert_eq!(mwt.orders, vec![2]);
        for text in texts() {
            let mut fast = Vec::new();
            mwt.encode_segment_blocks(&base, &text, &mut fast).unwrap();
            let want = reference(&mwt, &base, &text);
            assert_eq!(fast, want, "{text:?}");
            assert_eq!(
                mwt.decode_bytes(&base, &fast, false).unwrap(),
                text.as_bytes()
            );
        }
    }
    // A bigram is found whatever the base makes of its words: two one-token
    // words (" of the"), a one-token word then a split one (" the end"),
    // and the reverse.
    let base = base_with_words();
    assert_eq!(
        base.encode(" of the", &SpecialPolicy::ordinary(), false)
            .unwrap()
            .len(),
        2
    );
    let mwt = MultiWord::train(&base, CORPUS, &[2], 30, 1).unwrap();
    for bigram in [" of the", " the end", " end of"] {
        let ids = mwt
            .encode(&base, bigram, &SpecialPolicy::ordinary(), false)
            .unwrap();
        assert_eq!(ids.len(), 1, "{bigram:?} -> {ids:?}");
    }
}

#[test]
fn pieces_longer_than_a_bigram_word_can_be_are_left_alone() {
    // A piece over 64 KiB is counted as 64 KiB long by the block path;
    // it must still match nothing, next to words that do form bigrams.
    let base = base();
    let long = "a".repeat(70_000);
    let corpus = [" of the", &format!(" of{long}"), &format!("{long} the")];
    // Counting skips words too long to be in an n-gram.
    let mwt = MultiWord::train(&base, &[&corpus[..], &corpus[..]].concat(), &[2], 10, 1).unwrap();
    assert!(mwt.ngrams().iter().flatten().all(|w| w.len() < 100));
    for text in corpus.iter().map(|t| format!("{t} of the")) {
        let mut fast = Vec::new();
        mwt.encode_segment_blocks(&base, &text, &mut fast).unwrap();
        let want = reference(&mwt, &base, &text);
        assert_eq!(fast, want);
        assert!(fast.iter().any(|&id| id as usize >= base.vocab_size()));
        assert_eq!(
            mwt.decode_bytes(&base, &fast, false).unwrap(),
            text.as_bytes()
        );
    }
}

#[test]
fn longer_orders_come_first_and_files_round_trip() {
    let base = base();
    let mwt = MultiWord::train(&base, CORPUS, &[2, 3], 20, 2).unwrap();
    let ids = mwt
        .encode(&base, " end of the day", &SpecialPolicy::ordinary(), false)
        .unwrap();
    // " end of the" (3 words) beats " end of" and " of the" where both exist.
    let first = &mwt.ngrams()[(ids[0] as usize) - base.vocab_size()];
    assert_eq!(first.len(), 3, "{first:?}");
    let again = MultiWord::from_json(mwt.to_json().as_bytes(), &base).unwrap();
    assert_eq!(again.ngrams(), mwt.ngrams());
    assert!(MultiWord::from_json(b"{\"format\": 1}", &base).is_err());
    assert!(MultiWord::new(&base, vec![vec!["a".into(), " !".into()]]).is_err());
}

proptest::proptest! {
    /// The block path against the rule on texts of up to
    /// a few hundred pieces (so blocks of 64 pieces fill, and n-grams
    /// cross from one block to the next), with words the base
    /// keeps whole and words it splits.
    #[test]
    fn the_block_path_follows_the_rule_on_long_texts(
        words in proptest::collection::vec(0usize..14, 0..400),
        spaces in proptest::collection::vec(0usize..4, 400),
        top_k in 1usize..40,
        orders in proptest::sample::select(vec![
            vec![2], vec![3], vec![2, 3], vec![2, 4], vec![3, 4, 5], vec![2, 3, 8],
        ]),
        alphabet in 2usize..15,
    ) {
        // Words over eight bytes, some with the same length and first
        // eight bytes, take the bigram table's byte comparison.
        const WORDS: [&str; 14] = [
            "the", "of", "day", "end", "in", "people", "x1", "é", ",", "the,",
            "commanded", "commander", "commandments", "Jerusalem",
        ];
        // A small alphabet repeats n-grams of every order.
        let text: String = words
            .iter()
            .zip(&spaces)
            .map(|(&w, &s)| {
                let word = WORDS[w % alphabet.min(WORDS.len())];
                format!("{}{}", " ".repeat(s.min(1) + usize::from(s == 3)), word)
            })
            .collect();
        for base in [base(), base_with_words()] {
            let mwt = MultiWord::train(&base, &[&text, CORPUS[0], CORPUS[1]], &orders, top_k, 1).unwrap();
            let mut fast = Vec::new();
            mwt.encode_segment_blocks(&base, &text, &mut fast).unwrap();
            let want = reference(&mwt, &base, &text);
            proptest::prop_assert_eq!(&fast, &want);
            proptest::prop_assert_eq!(mwt.decode_bytes(&base, &fast, false).unwrap(), text.as_bytes());
        }
    }
}

#[test]
fn an_order_named_twice_counts_once() {
    let base = base();
    // Seen once: kept with min_count 1, not with 2, however often 2 is named.
    for orders in [&[2][..], &[2, 2], &[2, 2, 2]] {
        let once = MultiWord::train(&base, &["alpha beta"], orders, 10, 2).unwrap();
        assert!(once.ngrams().is_empty(), "{orders:?}: {:?}", once.ngrams());
        let kept = MultiWord::train(&base, &["alpha beta"], orders, 10, 1).unwrap();
        assert_eq!(kept.ngrams().len(), 1, "{orders:?}");
    }
    let counts = NgramCounts::count(&base, &["alpha beta gamma"], &[3, 2, 3]).unwrap();
    assert!(counts.top(10, 1).iter().all(|(_, _, c)| *c == 1));
    assert_eq!(counts.top(10, 1).len(), 3);
}

#[test]
fn file_errors_show_the_values_found() {
    let base = base();
    let size = base.vocab_size();
    let cases = [
        (r#""version": 2"#.to_string(), "got 2"),
        (r#""version": "1""#.to_string(), r#"got "1""#),
        (String::new(), "got nothing"),
        (
            r#""version": 1, "base_vocab_size": 5"#.to_string(),
            "of 5 ids",
        ),
        (
            r#""version": 1, "base_vocab_size": -1"#.to_string(),
            "got -1",
        ),
    ];
    for (fields, want) in cases {
        let sep = if fields.is_empty() { "" } else { ", " };
        let text = format!(r#"{{"format": "seqcore.multiword"{sep}{fields}, "ngrams": []}}"#);
        let err = MultiWord::from_json(text.as_bytes(), &base)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{text}: {err}");
        assert!(!err.contains("Some(") && !err.contains("None"), "{err}");
    }
    let fine = format!(
        r#"{{"format": "seqcore.multiword", "version": 1, "base_vocab_size": {size}, "ngrams": []}}"#
    );
    assert!(MultiWord::from_json(fine.as_bytes(), &base).is_ok());
}
