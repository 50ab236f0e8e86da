"""Pure-Python references for MultiWordTokenizer on ASCII text (the GPT-2
pre-tokenizer, the greedy encoder, the n-gram choice) and a hand-written
multi-word file, shared by the test_multiword*.py files."""

from __future__ import annotations

import json
import re
from collections import Counter

from seqcore.tokenize import MultiWordTokenizer, Tokenizer

EOT = "<|endoftext|>"

# The GPT-2 pre-tokenizer on ASCII text (\p{L} = [A-Za-z], \p{N} = [0-9];
# with re.ASCII, \s is [ \t\n\r\f\v], Unicode's White_Space on ASCII).
GPT2_ASCII = re.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""",
    re.ASCII,
)
WORD = re.compile(r" ?(?:[A-Za-z]+|[0-9]+)", re.ASCII)


def split(text: str) -> list[str]:
    pieces = GPT2_ASCII.findall(text)
    assert "".join(pieces) == text
    return pieces


def is_word(piece: str) -> bool:
    return WORD.fullmatch(piece) is not None


def segments(text: str, specials: dict[str, int]) -> list[str | int]:
    """Text segments and special-token ids, specials matched leftmost first."""
    if not specials:
        return [text] if text else []
    pattern = re.compile("|".join(map(re.escape, sorted(specials, key=len, reverse=True))))
    out: list[str | int] = []
    at = 0
    for match in pattern.finditer(text):
        if match.start() > at:
            out.append(text[at : match.start()])
        out.append(specials[match.group()])
        at = match.end()
    if at < len(text):
        out.append(text[at:])
    return out


Table = tuple[dict[tuple[str, ...], int], list[int]]


def table_of(mwt: MultiWordTokenizer) -> Table:
    """Each n-gram's id by its words, and the orders present, longest first."""
    ngrams = mwt.ngrams
    first = mwt.base.vocab_size
    ids_of = {tuple(words): first + i for i, words in enumerate(ngrams)}
    return ids_of, sorted({len(words) for words in ngrams}, reverse=True)


def reference_encode(
    mwt: MultiWordTokenizer, text: str, allow_specials: bool, table: Table | None = None
) -> list[int]:
    """Greedy, longest order first, left to right, within each segment;
    everything else is the base tokenizer's ids for the piece."""
    base = mwt.base
    ids_of, orders = table or table_of(mwt)
    out: list[int] = []
    for segment in segments(text, base.special_tokens if allow_specials else {}):
        if isinstance(segment, int):
            out.append(segment)
            continue
        pieces = split(segment)
        i = 0
        while i < len(pieces):
            for n in orders:
                window = tuple(pieces[i : i + n])
                if len(window) == n and window in ids_of:
                    out.append(ids_of[window])
                    i += n
                    break
            else:
                out.extend(base.encode_ordinary(pieces[i]))
                i += 1
    return out


def reference_ngrams(
    base: Tokenizer, texts: list[str], orders: tuple[int, ...], top_k: int, min_count: int
) -> list[list[str]]:
    """The top_k most frequent word n-grams with at least min_count occurrences;
    ties go to the lower order, then the smaller bytes."""
    counts: Counter[tuple[str, ...]] = Counter()
    for text in texts:
        for segment in segments(text, base.special_tokens):
            if isinstance(segment, int):
                continue
            pieces = split(segment)
            for n in orders:
                for i in range(len(pieces) - n + 1):
                    if all(map(is_word, pieces[i : i + n])):
                        counts[tuple(pieces[i : i + n])] += 1
    ranked = sorted(
        (ws for ws, c in counts.items() if c >= max(min_count, 1)),
        key=lambda ws: (-counts[ws], len(ws), "".join(ws).encode()),
    )
    return [list(ws) for ws in ranked[:top_k]]


def mwt_json(base: Tokenizer, **changes: object) -> str:
    doc = {
        "format": "seqcore.multiword",
        "version": 1,
        "base_vocab_size": base.vocab_size,
        "ngrams": [[" of", " the"], [" the", " LORD"], ["And", " he", " said"]],
    }
    doc.update(changes)
    return json.dumps(doc)
