"""S4D: the diagonal structured state space layer (Gu, Gupta, Goel, Ré 2022,
"On the Parameterization and Initialization of Diagonal State Space Models")."""

from __future__ import annotations

import math

import torch
from torch import nn

from seqcore.nn._checks import check_sequence
from seqcore.scan import linear, ssm_kernel
from seqcore.scan._fft_conv import causal_conv


class S4D(nn.Module):
    """Diagonal state space layer, run as a complex linear scan or as a
    convolution with its kernel.

    Each of the ``d_model`` channels has its own SSM with ``d_state // 2``
    complex modes (conjugate pairs are implied, hence the factor 2 below):

    .. code-block:: text

        A = -exp(A_log_re) + i A_im          S4D-Lin: A_n = -1/2 + i pi n
        dt = exp(log_dt)                     log-uniform in [dt_min, dt_max]
        dA = exp(dt A),  dB = (dA - 1) / A   zero-order hold, B = 1
        h_t = dA * h_{t-1} + dB * x_t        the scan, per channel and mode
        y_t = 2 Re(sum_n C_n h_t,n) + D x_t
        out = GLU(W GELU(y))                 the S4D block's output mixing

    The same ``y`` is a causal convolution with the kernel
    ``K_l = 2 Re(sum_n C_n dB_n dA_n^l)`` (``mode="conv"``): the kernel comes
    from :func:`seqcore.scan.ssm_kernel` and is applied by FFT, in
    ``O(L log L)`` time and without a ``(batch, time, d_model, d_state/2)``
    complex state; the scan (``mode="scan"``) costs ``O(L)`` per state and
    carries no FFT rounding.

    Args:
        d_model: channels ``H``.
        d_state: state size ``N`` per channel (``N/2`` complex modes), even.
        dt_min, dt_max: range of the initial step sizes.
        mode: ``"scan"`` (default) or ``"conv"``; both give the same output.

    Shapes:
        ``x``: ``(batch, time, d_model)`` → ``(batch, time, d_model)``, real.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        *,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        mode: str = "scan",
    ) -> None:
        super().__init__()
        if d_model < 1:
            raise ValueError(f"d_model must be positive, got {d_model}")
        if d_state < 2 or d_state % 2:
            raise ValueError(f"d_state must be a positive even number, got {d_state}")
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got {dt_min} and {dt_max}")
        if mode not in ("scan", "conv"):
            raise ValueError(f"mode must be 'scan' or 'conv', got {mode!r}")
        self.mode = mode
        self.d_model, self.modes = d_model, d_state // 2
        log_dt = torch.empty(d_model).uniform_(math.log(dt_min), math.log(dt_max))
        self.log_dt = nn.Parameter(log_dt)
        self.A_log_re = nn.Parameter(torch.log(torch.full((d_model, self.modes), 0.5)))
        self.A_im = nn.Parameter(math.pi * torch.arange(self.modes).float().repeat(d_model, 1))
        # C ~ complex normal with unit variance, stored as real pairs.
        self.C = nn.Parameter(torch.randn(d_model, self.modes, 2) * math.sqrt(0.5))
        self.D = nn.Parameter(torch.randn(d_model))
        self.output = nn.Sequential(nn.GELU(), nn.Linear(d_model, 2 * d_model), nn.GLU(dim=-1))

    def discretize(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """``(dA, dB)``, each complex of shape ``(d_model, d_state // 2)``."""
        A = torch.complex(-torch.exp(self.A_log_re), self.A_im).to(dtype)
        dt_a = A * torch.exp(self.log_dt).to(dtype).unsqueeze(-1)
        dA = torch.exp(dt_a)
        return dA, (dA - 1) / A

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, self.d_model)
        batch, time, channels = x.shape
        complex_dtype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
        dA, dB = self.discretize(complex_dtype)
        C = torch.view_as_complex(self.C.to(x.dtype).contiguous()).to(complex_dtype)
        if self.mode == "conv":
            # Real dtype of the kernel: float32 for half inputs too (CPU FFTs
            # have no half precision).
            kernel = 2 * ssm_kernel(C * dB, dA, time).real
            y = causal_conv(x.to(kernel.dtype), kernel).to(x.dtype) + self.D * x
            return self.output(y)  # type: ignore[no-any-return]
        inputs = (x.to(complex_dtype).unsqueeze(-1) * dB).reshape(
            batch, time, channels * self.modes
        )
        gates = dA.reshape(1, 1, channels * self.modes).expand(batch, time, channels * self.modes)
        h = linear(gates, inputs).reshape(batch, time, channels, self.modes)
        y = 2 * torch.einsum("bthn,hn->bth", h, C).real.to(x.dtype) + self.D * x
        return self.output(y)  # type: ignore[no-any-return]
