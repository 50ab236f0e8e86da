//! Tests of the merge paths against the rule written out plainly.

use super::chunks::{ChunkRun, CHUNK};
use super::pair_cache::PairCache;
use super::*;

/// A tiny merge table: bytes, then "ab", "bc", "abc" (via ab+c), "aa".
pub(super) fn table(rule: MergeRule) -> Bpe {
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
pub(super) fn naive(bpe: &Bpe, piece: &[u8]) -> Vec<u32> {
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
                    let mut cache = served_cache(&bpe);
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

/// The rule a proptest's flag picks: rank file or plain merges.
pub(super) fn rule_of(ranks: bool) -> MergeRule {
    if ranks {
        MergeRule::Ranks
    } else {
        MergeRule::Merges {
            ignore_merges: false,
        }
    }
}

/// A pair cache serving `bpe`.
pub(super) fn served_cache(bpe: &Bpe) -> PairCache {
    let mut cache = PairCache::new();
    cache.serve(bpe);
    cache
}

/// A random merge list over the letters "abcd": each merge joins two
/// tokens already made (up to 12 bytes), so every merge is valid; as a rank
/// file, the same tokens with the merge order as ranks.
pub(super) fn random_table(seed: u64, merges: usize, rule: MergeRule) -> Bpe {
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
        let rule = rule_of(ranks);
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
        let rule = rule_of(ranks);
        let bpe = random_table(seed, merges, rule);
        let mut cache = served_cache(&bpe);
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
        let rule = rule_of(ranks);
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
        let rule = rule_of(ranks);
        let bpe = random_table(seed, merges, rule);
        let letters: &[u8] = if two_letters { b"ab" } else { b"abcdx" };
        let piece: Vec<u8> = picks[..len].iter().map(|&k| letters[k % letters.len()]).collect();
        let lens = bpe.lens.as_ref().expect("every byte is a token");
        let mut cache = served_cache(&bpe);
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
        let mut cache = served_cache(&bpe);
        let mut out = Vec::new();
        bpe.merge_in_chunks(&piece, bpe.lens.as_ref().unwrap(), &mut out, &mut cache);
        assert_eq!(out, naive(&bpe, &piece), "{rule:?}");
    }
}

/// Joins that fail, twice at each trap "pxyzw": where a chunk ends after
/// "pxyz" it merges "x" + "y" (rank 2), while the whole text merges "z" +
/// "w" (rank 0), then "y" + "zw" (rank 1), and "p" + "x" (rank 3) last.
/// Keeping every token but the last (overlap 0), the join "xy" | "zw"
/// fails; the loop takes back "xy" (one token, with no overlap) and merges
/// from "x", whose first token "x" does not join "p" either (they make
/// "px"); so it takes back "p" too and merges from there, where the trap
/// lies inside the chunk. Each trap is placed where the chunk after the
/// previous trap's back-offs ends; past the budget of back-offs the part
/// is merged whole. Exact either way.
#[test]
fn chunks_whose_join_fails_back_off() {
    let mut tokens: Vec<(u32, Vec<u8>)> = (0..=255u8).map(|b| (u32::from(b), vec![b])).collect();
    for (id, bytes) in [(256, &b"zw"[..]), (257, b"yzw"), (258, b"xy"), (259, b"px")] {
        tokens.push((id, bytes.to_vec()));
    }
    let refs: Vec<(u32, &[u8])> = tokens.iter().map(|(i, b)| (*i, &b[..])).collect();
    let merges = [
        (u32::from(b'z'), u32::from(b'w')),
        (u32::from(b'y'), 256),
        (u32::from(b'x'), u32::from(b'y')),
        (u32::from(b'p'), u32::from(b'x')),
    ];
    // The back-offs from the join at `end - 1` restart at "p", `end - 4`,
    // so the next chunk ends `CHUNK - 4` bytes after this one.
    let traps = |count: usize| {
        let mut piece = Vec::new();
        let mut end = CHUNK;
        for _ in 0..count {
            piece.resize(end - 4, b'q');
            piece.extend_from_slice(b"pxyzw");
            end += CHUNK - 4;
        }
        piece.extend_from_slice(&[b'q'; 10]);
        piece
    };
    for rule in [
        MergeRule::Ranks,
        MergeRule::Merges {
            ignore_merges: false,
        },
    ] {
        let bpe = Bpe::new(&refs, &merges, rule).unwrap();
        let mut cache = served_cache(&bpe);
        assert!(!bpe.joins(b"xyzw", 258, 256, &mut cache));
        assert!(!bpe.joins(b"px", u32::from(b'p'), u32::from(b'x'), &mut cache));
        let lens = bpe.lens.as_ref().unwrap();
        for count in 1..=6 {
            let piece = traps(count);
            let budget = chunks::back_off_budget(piece.len());
            let mut out = Vec::new();
            let run =
                bpe.merge_in_chunks_with(&piece, lens, 0, periodic::SPAN, &mut out, &mut cache);
            let want = naive(&bpe, &piece);
            assert_eq!(out, want, "{rule:?}, {count} traps");
            assert_eq!(&want[CHUNK - 4..CHUNK - 2], &[259, 257]);
            let expected = ChunkRun {
                back_offs: (2 * count).min(budget),
                whole: 2 * count > budget,
            };
            assert_eq!(run, expected, "{rule:?}, {count} traps");
        }
    }
}
