"""Helpers shared by the test_bpe_trainer*.py files: a quiet BpeTrainer, and
a trained tokenizer's learned tokens and merges."""

from __future__ import annotations

import json

from seqcore.tokenize import BpeTrainer, Tokenizer

EOT = "<|endoftext|>"


def quiet(**kwargs: object) -> BpeTrainer:
    return BpeTrainer(show_progress=False, **kwargs)  # type: ignore[arg-type]


def n_specials(tok: Tokenizer) -> int:
    return len(tok.special_tokens)


def learned(tok: Tokenizer) -> list[bytes]:
    """The bytes of the learned tokens, in id order."""
    return [tok.id_to_bytes(i) for i in range(256, tok.vocab_size - n_specials(tok))]


def merges(tok: Tokenizer) -> list[tuple[int, int]]:
    """The merges as (left id, right id), in rank order."""
    model = json.loads(tok.to_json())["model"]
    vocab = model["vocab"]
    return [(vocab[left], vocab[right]) for left, right in model["merges"]]


def same_training(a: Tokenizer, b: Tokenizer) -> None:
    assert merges(a) == merges(b)
    assert learned(a) == learned(b)
    assert a.to_json() == b.to_json()
