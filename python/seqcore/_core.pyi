# Stubs of the native module built from rust/seqcore-py; checked against the
# binary by tests/test_stubs.py.
from typing import Any

import numpy.typing as npt

__all__ = [
    "__version__",
    "damped_ema",
    "damped_ema_backward",
    "default_num_threads",
    "gateloop",
    "gateloop_backward",
    "get_num_threads",
    "linear_scan",
    "linear_scan_backward",
    "selective_scan",
    "selective_scan_backward",
    "set_num_threads",
    "ssm_kernel",
    "ssm_kernel_backward",
]

__version__: str

_Array = npt.NDArray[Any]

def get_num_threads() -> int: ...
def set_num_threads(threads: int) -> None: ...
def default_num_threads() -> int: ...
def gateloop(
    q: _Array, k: _Array, v: _Array, a: _Array, form: str = "recurrent", chunk_size: int = 64
) -> _Array: ...
def gateloop_backward(
    q: _Array,
    k: _Array,
    v: _Array,
    a: _Array,
    grad_y: _Array,
    form: str = "recurrent",
    chunk_size: int = 64,
) -> tuple[_Array, _Array, _Array, _Array]: ...
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
def selective_scan(
    u: _Array,
    delta: _Array,
    A: _Array,
    B: _Array,
    C: _Array,
    D: _Array | None = None,
    z: _Array | None = None,
    delta_bias: _Array | None = None,
    delta_softplus: bool = False,
) -> tuple[_Array, _Array]: ...
def selective_scan_backward(
    u: _Array,
    delta: _Array,
    A: _Array,
    B: _Array,
    C: _Array,
    D: _Array | None,
    z: _Array | None,
    delta_bias: _Array | None,
    delta_softplus: bool,
    grad_out: _Array,
    grad_last_state: _Array | None = None,
) -> tuple[_Array, _Array, _Array, _Array, _Array, _Array | None, _Array | None, _Array | None]: ...
def ssm_kernel(w: _Array, z: _Array, length: int) -> _Array: ...
def ssm_kernel_backward(w: _Array, z: _Array, grad_k: _Array) -> tuple[_Array, _Array]: ...
def damped_ema(x: _Array, decay: _Array, drive: _Array, readout: _Array) -> _Array: ...
def damped_ema_backward(
    x: _Array, decay: _Array, drive: _Array, readout: _Array, grad_y: _Array
) -> tuple[_Array, _Array, _Array, _Array]: ...
