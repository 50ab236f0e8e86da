"""Multi-word tokens: frequent word n-grams as single tokens (Gee et al. 2023)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from seqcore import _core
from seqcore.tokenize._encoding import EncodeForms, Specials, texts_without_surrogates
from seqcore.tokenize._tokenizer import (
    MAX_COUNT,
    PathLike,
    Tokenizer,
    check_errors,
    check_int,
    check_path,
    read_capped,
)

#: Multi-word files over this size are refused before they are read.
MAX_MULTIWORD_JSON_BYTES: int = _core.MAX_MULTIWORD_JSON_BYTES
#: The most words an n-gram token holds (as the multi-word file format allows).
MAX_NGRAM_ORDER: int = _core.MAX_NGRAM_ORDER


def check_training_options(ngram_orders: object, top_k: object, min_count: object) -> list[int]:
    """``ngram_orders`` as a list, once the options of
    :meth:`MultiWordTokenizer.train` are checked: TypeError or ValueError
    naming the option, before any counting."""
    if isinstance(ngram_orders, (str, bytes)) or not isinstance(ngram_orders, Iterable):
        raise TypeError(
            f"ngram_orders must be a sequence of ints such as (2, 3), "
            f"got {type(ngram_orders).__name__}"
        )
    orders = list(ngram_orders)
    for n in orders:
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"ngram_orders must hold ints, got {type(n).__name__}")
    if not orders or not all(2 <= n <= MAX_NGRAM_ORDER for n in orders):
        raise ValueError(
            f"ngram_orders must be a non-empty list of orders from 2 to {MAX_NGRAM_ORDER}, "
            f"got {orders}"
        )
    check_int("top_k", top_k, 0, MAX_COUNT)
    check_int("min_count", min_count, 0, MAX_COUNT)
    return orders


def _check_base(base_tokenizer: object) -> None:
    if not isinstance(base_tokenizer, Tokenizer):
        raise TypeError(
            f"base_tokenizer must be a seqcore Tokenizer, got {type(base_tokenizer).__name__}"
        )


@dataclass(frozen=True)
class MultiWordStats:
    """Token counts of some texts with and without multi-word tokens."""

    base_tokens: list[int]
    multiword_tokens: list[int]

    @property
    def total_base(self) -> int:
        return sum(self.base_tokens)

    @property
    def total_multiword(self) -> int:
        return sum(self.multiword_tokens)

    @property
    def fraction_saved(self) -> float:
        """1 - multi-word tokens / base tokens (0.12 means 12% fewer tokens)."""
        return 1.0 - self.total_multiword / self.total_base if self.total_base else 0.0


class MultiWordTokenizer(EncodeForms[_core.MultiWord]):
    """A base tokenizer plus word n-grams as extra tokens (ids from ``base.vocab_size``).

    Each n-gram token holds its words' bytes with their leading spaces
    (``" of the"``). Encoding merges n-grams greedily, longest first, left to
    right, never across special tokens; decoding gives back the exact text.

    >>> import seqcore
    >>> base = seqcore.BpeTrainer(vocab_size=300).train(["in the end of the day"] * 20)
    >>> mwt = seqcore.MultiWordTokenizer.train(base, ["in the end of the day"] * 20, top_k=2)
    >>> [" ".join(repr(w) for w in ws) for ws in mwt.ngrams]
    ["' end' ' of'", "' of' ' the'"]
    >>> mwt.decode(mwt.encode("the end of the day")) == "the end of the day"
    True
    """

    __slots__ = ("_native", "_ngrams", "base")

    def __init__(self, base: Tokenizer, native: _core.MultiWord) -> None:
        self.base = base
        self._native = native
        self._ngrams: list[list[str]] | None = None

    @classmethod
    def train(
        cls,
        base_tokenizer: Tokenizer,
        texts: Iterable[str],
        ngram_orders: Sequence[int] = (2,),
        top_k: int = 5000,
        min_count: int = 2,
    ) -> MultiWordTokenizer:
        """Counts word n-grams of ``texts`` and keeps the ``top_k`` most frequent
        (all orders together) that occur at least ``min_count`` times."""
        _check_base(base_tokenizer)
        if isinstance(texts, str):
            raise TypeError("texts must be an iterable of strings, got a single string")
        orders = check_training_options(ngram_orders, top_k, min_count)
        texts = texts_without_surrogates(list(texts))
        native = _core.MultiWord.train(
            base_tokenizer._native, list(texts), orders, top_k, min_count
        )
        return cls(base_tokenizer, native)

    # ----------------------------------------------------------- load / save
    @classmethod
    def from_json(cls, data: str | bytes, base_tokenizer: Tokenizer) -> MultiWordTokenizer:
        """Reads the saved JSON form; ``base_tokenizer`` must be the one it was trained on."""
        _check_base(base_tokenizer)
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not isinstance(data, bytes):
            raise TypeError(f"data must be str or bytes, got {type(data).__name__}")
        return cls(base_tokenizer, _core.MultiWord.from_json(base_tokenizer._native, data))

    @classmethod
    def load(cls, path: PathLike, base_tokenizer: Tokenizer) -> MultiWordTokenizer:
        """Reads a file written by :meth:`save`."""
        _check_base(base_tokenizer)
        return cls.from_json(
            read_capped(path, MAX_MULTIWORD_JSON_BYTES, "multi-word file"), base_tokenizer
        )

    def to_json(self) -> str:
        """The saved form: JSON with a format name and version."""
        return self._native.to_json()

    def save(self, path: PathLike) -> None:
        """Writes the n-grams as JSON (save the base tokenizer next to it)."""
        check_path(path)
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json())

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (MultiWordTokenizer.from_json, (self.to_json(), self.base))

    # ------------------------------------------------------------ vocabulary
    @property
    def vocab_size(self) -> int:
        """Base vocabulary plus n-grams."""
        return self._native.vocab_size

    @property
    def ngrams(self) -> list[list[str]]:
        """Each n-gram's words, in id order (ids start at ``base.vocab_size``)."""
        if self._ngrams is None:
            self._ngrams = self._native.ngrams()
        return [list(words) for words in self._ngrams]

    def pieces(self, id: int) -> list[int]:
        """The base-token ids that make up token ``id`` (itself for a base id): each
        word of an n-gram merged alone, as the base encodes it in running text."""
        return self._native.pieces(id)

    # -------------------------------------------------------------- encoding
    def _policy(self, allowed: Specials, disallowed: Specials) -> _core.SpecialPolicy | None:
        return self.base._policy(allowed, disallowed)

    def decode_bytes(self, ids: Sequence[int], *, skip_special_tokens: bool = False) -> bytes:
        """The bytes of ``ids`` (base and n-gram ids)."""
        return self._native.decode_bytes(ids, skip_special_tokens)

    def decode(
        self, ids: Sequence[int], *, errors: str = "replace", skip_special_tokens: bool = False
    ) -> str:
        """The text of ``ids``; ``errors`` as in :meth:`Tokenizer.decode`."""
        data = self.decode_bytes(ids, skip_special_tokens=skip_special_tokens)
        return data.decode("utf-8", check_errors(errors))

    def decode_batch(
        self,
        batch: Iterable[Sequence[int]],
        *,
        errors: str = "replace",
        skip_special_tokens: bool = False,
    ) -> list[str]:
        """The texts of many id lists (:meth:`decode` of each)."""
        if isinstance(batch, (str, bytes)) or not isinstance(batch, Iterable):
            raise TypeError(f"batch must be an iterable of id lists, got {type(batch).__name__}")
        errors = check_errors(errors)
        return [
            self.decode(ids, errors=errors, skip_special_tokens=skip_special_tokens)
            for ids in batch
        ]

    def stats(self, texts: Iterable[str]) -> MultiWordStats:
        """Tokens per text with and without the n-grams, and the fraction saved."""
        if isinstance(texts, str):
            raise TypeError("texts must be an iterable of strings, got a single string")
        texts = texts_without_surrogates(list(texts))
        ordinary = self.base._policy((), ())
        base = self.base._native.encode_batch(texts, ordinary, False)
        multi = self._native.encode_batch(texts, ordinary, False)
        return MultiWordStats([len(x) for x in base], [len(x) for x in multi])

    def __repr__(self) -> str:
        base = self._native.base_vocab_size
        return f"MultiWordTokenizer(base_vocab_size={base}, ngrams={len(self.ngrams)})"
