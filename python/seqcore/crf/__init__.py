"""Conditional random fields over label sequences (work in progress: the
tagging-scheme constraints)."""

from __future__ import annotations

from seqcore.crf._constraints import SCHEMES, allowed_transitions

__all__ = ["SCHEMES", "allowed_transitions"]
