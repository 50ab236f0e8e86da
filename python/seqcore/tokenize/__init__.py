"""Tokenization: byte-level BPE (Hugging Face and tiktoken compatible),
training, and multi-word tokens.

* :class:`Tokenizer` — encode/decode, load/save ``tokenizer.json`` and
  tiktoken rank files.
* :class:`BpeTrainer`, :class:`WordCounts` — training, with mergeable counts.
* :class:`MultiWordTokenizer` — word n-grams as single tokens on top of a base.
"""

from __future__ import annotations

from seqcore.tokenize._multiword import MAX_MULTIWORD_JSON_BYTES, MultiWordStats, MultiWordTokenizer
from seqcore.tokenize._tokenizer import MAX_JSON_BYTES, MAX_RANK_FILE_BYTES, Tokenizer
from seqcore.tokenize._trainer import BpeTrainer, WordCounts

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_MULTIWORD_JSON_BYTES",
    "MAX_RANK_FILE_BYTES",
    "BpeTrainer",
    "MultiWordStats",
    "MultiWordTokenizer",
    "Tokenizer",
    "WordCounts",
]
