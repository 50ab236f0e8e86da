"""Naive float64 reference of the selective scan (mamba-ssm semantics).

A loop over time and every state, in float64, written for clarity only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]


def softplus(x: Array) -> Array:
    return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20))))


def selective_scan(
    u: Array, delta: Array, A: Array, B: Array, C: Array, D: Array | None = None,
    z: Array | None = None, delta_bias: Array | None = None, delta_softplus: bool = False,
) -> tuple[Array, Array]:  # fmt: skip
    """Returns (out, last_state) in float64."""
    u, delta = (np.asarray(x, np.float64) for x in (u, delta))
    is_complex = np.iscomplexobj(A)
    wide = np.complex128 if is_complex else np.float64
    A, B, C = (np.asarray(x, wide) for x in (A, B, C))
    batch, dim, length = u.shape
    states = A.shape[1]
    if delta_bias is not None:
        delta = delta + np.asarray(delta_bias, np.float64)[None, :, None]
    if delta_softplus:
        delta = softplus(delta)

    def projection(P: Array, b: int, d: int, t: int) -> Array:
        if P.ndim == 2:
            return P[d]
        if P.ndim == 3:
            return P[b, :, t]
        groups = P.shape[1]
        return P[b, d // (dim // groups), :, t]

    out = np.zeros((batch, dim, length))
    last = np.zeros((batch, dim, states), dtype=wide)
    for b in range(batch):
        for d in range(dim):
            x = np.zeros(states, dtype=wide)
            for t in range(length):
                dt = delta[b, d, t]
                x = np.exp(dt * A[d]) * x + dt * projection(B, b, d, t) * u[b, d, t]
                product = np.dot(x, projection(C, b, d, t))
                # Complex states read out 2 Re(C x), the conjugate-pair half.
                y = 2 * float(product.real) if is_complex else float(product)
                if D is not None:
                    y += float(D[d]) * u[b, d, t]
                if z is not None:
                    zt = float(z[b, d, t])
                    y *= zt / (1 + np.exp(-zt))
                out[b, d, t] = y
            last[b, d] = x
    return out, last
