//! Tests of the repeat steps (`periodic`) against the rule written out
//! plainly.

use super::tests::{naive, random_table, rule_of, served_cache, table};
use super::*;

#[test]
fn pieces_of_one_repeated_unit_are_recognised() {
    for unit in [&b"a"[..], b"\xc3\xa9", b"abc", b"\xf0\x9f\x98\x80"] {
        assert_eq!(
            periodic::unit_of(&unit.repeat(100)),
            Some(unit.len()),
            "{unit:?}"
        );
        let mut broken = unit.repeat(100);
        broken[75] ^= 1;
        assert_eq!(periodic::unit_of(&broken), None, "{unit:?}");
    }
    assert_eq!(periodic::unit_of(&b"abcde".repeat(100)), Some(5));
    assert_eq!(periodic::unit_of(&b"abcdefghijklmnopq".repeat(100)), None);
    // The last unit may be cut short; the smallest unit is found.
    assert_eq!(periodic::unit_of(b"abababa"), Some(2));
    assert_eq!(periodic::unit_of(&b"aa".repeat(50)), Some(1));
    assert_eq!(periodic::unit_of(b"a"), None);
    assert_eq!(periodic::unit_of(b""), None);
}

/// A piece of runs of short units (each 0-300 repeats of 1-6 letters)
/// between stretches of random letters, from proptest's choices.
fn runs_piece(runs: &[(Vec<usize>, usize, Vec<usize>)]) -> Vec<u8> {
    let mut piece = Vec::new();
    for (unit, count, between) in runs {
        let unit: Vec<u8> = unit.iter().map(|&k| b"abcd"[k]).collect();
        for _ in 0..*count {
            piece.extend_from_slice(&unit);
        }
        piece.extend(between.iter().map(|&k| b"abcd"[k]));
    }
    piece
}

proptest::proptest! {
    /// Pieces made of runs of short units, merged in chunks that copy the
    /// runs' repeats, against the plain rule, with small heads, tails and
    /// overlaps (so tokens often cross the repeats and joins fail); and
    /// whatever the repeat step appends is the merge of those bytes.
    #[test]
    fn runs_merged_from_their_heads_match_the_plain_rule(
        seed in 0u64..1_000_000,
        merges in 1usize..150,
        ranks in proptest::bool::ANY,
        runs in proptest::collection::vec(
            (
                proptest::collection::vec(0usize..4, 1..=6),
                0usize..300,
                proptest::collection::vec(0usize..4, 0..4),
            ),
            1..4,
        ),
        head in 2usize..64,
        head_end in 0usize..16,
        tail in 1usize..24,
        overlap in 0usize..14,
    ) {
        let rule = rule_of(ranks);
        let bpe = random_table(seed, merges, rule);
        let piece = runs_piece(&runs);
        let lens = bpe.lens.as_ref().expect("every byte is a token");
        let mut cache = served_cache(&bpe);
        let span = periodic::Span { head, head_end, tail };
        let mut out = vec![7];
        match bpe.merge_repeats_with(&piece, span, lens, &mut out, &mut cache) {
            Some(x) => {
                proptest::prop_assert!(x > 0 && x + tail <= piece.len());
                proptest::prop_assert_eq!(&out[1..], &naive(&bpe, &piece[..x])[..]);
            }
            None => proptest::prop_assert_eq!(&out, &[7]),
        }
        if piece.len() > 1 {
            let mut out = vec![7];
            bpe.merge_in_chunks_with(&piece, lens, overlap, span, &mut out, &mut cache);
            proptest::prop_assert_eq!(&out[1..], &naive(&bpe, &piece)[..]);
        }
        // And through the whole path, whichever way it goes.
        let mut whole = Vec::new();
        bpe.merge_bytes(&piece, &mut whole);
        proptest::prop_assert_eq!(whole, naive(&bpe, &piece));
    }
}

/// The repeats are taken (not only tried) where the head's tokens repeat.
#[test]
fn runs_take_the_repeat_path_where_joins_hold() {
    let bpe = table(MergeRule::Merges {
        ignore_merges: false,
    });
    let lens = bpe.lens.as_ref().unwrap();
    let mut cache = served_cache(&bpe);
    // "abc" repeated: the head is [abc, abc, ...], and abc|abc holds; the
    // repeats stop 64 to 66 bytes before the end.
    let piece = b"abc".repeat(1000);
    let mut out = Vec::new();
    let x = bpe.merge_repeats_with(&piece, periodic::SPAN, lens, &mut out, &mut cache);
    assert_eq!(x, Some(2934));
    assert_eq!(out, vec![258; 978]);
    // "ba" repeated, then "c": the head is [b, ab, ab, ...], so the
    // repeats start after its first token.
    let piece = [b"ba".repeat(1000), b"c".to_vec()].concat();
    let mut out = Vec::new();
    let x = bpe.merge_repeats_with(&piece, periodic::SPAN, lens, &mut out, &mut cache);
    assert_eq!(x, Some(1935));
    assert_eq!(out[..3], [98, 256, 256]);
    assert_eq!(out, naive(&bpe, &piece[..1935]));
    let mut out = Vec::new();
    bpe.merge_bytes(&piece, &mut out);
    assert_eq!(out, naive(&bpe, &piece));
    // Text that is no run.
    let mut out = Vec::new();
    assert_eq!(
        bpe.merge_repeats_with(b"abcabdabcabd", periodic::SPAN, lens, &mut out, &mut cache),
        None
    );
}

/// The join between repeats is needed: a table (found by search) where
/// it fails for the first pair of boundaries, and copying would give the
/// wrong tokens.
#[test]
fn a_failed_join_between_repeats_moves_on() {
    let bpe = random_table(35, 140, MergeRule::Ranks);
    let piece = b"dcba".repeat(8);
    let lens = bpe.lens.as_ref().unwrap();
    let mut cache = served_cache(&bpe);
    let span = periodic::Span {
        head: 8,
        head_end: 0,
        tail: 1,
    };
    let mut out = Vec::new();
    if let Some(x) = bpe.merge_repeats_with(&piece, span, lens, &mut out, &mut cache) {
        assert_eq!(out, naive(&bpe, &piece[..x]));
    }
}

/// The join between the tokens kept before a run and the run's repeats is
/// needed: a table (found by search) where it fails, and taking the
/// repeats would give the wrong tokens.
#[test]
fn a_failed_join_before_a_run_is_caught() {
    let bpe = random_table(0, 30, MergeRule::Ranks);
    let piece = [&b"abcd".repeat(23)[..90], b"bbd", &b"abcd".repeat(60)].concat();
    let lens = bpe.lens.as_ref().unwrap();
    let mut cache = served_cache(&bpe);
    let span = periodic::Span {
        head: 8,
        head_end: 0,
        tail: 1,
    };
    let mut out = Vec::new();
    bpe.merge_in_chunks_with(&piece, lens, 0, span, &mut out, &mut cache);
    assert_eq!(out, naive(&bpe, &piece));
}

#[test]
fn long_periods_are_found_and_checked() {
    let unit = [&[b'a'; 50][..], b"b"].concat();
    assert_eq!(periodic::long_period(&unit.repeat(400)), Some(51));
    // The last period may be cut short.
    let piece = unit.repeat(400);
    assert_eq!(periodic::long_period(&piece[..piece.len() - 7]), Some(51));
    assert_eq!(
        periodic::long_period(&b"abcdefghijklmnopq".repeat(300)),
        Some(17)
    );
    // Periods of up to 16 bytes are left to `unit_of`.
    assert_eq!(
        periodic::long_period(&b"abcdefghijklmnop".repeat(300)),
        None
    );
    // Periodic in its window, not after.
    let mut broken = unit.repeat(400);
    broken[15_000] = b'c';
    assert_eq!(periodic::long_period(&broken), None);
    // No period, or one too long to repeat four times in the window.
    let mut state = 7u64;
    let noise: Vec<u8> = (0..20_000)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            b'a' + (state >> 60) as u8
        })
        .collect();
    assert_eq!(periodic::long_period(&noise), None);
    assert_eq!(periodic::long_period(&noise[..3000].repeat(7)), None);
    assert_eq!(periodic::long_period(&noise[..1000].repeat(40)), Some(1000));
    assert_eq!(periodic::long_period(&unit.repeat(10)), None, "too short");
}

proptest::proptest! {
    /// A piece of a longer unit repeated (17-40 bytes), merged from its
    /// head and a tail, every join checked, against the plain rule (with
    /// small heads and tails too, where joins often fail).
    #[test]
    fn long_periods_merged_from_the_head_match_the_plain_rule(
        seed in 0u64..1_000_000,
        merges in 1usize..150,
        ranks in proptest::bool::ANY,
        unit in proptest::collection::vec(0usize..4, 17..=40),
        extra in 0usize..300,
        head_end in 0usize..16,
        tail in 1usize..24,
        short in proptest::bool::ANY,
    ) {
        let rule = rule_of(ranks);
        let bpe = random_table(seed, merges, rule);
        let unit: Vec<u8> = unit.iter().map(|&k| b"abcd"[k]).collect();
        let len = 2 * (3 * unit.len() + 192) + 64 + extra;
        let piece: Vec<u8> = unit.iter().copied().cycle().take(len).collect();
        let lens = bpe.lens.as_ref().expect("every byte is a token");
        let mut cache = served_cache(&bpe);
        let mut out = vec![7];
        // The bounds used when encoding, or small ones.
        let taken = if short {
            let span = periodic::Span { head: 2 * unit.len() + 8, head_end, tail };
            bpe.merge_long_period_with(&piece, unit.len(), span, lens, &mut out, &mut cache)
        } else {
            bpe.merge_long_period(&piece, unit.len(), lens, &mut out, &mut cache)
        };
        if taken {
            proptest::prop_assert_eq!(&out[1..], &naive(&bpe, &piece)[..]);
        } else {
            proptest::prop_assert_eq!(out, vec![7]);
        }
    }
}

/// The join before the tail of a long period is needed: a table (found by
/// search) where it fails, and taking the tail's tokens as they are would
/// give the wrong ones.
#[test]
fn a_failed_join_before_the_tail_of_a_long_period_is_caught() {
    let bpe = random_table(0, 30, MergeRule::Ranks);
    let unit = b"dcbadcbadcbadcbadcbaa";
    let piece: Vec<u8> = unit.iter().copied().cycle().take(109).collect();
    let lens = bpe.lens.as_ref().unwrap();
    let mut cache = served_cache(&bpe);
    let span = periodic::Span {
        head: 2 * unit.len() + 8,
        head_end: 0,
        tail: 1,
    };
    let mut out = Vec::new();
    if !bpe.merge_long_period_with(&piece, unit.len(), span, lens, &mut out, &mut cache) {
        assert!(out.is_empty());
        bpe.merge_bytes(&piece, &mut out);
    }
    assert_eq!(out, naive(&bpe, &piece));
}

/// A short head with a shorter tail: the unit test reads only the head
/// (a run of "abcd" in 6 bytes with a head of 5 once read 9).
#[test]
fn a_short_head_reads_only_the_text() {
    let bpe = table(MergeRule::Ranks);
    let lens = bpe.lens.as_ref().unwrap();
    let mut cache = served_cache(&bpe);
    let span = periodic::Span {
        head: 5,
        head_end: 0,
        tail: 1,
    };
    for text in [&b"abcdab"[..], b"aaaaaa", b"abcdea"] {
        let mut out = Vec::new();
        if let Some(x) = bpe.merge_repeats_with(text, span, lens, &mut out, &mut cache) {
            assert_eq!(out, naive(&bpe, &text[..x]));
        }
    }
}
