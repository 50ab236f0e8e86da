"""seqcore.nn.HigherOrderCRF against brute force, against the first-order CRF,
and driven by SPN factors (the paper's SPN-based higher-order CRF)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from seqcore.nn import CRF, HigherOrderCRF, SPNFactor


def _score(factors: list, tables: list, labels: int, b: int, path: tuple[int, ...]) -> float:
    total = 0.0
    for t in range(len(path)):
        for n in range(1, len(tables) + 1):
            if t - n + 1 < 0:
                continue
            g = 0
            for y in path[t - n + 1 : t + 1]:
                g = g * labels + y
            if factors[n - 1] is not None:
                total += float(factors[n - 1][b, t, g])
            total += float(tables[n - 1][g])
    return total


@settings(max_examples=50, deadline=None)
@given(
    order=st.integers(1, 4),
    labels=st.integers(1, 3),
    lengths=st.lists(st.integers(0, 4), min_size=1, max_size=3),
    seed=st.integers(0, 2**16),
    present=st.lists(st.booleans(), min_size=4, max_size=4),
)
def test_against_brute_force(
    order: int, labels: int, lengths: list[int], seed: int, present: list[bool]
) -> None:
    g = torch.Generator().manual_seed(seed)
    batch, width = len(lengths), max(max(lengths), 1)
    crf = HigherOrderCRF(labels, order, dtype=torch.float64)
    with torch.no_grad():
        for p in crf.tables:
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    present[0] = True  # at least one factor tensor
    factors = [
        torch.randn(batch, width, labels**n, generator=g, dtype=torch.float64)
        if present[n - 1] else None
        for n in range(1, order + 1)
    ]  # fmt: skip
    mask = torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]
    tables = [p.detach() for p in crf.tables]
    log_z = crf.log_partition(factors, mask)
    best = crf.decode(factors, mask)
    marg = crf.marginals(factors, mask)
    for b, n in enumerate(lengths):
        scored = [
            (_score(factors, tables, labels, b, p), p)
            for p in itertools.product(range(labels), repeat=n)
        ]
        top = max(s for s, _ in scored)
        want = top + math.log(sum(math.exp(s - top) for s, _ in scored))
        assert float(log_z[b]) == pytest.approx(want, abs=1e-9)
        if n:
            assert _score(factors, tables, labels, b, tuple(best[b])) == pytest.approx(top)
            unary = np.zeros((n, labels))
            for s, p in scored:
                for t, y in enumerate(p):
                    unary[t, y] += math.exp(s - want)
            assert np.allclose(marg[0][b, :n].numpy(), unary, atol=1e-9)
        else:
            assert best[b] == []


def test_order_two_equals_the_first_order_crf() -> None:
    torch.manual_seed(0)
    labels, batch, width = 4, 3, 6
    first = CRF(labels, dtype=torch.float64)
    with torch.no_grad():
        for p in first.parameters():
            p.normal_()
    emissions = torch.randn(batch, width, labels, dtype=torch.float64)
    lengths = torch.tensor([6, 3, 1])
    mask = torch.arange(width)[None, :] < lengths[:, None]
    # Start and end scores become unary factors at the first and last positions.
    unary = emissions.clone()
    unary[:, 0] += first.start_transitions.detach()
    unary[torch.arange(batch), lengths - 1] += first.end_transitions.detach()
    binary = first.transitions.detach().reshape(1, 1, -1).expand(batch, width, -1).contiguous()
    second = HigherOrderCRF(labels, 2, tables=False, dtype=torch.float64)
    assert torch.allclose(
        second.log_partition([unary, binary], mask), first.log_partition(emissions, mask)
    )
    assert second.decode([unary, binary], mask) == first.decode(emissions, mask)
    tags = torch.randint(0, labels, (batch, width))
    assert torch.allclose(
        second.log_likelihood([unary, binary], tags, mask),
        first.log_likelihood(emissions, tags, mask),
    )


def test_gradients_reach_factors_and_tables() -> None:
    torch.manual_seed(1)
    crf = HigherOrderCRF(3, 3, dtype=torch.float64)
    factors = [torch.randn(2, 5, 3**n, dtype=torch.float64, requires_grad=True) for n in (1, 2, 3)]
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    tags = torch.randint(0, 3, (2, 5))
    assert torch.autograd.gradcheck(
        lambda a, b, c: crf.log_likelihood([a, b, c], tags, mask), tuple(factors)
    )
    crf.log_likelihood(factors, tags, mask).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in crf.tables)


def test_spn_factors_train_a_higher_order_crf() -> None:
    """SPNFactor -> HigherOrderCRF, maximising the conditional log-likelihood."""
    torch.manual_seed(2)
    labels, features = 3, 4
    spn = SPNFactor(features, labels, order=2, seed=0)
    crf = HigherOrderCRF(labels, 2)
    x = torch.randn(8, 6, features)
    tags = (x[..., 0] > 0).long() + (x[..., 1] > 0).long()
    optimizer = torch.optim.Adam([*spn.parameters(), *crf.parameters()], lr=0.05)
    losses = []
    for _ in range(15):
        loss = -crf.log_likelihood([None, spn(x)], tags).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]


def test_bad_input() -> None:
    crf = HigherOrderCRF(3, 2)
    f = [torch.randn(2, 4, 3), torch.randn(2, 4, 9)]
    with pytest.raises(ValueError, match="order must be"):
        HigherOrderCRF(3, 5)
    with pytest.raises(ValueError, match=r"factors\[1\] must have shape"):
        crf.log_partition([f[0], torch.randn(2, 4, 3)])
    with pytest.raises(ValueError, match="factor tensors given for order"):
        crf.log_partition([*f, torch.randn(2, 4, 27)])
    with pytest.raises(TypeError, match="sequence"):
        crf.log_partition(f[0])
    with pytest.raises(IndexError, match="out of range"):
        crf.log_likelihood(f, torch.full((2, 4), 3))
    with pytest.raises(ValueError, match="not a prefix"):
        crf.decode(f, torch.tensor([[1, 0, 1, 1], [1, 1, 1, 1]], dtype=torch.bool))
    with pytest.raises(ValueError, match="at least one factor"):
        crf.log_partition([None, None])


def test_the_example_script_runs(tmp_path: object) -> None:
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "examples" / "crf_higher_order.py"
    result = subprocess.run(
        [sys.executable, str(script), "--steps", "5"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "held-out label accuracy, SPN order-3 CRF" in result.stdout


def test_too_many_ngrams_is_an_error_not_an_abort() -> None:
    import numpy as np

    from seqcore import _core

    lengths = np.array([3, 2])
    with pytest.raises(ValueError, match="label n-grams per position"):
        _core.hocrf_log_partition(4, 300, [np.zeros((2, 3, 300), np.float32)], [], lengths)
    with pytest.raises(TypeError, match="lengths must be an int64 array"):
        _core.hocrf_log_partition(1, 3, [np.zeros((2, 3, 3), np.float32)], [], lengths * 1.0)
