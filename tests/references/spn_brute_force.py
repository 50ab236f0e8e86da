"""Naive float64 references for seqcore.nn.spn.

* :func:`region_graph_values` evaluates an SPN node by node from its region
  graph, its per-region weights (``SPN.log_weights``) and leaf parameters
  (``SPN.leaf_parameters``), with plain numpy loops. It shares none of the
  module's index tensors, so it checks the vectorised wiring; ``semiring="max"``
  gives the max-product value (one induced tree) instead of the sum.
* :func:`binary_assignments`, :func:`completions` enumerate values for
  brute-force sums and maxima over Bernoulli variables;
  :func:`grid_integral` integrates a Gaussian SPN numerically.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import torch


def binary_assignments(num_vars: int) -> np.ndarray:
    """All ``2**num_vars`` 0/1 rows, ``(2**num_vars, num_vars)`` float64."""
    return np.array(list(itertools.product([0.0, 1.0], repeat=num_vars)), dtype=np.float64)


def completions(x: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """Every 0/1 filling of the ``hidden`` entries of the row ``x``: ``(2**h, D)``."""
    idx = np.flatnonzero(hidden)
    rows = np.repeat(x[None, :], 2 ** len(idx), axis=0).astype(np.float64)
    rows[:, idx] = binary_assignments(len(idx))
    return rows


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.squeeze(top, axis) + np.log(np.sum(np.exp(a - top), axis=axis))


def _leaf_values(spn, region: int, x: np.ndarray, hidden: np.ndarray, semiring: str) -> np.ndarray:
    """``(batch, K)``: each component is a product of one leaf per scope variable."""
    params = {k: v.detach().double().numpy() for k, v in spn.leaf_parameters(region).items()}
    total = np.zeros((x.shape[0], spn.num_input_distributions))
    for row, var in enumerate(spn.region_graph.regions[region]):
        xv = x[:, var : var + 1]
        if spn.leaf == "gaussian":
            mean, log_std = params["means"][row], params["log_stds"][row]
            std = np.exp(log_std)
            peak = -log_std - 0.5 * math.log(2 * math.pi)
            logp = peak - 0.5 * ((xv - mean) / std) ** 2
        else:
            logit = params["logits"][row]
            log_one, log_zero = -np.logaddexp(0.0, -logit), -np.logaddexp(0.0, logit)
            logp = np.where(xv > 0.5, log_one, log_zero)
            peak = np.maximum(log_one, log_zero)
        h = hidden[:, var : var + 1]
        fill = 0.0 if semiring == "sum" else np.broadcast_to(peak, logp.shape)
        total += np.where(h, fill, logp)
    return total


def region_graph_values(
    spn, x: np.ndarray, hidden: np.ndarray | None = None, semiring: str = "sum"
) -> np.ndarray:
    """``(batch, num_outputs)`` root log-values, computed region by region.

    ``hidden`` (bool ``(batch, D)``) variables are integrated out (sum) or
    maximised over (max).
    """
    graph = spn.region_graph
    x = np.asarray(x, dtype=np.float64)
    hidden = np.zeros(x.shape, dtype=bool) if hidden is None else np.asarray(hidden, dtype=bool)
    reduce: Callable[[np.ndarray, int], np.ndarray] = (
        _logsumexp if semiring == "sum" else (lambda a, axis: np.max(a, axis=axis))
    )
    cache: dict[int, np.ndarray] = {}

    def value(region: int) -> np.ndarray:
        if region in cache:
            return cache[region]
        if graph.is_leaf(region):
            inputs = _leaf_values(spn, region, x, hidden, semiring)
            if region != 0:
                cache[region] = inputs
                return inputs
        else:
            columns = []
            for children in graph.partitions_of(region):
                vectors = [value(c) for c in children]
                for combo in itertools.product(*[range(v.shape[1]) for v in vectors]):
                    columns.append(sum(v[:, k] for v, k in zip(vectors, combo, strict=True)))
            inputs = np.stack(columns, axis=1)
        log_w = spn.log_weights(region).detach().double().numpy()  # (num_out, num_inputs)
        out = reduce(inputs[:, None, :] + log_w[None, :, :], 2)
        cache[region] = out
        return out

    return value(0)


def grid_integral(values: torch.Tensor, step: float, dims: int) -> torch.Tensor:
    """Trapezoid rule over the leading ``dims`` axes of a grid of density values."""
    out = values
    for _ in range(dims):
        out = torch.trapezoid(out, dx=step, dim=0)
    return out
