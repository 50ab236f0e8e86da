"""seqcore.scan.ssm_kernel (the Vandermonde kernel of a diagonal SSM): values
and gradients against the naive reference, the torch op, bad input, and
S4D's convolution mode against its scan mode."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import seqcore
from seqcore import _core
from tests.references import ssm_kernel as ref
from tests.strategies import DTYPES, random_array, tolerance

torch = pytest.importorskip("torch")

import seqcore.ops  # registers torch.ops.seqcore.*
from seqcore.nn import S4D

# (channels, modes, length): channels 1, odd sizes, length 0 and 1, and
# lengths on both sides of the kernel's 64-step blocks.
kernel_shapes = st.tuples(
    st.integers(1, 4),
    st.integers(0, 9),
    st.one_of(st.integers(0, 3), st.integers(60, 140)),
)
TORCH_DTYPES = [torch.float32, torch.float64, torch.complex64, torch.complex128]


def uniform(shape, dtype, generator, scale=1.0):
    """Uniform in [-scale, scale), in both parts for complex dtypes (torch.rand
    draws both parts from [0, 1))."""
    x = torch.rand(shape, dtype=dtype, generator=generator)
    centre = complex(0.5, 0.5) if dtype.is_complex else 0.5
    return (x - centre) * (2 * scale)


def inputs(rng, channels, modes, dtype):
    w = random_array(rng, (channels, modes), dtype)
    # |z| <= 0.95, so that powers decay like a stable SSM's.
    z = random_array(rng, (channels, modes), dtype, scale=0.67)
    return w, z


@given(shape=kernel_shapes, dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**32 - 1))
def test_values_and_gradients_match_reference(shape, dtype, seed):
    channels, modes, length = shape
    rng = np.random.default_rng(seed)
    w, z = inputs(rng, channels, modes, dtype)
    k = seqcore.scan.ssm_kernel(w, z, length)
    assert k.dtype == dtype and k.shape == (channels, length)
    tol = tolerance(dtype)
    np.testing.assert_allclose(k, ref.ssm_kernel(w, z, length), rtol=tol, atol=tol)
    grad_k = random_array(rng, (channels, length), dtype)
    grads = _core.ssm_kernel_backward(w, z, grad_k)
    for got, want in zip(grads, ref.ssm_kernel_backward(w, z, grad_k), strict=True):
        assert got.dtype == dtype
        # Gradients sum up to `length` terms, each as large as |grad_k|.
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(length, 1))


@given(shape=kernel_shapes, dtype=st.sampled_from(TORCH_DTYPES), seed=st.integers(0, 2**31))
def test_torch_values_and_gradients(shape, dtype, seed):
    channels, modes, length = shape
    g = torch.Generator().manual_seed(seed)
    w = uniform((channels, modes), dtype, g).requires_grad_()
    z = uniform((channels, modes), dtype, g, scale=0.67).requires_grad_()
    weight = uniform((channels, length), dtype, g)
    k = seqcore.scan.ssm_kernel(w, z, length)
    assert isinstance(k, torch.Tensor) and k.dtype == dtype
    (k * weight.conj()).real.sum().backward()
    np_w, np_z = w.detach().numpy(), z.detach().numpy()
    tol = 1e-4 if dtype in (torch.float32, torch.complex64) else 1e-10
    np.testing.assert_allclose(
        k.detach().numpy(), ref.ssm_kernel(np_w, np_z, length), rtol=tol, atol=tol
    )
    want = ref.ssm_kernel_backward(np_w, np_z, weight.numpy())
    for got, expected in zip((w.grad, z.grad), want, strict=True):
        np.testing.assert_allclose(got.numpy(), expected, rtol=tol, atol=tol * max(length, 1))


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
@pytest.mark.parametrize("length", [1, 5, 70])
def test_gradcheck(dtype, length):
    g = torch.Generator().manual_seed(length)
    w = uniform((3, 4), dtype, g).requires_grad_()
    z = uniform((3, 4), dtype, g, scale=0.67).requires_grad_()
    assert torch.autograd.gradcheck(lambda w, z: seqcore.scan.ssm_kernel(w, z, length), (w, z))


@pytest.mark.parametrize("dtype", TORCH_DTYPES)
def test_opcheck(dtype):
    g = torch.Generator().manual_seed(1)
    w = torch.rand(2, 3, dtype=dtype, generator=g)
    z = torch.rand(2, 3, dtype=dtype, generator=g) * 0.9
    for length in (1, 9):
        args = (w.clone().requires_grad_(), z.clone().requires_grad_(), length)
        torch.library.opcheck(torch.ops.seqcore.ssm_kernel.default, args)
    grad_k = torch.rand(2, 9, dtype=dtype, generator=g)
    torch.library.opcheck(torch.ops.seqcore.ssm_kernel_backward.default, (w, z, grad_k))


def test_inside_torch_compile():
    w, z = torch.rand(3, 4, dtype=torch.complex64), torch.rand(3, 4, dtype=torch.complex64) * 0.9

    def kernel_norm(w, z):
        return seqcore.scan.ssm_kernel(w, z, 17).abs().sum()

    eager = kernel_norm(w, z)
    torch.testing.assert_close(torch.compile(kernel_norm, fullgraph=True)(w, z), eager)


def test_float32_is_computed_in_float64():
    # |z| near 1 with a large phase: float32 repeated multiplication would
    # drift by ~l * 6e-8; rounding once at the end keeps ~1e-7.
    z = np.array([[np.exp(-1e-5 + 2.3j)]], dtype=np.complex64)
    w = np.ones((1, 1), dtype=np.complex64)
    length = 200_000
    k = seqcore.scan.ssm_kernel(w, z, length)
    exact = z.astype(np.complex128)[0, 0] ** np.arange(length)
    assert np.max(np.abs(k[0] - exact)) < 3e-7


def test_half_precision_is_upcast():
    w = np.array([[1.0, -0.5]], dtype=np.float16)
    z = np.array([[0.5, 0.25]], dtype=np.float16)
    k = seqcore.scan.ssm_kernel(w, z, 4)
    assert k.dtype == np.float16
    np.testing.assert_allclose(k, ref.ssm_kernel(w, z, 4), rtol=1e-3)
    for dtype in (torch.float16, torch.bfloat16):
        tw = torch.tensor(w.astype(np.float32), dtype=dtype, requires_grad=True)
        tk = seqcore.scan.ssm_kernel(tw, torch.tensor(z.astype(np.float32), dtype=dtype), 4)
        assert tk.dtype == dtype
        tk.float().sum().backward()
        assert tw.grad is not None and tw.grad.dtype == dtype


def test_non_contiguous_and_conjugate_inputs():
    g = torch.Generator().manual_seed(3)
    w = torch.rand(6, 8, dtype=torch.complex128, generator=g)[:, ::2].conj()
    z = (torch.rand(4, 6, dtype=torch.complex128, generator=g) * 0.9).transpose(0, 1)
    assert not w.is_contiguous() and w.is_conj() and not z.is_contiguous()
    k = seqcore.scan.ssm_kernel(w, z, 11)
    want = ref.ssm_kernel(w.resolve_conj().numpy(), z.contiguous().numpy(), 11)
    np.testing.assert_allclose(k.numpy(), want, rtol=1e-12, atol=1e-12)
    k_np = seqcore.scan.ssm_kernel(w.resolve_conj().numpy(), z.numpy(), 11)
    np.testing.assert_allclose(k_np, want, rtol=1e-12, atol=1e-12)


def test_thread_count_does_not_change_bits():
    rng = np.random.default_rng(4)
    w, z = inputs(rng, 33, 7, np.complex64)
    before = seqcore.get_num_threads()
    try:
        seqcore.set_num_threads(1)
        one = seqcore.scan.ssm_kernel(w, z, 500)
        seqcore.set_num_threads(2)
        two = seqcore.scan.ssm_kernel(w, z, 500)
    finally:
        seqcore.set_num_threads(before)
    assert np.array_equal(one, two)


c64 = np.ones((2, 3), np.complex64)
c128 = np.ones((2, 3), np.complex128)

BAD_INPUT = [
    (
        lambda: seqcore.scan.ssm_kernel(c64, np.ones((3, 2), np.complex64), 4),
        ValueError,
        "w and z must have the same shape, got (2, 3) and (3, 2)",
    ),
    (
        lambda: seqcore.scan.ssm_kernel(np.ones(3, np.complex64), np.ones(3, np.complex64), 4),
        ValueError,
        "w must have 2 dimensions (channels, modes), got shape (3,)",
    ),
    (
        lambda: seqcore.scan.ssm_kernel(c64, np.ones((2, 3, 1), np.complex64), 4),
        ValueError,
        "z must have 2 dimensions (channels, modes)",
    ),
    (
        lambda: seqcore.scan.ssm_kernel(c64, c128, 4),
        TypeError,
        "w and z must have the same dtype, got complex64 and complex128",
    ),
    (
        lambda: seqcore.scan.ssm_kernel(np.ones((2, 3), np.int32), c64, 4),
        TypeError,
        "w must have a floating or complex dtype",
    ),
    (lambda: seqcore.scan.ssm_kernel(c64, c64, -1), ValueError, "length must be non-negative"),
    (lambda: seqcore.scan.ssm_kernel(c64, c64, 2.5), TypeError, "length must be an int"),
    (lambda: seqcore.scan.ssm_kernel(c64, c64, True), TypeError, "length must be an int"),
    (lambda: seqcore.scan.ssm_kernel("w", c64, 3), TypeError, "w must be a numpy array"),
    (
        lambda: _core.ssm_kernel_backward(c64, c64, np.ones((3, 5), np.complex64)),
        ValueError,
        "grad_k must have shape (channels, length) = (2, 5), got (3, 5)",
    ),
    (
        lambda: _core.ssm_kernel_backward(c64, c64, np.ones(5, np.complex64)),
        ValueError,
        "grad_k must have 2 dimensions (channels, length)",
    ),
    (
        lambda: _core.ssm_kernel_backward(c64, c64, np.ones((2, 5), np.complex128)),
        TypeError,
        "w and grad_k must have the same dtype",
    ),
    (lambda: _core.ssm_kernel(c64[:, ::2], c64[:, ::2], 3), ValueError, "C-contiguous"),
    (lambda: _core.ssm_kernel(c64, c64, 2**62), (MemoryError, ValueError), ""),
    (
        lambda: seqcore.scan.ssm_kernel(torch.ones(2, 3), torch.ones(2, 3, dtype=torch.float64), 3),
        TypeError,
        "w and z must have the same dtype",
    ),
    (
        lambda: seqcore.scan.ssm_kernel(torch.ones(2, 3), torch.ones(3, 2), 3),
        ValueError,
        "w and z must have the same shape, got (2, 3) and (3, 2)",
    ),
    (
        lambda: seqcore.scan.ssm_kernel(torch.ones(2, 3), np.ones((2, 3), np.float32), 3),
        TypeError,
        "z must be a torch.Tensor",
    ),
    (
        lambda: seqcore.scan.ssm_kernel(torch.ones(2, 3, dtype=torch.int64), torch.ones(2, 3), 3),
        TypeError,
        "floating or complex",
    ),
    (
        lambda: seqcore.scan.ssm_kernel(torch.ones(3), torch.ones(3), 3),
        ValueError,
        "w must have 2 dimensions",
    ),
    (
        lambda: seqcore.scan.ssm_kernel(torch.ones(2, 3), torch.ones(2, 3), -2),
        ValueError,
        "non-negative",
    ),
    (
        lambda: seqcore.scan.ssm_kernel(
            torch.ones(2, 3, device="meta"), torch.ones(2, 3, device="meta"), 3
        ),
        NotImplementedError,
        "CPU tensors",
    ),
]


@pytest.mark.parametrize("call, error, message", BAD_INPUT)
def test_bad_input_gives_clear_error(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)
    assert type(info.value).__name__ not in ("PanicException", "InternalError")


s4d_sizes = st.tuples(st.integers(1, 3), st.integers(1, 40), st.integers(1, 7), st.integers(1, 5))


@given(shape=s4d_sizes, seed=st.integers(0, 2**31))
def test_s4d_conv_mode_matches_scan_mode(shape, seed):
    batch, time, d_model, modes = shape
    torch.manual_seed(seed)
    scan = S4D(d_model, d_state=2 * modes).double()
    conv = S4D(d_model, d_state=2 * modes, mode="conv").double()
    conv.load_state_dict(scan.state_dict())
    x = torch.randn(batch, time, d_model, dtype=torch.float64)
    y_scan, y_conv = scan(x), conv(x)
    torch.testing.assert_close(y_conv, y_scan, rtol=1e-10, atol=1e-10)
    y_scan.pow(2).sum().backward()
    y_conv.pow(2).sum().backward()
    for (name, p), q in zip(scan.named_parameters(), conv.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-8, atol=1e-8, msg=name)


def test_s4d_conv_mode_in_float32_gradcheck_and_bad_mode():
    torch.manual_seed(0)
    scan, conv = S4D(4, 8), S4D(4, 8, mode="conv")
    conv.load_state_dict(scan.state_dict())
    x = torch.randn(2, 300, 4)
    torch.testing.assert_close(conv(x), scan(x), rtol=1e-4, atol=1e-4)
    conv = conv.double()
    x = torch.randn(2, 6, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp: conv(inp), (x,))
    with pytest.raises(ValueError, match="mode must be 'scan' or 'conv'"):
        S4D(4, 8, mode="fft")
