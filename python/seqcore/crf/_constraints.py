"""Which label transitions a tagging scheme allows.

A CRF with constraints gives disallowed transitions (and disallowed first
and last labels) a score of -inf, in training and decoding alike, so no
path that breaks the scheme ever has probability above zero. The schemes:

* ``"BIO"`` (IOB2): a chunk starts with ``B-X`` and goes on with ``I-X``;
  ``I-X`` only follows ``B-X`` or ``I-X``.
* ``"IOB1"``: chunks are ``I-X`` runs; ``B-X`` only separates two adjacent
  chunks of the same type, so it follows ``I-X`` or ``B-X``; a sequence
  never starts with ``B-X``.
* ``"BIOUL"`` (BILOU): ``B-X I-X* L-X`` for chunks of two or more, ``U-X``
  for one-label chunks; ``I-X`` and ``L-X`` follow ``B-X`` or ``I-X``.
* ``"BMES"``: ``B-X M-X* E-X``, or ``S-X`` alone (word segmentation).

Labels are strings like ``"B-PER"`` (``"O"`` is outside); the type after the
dash must match inside a chunk.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

SCHEMES = ("BIO", "IOB1", "BIOUL", "BMES")

# Per scheme: the tags a sequence may start with, end with, and which tag may
# follow which (the "same" set needs the same chunk type on both sides).
_START = {"BIO": "OB", "IOB1": "OI", "BIOUL": "OBU", "BMES": "BS"}
_END = {"BIO": "OBI", "IOB1": "OBI", "BIOUL": "OLU", "BMES": "ES"}
_ANY = {  # (from, to) pairs allowed whatever the types
    "BIO": {(a, b) for a in "OBI" for b in "OB"},
    "IOB1": {(a, b) for a in "OBI" for b in "OI"},
    "BIOUL": {(a, b) for a in "OLU" for b in "OBU"},
    "BMES": {(a, b) for a in "ES" for b in "BS"},
}
_SAME = {  # (from, to) pairs allowed only within one chunk type
    "BIO": {("B", "I"), ("I", "I")},
    "IOB1": {("B", "B"), ("I", "B")},
    "BIOUL": {("B", "I"), ("I", "I"), ("B", "L"), ("I", "L")},
    "BMES": {("B", "M"), ("M", "M"), ("B", "E"), ("M", "E")},
}


def _split(label: str, scheme: str) -> tuple[str, str]:
    if label == "O":
        if "O" not in _START[scheme] + _END[scheme]:
            raise ValueError(f'the {scheme} scheme has no "O" label')
        return "O", ""
    tag, dash, kind = label.partition("-")
    if not dash or len(tag) != 1 or tag not in "BIOULMES" or tag == "O" or not kind:
        raise ValueError(f'label {label!r} is not "O" or "<tag>-<type>" with a one-letter tag')
    letters = {"BIO": "BI", "IOB1": "BI", "BIOUL": "BILU", "BMES": "BMES"}[scheme]
    if tag not in letters:
        raise ValueError(f"label {label!r}: tag {tag!r} is not part of the {scheme} scheme")
    return tag, kind


def allowed_transitions(
    scheme: str, labels: Sequence[str]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(transitions (L, L), start (L), end (L)) masks of what ``scheme`` allows
    for ``labels`` (``transitions[i, j]``: label i may be followed by label j)."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    if isinstance(labels, str):
        raise TypeError("labels must be a sequence of label strings, not one string")
    parts = [_split(label, scheme) for label in labels]
    size = len(parts)
    transitions = np.zeros((size, size), dtype=bool)
    for i, (a, kind_a) in enumerate(parts):
        for j, (b, kind_b) in enumerate(parts):
            transitions[i, j] = (a, b) in _ANY[scheme] or (
                (a, b) in _SAME[scheme] and kind_a == kind_b
            )
    start = np.array([tag in _START[scheme] for tag, _ in parts], dtype=bool)
    end = np.array([tag in _END[scheme] for tag, _ in parts], dtype=bool)
    return transitions, start, end
