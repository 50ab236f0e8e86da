//! Hugging Face reads a `Split` pattern with Oniguruma's Ruby syntax;
//! seqcore compiles it with the regex crate. Where the two read the same
//! text differently, the pattern is rewritten to what Oniguruma means, or
//! refused with the construct named, so the ids never silently differ.

/// The pattern as Oniguruma reads it, in the regex crate's syntax:
/// * a counted repetition followed by `+` (tiktoken's cl100k spelling has
///   `\p{N}{1,3}+`) is possessive for the regex crate but "repeat the
///   repetition" for Oniguruma, so Hugging Face keeps "1111" as one piece;
/// * `^` and `$` are always line anchors in Ruby syntax, and only with the
///   `m` flag in the regex crate;
/// * Ruby's `m` flag is the regex crate's `s` (`.` matches a newline), and
///   POSIX bracket classes (`[[:alpha:]]`) are Unicode in Oniguruma and
///   ASCII in the regex crate: both are refused.
pub fn as_oniguruma_reads(pattern: &str) -> Result<String, String> {
    let pattern = pattern.replace(r"\p{N}{1,3}+", r"(?:\p{N}{1,3})+");
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    // Nesting of character classes (Oniguruma allows `[a-z&&[^aeiou]]`).
    let mut class = 0usize;
    while let Some(c) = chars.next() {
        out.push(c);
        match c {
            '\\' => out.extend(chars.next()),
            '[' => {
                if class > 0 && chars.peek() == Some(&':') {
                    return Err(
                        "POSIX bracket classes such as [[:alpha:]] are not supported (Hugging \
                         Face's engine reads them as Unicode classes, the regex crate as ASCII)"
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
            ']' if class > 0 => class -= 1,
            '^' | '$' if class == 0 => {
                out.pop();
                out.push_str(if c == '^' { "(?m:^)" } else { "(?m:$)" });
            }
            '(' if class == 0 && chars.peek() == Some(&'?') => {
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
                let group = matches!(rest[flags.len()..].chars().next(), Some(':' | ')'));
                if group && flags.contains('m') {
                    return Err(
                        "the option m is not supported (in Hugging Face's engine it lets . \
                         match a newline; write [\\s\\S] instead)"
                            .into(),
                    );
                }
            }
            _ => {}
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
    fn constructs_read_otherwise_are_refused() {
        for pattern in [r"(?m).{1,3}", r"(?im:.)", r"(?-m).", r"[[:alpha:]]+"] {
            assert!(as_oniguruma_reads(pattern).is_err(), "{pattern}");
        }
        for pattern in [
            r"(?i:ab)", r"(?:m)", r"(?<m>x)", r"(?=m)", r"\(?m)", r"[:a]",
        ] {
            assert!(as_oniguruma_reads(pattern).is_ok(), "{pattern}");
        }
    }
}
