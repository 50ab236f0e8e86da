"""seqcore.nn.CRF against brute-force enumeration and against pytorch-crf."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.references import crf_brute_force as brute

torch = pytest.importorskip("torch")
torchcrf = pytest.importorskip("torchcrf")

from seqcore.nn import CRF


def _model(labels: int, seed: int, dtype: object = None, **kwargs: object) -> CRF:
    dtype = dtype or torch.float64
    torch.manual_seed(seed)
    crf = CRF(labels, dtype=dtype, **kwargs)  # type: ignore[arg-type]
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    return crf


@st.composite
def _cases(draw: st.DrawFn, min_length: int = 0) -> tuple[int, object, object, object]:
    labels = draw(st.integers(1, 4))
    batch = draw(st.integers(1, 3))
    max_len = draw(st.integers(max(min_length, 1), 5))
    lengths = draw(st.lists(st.integers(min_length, max_len), min_size=batch, max_size=batch))
    seed = draw(st.integers(0, 2**16))
    g = torch.Generator().manual_seed(seed)
    emissions = 2 * torch.randn(batch, max_len, labels, generator=g, dtype=torch.float64)
    mask = torch.arange(max_len)[None, :] < torch.tensor(lengths)[:, None]
    return seed, emissions, mask, torch.tensor(lengths)


@settings(max_examples=60, deadline=None)
@given(case=_cases(), constrained=st.booleans())
def test_against_brute_force(case: tuple[int, object, object, object], constrained: bool) -> None:
    seed, emissions, mask, lengths = case
    labels = emissions.shape[2]  # type: ignore[attr-defined]
    constraints = None
    if constrained:
        rng = np.random.default_rng(seed)
        constraints = (
            rng.random((labels, labels)) < 0.7, rng.random(labels) < 0.8, rng.random(labels) < 0.8
        )  # fmt: skip
    crf = _model(labels, seed, constraints=constraints)
    t, s, e = (x.detach().numpy() for x in crf._scores(torch.float64))
    log_z = crf.log_partition(emissions, mask).numpy()  # type: ignore[arg-type]
    nodes = crf.marginals(emissions, mask).numpy()  # type: ignore[arg-type]
    best = crf.decode(emissions, mask, nbest=1)  # type: ignore[arg-type]
    top3 = crf.decode(emissions, mask, nbest=3)  # type: ignore[arg-type]
    for b, n in enumerate(lengths.tolist()):  # type: ignore[attr-defined]
        em = emissions[b].numpy()  # type: ignore[index]
        scored = brute.enumerate_paths(em, t, s, e, n)
        want = brute.log_partition(scored)
        assert log_z[b] == pytest.approx(want, abs=1e-9) or log_z[b] == want == -math.inf
        assert np.allclose(nodes[b, :n], brute.marginals(scored, n, labels), atol=1e-9)
        assert not nodes[b, n:].any()
        finite = sorted((p for p in scored if p[0] != -math.inf), key=lambda p: -p[0])
        if n == 0 or not finite:
            assert best[b] == []
            continue
        top_score = finite[0][0]
        assert brute.path_score(em, t, s, e, tuple(best[b])) == pytest.approx(top_score)
        got = top3[b]
        assert len(got) == min(3, len(finite))
        for (path, score), (want_score, _) in zip(got, finite, strict=False):
            assert score == pytest.approx(want_score)
            assert brute.path_score(em, t, s, e, tuple(path)) == pytest.approx(score)


@settings(max_examples=40, deadline=None)
@given(case=_cases(min_length=1))
def test_against_pytorch_crf(case: tuple[int, object, object, object]) -> None:
    """Same parameters, same log-likelihood, gradients and Viterbi paths.
    (pytorch-crf needs every sequence to have at least one position.)"""
    seed, emissions, mask, _ = case
    labels = emissions.shape[2]  # type: ignore[attr-defined]
    theirs = torchcrf.CRF(labels, batch_first=True).double()
    ours = _model(labels, seed)
    with torch.no_grad():
        theirs.transitions.copy_(ours.transitions)
        theirs.start_transitions.copy_(ours.start_transitions)
        theirs.end_transitions.copy_(ours.end_transitions)
    g = torch.Generator().manual_seed(seed + 1)
    tags = torch.randint(0, labels, mask.shape, generator=g)  # type: ignore[attr-defined]
    e1 = emissions.clone().requires_grad_()  # type: ignore[attr-defined]
    e2 = emissions.clone().requires_grad_()  # type: ignore[attr-defined]
    a = theirs(e1, tags, mask, reduction="none")
    b = ours.log_likelihood(e2, tags, mask)
    assert torch.allclose(a, b, atol=1e-10)
    weights = torch.rand(len(a), generator=g, dtype=torch.float64)  # unequal: recomputed grads
    (a * weights).sum().backward()
    (b * weights).sum().backward()
    assert torch.allclose(e1.grad, e2.grad, atol=1e-10)
    for mine, other in [
        (ours.transitions, theirs.transitions),
        (ours.start_transitions, theirs.start_transitions),
        (ours.end_transitions, theirs.end_transitions),
    ]:
        # (pytorch-crf leaves a gradient it never touched at None.)
        other_grad = other.grad if other.grad is not None else torch.zeros_like(other)
        assert torch.allclose(mine.grad, other_grad, atol=1e-10)
    assert ours.decode(emissions, mask) == theirs.decode(emissions, mask)  # type: ignore[arg-type]


def test_edge_marginals_and_torch_struct() -> None:
    """Edge marginals sum to the node marginals, and log Z equals torch-struct's."""
    torch_struct = pytest.importorskip("torch_struct")
    crf = _model(4, 5)
    emissions = torch.randn(3, 6, 4, dtype=torch.float64)
    lengths = torch.tensor([6, 4, 2])
    mask = torch.arange(6)[None, :] < lengths[:, None]
    nodes, pairs = crf.marginals(emissions, mask, edges=True)
    for b, n in enumerate(lengths.tolist()):
        # pairs[b, t - 1, i, j]: summing j leaves position t - 1, summing i position t.
        assert torch.allclose(pairs[b, : n - 1].sum(dim=2), nodes[b, : n - 1])
        assert torch.allclose(pairs[b, : n - 1].sum(dim=1), nodes[b, 1:n])
    t, s, e = (x.detach() for x in crf._scores(torch.float64))
    edge = emissions[:, 1:, :, None] + t.T[None, None]
    edge[:, 0] += (emissions[:, 0] + s)[:, None, :]
    edge[torch.arange(3), lengths - 2] += e[None, :, None]
    with pytest.warns(UserWarning, match="arg_constraints"):
        theirs = torch_struct.LinearChainCRF(edge, lengths=lengths).partition
    assert torch.allclose(theirs, crf.log_partition(emissions, mask))


def test_gradcheck_float64() -> None:
    crf = _model(3, 0)
    emissions = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
    tags = torch.tensor([[0, 2, 1, 1], [1, 0, 0, 0]])

    def f(e: object, t: object) -> object:
        with torch.no_grad():
            crf.transitions.copy_(t)  # type: ignore[arg-type]
        return crf.log_likelihood(e, tags, mask)  # type: ignore[arg-type]

    assert torch.autograd.gradcheck(
        lambda e: crf.log_likelihood(e, tags, mask), (emissions,), eps=1e-6, atol=1e-7
    )


def test_float32_and_no_allowed_path() -> None:
    crf = _model(3, 1, dtype=torch.float32, constraints=(
        np.zeros((3, 3), bool), np.ones(3, bool), np.ones(3, bool)
    ))  # fmt: skip
    emissions = torch.randn(2, 3, 3)
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]], dtype=torch.bool)
    log_z = crf.log_partition(emissions, mask)
    assert log_z[0] == -math.inf and torch.isfinite(log_z[1])  # length 1 needs no transition
    assert crf.decode(emissions, mask)[0] == []
    assert not crf.marginals(emissions, mask)[0].any()
    tags = torch.zeros(2, 3, dtype=torch.long)
    assert torch.isfinite(crf.log_likelihood(emissions, tags, mask)[1])


def test_empty_sequences_and_nan() -> None:
    crf = _model(3, 2)
    emissions = torch.randn(2, 3, 3, dtype=torch.float64)
    mask = torch.tensor([[0, 0, 0], [1, 1, 0]], dtype=torch.bool)
    tags = torch.zeros(2, 3, dtype=torch.long)
    assert crf.log_likelihood(emissions, tags, mask)[0] == 0
    assert crf.decode(emissions, mask)[0] == []
    emissions[1, 0, 0] = float("nan")
    out = crf.log_partition(emissions, torch.ones(2, 3, dtype=torch.bool))
    assert torch.isfinite(out[0]) and torch.isnan(out[1])


def test_bad_input() -> None:
    crf = _model(3, 3)
    emissions = torch.randn(2, 4, 3, dtype=torch.float64)
    tags = torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(IndexError, match="out of range"):
        crf.log_likelihood(emissions, tags + 3)
    with pytest.raises(IndexError, match="out of range"):
        crf.log_likelihood(emissions, tags - 1)
    with pytest.raises(ValueError, match="not a prefix"):
        crf.decode(emissions, torch.tensor([[1, 0, 1, 1], [1, 1, 1, 1]], dtype=torch.bool))
    with pytest.raises(ValueError, match="shape"):
        crf.decode(torch.randn(2, 4, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="mask must have shape"):
        crf.decode(emissions, torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="tags must be a tensor of shape"):
        crf.log_likelihood(emissions, tags[:, :2])
    with pytest.raises(TypeError, match="float32 or float64"):
        crf.decode(emissions.to(torch.int64))
    with pytest.raises(TypeError, match="integer labels"):
        crf.log_likelihood(emissions, tags.double())
    with pytest.raises(ValueError, match="nbest"):
        crf.decode(emissions, nbest=0)
    with pytest.raises(ValueError, match="num_labels"):
        CRF(0)
    with pytest.raises(ValueError, match="label names"):
        CRF(3, constraints="BIO")
    bio = CRF(3, constraints="BIO", labels=["O", "B-X", "I-X"])
    # I-X never follows O, and never starts a sequence.
    paths = bio.decode(torch.randn(8, 6, 3) * 5)
    for p in paths:
        assert p[0] != 2
        assert all(not (a == 0 and b == 2) for a, b in itertools.pairwise(p))
