"""Small valid tokenizer files (a GPT-2 and a Llama-3 style tokenizer.json,
a rank file) and loaders that return the error instead of raising, shared
by the bad-input tests."""

from __future__ import annotations

import base64
import json
from typing import Any

from seqcore.errors import TokenizerFormatError
from seqcore.tokenize import Tokenizer
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


def split_pre_tokenizer(pattern: str) -> dict[str, Any]:
    """A tokenizer.json pre-tokenizer: a Split regex, then byte-level spelling."""
    return {
        "type": "Sequence",
        "pretokenizers": [
            {
                "type": "Split",
                "pattern": {"Regex": pattern},
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


def llama_doc() -> dict[str, Any]:
    """A small Llama-3-style tokenizer.json: Split regex, ignore_merges, template."""
    doc = gpt2_doc()
    doc["pre_tokenizer"] = split_pre_tokenizer(r"\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+|\s+")
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
