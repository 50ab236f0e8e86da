"""The candidates mode of seqcore's search step machine (step_candidates):
each row's k best tokens, in any order, give the same steps and result as
the full rows when k leaves room for what bans and diversity penalties can
lower, and fewer than the kept candidates are refused."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from seqcore import BeamSearch, DiverseBeamSearch, GreedySearch
from tests.decode_logprobs import random_logprobs, top_k


def _keep(config: Any) -> int:
    """Candidates kept per group: max(2, 1 + distinct EOS ids) * beams per group."""
    beams = config.beams_per_item()
    if beams == 1:
        return 1
    per_group = beams // getattr(config, "num_groups", 1)
    return max(2, 1 + len(set(config._native_args()["eos_token_ids"]))) * per_group


def _run_dense_and_candidates(
    config: Any, vocab: int, prompts: list[list[int]], k: int, seed: int, shuffle: bool = False
) -> None:
    rng = np.random.default_rng(seed)
    eos = tuple(config._native_args()["eos_token_ids"])
    dense = config.start(vocab, prompts)
    sparse = config.start(vocab, prompts)
    while not dense.done:
        logprobs = random_logprobs(rng, len(dense.active_rows), vocab, eos)
        ids, values = top_k(logprobs, k)
        if shuffle:  # any order within a row
            order = rng.permuted(np.tile(np.arange(k), (len(ids), 1)), axis=1)
            ids = np.take_along_axis(ids, order, axis=1)
            values = np.take_along_axis(values, order, axis=1)
        a = dense.step(logprobs)
        b = sparse.step_candidates(ids, values)
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x, y)
    assert sparse.done
    assert dense.finalize() == sparse.finalize()


CANDIDATE_CONFIGS = [
    GreedySearch(max_new_tokens=6, eos_token_id=1),
    BeamSearch(num_beams=4, max_new_tokens=6, eos_token_id=1, num_return_sequences=2),
    BeamSearch(num_beams=3, max_new_tokens=5, eos_token_id=[1, 2], early_stopping=True),
    BeamSearch(num_beams=5, max_new_tokens=6, length_penalty=2.0, early_stopping="never"),
    DiverseBeamSearch(num_beams=4, num_groups=2, max_new_tokens=6, eos_token_id=1),
    DiverseBeamSearch(num_beams=6, num_groups=3, max_new_tokens=5, eos_token_id=[1, 2]),
]


@pytest.mark.parametrize("config", CANDIDATE_CONFIGS, ids=lambda c: type(c).__name__)
@pytest.mark.parametrize("seed", [0, 1])
def test_candidates_equal_full_rows_without_bans(config: Any, seed: int) -> None:
    """Without bans, k = candidates kept per group (max(2, 1 + E) * beams per
    group; 1 for greedy) is enough for plain beam search. A Hamming diversity
    penalty can lower up to (G - 1) * S tokens of a row (what the earlier
    groups chose), so diverse search needs k = keep + (G - 1) * S."""
    k = _keep(config)
    if isinstance(config, DiverseBeamSearch):
        k += config.num_beams - config.num_beams // config.num_groups
    _run_dense_and_candidates(config, 61, [[5, 6], [7, 8, 9, 10]], k, seed, shuffle=seed == 1)


@pytest.mark.parametrize("seed", [0, 1])
def test_candidates_with_bans_need_room_for_the_banned(seed: int) -> None:
    """With bans, k = keep + the number of tokens a row's bans can touch:
    here the EOS ids (min_new_tokens) and the one-token bad words, plus one
    token per earlier position of the row for no_repeat_ngram_size."""
    config = BeamSearch(
        num_beams=3,
        max_new_tokens=6,
        eos_token_id=[1, 2],
        min_new_tokens=3,
        bad_words_ids=[[3], [4], [9, 10]],
        no_repeat_ngram_size=2,
    )
    prompts = [[5, 6, 5], [7]]
    longest = max(len(p) for p in prompts) + config.max_new_tokens
    k = _keep(config) + 2 + 2 + 1 + longest
    _run_dense_and_candidates(config, 61, prompts, k, seed)


def test_candidates_need_at_least_keep() -> None:
    config = BeamSearch(num_beams=3, eos_token_id=[1, 2])  # keeps 3 * 3 per item
    ids, values = top_k(np.log(np.full((1, 20), 0.05, np.float32)), 9)
    state = config.start(20, [[0]])
    with pytest.raises(ValueError, match=r"k must be in 9\.\.=20"):
        state.step_candidates(ids[:, :8], values[:, :8])
    state.step_candidates(ids, values)


def test_candidates_ties_go_to_the_lower_token_whatever_the_order() -> None:
    state = BeamSearch(num_beams=2, max_new_tokens=3).start(8, [[0]])
    ids = np.array([[7, 5, 3, 1]])
    step = state.step_candidates(ids, np.full((1, 4), -1.0, np.float32))
    assert step.tokens.tolist() == [1, 3] and step.parents.tolist() == [0, 0]
