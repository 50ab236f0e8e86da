//! Arbitrary bytes as a tiktoken rank file: parsing either succeeds or
//! returns an error (never a panic); ranks that parse build a tokenizer
//! that encodes and decodes a short text without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqcore::tokenize::{
    tiktoken_file, AddedToken, MergeRule, PreTokenizer, Preset, SpecialPolicy, Splitting, Template,
    Tokenizer,
};

const TEXT: &str = "hello world <|endoftext|> é 日本 12345 's\n\n  x";

fuzz_target!(|data: &[u8]| {
    let Ok(ranks) = tiktoken_file::parse_ranks(data) else {
        return;
    };
    let tokens: Vec<(u32, &[u8])> = ranks.iter().map(|(r, b)| (*r, &b[..])).collect();
    let special = ranks.last().map_or(0, |(r, _)| r + 1);
    for preset in Preset::ALL {
        let splitting = Splitting {
            pretokenizer: Some(PreTokenizer::preset(preset)),
            add_prefix_space: false,
        };
        let Ok(tokenizer) = Tokenizer::new(
            &tokens,
            Vec::new(),
            MergeRule::Ranks,
            splitting,
            vec![AddedToken::special(special, "<|endoftext|>")],
            Template::default(),
        ) else {
            continue;
        };
        let ids = tokenizer
            .encode(TEXT, &SpecialPolicy::allow_all(), true)
            .expect("a loaded tokenizer encodes");
        let bytes = tokenizer
            .decode_bytes(&ids, false)
            .expect("its own ids decode");
        assert_eq!(bytes, TEXT.as_bytes(), "byte-level BPE round-trips");
    }
});
