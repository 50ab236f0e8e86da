"""Causal convolution along time by FFT, for numpy arrays and torch tensors."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def causal_conv(x: Any, kernel: Any) -> Any:
    """``y[:, t, d] = sum_{s <= t} kernel[d, t - s] * x[:, s, d]``.

    ``x`` is ``(batch, time, dim)``, ``kernel`` is ``(dim, time)``, both real
    (numpy or torch alike). Both are zero-padded to ``2 * time``, so the
    FFT's circular convolution equals the linear one on the first ``time``
    steps: ``O(time log time)`` per channel instead of ``O(time^2)``.
    """
    time = x.shape[1]
    n = 2 * time
    if time == 0:  # an FFT of length 0 is an error; the result is just empty
        return x * 0
    if isinstance(x, np.ndarray):
        return _causal_conv_numpy(x, kernel, n)
    import torch

    x_f = torch.fft.rfft(x, n=n, dim=1)
    k_f = torch.fft.rfft(kernel, n=n, dim=1).transpose(0, 1)
    return torch.fft.irfft(x_f * k_f, n=n, dim=1)[:, :time]


def _causal_conv_numpy(x: npt.NDArray[Any], kernel: npt.NDArray[Any], n: int) -> npt.NDArray[Any]:
    x_f = np.fft.rfft(x, n=n, axis=1)
    k_f = np.fft.rfft(kernel, n=n, axis=1).T
    y = np.fft.irfft(x_f * k_f, n=n, axis=1)[:, : x.shape[1]]
    return np.ascontiguousarray(y, dtype=x.dtype)
