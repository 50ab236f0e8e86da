"""``seqcore.scan.selective``: Mamba's selective scan, mamba-ssm semantics."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from seqcore import _core
from seqcore._inputs import as_kernel_array
from seqcore._torch import is_tensor

Array = npt.NDArray[Any]


def selective(
    u: Any,
    delta: Any,
    A: Any,
    B: Any,
    C: Any,
    D: Any | None = None,
    z: Any | None = None,
    delta_bias: Any | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> Any:
    """The selective scan of Mamba, a drop-in for mamba-ssm's ``selective_scan_fn``.

    .. code-block:: text

        dt_t   = softplus(delta_t + delta_bias)   (softplus only if delta_softplus)
        x_t[n] = exp(dt_t A[n]) x_{t-1}[n] + dt_t B_t[n] u_t
        y_t    = sum_n C_t[n] x_t[n] + D u_t
        out_t  = y_t * silu(z_t)                   (if z is given)

    for every batch element and channel, with ``x_{-1} = 0``.

    Args:
        u, delta: ``(batch, dim, length)``.
        A: ``(dim, N)``, real or complex. With complex ``A`` the states are
            complex and ``y_t = 2 Re(sum_n C_t[n] x_t[n])``, as in mamba-ssm.
        B, C: ``(dim, N)`` (time-invariant), or ``(batch, N, length)`` /
            ``(batch, groups, N, length)`` (input-dependent; channel ``d``
            uses group ``d // (dim // groups)``). With complex ``A``,
            input-dependent B and C come as mamba-ssm passes them: real, with
            a last axis of ``2 * length`` holding (real, imaginary) pairs; a
            complex array of length ``length`` is accepted too.
        D, delta_bias: ``(dim,)`` or None.
        z: ``(batch, dim, length)`` or None.
        delta_softplus: apply softplus to ``delta + delta_bias``.
        return_last_state: also return the state after the last step.

    Returns:
        ``out`` of shape ``(batch, dim, length)`` in the dtype of ``u``, and
        with ``return_last_state`` also ``last_state`` ``(batch, dim, N)``
        in the compute dtype.

    Everything is computed in float32 (float64 when ``u`` is float64), like
    mamba-ssm's reference. numpy arrays give numpy arrays; torch tensors
    give tensors differentiable with respect to every input (also through
    ``last_state``), computed in Rust by a reverse scan that recomputes the
    states of one channel at a time instead of storing them all.

    Example:
        >>> import numpy as np, seqcore
        >>> u = np.ones((1, 2, 3), np.float32); delta = np.full((1, 2, 3), 0.5, np.float32)
        >>> A = -np.ones((2, 4), np.float32); B = C = np.ones((2, 4), np.float32)
        >>> seqcore.scan.selective(u, delta, A, B, C).shape
        (1, 2, 3)
    """
    args = (u, delta, A, B, C, D, z, delta_bias)
    if any(is_tensor(x) for x in args):
        from seqcore.ops.selective_scan import selective_scan_autograd

        out_t, last_t = selective_scan_autograd(*args, delta_softplus)
        return (out_t, last_t) if return_last_state else out_t
    for name, flag in (
        ("delta_softplus", delta_softplus),
        ("return_last_state", return_last_state),
    ):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
    names = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")
    arrays = [
        None if x is None else as_kernel_array(n, x) for n, x in zip(names, args, strict=True)
    ]
    for name, array in zip(names, arrays, strict=True):
        if name not in ("A", "B", "C") and array is not None and np.iscomplexobj(array):
            raise TypeError(f"{name} must be real, got {array.dtype}")
    u_in = arrays[0]
    assert u_in is not None
    compute = np.float64 if u_in.dtype == np.float64 else np.float32
    A_in, B_in, C_in = arrays[2:5]
    assert A_in is not None and B_in is not None and C_in is not None
    if not np.iscomplexobj(A_in) and (np.iscomplexobj(B_in) or np.iscomplexobj(C_in)):
        raise TypeError("B and C may be complex only when A is complex")
    real = [
        None if a is None or np.iscomplexobj(a) else np.ascontiguousarray(a, dtype=compute)
        for a in arrays
    ]
    u_c, delta_c, A_c, B_c, C_c = real[:5]
    assert u_c is not None and delta_c is not None
    D_c, z_c, bias_c = real[5:]
    if np.iscomplexobj(A_in):
        state = np.complex128 if compute == np.float64 else np.complex64
        A_c = np.ascontiguousarray(A_in, dtype=state)
        B_c = complex_projection(B_in, "B", u_c.shape[-1], state)
        C_c = complex_projection(C_in, "C", u_c.shape[-1], state)
    assert A_c is not None and B_c is not None and C_c is not None
    out, last = _core.selective_scan(
        u_c, delta_c, A_c, grouped(B_c), grouped(C_c), D_c, z_c, bias_c, delta_softplus
    )
    if np.asarray(u).dtype == np.float16:
        out = out.astype(np.float16)
    return (out, last) if return_last_state else out


def complex_projection(x: Array, name: str, length: int, dtype: Any) -> Array:
    """B or C for complex states: complex as given, or mamba-ssm's real
    layout with (real, imaginary) pairs along a last axis of 2 * length."""
    if np.iscomplexobj(x) or x.ndim == 2:
        return np.ascontiguousarray(x, dtype=dtype)
    if x.shape[-1] != 2 * length:
        raise ValueError(
            f"with complex A, an input-dependent {name} must be complex or real with a last "
            f"axis of 2 * length = {2 * length} (real, imaginary pairs), got shape {x.shape}"
        )
    real = np.ascontiguousarray(x, dtype=np.float64 if dtype == np.complex128 else np.float32)
    return real.view(dtype)


def grouped(x: Array) -> Array:
    """``(batch, N, length)`` B or C as ``(batch, 1, N, length)``."""
    return x[:, None] if x.ndim == 3 else x
