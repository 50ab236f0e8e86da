"""seqcore.nn.GateLoop: step mode, gradients, modes and torch.compile."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from seqcore.nn import GateLoop

MODES = ["chunked", "recurrent", "attention"]


@settings(max_examples=20)
@given(
    batch=st.integers(1, 3),
    length=st.integers(1, 25),
    d_model=st.integers(1, 9),
    heads=st.integers(1, 3),
    complex_gates=st.booleans(),
    mode=st.sampled_from(MODES),
    seed=st.integers(0, 2**31),
)
def test_step_by_step_matches_the_full_sequence(
    batch, length, d_model, heads, complex_gates, mode, seed
):
    torch.manual_seed(seed)
    layer = GateLoop(d_model, heads=heads, complex_gates=complex_gates, mode=mode, chunk_size=4)
    layer = layer.double()
    x = torch.randn(batch, length, d_model, dtype=torch.float64)
    with torch.no_grad():
        full = layer(x)
        state = layer.initial_state(batch, dtype=torch.float64)
        steps = []
        for t in range(length):
            y, state = layer.step(x[:, t], state)
            steps.append(y)
    assert full.shape == (batch, length, d_model)
    torch.testing.assert_close(torch.stack(steps, dim=1), full, rtol=1e-10, atol=1e-10)


def test_shapes_and_defaults():
    layer = GateLoop(32, heads=4)
    assert (layer.d_k, layer.d_v) == (8, 8)
    assert layer.initial_state(2).shape == (2, 4, 8, 8)
    assert layer.initial_state(2).dtype == torch.complex64
    layer = GateLoop(6, heads=2, d_k=5, d_v=3, complex_gates=False)
    assert layer.initial_state(1).dtype == torch.float32
    assert layer(torch.randn(2, 7, 6)).shape == (2, 7, 6)


@pytest.mark.parametrize("mode", MODES)
def test_gradients_flow_and_gradcheck(mode):
    torch.manual_seed(0)
    layer = GateLoop(4, heads=2, mode=mode, chunk_size=3).double()
    x = torch.randn(2, 7, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda u: layer(u), (x,))
    layer(x).pow(2).sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_modes_agree():
    torch.manual_seed(1)
    layer = GateLoop(8, heads=2).double()
    x = torch.randn(2, 50, 8, dtype=torch.float64)
    outputs = []
    for mode in MODES:
        layer.mode = mode
        outputs.append(layer(x))
    for y in outputs[1:]:
        torch.testing.assert_close(y, outputs[0], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", ["chunked", "recurrent"])
def test_compiles(mode):
    torch.manual_seed(2)
    layer = GateLoop(8, heads=2, mode=mode, chunk_size=8)
    x = torch.randn(2, 20, 8)
    compiled = torch.compile(layer)
    torch.testing.assert_close(compiled(x), layer(x), rtol=1e-5, atol=1e-5)
