"""``seqcore.scan.gateloop``: GateLoop's matrix-state linear recurrence."""

from __future__ import annotations

from typing import Any

import numpy as np

from seqcore import _core
from seqcore._inputs import as_kernel_array
from seqcore._torch import is_tensor

MODES = ("auto", "chunked", "recurrent", "attention")
_NAMES = ("q", "k", "v", "a")


def gateloop(q: Any, k: Any, v: Any, a: Any, mode: str = "auto", chunk_size: int = 64) -> Any:
    """GateLoop (Katsch 2023): a linear recurrence with a matrix-valued state.

    .. code-block:: text

        S_t = diag(a_t) S_{t-1} + k_t^T v_t        (S_{-1} = 0; d_k x d_v)
        y_t = q_t S_t
            = sum_{s <= t} ((q_t * prod_{r=s+1..t} a_r) . k_s) v_s

    for every batch element and head. Complex inputs use plain
    (non-conjugated) products, as in the paper.

    Args:
        q, k, a: queries, keys and gates, ``(batch, length, heads, d_k)``.
        v: values, ``(batch, length, heads, d_v)``.
        mode: how to compute it; all give the same result (to rounding):

            * ``"auto"`` (default): the fastest for the device. On CPU that
              is ``"recurrent"``, measured 3-4x faster than ``"chunked"``
              forward and 1.7-2.5x forward and backward at lengths 512-8192
              (``benches/gateloop.py``); the chunked form is the training
              default where parallel hardware pays for its extra work, i.e.
              for the GPU kernels once they exist.
            * ``"chunked"``: chunks of ``chunk_size`` steps; attention
              form inside a chunk, the state recurrence between chunks.
              Rust, forward and backward.
            * ``"recurrent"``: the O(L) recurrence in Rust, forward and
              backward (the backward pass recomputes states from
              checkpoints instead of storing them).
            * ``"attention"``: the O(L^2) surrogate-attention form in Rust,
              forward and backward.

        chunk_size: the chunk length of ``"chunked"`` (the other modes ignore it).

    Returns:
        ``y``, shape ``(batch, length, heads, d_v)``.

    Dtypes: float32, float64, complex64, complex128, the same for all four
    arguments (mixing raises TypeError); float16 (and bfloat16 for torch)
    is computed in float32 and returned in its own dtype. Shapes that do
    not fit raise ValueError naming the argument.

    numpy arrays give a numpy array (every mode runs in Rust; torch is not
    needed). torch tensors give a tensor differentiable with respect to all
    four inputs (complex gradients follow PyTorch's conjugate convention).

    No mode forms a cumulative product of the gates or its inverse: the
    parallel modes build every product of gates as a running product over
    exactly its own range (never a logarithm or a quotient), so long
    float32 sequences with small gates stay finite and gates that are
    exactly 0 are exact in every mode, gradients included.

    Example:
        >>> import numpy as np, seqcore
        >>> ones = np.ones((1, 3, 1, 1))
        >>> seqcore.scan.gateloop(ones, ones, ones, 0.5 * ones, mode="recurrent")[0, :, 0, 0]
        array([1.  , 1.5 , 1.75])
    """
    check_options(mode, chunk_size)
    # Every supported device is a CPU for now (see the docstring).
    mode = "recurrent" if mode == "auto" else mode
    args = (q, k, v, a)
    if any(is_tensor(x) for x in args):
        return _gateloop_torch(args, mode, chunk_size)
    arrays = [as_kernel_array(name, x) for name, x in zip(_NAMES, args, strict=True)]
    check_dtypes([(name, x.dtype) for name, x in zip(_NAMES, arrays, strict=True)])
    check_shapes(*(x.shape for x in arrays))
    half = all(np.asarray(x).dtype == np.float16 for x in args)
    q_, k_, v_, a_ = arrays
    y = _core.gateloop(q_, k_, v_, a_, mode, chunk_size)
    return y.astype(np.float16) if half else y


def _gateloop_torch(args: tuple[Any, ...], mode: str, chunk_size: int) -> Any:
    import torch

    from seqcore.ops.gateloop import gateloop as gateloop_op

    for name, x in zip(_NAMES, args, strict=True):
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"{name} must be a torch.Tensor like the other arguments, got {type(x).__name__}"
            )
        if not (x.is_floating_point() or x.is_complex()):
            raise TypeError(f"{name} must have a floating or complex dtype, got {x.dtype}")
        if x.device.type != "cpu":
            raise NotImplementedError(
                f"seqcore.scan.gateloop runs on CPU tensors for now, got {name} on {x.device}"
            )
    check_dtypes([(name, x.dtype) for name, x in zip(_NAMES, args, strict=True)])
    check_shapes(*(tuple(x.shape) for x in args))
    out_dtype = args[0].dtype
    if out_dtype in (torch.float16, torch.bfloat16):
        args = tuple(x.float() for x in args)
    q, k, v, a = args
    form = "recurrent" if q.numel() == 0 or v.numel() == 0 else mode
    y = gateloop_op(q, k, v, a, form, chunk_size)
    return y.to(out_dtype)


def check_options(mode: object, chunk_size: object) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool):
        raise TypeError(f"chunk_size must be an int, got {type(chunk_size).__name__}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")


def check_dtypes(named: list[tuple[str, Any]]) -> None:
    """TypeError unless every argument has the dtype of ``q``."""
    first_name, first = named[0]
    for name, dtype in named[1:]:
        if dtype != first:
            raise TypeError(
                f"{first_name} and {name} must have the same dtype, got {first} and {dtype}"
            )


def check_shapes(*shapes: tuple[int, ...]) -> None:
    """ValueError naming the argument, with the Rust core's messages."""
    q, k, v, a = (tuple(s) for s in shapes)
    layouts = {"q": "(batch, length, heads, d_k)", "v": "(batch, length, heads, d_v)"}
    for name, shape in (("q", q), ("k", k), ("v", v), ("a", a)):
        if len(shape) != 4:
            layout = layouts.get(name, layouts["q"])
            raise ValueError(f"{name} must have 4 dimensions {layout}, got shape {shape}")
    for name, shape in (("k", k), ("a", a)):
        if shape != q:
            raise ValueError(f"q and {name} must have the same shape, got {q} and {shape}")
    if v[:3] != q[:3]:
        raise ValueError(f"v must have shape {layouts['v']} = {(*q[:3], v[3])}, got {v}")
