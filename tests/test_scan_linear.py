"""seqcore.scan.linear on numpy arrays against the float64 reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import seqcore
from seqcore import _core
from tests.references import linear_scan as ref
from tests.strategies import DTYPES, random_array, shapes, tolerance


@given(
    shape=shapes,
    dtype=st.sampled_from(DTYPES),
    reverse=st.booleans(),
    with_h0=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_values_match_reference(shape, dtype, reverse, with_h0, seed):
    rng = np.random.default_rng(seed)
    a = random_array(rng, shape, dtype)
    b = random_array(rng, shape, dtype)
    h0 = random_array(rng, (shape[0], shape[2]), dtype) if with_h0 else None
    h = seqcore.scan.linear(a, b, h0, reverse=reverse)
    assert h.dtype == dtype and h.shape == shape
    np.testing.assert_allclose(
        h, ref.linear_scan(a, b, h0, reverse), rtol=tolerance(dtype), atol=tolerance(dtype)
    )


@given(
    shape=shapes,
    dtype=st.sampled_from(DTYPES),
    reverse=st.booleans(),
    with_h0=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_gradients_match_reference(shape, dtype, reverse, with_h0, seed):
    rng = np.random.default_rng(seed)
    a = random_array(rng, shape, dtype)
    b = random_array(rng, shape, dtype)
    grad_h = random_array(rng, shape, dtype)
    h0 = random_array(rng, (shape[0], shape[2]), dtype) if with_h0 else None
    h = seqcore.scan.linear(a, b, h0, reverse=reverse)
    got = _core.linear_scan_backward(a, h, grad_h, h0, reverse)
    want = ref.linear_scan_backward(a, ref.linear_scan(a, b, h0, reverse), grad_h, h0, reverse)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, w, rtol=tolerance(dtype), atol=tolerance(dtype))


def test_reference_gradients_agree_with_torch_autograd():
    """The hand-written reference backward is itself checked against autograd."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.complex128):
        a, b, w = (random_array(rng, (2, 7, 3), dtype) for _ in range(3))
        h0 = random_array(rng, (2, 3), dtype)
        for reverse in (False, True):
            ta, tb, th0 = (torch.tensor(x, requires_grad=True) for x in (a, b, h0))
            h, steps = th0, []
            for t in range(6, -1, -1) if reverse else range(7):
                h = ta[:, t] * h + tb[:, t]
                steps.append((t, h))
            out = torch.stack([s for _, s in sorted(steps, key=lambda p: p[0])], dim=1)
            (out * torch.tensor(w).conj()).real.sum().backward()
            h_ref = ref.linear_scan(a, b, h0, reverse)
            want = ref.linear_scan_backward(a, h_ref, w, h0, reverse)
            for got_t, w_arr in zip((ta.grad, tb.grad, th0.grad), want, strict=True):
                np.testing.assert_allclose(got_t.numpy(), w_arr, rtol=1e-12, atol=1e-12)


def test_float16_is_computed_in_float32():
    rng = np.random.default_rng(1)
    a = random_array(rng, (2, 50, 5), np.float16, scale=0.9)
    b = random_array(rng, (2, 50, 5), np.float16)
    h = seqcore.scan.linear(a, b)
    assert h.dtype == np.float16
    want = ref.linear_scan(a.astype(np.float32), b.astype(np.float32))
    np.testing.assert_allclose(h.astype(np.float64), want, rtol=2e-3, atol=2e-3)


def test_lists_are_accepted():
    h = seqcore.scan.linear([[[0.5], [0.5]]], [[[1.0], [1.0]]])
    np.testing.assert_array_equal(h, [[[1.0], [1.5]]])


def test_non_contiguous_inputs_are_read_correctly():
    rng = np.random.default_rng(2)
    big_a = random_array(rng, (3, 20, 12), np.float64)
    big_b = random_array(rng, (3, 20, 12), np.float64)
    a, b = big_a[:, ::2, 1::3], big_b.transpose(0, 1, 2)[:, 1::2, ::3]
    assert not a.flags.c_contiguous and not b.flags.c_contiguous
    np.testing.assert_allclose(seqcore.scan.linear(a, b), ref.linear_scan(a, b), rtol=1e-12)


def test_out_parameter_is_written_and_returned():
    rng = np.random.default_rng(3)
    a, b = random_array(rng, (2, 9, 4), np.float32), random_array(rng, (2, 9, 4), np.float32)
    out = np.full((2, 9, 4), np.nan, dtype=np.float32)
    result = seqcore.scan.linear(a, b, out=out)
    assert result is out
    np.testing.assert_allclose(out, ref.linear_scan(a, b), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_million_steps_float32_stays_accurate():
    """No cumulative product: a 1e6-step float32 scan tracks a float64 loop."""
    length = 1_000_000
    rng = np.random.default_rng(4)
    # Gates close to 1 give long memories, the hard case for accuracy.
    a = rng.uniform(0.99, 0.9999, size=(1, length, 2)).astype(np.float32)
    b = rng.uniform(-1, 1, size=(1, length, 2)).astype(np.float32)
    h = seqcore.scan.linear(a, b)
    assert np.isfinite(h).all()
    # float64 loop on the same float32 inputs, vectorised over the 2 columns
    # by the float64 kernel, which is itself checked against the reference.
    want = seqcore.scan.linear(a.astype(np.float64), b.astype(np.float64))
    np.testing.assert_allclose(
        want[:, :2000], ref.linear_scan(a[:, :2000], b[:, :2000]), rtol=1e-12
    )
    scale = np.abs(want).max()
    assert np.max(np.abs(h - want)) / scale < 1e-4


def test_nan_propagates_from_its_step_on():
    a = np.full((1, 6, 2), 0.5)
    b = np.ones((1, 6, 2))
    b[0, 2, 0] = np.nan
    h = seqcore.scan.linear(a, b)
    assert np.isfinite(h[0, :2, 0]).all() and np.isnan(h[0, 2:, 0]).all()
    assert np.isfinite(h[0, :, 1]).all()


def test_empty_arrays_give_empty_results():
    for shape in [(0, 5, 3), (2, 0, 3), (2, 5, 0)]:
        h = seqcore.scan.linear(np.ones(shape), np.ones(shape))
        assert h.shape == shape
        grads = _core.linear_scan_backward(np.ones(shape), h, np.ones(shape))
        assert grads[0].shape == shape and grads[2].shape == (shape[0], shape[2])
    # No time steps: the gradient for h0 is zero.
    grads = _core.linear_scan_backward(
        np.ones((2, 0, 3)), np.ones((2, 0, 3)), np.ones((2, 0, 3)), np.ones((2, 3))
    )
    np.testing.assert_array_equal(grads[2], np.zeros((2, 3)))


def test_results_do_not_depend_on_thread_count():
    rng = np.random.default_rng(5)
    a = random_array(rng, (3, 64, 1000), np.float32)
    b = random_array(rng, (3, 64, 1000), np.float32)
    before = seqcore.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3, 8):
            seqcore.set_num_threads(threads)
            h = seqcore.scan.linear(a, b)
            results.append((h, *_core.linear_scan_backward(a, h, b)))
        for other in results[1:]:
            for x, y in zip(results[0], other, strict=True):
                np.testing.assert_array_equal(x, y)
    finally:
        seqcore.set_num_threads(before)


@given(shape=shapes, seed=st.integers(0, 2**32 - 1), separate=st.booleans())
def test_bidirectional_is_the_quasiseparable_product(shape, seed, separate):
    rng = np.random.default_rng(seed)
    a, b = random_array(rng, shape, np.float64), random_array(rng, shape, np.float64)
    r = random_array(rng, shape, np.float64) if separate else a
    got = seqcore.scan.linear_bidirectional(a, b, r if separate else None)
    time = shape[1]
    want = np.zeros(shape)
    for t in range(time):
        for s in range(time):
            if s <= t:
                weight = np.prod(a[:, s + 1 : t + 1], axis=1)
            else:
                weight = np.prod(r[:, t:s], axis=1)
            want[:, t] += weight * b[:, s]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
