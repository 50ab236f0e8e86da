//! Multi-word encoding time against base encoding, from Rust alone, as
//! `benches/tokenizer.py` sets it up: cl100k, 5,000 bigrams learned on the
//! first 25,000 verses of the King James Bible, encoding the rest.
//!
//! `cargo run --release -p seqcore --example multiword_speed -- RANK_FILE KJV_JSONL [ROUNDS]`
//! (`cl100k_base.tiktoken` and the `bible` package's `kjv.jsonl`); set
//! `ORDERS=2,3` (say) for other n-gram orders than bigrams, and
//! `ONLY=base` or `ONLY=mwt` to run just one of them ROUNDS times and
//! print nothing (for a profiler).
//!
//! Prints two figures, since they differ: base and multi-word encoding in
//! alternating calls (each evicts the other's tables, as in the Python
//! bench), and each run alone for a while (what a program using only one
//! of them sees).

use std::time::Instant;

use seqcore::tokenize::multiword::MultiWord;
use seqcore::tokenize::SpecialPolicy;

mod common;

fn seconds(f: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let (ranks, kjv, rounds) = common::args("multiword_speed RANK_FILE KJV_JSONL [ROUNDS]", 101);
    let base = common::cl100k(&ranks);
    let verses = common::verses(&kjv);
    let (train, held) = verses.split_at(25_000.min(verses.len()));
    let train: Vec<&str> = train.iter().map(String::as_str).collect();
    let orders: Vec<usize> = std::env::var("ORDERS")
        .map(|o| {
            o.split(',')
                .map(|n| n.trim().parse().expect("ORDERS: numbers"))
                .collect()
        })
        .unwrap_or_else(|_| vec![2]);
    let mwt = MultiWord::train(&base, &train, &orders, 5000, 1).unwrap();
    let text = held.join("\n");
    let policy = SpecialPolicy::default();
    let mut encode_base = || {
        std::hint::black_box(base.encode(&text, &policy, false).unwrap());
    };
    let mut encode_mwt = || {
        std::hint::black_box(mwt.encode(&base, &text, &policy, false).unwrap());
    };
    let (n_base, n_mwt) = (
        base.encode(&text, &policy, false).unwrap().len(),
        mwt.encode(&base, &text, &policy, false).unwrap().len(),
    );
    if let Ok(which) = std::env::var("ONLY") {
        for _ in 0..rounds {
            if which == "base" {
                encode_base()
            } else {
                encode_mwt()
            }
        }
        return;
    }
    // Alternating calls: the median of per-pair ratios.
    let ratios: Vec<f64> = (0..rounds)
        .map(|_| seconds(&mut encode_mwt) / seconds(&mut encode_base))
        .collect();
    // Each alone: warm up, then time a run of calls.
    let alone = |f: &mut dyn FnMut()| {
        for _ in 0..10 {
            f();
        }
        median((0..rounds).map(|_| seconds(f)).collect())
    };
    let (t_base, t_mwt) = (alone(&mut encode_base), alone(&mut encode_mwt));
    println!(
        "{:.0} kB held out, {} tokens -> {} with {} n-grams; multi-word / base: \
         {:+.1}% alternating, {:+.1}% each alone ({:.2} / {:.2} ms)",
        text.len() as f64 / 1e3,
        n_base,
        n_mwt,
        mwt.ngrams().len(),
        (median(ratios) - 1.0) * 100.0,
        (t_mwt / t_base - 1.0) * 100.0,
        t_mwt * 1e3,
        t_base * 1e3,
    );
}
