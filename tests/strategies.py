"""Hypothesis strategies shared by the tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st

DTYPES = [np.float32, np.float64, np.complex64, np.complex128]

# (batch, time, dim) with the edge cases the kernels must handle: length 1,
# batch 1, odd dims, and sizes that cut rows into several column blocks.
shapes = st.tuples(
    st.integers(1, 4), st.integers(1, 40), st.one_of(st.integers(1, 9), st.integers(60, 300))
)


def random_array(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: Any, scale: float = 1.0
) -> npt.NDArray[Any]:
    values = rng.uniform(-scale, scale, size=shape)
    if np.issubdtype(dtype, np.complexfloating):
        values = values + 1j * rng.uniform(-scale, scale, size=shape)
    return values.astype(dtype)


def tolerance(dtype: Any) -> float:
    return 1e-4 if dtype in (np.float32, np.complex64) else 1e-10
