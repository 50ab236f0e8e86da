"""Linear-chain CRF by enumerating every label path (float64, tiny cases only)."""

from __future__ import annotations

import itertools
import math

import numpy as np


def path_score(
    emissions: np.ndarray, transitions: np.ndarray, start: np.ndarray, end: np.ndarray,
    path: tuple[int, ...],
) -> float:  # fmt: skip
    """start[y0] + sum emissions[t, yt] + sum transitions[y(t-1), yt] + end[y(n-1)]."""
    if not path:
        return 0.0
    total = float(start[path[0]]) + float(end[path[-1]])
    total += sum(float(emissions[t, y]) for t, y in enumerate(path))
    total += sum(float(transitions[a, b]) for a, b in itertools.pairwise(path))
    return total


def enumerate_paths(
    emissions: np.ndarray, transitions: np.ndarray, start: np.ndarray, end: np.ndarray,
    length: int,
) -> list[tuple[float, tuple[int, ...]]]:  # fmt: skip
    """Every path of ``length`` with its score."""
    labels = emissions.shape[1]
    return [
        (path_score(emissions, transitions, start, end, p), p)
        for p in itertools.product(range(labels), repeat=length)
    ]


def log_partition(scored: list[tuple[float, tuple[int, ...]]]) -> float:
    finite = [s for s, _ in scored if s != -math.inf]
    if not scored or (len(scored) == 1 and not scored[0][1]):
        return 0.0  # the empty sequence
    if not finite:
        return -math.inf
    top = max(finite)
    return top + math.log(sum(math.exp(s - top) for s in finite))


def marginals(scored: list[tuple[float, tuple[int, ...]]], length: int, labels: int) -> np.ndarray:
    out = np.zeros((length, labels))
    z = log_partition(scored)
    if z == -math.inf:
        return out
    for s, p in scored:
        if s != -math.inf:
            for t, y in enumerate(p):
                out[t, y] += math.exp(s - z)
    return out
