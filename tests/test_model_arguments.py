"""Arguments at the edges of the decoder, the CRFs and the scans: refused with
a clear error or answered correctly, never an abort or a misleading message."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import seqcore
from seqcore import BeamSearch
from seqcore.nn import CRF, HigherOrderCRF, MegaEMA


def test_nbest_far_above_the_paths_that_exist_returns_them_all() -> None:
    crf = CRF(3)
    emissions = torch.randn(1, 3, 3)
    # 3 labels over 3 positions: 27 paths. Asking for 2**40 once aborted
    # the process (an allocation of 2**40 paths up front).
    for nbest in (100, 2**40, 2**63 - 1, 2**70):
        paths = crf.decode(emissions, nbest=nbest)
        assert len(paths[0]) == 27
    assert crf.decode(emissions, nbest=2)[0][0][0] == crf.decode(emissions)[0]


def test_crf_marginals_edges_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="edges must be a bool"):
        CRF(3).marginals(torch.randn(1, 3, 3), edges=1)  # type: ignore[arg-type]


def test_crf_double_backward_is_refused_clearly() -> None:
    crf = CRF(3)
    emissions = torch.randn(2, 4, 3, requires_grad=True)
    tags = torch.randint(0, 3, (2, 4))
    loss = crf(emissions, tags).sum()
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(loss, emissions, create_graph=True)
    # Without create_graph the gradient is there as before.
    (grad,) = torch.autograd.grad(crf(emissions, tags).sum(), emissions)
    assert grad.shape == emissions.shape


def test_higher_order_crf_tables_too_large_are_refused() -> None:
    with pytest.raises(ValueError, match="num_labels\\*\\*order"):
        HigherOrderCRF(2**31, 4)


def test_mega_ema_sizes_must_be_ints() -> None:
    with pytest.raises(TypeError, match="ndim must be an int"):
        MegaEMA(4, 2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="d_model must be an int"):
        MegaEMA(True)


def test_selective_scan_needs_at_least_one_state() -> None:
    rng = np.random.default_rng(0)
    u = rng.standard_normal((1, 2, 5)).astype(np.float32)
    a = -np.ones((2, 0), dtype=np.float32)
    b = np.ones((2, 0), dtype=np.float32)
    with pytest.raises(ValueError, match="at least one state"):
        seqcore.scan.selective(u, u, a, b, b)


def test_candidates_needed_never_exceeds_the_vocabulary() -> None:
    state = BeamSearch(num_beams=2).start(5, batch_size=1)
    k = state.candidates_needed()
    assert k == 5
    rows = len(state.active_rows)
    logprobs = np.log(np.full((rows, 5), 0.2, dtype=np.float32))
    order = np.argsort(-logprobs, axis=1)[:, :k]
    state.step_candidates(order, np.take_along_axis(logprobs, order, axis=1))
    assert BeamSearch(num_beams=2).start(1000, batch_size=1).candidates_needed() == 8


def test_uint64_token_ids_past_int64_are_reported_as_given() -> None:
    state = BeamSearch(num_beams=2).start(5, batch_size=1)
    tokens = np.array([[0, 1, 2, 3, 2**63 + 5]], dtype=np.uint64)
    logprobs = np.full((1, 5), -1.0, dtype=np.float32)
    with pytest.raises(IndexError, match=str(2**63 + 5)):
        state.step_candidates(tokens, logprobs)


def test_nbest_over_the_limit_with_that_many_paths_is_refused() -> None:
    # 10 labels over 20 positions: 10**20 paths, so 2**40 of them exist.
    with pytest.raises(ValueError, match="at most"):
        CRF(10).decode(torch.randn(1, 20, 10), nbest=2**40)


def test_higher_order_nbest_far_above_the_paths_that_exist() -> None:
    crf = HigherOrderCRF(3, 2)
    factors = [torch.randn(1, 3, 3), torch.randn(1, 3, 9)]
    paths = crf.decode(factors, nbest=2**70)
    assert len(paths[0]) == 27
