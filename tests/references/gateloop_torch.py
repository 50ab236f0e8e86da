"""GateLoop's parallel forms written in torch ops (chunked and surrogate
attention): a reference for the Rust forms (``seqcore::gateloop_chunked``,
``seqcore::gateloop_attention``), which replaced them in the library.

Both compute the same ``y`` as the recurrence (``seqcore::gateloop``)

.. code-block:: text

    y_t = sum_{s <= t} ((q_t * prod_{r=s+1..t} a_r) . k_s) v_s

and get their gradients from torch's autograd.

Why the products of gates are built the way they are: the obvious
factorisation ``prod_{s<r<=t} a_r = P_t / P_s`` with ``P = exp(cumsum(log a))``
underflows ``P`` (and overflows ``1 / P``) after a few thousand float32
steps, which gives ``0 * inf = NaN``. Here no exponent is ever positive
(for ``|a| <= 1``) and no difference of logs spans more than a few steps:

* inside a small block of ``SMALL_BLOCK`` steps, the product over ``(s, t]``
  is ``exp(G_t - G_s)`` with ``G`` the cumulative log within that block,
  formed only for ``s <= t`` (so the exponent is a sum of at most
  ``SMALL_BLOCK`` logs, rounded once);
* across blocks, a product splits at the later block's start ``c`` into
  ``prod_{c <= r <= t}`` (cumulative sum forward from ``c``) times
  ``prod_{s < r < c}`` (cumulative sum backwards from ``c - 1``): both are
  at most 1, so neither can overflow, and each is a sum of its own range's
  logs only; the two factors fold into queries and keys, and the block
  becomes two matrix products.

Signs of real gates: with ``sigma_t = prod_{r <= t} sign(a_r)`` (exactly
+-1), ``prod_{s<r<=t} a_r = sigma_t sigma_s prod_{s<r<=t} |a_r|``, so the
signs fold into ``q_t`` and ``k_s`` and only ``log |a|`` is summed. Complex
gates use the complex log. Gates of magnitude below the dtype's smallest
normal number are treated as that number (``log 0 = -inf`` would give
``-inf - -inf = NaN``); the gradient with respect to a gate that is exactly
0 is therefore 0 here, and exact only in the recurrent mode.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seqcore.ops.linear_scan import linear_scan

Tensor = torch.Tensor

# Blocks of at most this many steps get the exact T x T x d_k decay tensor
# (building it is the costly elementwise part); longer ranges are split
# into such blocks and joined by matrix products.
SMALL_BLOCK = 4


def fold_signs(q: Tensor, k: Tensor, a: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(q sigma, k sigma, log a)`` along axis -2 (time): for real gates
    ``sigma`` is the running product of their signs and ``log a`` is
    ``log |a|``; complex gates keep ``q`` and ``k`` and take the complex log."""
    tiny = torch.finfo(a.real.dtype).tiny
    if a.is_complex():
        safe = torch.where(a.abs() < tiny, torch.full_like(a, tiny), a)
        return q, k, torch.log(safe)
    signs = torch.where(a < 0, -1.0, 1.0).to(a.dtype).cumprod(dim=-2)
    return q * signs, k * signs, a.abs().clamp_min(tiny).log()


def _split(x: Tensor, block: int) -> Tensor:
    """Axis -2 (time, length T) -> two axes ``(T / block, block)``,
    zero-padded at the end (zero log gates are gates of 1)."""
    pad = -x.shape[-2] % block
    if pad:
        x = F.pad(x, (0, 0, 0, pad))
    return x.reshape(*x.shape[:-2], -1, block, x.shape[-1])


def _reversed_cumsum(x: Tensor) -> Tensor:
    """``out[s] = sum_{r >= s} x[r]`` along axis -2."""
    return x.flip(-2).cumsum(-2).flip(-2)


def causal_products(q: Tensor, k: Tensor, v: Tensor, logs: Tensor, block: int) -> Tensor:
    """``y_t = sum_{s <= t} ((q_t * exp(sum_{s<r<=t} logs_r)) . k_s) v_s`` along
    axis -2 (length T) of ``(..., T, d)`` tensors. O(T^2 d), by blocks of
    ``block`` queries."""
    steps = q.shape[-2]
    if steps <= SMALL_BLOCK:
        cumulative = logs.cumsum(dim=-2)
        causal = torch.ones(steps, steps, dtype=torch.bool, device=q.device).tril()[..., None]
        exponent = cumulative.unsqueeze(-2) - cumulative.unsqueeze(-3)  # (..., t, s, d)
        decay = torch.exp(torch.where(causal, exponent, float("-inf")))
        scores = (q.unsqueeze(-2) * decay * k.unsqueeze(-3)).sum(-1)
        return scores @ v
    block = SMALL_BLOCK if steps <= block else block
    qb, kb, vb, lb = (_split(x, block) for x in (q, k, v, logs))
    # Keys in the query's own block, recursively with small blocks.
    inner = causal_products(qb, kb, vb, lb, SMALL_BLOCK)
    from_start = torch.exp(lb.cumsum(dim=-2))  # prod over [block start, t]
    flat_logs, flat_k, flat_v = (x.flatten(-3, -2) for x in (lb, kb, vb))
    outputs = [inner[..., 0, :, :]]
    for n in range(1, qb.shape[-3]):
        start = n * block
        # The log product over (s, start - 1] for every key s < start.
        before_start = F.pad(_reversed_cumsum(flat_logs[..., 1:start, :]), (0, 0, 0, 1))
        keys = flat_k[..., :start, :] * torch.exp(before_start)
        queries = qb[..., n, :, :] * from_start[..., n, :, :]
        earlier = (queries @ keys.transpose(-1, -2)) @ flat_v[..., :start, :]
        outputs.append(inner[..., n, :, :] + earlier)
    return torch.stack(outputs, dim=-3).flatten(-3, -2)[..., :steps, :]


def _prepare(q: Tensor, k: Tensor, v: Tensor, a: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(batch, length, heads, d)`` -> ``(batch, heads, length, d)``, with
    the signs folded in and the gates as logs."""
    q, k, v, a = (x.transpose(1, 2) for x in (q, k, v, a))
    q, k, logs = fold_signs(q, k, a)
    return q, k, v, logs


def gateloop_chunked(q: Tensor, k: Tensor, v: Tensor, a: Tensor, chunk_size: int) -> Tensor:
    """Chunked GateLoop: :func:`causal_products` inside each chunk of
    ``chunk_size`` steps, the state recurrence (``seqcore::linear_scan`` on
    the flattened ``d_k x d_v`` states) between chunks. O(L C d + L d_k d_v)."""
    batch, length, heads, d_k = q.shape
    d_v = v.shape[-1]
    qb, kb, vb, logs = (_split(x, chunk_size) for x in _prepare(q, k, v, a))
    intra = causal_products(qb, kb, vb, logs, SMALL_BLOCK)
    # What each chunk adds to the state, carried to the chunk's end: the
    # log product over (s, end] for each key.
    to_end = F.pad(_reversed_cumsum(logs[..., 1:, :]), (0, 0, 0, 1))
    update = (kb * torch.exp(to_end)).transpose(-1, -2) @ vb  # (b, h, n, d_k, d_v)
    whole = torch.exp(logs.sum(dim=-2))  # each chunk's total gate, (b, h, n, d_k)
    chunks = update.shape[2]
    states = linear_scan(
        whole[..., None].expand(*whole.shape, d_v).reshape(batch * heads, chunks, d_k * d_v),
        update.reshape(batch * heads, chunks, d_k * d_v),
        None,
        False,
    ).reshape(batch, heads, chunks, d_k, d_v)
    before = F.pad(states, (0, 0, 0, 0, 1, 0))[:, :, :-1]  # the state entering each chunk
    from_start = torch.exp(logs.cumsum(dim=-2))  # prod over [chunk start, t]
    y = intra + (qb * from_start) @ before
    return y.flatten(2, 3)[:, :, :length].transpose(1, 2)


def gateloop_attention(q: Tensor, k: Tensor, v: Tensor, a: Tensor, block: int) -> Tensor:
    """Surrogate attention, O(L^2 d): ``y = (masked decayed q k^T) v``,
    evaluated one block of ``block`` queries at a time so that memory stays
    O(L block) instead of O(L^2 d_k)."""
    return causal_products(*_prepare(q, k, v, a), block).transpose(1, 2)
