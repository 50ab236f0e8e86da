//! Reading and writing Hugging Face `tokenizer.json` files (byte-level BPE);
//! writing is in `write`.
//!
//! Supported: no normalizer; a `ByteLevel` pre-tokenizer, or a `Split`
//! (regex, `Isolated`) followed by `ByteLevel(use_regex=false)` (Llama-3);
//! a `BPE` model; `ByteLevel` decoder; a `ByteLevel`, `TemplateProcessing`,
//! `RobertaProcessing` or `BertProcessing` post-processor (or a `Sequence`
//! of them). Anything else is refused with a message that names it, rather
//! than silently giving other ids than Hugging Face would.

use serde_json::{json, Map, Value};

use crate::tokenize::added::AddedToken;
use crate::tokenize::bpe::MergeRule;
use crate::tokenize::byte_level;
use crate::tokenize::error::TokenizeError;
use crate::tokenize::oniguruma::as_oniguruma_reads;
use crate::tokenize::pretokenize::{PreTokenizer, Preset};
use crate::tokenize::tokenizer::{Splitting, Template, Tokenizer};

mod write;
pub use write::to_json;

/// `tokenizer.json` files larger than this are refused before parsing.
pub const MAX_JSON_BYTES: u64 = 256 << 20;

fn err(location: &str, message: impl Into<String>) -> TokenizeError {
    TokenizeError::format(location, message)
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn get_bool(
    obj: &Map<String, Value>,
    key: &str,
    default: bool,
    at: &str,
) -> Result<bool, TokenizeError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(err(
            &format!("{at}.{key}"),
            format!("expected a boolean, got {}", kind_of(v)),
        )),
    }
}

fn get_id(v: &Value, at: &str) -> Result<u32, TokenizeError> {
    v.as_u64()
        .filter(|&id| id < (1 << 31))
        .map(|id| id as u32)
        .ok_or_else(|| {
            err(
                at,
                format!("expected a token id (an integer from 0 to 2^31-1), got {v}"),
            )
        })
}

fn object<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, TokenizeError> {
    v.as_object()
        .ok_or_else(|| err(at, format!("expected an object, got {}", kind_of(v))))
}

fn type_of<'a>(obj: &'a Map<String, Value>, at: &str) -> Result<&'a str, TokenizeError> {
    obj.get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| err(at, "has no \"type\" string"))
}

/// Parses a `tokenizer.json` document.
pub fn from_json(data: &[u8]) -> Result<Tokenizer, TokenizeError> {
    TokenizeError::check_size("the tokenizer.json", data, MAX_JSON_BYTES)?;
    let root: Value = serde_json::from_slice(data).map_err(|e| {
        err(
            &format!("line {} column {}", e.line(), e.column()),
            format!("not valid JSON: {e}"),
        )
    })?;
    let root = object(&root, "tokenizer.json")?;

    match root.get("normalizer") {
        None | Some(Value::Null) => {}
        Some(v) => {
            let empty_sequence = v.get("type") == Some(&json!("Sequence"))
                && v.get("normalizers")
                    .and_then(Value::as_array)
                    .is_some_and(Vec::is_empty);
            if !empty_sequence {
                let name = v.get("type").and_then(Value::as_str).unwrap_or("?");
                return Err(err(
                    "normalizer",
                    format!(
                        "normalizer {name:?} is not supported (byte-level BPE files have none)"
                    ),
                ));
            }
        }
    }
    let splitting = parse_pre_tokenizer(root.get("pre_tokenizer").unwrap_or(&Value::Null))?;
    if let Some(v) = root.get("decoder").filter(|v| !v.is_null()) {
        let dec = object(v, "decoder")?;
        let name = type_of(dec, "decoder")?;
        let ok = name == "ByteLevel"
            || (name == "Sequence"
                && dec
                    .get("decoders")
                    .and_then(Value::as_array)
                    .is_some_and(|d| d.iter().all(|x| x.get("type") == Some(&json!("ByteLevel")))));
        if !ok {
            return Err(err(
                "decoder",
                format!("decoder {name:?} is not supported (expected ByteLevel)"),
            ));
        }
    }

    let model = object(root.get("model").unwrap_or(&Value::Null), "model")?;
    if let Some(t) = model.get("type").filter(|t| !t.is_null()) {
        let t = t.as_str().unwrap_or("(not a string)");
        if t != "BPE" {
            return Err(err(
                "model.type",
                format!("model {t:?} is not supported (expected BPE)"),
            ));
        }
    }
    for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
        match model.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(v) => {
                return Err(err(
                    &format!("model.{key}"),
                    format!("{v} is not supported (expected null)"),
                ))
            }
        }
    }
    if let Some(v) = model.get("dropout").filter(|v| !v.is_null()) {
        if v.as_f64() != Some(0.0) {
            return Err(err(
                "model.dropout",
                format!("BPE dropout {v} is not supported (encoding would be random)"),
            ));
        }
    }
    let ignore_merges = get_bool(model, "ignore_merges", false, "model")?;

    let vocab_obj = object(model.get("vocab").unwrap_or(&Value::Null), "model.vocab")?;
    let mut tokens: Vec<(u32, Vec<u8>)> = Vec::with_capacity(vocab_obj.len());
    let mut id_of: rustc_hash::FxHashMap<&str, u32> = rustc_hash::FxHashMap::default();
    for (token, id) in vocab_obj {
        let id = get_id(id, &format!("model.vocab[{token:?}]"))?;
        let bytes = byte_level::decode_token(token).unwrap_or_else(|| token.as_bytes().to_vec());
        tokens.push((id, bytes));
        id_of.insert(token.as_str(), id);
    }
    tokens.sort_by_key(|t| t.0);
    if let Some(w) = tokens.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(err(
            "model.vocab",
            format!("id {} is given to two tokens", w[0].0),
        ));
    }
    if !model.get("unk_token").is_none_or(Value::is_null)
        || get_bool(model, "byte_fallback", false, "model")?
    {
        // Only reachable for bytes missing from the vocabulary.
        let have: std::collections::HashSet<&[u8]> = tokens.iter().map(|t| &t.1[..]).collect();
        if (0..=255u8).any(|b| !have.contains(&[b][..])) {
            return Err(err(
                "model",
                "unk_token / byte_fallback with bytes missing from the vocabulary is not supported",
            ));
        }
    }

    let merges_v = model
        .get("merges")
        .and_then(Value::as_array)
        .ok_or_else(|| err("model.merges", "expected an array of merges"))?;
    let mut merges = Vec::with_capacity(merges_v.len());
    for (i, m) in merges_v.iter().enumerate() {
        let at = format!("model.merges[{i}]");
        let (l, r) = match m {
            Value::String(s) => {
                let mut parts = s.split(' ');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(l), Some(r), None) => (l, r),
                    _ => return Err(err(&at, format!("expected \"left right\", got {s:?}"))),
                }
            }
            Value::Array(a) if a.len() == 2 => match (a[0].as_str(), a[1].as_str()) {
                (Some(l), Some(r)) => (l, r),
                _ => return Err(err(&at, "expected a pair of strings")),
            },
            v => {
                return Err(err(
                    &at,
                    format!("expected a string or a pair, got {}", kind_of(v)),
                ))
            }
        };
        let find = |t: &str| {
            id_of
                .get(t)
                .copied()
                .ok_or_else(|| err(&at, format!("token {t:?} is not in the vocabulary")))
        };
        merges.push((find(l)?, find(r)?));
    }

    let mut added = Vec::new();
    if let Some(list) = root.get("added_tokens").filter(|v| !v.is_null()) {
        let list = list.as_array().ok_or_else(|| {
            err(
                "added_tokens",
                format!("expected an array, got {}", kind_of(list)),
            )
        })?;
        for (i, t) in list.iter().enumerate() {
            let at = format!("added_tokens[{i}]");
            let obj = object(t, &at)?;
            let content = obj
                .get("content")
                .and_then(Value::as_str)
                .ok_or_else(|| err(&at, "has no \"content\" string"))?;
            let id = get_id(obj.get("id").unwrap_or(&Value::Null), &format!("{at}.id"))?;
            added.push(AddedToken {
                id,
                content: content.to_string(),
                special: get_bool(obj, "special", false, &at)?,
                single_word: get_bool(obj, "single_word", false, &at)?,
                lstrip: get_bool(obj, "lstrip", false, &at)?,
                rstrip: get_bool(obj, "rstrip", false, &at)?,
                normalized: get_bool(obj, "normalized", true, &at)?,
            });
        }
    }
    // Like Hugging Face's BPE model, every vocabulary entry is mergeable;
    // added tokens are matched in the text before it runs.
    let mergeable: Vec<(u32, &[u8])> = tokens.iter().map(|(id, b)| (*id, &b[..])).collect();
    let template = parse_post_processor(
        root.get("post_processor").unwrap_or(&Value::Null),
        &id_of,
        &added,
    )?;
    let vocab_size = tokens.len();
    let tokenizer = Tokenizer::new(
        &mergeable,
        merges,
        MergeRule::Merges { ignore_merges },
        splitting,
        added,
        template,
    )?;
    check_added_ids(tokenizer.added_tokens(), &id_of, vocab_size)?;
    Ok(tokenizer)
}

/// Hugging Face ignores an added token's declared id where it disagrees
/// with the model: a token spelled like a vocabulary entry takes that
/// entry's id, the others the next numbers from the vocabulary's size up,
/// in list order. Such files are refused rather than given other ids.
fn check_added_ids(
    added: &[AddedToken],
    id_of: &rustc_hash::FxHashMap<&str, u32>,
    vocab_size: usize,
) -> Result<(), TokenizeError> {
    let mut next = vocab_size as u64;
    for (i, token) in added.iter().enumerate() {
        let (at, id, content) = (format!("added_tokens[{i}].id"), token.id, &token.content);
        match id_of.get(content.as_str()) {
            Some(&vocab_id) if vocab_id != id => {
                return Err(err(
                    &at,
                    format!("is {id}, but the vocabulary spells {content:?} as id {vocab_id}"),
                ))
            }
            Some(_) => {}
            None if u64::from(id) != next => {
                return Err(err(
                    &at,
                    format!(
                        "is {id}, but Hugging Face numbers the added tokens missing from the \
                         vocabulary in order from its size, which gives {content:?} id {next}"
                    ),
                ))
            }
            None => next += 1,
        }
    }
    Ok(())
}

fn parse_byte_level(obj: &Map<String, Value>, at: &str) -> Result<(bool, bool), TokenizeError> {
    Ok((
        get_bool(obj, "add_prefix_space", true, at)?,
        get_bool(obj, "use_regex", true, at)?,
    ))
}

fn parse_pre_tokenizer(v: &Value) -> Result<Splitting, TokenizeError> {
    let at = "pre_tokenizer";
    if v.is_null() {
        return Err(err(
            at,
            "is null; byte-level BPE needs a ByteLevel pre-tokenizer",
        ));
    }
    let obj = object(v, at)?;
    match type_of(obj, at)? {
        "ByteLevel" => {
            let (add_prefix_space, use_regex) = parse_byte_level(obj, at)?;
            Ok(Splitting {
                pretokenizer: use_regex.then(|| PreTokenizer::preset(Preset::Gpt2)),
                add_prefix_space,
            })
        }
        "Sequence" => {
            let list = obj
                .get("pretokenizers")
                .and_then(Value::as_array)
                .ok_or_else(|| err(at, "a Sequence needs a \"pretokenizers\" array"))?;
            let unsupported = || {
                err(
                    at,
                    "only Sequence[Split(Regex, behavior=Isolated), ByteLevel(use_regex=false, add_prefix_space=false)] \
                     or Sequence[ByteLevel] is supported",
                )
            };
            match list.as_slice() {
                [single] => parse_pre_tokenizer(single),
                [split, byte_level] => {
                    let split = object(split, "pre_tokenizer.pretokenizers[0]")?;
                    let bl = object(byte_level, "pre_tokenizer.pretokenizers[1]")?;
                    if type_of(split, at)? != "Split" || type_of(bl, at)? != "ByteLevel" {
                        return Err(unsupported());
                    }
                    let (add_prefix_space, use_regex) =
                        parse_byte_level(bl, "pre_tokenizer.pretokenizers[1]")?;
                    let behavior = split.get("behavior").and_then(Value::as_str).unwrap_or("");
                    if use_regex
                        || add_prefix_space
                        || behavior != "Isolated"
                        || get_bool(split, "invert", false, at)?
                    {
                        return Err(unsupported());
                    }
                    let pattern =
                        split
                            .get("pattern")
                            .and_then(Value::as_object)
                            .ok_or_else(|| {
                                err(
                                    "pre_tokenizer.pretokenizers[0].pattern",
                                    "expected an object",
                                )
                            })?;
                    let pattern = match (pattern.get("Regex"), pattern.get("String")) {
                        (Some(Value::String(re)), _) => re.clone(),
                        (_, Some(Value::String(s))) => regex::escape(s),
                        _ => {
                            return Err(err(
                                "pre_tokenizer.pretokenizers[0].pattern",
                                "expected Regex or String",
                            ))
                        }
                    };
                    Ok(Splitting {
                        pretokenizer: Some(
                            as_oniguruma_reads(&pattern)
                                .and_then(|p| PreTokenizer::new(&p).map_err(|e| e.to_string()))
                                .map_err(|e| err("pre_tokenizer.pretokenizers[0].pattern", e))?,
                        ),
                        add_prefix_space: false,
                    })
                }
                _ => Err(unsupported()),
            }
        }
        other => Err(err(at, format!("pre-tokenizer {other:?} is not supported"))),
    }
}

fn parse_post_processor(
    v: &Value,
    id_of: &rustc_hash::FxHashMap<&str, u32>,
    added: &[AddedToken],
) -> Result<Template, TokenizeError> {
    let at = "post_processor";
    if v.is_null() {
        return Ok(Template::default());
    }
    let obj = object(v, at)?;
    let lookup = |name: &str, at: &str| -> Result<u32, TokenizeError> {
        added
            .iter()
            .find(|t| t.content == name)
            .map(|t| t.id)
            .or_else(|| id_of.get(name).copied())
            .ok_or_else(|| err(at, format!("token {name:?} is not in the vocabulary")))
    };
    match type_of(obj, at)? {
        "ByteLevel" => Ok(Template::default()),
        "Sequence" => {
            let list = obj
                .get("processors")
                .and_then(Value::as_array)
                .ok_or_else(|| err(at, "a Sequence needs a \"processors\" array"))?;
            let mut template = Template::default();
            for p in list {
                let t = parse_post_processor(p, id_of, added)?;
                template.prefix.extend(t.prefix);
                template.suffix.extend(t.suffix);
            }
            Ok(template)
        }
        kind @ ("RobertaProcessing" | "BertProcessing") => {
            let pair = |key: &str| -> Result<u32, TokenizeError> {
                let p = obj.get(key).and_then(Value::as_array);
                match p.map(|a| a.as_slice()) {
                    Some([_, id]) => get_id(id, &format!("{at}.{key}")),
                    _ => Err(err(
                        &format!("{at}.{key}"),
                        format!("{kind} needs [token, id]"),
                    )),
                }
            };
            Ok(Template {
                prefix: vec![pair("cls")?],
                suffix: vec![pair("sep")?],
            })
        }
        "TemplateProcessing" => {
            let single = obj
                .get("single")
                .and_then(Value::as_array)
                .ok_or_else(|| err(&format!("{at}.single"), "expected an array"))?;
            let mut template = Template::default();
            let mut seen_sequence = false;
            for (i, piece) in single.iter().enumerate() {
                let at = format!("{at}.single[{i}]");
                if piece.get("Sequence").is_some() {
                    // Hugging Face copies the text's ids once per $A (and
                    // none without one); only the plain form is supported.
                    if seen_sequence {
                        return Err(err(
                            &at,
                            "a second $A: templates that repeat the text are not supported",
                        ));
                    }
                    seen_sequence = true;
                    continue;
                }
                let name = piece
                    .get("SpecialToken")
                    .and_then(|s| s.get("id"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| err(&at, "expected a Sequence or SpecialToken"))?;
                // The special_tokens map may give several ids for one name.
                let ids: Vec<u32> = match obj
                    .get("special_tokens")
                    .and_then(|m| m.get(name))
                    .and_then(|s| s.get("ids"))
                {
                    Some(Value::Array(ids)) => ids
                        .iter()
                        .map(|id| get_id(id, &at))
                        .collect::<Result<_, _>>()?,
                    _ => vec![lookup(name, &at)?],
                };
                if seen_sequence {
                    template.suffix.extend(ids);
                } else {
                    template.prefix.extend(ids);
                }
            }
            if !seen_sequence {
                return Err(err(
                    &format!("{at}.single"),
                    "has no $A: templates without the text are not supported",
                ));
            }
            Ok(template)
        }
        other => Err(err(
            at,
            format!("post-processor {other:?} is not supported"),
        )),
    }
}
