"""``seqcore::linear_scan``: h_t = a_t * h_{t-1} + b_t as a torch custom op."""

from __future__ import annotations

from typing import Any

import torch

from seqcore import _core
from seqcore.ops._convert import from_numpy, optional_numpy, to_numpy

# Dtypes computed in float32 and returned in their own dtype.
_HALF = (torch.float16, torch.bfloat16)
_KERNEL = (torch.float32, torch.float64, torch.complex64, torch.complex128)


@torch.library.custom_op("seqcore::linear_scan", mutates_args=(), device_types="cpu")
def linear_scan(
    a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None, reverse: bool
) -> torch.Tensor:
    """h_t = a_t * h_{t-1} + b_t over ``(batch, time, dim)``; see seqcore.scan.linear."""
    h = _core.linear_scan(to_numpy(a), to_numpy(b), optional_numpy(h0), reverse)
    return from_numpy(h)


@linear_scan.register_fake
def _(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None, reverse: bool) -> torch.Tensor:
    check_shapes(a, b, h0)
    return torch.empty_like(a, memory_format=torch.contiguous_format)


@torch.library.custom_op("seqcore::linear_scan_backward", mutates_args=(), device_types="cpu")
def linear_scan_backward(
    a: torch.Tensor, h: torch.Tensor, grad_h: torch.Tensor, h0: torch.Tensor | None, reverse: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients (a, b, h0) of linear_scan, by one reverse scan."""
    grads = _core.linear_scan_backward(
        to_numpy(a), to_numpy(h), to_numpy(grad_h), optional_numpy(h0), reverse
    )
    grad_a, grad_b, grad_h0 = (from_numpy(g) for g in grads)
    return grad_a, grad_b, grad_h0


@linear_scan_backward.register_fake
def _(
    a: torch.Tensor, h: torch.Tensor, grad_h: torch.Tensor, h0: torch.Tensor | None, reverse: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    state = a.new_empty((a.shape[0], a.shape[2]))
    return torch.empty_like(a), torch.empty_like(a), state


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    a, _b, h0, reverse = inputs
    ctx.save_for_backward(a, output, h0)
    ctx.reverse = reverse
    ctx.has_h0 = h0 is not None


def _backward(ctx: Any, grad_h: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
    a, h, h0 = ctx.saved_tensors
    grad_a, grad_b, grad_h0 = linear_scan_backward(a, h, grad_h, h0, ctx.reverse)
    return grad_a, grad_b, grad_h0 if ctx.has_h0 else None, None


linear_scan.register_autograd(_backward, setup_context=_setup_context)


def check_shapes(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None) -> None:
    """Raises ValueError with the same messages as the Rust core."""
    if a.dim() != 3:
        raise ValueError(f"a must have 3 dimensions (batch, time, dim), got shape {tuple(a.shape)}")
    if a.shape != b.shape:
        raise ValueError(
            f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if h0 is not None and tuple(h0.shape) != (a.shape[0], a.shape[2]):
        raise ValueError(
            f"h0 must have shape (batch, dim) = {(a.shape[0], a.shape[2])}, got {tuple(h0.shape)}"
        )


def linear_scan_autograd(a: Any, b: Any, h0: Any, reverse: bool) -> torch.Tensor:
    """The torch path of seqcore.scan.linear: validates, upcasts half, calls the op."""
    named = {"a": a, "b": b} | ({} if h0 is None else {"h0": h0})
    for name, value in named.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"{name} must be a torch.Tensor like the other arguments, "
                f"got {type(value).__name__}"
            )
        if value.dtype not in _KERNEL + _HALF:
            raise TypeError(f"{name} must have a floating or complex dtype, got {value.dtype}")
    if not isinstance(reverse, bool):
        raise TypeError(f"reverse must be a bool, got {type(reverse).__name__}")
    tensors: list[torch.Tensor] = list(named.values())
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        raise ValueError(f"a, b and h0 must be on one device, got {sorted(map(str, devices))}")
    (device,) = devices
    if device.type != "cpu":
        raise NotImplementedError(
            f"seqcore.scan.linear runs on CPU tensors for now, got a tensor on {device}"
        )
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) > 1:
        names = ", ".join(f"{n}={t.dtype}" for n, t in named.items())
        raise TypeError(f"a, b and h0 must have the same dtype, got {names}")
    check_shapes(a, b, h0)
    if a.dtype in _HALF:
        out_dtype = a.dtype
        a, b = a.float(), b.float()
        h0 = None if h0 is None else h0.float()
        h: torch.Tensor = linear_scan(a, b, h0, reverse)
        return h.to(out_dtype)
    result: torch.Tensor = linear_scan(a, b, h0, reverse)
    return result
