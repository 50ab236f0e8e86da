"""seqcore.scan.linear on torch tensors: the custom op, autograd, compile."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

import seqcore
import seqcore.ops
from seqcore.ops._convert import to_numpy
from tests.references import linear_scan as ref
from tests.strategies import shapes

TORCH_DTYPES = [torch.float32, torch.float64, torch.complex64, torch.complex128]


def rand(shape, dtype, generator):
    x = torch.rand(shape, dtype=dtype, generator=generator) * 2 - 1
    return x


@given(
    shape=shapes,
    dtype=st.sampled_from(TORCH_DTYPES),
    reverse=st.booleans(),
    with_h0=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_values_and_gradients_match_reference(shape, dtype, reverse, with_h0, seed):
    g = torch.Generator().manual_seed(seed)
    a = rand(shape, dtype, g).requires_grad_()
    b = rand(shape, dtype, g).requires_grad_()
    h0 = rand((shape[0], shape[2]), dtype, g).requires_grad_() if with_h0 else None
    weight = rand(shape, dtype, g)
    h = seqcore.scan.linear(a, b, h0, reverse=reverse)
    assert isinstance(h, torch.Tensor) and h.dtype == dtype
    (h * weight.conj()).real.sum().backward()
    np_args = [x.detach().numpy() for x in (a, b)]
    np_h0 = None if h0 is None else h0.detach().numpy()
    h_ref = ref.linear_scan(*np_args, np_h0, reverse)
    tol = 1e-4 if dtype in (torch.float32, torch.complex64) else 1e-10
    np.testing.assert_allclose(h.detach().numpy(), h_ref, rtol=tol, atol=tol)
    want = ref.linear_scan_backward(np_args[0], h_ref, weight.numpy(), np_h0, reverse)
    got = [a.grad, b.grad] + ([h0.grad] if with_h0 else [])
    for x, w in zip(got, want, strict=False):
        np.testing.assert_allclose(x.numpy(), w, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
@pytest.mark.parametrize("reverse", [False, True])
def test_gradcheck(dtype, reverse):
    g = torch.Generator().manual_seed(0)
    args = (
        rand((2, 6, 3), dtype, g).requires_grad_(),
        rand((2, 6, 3), dtype, g).requires_grad_(),
        rand((2, 3), dtype, g).requires_grad_(),
    )
    assert torch.autograd.gradcheck(
        lambda a, b, h0: seqcore.scan.linear(a, b, h0, reverse=reverse), args
    )
    assert torch.autograd.gradcheck(
        lambda a, b: seqcore.scan.linear(a, b, reverse=reverse), args[:2]
    )


@pytest.mark.parametrize("dtype", TORCH_DTYPES)
def test_opcheck(dtype):
    g = torch.Generator().manual_seed(1)
    a, b = rand((2, 5, 3), dtype, g), rand((2, 5, 3), dtype, g)
    h0 = rand((2, 3), dtype, g)
    for args in [(a, b, None, False), (a, b, h0, True)]:
        req = [
            x.clone().requires_grad_()
            if (x is not None and dtype.is_floating_point) or (x is not None and dtype.is_complex)
            else x
            for x in args[:3]
        ]
        torch.library.opcheck(torch.ops.seqcore.linear_scan.default, (*req, args[3]))
    h = seqcore.scan.linear(a, b)
    torch.library.opcheck(torch.ops.seqcore.linear_scan_backward.default, (a, h, b, h0, False))


def test_half_precision_is_upcast():
    g = torch.Generator().manual_seed(2)
    for dtype in (torch.float16, torch.bfloat16):
        a = (rand((2, 30, 4), torch.float32, g) * 0.9).to(dtype).requires_grad_()
        b = rand((2, 30, 4), torch.float32, g).to(dtype).requires_grad_()
        h = seqcore.scan.linear(a, b)
        assert h.dtype == dtype
        h.float().sum().backward()
        assert a.grad is not None and a.grad.dtype == dtype
        want = ref.linear_scan(a.detach().float().numpy(), b.detach().float().numpy())
        np.testing.assert_allclose(h.float().detach().numpy(), want, rtol=3e-2, atol=3e-2)


def test_non_contiguous_and_conjugate_tensors():
    g = torch.Generator().manual_seed(3)
    a = rand((3, 8, 10), torch.complex64, g)[:, ::2, 1::3].conj()
    b = rand((3, 3, 8), torch.complex64, g).transpose(1, 2)[:, ::2]
    assert not a.is_contiguous() and a.is_conj()
    h = seqcore.scan.linear(a, b)
    want = ref.linear_scan(a.resolve_conj().numpy(), b.contiguous().numpy())
    np.testing.assert_allclose(h.numpy(), want, rtol=1e-5, atol=1e-5)


def test_expanded_tensors_and_gradients():
    # Stride-0 views: an input broadcast over time, and the gradient that
    # ``h.sum()`` sends back (an expanded scalar); numpy copies both.
    g = torch.Generator().manual_seed(4)
    a = torch.rand((2, 1, 5), generator=g, dtype=torch.float64).expand(2, 7, 5)
    b = torch.randn((2, 7, 5), generator=g, dtype=torch.float64)
    view = to_numpy(a)
    assert view.flags.c_contiguous and np.array_equal(view, a.numpy())
    a_leaf, b_leaf = a.clone().requires_grad_(), b.clone().requires_grad_()
    seqcore.scan.linear(a, b_leaf).sum().backward()
    seqcore.scan.linear(a_leaf, b.detach()).sum().backward()
    h = ref.linear_scan(a.numpy(), b.numpy())
    want_a, want_b, _ = ref.linear_scan_backward(a.numpy(), h, np.ones(b.shape))
    np.testing.assert_allclose(b_leaf.grad.numpy(), want_b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a_leaf.grad.numpy(), want_a, rtol=1e-12, atol=1e-12)


def test_contiguous_tensors_are_not_copied():
    t = torch.rand(2, 3, 4)
    assert np.shares_memory(to_numpy(t), t.numpy())


def test_inside_torch_compile():
    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = torch.nn.Linear(4, 8)

        def forward(self, x):
            gates, values = self.proj(x).chunk(2, dim=-1)
            return seqcore.scan.linear(torch.sigmoid(gates), values).sum(dim=-1)

    torch.manual_seed(0)
    model = Tiny()
    x = torch.randn(2, 9, 4)
    eager = model(x)
    compiled = torch.compile(model, fullgraph=True)
    out = compiled(x)
    torch.testing.assert_close(out, eager)
    out.sum().backward()
    assert model.proj.weight.grad is not None
