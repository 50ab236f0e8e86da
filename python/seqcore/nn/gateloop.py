"""GateLoop (Katsch 2023) as a token mixer on seqcore.scan.gateloop."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqcore.nn._checks import check_sequence, check_token
from seqcore.scan import gateloop


class GateLoop(nn.Module):
    """GateLoop: fully data-controlled linear recurrence with a matrix state.

    .. code-block:: text

        q, k, v = W_q x, W_k x, W_v x                  per head: d_k, d_k, d_v
        a       = sigmoid(W_m x) * exp(i W_p x)        complex gates (complex_gates)
                  sigmoid(W_m x)                        real gates otherwise
        S_t     = diag(a_t) S_{t-1} + k_t^T v_t         per head, d_k x d_v
        y_t     = Re(q_t S_t)
        out     = W_o (y * silu(W_g x))

    The magnitude of every gate is below 1, so the state never grows without
    bound; the phase lets it rotate (complex gates, as in the paper). The
    output gate ``silu(W_g x)`` follows the paper's model. The magnitude
    bias starts at 3 (``sigmoid(3) = 0.95``) so that the state first
    remembers some twenty steps.

    Args:
        d_model: features in and out.
        heads: independent recurrences.
        d_k, d_v: per-head key and value sizes (default ``d_model // heads``,
            at least 1).
        complex_gates: complex gates with a learnt phase; False gives real
            gates in (0, 1) and a real state.
        mode: ``"auto"`` (default: the fastest for the device, the Rust
            recurrence on CPU), ``"chunked"``, ``"recurrent"`` or
            ``"attention"``, passed to :func:`seqcore.scan.gateloop` (the
            same function either way).
        chunk_size: chunk length of the chunked mode.

    Shapes:
        ``forward``: ``(batch, length, d_model)`` → ``(batch, length, d_model)``.
        ``step``: ``(batch, d_model)`` and a state ``(batch, heads, d_k, d_v)``
        from :meth:`initial_state` → ``(batch, d_model)`` and the next state;
        feeding a sequence one token at a time gives the outputs of
        ``forward``.
    """

    def __init__(
        self,
        d_model: int,
        heads: int = 4,
        d_k: int | None = None,
        d_v: int | None = None,
        complex_gates: bool = True,
        mode: str = "auto",
        chunk_size: int = 64,
    ) -> None:
        super().__init__()
        self.d_model, self.heads = d_model, heads
        self.d_k = d_k if d_k is not None else max(1, d_model // heads)
        self.d_v = d_v if d_v is not None else max(1, d_model // heads)
        self.complex_gates, self.mode, self.chunk_size = complex_gates, mode, chunk_size
        keys, values = heads * self.d_k, heads * self.d_v
        self.q_proj = nn.Linear(d_model, keys)
        self.k_proj = nn.Linear(d_model, keys)
        self.v_proj = nn.Linear(d_model, values)
        self.magnitude_proj = nn.Linear(d_model, keys)
        self.phase_proj = nn.Linear(d_model, keys) if complex_gates else None
        self.gate_proj = nn.Linear(d_model, values)
        self.out_proj = nn.Linear(values, d_model)
        with torch.no_grad():
            self.magnitude_proj.bias.fill_(3.0)

    def _inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """q, k, v and gates for ``x`` of shape ``(..., d_model)``, split into
        heads: ``(..., heads, d)``, complex when the gates are."""
        q, k, v = (
            self._heads(self.q_proj(x)),
            self._heads(self.k_proj(x)),
            self._heads(self.v_proj(x)),
        )
        a = self._heads(torch.sigmoid(self.magnitude_proj(x)))
        if self.phase_proj is not None:
            a = torch.polar(a, self._heads(self.phase_proj(x)))
            q, k, v = (t.to(a.dtype) for t in (q, k, v))
        return q, k, v, a

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        return t.reshape(*t.shape[:-1], self.heads, t.shape[-1] // self.heads)

    def _output(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        y = y.real if y.is_complex() else y
        return self.out_proj(y.flatten(-2) * F.silu(self.gate_proj(x)))  # type: ignore[no-any-return]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, self.d_model)
        q, k, v, a = self._inputs(x)
        y = gateloop(q, k, v, a, mode=self.mode, chunk_size=self.chunk_size)
        return self._output(x, y)

    def initial_state(
        self, batch: int, *, dtype: torch.dtype | None = None, device: torch.device | None = None
    ) -> torch.Tensor:
        """Zero state ``(batch, heads, d_k, d_v)`` for :meth:`step`; complex
        (of the real ``dtype``'s precision) when the gates are."""
        dtype = dtype or self.q_proj.weight.dtype
        if self.complex_gates:
            dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        device = device or self.q_proj.weight.device
        return torch.zeros(batch, self.heads, self.d_k, self.d_v, dtype=dtype, device=device)

    def step(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One token: ``x`` (batch, d_model) → output (batch, d_model), new state."""
        check_token(x, self.d_model)
        q, k, v, a = self._inputs(x)  # (batch, heads, d)
        state = a.unsqueeze(-1) * state + k.unsqueeze(-1) * v.unsqueeze(-2)
        y = torch.einsum("bhi,bhij->bhj", q, state)
        return self._output(x, y), state
