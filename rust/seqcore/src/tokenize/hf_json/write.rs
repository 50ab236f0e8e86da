//! Writing a tokenizer as a Hugging Face `tokenizer.json`.

use serde_json::{json, Map, Value};

use crate::tokenize::bpe::MergeRule;
use crate::tokenize::byte_level;
use crate::tokenize::error::TokenizeError;
use crate::tokenize::oniguruma::for_oniguruma;
use crate::tokenize::pretokenize::Preset;
use crate::tokenize::tokenizer::Tokenizer;

/// Writes a tokenizer as a `tokenizer.json` that Hugging Face `tokenizers`
/// loads to the same ids. Rank-file tokenizers are written with merges
/// derived from their ranks and `ignore_merges: true`.
pub fn to_json(tokenizer: &Tokenizer) -> Result<String, TokenizeError> {
    let mut vocab = Map::new();
    // Every id goes into the model's vocabulary (Hugging Face renumbers
    // added tokens that are missing there): added tokens as their content,
    // as Hugging Face writes them, the others in byte-level spelling.
    let added: rustc_hash::FxHashMap<u32, &str> = tokenizer
        .added_tokens()
        .iter()
        .map(|t| (t.id, t.content.as_str()))
        .collect();
    for (id, bytes, _) in tokenizer.vocab().iter() {
        // An added token that shares its id with a mergeable token keeps
        // that token's spelling, unless its content is not byte-level text
        // at all (then the content is the token, e.g. "ab cd").
        let mergeable = tokenizer.bpe().token_id(bytes) == Some(id);
        let spelling = match added.get(&id) {
            Some(content) if !mergeable || byte_level::decode_token(content).is_none() => {
                (*content).to_string()
            }
            _ => byte_level::encode_token(bytes),
        };
        vocab.entry(spelling).or_insert(json!(id));
    }
    let (merges, ignore_merges) = match tokenizer.rule() {
        MergeRule::Merges { ignore_merges } => (tokenizer.merges().to_vec(), ignore_merges),
        MergeRule::Ranks => (derive_merges(tokenizer), true),
    };
    let spell = |id: u32| byte_level::encode_token(tokenizer.vocab().bytes(id).unwrap_or_default());
    let merges: Vec<Value> = merges
        .iter()
        .map(|&(l, r)| json!([spell(l), spell(r)]))
        .collect();
    let added: Vec<Value> = tokenizer
        .added_tokens()
        .iter()
        .map(|t| {
            json!({"id": t.id, "content": t.content, "single_word": t.single_word, "lstrip": t.lstrip,
                   "rstrip": t.rstrip, "normalized": t.normalized, "special": t.special})
        })
        .collect();
    let splitting = tokenizer.splitting();
    let byte_level_pre = |use_regex: bool, prefix: bool| json!({"type": "ByteLevel", "add_prefix_space": prefix, "trim_offsets": true, "use_regex": use_regex});
    let pre_tokenizer = match &splitting.pretokenizer {
        Some(p) if p.preset_kind() == Some(Preset::Gpt2) => {
            byte_level_pre(true, splitting.add_prefix_space)
        }
        None => byte_level_pre(false, splitting.add_prefix_space),
        Some(p) => {
            if splitting.add_prefix_space {
                return Err(TokenizeError::Invalid(
                    "a custom pattern with add_prefix_space cannot be written as tokenizer.json"
                        .into(),
                ));
            }
            let portable = match p.preset_kind() {
                Some(preset) => preset.portable_pattern().to_string(),
                None => for_oniguruma(p.pattern()).map_err(|why| {
                    TokenizeError::Invalid(format!(
                        "the pattern {:?} cannot be written as tokenizer.json: {why}",
                        p.pattern()
                    ))
                })?,
            };
            json!({"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": portable}, "behavior": "Isolated", "invert": false},
                byte_level_pre(false, false)]})
        }
    };
    let template = tokenizer.template();
    let post_processor = if template.prefix.is_empty() && template.suffix.is_empty() {
        json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true})
    } else {
        let name = |id: u32| tokenizer.token_of_id(id);
        let mut single = Vec::new();
        let mut pair = Vec::new();
        let mut specials = Map::new();
        for &id in &template.prefix {
            let n = name(id)?;
            single.push(json!({"SpecialToken": {"id": n, "type_id": 0}}));
            pair.push(json!({"SpecialToken": {"id": n, "type_id": 0}}));
            specials.insert(n.clone(), json!({"id": n, "ids": [id], "tokens": [n]}));
        }
        single.push(json!({"Sequence": {"id": "A", "type_id": 0}}));
        pair.push(json!({"Sequence": {"id": "A", "type_id": 0}}));
        for &id in &template.suffix {
            let n = name(id)?;
            single.push(json!({"SpecialToken": {"id": n, "type_id": 0}}));
            specials.insert(n.clone(), json!({"id": n, "ids": [id], "tokens": [n]}));
        }
        pair.push(json!({"Sequence": {"id": "B", "type_id": 1}}));
        json!({"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials})
    };
    let doc = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": post_processor,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
            "ignore_merges": ignore_merges, "vocab": vocab, "merges": merges
        }
    });
    serde_json::to_string(&doc).map_err(|e| TokenizeError::Invalid(e.to_string()))
}

/// Merges equivalent to a rank file: for each token, in rank order, the two
/// parts that rank-file merging of its bytes stops at just before the token
/// itself (tokens that merging never reaches get no merge).
fn derive_merges(tokenizer: &Tokenizer) -> Vec<(u32, u32)> {
    let bpe = tokenizer.bpe();
    let mut merges = Vec::new();
    for (id, bytes, kind) in tokenizer.vocab().iter() {
        if kind != crate::tokenize::vocab::TokenKind::Merged || bytes.len() < 2 {
            continue;
        }
        let mut parts: Vec<u32> = bytes.iter().filter_map(|&b| bpe.token_id(&[b])).collect();
        loop {
            let best = (0..parts.len().saturating_sub(1))
                .filter_map(|i| bpe.pair(parts[i], parts[i + 1]).map(|(r, m)| (r, i, m)))
                .filter(|&(r, _, _)| r < id)
                .min();
            let Some((_, i, merged)) = best else { break };
            parts[i] = merged;
            parts.remove(i + 1);
        }
        if let [l, r] = parts[..] {
            merges.push((l, r));
        }
    }
    merges
}
