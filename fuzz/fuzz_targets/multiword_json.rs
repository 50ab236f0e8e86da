//! Arbitrary bytes as a saved multi-word vocabulary over a small byte-level
//! base: loading either succeeds or returns an error (never a panic), and
//! what loads encodes and decodes a short text back to its bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqcore::tokenize::multiword::MultiWord;
use seqcore::tokenize::{
    MergeRule, PreTokenizer, Preset, SpecialPolicy, Splitting, Template, Tokenizer,
};
use std::sync::OnceLock;

const TEXT: &str = "of the LORD of the  land é 日本 12345 's\n\n  x of";

/// The 256 single bytes and a few merges, split as cl100k splits.
fn base() -> &'static Tokenizer {
    static BASE: OnceLock<Tokenizer> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut tokens: Vec<(u32, Vec<u8>)> =
            (0..=255u8).map(|b| (u32::from(b), vec![b])).collect();
        for word in [
            &b"of"[..],
            b" o",
            b" of",
            b"th",
            b" th",
            b" the",
            b"LO",
            b"RD",
        ] {
            tokens.push((tokens.len() as u32, word.to_vec()));
        }
        let refs: Vec<(u32, &[u8])> = tokens.iter().map(|(id, b)| (*id, &b[..])).collect();
        let splitting = Splitting {
            pretokenizer: Some(PreTokenizer::preset(Preset::Cl100k)),
            add_prefix_space: false,
        };
        Tokenizer::new(
            &refs,
            Vec::new(),
            MergeRule::Ranks,
            splitting,
            Vec::new(),
            Template::default(),
        )
        .expect("a valid base")
    })
}

fuzz_target!(|data: &[u8]| {
    let base = base();
    let Ok(multiword) = MultiWord::from_json(data, base) else {
        return;
    };
    let ids = multiword
        .encode(base, TEXT, &SpecialPolicy::allow_all(), true)
        .expect("a loaded multi-word vocabulary encodes");
    let bytes = multiword
        .decode_bytes(base, &ids, false)
        .expect("its own ids decode");
    assert_eq!(bytes, TEXT.as_bytes(), "multi-word tokens round-trip");
});
