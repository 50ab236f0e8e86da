"""seqcore.scan.ema and seqcore.nn.MegaEMA (Mega's damped EMA): both modes
against the naive loop, gradients, step-by-step inference, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import seqcore
from tests.references import ssm_kernel as ref

torch = pytest.importorskip("torch")

from seqcore.nn import MegaEMA

# (batch, time, dim, ndim): length 1, batch 1, odd sizes, and lengths past
# the Vandermonde kernel's 64-step blocks.
ema_shapes = st.tuples(
    st.integers(1, 3),
    st.one_of(st.integers(1, 5), st.integers(60, 130)),
    st.integers(1, 7),
    st.integers(1, 5),
)
MODES = ["scan", "conv"]


def ema_inputs(rng, shape, dtype):
    batch, time, dim, ndim = shape
    x = rng.standard_normal((batch, time, dim))
    # Logits spread as Mega's initialisation and further, so that decays
    # q = 1 - p sigmoid(delta) range from ~0 to ~1.
    params = [rng.normal(0, 2.0, (dim, ndim)) for _ in range(2)]
    params += [rng.standard_normal((dim, ndim)) for _ in range(2)]
    return [a.astype(dtype) for a in (x, *params)]


@given(
    shape=ema_shapes,
    dtype=st.sampled_from([np.float32, np.float64]),
    mode=st.sampled_from(MODES),
    seed=st.integers(0, 2**32 - 1),
)
def test_numpy_matches_reference(shape, dtype, mode, seed):
    args = ema_inputs(np.random.default_rng(seed), shape, dtype)
    y = seqcore.scan.ema(*args, mode=mode)
    assert isinstance(y, np.ndarray) and y.dtype == dtype and y.shape == shape[:3]
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(y, ref.ema(*args), rtol=tol, atol=tol)


@given(shape=ema_shapes, mode=st.sampled_from(MODES), seed=st.integers(0, 2**32 - 1))
def test_torch_values_and_gradients_match_between_modes_and_reference(shape, mode, seed):
    args = ema_inputs(np.random.default_rng(seed), shape, np.float64)
    tensors = [torch.tensor(a, requires_grad=True) for a in args]
    y = seqcore.scan.ema(*tensors, mode=mode)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float64
    np.testing.assert_allclose(y.detach().numpy(), ref.ema(*args), rtol=1e-10, atol=1e-10)
    weight = torch.randn(shape[:3], dtype=torch.float64)
    (y * weight).sum().backward()
    # The same loss through a plain torch loop (the reference, with autograd).
    plain = [torch.tensor(a, requires_grad=True) for a in args]
    (torch_loop_ema(*plain) * weight).sum().backward()
    for name, got, want in zip(
        ["x", "alpha", "delta", "beta", "gamma"], tensors, plain, strict=True
    ):
        torch.testing.assert_close(got.grad, want.grad, rtol=1e-9, atol=1e-9, msg=name)


def torch_loop_ema(x, alpha, delta, beta, gamma):
    p = torch.sigmoid(alpha)
    q = 1 - p * torch.sigmoid(delta)
    h = x.new_zeros(x.shape[0], *alpha.shape)
    steps = []
    for x_t in x.unbind(1):
        h = p * beta * x_t.unsqueeze(-1) + q * h
        steps.append((gamma * h).sum(-1))
    return torch.stack(steps, dim=1)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("time", [1, 7, 70])
def test_gradcheck(mode, time):
    rng = np.random.default_rng(time)
    args = [
        torch.tensor(a, requires_grad=True) for a in ema_inputs(rng, (2, time, 3, 2), np.float64)
    ]
    # fast_mode (a random projection of the Jacobian) keeps the long case cheap.
    assert torch.autograd.gradcheck(
        lambda *a: seqcore.scan.ema(*a, mode=mode), args, fast_mode=time > 10
    )


def test_float32_modes_agree_on_long_sequences():
    args = ema_inputs(np.random.default_rng(0), (2, 3000, 4, 3), np.float32)
    scan, conv = (seqcore.scan.ema(*args, mode=m) for m in MODES)
    want = ref.ema(*args)
    scale = np.abs(want).max()
    for y in (scan, conv):
        assert np.abs(y - want).max() < 1e-5 * scale


def test_half_precision_is_upcast():
    args = ema_inputs(np.random.default_rng(1), (1, 9, 2, 2), np.float16)
    y = seqcore.scan.ema(*args)
    assert y.dtype == np.float16
    np.testing.assert_allclose(y, ref.ema(*args), rtol=1e-2, atol=1e-2)
    for dtype in (torch.float16, torch.bfloat16):
        tensors = [torch.tensor(a.astype(np.float32), dtype=dtype) for a in args]
        tensors[0].requires_grad_()
        for mode in MODES:
            ty = seqcore.scan.ema(*tensors, mode=mode)
            assert ty.dtype == dtype
        ty.float().sum().backward()
        assert tensors[0].grad is not None and tensors[0].grad.dtype == dtype


@given(shape=ema_shapes, mode=st.sampled_from(MODES), seed=st.integers(0, 2**31))
def test_mega_ema_step_matches_forward(shape, mode, seed):
    batch, time, d_model, ndim = shape
    torch.manual_seed(seed)
    layer = MegaEMA(d_model, ndim, mode=mode).double()
    x = torch.randn(batch, time, d_model, dtype=torch.float64)
    with torch.no_grad():
        full = layer(x)
        state, steps = None, []
        for x_t in x.unbind(1):
            y_t, state = layer.step(x_t, state)
            steps.append(y_t)
    assert state.shape == (batch, d_model, ndim)
    torch.testing.assert_close(torch.stack(steps, dim=1), full, rtol=1e-10, atol=1e-10)


def test_mega_ema_matches_its_formula_and_modes_agree():
    torch.manual_seed(0)
    scan = MegaEMA(5, ndim=4).double()
    conv = MegaEMA(5, ndim=4, mode="conv").double()
    conv.load_state_dict(scan.state_dict())
    x = torch.randn(3, 50, 5, dtype=torch.float64)
    params = [getattr(scan, n).detach().numpy() for n in ("alpha", "delta", "beta", "gamma")]
    params[3] = params[3] / np.sqrt(4)
    ema_part = torch.from_numpy(ref.ema(x.numpy(), *params))
    want = torch.nn.functional.silu(ema_part + scan.omega.detach() * x)
    torch.testing.assert_close(scan(x), want)
    torch.testing.assert_close(conv(x), want)
    for layer in (scan, conv):
        layer(x).pow(2).mean().backward()
        for name, p in layer.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_mega_ema_initialisation_and_float32():
    torch.manual_seed(0)
    layer = MegaEMA(64, ndim=16)
    beta = layer.beta.detach()
    signs = torch.tensor([1.0, -1.0] * 8)
    assert torch.equal(torch.sign(beta), signs.expand(64, 16))
    assert (beta - signs).std() < 0.03
    assert 0.15 < layer.alpha.detach().std() < 0.25 and 0.15 < layer.delta.detach().std() < 0.25
    assert 0.8 < layer.gamma.detach().std() < 1.2
    x = torch.randn(2, 20, 64)
    y = layer(x)
    assert y.dtype == torch.float32
    state = None
    for x_t in x.unbind(1):
        y_t, state = layer.step(x_t, state)
    torch.testing.assert_close(y_t, y[:, -1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.compile(layer)(x), y, rtol=1e-5, atol=1e-5)


f64 = np.ones((2, 5, 3))
p64 = np.ones((3, 2))
t64 = torch.ones(2, 5, 3, dtype=torch.float64)
tp64 = torch.ones(3, 2, dtype=torch.float64)

BAD_INPUT = [
    (
        lambda: seqcore.scan.ema(f64, p64, p64, np.ones((3, 4)), p64),
        ValueError,
        "alpha and beta must have the same shape, got (3, 2) and (3, 4)",
    ),
    (
        lambda: seqcore.scan.ema(f64, np.ones((4, 2)), p64, p64, p64),
        ValueError,
        "alpha must have shape (dim, ndim) with dim = 3 (the last axis of x), got (4, 2)",
    ),
    (
        lambda: seqcore.scan.ema(np.ones((5, 3)), p64, p64, p64, p64),
        ValueError,
        "x must have 3 dimensions (batch, time, dim), got shape (5, 3)",
    ),
    (
        lambda: seqcore.scan.ema(f64, p64, p64, p64, p64.astype(np.float32)),
        TypeError,
        "x and gamma must have the same dtype, got float64 and float32",
    ),
    (
        lambda: seqcore.scan.ema(f64.astype(np.complex128), p64, p64, p64, p64),
        TypeError,
        "x must have a real floating dtype",
    ),
    (
        lambda: seqcore.scan.ema(f64, p64.astype(int), p64, p64, p64),
        TypeError,
        "alpha must have a floating or complex dtype",
    ),
    (lambda: seqcore.scan.ema(f64, p64, p64, p64, p64, mode="fft"), ValueError, "mode must be"),
    (
        lambda: seqcore.scan.ema(t64, tp64, tp64, p64, tp64),
        TypeError,
        "beta must be a torch.Tensor",
    ),
    (
        lambda: seqcore.scan.ema(t64, tp64, tp64.float(), tp64, tp64),
        TypeError,
        "x and delta must have the same dtype",
    ),
    (
        lambda: seqcore.scan.ema(t64, tp64, tp64, tp64, torch.ones(3, 1, dtype=torch.float64)),
        ValueError,
        "alpha and gamma must have the same shape",
    ),
    (
        lambda: seqcore.scan.ema(t64.to(torch.complex128), tp64, tp64, tp64, tp64),
        TypeError,
        "x must have a real floating dtype",
    ),
    (lambda: MegaEMA(0), ValueError, "must be positive"),
    (lambda: MegaEMA(4, mode="fft"), ValueError, "mode must be"),
    (lambda: MegaEMA(3, 2).step(torch.ones(2, 4)), ValueError, "x_t must have shape"),
    (
        lambda: MegaEMA(3, 2).step(torch.ones(2, 3), torch.ones(2, 3, 3)),
        ValueError,
        "state must have shape (batch, d_model, ndim) = (2, 3, 2), got (2, 3, 3)",
    ),
]


@pytest.mark.parametrize("call, error, message", BAD_INPUT)
def test_bad_input_gives_clear_error(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)
    assert type(info.value).__name__ not in ("PanicException", "InternalError")


def test_bidirectional_mega_ema_adds_a_reverse_ema():
    torch = pytest.importorskip("torch")
    from seqcore.nn import MegaEMA

    torch.manual_seed(0)
    layer = MegaEMA(3, ndim=4, bidirectional=True).double()
    x = torch.randn(2, 9, 3, dtype=torch.float64)
    scaled = layer.gamma * layer.scale
    p, q = layer.coefficients()
    want = torch.zeros_like(x)
    for half, order in ((slice(0, 3), range(9)), (slice(3, 6), range(8, -1, -1))):
        state = torch.zeros(2, 3, 4, dtype=torch.float64)
        for t in order:
            state = p[half] * layer.beta[half] * x[:, t, :, None] + q[half] * state
            want[:, t] += (state * scaled[half]).sum(-1)
    want = torch.nn.functional.silu(want + layer.omega * x)
    for mode in ("scan", "conv"):
        layer.mode = mode
        torch.testing.assert_close(layer(x), want, rtol=1e-9, atol=1e-9)
    with pytest.raises(RuntimeError, match="no step-by-step mode"):
        layer.step(x[:, 0])
    assert torch.autograd.gradcheck(lambda inp: layer(inp), (x.requires_grad_(),))


@pytest.mark.parametrize(
    "args, error, message",
    [
        (
            (np.ones((2, 3, 4)), np.ones((3, 2)), np.ones((4, 2)), np.ones((4, 2))),
            ValueError,
            "decay must have shape (dim, ndim) = (4, 2), got (3, 2)",
        ),
        (
            (np.ones((2, 3, 4)), np.ones((4, 2)), np.ones((4, 3)), np.ones((4, 2))),
            ValueError,
            "drive must have shape (dim, ndim) = (4, 2), got (4, 3)",
        ),
        (
            (np.ones((3, 4)), np.ones((4, 2)), np.ones((4, 2)), np.ones((4, 2))),
            ValueError,
            "x must have 3 dimensions (batch, time, dim)",
        ),
        (
            (np.ones((2, 3, 4), np.float32), np.ones((4, 2)), np.ones((4, 2)), np.ones((4, 2))),
            TypeError,
            "x and decay must have the same dtype",
        ),
        (
            (np.ones((2, 3, 4), np.complex64),) + (np.ones((4, 2), np.complex64),) * 3,
            TypeError,
            "float32 or float64",
        ),
    ],
)
def test_fused_kernel_bad_input(args, error, message):
    from seqcore import _core

    with pytest.raises(error) as info:
        _core.damped_ema(*args)
    assert message in str(info.value)
    with pytest.raises(error):
        _core.damped_ema_backward(*args, np.ones_like(args[0]))
