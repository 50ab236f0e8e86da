"""``seqcore::selective_scan``: Mamba's selective scan as a torch custom op."""

from __future__ import annotations

from typing import Any

import torch

from seqcore import _core
from seqcore.ops._convert import from_numpy, optional_numpy, to_numpy

Optional = torch.Tensor | None


@torch.library.custom_op("seqcore::selective_scan", mutates_args=(), device_types="cpu")
def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: Optional,
    z: Optional,
    delta_bias: Optional,
    delta_softplus: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(out, last_state); B and C already 2-D or 4-D, all one real dtype."""
    out, last = _core.selective_scan(
        to_numpy(u), to_numpy(delta), to_numpy(A), to_numpy(B), to_numpy(C),
        optional_numpy(D), optional_numpy(z), optional_numpy(delta_bias), delta_softplus,
    )  # fmt: skip
    return from_numpy(out), from_numpy(last)


@selective_scan.register_fake
def _(u, delta, A, B, C, D, z, delta_bias, delta_softplus):  # type: ignore[no-untyped-def]
    batch, dim, _ = u.shape
    return torch.empty_like(u), u.new_empty((batch, dim, A.shape[1]), dtype=A.dtype)


@torch.library.custom_op("seqcore::selective_scan_backward", mutates_args=(), device_types="cpu")
def selective_scan_backward(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: Optional,
    z: Optional,
    delta_bias: Optional,
    delta_softplus: bool,
    grad_out: torch.Tensor,
    grad_last_state: Optional,
) -> list[torch.Tensor]:
    """Gradients for (u, delta, A, B, C, D, z, delta_bias); absent inputs
    get an empty tensor (custom ops cannot return None)."""
    grads = _core.selective_scan_backward(
        to_numpy(u), to_numpy(delta), to_numpy(A), to_numpy(B), to_numpy(C),
        optional_numpy(D), optional_numpy(z), optional_numpy(delta_bias), delta_softplus,
        to_numpy(grad_out), optional_numpy(grad_last_state),
    )  # fmt: skip
    return [u.new_empty(0) if g is None else from_numpy(g) for g in grads]


@selective_scan_backward.register_fake
def _(u, delta, A, B, C, D, z, delta_bias, delta_softplus, grad_out, grad_last_state):  # type: ignore[no-untyped-def]
    like = [u, delta, A, B, C, D, z, delta_bias]
    return [u.new_empty(0) if x is None else torch.empty_like(x) for x in like]


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    *tensors, delta_softplus = inputs
    ctx.present = [t is not None for t in tensors]
    ctx.save_for_backward(*tensors)
    ctx.delta_softplus = delta_softplus


def _backward(ctx: Any, grad_out: torch.Tensor, grad_last: torch.Tensor | None) -> tuple[Any, ...]:
    tensors = ctx.saved_tensors
    grads = selective_scan_backward(*tensors, ctx.delta_softplus, grad_out, grad_last)
    return (*(g if present else None for g, present in zip(grads, ctx.present, strict=True)), None)


selective_scan.register_autograd(_backward, setup_context=_setup_context)

_NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


def _complex_projection(
    x: torch.Tensor, name: str, length: int, real: torch.dtype, state: torch.dtype
) -> torch.Tensor:
    """B or C for complex states (see seqcore.scan.selective)."""
    if x.is_complex() or x.dim() == 2:
        return x.to(state)
    if x.shape[-1] != 2 * length:
        raise ValueError(
            f"with complex A, an input-dependent {name} must be complex or real with a last "
            f"axis of 2 * length = {2 * length} (real, imaginary pairs), got shape {tuple(x.shape)}"
        )
    pairs = x.to(real).reshape(*x.shape[:-1], length, 2).contiguous()
    return torch.view_as_complex(pairs)


def selective_scan_autograd(
    u: Any, delta: Any, A: Any, B: Any, C: Any, D: Any, z: Any, delta_bias: Any,
    delta_softplus: bool,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """The torch path of seqcore.scan.selective: checks types, computes in
    float32 (float64 for float64 ``u``), and returns ``out`` in u's dtype."""
    values = (u, delta, A, B, C, D, z, delta_bias)
    for name, value in zip(_NAMES, values, strict=True):
        if value is not None and not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
        if value is not None and not (value.is_floating_point() or value.is_complex()):
            raise TypeError(f"{name} must have a floating dtype, got {value.dtype}")
        if value is not None and value.is_complex() and name not in ("A", "B", "C"):
            raise TypeError(f"{name} must be real, got {value.dtype}")
        if value is not None and value.device.type != "cpu":
            raise NotImplementedError(
                f"seqcore.scan.selective runs on CPU tensors for now, got {name} on {value.device}"
            )
    if not isinstance(delta_softplus, bool):
        raise TypeError(f"delta_softplus must be a bool, got {type(delta_softplus).__name__}")
    compute = torch.float64 if u.dtype == torch.float64 else torch.float32
    if not A.is_complex() and (B.is_complex() or C.is_complex()):
        raise TypeError("B and C may be complex only when A is complex")
    ready = [None if v is None or v.is_complex() else v.to(compute) for v in values]
    if A.is_complex():
        state = torch.complex128 if compute == torch.float64 else torch.complex64
        ready[2] = A.to(state)
        for index, name in ((3, "B"), (4, "C")):
            ready[index] = _complex_projection(values[index], name, u.shape[-1], compute, state)
    for index in (3, 4):  # B, C: (batch, N, length) -> (batch, 1, N, length)
        value = ready[index]
        if value is not None and value.dim() == 3:
            ready[index] = value.unsqueeze(1)
    out, last = selective_scan(*ready, delta_softplus)
    return out.to(u.dtype), last
