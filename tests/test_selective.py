"""seqcore.scan.selective against the float64 reference (mamba-ssm semantics)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import seqcore
from tests.references.selective_scan import selective_scan as reference

torch = pytest.importorskip("torch")


@st.composite
def problems(draw):
    batch = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 2, 3]))
    dim = groups * draw(st.integers(1, 4))
    length = draw(st.one_of(st.integers(1, 12), st.just(1), st.integers(30, 70)))
    states = draw(st.sampled_from([1, 3, 8, 16, 17]))
    variable_b = draw(st.sampled_from(["fixed", "3d", "4d"]))
    variable_c = draw(st.sampled_from(["fixed", "3d", "4d"]))
    if "4d" in (variable_b, variable_c) and variable_b != variable_c:
        # B and C share their groups (mamba-ssm's kernel requires it).
        variable_c = variable_b if variable_b != "fixed" else variable_c
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    is_complex = draw(st.booleans())

    def normal(shape):
        x = rng.standard_normal(shape)
        return x + 1j * rng.standard_normal(shape) if is_complex else x

    def proj(kind):
        if kind == "fixed":
            return normal((dim, states))
        if kind == "3d":
            return normal((batch, states, length))
        return normal((batch, groups, states, length))

    softplus = draw(st.booleans())
    delta = rng.standard_normal((batch, dim, length))
    if not softplus:
        delta = np.abs(delta) * 0.5
    return {
        "u": rng.standard_normal((batch, dim, length)),
        "delta": delta,
        "A": -np.exp(rng.standard_normal((dim, states)))
        + (1j * rng.standard_normal((dim, states)) if is_complex else 0),
        "B": proj(variable_b),
        "C": proj(variable_c),
        "D": rng.standard_normal(dim) if draw(st.booleans()) else None,
        "z": rng.standard_normal((batch, dim, length)) if draw(st.booleans()) else None,
        # Without softplus, keep dt >= 0 so states decay (as in real use).
        "delta_bias": (rng.standard_normal(dim) if softplus else rng.uniform(0, 0.5, dim))
        if draw(st.booleans())
        else None,
        "delta_softplus": softplus,
    }


def torch_reference(u, delta, A, B, C, D, z, delta_bias, delta_softplus):
    """The reference loop written with torch ops, for autograd gradients."""
    batch, dim, length = u.shape
    if delta_bias is not None:
        delta = delta + delta_bias[None, :, None]
    if delta_softplus:
        delta = torch.nn.functional.softplus(delta)

    def expand(P):
        if P.dim() == 2:
            return P[None, :, :, None].expand(batch, dim, P.shape[1], length)
        if P.dim() == 3:
            P = P[:, None]
        return P.repeat_interleave(dim // P.shape[1], dim=1)

    Bx, Cx = expand(B), expand(C)
    x = A.new_zeros((batch, dim, A.shape[1]))
    ys = []
    for t in range(length):
        dt = delta[:, :, t, None]
        x = torch.exp(dt * A) * x + dt * Bx[..., t] * u[:, :, t, None]
        y = (x * Cx[..., t]).sum(-1)
        ys.append(2 * y.real if y.is_complex() else y)
    y = torch.stack(ys, dim=-1)
    if D is not None:
        y = y + D[None, :, None] * u
    if z is not None:
        y = y * torch.nn.functional.silu(z)
    return y, x


@given(problem=problems())
def test_numpy_values_match_reference(problem):
    for dtype, tol in ((np.float64, 1e-10), (np.float32, 2e-4)):
        state = np.result_type(dtype, np.complex64) if np.iscomplexobj(problem["A"]) else dtype
        args = {
            k: v.astype(state if k in "ABC" else dtype) if isinstance(v, np.ndarray) else v
            for k, v in problem.items()
        }
        out, last = seqcore.scan.selective(**args, return_last_state=True)
        want_out, want_last = reference(**problem)
        assert out.dtype == dtype and out.shape == want_out.shape
        scale = 1 + np.abs(want_out).max()
        np.testing.assert_allclose(out, want_out, rtol=tol, atol=tol * scale)
        np.testing.assert_allclose(
            last, want_last, rtol=tol, atol=tol * (1 + np.abs(want_last).max())
        )


@given(problem=problems())
def test_gradients_match_autograd_of_the_reference(problem):
    names = ["u", "delta", "A", "B", "C", "D", "z", "delta_bias"]
    ours = {
        n: None if problem[n] is None else torch.tensor(problem[n], requires_grad=True)
        for n in names
    }
    theirs = {
        n: None if v is None else v.detach().clone().requires_grad_() for n, v in ours.items()
    }
    flag = problem["delta_softplus"]
    out, last = seqcore.scan.selective(**ours, delta_softplus=flag, return_last_state=True)
    ref_out, ref_last = torch_reference(*theirs.values(), flag)
    torch.testing.assert_close(out, ref_out, rtol=1e-9, atol=1e-9)
    g = torch.Generator().manual_seed(0)
    w_out = torch.randn(out.shape, generator=g, dtype=torch.float64)
    w_last = torch.randn(last.shape, generator=g, dtype=last.dtype)
    ((out * w_out).sum() + (last * w_last.conj()).real.sum()).backward()
    ((ref_out * w_out).sum() + (ref_last * w_last.conj()).real.sum()).backward()
    for name in names:
        if ours[name] is not None:
            torch.testing.assert_close(
                ours[name].grad,
                theirs[name].grad,
                rtol=1e-8,
                atol=1e-8,
                msg=lambda m, name=name: f"{name}: {m}",
            )


def test_gradcheck_and_opcheck():
    g = torch.Generator().manual_seed(1)
    batch, dim, length, n = 2, 4, 5, 3

    def t(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_()

    args = (t(batch, dim, length), t(batch, dim, length), -torch.rand(dim, n, generator=g,
            dtype=torch.float64).add(0.1).requires_grad_(), t(batch, 2, n, length),
            t(batch, 2, n, length), t(dim), t(batch, dim, length), t(dim))  # fmt: skip
    assert torch.autograd.gradcheck(
        lambda *a: seqcore.scan.selective(*a, delta_softplus=True, return_last_state=True), args
    )
    torch.library.opcheck(torch.ops.seqcore.selective_scan.default, (*args, True))
    fixed = (args[0], args[1], args[2], t(dim, n), t(dim, n), None, None, None, False)
    torch.library.opcheck(torch.ops.seqcore.selective_scan.default, fixed)


def test_half_and_float32_inputs_compute_in_float32():
    g = torch.Generator().manual_seed(2)
    u = torch.randn(1, 3, 20, generator=g).to(torch.bfloat16).requires_grad_()
    delta = torch.rand(1, 3, 20, generator=g)
    A = -torch.rand(3, 4, generator=g)
    B = torch.randn(1, 4, 20, generator=g)
    C = torch.randn(1, 4, 20, generator=g)
    out = seqcore.scan.selective(u, delta, A, B, C, delta_softplus=True)
    assert out.dtype == torch.bfloat16
    out.float().sum().backward()
    assert u.grad is not None and u.grad.dtype == torch.bfloat16


def test_extreme_values_stay_finite_and_long_sequences_work():
    rng = np.random.default_rng(3)
    length = 65_536
    u = rng.standard_normal((1, 2, length)).astype(np.float32)
    delta = np.full((1, 2, length), 100.0, np.float32)  # softplus(100) = 100
    A = np.array([[-1e4, -1.0, -0.01], [-50.0, -1e-3, -1e5]], np.float32)
    B = rng.standard_normal((1, 3, length)).astype(np.float32)
    C = rng.standard_normal((1, 3, length)).astype(np.float32)
    out, last = seqcore.scan.selective(
        u, delta, A, B, C, delta_softplus=True, return_last_state=True
    )
    assert np.isfinite(out).all() and np.isfinite(last).all()
    small = reference(
        u[:, :, :300], delta[:, :, :300], A, B[:, :, :300], C[:, :, :300], delta_softplus=True
    )[0]
    np.testing.assert_allclose(out[:, :, :300], small, rtol=1e-4, atol=1e-3)
    big = np.full((1, 1, 4), 1e6, np.float32)
    out = seqcore.scan.selective(
        big,
        big,
        -np.ones((1, 2), np.float32),
        np.ones((1, 2), np.float32),
        np.ones((1, 2), np.float32),
        delta_softplus=True,
    )
    assert np.isfinite(out).all()


def test_thread_count_does_not_change_results():
    rng = np.random.default_rng(4)
    u = rng.standard_normal((2, 40, 33)).astype(np.float32)
    A = -np.abs(rng.standard_normal((40, 16))).astype(np.float32)
    B = rng.standard_normal((2, 2, 16, 33)).astype(np.float32)
    before = seqcore.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 5):
            seqcore.set_num_threads(threads)
            results.append(seqcore.scan.selective(u, np.abs(u), A, B, B, z=u))
        for r in results[1:]:
            np.testing.assert_array_equal(r, results[0])
    finally:
        seqcore.set_num_threads(before)


BAD = [
    ({"u": np.ones((2, 3))}, ValueError, "u must have 3 dimensions (batch, dim, length)"),
    (
        {"delta": np.ones((2, 3, 4))},
        ValueError,
        "delta must have shape (batch, dim, length) = (2, 3, 5)",
    ),
    ({"A": np.ones((3,))}, ValueError, "A must have 2 dimensions (dim, N)"),
    ({"A": np.ones((4, 4))}, ValueError, "A must have shape (dim, N) = (3, 4), got (4, 4)"),
    ({"B": np.ones((2, 2, 4, 5))}, ValueError, "B has 2 groups, which must divide dim = 3"),
    ({"C": np.ones((2, 1, 4, 6))}, ValueError, "C must have shape (batch, groups, N, length)"),
    ({"D": np.ones(4)}, ValueError, "D must have shape (dim,) = (3,), got (4,)"),
    ({"z": np.ones((2, 3, 6))}, ValueError, "z must have shape"),
    ({"delta_bias": np.ones((3, 1))}, ValueError, "delta_bias must have 1 dimensions"),
    ({"u": np.ones((2, 3, 5), np.int32)}, TypeError, "u must have a floating or complex dtype"),
    ({"u": np.ones((2, 3, 5), np.complex64)}, TypeError, "u must be real"),
    ({"B": np.ones((3, 4), np.complex128)}, TypeError, "complex only when A is complex"),
    (
        {"A": -np.ones((3, 4), np.complex128), "B": np.ones((2, 4, 7))},
        ValueError,
        "last axis of 2 * length = 10",
    ),
    ({"delta_softplus": 1}, TypeError, "delta_softplus must be a bool"),
    ({"B": "x"}, TypeError, "B must be a numpy array"),
]


@pytest.mark.parametrize("change, error, message", BAD)
def test_bad_input(change, error, message):
    args = {
        "u": np.ones((2, 3, 5)),
        "delta": np.ones((2, 3, 5)),
        "A": -np.ones((3, 4)),
        "B": np.ones((3, 4)),
        "C": np.ones((3, 4)),
    }
    args.update(change)
    with pytest.raises(error) as info:
        seqcore.scan.selective(**args)
    assert message in str(info.value)


def test_complex_a_with_mamba_interleaved_layout():
    """mamba-ssm passes input-dependent B/C for complex A as real arrays with
    (real, imaginary) pairs along a last axis of 2 * length."""
    rng = np.random.default_rng(7)
    batch, dim, length, n = 2, 3, 6, 4
    u = rng.standard_normal((batch, dim, length))
    delta = rng.uniform(0.1, 0.5, (batch, dim, length))
    A = -rng.uniform(0.1, 1, (dim, n)) + 1j * rng.standard_normal((dim, n))
    B_pairs = rng.standard_normal((batch, n, 2 * length))
    C_pairs = rng.standard_normal((batch, 1, n, 2 * length))
    B = B_pairs[..., 0::2] + 1j * B_pairs[..., 1::2]
    C = C_pairs[..., 0::2] + 1j * C_pairs[..., 1::2]
    out, last = seqcore.scan.selective(u, delta, A, B_pairs, C_pairs, return_last_state=True)
    want, want_last = reference(u, delta, A, B, C)
    np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(last, want_last, rtol=1e-10, atol=1e-10)
    assert last.dtype == np.complex128
    tensors = [torch.tensor(x, requires_grad=True) for x in (u, delta, A, B_pairs, C_pairs)]
    assert torch.autograd.gradcheck(
        lambda *t: seqcore.scan.selective(*t, return_last_state=True), tensors
    )


@given(problem=problems())
def test_bidirectional_numpy_and_torch_agree_and_match_the_dense_matrix(problem):
    args = {k: v for k, v in problem.items() if k != "delta_softplus"}
    flag = problem["delta_softplus"]
    got = seqcore.scan.selective_bidirectional(**args, delta_softplus=flag)
    tensors = {k: None if v is None else torch.tensor(v) for k, v in args.items()}
    got_t = seqcore.scan.selective_bidirectional(**tensors, delta_softplus=flag)
    np.testing.assert_allclose(got_t.numpy(), got, rtol=1e-10, atol=1e-10)
    # Dense reference: y_t = sum_s M[t, s] u_s with Hydra's quasiseparable M.
    u, delta, A = problem["u"], problem["delta"], problem["A"]
    batch, dim, length = u.shape
    dt = delta + (0 if problem["delta_bias"] is None else problem["delta_bias"][None, :, None])
    if flag:
        dt = np.where(dt > 20, dt, np.log1p(np.exp(np.minimum(dt, 20))))

    def proj(P, b, d, t):
        if P.ndim == 2:
            return P[d]
        if P.ndim == 3:
            return P[b, :, t]
        return P[b, d // (dim // P.shape[1]), :, t]

    scale = 2 if np.iscomplexobj(A) else 1
    want = np.zeros((batch, dim, length))
    for b in range(batch):
        for d in range(dim):
            for t in range(length):
                total = 0.0 if problem["D"] is None else problem["D"][d] * u[b, d, t]
                for s in range(length):
                    if s == t:
                        continue
                    c_at, steps = (t - 1, range(s + 1, t)) if s < t else (t + 1, range(t + 1, s))
                    decay = np.exp(sum(dt[b, d, k] for k in steps) * A[d])
                    entry = np.sum(
                        proj(problem["C"], b, d, c_at) * decay * proj(problem["B"], b, d, s)
                    )
                    total += scale * float(np.real(entry)) * dt[b, d, s] * u[b, d, s]
                want[b, d, t] = total
    if problem["z"] is not None:
        want *= problem["z"] / (1 + np.exp(-problem["z"]))
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8 * (1 + np.abs(want).max()))


def test_complex_a_with_huge_phases_matches_the_reference():
    """Phases beyond the fast sin/cos range (|dt Im A| > 1e15) are recomputed
    exactly; moderate ones use the vectorised path."""
    u = np.ones((1, 2, 3), np.float32)
    delta = np.full((1, 2, 3), 0.5, np.float32)
    A = np.array([[-0.5 + 3e15j, -1 + 2.5j], [-0.1 - 7e16j, -2 + 0.25j]], np.complex64)
    B = np.ones((2, 2), np.complex64)
    out, last = seqcore.scan.selective(u, delta, A, B, B, return_last_state=True)
    want, want_last = reference(u, delta, A.astype(np.complex128), B, B)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(last, want_last, rtol=1e-4, atol=1e-4)
