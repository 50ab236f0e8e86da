//! Added and special tokens: found in the text before pre-tokenization.
//!
//! Matching follows Hugging Face's added vocabulary: leftmost-longest
//! matching, first the tokens that match the raw text (`normalized: false`,
//! usually the special tokens), then the others inside the gaps; with
//! `lstrip`/`rstrip` a match swallows the whitespace beside it, and a
//! `single_word` token matches only between non-word characters.
//! Which special tokens may appear follows tiktoken: allowed ones become
//! their id, disallowed ones are an error, the rest are plain text.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::Regex;

use crate::tokenize::error::TokenizeError;

/// One added token, as a `tokenizer.json` `added_tokens` entry describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedToken {
    pub id: u32,
    pub content: String,
    /// A special (control) token: subject to the allowed/disallowed policy
    /// and skipped by `decode(skip_special_tokens=True)`.
    pub special: bool,
    pub single_word: bool,
    pub lstrip: bool,
    pub rstrip: bool,
    /// Matched on normalized text (the same text here: seqcore's byte-level
    /// files have no normalizer); only changes the matching order.
    pub normalized: bool,
}

impl AddedToken {
    /// A special token with Hugging Face's defaults for one.
    pub fn special(id: u32, content: &str) -> Self {
        AddedToken {
            id,
            content: content.to_string(),
            special: true,
            single_word: false,
            lstrip: false,
            rstrip: false,
            normalized: false,
        }
    }
}

/// Which special tokens encode as themselves, which are refused, which are text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecialPolicy {
    /// Every special token is allowed.
    pub allow_all: bool,
    /// Ids of allowed special tokens.
    pub allowed: Vec<u32>,
    /// Every special token that is not allowed is refused.
    pub disallow_all: bool,
    /// Ids of refused special tokens.
    pub disallowed: Vec<u32>,
}

impl SpecialPolicy {
    /// tiktoken's default: no special token allowed, all refused.
    pub fn strict() -> Self {
        SpecialPolicy {
            disallow_all: true,
            ..Default::default()
        }
    }

    /// Every special token encodes as itself (Hugging Face's behaviour).
    pub fn allow_all() -> Self {
        SpecialPolicy {
            allow_all: true,
            ..Default::default()
        }
    }

    /// Special tokens are plain text (tiktoken's `encode_ordinary`).
    pub fn ordinary() -> Self {
        SpecialPolicy::default()
    }

    /// Whether every special token is text under this policy.
    fn reads_all_as_text(&self) -> bool {
        let any_rule = self.allow_all || self.disallow_all;
        !any_rule && self.allowed.is_empty() && self.disallowed.is_empty()
    }

    /// An explicitly disallowed token is refused even when also allowed,
    /// as in tiktoken; `disallow_all` means all that are not allowed.
    fn action(&self, id: u32) -> Action {
        if self.disallowed.contains(&id) {
            Action::Refuse
        } else if self.allow_all || self.allowed.contains(&id) {
            Action::Token
        } else if self.disallow_all {
            Action::Refuse
        } else {
            Action::Text
        }
    }
}

#[derive(Clone, Copy)]
enum Action {
    Token,
    Refuse,
    Text,
}

/// A piece of the input after added tokens are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// Ordinary text `[start, end)`, to pre-tokenize and merge.
    Text(usize, usize),
    /// An added token with its id, covering `[start, end)` of the input.
    Token(u32, usize, usize),
}

#[derive(Debug, Clone)]
struct Matcher {
    automaton: AhoCorasick,
    /// Automaton pattern index -> index into `AddedTokens::tokens`.
    tokens: Vec<usize>,
}

/// The added tokens of a tokenizer and the automata that find them.
#[derive(Debug, Clone, Default)]
pub struct AddedTokens {
    tokens: Vec<AddedToken>,
    /// Every added token is special (so a policy that reads all special
    /// tokens as text makes the search pointless).
    all_special: bool,
    raw: Option<Matcher>,
    normalized: Option<Matcher>,
}

fn word_at_end() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\w$").expect("valid"))
}

fn word_at_start() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^\w").expect("valid"))
}

impl AddedTokens {
    /// Builds the matchers; empty contents and repeated contents are refused.
    pub fn new(tokens: Vec<AddedToken>) -> Result<Self, TokenizeError> {
        let mut seen = std::collections::HashSet::new();
        let mut ids = std::collections::HashSet::new();
        for (i, t) in tokens.iter().enumerate() {
            if !ids.insert(t.id) {
                return Err(TokenizeError::format(
                    format!("added_tokens[{i}]"),
                    format!("id {} is given to two added tokens", t.id),
                ));
            }
            if t.content.is_empty() {
                return Err(TokenizeError::format(
                    format!("added_tokens[{i}]"),
                    "an added token's content is empty",
                ));
            }
            if !seen.insert(t.content.as_str()) {
                return Err(TokenizeError::format(
                    format!("added_tokens[{i}]"),
                    format!("the added token {:?} appears twice", t.content),
                ));
            }
        }
        let build = |normalized: bool| -> Result<Option<Matcher>, TokenizeError> {
            let chosen: Vec<usize> = (0..tokens.len())
                .filter(|&i| tokens[i].normalized == normalized)
                .collect();
            if chosen.is_empty() {
                return Ok(None);
            }
            let automaton = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(chosen.iter().map(|&i| tokens[i].content.as_bytes()))
                .map_err(|e| TokenizeError::format("added_tokens", e.to_string()))?;
            Ok(Some(Matcher {
                automaton,
                tokens: chosen,
            }))
        };
        let raw = build(false)?;
        let normalized = build(true)?;
        Ok(AddedTokens {
            all_special: tokens.iter().all(|t| t.special),
            tokens,
            raw,
            normalized,
        })
    }

    /// The added tokens, in the order given.
    pub fn tokens(&self) -> &[AddedToken] {
        &self.tokens
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Splits `text` into text and token segments, in order, covering it all.
    pub fn segments(
        &self,
        text: &str,
        policy: &SpecialPolicy,
        out: &mut Vec<Segment>,
    ) -> Result<(), TokenizeError> {
        out.clear();
        if text.is_empty() {
            return Ok(());
        }
        // Every added token is special and the policy reads them all as
        // text (`encode_ordinary`): every match would be skipped, so the
        // search is skipped (on short texts it was ~5% of encoding). Both
        // tests are O(1): this runs once per text.
        if self.all_special && policy.reads_all_as_text() {
            out.push(Segment::Text(0, text.len()));
            return Ok(());
        }
        let Some(raw) = &self.raw else {
            return self.find(self.normalized.as_ref(), text, 0, policy, out);
        };
        let mut first = Vec::new();
        self.find(Some(raw), text, 0, policy, &mut first)?;
        for segment in first {
            match segment {
                Segment::Text(start, end) => self.find(
                    self.normalized.as_ref(),
                    &text[start..end],
                    start,
                    policy,
                    out,
                )?,
                token => out.push(token),
            }
        }
        Ok(())
    }

    /// One matching pass over `text` (which starts at `base` in the input).
    fn find(
        &self,
        matcher: Option<&Matcher>,
        text: &str,
        base: usize,
        policy: &SpecialPolicy,
        out: &mut Vec<Segment>,
    ) -> Result<(), TokenizeError> {
        let Some(matcher) = matcher else {
            out.push(Segment::Text(base, base + text.len()));
            return Ok(());
        };
        let mut done = 0;
        for m in matcher.automaton.find_iter(text) {
            let token = &self.tokens[matcher.tokens[m.pattern().as_usize()]];
            let (mut start, mut end) = (m.start(), m.end());
            if start < done {
                continue; // inside whitespace an rstrip token already took
            }
            if token.special {
                match policy.action(token.id) {
                    Action::Token => {}
                    Action::Text => continue,
                    Action::Refuse => {
                        return Err(TokenizeError::DisallowedSpecial {
                            token: token.content.clone(),
                            position: base + start,
                        })
                    }
                }
            }
            if token.single_word
                && (word_at_end().is_match(&text[..start])
                    || word_at_start().is_match(&text[end..]))
            {
                continue;
            }
            if token.lstrip {
                let kept = text[..start].trim_end_matches(char::is_whitespace).len();
                start = kept.max(done);
            }
            if token.rstrip {
                end = text.len() - text[end..].trim_start_matches(char::is_whitespace).len();
            }
            if start > done {
                out.push(Segment::Text(base + done, base + start));
            }
            out.push(Segment::Token(token.id, base + start, base + end));
            done = end;
        }
        if done < text.len() {
            out.push(Segment::Text(base + done, base + text.len()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> AddedTokens {
        let mut strip = AddedToken::special(2, "<mask>");
        strip.lstrip = true;
        strip.rstrip = true;
        let mut word = AddedToken::special(3, "cat");
        word.single_word = true;
        word.special = false;
        word.normalized = true;
        AddedTokens::new(vec![
            AddedToken::special(0, "<|end|>"),
            AddedToken::special(1, "<|end|><|x|>"),
            strip,
            word,
        ])
        .unwrap()
    }

    fn split(text: &str, policy: &SpecialPolicy) -> Result<Vec<Segment>, TokenizeError> {
        let mut out = Vec::new();
        tokens().segments(text, policy, &mut out).map(|_| out)
    }

    #[test]
    fn longest_match_and_policies() {
        use Segment::*;
        let all = SpecialPolicy::allow_all();
        assert_eq!(
            split("a<|end|><|x|>b<|end|>", &all).unwrap(),
            vec![Text(0, 1), Token(1, 1, 13), Text(13, 14), Token(0, 14, 21)]
        );
        assert_eq!(
            split("a<|end|>", &SpecialPolicy::ordinary()).unwrap(),
            vec![Text(0, 8)]
        );
        assert_eq!(
            split("ab<|end|>", &SpecialPolicy::strict()),
            Err(TokenizeError::DisallowedSpecial {
                token: "<|end|>".into(),
                position: 2
            })
        );
        let only_zero = SpecialPolicy {
            allowed: vec![0],
            ..SpecialPolicy::default()
        };
        assert_eq!(split("<|end|>", &only_zero).unwrap(), vec![Token(0, 0, 7)]);
    }

    #[test]
    fn ordinary_text_skips_only_what_it_may() {
        use Segment::*;
        let ordinary = SpecialPolicy::ordinary();
        // Only special tokens, all read as text: one text segment.
        let specials = AddedTokens::new(vec![
            AddedToken::special(0, "<|end|>"),
            AddedToken::special(1, "<|x|>"),
        ])
        .unwrap();
        let mut out = Vec::new();
        specials
            .segments("a<|end|>b<|x|>", &ordinary, &mut out)
            .unwrap();
        assert_eq!(out, vec![Text(0, 14)]);
        // Any other policy still searches.
        specials
            .segments("a<|end|>", &SpecialPolicy::allow_all(), &mut out)
            .unwrap();
        assert_eq!(out, vec![Text(0, 1), Token(0, 1, 8)]);
        assert!(specials
            .segments("a<|x|>", &SpecialPolicy::strict(), &mut out)
            .is_err());
        let only_zero = SpecialPolicy {
            allowed: vec![0],
            ..SpecialPolicy::default()
        };
        specials
            .segments("<|x|><|end|>", &only_zero, &mut out)
            .unwrap();
        assert_eq!(out, vec![Text(0, 5), Token(0, 5, 12)]);
        // A plain added token still matches under the same policy.
        assert_eq!(
            split("a cat <|end|>", &ordinary).unwrap(),
            vec![Text(0, 2), Token(3, 2, 5), Text(5, 13)]
        );
    }

    #[test]
    fn strip_and_single_word() {
        use Segment::*;
        let all = SpecialPolicy::allow_all();
        assert_eq!(
            split("a  <mask>  b", &all).unwrap(),
            vec![Text(0, 1), Token(2, 1, 11), Text(11, 12)]
        );
        assert_eq!(
            split("a cat concat cats", &all).unwrap(),
            vec![Text(0, 2), Token(3, 2, 5), Text(5, 17)]
        );
        assert_eq!(split("", &all).unwrap(), vec![]);
    }
}
