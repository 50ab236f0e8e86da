"""The byte-level BPE tokenizer: a thin Python face over the Rust core."""

from __future__ import annotations

import codecs
import contextlib
import gc
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Literal, TypeVar, Union

import numpy as np
import numpy.typing as npt

from seqcore import _core

PathLike = Union[str, "os.PathLike[str]"]
Specials = Literal["all"] | Collection[str]
_T = TypeVar("_T")

#: tokenizer.json files over this size are refused before they are read.
MAX_JSON_BYTES: int = _core.MAX_JSON_BYTES
#: tiktoken rank files over this size are refused before they are read.
MAX_RANK_FILE_BYTES: int = _core.MAX_RANK_FILE_BYTES


def read_capped(path: PathLike, cap: int, what: str) -> bytes:
    """Reads a file, refusing it before reading when it is over ``cap`` bytes."""
    from seqcore.errors import TokenizerFormatError

    size = os.stat(path).st_size
    if size > cap:
        raise TokenizerFormatError(
            f"{what} {os.fspath(path)!r} is {size} bytes, over the {cap}-byte limit"
        )
    with open(path, "rb") as f:
        return f.read(cap + 1)


class Tokenizer:
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
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json())

    def save_tiktoken(self, path: PathLike) -> None:
        """Writes a tiktoken rank file (for tokenizers loaded from one)."""
        with open(path, "w", encoding="ascii") as f:
            f.write(self._native.to_ranks())

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
            allowed if isinstance(allowed, str) else frozenset(allowed),
            disallowed if isinstance(disallowed, str) else frozenset(disallowed),
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

    def encode(
        self,
        text: str,
        *,
        allowed_special: Specials = frozenset(),
        disallowed_special: Specials = "all",
        add_special_tokens: bool = True,
    ) -> list[int]:
        """The token ids of ``text``.

        Special tokens in the text raise :class:`seqcore.errors.DisallowedSpecialTokenError`
        unless allowed (``allowed_special={"<|endoftext|>"}`` or ``"all"``) or
        declared plain text (``disallowed_special=()``), as in tiktoken.
        ``add_special_tokens`` adds what a tokenizer.json post-processor adds
        (e.g. Llama-3's ``<|begin_of_text|>``), as Hugging Face does.
        """
        policy = self._policy(allowed_special, disallowed_special)
        return on_text(self._native.encode, text, policy, add_special_tokens)

    def encode_ordinary(self, text: str) -> list[int]:
        """The ids of ``text`` with special tokens treated as plain text."""
        return on_text(self._native.encode, text, self._policy((), ()), False)

    def encode_to_numpy(
        self,
        text: str,
        *,
        allowed_special: Specials = frozenset(),
        disallowed_special: Specials = "all",
        add_special_tokens: bool = True,
    ) -> npt.NDArray[np.uint32]:
        """:meth:`encode` as a ``uint32`` numpy array: no Python int per token,
        so it is faster for long texts."""
        policy = self._policy(allowed_special, disallowed_special)
        return on_text(self._native.encode_to_numpy, text, policy, add_special_tokens)

    def encode_with_offsets(
        self,
        text: str,
        *,
        allowed_special: Specials = frozenset(),
        disallowed_special: Specials = "all",
        add_special_tokens: bool = True,
    ) -> tuple[list[int], list[tuple[int, int]]]:
        """The ids and, per token, its ``(start, end)`` character span in ``text``.

        A token holding part of a character's bytes spans that whole character.
        """
        policy = self._policy(allowed_special, disallowed_special)
        return spans_on_text(self._native.encode_with_offsets, text, policy, add_special_tokens)

    def encode_with_offsets_to_numpy(
        self,
        text: str,
        *,
        allowed_special: Specials = frozenset(),
        disallowed_special: Specials = "all",
        add_special_tokens: bool = True,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]:
        """:meth:`encode_with_offsets` as numpy arrays: ``uint32`` ids and
        ``int64`` character spans of shape ``(tokens, 2)``. Building a tuple
        per token is most of the list form's time; this skips it."""
        policy = self._policy(allowed_special, disallowed_special)
        native = self._native.encode_with_offsets_to_numpy
        return spans_on_text(native, text, policy, add_special_tokens)

    def encode_batch(
        self,
        texts: Iterable[str],
        *,
        allowed_special: Specials = frozenset(),
        disallowed_special: Specials = "all",
        add_special_tokens: bool = True,
    ) -> list[list[int]]:
        """The ids of many texts, encoded in parallel with the GIL released."""
        policy = self._policy(allowed_special, disallowed_special)
        return encode_batch_with(self._native.encode_batch, texts, policy, add_special_tokens)

    def encode_batch_to_numpy(
        self,
        texts: Iterable[str],
        *,
        allowed_special: Specials = frozenset(),
        disallowed_special: Specials = "all",
        add_special_tokens: bool = True,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]:
        """:meth:`encode_batch` as two numpy arrays: every text's ids one after
        another (``uint32``) and ``bounds`` (``int64``, one more than the
        texts): text ``i``'s ids are ``ids[bounds[i]:bounds[i + 1]]``. No
        Python object per id, so it is much faster for large batches."""
        policy = self._policy(allowed_special, disallowed_special)
        native = self._native.encode_batch_to_numpy
        return encode_batch_with(native, texts, policy, add_special_tokens)

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


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pauses Python's cyclic garbage collector while a batch result is built.

    Building thousands of lists would otherwise start a collection every
    few hundred of them, each walking every tracked object: on short texts
    that serial work was most of the time a second thread could save.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


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


def encode_batch_with(
    method: Callable[..., _T],
    texts: Iterable[str],
    policy: _core.SpecialPolicy | None,
    add_special_tokens: bool,
) -> _T:
    """Batch encoding for both tokenizers and both result forms (a native
    ``encode_batch`` or ``encode_batch_to_numpy``): argument checks, lone
    surrogates as in :func:`replace_surrogates`, the GC paused while lists
    are built."""
    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of strings, got a single string")
    texts = texts if isinstance(texts, list) else list(texts)
    with gc_paused():
        try:
            return method(texts, policy, add_special_tokens)
        except UnicodeEncodeError:
            return method(texts_without_surrogates(texts), policy, add_special_tokens)


def on_text(method: Callable[..., _T], text: str, *args: object) -> _T:
    """``method(text, *args)``; if ``text`` holds lone surrogates (which
    UTF-8 cannot encode), again with them replaced."""
    try:
        return method(text, *args)
    except UnicodeEncodeError:
        return method(replace_surrogates(text), *args)


_Spans = TypeVar("_Spans", list[tuple[int, int]], "npt.NDArray[np.int64]")


def spans_on_text(
    method: Callable[..., tuple[_T, _Spans]], text: str, *args: object
) -> tuple[_T, _Spans]:
    """:func:`on_text` for a method that also returns character spans: a
    surrogate pair (two code points here, one character once replaced)
    shifts the spans after it, so they are mapped back onto ``text``."""
    try:
        return method(text, *args)
    except UnicodeEncodeError:
        fixed = replace_surrogates(text)
        ids, spans = method(fixed, *args)
        if len(fixed) == len(text):
            return ids, spans
        # where[j]: the index in ``text`` of the fixed text's character j.
        where = []
        i = 0
        while i < len(text):
            where.append(i)
            pair = "\ud800" <= text[i] <= "\udbff" and "\udc00" <= text[i + 1 : i + 2] <= "\udfff"
            i += 2 if pair else 1
        where.append(len(text))
        if isinstance(spans, np.ndarray):
            return ids, np.asarray(where, dtype=np.int64)[spans]
        return ids, [(where[start], where[end]) for start, end in spans]


def replace_surrogates(text: str) -> str:
    """Lone surrogates (not encodable as UTF-8) become U+FFFD, as in tiktoken."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def texts_without_surrogates(texts: list[str]) -> list[str]:
    """``texts`` with lone surrogates replaced (other items left for the type check)."""
    return [replace_surrogates(t) if isinstance(t, str) else t for t in texts]


def _from_ranks_state(ranks: bytes, pattern: str | None, specials: dict[str, int]) -> Tokenizer:
    if pattern is None:
        raise ValueError("a rank-file tokenizer needs a pattern")
    return Tokenizer.from_tiktoken_bytes(ranks, pattern, specials)
