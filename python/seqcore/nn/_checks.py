"""Input checks shared by the modules, so that a wrong width says what was
expected instead of failing inside a matrix product."""

from __future__ import annotations

import torch


def check_sequence(x: object, d_model: int, name: str = "x") -> None:
    """``x`` must be a ``(batch, time, d_model)`` floating tensor."""
    _check_tensor(x, name)
    assert isinstance(x, torch.Tensor)
    if x.dim() != 3 or x.shape[-1] != d_model:
        raise ValueError(
            f"{name} must have shape (batch, time, d_model={d_model}), got {tuple(x.shape)}"
        )


def check_token(x: object, d_model: int, name: str = "x") -> None:
    """``x`` must be a ``(batch, d_model)`` floating tensor (one time step)."""
    _check_tensor(x, name)
    assert isinstance(x, torch.Tensor)
    if x.dim() != 2 or x.shape[-1] != d_model:
        raise ValueError(f"{name} must have shape (batch, d_model={d_model}), got {tuple(x.shape)}")


def _check_tensor(x: object, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
