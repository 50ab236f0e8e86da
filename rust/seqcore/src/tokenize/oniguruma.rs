//! Hugging Face reads a `Split` pattern with Oniguruma's Ruby syntax;
//! seqcore compiles it with the regex crate. Where the two read the same
//! text differently, the pattern is rewritten to what the other engine
//! means, or refused with the construct named, so the ids never silently
//! differ.

/// The pattern as Oniguruma reads it, in the regex crate's syntax:
/// * a counted repetition followed by `+` (tiktoken's cl100k spelling has
///   `\p{N}{1,3}+`) is possessive for the regex crate but "repeat the
///   repetition" for Oniguruma, so Hugging Face keeps "1111" as one piece;
/// * `^` and `$` are always line anchors in Ruby syntax, and only with the
///   `m` flag in the regex crate;
/// * Ruby's `m` flag is the regex crate's `s` (`.` matches a newline);
/// * POSIX bracket classes (`[[:alpha:]]`) are Unicode in Oniguruma and
///   ASCII in the regex crate: refused.
pub fn as_oniguruma_reads(pattern: &str) -> Result<String, String> {
    let pattern = pattern.replace(r"\p{N}{1,3}+", r"(?:\p{N}{1,3})+");
    rewrite(&pattern, Towards::RegexCrate)
}

/// A pattern in the regex crate's syntax spelled for Oniguruma, for
/// writing a custom pre-tokenizer into `tokenizer.json`: `^` and `$` match
/// only at the text's ends here, so they are written `\A` and `\z`; the
/// line anchors that [`as_oniguruma_reads`] writes stay as they are (both
/// engines read them alike), and the `s` flag is Ruby's `m`. The regex
/// crate's `m` flag and POSIX bracket classes have no spelling that both
/// engines read alike and are refused.
pub fn for_oniguruma(pattern: &str) -> Result<String, String> {
    rewrite(pattern, Towards::Oniguruma)
}

/// The syntax a pattern is rewritten into.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Towards {
    RegexCrate,
    Oniguruma,
}

fn rewrite(pattern: &str, towards: Towards) -> Result<String, String> {
    // Each engine's spelling of the other's "dot matches a newline" flag.
    let (flag_from, flag_to) = match towards {
        Towards::RegexCrate => ('m', "s"),
        Towards::Oniguruma => ('s', "m"),
    };
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    // Nesting of character classes (Oniguruma allows `[a-z&&[^aeiou]]`).
    let mut class = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                out.extend(chars.next());
            }
            '[' => {
                out.push(c);
                if class > 0 && chars.peek() == Some(&':') {
                    return Err(
                        "POSIX bracket classes such as [[:alpha:]] are not supported \
                                (Hugging Face's engine reads them as Unicode classes, the \
                                regex crate as ASCII)"
                            .into(),
                    );
                }
                class += 1;
                // A `]` first in a class (after an optional `^`) is literal.
                if chars.peek() == Some(&'^') {
                    out.extend(chars.next());
                }
                if chars.peek() == Some(&']') {
                    out.extend(chars.next());
                }
            }
            ']' if class > 0 => {
                class -= 1;
                out.push(c);
            }
            '^' | '$' if class == 0 => out.push_str(match (towards, c) {
                (Towards::RegexCrate, '^') => "(?m:^)",
                (Towards::RegexCrate, _) => "(?m:$)",
                (Towards::Oniguruma, '^') => "\\A",
                (Towards::Oniguruma, _) => "\\z",
            }),
            '(' if class == 0 && chars.peek() == Some(&'?') => {
                out.push(c);
                let rest: String = chars.clone().skip(1).collect();
                // A line anchor as written here: the same in both engines,
                // so a pattern read back from a file seqcore wrote is kept.
                if rest.starts_with("m:^)") || rest.starts_with("m:$)") {
                    out.extend(chars.by_ref().take(5));
                    continue;
                }
                let flags: String = rest
                    .chars()
                    .take_while(|f| f.is_ascii_alphabetic() || *f == '-')
                    .collect();
                if !matches!(rest[flags.len()..].chars().next(), Some(':' | ')')) {
                    continue;
                }
                if towards == Towards::Oniguruma && flags.contains('m') {
                    return Err("the inline flag m (line anchors) has no spelling that \
                                Hugging Face's engine reads alike"
                        .into());
                }
                if flags.contains(flag_from) {
                    out.push('?');
                    out.push_str(&flags.replace(flag_from, flag_to));
                    chars.by_ref().take(1 + flags.len()).for_each(drop);
                }
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_become_line_anchors() {
        assert_eq!(
            as_oniguruma_reads(r"[a-z]+$|^\s+|[$^]|\$|\^").unwrap(),
            r"[a-z]+(?m:$)|(?m:^)\s+|[$^]|\$|\^"
        );
        assert_eq!(as_oniguruma_reads(r"[]^$]|[^]$]").unwrap(), r"[]^$]|[^]$]");
        // What it writes reads back unchanged.
        let once = as_oniguruma_reads(r"^a|b$").unwrap();
        assert_eq!(as_oniguruma_reads(&once).unwrap(), once);
    }

    #[test]
    fn counted_repetitions_repeat() {
        assert_eq!(
            as_oniguruma_reads(r"\p{N}{1,3}+| ?\p{L}+").unwrap(),
            r"(?:\p{N}{1,3})+| ?\p{L}+"
        );
    }

    #[test]
    fn constructs_read_otherwise_are_rewritten_or_refused() {
        assert!(as_oniguruma_reads(r"[[:alpha:]]+").is_err());
        assert_eq!(as_oniguruma_reads(r"(?m).{1,3}").unwrap(), r"(?s).{1,3}");
        assert_eq!(as_oniguruma_reads(r"(?im:^.)").unwrap(), r"(?is:(?m:^).)");
        assert_eq!(as_oniguruma_reads(r"(?-m).").unwrap(), r"(?-s).");
        for pattern in [
            r"(?i:ab)", r"(?:m)", r"(?<m>x)", r"(?=m)", r"\(?m)", r"[:a]",
        ] {
            assert!(as_oniguruma_reads(pattern).is_ok(), "{pattern}");
        }
    }

    #[test]
    fn written_patterns_read_back_the_same() {
        for (pattern, written) in [
            (r"[a-z]+$|^\s+|[$^]|\$", r"[a-z]+\z|\A\s+|[$^]|\$"),
            (r"(?m:^)a|b(?m:$)", r"(?m:^)a|b(?m:$)"),
            (r"[]^$]x", r"[]^$]x"),
            (r"(?s).{1,3}|(?is:a.)", r"(?m).{1,3}|(?im:a.)"),
        ] {
            let out = for_oniguruma(pattern).unwrap();
            assert_eq!(out, written);
            // Read back as Hugging Face reads it: the regex crate's form
            // is the original (the anchors only change their spelling).
            let back = as_oniguruma_reads(&out).unwrap();
            let probe = |p: &str, text: &str| -> Vec<(usize, usize)> {
                regex::Regex::new(p)
                    .unwrap()
                    .find_iter(text)
                    .map(|m| (m.start(), m.end()))
                    .collect()
            };
            for text in ["ab\ncd", "\n  x\n", "$^]x\n", ""] {
                assert_eq!(
                    probe(&back, text),
                    probe(pattern, text),
                    "{pattern} on {text:?}"
                );
            }
        }
        for pattern in [r"(?m)^a", r"(?ms:a)", r"[[:alpha:]]"] {
            assert!(for_oniguruma(pattern).is_err(), "{pattern}");
        }
    }
}
