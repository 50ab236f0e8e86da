"""Tagging-scheme masks against a chunk-level reading of each scheme."""

from __future__ import annotations

import itertools

import pytest

from seqcore.crf import allowed_transitions

LABELS = {
    "BIO": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"],
    "IOB1": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"],
    "BIOUL": ["O", "B-PER", "I-PER", "L-PER", "U-PER", "B-LOC", "L-LOC"],
    "BMES": ["B-W", "M-W", "E-W", "S-W", "B-N", "E-N"],
}


def _valid(scheme: str, seq: list[str]) -> bool:
    """Whether ``seq`` is well formed, read as chunks (independent of the masks)."""
    tags = [(lab[0], lab[2:]) for lab in seq]
    for i, (tag, kind) in enumerate(tags):
        before = tags[i - 1] if i > 0 else None
        after = tags[i + 1] if i + 1 < len(tags) else None
        inside = {"BIO": "I", "IOB1": "", "BIOUL": "IL", "BMES": "ME"}[scheme]
        opens = {"BIO": "B", "IOB1": "", "BIOUL": "BI", "BMES": "BM"}[scheme]
        may_precede = opens + ("I" if scheme == "BIO" else "")
        if tag in inside and (before is None or before[0] not in may_precede or before[1] != kind):
            return False
        if (
            scheme in ("BIOUL", "BMES")
            and tag in opens
            and (after is None or after[0] not in inside or after[1] != kind)
        ):
            return False
        if (
            scheme == "IOB1"
            and tag == "B"
            and (before is None or before[0] not in "IB" or before[1] != kind)
        ):
            return False
    return True


@pytest.mark.parametrize("scheme", sorted(LABELS))
def test_masks_allow_exactly_the_well_formed_sequences(scheme: str) -> None:
    labels = LABELS[scheme]
    transitions, start, end = allowed_transitions(scheme, labels)
    for length in range(1, 5):
        for seq in itertools.product(range(len(labels)), repeat=length):
            allowed = bool(start[seq[0]] and end[seq[-1]]) and all(
                transitions[a, b] for a, b in itertools.pairwise(seq)
            )
            assert allowed == _valid(scheme, [labels[i] for i in seq]), [labels[i] for i in seq]


def test_bad_schemes_and_labels() -> None:
    with pytest.raises(ValueError, match="scheme must be one of"):
        allowed_transitions("BIOES2", ["O"])
    with pytest.raises(ValueError, match="not part of the BIO scheme"):
        allowed_transitions("BIO", ["O", "U-PER"])
    with pytest.raises(ValueError, match='no "O" label'):
        allowed_transitions("BMES", ["O", "B-W"])
    with pytest.raises(ValueError, match="one-letter tag"):
        allowed_transitions("BIO", ["PER"])
    with pytest.raises(TypeError, match="not one string"):
        allowed_transitions("BIO", "O")
