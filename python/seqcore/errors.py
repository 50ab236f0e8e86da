"""Exceptions raised by seqcore.

Bad arguments raise the built-in class that fits (``TypeError`` for dtypes
and types, ``ValueError`` for shapes and values, ``IndexError`` for ids out
of range). Everything else derives from :class:`SeqcoreError`; a class that
also describes bad input derives from the matching built-in as well, so
``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = ["InternalError", "SeqcoreError"]


class SeqcoreError(Exception):
    """Base class of seqcore's own exceptions."""


class InternalError(SeqcoreError, RuntimeError):
    """A bug in seqcore (for example a Rust panic). Please report it."""
