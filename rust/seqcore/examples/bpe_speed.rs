//! Encode speed of cl100k on prose and on prose with whitespace removed,
//! from Rust alone (no Python), to measure the merge loop; then other
//! texts without whitespace (one long piece each) against prose.
//!
//! `cargo run --release -p seqcore --example bpe_speed -- RANK_FILE KJV_JSONL`
//! (`cl100k_base.tiktoken` and the `bible` package's `kjv.jsonl`). With
//! `ONLY=word` in the environment, only the long-piece cases whose name
//! contains `word` run after prose (for a profile of one of them).

use std::time::Instant;

use seqcore::tokenize::SpecialPolicy;

mod common;

/// The fastest of `repeats` runs: on a machine shared with other work the
/// minimum moves far less than the median.
fn min_seconds(repeats: usize, mut f: impl FnMut()) -> f64 {
    (0..repeats)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let (ranks, kjv, repeats) = common::args("bpe_speed RANK_FILE KJV_JSONL [REPEATS]", 9);
    let tok = common::cl100k(&ranks);
    let mut prose = common::verses(&kjv).join("\n");
    let n = 1_000_000;
    while !prose.is_char_boundary(n) {
        prose.pop();
    }
    prose.truncate(n);
    let squashed: String = prose.split_whitespace().collect();
    let squashed: String = squashed.repeat(2).chars().take(n).collect();
    let policy = SpecialPolicy::default();
    let encode = |text: &str| tok.encode(text, &policy, false).unwrap();
    let t_prose = min_seconds(repeats, || {
        std::hint::black_box(encode(&prose));
    });
    let t_sq = min_seconds(repeats, || {
        std::hint::black_box(encode(&squashed));
    });
    // Merging alone: the squashed text's pieces, cut once.
    let mut pieces = Vec::new();
    tok.split_pieces(&squashed, &mut |a, b| pieces.push((a, b)))
        .unwrap();
    let bpe = tok.bpe();
    let mut out = Vec::with_capacity(n);
    let t_merge = min_seconds(repeats, || {
        out.clear();
        for &(a, b) in &pieces {
            bpe.encode_piece(&squashed.as_bytes()[a..b], &mut out);
        }
    });
    let total: usize = pieces.iter().map(|p| p.1 - p.0).sum();
    println!(
        "prose {:.1} MB/s; squashed {:.2}x prose; squashed merging alone {:.0} ns/piece \
         ({} pieces, {:.1} bytes avg, {} tokens)",
        prose.len() as f64 / t_prose / 1e6,
        t_sq / t_prose,
        t_merge / pieces.len() as f64 * 1e9,
        pieces.len(),
        total as f64 / pieces.len() as f64,
        out.len()
    );
    // A floor for any exact method: the squashed text's tokens handed over
    // already delimited, so only each token's id is looked up (the table
    // prose uses for its whole pieces). Finding the boundaries must fit in
    // what is left of a budget.
    let vocab = tok.vocab();
    let mut spans = Vec::with_capacity(out.len());
    let mut at = 0;
    for &id in &out {
        let len = vocab.bytes(id).expect("an encoded id").len();
        spans.push((at, at + len));
        at += len;
    }
    let sq = squashed.as_bytes();
    let t_oracle = min_seconds(repeats, || {
        let mut sum = 0u64;
        for &(a, b) in &spans {
            sum += u64::from(bpe.whole_piece(&sq[a..b]).unwrap_or(0));
        }
        std::hint::black_box(sum);
    });
    // Then with one merge-table read per boundary as well: the least that
    // checking a guessed boundary can ask (whether the two tokens merge).
    let t_checked = min_seconds(repeats, || {
        let mut sum = 0u64;
        let mut prev = u32::MAX;
        for &(a, b) in &spans {
            let id = bpe.whole_piece(&sq[a..b]).unwrap_or(0);
            sum += u64::from(bpe.pair(prev, id).map_or(id, |p| p.0));
            prev = id;
        }
        std::hint::black_box(sum);
    });
    println!(
        "squashed, tokens given: id lookups alone {:.2}x prose ({:.0} ns per token), \
         with one merge-table read per boundary {:.2}x",
        t_oracle / t_prose,
        t_oracle / spans.len() as f64 * 1e9,
        t_checked / t_prose,
    );
    let letters: String = squashed.chars().filter(|c| c.is_alphabetic()).collect();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut random = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let lowercase: String = (0..n).map(|_| (b'a' + random(26) as u8) as char).collect();
    let cjk: String = (0..n / 3)
        .map(|_| char::from_u32(0x4E00 + random(0x5200) as u32).unwrap())
        .collect();
    let cases = [
        (
            "letters only, one piece",
            letters.repeat(2).chars().take(n).collect(),
        ),
        ("random lowercase, one piece", lowercase),
        ("random CJK, one piece", cjk),
        ("\u{e9} repeated", "\u{e9}".repeat(n / 2)),
    ];
    for (name, text) in cases {
        if std::env::var("ONLY").is_ok_and(|o| !name.contains(&o)) {
            continue;
        }
        let t = min_seconds(repeats, || {
            std::hint::black_box(encode(&text));
        });
        println!(
            "{name}: {:.2}x prose per byte",
            t / t_prose * n as f64 / text.len() as f64
        );
    }
}
