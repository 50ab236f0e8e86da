"""``seqcore::gateloop``: the GateLoop recurrence as a torch custom op.

The forward and the backward pass both run in Rust (a sequential scan
over time, parallel over batch x heads; the backward pass recomputes the
states from checkpoints instead of saving them), so autograd keeps only the
four inputs.
"""

from __future__ import annotations

from typing import Any

import torch

from seqcore import _core
from seqcore.ops._convert import from_numpy, to_numpy

_Grads = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


@torch.library.custom_op("seqcore::gateloop", mutates_args=(), device_types="cpu")
def gateloop(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """y of S_t = diag(a_t) S_{t-1} + k_t^T v_t, y_t = q_t S_t; see seqcore.scan.gateloop."""
    return from_numpy(_core.gateloop(to_numpy(q), to_numpy(k), to_numpy(v), to_numpy(a)))


@gateloop.register_fake
def _(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(v, memory_format=torch.contiguous_format)


@torch.library.custom_op("seqcore::gateloop_backward", mutates_args=(), device_types="cpu")
def gateloop_backward(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, a: torch.Tensor, grad_y: torch.Tensor
) -> _Grads:
    """Gradients (q, k, v, a) of gateloop, by a reverse scan in Rust."""
    grads = _core.gateloop_backward(
        to_numpy(q), to_numpy(k), to_numpy(v), to_numpy(a), to_numpy(grad_y)
    )
    grad_q, grad_k, grad_v, grad_a = (from_numpy(g) for g in grads)
    return grad_q, grad_k, grad_v, grad_a


@gateloop_backward.register_fake
def _(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, a: torch.Tensor, grad_y: torch.Tensor
) -> _Grads:
    like = (q, k, v, a)
    grad_q, grad_k, grad_v, grad_a = (
        torch.empty_like(x, memory_format=torch.contiguous_format) for x in like
    )
    return grad_q, grad_k, grad_v, grad_a


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    ctx.save_for_backward(*inputs)


def _backward(ctx: Any, grad_y: torch.Tensor) -> _Grads:
    q, k, v, a = ctx.saved_tensors
    return gateloop_backward(q, k, v, a, grad_y.contiguous())  # type: ignore[no-any-return]


gateloop.register_autograd(_backward, setup_context=_setup_context)
