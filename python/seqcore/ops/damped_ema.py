"""``seqcore::damped_ema``: Mega's multi-dimensional EMA as one fused scan."""

from __future__ import annotations

from typing import Any

import torch

from seqcore import _core
from seqcore.ops._convert import from_numpy, to_numpy


@torch.library.custom_op("seqcore::damped_ema", mutates_args=(), device_types="cpu")
def damped_ema(
    x: torch.Tensor, decay: torch.Tensor, drive: torch.Tensor, readout: torch.Tensor
) -> torch.Tensor:
    """``y[b,t,d] = sum_j readout[d,j] h[b,t,d,j]``, ``h = decay h + drive x``."""
    y = _core.damped_ema(to_numpy(x), to_numpy(decay), to_numpy(drive), to_numpy(readout))
    return from_numpy(y)


@damped_ema.register_fake
def _(x: torch.Tensor, decay: torch.Tensor, drive: torch.Tensor, readout: torch.Tensor) -> Any:
    return torch.empty_like(x, memory_format=torch.contiguous_format)


@torch.library.custom_op("seqcore::damped_ema_backward", mutates_args=(), device_types="cpu")
def damped_ema_backward(
    x: torch.Tensor,
    decay: torch.Tensor,
    drive: torch.Tensor,
    readout: torch.Tensor,
    grad_y: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients (x, decay, drive, readout), by a reverse scan in Rust."""
    grads = _core.damped_ema_backward(
        to_numpy(x), to_numpy(decay), to_numpy(drive), to_numpy(readout), to_numpy(grad_y)
    )
    gx, gq, gc, gg = (from_numpy(g) for g in grads)
    return gx, gq, gc, gg


@damped_ema_backward.register_fake
def _(
    x: torch.Tensor,
    decay: torch.Tensor,
    drive: torch.Tensor,
    readout: torch.Tensor,
    grad_y: torch.Tensor,
) -> Any:
    return (torch.empty_like(x), torch.empty_like(decay), torch.empty_like(drive),
            torch.empty_like(readout))  # fmt: skip


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    ctx.save_for_backward(*inputs)


def _backward(ctx: Any, grad_y: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(damped_ema_backward(*ctx.saved_tensors, grad_y))


damped_ema.register_autograd(_backward, setup_context=_setup_context)
