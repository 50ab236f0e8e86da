"""The Linear Recurrent Unit (Orvieto et al. 2023, "Resurrecting Recurrent
Neural Networks for Long Sequences")."""

from __future__ import annotations

import math

import torch
from torch import nn

from seqcore.nn._checks import check_sequence
from seqcore.scan import linear


class LRU(nn.Module):
    """Linear Recurrent Unit: a complex diagonal linear recurrence with
    exponential parameterisation and gamma normalisation.

    .. code-block:: text

        lambda = exp(-exp(nu_log) + i exp(theta_log))     |lambda| < 1 always
        gamma  = exp(gamma_log), initialised to sqrt(1 - |lambda|^2)
        h_t = lambda * h_{t-1} + gamma * (B x_t)           the scan, complex
        y_t = Re(C h_t) + D * x_t

    Eigenvalues start uniform on the ring ``r_min <= |lambda| <= r_max`` with
    phases in ``[0, max_phase]``, as in the paper.

    Args:
        d_model: input and output features ``H``.
        d_state: complex state size ``N``.
        r_min, r_max: radii of the initial eigenvalue ring, ``0 <= r_min < r_max < 1``.
        max_phase: largest initial eigenvalue phase.

    Shapes:
        ``x``: ``(batch, time, d_model)`` → ``(batch, time, d_model)``, real.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        *,
        r_min: float = 0.9,
        r_max: float = 0.999,
        max_phase: float = 2 * math.pi,
    ) -> None:
        super().__init__()
        if d_model < 1 or d_state < 1:
            raise ValueError(f"d_model and d_state must be positive, got {d_model} and {d_state}")
        if not 0.0 <= r_min < r_max < 1.0:
            raise ValueError(f"need 0 <= r_min < r_max < 1, got {r_min} and {r_max}")
        self.d_model, self.d_state = d_model, d_state
        u1, u2 = torch.rand(d_state), torch.rand(d_state)
        nu = -0.5 * torch.log(u1 * (r_max**2 - r_min**2) + r_min**2)
        theta = max_phase * u2
        self.nu_log = nn.Parameter(torch.log(nu))
        self.theta_log = nn.Parameter(torch.log(theta.clamp_min(1e-8)))
        modulus = torch.exp(-nu)
        self.gamma_log = nn.Parameter(torch.log(torch.sqrt(1 - modulus**2)))
        self.B_re = nn.Parameter(torch.randn(d_state, d_model) / math.sqrt(2 * d_model))
        self.B_im = nn.Parameter(torch.randn(d_state, d_model) / math.sqrt(2 * d_model))
        self.C_re = nn.Parameter(torch.randn(d_model, d_state) / math.sqrt(d_state))
        self.C_im = nn.Parameter(torch.randn(d_model, d_state) / math.sqrt(d_state))
        self.D = nn.Parameter(torch.randn(d_model))

    def eigenvalues(self) -> torch.Tensor:
        """The diagonal of the recurrence, complex, shape ``(d_state,)``."""
        return torch.exp(torch.complex(-torch.exp(self.nu_log), torch.exp(self.theta_log)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, self.d_model)
        batch, time, _ = x.shape
        complex_dtype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
        B = torch.complex(self.B_re, self.B_im).to(complex_dtype)
        C = torch.complex(self.C_re, self.C_im).to(complex_dtype)
        gamma = torch.exp(self.gamma_log).to(complex_dtype)
        inputs = (x.to(complex_dtype) @ B.transpose(0, 1)) * gamma
        gates = self.eigenvalues().to(complex_dtype).expand(batch, time, self.d_state)
        h = linear(gates, inputs)
        return (h @ C.transpose(0, 1)).real.to(x.dtype) + self.D * x
