"""Training a byte-level BPE tokenizer: count words, then learn merges.

Counting is separate and mergeable, so a corpus too large for one process
can be counted in shards (a multiprocessing pool, Ray or Spark workers),
the shards merged, and the merges learned once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence

from seqcore import _core
from seqcore.tokenize._encoding import texts_without_surrogates
from seqcore.tokenize._progress import Progress
from seqcore.tokenize._tokenizer import MAX_COUNT, PathLike, Tokenizer, check_int, check_path

#: Texts are counted in batches of about this many bytes (bounded memory).
BATCH_BYTES = 8 << 20
#: Token ids go up to 2**24 - 1, so no vocabulary is larger than this.
MAX_VOCAB_SIZE = 1 << 24


class WordCounts:
    """Counts of pre-tokenized words. Add shards with ``+`` or :meth:`merge`.

    Pickles through a compact binary form, so counts travel between processes.

    >>> a, b = WordCounts(), WordCounts()
    >>> a.add_texts(["low lower"]); b.add_texts(["lowest"])
    >>> (a + b).total
    3
    """

    __slots__ = ("_native", "pattern")

    def __init__(self, pattern: str = "gpt2") -> None:
        if not isinstance(pattern, str):
            raise TypeError(
                f"pattern must be a preset name or a regex, got {type(pattern).__name__}"
            )
        self._native = _core.WordCounts()
        # Compiles (and keeps) the pre-tokenizer now, so a bad pattern is
        # refused here rather than after a corpus has been read.
        self._native.add_texts([], pattern)
        self.pattern = pattern

    def add_texts(self, texts: Iterable[str]) -> None:
        """Counts the words of ``texts`` (in parallel, GIL released)."""
        if isinstance(texts, str):
            raise TypeError("texts must be an iterable of strings, got a single string")
        texts = list(texts)
        try:
            self._native.add_texts(texts, self.pattern)
        except UnicodeEncodeError:
            # Lone surrogates count as U+FFFD, as encoding treats them.
            self._native.add_texts(texts_without_surrogates(texts), self.pattern)

    def add_word(self, word: str | bytes, count: int = 1) -> None:
        """Adds ``count`` occurrences of one pre-tokenized word."""
        if not isinstance(word, (str, bytes)):
            raise TypeError(f"word must be str or bytes, got {type(word).__name__}")
        check_int("count", count, 0, MAX_COUNT)
        self._native.add_word(word.encode() if isinstance(word, str) else word, count)

    def merge(self, other: WordCounts) -> None:
        """Adds another shard's counts into this one."""
        if not isinstance(other, WordCounts):
            raise TypeError(f"can only merge WordCounts, got {type(other).__name__}")
        if other.pattern != self.pattern:
            raise ValueError(
                f"counts made with different patterns: {self.pattern!r} and {other.pattern!r}"
            )
        self._native.merge(other._native)

    def __add__(self, other: WordCounts) -> WordCounts:
        total = WordCounts(self.pattern)
        total.merge(self)
        total.merge(other)
        return total

    def __len__(self) -> int:
        return len(self._native)

    @property
    def total(self) -> int:
        """How many words were counted."""
        return self._native.total

    def most_common(self, n: int = 10) -> list[tuple[bytes, int]]:
        """The ``n`` most frequent words and their counts."""
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"n must be an int, got {type(n).__name__}")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        return self._native.most_common(min(n, len(self)))

    def to_bytes(self) -> bytes:
        """The compact binary form (pattern not included)."""
        return self._native.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes, pattern: str = "gpt2") -> WordCounts:
        """Reads :meth:`to_bytes` output; TokenizerFormatError if malformed."""
        counts = cls(pattern)
        counts._native = _core.WordCounts.from_bytes(data)
        return counts

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (WordCounts.from_bytes, (self.to_bytes(), self.pattern))

    def __repr__(self) -> str:
        return (
            f"WordCounts({len(self)} distinct words, {self.total} in all, pattern={self.pattern!r})"
        )


def _batches(texts: Iterable[str], batch_bytes: int) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"texts must be strings, got {type(text).__name__}")
        batch.append(text)
        size += len(text)
        if size >= batch_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _file_lines(paths: Sequence[PathLike]) -> Iterator[str]:
    for path in paths:
        check_path(path, "each path")
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            yield from f


class BpeTrainer:
    """Learns a byte-level BPE vocabulary; deterministic (same input, same merges).

    ``vocab_size`` counts the 256 byte tokens (always all present, so no byte
    is ever dropped), the learned merges and the ``special_tokens`` (added at
    the end). Pairs seen fewer than ``min_frequency`` times are not merged.
    ``pattern`` is the pre-tokenizer: ``"gpt2"``, ``"cl100k"``, ``"o200k"``,
    ``"llama3"`` or a regex.

    >>> tok = BpeTrainer(vocab_size=300, show_progress=False).train(["abab abab"] * 3)
    >>> [tok.id_to_bytes(i) for i in range(256, tok.vocab_size)]  # stops when no pair repeats
    [b'ab', b'abab', b' abab']
    >>> tok.encode(" abab")
    [258]
    """

    def __init__(
        self,
        vocab_size: int = 32000,
        min_frequency: int = 2,
        special_tokens: Sequence[str] = (),
        pattern: str = "gpt2",
        max_token_length: int | None = None,
        show_progress: bool | None = None,
    ) -> None:
        specials = _check_special_tokens(special_tokens)
        for name, value in (("vocab_size", vocab_size), ("min_frequency", min_frequency)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if max_token_length is not None:
            if not isinstance(max_token_length, int) or isinstance(max_token_length, bool):
                kind = type(max_token_length).__name__
                raise TypeError(f"max_token_length must be None or an int, got {kind}")
            if not 1 <= max_token_length <= MAX_COUNT:
                raise ValueError(
                    "max_token_length must be None or an int >= 1 (at most 2**64 - 1), "
                    f"got {max_token_length}"
                )
        WordCounts(pattern)  # refuses a bad pattern now, not after counting
        if vocab_size < 256 + len(specials):
            raise ValueError(
                f"vocab_size must be at least 256 + {len(specials)} special tokens, "
                f"got {vocab_size}"
            )
        if vocab_size > MAX_VOCAB_SIZE:
            raise ValueError(
                f"vocab_size must be at most {MAX_VOCAB_SIZE} (2**24: token ids are 24-bit), "
                f"got {vocab_size}"
            )
        if min_frequency < 0:
            raise ValueError(f"min_frequency must be >= 0, got {min_frequency}")
        if min_frequency > MAX_COUNT:
            raise ValueError(f"min_frequency must be at most 2**64 - 1, got {min_frequency}")
        self.vocab_size = vocab_size
        self.min_frequency = min_frequency
        self.special_tokens = specials
        self.pattern = pattern
        self.max_token_length = max_token_length
        self.show_progress = show_progress

    # -------------------------------------------------------------- counting
    def count(self, texts: Iterable[str], counts: WordCounts | None = None) -> WordCounts:
        """Counts the words of ``texts`` (any iterable, streamed in batches)."""
        if isinstance(texts, str):
            raise TypeError("texts must be an iterable of strings, got a single string")
        if counts is not None and not isinstance(counts, WordCounts):
            raise TypeError(f"counts must be WordCounts or None, got {type(counts).__name__}")
        counts = WordCounts(self.pattern) if counts is None else counts
        bar = Progress("counting", 0, self.show_progress, unit=" texts")
        done = 0
        for batch in _batches(texts, BATCH_BYTES):
            counts.add_texts(batch)
            done += len(batch)
            bar.update(done)
        bar.close()
        return counts

    def count_files(
        self, paths: Sequence[PathLike], counts: WordCounts | None = None
    ) -> WordCounts:
        """Counts the words of text files, line by line (bounded memory)."""
        if isinstance(paths, (str, bytes, os.PathLike)):
            paths = [paths]
        return self.count(_file_lines(paths), counts)

    # -------------------------------------------------------------- training
    def train_from_counts(self, counts: WordCounts) -> Tokenizer:
        """Learns the merges from (possibly merged) counts."""
        if not isinstance(counts, WordCounts):
            raise TypeError(
                "counts must be WordCounts (from count or count_files), "
                f"got {type(counts).__name__}"
            )
        if counts.pattern != self.pattern:
            raise ValueError(
                f"counts were made with pattern {counts.pattern!r}, "
                f"this trainer uses {self.pattern!r}"
            )
        bar = Progress("merging", self.vocab_size, self.show_progress, unit=" merges")
        tokens, merges, special_ids = _core.train_bpe(
            counts._native,
            self.vocab_size,
            self.min_frequency,
            self.special_tokens,
            self.max_token_length,
            lambda done, wanted: bar.update(done, wanted),
        )
        bar.close()
        first_special = min(special_ids, default=len(tokens))
        specials = list(zip(self.special_tokens, special_ids, strict=True))
        return Tokenizer(
            _core.Tokenizer.from_merges(tokens[:first_special], merges, self.pattern, specials)
        )

    def train(self, texts: Iterable[str]) -> Tokenizer:
        """Counts ``texts`` and learns the merges."""
        return self.train_from_counts(self.count(texts))

    def train_from_files(self, paths: Sequence[PathLike]) -> Tokenizer:
        """Counts text files and learns the merges."""
        return self.train_from_counts(self.count_files(paths))


def _check_special_tokens(special_tokens: object) -> list[str]:
    """The special tokens as a list; TypeError or ValueError, before any
    counting, for what training would refuse."""
    if isinstance(special_tokens, str):
        raise TypeError("special_tokens must be a sequence of strings, got a single string")
    if isinstance(special_tokens, (bytes, dict)) or not isinstance(special_tokens, Iterable):
        raise TypeError(
            f"special_tokens must be a sequence of strings, got {type(special_tokens).__name__}"
        )
    specials = list(special_tokens)
    seen = set()
    for i, special in enumerate(specials):
        if not isinstance(special, str):
            raise TypeError(
                f"special_tokens must be strings, got {type(special).__name__} at position {i}"
            )
        if not special:
            raise ValueError(f"special tokens must not be empty (position {i})")
        if special in seen:
            raise ValueError(f"special token {special!r} is listed twice")
        seen.add(special)
    return specials
