"""Bad input to seqcore.tokenize.Tokenizer: malformed files, bad ids, bad types.

Malformed, truncated or oversized tokenizer.json and rank files raise
:class:`seqcore.errors.TokenizerFormatError` (a ValueError) naming where the
problem is; bad ids raise IndexError, values of the wrong type TypeError.
Never a PanicException (a BaseException) or an InternalError: the checks
below catch only the expected class, so anything else fails the test.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import pickle
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from seqcore.errors import DisallowedSpecialTokenError, TokenizerFormatError
from seqcore.tokenize import MAX_JSON_BYTES, MAX_RANK_FILE_BYTES, Tokenizer
from seqcore.tokenize import _tokenizer as tokenizer_module
from tests.tokenizer_helpers import bytes_to_unicode

# ------------------------------------------------------- small valid inputs


MERGES = [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o"), ("Ġ", "w"), ("o", "r"), ("Ġw", "or")]


def gpt2_doc(all_bytes: bool = False) -> dict[str, Any]:
    """A small GPT-2-style tokenizer.json (as a dict).

    Without ``all_bytes`` the vocabulary has only the characters of
    "hello world" (Hugging Face, like seqcore, then drops other characters).
    """
    letters = list(bytes_to_unicode().values()) if all_bytes else list("helowrdĠ")
    vocab = {c: i for i, c in enumerate(letters)}
    for left, right in MERGES:
        vocab[left + right] = len(vocab)
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": len(vocab),
                "content": "<|end|>",
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
        ],
        "normalizer": None,
        "pre_tokenizer": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": True,
            "use_regex": True,
        },
        "post_processor": {
            "type": "ByteLevel",
            "add_prefix_space": True,
            "trim_offsets": False,
            "use_regex": True,
        },
        "decoder": {
            "type": "ByteLevel",
            "add_prefix_space": True,
            "trim_offsets": True,
            "use_regex": True,
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [f"{left} {right}" for left, right in MERGES],
        },
    }


def llama_doc() -> dict[str, Any]:
    """A small Llama-3-style tokenizer.json: Split regex, ignore_merges, template."""
    doc = gpt2_doc()
    doc["pre_tokenizer"] = {
        "type": "Sequence",
        "pretokenizers": [
            {
                "type": "Split",
                "pattern": {"Regex": r"\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+|\s+"},
                "behavior": "Isolated",
                "invert": False,
            },
            {
                "type": "ByteLevel",
                "add_prefix_space": False,
                "trim_offsets": True,
                "use_regex": False,
            },
        ],
    }
    doc["model"]["ignore_merges"] = True
    doc["model"]["merges"] = [[left, right] for left, right in MERGES]
    end = doc["added_tokens"][0]["id"]
    doc["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [
            {"SpecialToken": {"id": "<|end|>", "type_id": 0}},
            {"Sequence": {"id": "A", "type_id": 0}},
        ],
        "pair": [],
        "special_tokens": {"<|end|>": {"id": "<|end|>", "ids": [end], "tokens": ["<|end|>"]}},
    }
    return doc


def dumps(doc: Any, indent: int | None = None) -> bytes:
    separators = None if indent else (",", ":")
    return json.dumps(doc, indent=indent, separators=separators, ensure_ascii=False).encode()


RANK_MERGES = [b"he", b"ll", b"hell", b"hello", b" w", b"or", b" wor", b" world"]


def rank_lines(skip: int | None = None) -> list[bytes]:
    """The lines of a small rank file: every byte, then a few merges."""
    tokens = [bytes([b]) for b in range(256) if b != skip] + RANK_MERGES
    return [base64.b64encode(t) + b" " + str(r).encode() for r, t in enumerate(tokens)]


RANKS = b"\n".join(rank_lines()) + b"\n"
TEXT = "hello world <|end|> é 日本 12345\n"


def check_usable(tok: Tokenizer) -> None:
    """A tokenizer that loaded encodes, decodes and saves without crashing."""
    ids = tok.encode(TEXT, allowed_special="all")
    tok.decode(ids)
    tok.decode_bytes(ids)
    tok.encode_ordinary(TEXT)
    tok.encode_with_offsets(TEXT, allowed_special="all")
    again = Tokenizer.from_json(tok.to_json())
    assert again.encode(TEXT, allowed_special="all") == ids


def load_json(data: bytes) -> Tokenizer | TokenizerFormatError:
    """The tokenizer, or the TokenizerFormatError; anything else propagates."""
    try:
        return Tokenizer.from_json(data)
    except TokenizerFormatError as e:
        return e


def load_ranks(data: bytes) -> Tokenizer | TokenizerFormatError:
    try:
        return Tokenizer.from_tiktoken_bytes(data, "cl100k", {"<|end|>": 100000})
    except TokenizerFormatError as e:
        return e


def location(error: Exception) -> str:
    """The part of the message before the first ': ' (where the problem is)."""
    return str(error).split(": ", 1)[0]


def test_small_inputs_are_valid() -> None:
    for doc in (gpt2_doc(), gpt2_doc(all_bytes=True), llama_doc()):
        tok = Tokenizer.from_json(dumps(doc))
        ids = tok.encode("hello world", add_special_tokens=False)
        assert tok.decode(ids) == "hello world"
        check_usable(tok)
    tok = Tokenizer.from_tiktoken_bytes(RANKS, "gpt2")
    assert tok.encode("hello world") == [259, 263]
    check_usable(tok)


# ------------------------------------------------ malformed tokenizer.json


def at(*path: Any) -> Callable[[Any, Any], None]:
    """A mutation that sets the value at ``path`` (keys and indices)."""

    def mutate(doc: Any, value: Any) -> None:
        for key in path[:-1]:
            doc = doc[key]
        doc[path[-1]] = value

    return mutate


def append_added(doc: Any, token: Any) -> None:
    doc["added_tokens"].append(token)


def delete(*path: Any) -> Callable[[Any, Any], None]:
    def mutate(doc: Any, _: Any) -> None:
        for key in path[:-1]:
            doc = doc[key]
        del doc[path[-1]]

    return mutate


SPLIT_OTHER = {"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Removed", "invert": False}
BYTE_LEVEL_NO_REGEX = {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}

# (name, mutation, value, fragment the message must contain)
JSON_CASES: list[tuple[str, Callable[[Any, Any], None], Any, str]] = [
    ("vocab is an array", at("model", "vocab"), [], "model.vocab: expected an object"),
    ("vocab is null", at("model", "vocab"), None, "model.vocab: expected an object"),
    ("vocab is missing", delete("model", "vocab"), None, "model.vocab"),
    ("id is a string", at("model", "vocab", "h"), "0", 'model.vocab["h"]: expected a token id'),
    ("id is a float", at("model", "vocab", "h"), 1.5, 'model.vocab["h"]'),
    ("id is negative", at("model", "vocab", "h"), -1, 'model.vocab["h"]'),
    ("id is 2^31", at("model", "vocab", "h"), 2**31, 'model.vocab["h"]'),
    ("id is 2^64", at("model", "vocab", "h"), 2**64, 'model.vocab["h"]'),
    ("id is null", at("model", "vocab", "h"), None, 'model.vocab["h"]'),
    ("duplicate id", at("model", "vocab", "h"), 1, "id 1 is given to two tokens"),
    ("merges missing", delete("model", "merges"), None, "model.merges"),
    ("merges is an object", at("model", "merges"), {}, "model.merges"),
    ("merge of unknown token", at("model", "merges", 3), "zz q", "model.merges[3]"),
    ("merge with three parts", at("model", "merges", 3), "h e l", "model.merges[3]"),
    ("merge with one part", at("model", "merges", 3), "hello", "model.merges[3]"),
    ("merge is a number", at("model", "merges", 3), 7, "model.merges[3]"),
    ("merge pair of numbers", at("model", "merges", 3), [1, 2], "model.merges[3]"),
    ("merge triple", at("model", "merges", 3), ["h", "e", "l"], "model.merges[3]"),
    ("merge result not in vocab", delete("model", "vocab", "hello"), None, "model.merges[3]"),
    ("model missing", delete("model"), None, "model"),
    ("model is a string", at("model"), "BPE", "model"),
    ("model WordPiece", at("model", "type"), "WordPiece", "model.type"),
    ("model Unigram", at("model", "type"), "Unigram", "model.type"),
    ("BPE dropout", at("model", "dropout"), 0.1, "model.dropout"),
    (
        "subword prefix",
        at("model", "continuing_subword_prefix"),
        "##",
        "model.continuing_subword_prefix",
    ),
    ("word suffix", at("model", "end_of_word_suffix"), "</w>", "model.end_of_word_suffix"),
    ("ignore_merges a string", at("model", "ignore_merges"), "yes", "model.ignore_merges"),
    ("unk with missing bytes", at("model", "unk_token"), "h", "model"),
    ("byte_fallback with missing bytes", at("model", "byte_fallback"), True, "model"),
    ("normalizer NFC", at("normalizer"), {"type": "NFC"}, "normalizer"),
    ("normalizer Lowercase", at("normalizer"), {"type": "Lowercase"}, "normalizer"),
    ("normalizer not an object", at("normalizer"), 3, "normalizer"),
    ("pre_tokenizer null", at("pre_tokenizer"), None, "pre_tokenizer"),
    ("pre_tokenizer missing", delete("pre_tokenizer"), None, "pre_tokenizer"),
    ("pre_tokenizer Whitespace", at("pre_tokenizer"), {"type": "Whitespace"}, "pre_tokenizer"),
    ("pre_tokenizer Metaspace", at("pre_tokenizer"), {"type": "Metaspace"}, "pre_tokenizer"),
    ("pre_tokenizer without type", at("pre_tokenizer"), {}, "pre_tokenizer"),
    ("pre_tokenizer a list", at("pre_tokenizer"), [], "pre_tokenizer"),
    (
        "add_prefix_space a string",
        at("pre_tokenizer", "add_prefix_space"),
        "no",
        "pre_tokenizer.add_prefix_space",
    ),
    (
        "Split behaviour Removed",
        at("pre_tokenizer"),
        {"type": "Sequence", "pretokenizers": [SPLIT_OTHER, BYTE_LEVEL_NO_REGEX]},
        "pre_tokenizer",
    ),
    (
        "empty pre_tokenizer Sequence",
        at("pre_tokenizer"),
        {"type": "Sequence", "pretokenizers": []},
        "pre_tokenizer",
    ),
    (
        "pre_tokenizer Sequence without list",
        at("pre_tokenizer"),
        {"type": "Sequence"},
        "pre_tokenizer",
    ),
    ("decoder WordPiece", at("decoder"), {"type": "WordPiece"}, "decoder"),
    ("decoder Metaspace", at("decoder"), {"type": "Metaspace"}, "decoder"),
    ("decoder without type", at("decoder"), {}, "decoder"),
    ("post_processor unknown", at("post_processor"), {"type": "Foo"}, "post_processor"),
    (
        "BertProcessing without cls",
        at("post_processor"),
        {"type": "BertProcessing", "sep": ["x", 1]},
        "post_processor.cls",
    ),
    (
        "TemplateProcessing unknown token",
        at("post_processor"),
        {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<nope>", "type_id": 0}}],
            "special_tokens": {},
        },
        "post_processor.single[0]",
    ),
    (
        "TemplateProcessing id out of range",
        at("post_processor"),
        {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [99999], "tokens": ["<s>"]}},
        },
        "post_processor",
    ),
    ("added_tokens an object", at("added_tokens"), {}, "added_tokens"),
    ("added token a string", at("added_tokens", 0), "<|end|>", "added_tokens[0]"),
    ("added token empty content", at("added_tokens", 0, "content"), "", "added_tokens[0]"),
    ("added token content a number", at("added_tokens", 0, "content"), 5, "added_tokens[0]"),
    ("added token without content", delete("added_tokens", 0, "content"), None, "added_tokens[0]"),
    ("added token id a string", at("added_tokens", 0, "id"), "15", "added_tokens[0].id"),
    ("added token id negative", at("added_tokens", 0, "id"), -1, "added_tokens[0].id"),
    ("added token without id", delete("added_tokens", 0, "id"), None, "added_tokens[0].id"),
    (
        "added token special a string",
        at("added_tokens", 0, "special"),
        "yes",
        "added_tokens[0].special",
    ),
    ("added token lstrip a number", at("added_tokens", 0, "lstrip"), 1, "added_tokens[0].lstrip"),
    (
        "two added tokens, one content",
        append_added,
        {"id": 16, "content": "<|end|>", "special": True},
        "added_tokens",
    ),
    (
        "two added tokens, one id",
        append_added,
        {"id": 15, "content": "<|other|>", "special": True},
        "added_tokens",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "value", "fragment"),
    [case[1:] for case in JSON_CASES],
    ids=[case[0] for case in JSON_CASES],
)
def test_malformed_json_names_the_problem(
    mutate: Callable[[Any, Any], None], value: Any, fragment: str
) -> None:
    doc = gpt2_doc()
    mutate(doc, value)
    error = load_json(dumps(doc))
    assert isinstance(error, TokenizerFormatError), "loaded"
    assert fragment in str(error)
    assert isinstance(error, ValueError)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b" ",
        b"{",
        b"[]",
        b"null",
        b"1",
        b'"tokenizer"',
        b"{}",
        b"\xff\xfe{}",
        b"{\x00}",
        "{\u2028}".encode(),
    ],
)
def test_not_a_tokenizer_json(data: bytes) -> None:
    assert isinstance(load_json(data), TokenizerFormatError)


@pytest.mark.parametrize("make", [gpt2_doc, llama_doc], ids=["gpt2", "llama"])
def test_truncated_json(make: Callable[[], dict[str, Any]]) -> None:
    """Every proper prefix of a document is refused, naming a line and column."""
    for indent in (None, 1):
        data = dumps(make(), indent)
        assert data.endswith(b"}")
        for end in range(len(data)):
            error = load_json(data[:end])
            assert isinstance(error, TokenizerFormatError), (indent, end)
            assert re.match(r"line \d+ column \d+: ", str(error)), str(error)
        error = load_json(data + b"}")
        assert isinstance(error, TokenizerFormatError)
    lines = dumps(make(), 1).split(b"\n")
    error = load_json(b"\n".join(lines[:20]))
    assert str(error).startswith(("line 20 ", "line 21 ")), str(error)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*path, i))
    return out


def _spell(path: tuple[Any, ...]) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else f".{key}"
    return out.lstrip(".")


WRONG_VALUES = [None, True, 0, -1, 1.5, 2**31, "", "x", [], {}, ["x"], {"type": "x"}]


@pytest.mark.parametrize("make", [gpt2_doc, llama_doc], ids=["gpt2", "llama"])
def test_wrong_type_at_every_path(make: Callable[[], dict[str, Any]]) -> None:
    """Each value of the document replaced by values of every JSON type: the
    load succeeds (and the tokenizer works) or names a place in the document."""
    doc = make()
    # In the vocabulary, a few entries stand for all of them.
    paths = [
        p
        for p in _paths(doc)
        if p[:2] != ("model", "vocab") or len(p) == 2 or p[2] in ("h", "hell")
    ]
    top_level = set(doc)
    for path in paths:
        for value in WRONG_VALUES:
            mutated = copy.deepcopy(doc)
            at(*path)(mutated, value)
            result = load_json(dumps(mutated))
            if isinstance(result, Tokenizer):
                check_usable(result)
                continue
            where = location(result)
            # The location is a path in the document (the one changed, or one
            # that refers to it: a merge, a template, the added tokens).
            first = re.split(r"[.\[]", where)[0]
            assert first in top_level, (_spell(path), value, str(result))


# --------------------------------------------------- malformed rank files

RANK_CASES: list[tuple[str, bytes, str]] = [
    ("bad base64 symbol", RANKS + b"a$Gk= 264\n", "line 265: bad base64"),
    ("bad base64 padding", RANKS + b"aGk 264\n", "line 265: bad base64"),
    ("missing rank", RANKS + b"aGk=\n", "line 265"),
    ("empty rank", RANKS + b"aGk= \n", "line 265"),
    ("negative rank", RANKS + b"aGk= -1\n", "line 265"),
    ("rank 2^31", RANKS + b"aGk= 2147483648\n", "line 265"),
    ("rank 2^64", RANKS + b"aGk= 18446744073709551616\n", "line 265"),
    ("float rank", RANKS + b"aGk= 1.5\n", "line 265"),
    ("hex rank", RANKS + b"aGk= 0x10\n", "line 265"),
    ("non-UTF-8 rank", RANKS + b"aGk= \xff\n", "line 265"),
    ("three fields", RANKS + b"aGk= 264 7\n", "line 265"),
    ("tab separator", RANKS + b"aGk=\t264\n", "line 265"),
    ("two spaces", RANKS + b"aGk=  264\n", "line 265"),
    ("leading space", RANKS + b" aGk= 264\n", "line 265"),
    ("empty token", RANKS + b" 264\n", "line 265"),
    ("duplicate rank", RANKS + b"aGk= 263\n", "rank 263 appears twice"),
    ("duplicate token", RANKS + base64.b64encode(b"hello") + b" 300\n", "appears twice"),
    ("missing single byte", b"\n".join(rank_lines(skip=7)) + b"\n", "0x07"),
    ("missing every byte", base64.b64encode(b"hello") + b" 0\n", "byte"),
    ("empty file", b"", "has no tokens"),
    ("only newlines", b"\n\n\r\n", "has no tokens"),
    ("garbage", bytes(range(256)) * 4, "line 1"),
    ("a tokenizer.json", dumps(gpt2_doc()), "line 1"),
    (
        "bad line in the middle",
        b"\n".join([*rank_lines()[:100], b"@@@ 5", *rank_lines()[100:]]),
        "line 101",
    ),
]


@pytest.mark.parametrize(
    ("data", "fragment"), [c[1:] for c in RANK_CASES], ids=[c[0] for c in RANK_CASES]
)
def test_malformed_rank_file_names_the_problem(data: bytes, fragment: str) -> None:
    error = load_ranks(data)
    assert isinstance(error, TokenizerFormatError), "loaded"
    assert fragment in str(error)


def test_rank_file_variants_that_load() -> None:
    """CRLF line ends, gaps between ranks, blank lines and any line order load."""
    crlf = RANKS.replace(b"\n", b"\r\n")
    gap = RANKS + base64.b64encode(b"xyz") + b" 1000\n"
    shuffled = b"\n".join(reversed(rank_lines())) + b"\n\n"
    for data in (crlf, gap, shuffled, RANKS.rstrip(b"\n")):
        tok = Tokenizer.from_tiktoken_bytes(data, "gpt2")
        assert tok.encode("hello world") == [259, 263]
    assert Tokenizer.from_tiktoken_bytes(gap, "gpt2").vocab_size == 1001


def test_truncated_rank_file() -> None:
    """A cut rank file loads (if it still has every byte) or is refused."""
    for end in range(0, len(RANKS), 7):
        result = load_ranks(RANKS[:end])
        if isinstance(result, Tokenizer):
            check_usable(result)
        else:
            assert re.match(r"(line \d+|rank file): ", str(result)), str(result)


# ------------------------------------------------------------ size limits


def _sparse(path: os.PathLike[str] | str, size: int) -> None:
    with open(path, "wb") as f:
        f.truncate(size)  # a hole: no disk space, no memory


def test_oversized_json_file_is_refused_before_reading(tmp_path: Any) -> None:
    path = tmp_path / "tokenizer.json"
    _sparse(path, MAX_JSON_BYTES + 1)
    start = time.perf_counter()
    with pytest.raises(TokenizerFormatError, match=r"over the \d+-byte limit"):
        Tokenizer.from_file(path)
    assert time.perf_counter() - start < 1.0


def test_oversized_rank_file_is_refused_before_reading(tmp_path: Any) -> None:
    path = tmp_path / "ranks.tiktoken"
    _sparse(path, MAX_RANK_FILE_BYTES + 1)
    start = time.perf_counter()
    with pytest.raises(TokenizerFormatError, match=r"over the \d+-byte limit"):
        Tokenizer.from_tiktoken(path)
    assert time.perf_counter() - start < 1.0


def test_caps_apply_at_the_limit(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    json_path = tmp_path / "tokenizer.json"
    json_path.write_bytes(dumps(gpt2_doc()))
    rank_path = tmp_path / "ranks.tiktoken"
    rank_path.write_bytes(RANKS)
    monkeypatch.setattr(tokenizer_module, "MAX_JSON_BYTES", json_path.stat().st_size)
    monkeypatch.setattr(tokenizer_module, "MAX_RANK_FILE_BYTES", len(RANKS))
    Tokenizer.from_file(json_path)  # exactly at the cap
    Tokenizer.from_tiktoken(rank_path)
    monkeypatch.setattr(tokenizer_module, "MAX_JSON_BYTES", json_path.stat().st_size - 1)
    monkeypatch.setattr(tokenizer_module, "MAX_RANK_FILE_BYTES", len(RANKS) - 1)
    with pytest.raises(TokenizerFormatError, match="limit"):
        Tokenizer.from_file(json_path)
    with pytest.raises(TokenizerFormatError, match="limit"):
        Tokenizer.from_tiktoken(rank_path)


def test_oversized_rank_bytes_are_refused_by_the_core() -> None:
    """The Rust side checks the size of bytes handed over directly as well
    (64 MiB of newlines: cheap; the 256 MiB JSON cap is not tried this way)."""
    data = b"\n" * (MAX_RANK_FILE_BYTES + 1)
    start = time.perf_counter()
    with pytest.raises(TokenizerFormatError, match="limit"):
        Tokenizer.from_tiktoken_bytes(data)
    assert time.perf_counter() - start < 2.0


def test_missing_files() -> None:
    with pytest.raises(FileNotFoundError):
        Tokenizer.from_file("/nonexistent/tokenizer.json")
    with pytest.raises(FileNotFoundError):
        Tokenizer.from_tiktoken("/nonexistent/ranks.tiktoken")


_CHILD = textwrap.dedent(
    """
    import resource, sys
    limit = 2 << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    from seqcore.errors import TokenizerFormatError
    from seqcore.tokenize import Tokenizer
    data = open(sys.argv[2], "rb").read()
    try:
        if sys.argv[1] == "json":
            Tokenizer.from_json(data).encode("hello")
        else:
            Tokenizer.from_tiktoken_bytes(data, "gpt2").encode("hello")
    except TokenizerFormatError:
        pass
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="uses RLIMIT_AS")
@pytest.mark.parametrize("kind", ["json", "ranks"])
def test_huge_sparse_id_does_not_abort(kind: str, tmp_path: Any) -> None:
    if kind == "json":
        doc = gpt2_doc()
        doc["added_tokens"][0]["id"] = 2**31 - 1
        data = dumps(doc)
    else:
        data = RANKS + base64.b64encode(b"xyz") + b" 2147483647\n"
    path = tmp_path / "input"
    path.write_bytes(data)
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, kind, str(path)], capture_output=True, timeout=120
    )
    assert child.returncode == 0, child.stderr.decode(errors="replace")[:300]


# ------------------------------------------------------ ids, text, options


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.from_json(dumps(gpt2_doc(all_bytes=True)))


@pytest.fixture(scope="module")
def gappy() -> Tokenizer:
    """Ranks 0-263 and 1000: ids 264-999 do not exist."""
    return Tokenizer.from_tiktoken_bytes(RANKS + base64.b64encode(b"xyz") + b" 1000\n", "gpt2")


BAD_IDS = [-1, -(2**31), -(2**63), 2**31, 2**32, 2**40, 2**63 - 1]


def test_ids_out_of_range(tok: Tokenizer, gappy: Tokenizer) -> None:
    for bad in [tok.vocab_size, tok.vocab_size + 1, *BAD_IDS]:
        with pytest.raises(IndexError):
            tok.decode([bad])
        with pytest.raises(IndexError):
            tok.decode([1, bad, 2])
        with pytest.raises(IndexError):
            tok.decode_bytes([bad])
        with pytest.raises(IndexError):
            tok.decode_batch([[1], [bad]])
        with pytest.raises(IndexError):
            tok.decode(np.array([bad], dtype=np.int64))
        with pytest.raises(IndexError):
            tok.id_to_token(bad)
        with pytest.raises(IndexError):
            tok.id_to_bytes(bad)
    for missing in (264, 500, 999, 1001):
        with pytest.raises(IndexError):
            gappy.decode([missing])
        with pytest.raises(IndexError):
            gappy.id_to_bytes(missing)
    assert gappy.decode_bytes([1000]) == b"xyz"


def test_ids_of_the_wrong_type(tok: Tokenizer) -> None:
    for bad in ([1.5], ["1"], [None], [b"a"], [[1]], [1, "x"], "abc", b"abc", None, 5, 1.5):
        with pytest.raises(TypeError):
            tok.decode(bad)
        with pytest.raises(TypeError):
            tok.decode_bytes(bad)
        with pytest.raises(TypeError):
            tok.decode_batch([[1], bad])
    with pytest.raises(TypeError):
        tok.decode(np.array([1.5]))
    with pytest.raises(ValueError):
        tok.decode(np.array([[1, 2]]))
    for bad in ("1", 1.5, None, [1]):
        with pytest.raises(TypeError):
            tok.id_to_token(bad)
        with pytest.raises(TypeError):
            tok.id_to_bytes(bad)
    with pytest.raises(TypeError):
        tok.token_to_id(5)
    # Ids given other ways than a list of ints.
    h, e = tok.token_to_id(b"h"), tok.token_to_id(b"e")
    assert tok.decode((h, e)) == tok.decode(iter([h, e])) == "he"
    for dtype in (np.int32, np.int64, np.uint8, np.uint32, np.uint64):
        assert tok.decode(np.array([h, e], dtype=dtype)) == "he"
    assert tok.decode(iter([np.int64(h)])) == "h"


def test_decode_int_beyond_i64_is_index_error(tok: Tokenizer) -> None:
    for bad in (2**64, -(2**70)):
        with pytest.raises(IndexError):
            tok.decode([bad])
        with pytest.raises(IndexError):
            tok.decode((1, bad))


def test_decode_numpy_scalars_in_a_list(tok: Tokenizer) -> None:
    h = tok.token_to_id(b"h")
    assert tok.decode([np.int64(h)]) == tok.decode([np.uint32(h)]) == "h"


def test_id_to_token_beyond_i64_is_index_error(tok: Tokenizer) -> None:
    with pytest.raises(IndexError):
        tok.id_to_token(2**64)
    with pytest.raises(IndexError):
        tok.id_to_bytes(2**64)


def test_text_of_the_wrong_type(tok: Tokenizer) -> None:
    for bad in (None, b"hello", 5, ["hello"], bytearray(b"x")):
        with pytest.raises(TypeError):
            tok.encode(bad)
        with pytest.raises(TypeError):
            tok.encode_ordinary(bad)
        with pytest.raises(TypeError):
            tok.encode_with_offsets(bad)
        with pytest.raises(TypeError):
            tok.encode_to_numpy(bad)
        with pytest.raises(TypeError):
            tok.encode_with_offsets_to_numpy(bad)
        with pytest.raises(TypeError):
            tok.encode_batch(["fine", bad])
        with pytest.raises(TypeError):
            tok.encode_batch_to_numpy(["fine", bad])
    with pytest.raises(TypeError):
        tok.encode_batch(None)
    with pytest.raises(TypeError):
        tok.encode_batch_to_numpy(None)
    for bad in (None, 5, bytearray(b"{}"), ["{}"]):
        with pytest.raises(TypeError):
            Tokenizer.from_json(bad)
    with pytest.raises(TypeError):
        Tokenizer.from_tiktoken_bytes("not bytes")


def test_lone_surrogates(tok: Tokenizer) -> None:
    """Lone surrogates (not encodable as UTF-8) become U+FFFD, as in tiktoken."""
    for text in ("\ud800", "a\udc80b"):
        fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        assert tok.encode(text) == tok.encode(fixed)
        assert tok.encode_batch(["a", text]) == [tok.encode("a"), tok.encode(fixed)]
        ids, bounds = tok.encode_batch_to_numpy(["a", text])
        assert ids.tolist() == tok.encode("a") + tok.encode(fixed)
        assert bounds.tolist() == [0, len(tok.encode("a")), len(ids)]
        assert tok.encode_ordinary(text) == tok.encode_ordinary(fixed)
        assert tok.encode_to_numpy(text).tolist() == tok.encode(fixed)
        assert tok.encode_with_offsets(text) == tok.encode_with_offsets(fixed)
        ids, spans = tok.encode_with_offsets_to_numpy(text)
        assert (ids.tolist(), [tuple(r) for r in spans.tolist()]) == tok.encode_with_offsets(fixed)


def test_offsets_of_text_with_surrogate_pairs(tok: Tokenizer) -> None:
    """A surrogate pair given as two code points is one character once
    replaced (as tiktoken encodes it); spans still index the text given."""
    text = "a\ud83d\ude00b \ud800 c \ud83d\ude00\ud83d\ude00 d\udc00"
    fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    assert len(fixed) < len(text)
    ids, spans = tok.encode_with_offsets(text)
    assert ids == tok.encode(fixed)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    for id, (start, end) in zip(ids, spans, strict=True):
        piece = text[start:end].encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        assert tok.id_to_bytes(id) in piece.encode(), (id, start, end)
    array_ids, array_spans = tok.encode_with_offsets_to_numpy(text)
    assert array_ids.tolist() == ids
    assert [tuple(row) for row in array_spans.tolist()] == spans


def test_special_token_options(tok: Tokenizer) -> None:
    with pytest.raises(ValueError, match="nope"):
        tok.encode("x", allowed_special={"nope"})
    with pytest.raises(ValueError, match="nope"):
        tok.encode("x", disallowed_special={"nope"})
    with pytest.raises(ValueError, match="nope"):
        tok.encode_batch(["x"], allowed_special={"<|end|>", "nope"})
    with pytest.raises(TypeError):
        tok.encode("x", allowed_special="everything")
    with pytest.raises(TypeError):
        tok.encode("x", disallowed_special="none")
    with pytest.raises(DisallowedSpecialTokenError, match="<\\|end\\|>"):
        tok.encode("x<|end|>")
    assert tok.encode("x<|end|>", allowed_special=["<|end|>"])[-1] == 263


def test_decode_error_handlers(tok: Tokenizer) -> None:
    split = list("é".encode())  # two byte tokens, each alone invalid UTF-8
    ids = [tok.token_to_id(bytes([b])) for b in split]
    assert tok.decode(ids[:1]) == "\ufffd"
    assert tok.decode(ids[:1], errors="ignore") == ""
    assert tok.decode(ids[:1], errors="backslashreplace") == "\\xc3"
    with pytest.raises(UnicodeDecodeError):
        tok.decode(ids[:1], errors="strict")
    with pytest.raises(ValueError, match="error handler"):
        tok.decode(ids[:1], errors="no-such-handler")
    assert tok.decode(ids, errors="strict") == "é"


def test_save_tiktoken_needs_a_rank_file_tokenizer(tok: Tokenizer, tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="rank file"):
        tok.save_tiktoken(tmp_path / "x.tiktoken")


def test_bad_split_regex_is_a_format_error() -> None:
    doc = llama_doc()
    doc["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {"Regex": "(("}
    with pytest.raises(TokenizerFormatError, match="pre_tokenizer"):
        Tokenizer.from_json(dumps(doc))


def test_added_token_taking_a_byte_id() -> None:
    doc = gpt2_doc(all_bytes=True)
    doc["added_tokens"][0]["id"] = list(bytes_to_unicode()).index(5)  # byte 0x05's id
    result = load_json(dumps(doc))
    if isinstance(result, Tokenizer):
        assert result.decode(result.encode("a\x05b")) == "a\x05b"


# ------------------------------------------------------------------ fuzzing

VALID_JSON = [dumps(gpt2_doc()), dumps(llama_doc()), dumps(gpt2_doc(), indent=1)]


@st.composite
def mutated(draw: st.DrawFn, originals: list[bytes]) -> bytes:
    """A valid input with a few bytes flipped, inserted, deleted or copied."""
    data = bytearray(draw(st.sampled_from(originals)))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "copy"]))
        if op == "flip" and i < len(data):
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and i < len(data):
            data[i] = draw(st.sampled_from(b'{}[]",:0123456789- \\nabu\x00\xff'))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[i : i + draw(st.integers(1, 16))]
        elif op == "copy":
            j = draw(st.integers(0, len(data)))
            data[i:i] = data[j : j + draw(st.integers(1, 32))]
    return bytes(data)


def _no_huge_numbers(data: bytes) -> None:
    # Ids or ranks of a million and more are skipped: one huge id makes the
    # dense id table huge (see test_huge_sparse_id_does_not_abort).
    assume(not re.search(rb"\d{7}", data))


@given(data=st.one_of(st.binary(max_size=200), mutated(VALID_JSON)))
@example(data=b'{"model": {"vocab": {}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}')
def test_fuzz_json(data: bytes) -> None:
    _no_huge_numbers(data)
    result = load_json(data)
    if isinstance(result, Tokenizer):
        check_usable(result)


@given(data=st.one_of(st.binary(max_size=200), mutated([RANKS])))
def test_fuzz_rank_file(data: bytes) -> None:
    _no_huge_numbers(data)
    result = load_ranks(data)
    if isinstance(result, Tokenizer):
        check_usable(result)
        again = pickle.loads(pickle.dumps(result))  # through its rank file
        assert again.encode(TEXT, allowed_special="all") == result.encode(
            TEXT, allowed_special="all"
        )


def test_more_argument_checks() -> None:
    """Arguments that would otherwise be misread or raise unclear errors."""
    from seqcore.tokenize import BpeTrainer, MultiWordTokenizer, WordCounts

    tok = BpeTrainer(vocab_size=300, show_progress=False).train(["the end of the day"] * 20)
    mwt = MultiWordTokenizer.train(tok, ["the end of the day"] * 20, top_k=2)
    batches = (tok.encode_batch, mwt.encode_batch)
    for batch in (*batches, tok.encode_batch_to_numpy, mwt.encode_batch_to_numpy):
        with pytest.raises(TypeError, match="single string"):
            batch("abc")
    for decode in (tok.decode, mwt.decode):
        with pytest.raises(ValueError, match="error handler"):
            decode([0xE2], errors="bogus")
        assert decode([104, 0xE2], errors="backslashreplace") == "h\\xe2"
    with pytest.raises(ValueError, match="error handler"):
        tok.decode_batch([[1]], errors="bogus")
    # A misspelt preset is refused, not read as a regex matching that word.
    with pytest.raises(ValueError, match="not a preset"):
        Tokenizer.from_tiktoken_bytes(RANKS, "gpt5")
    with pytest.raises(ValueError, match="not a preset"):
        BpeTrainer(vocab_size=300, pattern="cl100").train(["x"])
    with pytest.raises(TypeError, match="vocab_size"):
        BpeTrainer(vocab_size="300")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_token_length"):
        BpeTrainer(vocab_size=300, max_token_length=0)
    with pytest.raises(TypeError, match="word"):
        WordCounts().add_word(5)  # type: ignore[arg-type]
