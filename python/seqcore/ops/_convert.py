"""Zero-copy conversion between CPU tensors and numpy for the native kernels."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch


def to_numpy(tensor: torch.Tensor) -> npt.NDArray[Any]:
    """A C-contiguous numpy view of a CPU tensor (copied only if it must be).

    Conjugate and negative views are materialised, since numpy cannot
    represent them; a contiguous, plain tensor shares memory.
    """
    plain = tensor.detach().resolve_conj().resolve_neg().contiguous()
    return np.ascontiguousarray(plain.numpy())


def optional_numpy(tensor: torch.Tensor | None) -> npt.NDArray[Any] | None:
    return None if tensor is None else to_numpy(tensor)


def from_numpy(array: npt.NDArray[Any]) -> torch.Tensor:
    """A tensor sharing the memory of a numpy array the kernel returned."""
    return torch.from_numpy(array)
