"""seqcore.nn modules against plain reference formulations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from seqcore.nn import LRU, S4D, LinearRecurrence

sizes = st.tuples(st.integers(1, 3), st.integers(1, 20), st.integers(1, 7))


@given(shape=sizes, seed=st.integers(0, 2**31))
def test_lru_matches_a_plain_loop(shape, seed):
    batch, time, d_model = shape
    torch.manual_seed(seed)
    lru = LRU(d_model, d_state=5).double()
    x = torch.randn(batch, time, d_model, dtype=torch.float64)
    lam = lru.eigenvalues().detach().numpy()
    gamma = np.exp(lru.gamma_log.detach().numpy())
    B = (lru.B_re + 1j * lru.B_im).detach().numpy()
    C = (lru.C_re + 1j * lru.C_im).detach().numpy()
    D = lru.D.detach().numpy()
    xs = x.numpy()
    h = np.zeros((batch, 5), dtype=np.complex128)
    want = np.zeros_like(xs)
    for t in range(time):
        h = lam * h + gamma * (xs[:, t] @ B.T)
        want[:, t] = (h @ C.T).real + D * xs[:, t]
    np.testing.assert_allclose(lru(x).detach().numpy(), want, rtol=1e-9, atol=1e-9)


def test_lru_eigenvalues_start_on_the_ring():
    lru = LRU(4, d_state=256, r_min=0.4, r_max=0.8, max_phase=1.0)
    radii = lru.eigenvalues().abs().detach()
    assert radii.min() >= 0.4 - 1e-6 and radii.max() <= 0.8 + 1e-6
    assert lru.eigenvalues().angle().detach().abs().max() <= 1.0 + 1e-6
    # gamma normalisation: gamma^2 + |lambda|^2 = 1 at initialisation.
    gamma = torch.exp(lru.gamma_log.detach())
    torch.testing.assert_close(gamma**2 + radii**2, torch.ones(256))


@given(shape=sizes, seed=st.integers(0, 2**31))
def test_s4d_scan_matches_its_convolution_kernel(shape, seed):
    """The scan equals a causal convolution with the S4D kernel
    K_l = 2 Re(sum_n C_n dA_n^l dB_n), computed directly."""
    batch, time, d_model = shape
    torch.manual_seed(seed)
    s4d = S4D(d_model, d_state=6).double()
    x = torch.randn(batch, time, d_model, dtype=torch.float64)
    dA, dB = (t.detach().numpy() for t in s4d.discretize(torch.complex128))
    C = torch.view_as_complex(s4d.C.detach()).numpy()
    powers = dA[None] ** np.arange(time)[:, None, None]  # (L, H, N)
    kernel = 2 * np.einsum("hn,lhn,hn->lh", C, powers, dB).real  # (L, H)
    xs = x.numpy()
    y = np.zeros_like(xs)
    for t in range(time):
        y[:, t] = np.einsum("blh,lh->bh", xs[:, t::-1], kernel[: t + 1])
    y += s4d.D.detach().numpy() * xs
    with torch.no_grad():
        want = s4d.output(torch.from_numpy(y))
        got = s4d(x)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-8, atol=1e-8)


def test_s4d_lin_initialisation():
    s4d = S4D(3, d_state=8, dt_min=0.01, dt_max=0.02)
    A_re = -torch.exp(s4d.A_log_re.detach())
    torch.testing.assert_close(A_re, torch.full((3, 4), -0.5))
    torch.testing.assert_close(s4d.A_im.detach()[0], math.pi * torch.arange(4.0))
    dt = torch.exp(s4d.log_dt.detach())
    assert dt.min() >= 0.01 - 1e-7 and dt.max() <= 0.02 + 1e-7


@given(shape=sizes, seed=st.integers(0, 2**31))
def test_linear_recurrence_matches_its_formula(shape, seed):
    batch, time, d_model = shape
    torch.manual_seed(seed)
    layer = LinearRecurrence(d_model, d_hidden=4).double()
    x = torch.randn(batch, time, d_model, dtype=torch.float64)
    h0 = torch.randn(batch, 4, dtype=torch.float64)
    with torch.no_grad():
        f_logit, v = layer.gate_and_value(x).chunk(2, dim=-1)
        f = torch.sigmoid(f_logit)
        h, steps = h0, []
        for t in range(time):
            h = f[:, t] * h + (1 - f[:, t]) * v[:, t]
            steps.append(h)
        want = layer.output(torch.stack(steps, dim=1))
        torch.testing.assert_close(layer(x, h0), want)


@pytest.mark.parametrize(
    "make", [lambda: LinearRecurrence(6), lambda: LRU(6, 8), lambda: S4D(6, 8)]
)
def test_modules_train_and_pass_gradcheck(make):
    torch.manual_seed(0)
    module = make().double()
    x = torch.randn(2, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp: module(inp), (x,))
    module(x).pow(2).mean().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_modules_work_in_float32_and_under_compile():
    torch.manual_seed(0)
    model = torch.nn.Sequential(LRU(4, 6), S4D(4, 6), LinearRecurrence(4))
    x = torch.randn(2, 11, 4)
    eager = model(x)
    assert eager.dtype == torch.float32
    compiled = torch.compile(model)
    torch.testing.assert_close(compiled(x), eager, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: LRU(0), "must be positive"),
        (lambda: LRU(4, r_min=0.9, r_max=0.5), "r_min < r_max"),
        (lambda: S4D(4, d_state=5), "even"),
        (lambda: S4D(4, dt_min=0.0), "dt_min"),
        (lambda: LinearRecurrence(4, min_timescale=0.5), "min_timescale"),
    ],
)
def test_bad_configuration(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_bidirectional_linear_recurrence_sees_both_directions():
    torch.manual_seed(0)
    layer = LinearRecurrence(3, bidirectional=True).double()
    x = torch.randn(1, 8, 3, dtype=torch.float64, requires_grad=True)
    y = layer(x)
    y[0, 0].sum().backward()
    assert x.grad[0, -1].abs().sum() > 0  # the first output depends on the last input
    with pytest.raises(ValueError, match="no h0"):
        layer(x, torch.zeros(1, 3, dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda inp: layer(inp), (x.detach().requires_grad_(),))


MODULES = {
    "LinearRecurrence": lambda: LinearRecurrence(4),
    "LRU": lambda: LRU(4, 6),
    "S4D": lambda: S4D(4, 6),
    "S4D conv": lambda: S4D(4, 6, mode="conv"),
}


def _all_modules():
    from seqcore.nn import GateLoop, MegaEMA, SelectiveSSM

    return MODULES | {
        "SelectiveSSM": lambda: SelectiveSSM(4, d_state=3),
        "GateLoop": lambda: GateLoop(4, heads=2),
        "MegaEMA": lambda: MegaEMA(4, ndim=3),
    }


@pytest.mark.parametrize("name", list(_all_modules()))
def test_every_module_handles_empty_input_and_names_a_wrong_width(name):
    torch.manual_seed(0)
    module = _all_modules()[name]()
    for shape in [(0, 5, 4), (2, 0, 4), (1, 1, 4)]:
        x = torch.randn(shape, requires_grad=True)
        y = module(x)
        assert y.shape == shape
        y.sum().backward()
    with pytest.raises(
        ValueError, match=r"must have shape \(batch, time, d_model=4\), got \(2, 5, 3\)"
    ):
        module(torch.zeros(2, 5, 3))
    with pytest.raises(TypeError, match="floating dtype"):
        module(torch.zeros(2, 5, 4, dtype=torch.int64))
    if hasattr(module, "step") and hasattr(module, "initial_state"):
        with pytest.raises(ValueError, match=r"must have shape \(batch, d_model=4\)"):
            module.step(torch.zeros(2, 3), module.initial_state(2))
