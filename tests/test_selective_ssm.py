"""seqcore.nn.SelectiveSSM: the Mamba mixer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from seqcore.nn import SelectiveSSM


@settings(max_examples=20)
@given(
    batch=st.integers(1, 3),
    length=st.integers(1, 25),
    d_model=st.integers(1, 9),
    d_state=st.sampled_from([1, 4, 16]),
    d_conv=st.integers(1, 4),
    seed=st.integers(0, 2**31),
)
def test_step_by_step_matches_the_full_sequence(batch, length, d_model, d_state, d_conv, seed):
    torch.manual_seed(seed)
    layer = SelectiveSSM(d_model, d_state=d_state, d_conv=d_conv).double()
    u = torch.randn(batch, length, d_model, dtype=torch.float64)
    with torch.no_grad():
        full = layer(u)
        state = layer.initial_state(batch, dtype=torch.float64)
        steps = []
        for t in range(length):
            y, state = layer.step(u[:, t], state)
            steps.append(y)
    torch.testing.assert_close(torch.stack(steps, dim=1), full, rtol=1e-10, atol=1e-10)


def test_initialisation_follows_the_paper():
    layer = SelectiveSSM(32, d_state=8, dt_min=0.01, dt_max=0.05)
    A = -torch.exp(layer.A_log.detach())
    torch.testing.assert_close(A[0], -torch.arange(1.0, 9.0))
    dt = torch.nn.functional.softplus(layer.dt_proj.bias.detach())
    assert dt.min() >= 0.01 * 0.999 and dt.max() <= 0.05 * 1.001
    assert torch.all(layer.D == 1)
    assert layer.d_inner == 64 and layer.dt_rank == 2


def test_gradients_flow_and_gradcheck():
    torch.manual_seed(0)
    layer = SelectiveSSM(4, d_state=3, d_conv=3).double()
    u = torch.randn(2, 6, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: layer(x), (u,))
    layer(u).pow(2).sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_bidirectional_sees_the_future_and_refuses_step():
    torch.manual_seed(1)
    layer = SelectiveSSM(4, d_state=4, bidirectional=True).double()
    u = torch.randn(1, 10, 4, dtype=torch.float64)
    base = layer(u)
    changed = u.clone()
    changed[:, -1] += 1.0
    # A change at the last step reaches the first output only if the mixer
    # is bidirectional.
    assert not torch.allclose(layer(changed)[:, 0], base[:, 0])
    causal = SelectiveSSM(4, d_state=4).double()
    assert torch.allclose(causal(changed)[:, 0], causal(u)[:, 0])
    with pytest.raises(RuntimeError, match="no step-by-step mode"):
        layer.step(u[:, 0], layer.initial_state(1))


def test_bidirectional_matches_a_dense_reference():
    """Hydra's form: shift(SS(x)) + flip(shift(SS(flip(x)))) + D x, written
    with the selective scan's explicit matrices."""
    torch.manual_seed(2)
    layer = SelectiveSSM(3, d_state=2, d_conv=3, bidirectional=True).double()
    u = torch.randn(1, 7, 3, dtype=torch.float64)
    with torch.no_grad():
        x, z = layer.in_proj(u).transpose(1, 2).chunk(2, dim=1)
        x = torch.nn.functional.silu(layer.conv1d(torch.nn.functional.pad(x, (1, 1))))
        delta, B, C = layer._scan_inputs(x)
        dt = torch.nn.functional.softplus(delta + layer.dt_proj.bias[:, None])[0]  # (d, L)
        A = -torch.exp(layer.A_log)
        L = x.shape[-1]
        y = torch.zeros_like(x[0])
        for d in range(x.shape[1]):
            for t in range(L):
                total = layer.D[d] * x[0, d, t]
                for s in range(L):
                    if s == t:
                        continue
                    # Hydra's quasiseparable entries: for s < t, C_{t-1} A_{t-1:s} B_s;
                    # for s > t, C_{t+1} A_{t+1:s} B_s (the shifted scans).
                    if s < t:
                        c, steps = C[0, :, t - 1], range(s + 1, t)
                    else:
                        c, steps = C[0, :, t + 1], range(t + 1, s)
                    decay = torch.exp(sum((dt[d, k] for k in steps), torch.tensor(0.0,
                                      dtype=torch.float64)) * A[d])  # fmt: skip
                    total = total + (c * decay * B[0, :, s]).sum() * dt[d, s] * x[0, d, s]
                y[d, t] = total
        want = layer.out_proj((y * torch.nn.functional.silu(z[0])).T.unsqueeze(0))
        torch.testing.assert_close(layer(u), want, rtol=1e-9, atol=1e-9)


def test_compiles():
    torch.manual_seed(3)
    layer = SelectiveSSM(8, d_state=4)
    u = torch.randn(2, 5, 8)
    torch.testing.assert_close(torch.compile(layer)(u), layer(u), rtol=1e-5, atol=1e-5)
