"""Naive float64 / complex128 references for seqcore.scan.ssm_kernel and
seqcore.scan.ema: plain loops over the definitions, no tricks."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]


def _wide(x: Array) -> Array:
    return np.asarray(x).astype(np.complex128 if np.iscomplexobj(x) else np.float64)


def ssm_kernel(w: Array, z: Array, length: int) -> Array:
    """K[h, l] = sum_n w[h, n] * z[h, n] ** l, each power by ``**``."""
    w, z = _wide(w), _wide(z)
    channels, modes = w.shape
    out = np.zeros((channels, length), dtype=np.result_type(w, z))
    for h in range(channels):
        for step in range(length):
            for n in range(modes):
                out[h, step] += w[h, n] * z[h, n] ** step
    return out


def ssm_kernel_backward(w: Array, z: Array, grad_k: Array) -> tuple[Array, Array]:
    """PyTorch's conjugate convention, written out term by term:
    grad_w = sum_l g_l conj(z^l), grad_z = sum_l g_l conj(w l z^(l-1))."""
    w, z, grad_k = _wide(w), _wide(z), _wide(grad_k)
    channels, modes = w.shape
    dtype = np.result_type(w, z, grad_k)
    grad_w, grad_z = np.zeros(w.shape, dtype), np.zeros(w.shape, dtype)
    for h in range(channels):
        for n in range(modes):
            for step in range(grad_k.shape[1]):
                g = grad_k[h, step]
                grad_w[h, n] += g * np.conj(z[h, n] ** step)
                if step > 0:
                    grad_z[h, n] += g * np.conj(w[h, n] * step * z[h, n] ** (step - 1))
    return grad_w, grad_z


def _sigmoid(x: Array) -> Array:
    return 1.0 / (1.0 + np.exp(-x))


def ema(x: Array, alpha: Array, delta: Array, beta: Array, gamma: Array) -> Array:
    """Mega's damped EMA, one time step at a time, in float64."""
    x, alpha, delta, beta, gamma = (_wide(a) for a in (x, alpha, delta, beta, gamma))
    batch, time, dim = x.shape
    p = _sigmoid(alpha)
    q = 1.0 - p * _sigmoid(delta)
    h = np.zeros((batch, dim, alpha.shape[1]))
    y = np.zeros((batch, time, dim))
    for t in range(time):
        h = p * beta * x[:, t, :, None] + q * h
        y[:, t] = (gamma * h).sum(axis=-1)
    return y
