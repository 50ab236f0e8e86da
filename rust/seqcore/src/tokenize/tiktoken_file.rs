//! Reading and writing tiktoken rank files: one `base64(token) rank` per line.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::tokenize::added::AddedToken;
use crate::tokenize::bpe::MergeRule;
use crate::tokenize::error::TokenizeError;
use crate::tokenize::tokenizer::{Splitting, Template, Tokenizer};

/// Rank files larger than this are refused before parsing.
pub const MAX_RANK_FILE_BYTES: u64 = 64 << 20;

/// Parses a rank file into `(rank, token bytes)` pairs, sorted by rank.
pub fn parse_ranks(data: &[u8]) -> Result<Vec<(u32, Vec<u8>)>, TokenizeError> {
    TokenizeError::check_size("the rank file", data, MAX_RANK_FILE_BYTES)?;
    let mut ranks = Vec::new();
    for (i, line) in data.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let at = || format!("line {}", i + 1);
        let mut fields = line.split(|&b| b == b' ');
        let (Some(token), Some(rank), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(TokenizeError::format(
                at(),
                "expected \"<base64 token> <rank>\"",
            ));
        };
        let token = STANDARD
            .decode(token)
            .map_err(|e| TokenizeError::format(at(), format!("bad base64: {e}")))?;
        if token.is_empty() {
            return Err(TokenizeError::format(at(), "empty token"));
        }
        let rank = std::str::from_utf8(rank)
            .ok()
            .and_then(|r| r.parse::<u32>().ok())
            .filter(|&r| r < (1 << 31))
            .ok_or_else(|| {
                TokenizeError::format(
                    at(),
                    format!(
                        "expected a rank (an integer below 2^31), got {:?}",
                        String::from_utf8_lossy(rank)
                    ),
                )
            })?;
        ranks.push((rank, token));
    }
    if ranks.is_empty() {
        return Err(TokenizeError::format("rank file", "has no tokens"));
    }
    ranks.sort();
    if let Some(w) = ranks.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(TokenizeError::format(
            "rank file",
            format!("rank {} appears twice", w[0].0),
        ));
    }
    let mut seen: rustc_hash::FxHashSet<&[u8]> = rustc_hash::FxHashSet::default();
    for (rank, token) in &ranks {
        if !seen.insert(token) {
            return Err(TokenizeError::format(
                "rank file",
                format!(
                    "token {:?} (rank {rank}) appears twice",
                    String::from_utf8_lossy(token)
                ),
            ));
        }
    }
    for byte in 0..=255u8 {
        if !seen.contains(&[byte][..]) {
            return Err(TokenizeError::format(
                "rank file",
                format!("the single byte 0x{byte:02x} has no rank; every byte needs one"),
            ));
        }
    }
    Ok(ranks)
}

/// A tokenizer from a rank file, its pre-tokenizer and its special tokens
/// `(content, id)`. A special token may not take a rank the file gives to
/// a mergeable token: the two would share an id, and the tokenizer's saved
/// forms could not say which one the id means.
pub fn tokenizer_from_ranks(
    data: &[u8],
    splitting: Splitting,
    specials: &[(String, u32)],
) -> Result<Tokenizer, TokenizeError> {
    let ranks = parse_ranks(data)?;
    let tokens: Vec<(u32, &[u8])> = ranks.iter().map(|(r, b)| (*r, &b[..])).collect();
    for (content, id) in specials {
        if let Ok(at) = ranks.binary_search_by_key(id, |t| t.0) {
            return Err(TokenizeError::format(
                "special_tokens",
                format!(
                    "special token {content:?} has id {id}, which the rank file gives to the token {:?}",
                    String::from_utf8_lossy(&ranks[at].1)
                ),
            ));
        }
    }
    let added = specials
        .iter()
        .map(|(content, id)| AddedToken::special(*id, content))
        .collect();
    Tokenizer::new(
        &tokens,
        Vec::new(),
        MergeRule::Ranks,
        splitting,
        added,
        Template::default(),
    )
}

/// Writes `(rank, token bytes)` pairs as a rank file.
pub fn write_ranks<'a>(ranks: impl Iterator<Item = (u32, &'a [u8])>) -> String {
    let mut out = String::new();
    for (rank, token) in ranks {
        out.push_str(&STANDARD.encode(token));
        out.push(' ');
        out.push_str(&rank.to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_bytes() -> String {
        write_ranks((0..=255u8).map(|b| {
            (
                u32::from(b),
                std::slice::from_ref(Box::leak(Box::new(b))) as &[u8],
            )
        }))
    }

    #[test]
    fn round_trips_and_reports_lines() {
        let text = all_bytes() + "YWI= 256\n";
        let ranks = parse_ranks(text.as_bytes()).unwrap();
        assert_eq!(ranks.len(), 257);
        assert_eq!(ranks[256], (256, b"ab".to_vec()));
        let bad = all_bytes() + "YWI=256\n";
        let e = parse_ranks(bad.as_bytes()).unwrap_err().to_string();
        assert!(e.starts_with("line 257:"), "{e}");
        assert!(parse_ranks(b"").is_err());
        assert!(parse_ranks(b"YQ== 0\n")
            .unwrap_err()
            .to_string()
            .contains("0x00"));
        let twice = all_bytes() + "YWI= 256\nYWI= 257\n";
        assert!(parse_ranks(twice.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("twice"));
    }

    #[test]
    fn a_special_token_may_not_take_a_mergeable_rank() {
        let text = all_bytes() + "YWI= 256\n";
        let splitting = || Splitting {
            pretokenizer: None,
            add_prefix_space: false,
        };
        let clash = [("<|end|>".to_string(), 256)];
        let e = tokenizer_from_ranks(text.as_bytes(), splitting(), &clash)
            .unwrap_err()
            .to_string();
        assert!(e.contains("id 256") && e.contains("\"ab\""), "{e}");
        let fine = [("<|end|>".to_string(), 257)];
        let tok = tokenizer_from_ranks(text.as_bytes(), splitting(), &fine).unwrap();
        assert_eq!(tok.vocab_size(), 258);
    }
}
