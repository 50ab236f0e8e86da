"""Log-probs to drive seqcore's search machine with, shared by the
test_decode*.py files: random rows (EOS made likely, optionally with -inf
holes), a stand-in model whose rows depend only on a row's tokens, a host's
top-k, and the float32 running sum a hypothesis' score is built from."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

Array = np.ndarray


def _normalize(logits: Array, dtype: Any = np.float32) -> Array:
    """log_softmax over the finite entries (every row keeps one)."""
    top = logits.max(axis=1, keepdims=True)
    total = np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
    return (logits - top - total).astype(dtype)


def random_logprobs(
    rng: np.random.Generator, rows: int, vocab: int, eos: tuple[int, ...], holes: float = 0.0
) -> Array:
    """Random float32 log-probs with the EOS ids made likely. With `holes`,
    about half the rows get that fraction of -inf entries (one entry per row
    stays finite)."""
    logits = 2.0 * rng.standard_normal((rows, vocab))
    if eos:
        logits[:, list(eos)] += 2.5
    if holes:
        mask = (rng.random((rows, vocab)) < holes) & (rng.random((rows, 1)) < 0.5)
        mask[np.arange(rows), rng.integers(0, vocab, rows)] = False
        logits[mask] = -np.inf
    return _normalize(logits)


def sequence_logprobs(vocab: int, eos: tuple[int, ...]) -> Any:
    """A stand-in model: the log-probs of a row depend only on its tokens
    (prompt + generated), so rows with equal histories get equal rows."""

    def logprobs(tokens: tuple[int, ...]) -> Array:
        digest = hashlib.sha256(repr((vocab, tokens)).encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        return random_logprobs(rng, 1, vocab, eos)[0]

    return logprobs


def top_k(logprobs: Array, k: int) -> tuple[Array, Array]:
    """Each row's k best (ties: lower token id first), as a host's topk gives."""
    ids = np.argsort(-logprobs, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(logprobs, ids, axis=1)


def fold32(values: list[float]) -> np.float32:
    total = np.float32(0.0)
    for v in values:
        total = np.float32(total + np.float32(v))
    return total
