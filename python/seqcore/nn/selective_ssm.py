"""The Mamba mixer (Gu & Dao 2023) on seqcore's selective scan."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from seqcore.nn._checks import check_sequence, check_token
from seqcore.scan import selective, selective_bidirectional


class SelectiveSSM(nn.Module):
    """Mamba's selective state space mixer.

    .. code-block:: text

        x, z  = split(in_proj(u))                       (batch, time, d_inner) each
        x     = silu(causal depthwise conv1d(x))        kernel d_conv
        dt, B, C = split(x_proj(x))                     dt_rank, d_state, d_state
        y     = selective_scan(x, dt_proj.weight @ dt, A, B, C, D, z,
                               delta_bias=dt_proj.bias, delta_softplus=True)
        out   = out_proj(y)

    Initialisation follows the paper: ``A = -[1, 2, ..., d_state]`` per
    channel (S4D-real, stored as ``A_log``), ``D = 1``, and ``dt_proj``'s
    bias set so that ``softplus(bias)`` is log-uniform in
    ``[dt_min, dt_max]``.

    Args:
        d_model: features in and out.
        d_state: SSM state size N per channel.
        d_conv: width of the causal depthwise convolution.
        expand: ``d_inner = expand * d_model``.
        dt_rank: rank of the ``dt`` projection (default ``ceil(d_model / 16)``).
        bidirectional: mix in both directions, as Hydra's quasiseparable
            mixer does (:func:`seqcore.scan.selective_bidirectional`):
            ``shift(SS(x)) + flip(shift(SS(flip(x)))) + D x``,
            with a centred (non-causal) convolution. The result is no
            longer causal, so :meth:`step` is unavailable.

    Shapes:
        ``forward``: ``(batch, time, d_model)`` → ``(batch, time, d_model)``.
        ``step``: ``(batch, d_model)`` and a state from :meth:`initial_state`
        → ``(batch, d_model)`` and the next state; feeding a sequence one
        token at a time gives the same outputs as ``forward``.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | None = None,
        *,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (("d_model", d_model), ("d_state", d_state), ("d_conv", d_conv),
                            ("expand", expand)):  # fmt: skip
            if value < 1:
                raise ValueError(f"{name} must be positive, got {value}")
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got {dt_min} and {dt_max}")
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner = expand * d_model
        self.dt_rank = dt_rank if dt_rank is not None else math.ceil(d_model / 16)
        self.bidirectional = bidirectional
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, d_conv, groups=self.d_inner)
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)
        with torch.no_grad():
            dt_std = self.dt_rank**-0.5
            self.dt_proj.weight.uniform_(-dt_std, dt_std)
            dt = torch.exp(
                torch.empty(self.d_inner).uniform_(math.log(dt_min), math.log(dt_max))
            ).clamp_min(1e-4)
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt)
        A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(self.d_inner, 1)
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(self.d_inner))

    def _scan_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``x``: (batch, d_inner, time) after the convolution."""
        x_db = self.x_proj(x.transpose(1, 2))  # (batch, time, dt_rank + 2N)
        dt, B, C = torch.split(x_db, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = (dt @ self.dt_proj.weight.T).transpose(1, 2)  # (batch, d_inner, time)
        return delta, B.transpose(1, 2), C.transpose(1, 2)  # B, C: (batch, N, time)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        check_sequence(u, self.d_model, "u")
        length = u.shape[1]
        if length == 0:  # nothing to convolve; keep the graph and the shape
            return self.out_proj(self.in_proj(u)[..., : self.d_inner])  # type: ignore[no-any-return]
        x, z = self.in_proj(u).transpose(1, 2).chunk(2, dim=1)  # (batch, d_inner, time)
        A = -torch.exp(self.A_log.to(x.dtype))
        bias = self.dt_proj.bias.to(x.dtype)
        if not self.bidirectional:
            x = F.silu(self.conv1d(F.pad(x, (self.d_conv - 1, 0))))[..., :length]
            delta, B, C = self._scan_inputs(x)
            y = selective(x, delta, A, B, C, self.D, z, bias, delta_softplus=True)
            return self.out_proj(y.transpose(1, 2))  # type: ignore[no-any-return]
        left = (self.d_conv - 1) // 2
        x = F.silu(self.conv1d(F.pad(x, (left, self.d_conv - 1 - left))))
        delta, B, C = self._scan_inputs(x)
        y = selective_bidirectional(x, delta, A, B, C, self.D, z, bias, delta_softplus=True)
        return self.out_proj(y.transpose(1, 2))  # type: ignore[no-any-return]

    def initial_state(
        self, batch: int, *, dtype: torch.dtype | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero state for :meth:`step`: (convolution window, SSM state)."""
        dtype = dtype or self.A_log.dtype
        device = self.A_log.device
        return (
            torch.zeros(batch, self.d_inner, self.d_conv, dtype=dtype, device=device),
            torch.zeros(batch, self.d_inner, self.d_state, dtype=dtype, device=device),
        )

    def step(
        self, u: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One token: ``u`` (batch, d_model) → output (batch, d_model), new state."""
        check_token(u, self.d_model, "u")
        if self.bidirectional:
            raise RuntimeError("a bidirectional SelectiveSSM has no step-by-step mode")
        window, ssm = state
        x, z = self.in_proj(u).chunk(2, dim=-1)  # (batch, d_inner)
        window = torch.cat([window[..., 1:], x.unsqueeze(-1)], dim=-1)
        conv_bias = self.conv1d.bias
        assert conv_bias is not None
        x = F.silu((window * self.conv1d.weight[:, 0, :]).sum(-1) + conv_bias)
        dt, B, C = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(self.dt_proj(dt))  # (batch, d_inner)
        A = -torch.exp(self.A_log.to(x.dtype))
        ssm = torch.exp(dt.unsqueeze(-1) * A) * ssm + (dt * x).unsqueeze(-1) * B.unsqueeze(1)
        y = (ssm * C.unsqueeze(1)).sum(-1) + self.D * x
        return self.out_proj(y * F.silu(z)), (window, ssm)
