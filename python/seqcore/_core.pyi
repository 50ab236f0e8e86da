# Stubs of the native module built from rust/seqcore-py; checked against the
# binary by tests/test_stubs.py.
from typing import Any

import numpy.typing as npt

__all__ = [
    "__version__",
    "default_num_threads",
    "get_num_threads",
    "linear_scan",
    "linear_scan_backward",
    "set_num_threads",
]

__version__: str

_Array = npt.NDArray[Any]

def get_num_threads() -> int: ...
def set_num_threads(threads: int) -> None: ...
def default_num_threads() -> int: ...
def linear_scan(
    a: _Array,
    b: _Array,
    h0: _Array | None = None,
    reverse: bool = False,
    out: _Array | None = None,
) -> _Array: ...
def linear_scan_backward(
    a: _Array,
    h: _Array,
    grad_h: _Array,
    h0: _Array | None = None,
    reverse: bool = False,
) -> tuple[_Array, _Array, _Array]: ...
