"""Zero-copy conversion between CPU tensors and numpy for the native kernels."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch


def to_numpy(tensor: torch.Tensor) -> npt.NDArray[Any]:
    """A C-contiguous numpy view of a CPU tensor (copied only if it must be).

    Conjugate and negative views are materialised, since numpy cannot
    represent them; a contiguous, plain tensor shares memory. Any other
    strided view (an expanded gradient such as ``h.sum()``'s) is copied by
    numpy, not by ``Tensor.contiguous()``: a fresh torch allocation of
    hundreds of megabytes can take several times as long to fault in
    (measured 50 ms against numpy's 10 for 134 MB, where transparent huge
    pages are on request), and the copy is freed with the call anyway.
    """
    plain = tensor.detach().resolve_conj().resolve_neg()
    return np.ascontiguousarray(plain.numpy())


def optional_numpy(tensor: torch.Tensor | None) -> npt.NDArray[Any] | None:
    return None if tensor is None else to_numpy(tensor)


def from_numpy(array: npt.NDArray[Any]) -> torch.Tensor:
    """A tensor sharing the memory of a numpy array the kernel returned."""
    return torch.from_numpy(array)
