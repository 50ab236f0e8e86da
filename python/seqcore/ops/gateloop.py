"""``seqcore::gateloop``: GateLoop as one torch custom op over its three forms.

``form`` picks how y is computed (all give the same result, to rounding):

* ``"recurrent"``: the O(L) recurrence;
* ``"attention"``: the O(L^2) surrogate-attention form;
* ``"chunked"``: the attention form inside chunks of ``chunk_size`` steps,
  the state recurrence between chunks.

Forward and backward passes run in Rust (parallel over batch x heads; no
form saves intermediate states for autograd), so autograd keeps only the
four inputs.
"""

from __future__ import annotations

from typing import Any

import torch

from seqcore import _core
from seqcore.ops._convert import from_numpy, to_numpy

_Grads = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


@torch.library.custom_op("seqcore::gateloop", mutates_args=(), device_types="cpu")
def gateloop(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, a: torch.Tensor, form: str, chunk_size: int
) -> torch.Tensor:
    """y of S_t = diag(a_t) S_{t-1} + k_t^T v_t, y_t = q_t S_t; see seqcore.scan.gateloop."""
    q_, k_, v_, a_ = (to_numpy(x) for x in (q, k, v, a))
    return from_numpy(_core.gateloop(q_, k_, v_, a_, form, chunk_size))


@gateloop.register_fake
def _(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, a: torch.Tensor, form: str, chunk_size: int
) -> torch.Tensor:
    return torch.empty_like(v, memory_format=torch.contiguous_format)


@torch.library.custom_op("seqcore::gateloop_backward", mutates_args=(), device_types="cpu")
def gateloop_backward(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    a: torch.Tensor,
    grad_y: torch.Tensor,
    form: str,
    chunk_size: int,
) -> _Grads:
    """Gradients (q, k, v, a) of gateloop in the same form, in Rust."""
    q_, k_, v_, a_, g_ = (to_numpy(x) for x in (q, k, v, a, grad_y))
    grads = _core.gateloop_backward(q_, k_, v_, a_, g_, form, chunk_size)
    grad_q, grad_k, grad_v, grad_a = (from_numpy(g) for g in grads)
    return grad_q, grad_k, grad_v, grad_a


@gateloop_backward.register_fake
def _(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    a: torch.Tensor,
    grad_y: torch.Tensor,
    form: str,
    chunk_size: int,
) -> _Grads:
    grad_q, grad_k, grad_v, grad_a = (
        torch.empty_like(x, memory_format=torch.contiguous_format) for x in (q, k, v, a)
    )
    return grad_q, grad_k, grad_v, grad_a


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    ctx.save_for_backward(*inputs[:4])
    ctx.form, ctx.chunk_size = inputs[4:]


def _backward(ctx: Any, grad_y: torch.Tensor) -> tuple[Any, ...]:
    q, k, v, a = ctx.saved_tensors
    grads = gateloop_backward(q, k, v, a, grad_y.contiguous(), ctx.form, ctx.chunk_size)
    return (*grads, None, None)


gateloop.register_autograd(_backward, setup_context=_setup_context)
