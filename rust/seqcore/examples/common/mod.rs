//! What the tokenizer timing examples share: their command line, the
//! cl100k tokenizer from a rank file, and the King James Bible's verses.

use seqcore::tokenize::{
    tiktoken_file::parse_ranks, MergeRule, PreTokenizer, Preset, Splitting, Template, Tokenizer,
};

/// The command line `RANK_FILE KJV_JSONL [COUNT]`: both paths and the
/// count (`default` when absent); prints `usage` and exits when a path is
/// missing.
pub fn args(usage: &str, default: usize) -> (String, String, usize) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [ranks, kjv, ..] = &args[..] else {
        eprintln!("usage: {usage}");
        std::process::exit(2);
    };
    let count = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(default);
    (ranks.clone(), kjv.clone(), count)
}

/// cl100k from its rank file (`cl100k_base.tiktoken`), without specials.
pub fn cl100k(rank_file: &str) -> Tokenizer {
    let ranks = parse_ranks(&std::fs::read(rank_file).expect("read the rank file")).unwrap();
    let tokens: Vec<(u32, &[u8])> = ranks.iter().map(|(id, b)| (*id, &b[..])).collect();
    let splitting = Splitting {
        pretokenizer: Some(PreTokenizer::preset(Preset::Cl100k)),
        add_prefix_space: false,
    };
    Tokenizer::new(
        &tokens,
        Vec::new(),
        MergeRule::Ranks,
        splitting,
        Vec::new(),
        Template::default(),
    )
    .unwrap()
}

/// The "text" field of each line of a JSON-lines file (the `bible`
/// package's `kjv.jsonl`).
pub fn verses(path: &str) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("read the verses")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            v["text"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}
