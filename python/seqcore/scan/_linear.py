"""``seqcore.scan.linear``: h_t = a_t * h_{t-1} + b_t."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from seqcore import _core
from seqcore._inputs import as_kernel_array, result_dtype
from seqcore._torch import is_tensor

ArrayT = TypeVar("ArrayT")


def linear(
    a: ArrayT,
    b: ArrayT,
    h0: Any | None = None,
    *,
    reverse: bool = False,
    out: npt.NDArray[Any] | None = None,
) -> ArrayT:
    """Diagonal linear recurrence ``h_t = a_t * h_{t-1} + b_t`` along time.

    Args:
        a: gates, shape ``(batch, time, dim)``.
        b: inputs, same shape and dtype as ``a``.
        h0: state before the first step, shape ``(batch, dim)``; zero if None.
        reverse: run from the last step to the first,
            ``h_t = a_t * h_{t+1} + b_t``, with ``h0`` the state after the end.
        out: numpy only: a C-contiguous array of the result's shape and
            dtype to write ``h`` into (saves allocating in a loop). It must
            not share memory with the inputs.

    Returns:
        ``h``, shape ``(batch, time, dim)``, the dtype of the inputs.

    Dtypes are float32, float64, complex64 and complex128 (``a``, ``b`` and
    ``h0`` alike; mixing raises TypeError). float16 (and, for torch,
    bfloat16) is computed in float32 and returned in the input dtype.

    numpy arrays give a numpy array. torch tensors give a tensor that is
    differentiable with respect to ``a``, ``b`` and ``h0`` (complex
    gradients follow PyTorch's conjugate convention); the backward pass is
    one reverse scan in Rust. Contiguous input is read in place, anything
    else is copied to a contiguous array first.

    The scan runs sequentially in time, parallel over batch and dim (see
    :func:`seqcore.set_num_threads`): no cumulative product of the gates is
    ever formed, so any length is numerically safe.

    Example:
        >>> import numpy as np, seqcore
        >>> a = np.full((1, 3, 1), 0.5)
        >>> b = np.ones((1, 3, 1))
        >>> seqcore.scan.linear(a, b)[0, :, 0].tolist()
        [1.0, 1.5, 1.75]
    """
    if is_tensor(a) or is_tensor(b) or is_tensor(h0):
        from seqcore.ops.linear_scan import linear_scan_autograd

        if out is not None:
            raise TypeError("out= is supported for numpy arrays only, not torch tensors")
        return linear_scan_autograd(a, b, h0, reverse)  # type: ignore[return-value]
    if not isinstance(reverse, bool):
        raise TypeError(f"reverse must be a bool, got {type(reverse).__name__}")
    a_array = as_kernel_array("a", a)
    b_array = as_kernel_array("b", b)
    h0_array = None if h0 is None else as_kernel_array("h0", h0)
    half = result_dtype(a, b, *([] if h0 is None else [h0]))
    if out is not None:
        if half is not None:
            raise TypeError("out= is not supported for float16 inputs")
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
        return _core.linear_scan(a_array, b_array, h0_array, reverse, out)  # type: ignore[return-value]
    h = _core.linear_scan(a_array, b_array, h0_array, reverse)
    return h.astype(half) if half is not None else h  # type: ignore[return-value]


def linear_bidirectional(a: ArrayT, b: ArrayT, a_reverse: ArrayT | None = None) -> ArrayT:
    """Forward and reverse linear scans combined into one quasiseparable mix.

    .. code-block:: text

        forward_t  = a_t * forward_{t-1} + b_t
        backward_t = r_t * backward_{t+1} + b_t        (r = a_reverse, or a)
        h_t        = forward_t + backward_t - b_t

    so ``h = (L + U - I) b`` with ``L`` lower and ``U`` upper triangular
    (semiseparable) matrices: every position sees the whole sequence and its
    own input once, as in Hydra's quasiseparable mixer.

    Args:
        a, b: ``(batch, time, dim)``, as for :func:`linear`.
        a_reverse: gates of the reverse direction (default ``a``).

    Returns:
        ``h``, shape ``(batch, time, dim)``; numpy or torch like the inputs,
        differentiable for torch.
    """
    forward = linear(a, b)
    backward = linear(a if a_reverse is None else a_reverse, b, reverse=True)
    return forward + backward - b  # type: ignore[no-any-return, operator]
