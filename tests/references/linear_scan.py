"""Naive float64 / complex128 references for seqcore.scan.linear.

Written as plainly as possible: one Python loop over time, no tricks, so
that the kernels can be checked against it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]


def _wide(x: Array) -> Array:
    return x.astype(np.complex128 if np.iscomplexobj(x) else np.float64)


def linear_scan(a: Array, b: Array, h0: Array | None = None, reverse: bool = False) -> Array:
    """h_t = a_t * h_{t-1} + b_t along axis 1 of (batch, time, dim), in float64."""
    a, b = _wide(a), _wide(b)
    dtype = np.result_type(a, b, *([] if h0 is None else [h0]))
    out = np.zeros(a.shape, dtype=dtype)
    h = np.zeros((a.shape[0], a.shape[2]), dtype=dtype) if h0 is None else _wide(h0).astype(dtype)
    steps = range(a.shape[1] - 1, -1, -1) if reverse else range(a.shape[1])
    for t in steps:
        h = a[:, t] * h + b[:, t]
        out[:, t] = h
    return out


def linear_scan_backward(
    a: Array, h: Array, grad_h: Array, h0: Array | None = None, reverse: bool = False
) -> tuple[Array, Array, Array]:
    """Gradients of sum(Re(conj(grad_h) * h)) for a, b and h0, by the chain
    rule written out step by step (PyTorch's conjugate convention)."""
    a, h, grad_h = _wide(a), _wide(h), _wide(grad_h)
    batch, time, dim = a.shape
    init = np.zeros((batch, dim), dtype=a.dtype) if h0 is None else _wide(h0)
    grad_a, grad_b = np.zeros_like(grad_h), np.zeros_like(grad_h)
    order = list(range(time - 1, -1, -1)) if reverse else list(range(time))
    carry = np.zeros((batch, dim), dtype=grad_h.dtype)
    for k in range(time - 1, -1, -1):
        t = order[k]
        previous = h[:, order[k - 1]] if k > 0 else init
        g = grad_h[:, t] + carry
        grad_b[:, t] = g
        grad_a[:, t] = g * np.conj(previous)
        carry = np.conj(a[:, t]) * g
    return grad_a, grad_b, carry
