"""``seqcore::gateloop*``: GateLoop's three forms as torch custom ops.

* ``gateloop``: the O(L) recurrence;
* ``gateloop_attention``: the O(L^2) surrogate-attention form;
* ``gateloop_chunked``: attention form inside chunks of ``chunk_size``
  steps, the state recurrence between chunks.

Forward and backward passes all run in Rust (parallel over batch x heads;
no form saves intermediate states for autograd), so autograd keeps only
the four inputs.
"""

from __future__ import annotations

from typing import Any

import torch

from seqcore import _core
from seqcore.ops._convert import from_numpy, to_numpy

_Grads = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _grads(arrays: Any) -> _Grads:
    grad_q, grad_k, grad_v, grad_a = (from_numpy(g) for g in arrays)
    return grad_q, grad_k, grad_v, grad_a


def _fake_grads(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, a: torch.Tensor) -> _Grads:
    grad_q, grad_k, grad_v, grad_a = (
        torch.empty_like(x, memory_format=torch.contiguous_format) for x in (q, k, v, a)
    )
    return grad_q, grad_k, grad_v, grad_a


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    ctx.save_for_backward(*inputs[:4])
    ctx.extra = inputs[4:]


# The recurrence.


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
    args = (to_numpy(x) for x in (q, k, v, a, grad_y))
    return _grads(_core.gateloop_backward(*args))


@gateloop_backward.register_fake
def _(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, a: torch.Tensor, grad_y: torch.Tensor
) -> _Grads:
    return _fake_grads(q, k, v, a)


def _backward(ctx: Any, grad_y: torch.Tensor) -> _Grads:
    q, k, v, a = ctx.saved_tensors
    return gateloop_backward(q, k, v, a, grad_y.contiguous())  # type: ignore[no-any-return]


gateloop.register_autograd(_backward, setup_context=_setup_context)


# Surrogate attention.


@torch.library.custom_op("seqcore::gateloop_attention", mutates_args=(), device_types="cpu")
def gateloop_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, a: torch.Tensor
) -> torch.Tensor:
    """GateLoop's y in surrogate-attention form, O(L^2); see seqcore.scan.gateloop."""
    args = (to_numpy(x) for x in (q, k, v, a))
    return from_numpy(_core.gateloop_attention(*args))


@gateloop_attention.register_fake
def _(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(v, memory_format=torch.contiguous_format)


@torch.library.custom_op(
    "seqcore::gateloop_attention_backward", mutates_args=(), device_types="cpu"
)
def gateloop_attention_backward(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, a: torch.Tensor, grad_y: torch.Tensor
) -> _Grads:
    """Gradients (q, k, v, a) of gateloop_attention, in Rust."""
    args = (to_numpy(x) for x in (q, k, v, a, grad_y))
    return _grads(_core.gateloop_attention_backward(*args))


@gateloop_attention_backward.register_fake
def _(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, a: torch.Tensor, grad_y: torch.Tensor
) -> _Grads:
    return _fake_grads(q, k, v, a)


def _attention_backward(ctx: Any, grad_y: torch.Tensor) -> _Grads:
    q, k, v, a = ctx.saved_tensors
    return gateloop_attention_backward(q, k, v, a, grad_y.contiguous())  # type: ignore[no-any-return]


gateloop_attention.register_autograd(_attention_backward, setup_context=_setup_context)


# Chunks.


@torch.library.custom_op("seqcore::gateloop_chunked", mutates_args=(), device_types="cpu")
def gateloop_chunked(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, a: torch.Tensor, chunk_size: int
) -> torch.Tensor:
    """GateLoop's y by chunks of chunk_size steps; see seqcore.scan.gateloop."""
    q_, k_, v_, a_ = (to_numpy(x) for x in (q, k, v, a))
    return from_numpy(_core.gateloop_chunked(q_, k_, v_, a_, chunk_size))


@gateloop_chunked.register_fake
def _(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, a: torch.Tensor, chunk_size: int
) -> torch.Tensor:
    return torch.empty_like(v, memory_format=torch.contiguous_format)


@torch.library.custom_op("seqcore::gateloop_chunked_backward", mutates_args=(), device_types="cpu")
def gateloop_chunked_backward(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    a: torch.Tensor,
    grad_y: torch.Tensor,
    chunk_size: int,
) -> _Grads:
    """Gradients (q, k, v, a) of gateloop_chunked, in Rust."""
    q_, k_, v_, a_, grad_y_ = (to_numpy(x) for x in (q, k, v, a, grad_y))
    return _grads(_core.gateloop_chunked_backward(q_, k_, v_, a_, grad_y_, chunk_size))


@gateloop_chunked_backward.register_fake
def _(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    a: torch.Tensor,
    grad_y: torch.Tensor,
    chunk_size: int,
) -> _Grads:
    return _fake_grads(q, k, v, a)


def _chunked_backward(ctx: Any, grad_y: torch.Tensor) -> tuple[Any, ...]:
    q, k, v, a = ctx.saved_tensors
    (chunk_size,) = ctx.extra
    grads = gateloop_chunked_backward(q, k, v, a, grad_y.contiguous(), chunk_size)
    return (*grads, None)


gateloop_chunked.register_autograd(_chunked_backward, setup_context=_setup_context)
