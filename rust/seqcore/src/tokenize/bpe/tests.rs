//! Tests of the merge paths against the rule written out plainly.

use super::pair_cache::PairCache;
use super::*;

/// A tiny merge table: bytes, then "ab", "bc", "abc" (via ab+c), "aa".
fn table(rule: MergeRule) -> Bpe {
    let mut tokens: Vec<(u32, Vec<u8>)> = (0..=255u8).map(|b| (u32::from(b), vec![b])).collect();
    for (i, t) in ["ab", "bc", "abc", "aa"].iter().enumerate() {
        tokens.push((256 + i as u32, t.as_bytes().to_vec()));
    }
    let refs: Vec<(u32, &[u8])> = tokens.iter().map(|(i, b)| (*i, &b[..])).collect();
    let merges = [(97, 98), (98, 99), (256, 99), (97, 97)];
    Bpe::new(&refs, &merges, rule).unwrap()
}

fn encode(bpe: &Bpe, text: &str) -> Vec<u32> {
    let mut out = Vec::new();
    bpe.encode_piece(text.as_bytes(), &mut out);
    out
}

#[test]
fn merges_lowest_rank_leftmost_first() {
    let bpe = table(MergeRule::Merges {
        ignore_merges: false,
    });
    assert_eq!(encode(&bpe, "abc"), vec![258]);
    assert_eq!(encode(&bpe, "bcab"), vec![257, 256]);
    assert_eq!(encode(&bpe, "aaa"), vec![259, 97]);
    assert_eq!(encode(&bpe, "aaaa"), vec![259, 259]);
    assert_eq!(encode(&bpe, ""), Vec::<u32>::new());
}

#[test]
fn rank_files_merge_any_split() {
    // "abc" = a + bc also merges under tiktoken rules; ranks are ids.
    let bpe = table(MergeRule::Ranks);
    assert_eq!(bpe.pair(97, 257), Some((258, 258)));
    assert_eq!(encode(&bpe, "abc"), vec![258]);
}

/// The rule written out plainly: find the lowest-rank pair, merge, repeat.
fn naive(bpe: &Bpe, piece: &[u8]) -> Vec<u32> {
    let mut ids: Vec<u32> = piece.iter().map(|&b| u32::from(b)).collect();
    loop {
        let best = (0..ids.len().saturating_sub(1))
            .filter_map(|i| bpe.pair(ids[i], ids[i + 1]).map(|(r, m)| (r, i, m)))
            .min();
        let Some((_, i, merged)) = best else {
            return ids;
        };
        ids[i] = merged;
        ids.remove(i + 1);
    }
}

/// A file where a merge makes a pair of lower rank: "ab" (rank 1) then
/// "x" + "ab" (rank 0).
fn lower_rank_table() -> Bpe {
    let mut tokens: Vec<(u32, Vec<u8>)> = (0..=255u8).map(|b| (u32::from(b), vec![b])).collect();
    tokens.push((256, b"ab".to_vec()));
    tokens.push((257, b"xab".to_vec()));
    let refs: Vec<(u32, &[u8])> = tokens.iter().map(|(i, b)| (*i, &b[..])).collect();
    let rule = MergeRule::Merges {
        ignore_merges: false,
    };
    Bpe::new(&refs, &[(120, 256), (97, 98)], rule).unwrap()
}

#[test]
fn runs_of_one_symbol_follow_the_rule() {
    for bpe in [
        table(MergeRule::Ranks),
        table(MergeRule::Merges {
            ignore_merges: false,
        }),
    ] {
        for byte in [b'a', b'b', b'x'] {
            for len in (0..300).chain([997, 1024, 4097]) {
                let piece = vec![byte; len];
                let mut out = Vec::new();
                bpe.merge_bytes(&piece, &mut out);
                assert_eq!(out, naive(&bpe, &piece), "{len} x {byte}");
            }
        }
    }
    // Many tokens of one letter, made in an order that mixes lengths.
    let mut tokens: Vec<(u32, Vec<u8>)> = (0..=255u8).map(|b| (u32::from(b), vec![b])).collect();
    for (i, n) in [2usize, 3, 4, 5, 7, 8, 6].iter().enumerate() {
        tokens.push((256 + i as u32, vec![b'a'; *n]));
    }
    let refs: Vec<(u32, &[u8])> = tokens.iter().map(|(i, b)| (*i, &b[..])).collect();
    // aa, aaa = aa+a, aaaa = aa+aa, aaaaa = aaaa+a, a7 = aaaa+aaa, a8 = aaaa+aaaa, a6 = aaa+aaa
    let merges = [
        (97, 97),
        (256, 97),
        (256, 256),
        (258, 97),
        (258, 257),
        (258, 258),
        (257, 257),
    ];
    for rule in [
        MergeRule::Ranks,
        MergeRule::Merges {
            ignore_merges: false,
        },
    ] {
        let bpe = Bpe::new(&refs, &merges, rule).unwrap();
        // The run path succeeds here (no merge makes a lower rank).
        if rule != MergeRule::Ranks {
            let mut ids = vec![97; 1000];
            assert!(bpe.merge_run(&mut ids).is_some());
        }
        for len in (0..400).chain([4097, 10_000]) {
            let piece = vec![b'a'; len];
            let mut out = Vec::new();
            bpe.merge_bytes(&piece, &mut out);
            assert_eq!(out, naive(&bpe, &piece), "{len} under {rule:?}");
        }
    }
}

#[test]
fn both_merge_paths_follow_the_rule() {
    let tables = [
        table(MergeRule::Ranks),
        table(MergeRule::Merges {
            ignore_merges: false,
        }),
        lower_rank_table(),
    ];
    for bpe in tables {
        let mut state = 12345u64;
        for len in [0usize, 1, 2, 3, 47, 48, 49, 95, 96, 97, 100, 500, 5000] {
            for _ in 0..50 {
                let piece: Vec<u8> = (0..len)
                    .map(|_| {
                        state = state
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        b"abcx"[(state >> 33) as usize % 4]
                    })
                    .collect();
                let mut via_merge = Vec::new();
                bpe.merge_bytes(&piece, &mut via_merge);
                assert_eq!(via_merge, naive(&bpe, &piece), "{piece:?}");
                if len >= 2 {
                    let mut large: Vec<u32> = piece.iter().map(|&b| u32::from(b)).collect();
                    let mut cache = PairCache::new();
                    cache.serve(&bpe);
                    let mut heap = large.clone();
                    let n = bpe.merge_large(&mut large, &mut cache);
                    assert_eq!(&large[..n], naive(&bpe, &piece), "{piece:?}");
                    let n = bpe.merge_heap(&mut heap, &mut cache);
                    assert_eq!(&heap[..n], naive(&bpe, &piece), "{piece:?}");
                }
            }
        }
    }
}

/// A random merge list over the letters "abcd": each merge joins two
/// tokens already made (up to 12 bytes), so every merge is valid; as a rank
/// file, the same tokens with the merge order as ranks.
fn random_table(seed: u64, merges: usize, rule: MergeRule) -> Bpe {
    let mut state = seed;
    let mut next = move |n: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize % n
    };
    let mut tokens: Vec<(u32, Vec<u8>)> = (0..=255u8).map(|b| (u32::from(b), vec![b])).collect();
    let mut made: Vec<u32> = b"abcd".iter().map(|&b| u32::from(b)).collect();
    let mut list = Vec::new();
    for _ in 0..merges * 4 {
        if list.len() == merges {
            break;
        }
        let (l, r) = (made[next(made.len())], made[next(made.len())]);
        let joined = [&tokens[l as usize].1[..], &tokens[r as usize].1[..]].concat();
        if joined.len() > 12 || tokens.iter().any(|t| t.1 == joined) {
            continue;
        }
        let id = tokens.len() as u32;
        tokens.push((id, joined));
        made.push(id);
        list.push((l, r));
    }
    let refs: Vec<(u32, &[u8])> = tokens.iter().map(|(i, b)| (*i, &b[..])).collect();
    Bpe::new(&refs, &list, rule).unwrap()
}

proptest::proptest! {
    /// The short-piece scan (and the paths for longer pieces) against the
    /// rule written out plainly, on random tables and pieces.
    #[test]
    fn merging_matches_the_plain_rule_on_random_tables(
        seed in 0u64..1_000_000,
        merges in 1usize..60,
        ranks in proptest::bool::ANY,
        pieces in proptest::collection::vec(
            proptest::collection::vec(proptest::sample::select(b"abcdx".to_vec()), 0..140),
            1..8,
        ),
    ) {
        let rule = if ranks {
            MergeRule::Ranks
        } else {
            MergeRule::Merges { ignore_merges: false }
        };
        let bpe = random_table(seed, merges, rule);
        for piece in &pieces {
            let mut out = Vec::new();
            bpe.merge_bytes(piece, &mut out);
            proptest::prop_assert_eq!(out, naive(&bpe, piece));
        }
    }
}

proptest::proptest! {
    /// The vector kernels on their own, at every length they accept (the
    /// dispatch only sends them pieces of 20 ids and more).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_vector_kernel_matches_the_plain_rule(
        seed in 0u64..1_000_000,
        merges in 1usize..60,
        ranks in proptest::bool::ANY,
        piece in proptest::collection::vec(proptest::sample::select(b"abcdx".to_vec()), 2..=128),
    ) {
        let rule = if ranks {
            MergeRule::Ranks
        } else {
            MergeRule::Merges { ignore_merges: false }
        };
        let bpe = random_table(seed, merges, rule);
        let mut cache = PairCache::new();
        cache.serve(&bpe);
        let want = naive(&bpe, &piece);
        let mut ids: Vec<u32> = piece.iter().map(|&b| u32::from(b)).collect();
        let len = bpe.merge_vector(&mut ids, &mut cache);
        proptest::prop_assert_eq!(&ids[..len], &want[..]);
        // The in-memory form that processors without AVX-512 take, run
        // here as plain Rust whatever the processor.
        let mut ids: Vec<u32> = piece.iter().map(|&b| u32::from(b)).collect();
        let len = if piece.len() <= super::vector_pieces::NARROW_PIECE {
            bpe.merge_lanes::<{ super::vector_pieces::NARROW_PIECE }, u64>(&mut ids, &mut cache)
        } else {
            bpe.merge_lanes::<{ super::vector_pieces::VECTOR_PIECE }, u128>(&mut ids, &mut cache)
        };
        proptest::prop_assert_eq!(&ids[..len], &want[..]);
    }
}

/// A token its own bytes do not merge into (plain Hugging Face merges):
/// found by bytes, never taken as a whole piece.
#[test]
fn tokens_their_bytes_do_not_merge_into_are_found_but_not_taken() {
    let mut tokens: Vec<(u32, Vec<u8>)> = (0..=255u8).map(|b| (u32::from(b), vec![b])).collect();
    for (i, t) in ["ab", "bc", "abc"].iter().enumerate() {
        tokens.push((256 + i as u32, t.as_bytes().to_vec()));
    }
    tokens.push((259, Vec::new()));
    let refs: Vec<(u32, &[u8])> = tokens.iter().map(|(i, b)| (*i, &b[..])).collect();
    // "bc" merges first, so "abc" ends as a + bc, never as its token.
    let merges = [(98, 99), (97, 98), (256, 99)];
    let plain = Bpe::new(
        &refs,
        &merges,
        MergeRule::Merges {
            ignore_merges: false,
        },
    )
    .unwrap();
    assert_eq!(encode(&plain, "abc"), vec![97, 257]);
    assert_eq!(plain.whole_piece(b"abc"), None);
    assert_eq!(plain.whole_piece(b"ab"), Some(256));
    // Llama-3's ignore_merges takes the token whole.
    let whole = Bpe::new(
        &refs,
        &merges,
        MergeRule::Merges {
            ignore_merges: true,
        },
    )
    .unwrap();
    assert_eq!(encode(&whole, "abc"), vec![258]);
    for bpe in [&plain, &whole] {
        for (id, bytes) in &tokens {
            assert_eq!(bpe.token_id(bytes), Some(*id), "{bytes:?}");
        }
        assert_eq!(bpe.token_id(b"abcd"), None);
        assert_eq!(bpe.token_id(b"ba"), None);
    }
}

proptest::proptest! {
    /// A cut is only ever made where no token of the vocabulary occurs
    /// across the gap (checked by brute force over every token).
    #[test]
    fn cuts_fall_only_where_no_token_spans(
        tokens in proptest::collection::vec(
            proptest::collection::vec(proptest::sample::select(b"abcdxy".to_vec()), 1..7),
            0..40,
        ),
        piece in proptest::collection::vec(proptest::sample::select(b"abcdxy".to_vec()), 2..60),
    ) {
        let cuts = Cuts::new(tokens.iter().map(|t| &t[..]));
        for i in 0..piece.len() - 1 {
            let spanned = tokens.iter().any(|t| {
                (i + 2).saturating_sub(t.len())..=i
            }
            .any(|a| a + t.len() > i + 1 && piece.get(a..a + t.len()) == Some(&t[..])));
            if cuts.is_cut(&piece, i) {
                proptest::prop_assert!(!spanned, "cut at {} under a token", i);
            }
        }
    }

    /// Long pieces are cut before they merge; the result is the rule's.
    #[test]
    fn cutting_long_pieces_changes_nothing(
        seed in 0u64..1_000_000,
        merges in 1usize..120,
        ranks in proptest::bool::ANY,
        piece in proptest::collection::vec(proptest::sample::select(b"abcdx".to_vec()), 65..400),
    ) {
        let rule = if ranks {
            MergeRule::Ranks
        } else {
            MergeRule::Merges { ignore_merges: false }
        };
        let bpe = random_table(seed, merges, rule);
        let mut out = Vec::new();
        bpe.merge_bytes(&piece, &mut out);
        proptest::prop_assert_eq!(out, naive(&bpe, &piece));
    }
}

/// The cut tests find what they should: "x" is in no token but itself,
/// so every gap next to it is a cut, and a gap inside a token never is.
#[test]
fn cuts_are_found_next_to_bytes_no_token_holds() {
    let tokens: [&[u8]; 4] = [b"ab", b"abc", b"bca", b"x"];
    let cuts = Cuts::new(tokens.iter().copied());
    let piece = b"abcxabcab";
    let found: Vec<usize> = (0..piece.len() - 1)
        .filter(|&i| cuts.is_cut(piece, i))
        .collect();
    // Only the gaps beside "x"; the one in "c|a" is inside "bca".
    assert_eq!(found, vec![2, 3]);
    // Parts end at cuts; a rest of at most `longest` bytes stays whole.
    let long: Vec<u8> = b"abc".repeat(15).into_iter().chain(*b"xabcabc").collect();
    let mut parts = Vec::new();
    cuts.for_each_segment(&long, 6, |a, b| parts.push(&long[a..b]));
    assert_eq!(parts, [&long[..45], &long[45..46], &long[46..]]);
    parts.clear();
    cuts.for_each_segment(&long, 7, |a, b| parts.push(&long[a..b]));
    assert_eq!(parts, [&long[..45], &long[45..]]);
    parts.clear();
    cuts.for_each_segment(&long, long.len(), |a, b| parts.push(&long[a..b]));
    assert_eq!(parts, [&long[..]]);
}

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

proptest::proptest! {
    /// Long parts merged in chunks, joins checked, against the plain rule:
    /// over two letters and over five, keeping tokens that end any number
    /// of bytes before a chunk's end (with few, joins often fail and the
    /// part is merged whole).
    #[test]
    fn chunked_merging_matches_the_plain_rule(
        seed in 0u64..1_000_000,
        merges in 1usize..150,
        ranks in proptest::bool::ANY,
        two_letters in proptest::bool::ANY,
        len in 65usize..500,
        picks in proptest::collection::vec(0usize..5, 500),
        overlap in 0usize..14,
    ) {
        let rule = if ranks {
            MergeRule::Ranks
        } else {
            MergeRule::Merges { ignore_merges: false }
        };
        let bpe = random_table(seed, merges, rule);
        let letters: &[u8] = if two_letters { b"ab" } else { b"abcdx" };
        let piece: Vec<u8> = picks[..len].iter().map(|&k| letters[k % letters.len()]).collect();
        let lens = bpe.lens.as_ref().expect("every byte is a token");
        let mut cache = PairCache::new();
        cache.serve(&bpe);
        let mut out = vec![7];
        bpe.merge_in_chunks_with(&piece, lens, overlap, periodic::SPAN, &mut out, &mut cache);
        proptest::prop_assert_eq!(&out[1..], &naive(&bpe, &piece)[..]);
    }
}

/// A chunk whose tokens all lie inside the first: it cannot keep any, and
/// the part is merged whole.
#[test]
fn a_chunk_of_one_token_sends_the_part_whole() {
    // Tokens: a run of 2^k "a"s for k = 1..6, then each run + "b".
    let mut tokens: Vec<(u32, Vec<u8>)> = (0..=255u8).map(|b| (u32::from(b), vec![b])).collect();
    let mut merges = Vec::new();
    let mut run = u32::from(b'a');
    for k in 1..=6 {
        let id = tokens.len() as u32;
        tokens.push((id, vec![b'a'; 1 << k]));
        merges.push((run, run));
        run = id;
    }
    let id = tokens.len() as u32;
    tokens.push((id, [vec![b'a'; 64], vec![b'b']].concat()));
    merges.push((run, u32::from(b'b')));
    let refs: Vec<(u32, &[u8])> = tokens.iter().map(|(i, b)| (*i, &b[..])).collect();
    for rule in [
        MergeRule::Ranks,
        MergeRule::Merges {
            ignore_merges: false,
        },
    ] {
        let bpe = Bpe::new(&refs, &merges, rule).unwrap();
        let piece = [vec![b'a'; 200], vec![b'b']].concat();
        let mut cache = PairCache::new();
        cache.serve(&bpe);
        let mut out = Vec::new();
        bpe.merge_in_chunks(&piece, bpe.lens.as_ref().unwrap(), &mut out, &mut cache);
        assert_eq!(out, naive(&bpe, &piece), "{rule:?}");
    }
}

/// A join that fails: the chunk ends after "xyz", so it merges "x" + "y"
/// (rank 2); the whole text merges "z" + "w" (rank 0), then "y" + "zw"
/// (rank 1) first. Keeping every token but the last (overlap 0), the join
/// "xy" | "zw" does not hold, and the part is merged whole.
#[test]
fn chunks_whose_join_fails_are_merged_whole() {
    let mut tokens: Vec<(u32, Vec<u8>)> = (0..=255u8).map(|b| (u32::from(b), vec![b])).collect();
    for (id, bytes) in [(256, &b"zw"[..]), (257, b"yzw"), (258, b"xy")] {
        tokens.push((id, bytes.to_vec()));
    }
    let refs: Vec<(u32, &[u8])> = tokens.iter().map(|(i, b)| (*i, &b[..])).collect();
    let merges = [
        (u32::from(b'z'), u32::from(b'w')),
        (u32::from(b'y'), 256),
        (u32::from(b'x'), u32::from(b'y')),
    ];
    let piece = [&[b'q'; 61][..], b"xyzw", &[b'q'; 10]].concat();
    for rule in [
        MergeRule::Ranks,
        MergeRule::Merges {
            ignore_merges: false,
        },
    ] {
        let bpe = Bpe::new(&refs, &merges, rule).unwrap();
        let mut cache = PairCache::new();
        cache.serve(&bpe);
        assert!(!bpe.joins(b"xyzw", 258, 256, &mut cache));
        let mut out = Vec::new();
        let lens = bpe.lens.as_ref().unwrap();
        bpe.merge_in_chunks_with(&piece, lens, 0, periodic::SPAN, &mut out, &mut cache);
        let want = naive(&bpe, &piece);
        assert_eq!(out, want, "{rule:?}");
        assert_eq!(&want[61..63], &[u32::from(b'x'), 257]);
    }
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
        let rule = if ranks {
            MergeRule::Ranks
        } else {
            MergeRule::Merges { ignore_merges: false }
        };
        let bpe = random_table(seed, merges, rule);
        let piece = runs_piece(&runs);
        let lens = bpe.lens.as_ref().expect("every byte is a token");
        let mut cache = PairCache::new();
        cache.serve(&bpe);
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
    let mut cache = PairCache::new();
    cache.serve(&bpe);
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
    let mut cache = PairCache::new();
    cache.serve(&bpe);
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
    let mut cache = PairCache::new();
    cache.serve(&bpe);
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
        let rule = if ranks {
            MergeRule::Ranks
        } else {
            MergeRule::Merges { ignore_merges: false }
        };
        let bpe = random_table(seed, merges, rule);
        let unit: Vec<u8> = unit.iter().map(|&k| b"abcd"[k]).collect();
        let len = 2 * (3 * unit.len() + 192) + 64 + extra;
        let piece: Vec<u8> = unit.iter().copied().cycle().take(len).collect();
        let lens = bpe.lens.as_ref().expect("every byte is a token");
        let mut cache = PairCache::new();
        cache.serve(&bpe);
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
    let mut cache = PairCache::new();
    cache.serve(&bpe);
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
