"""``seqcore.scan.selective_bidirectional``: Hydra's quasiseparable mixer."""

from __future__ import annotations

from typing import Any

import numpy as np

from seqcore._torch import is_tensor
from seqcore.scan._selective import selective


def selective_bidirectional(
    u: Any,
    delta: Any,
    A: Any,
    B: Any,
    C: Any,
    D: Any | None = None,
    z: Any | None = None,
    delta_bias: Any | None = None,
    delta_softplus: bool = False,
) -> Any:
    """Forward and reverse selective scans combined as in Hydra (Hwang et al.
    2024, "Hydra: Bidirectional State Space Models Through Generalized
    Matrix Mixers"):

    .. code-block:: text

        y   = shift(SS(u)) + flip(shift(SS(flip(u)))) + D u
        out = y * silu(z)                                  (if z is given)

    where ``SS`` is :func:`seqcore.scan.selective` without ``D`` and ``z``,
    ``flip`` reverses time (of ``u``, ``delta`` and input-dependent B, C) and
    ``shift`` delays by one step. The result is ``M u`` for a quasiseparable
    matrix ``M``: entry ``(t, s)`` is ``C_{t-1} A_{t-1:s} B_s dt_s`` below the
    diagonal, ``C_{t+1} A_{t+1:s} B_s dt_s`` above it, and ``D`` on it, so
    every position sees the whole sequence and its own input once.

    Arguments, shapes and dtypes are those of :func:`seqcore.scan.selective`
    (including complex ``A``); numpy in gives numpy out, torch in gives a
    differentiable tensor.
    """
    length = np.shape(u)[-1]
    forward = selective(u, delta, A, B, C, delta_bias=delta_bias, delta_softplus=delta_softplus)
    u_r, delta_r, B_r, C_r = (_flip_time(x, length) for x in (u, delta, B, C))
    backward = selective(
        u_r, delta_r, A, B_r, C_r, delta_bias=delta_bias, delta_softplus=delta_softplus
    )
    y = _shift(forward) + _flip_time(_shift(backward), length)
    if D is not None:
        y = y + D[:, None] * u
    if z is not None:
        y = y * _silu(z)
    return y


def _flip_time(x: Any, length: int) -> Any:
    """Reverses the time axis (the last); leaves time-invariant (dim, N)
    projections alone, and keeps mamba-ssm's interleaved (real, imaginary)
    pairs of a last axis of 2 * length together."""
    if x.ndim == 2:
        return x
    if x.shape[-1] == 2 * length and length > 0 and not _is_complex(x):
        pairs = x.reshape(*x.shape[:-1], length, 2)
        flipped = pairs.flip(-2) if is_tensor(x) else pairs[..., ::-1, :]
        return flipped.reshape(x.shape)
    return x.flip(-1) if is_tensor(x) else x[..., ::-1]


def _shift(y: Any) -> Any:
    """Delays by one step along time: ``out[..., t] = y[..., t - 1]``, zero at 0."""
    if is_tensor(y):
        import torch.nn.functional as F

        return F.pad(y, (1, 0))[..., : y.shape[-1]]
    out = np.zeros_like(y)
    out[..., 1:] = y[..., :-1]
    return out


def _silu(z: Any) -> Any:
    if is_tensor(z):
        import torch.nn.functional as F

        return F.silu(z)
    return z / (1 + np.exp(-z))


def _is_complex(x: Any) -> bool:
    return bool(x.is_complex()) if is_tensor(x) else bool(np.iscomplexobj(x))
