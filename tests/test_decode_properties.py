"""Properties of seqcore's search step machine that relate the modes to each
other (one group is beam search, one beam is greedy search, strength 0 groups
are independent searches), greedy scores, ties, and results that do not
depend on threads or reruns; on random log-probs and on a stand-in model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import seqcore
from seqcore import BeamSearch, DiverseBeamSearch, GreedySearch
from tests.decode_logprobs import Array, fold32, random_logprobs, sequence_logprobs
from tests.references.beam_search import ReferenceSearch, SearchSpec


def _drive(config: Any, vocab: int, prompts: list[list[int]], seed: int) -> tuple[list, Any]:
    """Runs a search on random log-probs; returns its steps and result."""
    rng = np.random.default_rng(seed)
    eos = tuple(config._native_args()["eos_token_ids"])
    state = config.start(vocab, prompts)
    steps = []
    while not state.done:
        logprobs = random_logprobs(rng, len(state.active_rows), vocab, eos, holes=0.3)
        steps.append(tuple(a.tolist() for a in state.step(logprobs)))
    return steps, state.finalize()


def _drive_model(config: Any, vocab: int, prompts: list[list[int]]) -> Any:
    """Runs a search on log-probs that depend on each row's tokens only."""
    eos = tuple(config._native_args()["eos_token_ids"])
    model = sequence_logprobs(vocab, eos)
    beams = config.beams_per_item()
    state = config.start(vocab, prompts)
    rows = {i * beams: tuple(p) for i, p in enumerate(prompts)}
    while not state.done:
        before = state.active_rows.tolist()
        step = state.step(np.stack([model(rows[r]) for r in before]))
        rows = {
            r: rows[before[p]] + (t,)
            for r, t, p in zip(
                step.rows.tolist(), step.tokens.tolist(), step.parents.tolist(), strict=True
            )
        }
    return state.finalize()


BEAM_KNOBS = [
    {"num_beams": 4, "eos_token_id": 1, "num_return_sequences": 3},
    {"num_beams": 3, "eos_token_id": [1, 2], "length_penalty": 2.0, "early_stopping": "never"},
    {"num_beams": 5, "eos_token_id": 1, "length_penalty": -0.5, "early_stopping": True},
    {"num_beams": 2, "no_repeat_ngram_size": 2, "bad_words_ids": [[3], [4, 5]]},
]


@pytest.mark.parametrize("knobs", BEAM_KNOBS)
def test_one_group_is_plain_beam_search(knobs: dict[str, Any]) -> None:
    """DiverseBeamSearch(num_groups=1) is accepted, with any strength (there
    is no earlier group to penalize), and runs transformers 5.18's beam
    search, exactly as BeamSearch does."""
    prompts = [[5, 6, 7], [8]]
    expected = _drive(BeamSearch(max_new_tokens=7, **knobs), 17, prompts, 3)
    for strength in (0.0, 0.5):
        config = DiverseBeamSearch(
            max_new_tokens=7, num_groups=1, diversity_strength=strength, **knobs
        )
        assert _drive(config, 17, prompts, 3) == expected


@pytest.mark.parametrize("length_penalty", [1.0, 0.0, 2.0])
def test_one_beam_is_greedy(length_penalty: float) -> None:
    prompts = [[5, 6, 7], [8], [9, 10]]
    knobs = {"max_new_tokens": 7, "eos_token_id": [1, 2], "no_repeat_ngram_size": 2}
    greedy_steps, greedy = _drive(GreedySearch(**knobs), 23, prompts, 4)
    beam_steps, beam = _drive(
        BeamSearch(num_beams=1, length_penalty=length_penalty, **knobs), 23, prompts, 4
    )
    assert beam_steps == greedy_steps
    for a, b in zip(greedy.hypotheses, beam.hypotheses, strict=True):
        assert [(h.tokens, h.token_scores, h.beam_indices) for h in a] == [
            (h.tokens, h.token_scores, h.beam_indices) for h in b
        ]
    # Greedy search follows the argmax row by row.
    rng = np.random.default_rng(9)
    state = GreedySearch(max_new_tokens=3).start(50, batch_size=4)
    chosen = []
    for _ in range(3):
        logprobs = random_logprobs(rng, 4, 50, ())
        state.step(logprobs)
        chosen.append(logprobs.argmax(axis=1))
    assert state.finalize().sequences().tolist() == np.stack(chosen, axis=1).tolist()


@pytest.mark.parametrize(
    "config",
    [
        GreedySearch(max_new_tokens=5, eos_token_id=1),
        BeamSearch(num_beams=1, max_new_tokens=5, eos_token_id=1, length_penalty=2.0),
    ],
    ids=["greedy", "one-beam"],
)
def test_greedy_score_is_the_plain_sum(config: Any) -> None:
    _, result = _drive(config, 13, [[5, 6], [7]], 0)
    for item in result.hypotheses:
        for h in item:
            assert len(h.tokens) > 1
            assert h.score == fold32(h.token_scores)


def test_greedy_after_a_banned_row_follows_the_argmax() -> None:
    # vocab 3, EOS 1: the prompt bans 0 (n-gram size 1 bans every token seen),
    # min_new_tokens bans 1 twice: token 2, then nothing is left (token 0 at
    # -inf); at the third step 1 is allowed again and the only finite token.
    config = GreedySearch(
        max_new_tokens=4, eos_token_id=1, min_new_tokens=2, no_repeat_ngram_size=1
    )
    state = config.start(3, [[0]])
    while not state.done:
        state.step(np.log(np.full((1, 3), 1 / 3, np.float32)))
    assert state.finalize().hypotheses[0][0].tokens == [2, 0, 1]


@pytest.mark.parametrize("diversity", ["hamming", "cumulative", "ngram"])
def test_strength_zero_groups_are_independent_searches(diversity: str) -> None:
    """Strength 0 with G groups is accepted (transformers refuses it) and runs
    G independent (transformers 4.56 scorer) searches of B / G beams: with
    log-probs that depend on a row's tokens only, every group finds the same
    hypotheses, and they are the reference's with the penalty switched off."""
    vocab, prompts, eos = 19, [[4, 5], [6, 7, 8]], (1,)
    knobs: dict[str, Any] = {
        "num_beams": 6,
        "num_groups": 3,
        "max_new_tokens": 6,
        "eos_token_id": list(eos),
        "num_return_sequences": 6,
        "length_penalty": 0.7,
    }
    result = _drive_model(
        DiverseBeamSearch(diversity_strength=0.0, diversity=diversity, **knobs), vocab, prompts
    )
    for groups in result.groups:
        first = [(h.tokens, h.score, h.token_scores) for h in groups[0]]
        assert len(first) == 2
        for g, hyps in enumerate(groups):
            assert [(h.tokens, h.score, h.token_scores) for h in hyps] == first
            assert [h.beam_indices for h in hyps] == [
                [b + 2 * g for b in h.beam_indices] for h in groups[0]
            ]

    class Independent(ReferenceSearch):
        def _diversity(self, rows: Array, picked: list[int]) -> None:
            pass

    spec = SearchSpec(
        num_beams=6,
        num_groups=3,
        diversity_strength=1.0,  # the reference wants one; switched off above
        max_new_tokens=6,
        eos_token_ids=eos,
        num_return_sequences=6,
        length_penalty=0.7,
        vocab_size=vocab,
    )
    model = sequence_logprobs(vocab, eos)
    reference = Independent(spec, prompts)
    rows = {r: tuple(prompts[r // 6]) for r in reference.active_rows}
    while not reference.done:
        before = reference.active_rows
        tokens, parents = reference.step(np.stack([model(rows[r]) for r in before]))
        after = reference.active_rows
        rows = {r: rows[before[p]] + (t,) for r, t, p in zip(after, tokens, parents, strict=True)}
    for theirs, ours in zip(reference.finalize(), result.hypotheses, strict=True):
        assert [(h.tokens, h.score, h.beam_indices, h.group) for h in theirs] == [
            (tuple(h.tokens), h.score, tuple(h.beam_indices), h.group) for h in ours
        ]


def test_group_zero_is_never_penalized() -> None:
    knobs: dict[str, Any] = {"num_beams": 6, "num_groups": 3, "max_new_tokens": 6}
    knobs.update(eos_token_id=1, num_return_sequences=6)
    plain = _drive_model(DiverseBeamSearch(diversity_strength=0.0, **knobs), 19, [[4, 5]])
    diverse = _drive_model(DiverseBeamSearch(diversity_strength=2.0, **knobs), 19, [[4, 5]])
    assert diverse.groups[0][0] == plain.groups[0][0]
    assert diverse.groups[0][1:] != plain.groups[0][1:]


def test_ngram_one_is_hamming_without_early_finishers() -> None:
    """Diversity "ngram" with n = 1 counts this step's tokens of earlier groups,
    as Hamming does; they differ only in Hamming's pad rule for done groups,
    which needs an EOS to finish a group early."""
    knobs: dict[str, Any] = {"num_beams": 6, "num_groups": 3, "max_new_tokens": 5}
    knobs.update(diversity_strength=0.7, num_return_sequences=4)
    hamming = _drive(DiverseBeamSearch(diversity="hamming", **knobs), 23, [[4], [5, 6]], 2)
    ngram = DiverseBeamSearch(diversity="ngram", diversity_ngram_size=1, **knobs)
    assert _drive(ngram, 23, [[4], [5, 6]], 2) == hamming


def test_ties_go_to_the_lower_flat_index() -> None:
    """Equal scores rank by (beam * vocab + token) ascending; greedy takes the
    first maximum."""
    flat = np.full((2, 4), np.log(0.25), dtype=np.float32)
    state = BeamSearch(num_beams=2, max_new_tokens=3).start(4, [[3]])
    step = state.step(flat[:1])  # only beam 0 counts at first
    assert (step.tokens.tolist(), step.parents.tolist()) == ([0, 1], [0, 0])
    # beam 1's token 0 ties with beam 0's token 3: beam 0 comes first
    tie = np.array([[-9.0, -9.0, -9.0, -1.0], [-1.0, -9.0, -9.0, -9.0]], np.float32)
    step = state.step(tie)
    assert (step.tokens.tolist(), step.parents.tolist()) == ([3, 0], [0, 1])
    greedy = GreedySearch(max_new_tokens=2).start(4, batch_size=1)
    assert greedy.step(flat[:1]).tokens.tolist() == [0]
    # across beams in diverse search: groups do the same within themselves
    state = DiverseBeamSearch(num_beams=4, num_groups=2, max_new_tokens=2).start(4, [[3]])
    step = state.step(flat[:1])
    # group 1 sees tokens 0 and 1 penalized (chosen by group 0): 2 and 3 next
    assert step.tokens.tolist() == [0, 1, 2, 3]


def test_results_do_not_depend_on_threads_or_reruns() -> None:
    """A big vocabulary makes the step parallel (over 2^17 log-probs); the
    outcome must be bit-identical on 1 and 2 threads and across reruns."""
    vocab = 50257
    configs = [
        BeamSearch(num_beams=8, max_new_tokens=4, eos_token_id=[1, 2], num_return_sequences=8),
        DiverseBeamSearch(num_beams=8, num_groups=4, max_new_tokens=3, eos_token_id=1),
    ]
    before = seqcore.get_num_threads()
    try:
        for config in configs:
            runs = []
            for threads in (1, 2, 2):
                seqcore.set_num_threads(threads)
                runs.append(_drive(config, vocab, [[5, 6], [7]], 11))
            assert runs[0] == runs[1] == runs[2]
    finally:
        seqcore.set_num_threads(before)


def test_big_vocabulary_smoke() -> None:
    vocab = 50257
    rng = np.random.default_rng(0)
    config = BeamSearch(num_beams=4, max_new_tokens=4, eos_token_id=50256, num_return_sequences=2)
    state = config.start(vocab, [[464, 2068], [40]])  # 8 rows after the first step
    while not state.done:
        rows = len(state.active_rows)
        step = state.step(random_logprobs(rng, rows, vocab, (50256,)))
        assert ((step.tokens >= 0) & (step.tokens < vocab)).all()
    result = state.finalize()
    assert result.sequences().shape[0] == 4
    assert np.isfinite(result.scores).all()
    assert all(np.isfinite(h.token_scores).all() for item in result.hypotheses for h in item)
