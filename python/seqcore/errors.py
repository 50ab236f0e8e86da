"""Exceptions raised by seqcore.

Bad arguments raise the built-in class that fits (``TypeError`` for dtypes
and types, ``ValueError`` for shapes and values, ``IndexError`` for ids out
of range). Everything else derives from :class:`SeqcoreError`; a class that
also describes bad input derives from the matching built-in as well, so
``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "DisallowedSpecialTokenError",
    "InternalError",
    "SeqcoreError",
    "TokenizerFormatError",
]


class SeqcoreError(Exception):
    """Base class of seqcore's own exceptions."""


class InternalError(SeqcoreError, RuntimeError):
    """A bug in seqcore (for example a Rust panic). Please report it."""


class TokenizerFormatError(SeqcoreError, ValueError):
    """A tokenizer, rank or multi-word file is malformed, truncated or too large.

    The message names what is wrong and where (a JSON path or a line number).
    """


class DisallowedSpecialTokenError(SeqcoreError, ValueError):
    """The text contains a special token that the caller did not allow.

    Pass it in ``allowed_special`` to encode it as a special token, or use
    ``disallowed_special=()`` to encode it as plain text.
    """


class ModelFormatError(SeqcoreError, ValueError):
    """A saved model folder is missing a file, malformed, of another version,
    or its weights do not fit its description. The message names the file."""
