//! Arbitrary bytes as a `tokenizer.json`: loading either succeeds or returns
//! an error (never a panic); a tokenizer that loads encodes, decodes and
//! saves a short text without panicking, and its saved form loads again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqcore::tokenize::{hf_json, SpecialPolicy};

const TEXT: &str = "hello world <|endoftext|> é 日本 12345 's\n\n  x";

fuzz_target!(|data: &[u8]| {
    let Ok(tokenizer) = hf_json::from_json(data) else {
        return;
    };
    for policy in [
        SpecialPolicy::allow_all(),
        SpecialPolicy::ordinary(),
        SpecialPolicy::strict(),
    ] {
        for add_special_tokens in [false, true] {
            if let Ok(ids) = tokenizer.encode(TEXT, &policy, add_special_tokens) {
                let _ = tokenizer.decode_bytes(&ids, false);
                let _ = tokenizer.decode_bytes(&ids, true);
                let _ = tokenizer.encode_with_offsets(TEXT, &policy, add_special_tokens);
            }
        }
    }
    if let Ok(json) = hf_json::to_json(&tokenizer) {
        let again = hf_json::from_json(json.as_bytes()).expect("a saved tokenizer.json loads");
        let all = SpecialPolicy::allow_all();
        assert_eq!(
            again.encode(TEXT, &all, true).ok(),
            tokenizer.encode(TEXT, &all, true).ok(),
            "a saved tokenizer.json encodes the same"
        );
    }
});
