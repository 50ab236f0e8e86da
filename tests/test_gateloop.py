"""seqcore.scan.gateloop: every mode against the float64 reference, gradients,
long float32 sequences, bad input and the custom op."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import seqcore
from tests.references.gateloop import gateloop as reference
from tests.strategies import DTYPES, random_array, tolerance

torch = pytest.importorskip("torch")
import seqcore.ops

MODES = ["recurrent", "chunked", "attention", "auto"]


@st.composite
def problems(draw):
    """(q, k, v, a) with the edge cases: length 1, batch 1, heads 1, odd sizes."""
    batch = draw(st.one_of(st.just(1), st.integers(1, 3)))
    length = draw(st.one_of(st.just(1), st.integers(1, 12), st.integers(30, 70)))
    heads = draw(st.one_of(st.just(1), st.integers(1, 3)))
    d_k, d_v = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    dtype = draw(st.sampled_from(DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    keys = (batch, length, heads, d_k)
    q, k = random_array(rng, keys, dtype), random_array(rng, keys, dtype)
    v = random_array(rng, (batch, length, heads, d_v), dtype)
    # Gates of magnitude up to 1, either sign (real) or any phase (complex).
    a = (random_array(rng, keys, dtype) / np.sqrt(2)).astype(dtype)
    return q, k, v, a


@given(problem=problems(), mode=st.sampled_from(MODES), chunk=st.sampled_from([1, 3, 8, 64]))
def test_values_match_reference(problem, mode, chunk):
    q, k, v, a = problem
    y = seqcore.scan.gateloop(q, k, v, a, mode=mode, chunk_size=chunk)
    want = reference(q, k, v, a)
    assert y.dtype == q.dtype and y.shape == want.shape
    tol = tolerance(q.dtype)
    np.testing.assert_allclose(y, want, rtol=tol, atol=tol * (1 + np.abs(want).max()))


def torch_reference(q, k, v, a):
    """The recurrence written with torch ops, for autograd's gradients."""
    batch, length, heads, d_k = q.shape
    state = q.new_zeros((batch, heads, d_k, v.shape[-1]))
    ys = []
    for t in range(length):
        state = a[:, t, :, :, None] * state + k[:, t, :, :, None] * v[:, t, :, None, :]
        ys.append(torch.einsum("bhi,bhij->bhj", q[:, t], state))
    return torch.stack(ys, dim=1)


@settings(max_examples=30)
@given(problem=problems(), mode=st.sampled_from(MODES), chunk=st.sampled_from([1, 4, 64]))
def test_gradients_match_autograd_of_the_reference(problem, mode, chunk):
    wide = np.complex128 if np.iscomplexobj(problem[0]) else np.float64
    ours = [torch.tensor(x.astype(wide), requires_grad=True) for x in problem]
    theirs = [x.detach().clone().requires_grad_() for x in ours]
    y = seqcore.scan.gateloop(*ours, mode=mode, chunk_size=chunk)
    want = torch_reference(*theirs)
    torch.testing.assert_close(y, want, rtol=1e-10, atol=1e-10)
    w = torch.randn(y.shape, generator=torch.Generator().manual_seed(0), dtype=y.dtype)
    (y * w).sum().real.backward()
    (want * w).sum().real.backward()
    for name, mine, ref in zip("qkva", ours, theirs, strict=True):
        torch.testing.assert_close(
            mine.grad, ref.grad, rtol=1e-9, atol=1e-9, msg=lambda m, n=name: f"{n}: {m}"
        )


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
@pytest.mark.parametrize("mode", MODES)
def test_gradcheck(dtype, mode):
    g = torch.Generator().manual_seed(1)
    shapes = [(2, 7, 2, 3), (2, 7, 2, 3), (2, 7, 2, 2), (2, 7, 2, 3)]
    args = [torch.randn(s, generator=g, dtype=dtype).mul(0.7).requires_grad_() for s in shapes]
    assert torch.autograd.gradcheck(
        lambda *x: seqcore.scan.gateloop(*x, mode=mode, chunk_size=3), args
    )


@pytest.mark.parametrize("form", ["recurrent", "attention", "chunked"])
def test_opcheck(form):
    g = torch.Generator().manual_seed(2)
    extra = (form, 2)
    forward = torch.ops.seqcore.gateloop.default
    backward = torch.ops.seqcore.gateloop_backward.default
    for dtype in (torch.float32, torch.complex128):
        keys = [torch.randn(2, 5, 3, 4, generator=g, dtype=dtype) for _ in range(3)]
        v = torch.randn(2, 5, 3, 2, generator=g, dtype=dtype)
        args = (keys[0].requires_grad_(), keys[1], v.requires_grad_(), keys[2].requires_grad_())
        torch.library.opcheck(forward, (*args, *extra))
        torch.library.opcheck(backward, (*(x.detach() for x in args), torch.randn_like(v), *extra))


@pytest.mark.parametrize("mode", ["chunked", "attention"])
def test_rust_forms_match_the_torch_forms(mode):
    """The Rust forms against the torch code they replaced (values and
    gradients by autograd), float64 and complex128."""
    from tests.references.gateloop_torch import gateloop_attention, gateloop_chunked

    g = torch.Generator().manual_seed(7)
    for dtype in (torch.float64, torch.complex128):
        shapes = [(2, 37, 3, 4), (2, 37, 3, 4), (2, 37, 3, 5), (2, 37, 3, 4)]
        ours = [torch.randn(s, generator=g, dtype=dtype).mul(0.6).requires_grad_() for s in shapes]
        theirs = [x.detach().clone().requires_grad_() for x in ours]
        y = seqcore.scan.gateloop(*ours, mode=mode, chunk_size=8)
        if mode == "chunked":
            want = gateloop_chunked(*theirs, 8)
        else:
            want = gateloop_attention(*theirs, 8)
        torch.testing.assert_close(y, want, rtol=1e-10, atol=1e-10)
        w = torch.randn(y.shape, generator=g, dtype=dtype)
        (y * w).sum().real.backward()
        (want * w).sum().real.backward()
        for mine, ref in zip(ours, theirs, strict=True):
            torch.testing.assert_close(mine.grad, ref.grad, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("mode", MODES)
def test_gradients_at_gates_exactly_zero(mode):
    """Every mode is exact where gates are 0, gradients with respect to
    those gates included (no logarithm, no division by a gate)."""
    g = torch.Generator().manual_seed(8)
    for dtype in (torch.float64, torch.complex128):
        shapes = [(1, 11, 2, 3), (1, 11, 2, 3), (1, 11, 2, 2), (1, 11, 2, 3)]
        ours = [torch.randn(s, generator=g, dtype=dtype) for s in shapes]
        ours[3][:, ::3] = 0
        ours = [x.requires_grad_() for x in ours]
        theirs = [x.detach().clone().requires_grad_() for x in ours]
        y = seqcore.scan.gateloop(*ours, mode=mode, chunk_size=4)
        want = torch_reference(*theirs)
        w = torch.randn(y.shape, generator=g, dtype=dtype)
        (y * w).sum().real.backward()
        (want * w).sum().real.backward()
        for mine, ref in zip(ours, theirs, strict=True):
            torch.testing.assert_close(mine.grad, ref.grad, rtol=1e-10, atol=1e-10)
        assert ours[3].grad[:, ::3].abs().sum() > 0


@pytest.mark.parametrize("gates", ["small", "near_one"])
@pytest.mark.parametrize("complex_gates", [False, True])
def test_long_float32_sequences_stay_finite_and_accurate(gates, complex_gates):
    rng = np.random.default_rng(3)
    batch, length, heads, d_k, d_v = 1, 4096, 2, 4, 3
    keys = (batch, length, heads, d_k)
    low, high = (0.01, 0.5) if gates == "small" else (0.999, 1.0)
    a = rng.uniform(low, high, keys)
    if complex_gates:
        a = a * np.exp(1j * rng.uniform(-0.1, 0.1, keys))
    dtype = np.complex64 if complex_gates else np.float32
    q = random_array(rng, keys, dtype)
    k = random_array(rng, keys, dtype)
    v = random_array(rng, (batch, length, heads, d_v), dtype)
    a = a.astype(dtype)
    exact = seqcore.scan.gateloop(
        *(x.astype(np.complex128 if complex_gates else np.float64) for x in (q, k, v, a)),
        mode="recurrent",
    )
    scale = np.abs(exact).max()
    for mode in MODES:
        tq, tk, tv, ta = (torch.tensor(x, requires_grad=True) for x in (q, k, v, a))
        y = seqcore.scan.gateloop(tq, tk, tv, ta, mode=mode)
        assert torch.isfinite(torch.view_as_real(y) if y.is_complex() else y).all(), mode
        err = np.abs(y.detach().numpy() - exact).max()
        assert err < 1e-4 * scale, f"{mode}: {err} vs scale {scale}"
        y.abs().sum().backward()
        for x in (tq, tk, tv, ta):
            grad = torch.view_as_real(x.grad) if x.grad.is_complex() else x.grad
            assert torch.isfinite(grad).all(), mode


def test_half_precision_is_computed_in_float32():
    g = torch.Generator().manual_seed(4)
    args = [torch.rand(1, 9, 2, 3, generator=g).to(torch.bfloat16).requires_grad_() for _ in "qka"]
    v = torch.rand(1, 9, 2, 5, generator=g).to(torch.bfloat16).requires_grad_()
    y = seqcore.scan.gateloop(args[0], args[1], v, args[2])
    assert y.dtype == torch.bfloat16 and y.shape == (1, 9, 2, 5)
    y.float().sum().backward()
    assert v.grad is not None and v.grad.dtype == torch.bfloat16
    half = [x.detach().float().numpy().astype(np.float16) for x in (args[0], args[1], v, args[2])]
    assert seqcore.scan.gateloop(*half).dtype == np.float16


def test_thread_count_does_not_change_results():
    rng = np.random.default_rng(5)
    q, k, a = (rng.standard_normal((3, 50, 4, 8)).astype(np.float32) for _ in range(3))
    v = rng.standard_normal((3, 50, 4, 6)).astype(np.float32)
    before = seqcore.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 5):
            seqcore.set_num_threads(threads)
            results.append(
                [seqcore.scan.gateloop(q, k, v, 0.5 * a, mode=m, chunk_size=16) for m in MODES]
            )
        for r in results[1:]:
            for mine, first in zip(r, results[0], strict=True):
                np.testing.assert_array_equal(mine, first)
    finally:
        seqcore.set_num_threads(before)


def test_empty_shapes():
    for keys, values in [((0, 3, 2, 2), (0, 3, 2, 1)), ((1, 0, 2, 2), (1, 0, 2, 3)),
                         ((1, 3, 2, 0), (1, 3, 2, 2))]:  # fmt: skip
        for mode in MODES:
            y = seqcore.scan.gateloop(
                np.ones(keys), np.ones(keys), np.ones(values), np.ones(keys), mode=mode
            )
            assert y.shape == values and not y.any()


GOOD = {"q": (2, 5, 3, 4), "k": (2, 5, 3, 4), "v": (2, 5, 3, 6), "a": (2, 5, 3, 4)}
BAD_SHAPES = [
    ({"q": (2, 5, 4)}, "q must have 4 dimensions (batch, length, heads, d_k), got shape (2, 5, 4)"),
    ({"k": (2, 5, 3, 5)}, "q and k must have the same shape, got (2, 5, 3, 4) and (2, 5, 3, 5)"),
    ({"a": (2, 6, 3, 4)}, "q and a must have the same shape, got (2, 5, 3, 4) and (2, 6, 3, 4)"),
    ({"v": (2, 5, 2, 6)}, "v must have shape (batch, length, heads, d_v) = (2, 5, 3, 6)"),
    ({"v": (2, 5, 6)}, "v must have 4 dimensions (batch, length, heads, d_v)"),
]


@pytest.mark.parametrize("change, message", BAD_SHAPES)
@pytest.mark.parametrize("kind", ["numpy", "torch"])
@pytest.mark.parametrize("mode", MODES)
def test_bad_shapes_name_the_argument(change, message, kind, mode):
    shapes = GOOD | change
    args = {n: np.ones(s) if kind == "numpy" else torch.ones(s) for n, s in shapes.items()}
    with pytest.raises(ValueError) as info:
        seqcore.scan.gateloop(**args, mode=mode)
    assert message in str(info.value)


def test_the_core_names_the_argument_too():
    args = {n: np.ones(s) for n, s in (GOOD | {"v": (2, 5, 2, 6)}).items()}
    with pytest.raises(ValueError, match="v must have shape"):
        seqcore._core.gateloop(args["q"], args["k"], args["v"], args["a"])
    with pytest.raises(TypeError, match="q and v must have the same dtype"):
        seqcore._core.gateloop(args["q"], args["k"], np.ones((2, 5, 3, 6), np.float32), args["a"])


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_bad_dtypes_and_options(kind):
    make = (lambda s, d: np.ones(s, d)) if kind == "numpy" else (
        lambda s, d: torch.ones(s, dtype=getattr(torch, np.dtype(d).name)))  # fmt: skip
    args = {n: make(s, np.float32) for n, s in GOOD.items()}
    for name, other in (("k", np.float64), ("v", np.complex64), ("a", np.complex128)):
        mixed = args | {name: make(GOOD[name], other)}
        with pytest.raises(TypeError, match=f"q and {name} must have the same dtype"):
            seqcore.scan.gateloop(**mixed)
    with pytest.raises(TypeError, match="must have a floating or complex dtype"):
        seqcore.scan.gateloop(**(args | {"a": make(GOOD["a"], np.int32)}))
    with pytest.raises(ValueError, match="mode must be one of"):
        seqcore.scan.gateloop(**args, mode="fast")
    with pytest.raises(ValueError, match="chunk_size must be at least 1"):
        seqcore.scan.gateloop(**args, chunk_size=0)
    with pytest.raises(TypeError, match="chunk_size must be an int"):
        seqcore.scan.gateloop(**args, chunk_size=2.0)


def test_numpy_and_torch_do_not_mix():
    args = {n: torch.ones(s) for n, s in GOOD.items()} | {"v": np.ones(GOOD["v"], np.float32)}
    with pytest.raises(TypeError, match=r"v must be a torch\.Tensor"):
        seqcore.scan.gateloop(**args)


@pytest.mark.parametrize("mode", MODES)
def test_zero_gates_and_non_contiguous_inputs(mode):
    rng = np.random.default_rng(6)
    for dtype in (torch.float64, torch.complex128):
        # Built as (batch, heads, length, d) and transposed: not contiguous.
        q, k, a = (torch.randn(2, 3, 20, 4, dtype=dtype).transpose(1, 2) for _ in range(3))
        v = torch.randn(2, 3, 20, 5, dtype=dtype).transpose(1, 2)
        a = a * torch.tensor(rng.uniform(size=(2, 20, 3, 4)) > 0.3)  # exact zeros
        y = seqcore.scan.gateloop(q, k, v, a, mode=mode, chunk_size=8)
        want = reference(*(x.numpy() for x in (q, k, v, a)))
        np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-10)


def test_native_function_refuses_an_unknown_form():
    ones = np.ones((1, 2, 1, 1))
    with pytest.raises(ValueError, match="form must be 'recurrent', 'attention' or 'chunked'"):
        seqcore._core.gateloop(ones, ones, ones, ones, "bogus")
    with pytest.raises(ValueError, match="form must be"):
        seqcore._core.gateloop_backward(ones, ones, ones, ones, ones, "bogus")
