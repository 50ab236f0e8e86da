"""Naive float64 / complex128 reference for seqcore.scan.gateloop.

One Python loop over time with the d_k x d_v state written out, as in the
paper's recurrence; no tricks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]


def gateloop(q: Array, k: Array, v: Array, a: Array) -> Array:
    """S_t = diag(a_t) S_{t-1} + k_t^T v_t, y_t = q_t S_t, per (batch, head)."""
    args = [np.asarray(x) for x in (q, k, v, a)]
    wide = np.complex128 if any(np.iscomplexobj(x) for x in args) else np.float64
    q, k, v, a = (x.astype(wide) for x in args)
    batch, length, heads, d_k = q.shape
    d_v = v.shape[-1]
    y = np.zeros((batch, length, heads, d_v), dtype=wide)
    state = np.zeros((batch, heads, d_k, d_v), dtype=wide)
    for t in range(length):
        state = a[:, t, :, :, None] * state + k[:, t, :, :, None] * v[:, t, :, None, :]
        y[:, t] = np.einsum("bhi,bhij->bhj", q[:, t], state)
    return y
