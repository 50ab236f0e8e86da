"""The byte-level BPE tokenizer: a thin Python face over the Rust core."""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Union

from seqcore import _core
from seqcore.tokenize._encoding import EncodeForms, Specials

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

#: tokenizer.json files over this size are refused before they are read.
MAX_JSON_BYTES: int = _core.MAX_JSON_BYTES
#: tiktoken rank files over this size are refused before they are read.
MAX_RANK_FILE_BYTES: int = _core.MAX_RANK_FILE_BYTES


#: The largest count, frequency or length the native code takes (64 bits).
MAX_COUNT = 2**64 - 1


def check_int(name: str, value: object, low: int, high: int) -> int:
    """``value`` if it is an int (not a bool) from ``low`` to ``high``;
    TypeError or ValueError naming ``name`` otherwise."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        top = "2**64 - 1" if high == MAX_COUNT else str(high)
        raise ValueError(f"{name} must be an int from {low} to {top}, got {value}")
    return value


def check_path(path: object, argument: str = "path") -> None:
    """TypeError unless ``path`` is a file path: str, bytes or os.PathLike.

    ``open`` and ``os.stat`` would take an int (or a bool) as a file
    descriptor, and closing the file would then close the caller's
    descriptor (``True`` is stdout).
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(
            f"{argument} must be a file path (str, bytes or os.PathLike), got {type(path).__name__}"
        )


def read_capped(path: PathLike, cap: int, what: str) -> bytes:
    """Reads a file, refusing it before reading when it is over ``cap`` bytes."""
    from seqcore.errors import TokenizerFormatError

    check_path(path)
    size = os.stat(path).st_size
    if size > cap:
        raise TokenizerFormatError(
            f"{what} {os.fspath(path)!r} is {size} bytes, over the {cap}-byte limit"
        )
    with open(path, "rb") as f:
        return f.read(cap + 1)


class Tokenizer(EncodeForms[_core.Tokenizer]):
    """A byte-level BPE tokenizer giving exactly Hugging Face's or tiktoken's ids.

    Load one with :meth:`from_file` (``tokenizer.json``), :meth:`from_tiktoken`
    (a rank file), or train one with :class:`seqcore.BpeTrainer`.

    >>> import seqcore
    >>> tok = seqcore.BpeTrainer(vocab_size=300).train(["hello world"] * 10)
    >>> ids = tok.encode("hello world")
    >>> tok.decode(ids)
    'hello world'
    """

    __slots__ = ("_native", "_policies", "_special_ids")

    def __init__(self, native: _core.Tokenizer) -> None:
        if not isinstance(native, _core.Tokenizer):
            if isinstance(native, (str, bytes, os.PathLike)):
                raise TypeError(
                    "Tokenizer() does not read files: use Tokenizer.from_file(path) for a "
                    "tokenizer.json, or Tokenizer.from_tiktoken(path, pattern) for a rank file; "
                    f"got {native!r}"
                )
            raise TypeError(
                "Tokenizer() wraps a loaded tokenizer: use Tokenizer.from_file, from_json or "
                f"from_tiktoken, or train one with BpeTrainer; got {type(native).__name__}"
            )
        self._native = native
        self._special_ids = {
            content: id_ for content, id_, special in native.added_tokens() if special
        }
        self._policies: dict[tuple[object, object], _core.SpecialPolicy] = {}

    # ----------------------------------------------------------------- loading
    @classmethod
    def from_json(cls, data: str | bytes) -> Tokenizer:
        """A tokenizer from the text of a Hugging Face ``tokenizer.json``."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not isinstance(data, bytes):
            raise TypeError(f"data must be str or bytes, got {type(data).__name__}")
        return cls(_core.Tokenizer.from_json(data))

    @classmethod
    def from_file(cls, path: PathLike) -> Tokenizer:
        """A tokenizer from a Hugging Face ``tokenizer.json`` file."""
        return cls(_core.Tokenizer.from_json(read_capped(path, MAX_JSON_BYTES, "tokenizer file")))

    @classmethod
    def from_tiktoken(
        cls,
        path: PathLike,
        pattern: str = "cl100k",
        special_tokens: dict[str, int] | None = None,
    ) -> Tokenizer:
        """A tokenizer from a tiktoken rank file (``base64(token) rank`` lines).

        ``pattern`` is a preset name (``"gpt2"``, ``"cl100k"``, ``"o200k"``) or a
        regex; ``special_tokens`` maps each special token to its id.
        """
        data = read_capped(path, MAX_RANK_FILE_BYTES, "rank file")
        return cls.from_tiktoken_bytes(data, pattern, special_tokens)

    @classmethod
    def from_tiktoken_bytes(
        cls, data: bytes, pattern: str = "cl100k", special_tokens: dict[str, int] | None = None
    ) -> Tokenizer:
        """Like :meth:`from_tiktoken`, from the rank file's bytes."""
        if special_tokens is not None and not isinstance(special_tokens, Mapping):
            raise TypeError(
                "special_tokens must be a dict mapping each special token to its id "
                f'(e.g. {{"<|endoftext|>": 100257}}), got {type(special_tokens).__name__}'
            )
        specials = list((special_tokens or {}).items())
        for content, id_ in specials:
            if not isinstance(content, str) or not isinstance(id_, int) or not 0 <= id_ < 2**24:
                raise ValueError(
                    f"special_tokens must map strings to ids from 0 to 2**24 - 1, "
                    f"got {content!r}: {id_!r}"
                )
        return cls(_core.Tokenizer.from_ranks(data, pattern, specials))

    # ------------------------------------------------------------------ saving
    def to_json(self) -> str:
        """The ``tokenizer.json`` text (Hugging Face ``tokenizers`` loads it to the same ids)."""
        return self._native.to_json()

    def save(self, path: PathLike) -> None:
        """Writes ``tokenizer.json``."""
        check_path(path)
        text = self.to_json()  # (before opening: a refusal leaves no empty file)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)

    def save_tiktoken(self, path: PathLike) -> None:
        """Writes a tiktoken rank file (for tokenizers loaded from one)."""
        check_path(path)
        text = self._native.to_ranks()  # (before opening: a refusal leaves no empty file)
        with open(path, "w", encoding="ascii") as f:
            f.write(text)

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        # Pickles travel as their JSON form (or rank file), e.g. to workers.
        if self._native.rule == "ranks":
            specials = {c: i for c, i, _ in self._native.added_tokens()}
            ranks = self._native.to_ranks().encode("ascii")
            return (_from_ranks_state, (ranks, self._native.pattern, specials))
        return (Tokenizer.from_json, (self.to_json(),))

    # -------------------------------------------------------------- properties
    @property
    def vocab_size(self) -> int:
        """One past the largest token id."""
        return self._native.vocab_size

    @property
    def pattern(self) -> str | None:
        """The pre-tokenization regex (None: each text is one piece)."""
        return self._native.pattern

    @property
    def special_tokens(self) -> dict[str, int]:
        """The special tokens and their ids."""
        return dict(self._special_ids)

    def get_vocab(self) -> dict[str, int]:
        """Every token as ``tokenizer.json`` spells it, with its id."""
        return self._native.get_vocab()

    def token_to_id(self, token: str | bytes) -> int | None:
        """The id of ``token``, or None.

        ``str``: as tokenizer.json spells it, or an added token; ``bytes``: raw bytes.
        """
        return self._native.token_to_id(token)

    def id_to_token(self, id: int) -> str:
        """The token's tokenizer.json spelling; IndexError if absent."""
        return self._native.id_to_token(id)

    def id_to_bytes(self, id: int) -> bytes:
        """The token's bytes; IndexError if absent."""
        return self._native.id_to_bytes(id)

    # ---------------------------------------------------------------- encoding
    def _policy(self, allowed: Specials, disallowed: Specials) -> _core.SpecialPolicy | None:
        key = (
            _specials_key(allowed, "allowed_special"),
            _specials_key(disallowed, "disallowed_special"),
        )
        if key == (frozenset(), "all"):
            return None  # the default, strict policy
        policy = self._policies.get(key)
        if policy is None:
            policy = _core.SpecialPolicy(
                allow_all=allowed == "all",
                allowed=self._ids_of(allowed, "allowed_special"),
                disallow_all=disallowed == "all",
                disallowed=self._ids_of(disallowed, "disallowed_special"),
            )
            self._policies[key] = policy
        return policy

    def _ids_of(self, names: Specials, argument: str) -> list[int]:
        if isinstance(names, str):
            if names != "all":
                raise TypeError(
                    f'{argument} must be "all" or a collection of special tokens, got {names!r}'
                )
            return []
        unknown = [n for n in names if n not in self._special_ids]
        if unknown:
            raise ValueError(f"{argument}: {unknown!r} are not special tokens of this tokenizer")
        return [self._special_ids[n] for n in names]

    # ---------------------------------------------------------------- decoding
    def decode(
        self, ids: Sequence[int], *, errors: str = "replace", skip_special_tokens: bool = False
    ) -> str:
        """The text of ``ids``.

        ``errors`` is a Python codec error handler (``"replace"``, ``"strict"``,
        ``"ignore"``, ...) for byte sequences that are not valid UTF-8, which
        happens when ``ids`` split a character.
        """
        return self._native.decode(ids, skip_special_tokens, check_errors(errors))

    def decode_bytes(self, ids: Sequence[int], *, skip_special_tokens: bool = False) -> bytes:
        """The bytes of ``ids``."""
        return self._native.decode_bytes(ids, skip_special_tokens)

    def decode_batch(
        self,
        batch: Iterable[Sequence[int]],
        *,
        errors: str = "replace",
        skip_special_tokens: bool = False,
    ) -> list[str]:
        """The texts of many id lists, decoded in parallel."""
        return self._native.decode_batch(batch, skip_special_tokens, check_errors(errors))

    def __repr__(self) -> str:
        rule = self._native.rule
        return f"Tokenizer(vocab_size={self.vocab_size}, rule={rule!r}, pattern={self.pattern!r})"


def check_errors(errors: str) -> str:
    """``errors`` if it names a codec error handler, else a ValueError."""
    if errors not in ("replace", "strict", "ignore"):
        if not isinstance(errors, str):
            raise TypeError(f"errors must be a string, got {type(errors).__name__}")
        try:
            codecs.lookup_error(errors)
        except LookupError:
            raise ValueError(
                f"errors must name a codec error handler ('replace', 'strict', 'ignore', "
                f"'backslashreplace', ...), got {errors!r}"
            ) from None
    return errors


def _from_ranks_state(ranks: bytes, pattern: str | None, specials: dict[str, int]) -> Tokenizer:
    if pattern is None:
        raise ValueError("a rank-file tokenizer needs a pattern")
    return Tokenizer.from_tiktoken_bytes(ranks, pattern, specials)


def _specials_key(names: Specials, argument: str) -> str | frozenset[str]:
    """``names`` as a hashable key: the string itself, or a frozenset."""
    if isinstance(names, str):
        return names
    try:
        return frozenset(names)
    except TypeError:
        raise TypeError(
            f'{argument} must be "all" or a collection of special tokens, '
            f"got {type(names).__name__} {names!r}"
        ) from None
