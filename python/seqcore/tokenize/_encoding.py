"""The encode methods both tokenizers share (plain, multi-word), and the
handling of text that UTF-8 cannot encode.

Every form (ids as a list or an array, with or without offsets, one text
or a batch) differs only in the native method it calls and in how the
result is converted; the special-token policy comes from the class.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Generic, Literal, TypeVar

import numpy as np
import numpy.typing as npt

from seqcore import _core

Specials = Literal["all"] | Collection[str]
_T = TypeVar("_T")
#: The native object a tokenizer wraps; both have every encode form.
_Native = TypeVar("_Native", _core.Tokenizer, _core.MultiWord)


class EncodeForms(Generic[_Native]):
    """Mixin: the encode methods, over ``_native`` and ``_policy``."""

    __slots__ = ()
    _native: _Native

    def _policy(self, allowed: Specials, disallowed: Specials) -> _core.SpecialPolicy | None:
        raise NotImplementedError

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
        """The ids of ``text`` with special tokens treated as plain text, and no
        template tokens added."""
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
