"""Mega's moving-average layer (Ma et al. 2022, "Mega: Moving Average
Equipped Gated Attention"): the multi-dimensional damped EMA."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from seqcore.nn._checks import check_sequence
from seqcore.scan import ema


class MegaEMA(nn.Module):
    """Multi-dimensional damped EMA with Mega's residual and activation.

    .. code-block:: text

        p = sigmoid(alpha), q = 1 - p * sigmoid(delta)      (d_model, ndim)
        h_t = p * beta * x_t + q * h_{t-1}                  ndim EMAs per channel
        y_t = silu(sum_j gamma_j h_t,j / sqrt(ndim) + omega * x_t)

    Initialised as in Mega: ``alpha``, ``delta ~ N(0, 0.2)``; ``beta ~ N(0,
    0.02)`` plus the sign pattern ``+1, -1, +1, ...`` across the ``ndim``
    EMAs (which Mega found more stable); ``gamma``, ``omega ~ N(0, 1)``.
    (Mega's code calls the weight's logit ``delta`` and the damping's
    ``alpha``; here the names follow the paper, ``p = alpha`` and
    ``q = 1 - alpha * delta`` after the sigmoids.)

    Args:
        d_model: channels.
        ndim: EMAs per channel (Mega's default is 16).
        mode: ``"scan"`` (default: one fused Rust scan, the faster) or
            ``"conv"`` (the EMA's kernel applied by FFT); see
            :func:`seqcore.scan.ema`. Both give the same output.
        bidirectional: add a second EMA, with parameters of its own, run
            from the end of the sequence to the start (Mega's bidirectional
            encoder); the output then depends on the whole sequence, so
            :meth:`step` is unavailable.

    Shapes:
        ``x``: ``(batch, time, d_model)`` → ``(batch, time, d_model)``.
        :meth:`step` runs one token at a time with an explicit
        ``(batch, d_model, ndim)`` state, for generation.
    """

    def __init__(
        self, d_model: int, ndim: int = 16, *, mode: str = "scan", bidirectional: bool = False
    ) -> None:
        super().__init__()
        for name, value in (("d_model", d_model), ("ndim", ndim)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if d_model < 1 or ndim < 1:
            raise ValueError(f"d_model and ndim must be positive, got {d_model} and {ndim}")
        if mode not in ("scan", "conv"):
            raise ValueError(f"mode must be 'scan' or 'conv', got {mode!r}")
        self.d_model, self.ndim, self.mode = d_model, ndim, mode
        self.bidirectional = bidirectional
        self.scale = math.sqrt(1.0 / ndim)
        # With bidirectional=True, the first d_model rows drive the forward
        # EMA and the last d_model rows the reverse one.
        rows = 2 * d_model if bidirectional else d_model
        self.alpha = nn.Parameter(torch.randn(rows, ndim) * 0.2)
        self.delta = nn.Parameter(torch.randn(rows, ndim) * 0.2)
        signs = torch.ones(ndim)
        signs[1::2] = -1.0
        self.beta = nn.Parameter(torch.randn(rows, ndim) * 0.02 + signs)
        self.gamma = nn.Parameter(torch.randn(rows, ndim))
        self.omega = nn.Parameter(torch.randn(d_model))

    def coefficients(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(p, q)``: the EMA weight and the damped decay, ``(d_model, ndim)``."""
        p = torch.sigmoid(self.alpha)
        return p, 1 - p * torch.sigmoid(self.delta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, self.d_model)
        params = [
            t.to(x.dtype) for t in (self.alpha, self.delta, self.beta, self.gamma * self.scale)
        ]
        if not self.bidirectional:
            y = ema(x, *params, mode=self.mode)
        else:
            d = self.d_model
            forward = ema(x, *(t[:d] for t in params), mode=self.mode)
            backward = ema(x.flip(1), *(t[d:] for t in params), mode=self.mode).flip(1)
            y = forward + backward
        return F.silu(y + self.omega.to(x.dtype) * x)

    def step(
        self, x_t: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One time step: ``x_t`` is ``(batch, d_model)``, ``state`` the
        ``(batch, d_model, ndim)`` EMA state after the previous step (zero
        when None). Returns ``(y_t, state)``; feeding each step's state to
        the next gives the same outputs as :meth:`forward` on the sequence.
        """
        if self.bidirectional:
            raise RuntimeError("a bidirectional MegaEMA has no step-by-step mode")
        if x_t.dim() != 2 or x_t.shape[1] != self.d_model:
            raise ValueError(
                f"x_t must have shape (batch, d_model={self.d_model}), got {tuple(x_t.shape)}"
            )
        expected = (x_t.shape[0], self.d_model, self.ndim)
        if state is None:
            state = x_t.new_zeros(expected)
        elif tuple(state.shape) != expected:
            raise ValueError(
                f"state must have shape (batch, d_model, ndim) = {expected}, "
                f"got {tuple(state.shape)}"
            )
        p, q = (c.to(x_t.dtype) for c in self.coefficients())
        beta, gamma = self.beta.to(x_t.dtype), self.gamma.to(x_t.dtype) * self.scale
        state = p * beta * x_t.unsqueeze(-1) + q * state
        y = torch.einsum("bdj,dj->bd", state, gamma)
        return F.silu(y + self.omega.to(x_t.dtype) * x_t), state
