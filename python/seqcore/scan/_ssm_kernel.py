"""``seqcore.scan.ssm_kernel``: the convolution kernel of a diagonal SSM."""

from __future__ import annotations

import operator
from typing import TypeVar

from seqcore import _core
from seqcore._inputs import as_kernel_array, result_dtype
from seqcore._torch import is_tensor

ArrayT = TypeVar("ArrayT")


def check_length(length: object) -> int:
    """``length`` as a non-negative int, or TypeError / ValueError."""
    if isinstance(length, bool):
        raise TypeError("length must be an int, got bool")
    try:
        value = operator.index(length)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"length must be an int, got {type(length).__name__}") from None
    if value < 0:
        raise ValueError(f"length must be non-negative, got {value}")
    return value


def ssm_kernel(w: ArrayT, z: ArrayT, length: int) -> ArrayT:
    """Vandermonde product ``K[h, l] = sum_n w[h, n] * z[h, n] ** l``, ``l < length``.

    This is the convolution kernel of a diagonal linear recurrence
    ``h_l = z * h_{l-1} + x_l``, ``y_l = sum_n w_n h_l,n`` (per channel ``h``):
    ``y = K * x`` (causal convolution). For S4D, ``w = C * dB`` and
    ``z = dA``, and the real kernel of the conjugate-pair model is
    ``2 * K.real``.

    Args:
        w: weights, shape ``(channels, modes)``.
        z: the diagonal, same shape and dtype as ``w``.
        length: number of kernel taps ``L``.

    Returns:
        ``K``, shape ``(channels, length)``, the dtype of the inputs.

    Dtypes are float32, float64, complex64 and complex128 (float16 and
    bfloat16 are computed in float32). Whatever the dtype, the kernel is
    computed in float64 and rounded once: powers by repeated multiplication
    lose ``~length * eps`` relative accuracy, which in float32 would be
    ``5e-4`` at ``length = 8192``. Work is parallel over channels.

    numpy arrays give a numpy array; torch tensors give a tensor that is
    differentiable with respect to ``w`` and ``z`` (PyTorch's conjugate
    convention; the backward pass is one Rust pass over ``grad_K``).

    Example:
        >>> import numpy as np, seqcore
        >>> seqcore.scan.ssm_kernel(np.array([[2.0]]), np.array([[0.5]]), 4).tolist()
        [[2.0, 1.0, 0.5, 0.25]]
    """
    length = check_length(length)
    if is_tensor(w) or is_tensor(z):
        from seqcore.ops.ssm_kernel import ssm_kernel_autograd

        return ssm_kernel_autograd(w, z, length)  # type: ignore[return-value]
    w_array, z_array = as_kernel_array("w", w), as_kernel_array("z", z)
    half = result_dtype(w, z)
    k = _core.ssm_kernel(w_array, z_array, length)
    return k.astype(half) if half is not None else k  # type: ignore[return-value]
