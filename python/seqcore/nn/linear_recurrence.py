"""A gated linear recurrence with input-dependent diagonal gates."""

from __future__ import annotations

import math

import torch
from torch import nn

from seqcore.nn._checks import check_sequence
from seqcore.scan import linear, linear_bidirectional


class LinearRecurrence(nn.Module):
    """Gated diagonal linear recurrence (a minimal GRU without hidden-state
    dependence in its gates, so it is a linear scan):

    .. code-block:: text

        f_t = sigmoid(W_f x_t + c_f)             forget gate, in (0, 1)
        v_t = W_v x_t                             candidate
        h_t = f_t * h_{t-1} + (1 - f_t) * v_t     the scan (seqcore.scan.linear)
        y_t = W_o h_t

    Args:
        d_model: input and output features.
        d_hidden: state size (default ``d_model``).
        min_timescale, max_timescale: the forget-gate biases are initialised
            so that the gates' memory ``1 / (1 - f)`` spans this range of
            steps, log-uniformly (short and long memories from the start).
        bidirectional: also run the recurrence backwards in time with gates
            of its own, combined by :func:`seqcore.scan.linear_bidirectional`
            (each step then sees the whole sequence; no ``h0``).

    Shapes:
        ``x``: ``(batch, time, d_model)`` → ``(batch, time, d_model)``.
        ``h0`` (optional): ``(batch, d_hidden)``.
    """

    def __init__(
        self,
        d_model: int,
        d_hidden: int | None = None,
        *,
        min_timescale: float = 1.0,
        max_timescale: float = 1000.0,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        if d_model < 1:
            raise ValueError(f"d_model must be positive, got {d_model}")
        d_hidden = d_model if d_hidden is None else d_hidden
        if d_hidden < 1:
            raise ValueError(f"d_hidden must be positive, got {d_hidden}")
        if not 1.0 <= min_timescale <= max_timescale:
            raise ValueError(
                f"need 1 <= min_timescale <= max_timescale, got {min_timescale} and {max_timescale}"
            )
        self.d_model, self.d_hidden = d_model, d_hidden
        self.bidirectional = bidirectional
        self.gate_and_value = nn.Linear(d_model, (3 if bidirectional else 2) * d_hidden)
        self.output = nn.Linear(d_hidden, d_model)
        with torch.no_grad():
            # memory T = 1 / (1 - f)  =>  f = 1 - 1/T  =>  logit(f) = log(T - 1)
            timescales = torch.exp(
                torch.empty(d_hidden).uniform_(math.log(min_timescale), math.log(max_timescale))
            )
            self.gate_and_value.bias[:d_hidden] = torch.log(torch.clamp(timescales - 1, min=1e-4))
            if bidirectional:
                self.gate_and_value.bias[2 * d_hidden :] = self.gate_and_value.bias[:d_hidden]

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        check_sequence(x, self.d_model)
        if not self.bidirectional:
            gate_logits, value = self.gate_and_value(x).chunk(2, dim=-1)
            forget = torch.sigmoid(gate_logits)
            h = linear(forget, (1 - forget) * value, h0)
            return self.output(h)  # type: ignore[no-any-return]
        if h0 is not None:
            raise ValueError("a bidirectional LinearRecurrence takes no h0")
        gate_logits, value, reverse_logits = self.gate_and_value(x).chunk(3, dim=-1)
        forget = torch.sigmoid(gate_logits)
        h = linear_bidirectional(forget, (1 - forget) * value, torch.sigmoid(reverse_logits))
        return self.output(h)  # type: ignore[no-any-return]
