"""``seqcore::ssm_kernel``: K[h, l] = sum_n w[h, n] z[h, n]^l as a torch custom op."""

from __future__ import annotations

from typing import Any

import torch

from seqcore import _core
from seqcore.ops._convert import from_numpy, to_numpy

# Dtypes computed in float32 and returned in their own dtype.
_HALF = (torch.float16, torch.bfloat16)
_KERNEL = (torch.float32, torch.float64, torch.complex64, torch.complex128)


@torch.library.custom_op("seqcore::ssm_kernel", mutates_args=(), device_types="cpu")
def ssm_kernel(w: torch.Tensor, z: torch.Tensor, length: int) -> torch.Tensor:
    """The Vandermonde kernel, ``(channels, length)``; see seqcore.scan.ssm_kernel."""
    return from_numpy(_core.ssm_kernel(to_numpy(w), to_numpy(z), length))


@ssm_kernel.register_fake
def _(w: torch.Tensor, z: torch.Tensor, length: int) -> torch.Tensor:
    check_shapes(w, z)
    return w.new_empty((w.shape[0], length))


@torch.library.custom_op("seqcore::ssm_kernel_backward", mutates_args=(), device_types="cpu")
def ssm_kernel_backward(
    w: torch.Tensor, z: torch.Tensor, grad_k: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients (w, z) of ssm_kernel, PyTorch's conjugate convention."""
    grad_w, grad_z = _core.ssm_kernel_backward(to_numpy(w), to_numpy(z), to_numpy(grad_k))
    return from_numpy(grad_w), from_numpy(grad_z)


@ssm_kernel_backward.register_fake
def _(w: torch.Tensor, z: torch.Tensor, grad_k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.empty_like(w), torch.empty_like(z)


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    w, z, _length = inputs
    ctx.save_for_backward(w, z)


def _backward(ctx: Any, grad_k: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
    w, z = ctx.saved_tensors
    grad_w, grad_z = ssm_kernel_backward(w, z, grad_k)
    return grad_w, grad_z, None


ssm_kernel.register_autograd(_backward, setup_context=_setup_context)


def check_shapes(w: torch.Tensor, z: torch.Tensor) -> None:
    """Raises ValueError with the same messages as the Rust core."""
    for name, x in (("w", w), ("z", z)):
        if x.dim() != 2:
            raise ValueError(
                f"{name} must have 2 dimensions (channels, modes), got shape {tuple(x.shape)}"
            )
    if w.shape != z.shape:
        raise ValueError(
            f"w and z must have the same shape, got {tuple(w.shape)} and {tuple(z.shape)}"
        )


def ssm_kernel_autograd(w: Any, z: Any, length: int) -> torch.Tensor:
    """The torch path of seqcore.scan.ssm_kernel: validates, upcasts half, calls the op."""
    for name, value in (("w", w), ("z", z)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"{name} must be a torch.Tensor like the other arguments, "
                f"got {type(value).__name__}"
            )
        if value.dtype not in _KERNEL + _HALF:
            raise TypeError(f"{name} must have a floating or complex dtype, got {value.dtype}")
    if w.dtype != z.dtype:
        raise TypeError(f"w and z must have the same dtype, got {w.dtype} and {z.dtype}")
    if w.device != z.device:
        raise ValueError(f"w and z must be on one device, got {w.device} and {z.device}")
    if w.device.type != "cpu":
        raise NotImplementedError(
            f"seqcore.scan.ssm_kernel runs on CPU tensors for now, got a tensor on {w.device}"
        )
    check_shapes(w, z)
    if w.dtype in _HALF:
        k: torch.Tensor = ssm_kernel(w.float(), z.float(), length)
        return k.to(w.dtype)
    result: torch.Tensor = ssm_kernel(w, z, length)
    return result
