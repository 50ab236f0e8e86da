"""Length 65,536 in float32 stays finite for every scan (issue 3's numerics)."""

from __future__ import annotations

import numpy as np
import pytest

import seqcore

LENGTH = 65_536


def test_ema_both_modes_at_length_65536():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, LENGTH, 2)).astype(np.float32)
    alpha, delta, beta, gamma = (rng.standard_normal((2, 4)).astype(np.float32) for _ in range(4))
    delta[0] = -30.0  # q close to 1: very long memory
    scan = seqcore.scan.ema(x, alpha, delta, beta, gamma, mode="scan")
    conv = seqcore.scan.ema(x, alpha, delta, beta, gamma, mode="conv")
    assert np.isfinite(scan).all() and np.isfinite(conv).all()
    np.testing.assert_allclose(scan, conv, rtol=1e-3, atol=1e-3 * np.abs(scan).max())


def test_ssm_kernel_at_length_65536():
    z = np.array([[0.9999 * np.exp(0.01j), 0.5 + 0.0j, 1e-30 + 0.0j]], np.complex64)
    w = np.ones_like(z)
    kernel = seqcore.scan.ssm_kernel(w, z, LENGTH)
    assert kernel.shape == (1, LENGTH) and np.isfinite(kernel).all()


def test_gateloop_recurrent_at_length_65536():
    rng = np.random.default_rng(1)
    shape = (1, LENGTH, 1, 4)
    q, k, v = (rng.standard_normal(shape).astype(np.float32) for _ in range(3))
    a = rng.uniform(0.001, 1.0, shape).astype(np.float32)
    y = seqcore.scan.gateloop(q, k, v, a, mode="recurrent")
    assert np.isfinite(y).all()


def test_gateloop_chunked_at_length_65536():
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(2)
    shape = (1, LENGTH, 1, 2)
    q, k, v = (torch.randn(shape, generator=g) for _ in range(3))
    a = torch.rand(shape, generator=g) * 0.98 + 0.01
    y = seqcore.scan.gateloop(q, k, v, a, mode="chunked")
    want = seqcore.scan.gateloop(q, k, v, a, mode="recurrent")
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y, want, rtol=1e-3, atol=1e-3)
