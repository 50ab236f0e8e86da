"""Bad input to every public entry point gives a clear exception, never a
Rust panic (PanicException) or an InternalError, and never a crash."""

from __future__ import annotations

import numpy as np
import pytest

import seqcore
from seqcore import _core
from seqcore._threads import MAX_NUM_THREADS

f32 = np.ones((2, 5, 3), dtype=np.float32)
f64 = np.ones((2, 5, 3), dtype=np.float64)

# (callable, expected exception, a fragment of the message)
CASES = [
    (
        lambda: seqcore.scan.linear(f32, np.ones((2, 4, 3), np.float32)),
        ValueError,
        "a and b must have the same shape, got (2, 5, 3) and (2, 4, 3)",
    ),
    (
        lambda: seqcore.scan.linear(f32, f64),
        TypeError,
        "a and b must have the same dtype, got float32 and float64",
    ),
    (
        lambda: seqcore.scan.linear(np.ones((2, 5, 3), np.int64), f32),
        TypeError,
        "a must have a floating or complex dtype",
    ),
    (lambda: seqcore.scan.linear(f32, np.ones((2, 5, 3), bool)), TypeError, "got bool"),
    (
        lambda: seqcore.scan.linear(np.ones((5, 3), np.float32), np.ones((5, 3), np.float32)),
        ValueError,
        "a must have 3 dimensions (batch, time, dim), got shape (5, 3)",
    ),
    (lambda: seqcore.scan.linear(np.float32(1.0), np.float32(1.0)), ValueError, "got shape ()"),
    (
        lambda: seqcore.scan.linear(f32, f32, np.ones((3, 2), np.float32)),
        ValueError,
        "h0 must have shape (batch, dim) = (2, 3), got (3, 2)",
    ),
    (
        lambda: seqcore.scan.linear(f32, f32, np.ones((2, 3), np.float64)),
        TypeError,
        "a and h0 must have the same dtype",
    ),
    (lambda: seqcore.scan.linear(f32, f32, reverse=1), TypeError, "reverse must be a bool"),
    (lambda: seqcore.scan.linear("abc", f32), TypeError, "a must be a numpy array"),
    (
        lambda: seqcore.scan.linear(f32, f32, out=np.ones((2, 5, 4), np.float32)),
        ValueError,
        "out must have shape (2, 5, 3), got (2, 5, 4)",
    ),
    (
        lambda: seqcore.scan.linear(f32, f32, out=np.ones((2, 5, 3), np.float64)),
        TypeError,
        "a and out must have the same dtype",
    ),
    (
        lambda: seqcore.scan.linear(f32, f32.copy(), out=f32),
        ValueError,
        "must not share memory with an input",
    ),
    (
        lambda: seqcore.scan.linear(
            f32, f32, out=np.ones((2, 3, 5), np.float32).transpose(0, 2, 1)
        ),
        ValueError,
        "out must be C-contiguous",
    ),
    (lambda: _core.linear_scan(f32[:, ::2], f32[:, ::2]), ValueError, "a must be C-contiguous"),
    (lambda: _core.linear_scan([1.0], f32), TypeError, "a must be a numpy array, got list"),
    (
        lambda: _core.linear_scan_backward(f32, f32, np.ones((2, 5, 2), np.float32)),
        ValueError,
        "a and grad_h must have the same shape",
    ),
    (
        lambda: _core.linear_scan_backward(f32, f64, f32),
        TypeError,
        "a and h must have the same dtype",
    ),
    (
        lambda: _core.linear_scan_backward(f32, f32, f32, np.ones(3, np.float32)),
        ValueError,
        "h0 must have shape (batch, dim) = (2, 3), got (3,)",
    ),
    (lambda: seqcore.set_num_threads(0), ValueError, "at least 1"),
    (lambda: seqcore.set_num_threads(-1), ValueError, "at least 1 and at most"),
    (lambda: seqcore.set_num_threads(2**64), ValueError, "got 18446744073709551616"),
    (lambda: seqcore.set_num_threads(2.0), TypeError, "must be an int, got float"),
    (lambda: seqcore.set_num_threads("4"), TypeError, "must be an int, got str"),
]


@pytest.mark.parametrize("call, error, message", CASES)
def test_bad_input_gives_clear_error(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)
    assert type(info.value).__name__ not in ("PanicException", "InternalError")


def test_refused_thread_counts_leave_the_setting_alone():
    """Absurd pool sizes are refused: a pool would start that many threads."""
    before = seqcore.get_num_threads()
    try:
        for bad in (-1, 0, 2**63, 1_000_000, MAX_NUM_THREADS + 1):
            with pytest.raises(ValueError, match="at least 1 and at most"):
                seqcore.set_num_threads(bad)
            assert seqcore.get_num_threads() == before
        with pytest.raises(TypeError, match="must be an int, got bool"):
            seqcore.set_num_threads(True)
        assert seqcore.get_num_threads() == before
        seqcore.set_num_threads(np.int64(3))
        assert seqcore.get_num_threads() == 3
        seqcore.set_num_threads(MAX_NUM_THREADS)
        assert seqcore.get_num_threads() == MAX_NUM_THREADS
    finally:
        seqcore.set_num_threads(before)


def test_read_only_inputs_are_fine_and_read_only_out_is_refused():
    a = np.ones((1, 4, 2))
    a.flags.writeable = False
    assert seqcore.scan.linear(a, a).shape == (1, 4, 2)
    out = np.empty((1, 4, 2))
    out.flags.writeable = False
    with pytest.raises(ValueError, match="cannot be written"):
        seqcore.scan.linear(a, a, out=out)


def test_torch_bad_input():
    torch = pytest.importorskip("torch")
    t32 = torch.ones(2, 5, 3)
    cases = [
        (
            lambda: seqcore.scan.linear(t32, torch.ones(2, 5, 3, dtype=torch.float64)),
            TypeError,
            "must have the same dtype",
        ),
        (
            lambda: seqcore.scan.linear(t32, torch.ones(2, 4, 3)),
            ValueError,
            "a and b must have the same shape, got (2, 5, 3) and (2, 4, 3)",
        ),
        (lambda: seqcore.scan.linear(t32, t32.numpy()), TypeError, "b must be a torch.Tensor"),
        (
            lambda: seqcore.scan.linear(torch.ones(2, 5, 3, dtype=torch.int32), t32),
            TypeError,
            "floating or complex",
        ),
        (
            lambda: seqcore.scan.linear(t32, t32, torch.ones(2, 2)),
            ValueError,
            "h0 must have shape (batch, dim) = (2, 3), got (2, 2)",
        ),
        (
            lambda: seqcore.scan.linear(t32, t32, out=np.empty((2, 5, 3), np.float32)),
            TypeError,
            "numpy arrays only",
        ),
        (
            lambda: seqcore.scan.linear(torch.ones(5, 3), torch.ones(5, 3)),
            ValueError,
            "3 dimensions",
        ),
        (
            lambda: seqcore.scan.linear(t32.to("meta"), t32.to("meta")),
            NotImplementedError,
            "CPU tensors",
        ),
    ]
    for call, error, message in cases:
        with pytest.raises(error) as info:
            call()
        assert message in str(info.value)


def test_nan_and_inf_are_results_not_errors():
    a = np.array([[[0.5], [np.inf], [np.nan]]])
    b = np.ones((1, 3, 1))
    h = seqcore.scan.linear(a, b)
    assert h[0, 0, 0] == 1.0 and h[0, 1, 0] == np.inf and np.isnan(h[0, 2, 0])
