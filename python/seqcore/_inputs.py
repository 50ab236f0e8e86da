"""Turning user input into arrays the native kernels accept.

The native functions take C-contiguous numpy arrays of float32, float64,
complex64 or complex128. This module makes contiguous copies only where
needed (a contiguous array passes through untouched), upcasts half
precision to float32, and rejects everything else with a TypeError that
names the argument.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

KERNEL_DTYPES = (np.float32, np.float64, np.complex64, np.complex128)


def as_kernel_array(name: str, value: object) -> npt.NDArray[Any]:
    """``value`` as a C-contiguous numpy array of a kernel dtype."""
    if isinstance(value, np.ndarray):
        array = value
    elif isinstance(value, (list, tuple, int, float, complex, np.generic)):
        array = np.asarray(value)
    else:
        raise TypeError(
            f"{name} must be a numpy array or a torch tensor, got {type(value).__name__}"
        )
    if array.dtype == np.float16:
        array = array.astype(np.float32)
    elif array.dtype.type not in KERNEL_DTYPES:
        raise TypeError(
            f"{name} must have a floating or complex dtype (float16, float32, float64, "
            f"complex64 or complex128), got {array.dtype}"
        )
    # (np.ascontiguousarray would also turn a 0-d array into shape (1,).)
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def result_dtype(*arrays: object) -> np.dtype[Any] | None:
    """float16 when every given array is float16 (results go back to half)."""
    dtypes = [a.dtype for a in arrays if isinstance(a, np.ndarray)]
    if dtypes and all(d == np.float16 for d in dtypes):
        return np.dtype(np.float16)
    return None
