"""seqcore's search step machine (seqcore.decode): greedy, beam and diverse beam
search against the numpy reference (tests/references/beam_search.py), the
candidates mode, properties that relate the modes to each other, determinism,
and bad input. The reference itself is checked against transformers in
test_beam_reference.py; generate() is in test_decode_generate.py.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import seqcore
from seqcore import BeamSearch, DiverseBeamSearch, GreedySearch
from tests.decode_helpers import config_of
from tests.references.beam_search import ReferenceSearch, SearchSpec

Array = np.ndarray


# -- log-probs -----------------------------------------------------------------


def _normalize(logits: Array, dtype: Any = np.float32) -> Array:
    """log_softmax over the finite entries (every row keeps one)."""
    top = logits.max(axis=1, keepdims=True)
    total = np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
    return (logits - top - total).astype(dtype)


def _logprobs(
    rng: np.random.Generator, rows: int, vocab: int, eos: tuple[int, ...], holes: float = 0.0
) -> Array:
    """Random float32 log-probs with the EOS ids made likely. With `holes`,
    about half the rows get that fraction of -inf entries (one entry per row
    stays finite)."""
    logits = 2.0 * rng.standard_normal((rows, vocab))
    if eos:
        logits[:, list(eos)] += 2.5
    if holes:
        mask = (rng.random((rows, vocab)) < holes) & (rng.random((rows, 1)) < 0.5)
        mask[np.arange(rows), rng.integers(0, vocab, rows)] = False
        logits[mask] = -np.inf
    return _normalize(logits)


def _sequence_logprobs(vocab: int, eos: tuple[int, ...]) -> Any:
    """A stand-in model: the log-probs of a row depend only on its tokens
    (prompt + generated), so rows with equal histories get equal rows."""

    def logprobs(tokens: tuple[int, ...]) -> Array:
        digest = hashlib.sha256(repr((vocab, tokens)).encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        return _logprobs(rng, 1, vocab, eos)[0]

    return logprobs


# -- driving the reference and seqcore in lockstep -------------------------------


def _outside_reference(reference: ReferenceSearch) -> bool:
    """Whether a beam search (5.18 path) reached a state where the reference
    is known to part from transformers 5.18 (and seqcore): a finished
    hypothesis grown from one of the -1e9 placeholder beams of the first
    step, or scoring -1e9 or less (-inf tokens), or an unfinished item whose
    best running beam scores -1e9 or less (rows of -inf, or bans that leave
    nothing finite). transformers starts its finished slots at -1e9 (empty
    hypotheses): such a candidate ties with them or cannot beat them, and an
    item whose running beams cannot beat an empty slot stops at once (checked
    against 5.18 with an all -inf first step: it returns the bare prompt,
    score -1e9, as seqcore does). The reference keeps no such slots. Tiny
    vocabularies and many -inf reach this (about 4% of the examples): they
    are skipped."""
    spec = reference.spec
    if spec.num_beams == 1 or spec.num_groups > 1:
        return False
    n = spec.num_beams
    for unit in reference._units:
        if any(path.rows[0] % n or score <= -1e8 for score, path in unit.finished):
            return True
        if not unit.done and float(unit.running[0][1]) <= -1e8:
            return True
    return False


def _greedy_took_minus_inf(reference: ReferenceSearch) -> bool:
    """Whether a greedy row took a -inf token (every token banned) and goes
    on: seqcore then ranks by score + log-prob, all -inf, and takes token 0
    instead of the argmax (test_greedy_after_a_banned_row_follows_the_argmax)."""
    if reference.spec.num_beams > 1:
        return False
    return any(not u.done and u.running[0][1] == -np.inf for u in reference._units)


def _lockstep(
    spec: SearchSpec, prompts: list[list[int]], rng: np.random.Generator, holes: float
) -> tuple[list[list[Any]], seqcore.decode.SearchResult]:
    """Runs the reference and seqcore on the same log-probs and checks every
    step: tokens, parents (as global rows), active rows, done."""
    reference = ReferenceSearch(spec, prompts)
    state = config_of(spec).start(spec.vocab_size, prompts)
    beams = spec.num_beams
    items = list(range(len(prompts)))
    assert state.active_rows.tolist() == [i * beams for i in items]
    while not reference.done:
        assert not state.done
        before = reference.active_rows
        ours_before = state.active_rows.tolist()
        fresh = _logprobs(rng, len(ours_before), spec.vocab_size, spec.eos_token_ids, holes)
        if state.steps == 0:
            # seqcore wants one row per item (the prompt); the reference one per
            # beam of each unit, all of them copies of the item's row.
            feed = fresh[[row // beams for row in before]]
        else:
            assert ours_before == before
            feed = fresh
        tokens, parents = reference.step(feed)
        if _outside_reference(reference) or _greedy_took_minus_inf(reference):
            assume(False)
        step = state.step(fresh)
        assert step.tokens.tolist() == tokens
        ours_parents = [ours_before[p] for p in step.parents.tolist()]
        if state.steps == 1:
            assert [r // beams for r in ours_parents] == [before[p] // beams for p in parents]
        else:
            assert ours_parents == [before[p] for p in parents]
        assert step.rows.tolist() == state.active_rows.tolist() == reference.active_rows
        assert state.done == reference.done
    assert state.done
    return reference.finalize(), state.finalize()


def _fold32(values: list[float]) -> np.float32:
    total = np.float32(0.0)
    for v in values:
        total = np.float32(total + np.float32(v))
    return total


def _check_score_arithmetic(spec: SearchSpec, h: Any) -> None:
    """A hypothesis' score is its float32 running sum over len ** lp: float32
    division by float32(len ** lp) for beam search (5.18), float64 division
    rounded to float32 for diverse beam search (4.56). A hypothesis grown from
    one of the first step's placeholder beams (all but a group's first) carries
    their -1e9 start, which its token scores do not show."""
    n = len(h.tokens)
    if h.beam_indices[0] % spec.num_beams % spec.group_size:
        assert h.score < -1e6
        return
    total = _fold32(h.token_scores)
    if spec.num_groups == 1:
        expected = np.float32(total / np.float32(n**spec.length_penalty))
    else:
        expected = np.float32(float(total) / n**spec.length_penalty)
    assert h.score == expected


def _assert_same_hypotheses(
    spec: SearchSpec, reference: list[list[Any]], ours: seqcore.decode.SearchResult
) -> None:
    assert len(ours.hypotheses) == len(reference)
    for theirs, mine in zip(reference, ours.hypotheses, strict=True):
        assert len(mine) == len(theirs) == spec.num_return_sequences
        for r, h in zip(theirs, mine, strict=True):
            assert tuple(h.tokens) == r.tokens
            assert tuple(h.beam_indices) == r.beam_indices
            assert h.group == r.group
            assert h.token_scores == list(r.token_scores)
            if spec.num_beams > 1:
                # Greedy scores: test_greedy_score_is_the_plain_sum.
                assert h.score == pytest.approx(r.score, rel=1e-6)
                _check_score_arithmetic(spec, h)


VOCABS = [3, 4, 5, 7, 11, 13, 31, 61]


@st.composite
def _cases(draw: st.DrawFn) -> tuple[SearchSpec, list[list[int]]]:
    vocab = draw(st.sampled_from(VOCABS))
    eos = draw(st.sampled_from([(), (1,), (2, 1), (0, 2, 1)]))
    # beam search keeps max(2, 1 + E) candidates per beam of a group
    assume(max(2, 1 + len(eos)) <= vocab)
    groups = draw(st.integers(1, 4))
    beams = groups * draw(st.integers(1, 8 // groups))
    token = st.integers(0, vocab - 1)
    bad_words = draw(st.lists(st.lists(token, min_size=1, max_size=3), max_size=3))
    longest = max((len(w) for w in bad_words), default=0)
    # transformers 4.56 (diverse search, seqcore) applies a bad word only once
    # the whole word fits in the sequence, the reference (and 5.18) once its
    # prefix does: prompts as long as every bad word keep them in agreement.
    shortest = longest if groups > 1 else 0
    prompts = draw(st.lists(st.lists(token, min_size=shortest, max_size=6), min_size=1, max_size=3))
    spec = SearchSpec(
        num_beams=beams,
        num_groups=groups,
        diversity_strength=draw(st.sampled_from([0.25, 1.0, 3.0])) if groups > 1 else 0.0,
        length_penalty=draw(st.sampled_from([-0.5, 0.0, 0.7, 1.0, 2.0])),
        early_stopping=draw(st.sampled_from([True, False, "never"])),
        num_return_sequences=draw(st.integers(1, beams)),
        eos_token_ids=eos,
        pad_token_id=draw(st.sampled_from([None, 0, vocab - 1])),
        min_new_tokens=draw(st.integers(0, 3)),
        max_new_tokens=draw(st.integers(1, 8)),
        no_repeat_ngram_size=draw(st.integers(0, 3)),
        bad_words_ids=bad_words,
        vocab_size=vocab,
    )
    return spec, prompts


# Cheap (a few ms an example): more than the profile's default, never fewer.
@settings(max_examples=max(300, settings.default.max_examples))
@given(case=_cases(), seed=st.integers(0, 2**32 - 1), holes=st.sampled_from([0.0, 0.0, 0.6]))
def test_matches_the_reference(
    case: tuple[SearchSpec, list[list[int]]], seed: int, holes: float
) -> None:
    spec, prompts = case
    rng = np.random.default_rng(seed)
    reference, ours = _lockstep(spec, prompts, rng, holes)
    _assert_same_hypotheses(spec, reference, ours)
    # The per-group lists hold every kept hypothesis, best first.
    assert len(ours.groups) == len(prompts)
    for item, groups in enumerate(ours.groups):
        assert len(groups) == spec.num_groups
        kept = [h for g in groups for h in g]
        assert all(h in kept for h in ours.hypotheses[item])
        for g, hyps in enumerate(groups):
            assert all(h.group == g for h in hyps)
            scores = [h.score for h in hyps]
            assert scores == sorted(scores, reverse=True)


def test_bad_word_context_rule_of_each_transformers_version() -> None:
    """A bad word whose prefix is the whole sequence: transformers 5.18 (beam
    search) bans its last token, 4.56 (diverse beam search) only bans once
    the whole word fits in the sequence. (The reference applies 5.18's rule
    in both, hence the long prompts of diverse cases in _cases.)"""
    uniform = np.zeros((1, 9), np.float32)
    uniform[0, 7] = 1.0  # the banned token would win
    beam = BeamSearch(num_beams=2, max_new_tokens=2, bad_words_ids=[[6, 7]]).start(9, [[6]])
    assert 7 not in beam.step(uniform).tokens.tolist()
    diverse = DiverseBeamSearch(num_beams=2, max_new_tokens=2, bad_words_ids=[[6, 7]])
    assert diverse.start(9, [[6]]).step(uniform).tokens.tolist()[0] == 7
    assert 7 not in diverse.start(9, [[5, 6]]).step(uniform).tokens.tolist()


def test_the_reference_is_float32_only() -> None:
    """Why float64 is checked against seqcore's float32 run, not the reference."""
    spec = SearchSpec(num_beams=2, max_new_tokens=1, vocab_size=4)
    search = ReferenceSearch(spec, [[0]])
    search.step(np.log(np.full((2, 4), 0.25)))  # float64 in, silently float32
    assert isinstance(search.finalize()[0][0].token_scores[0], float)
    assert search.finalize()[0][0].token_scores[0] == float(np.float32(np.log(0.25)))


@st.composite
def _dyadic_cases(draw: st.DrawFn) -> tuple[SearchSpec, list[list[int]]]:
    vocab = draw(st.sampled_from([11, 13, 29]))
    groups = draw(st.integers(1, 4))
    beams = groups * draw(st.integers(1, 8 // groups))
    prompts = draw(
        st.lists(st.lists(st.integers(0, vocab - 1), max_size=4), min_size=1, max_size=3)
    )
    spec = SearchSpec(
        num_beams=beams,
        num_groups=groups,
        diversity_strength=draw(st.sampled_from([0.25, 1.0, 3.0])) if groups > 1 else 0.0,
        length_penalty=draw(st.sampled_from([0.0, 1.0, 2.0])),
        early_stopping=draw(st.sampled_from([True, False, "never"])),
        num_return_sequences=draw(st.integers(1, beams)),
        eos_token_ids=draw(st.sampled_from([(), (1,), (2, 1)])),
        min_new_tokens=draw(st.integers(0, 2)),
        max_new_tokens=draw(st.integers(1, 7)),
        vocab_size=vocab,
    )
    return spec, prompts


@given(case=_dyadic_cases(), seed=st.integers(0, 2**32 - 1))
def test_float64_agrees_with_float32_on_exact_values(
    case: tuple[SearchSpec, list[list[int]]], seed: int
) -> None:
    """Log-probs on a 1/8 grid in [-6, 0] are exact in both dtypes and so are
    their sums, so both runs must pick the same tokens; length-penalized
    scores differ only by the final rounding. (No bans and enough tokens per
    row: otherwise the -1e9 placeholder beams of the first step, which float32
    merges into one value and float64 keeps apart, could be picked.)"""
    spec, prompts = case
    rng = np.random.default_rng(seed)
    config = config_of(spec)
    single = config.start(spec.vocab_size, prompts)
    double = config.start(spec.vocab_size, prompts, dtype=np.float64)
    while not single.done:
        assert not double.done
        rows = len(single.active_rows)
        values = -rng.integers(0, 49, size=(rows, spec.vocab_size)) / 8.0
        values[:, list(spec.eos_token_ids)] += 2.0
        a = single.step(values.astype(np.float32))
        b = double.step(values)
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x, y)
        assert np.array_equal(single.active_rows, double.active_rows)
    assert double.done
    ours, theirs = single.finalize(), double.finalize()
    for item32, item64 in zip(ours.hypotheses, theirs.hypotheses, strict=True):
        for h32, h64 in zip(item32, item64, strict=True):
            assert (h32.tokens, h32.beam_indices, h32.group) == (
                h64.tokens,
                h64.beam_indices,
                h64.group,
            )
            assert h32.token_scores == h64.token_scores
            assert h64.score == pytest.approx(h32.score, rel=1e-6)
            if spec.num_beams > 1:
                n = len(h64.tokens)
                assert h64.score == pytest.approx(
                    sum(h64.token_scores) / n**spec.length_penalty, rel=1e-12
                )


# -- candidates mode -----------------------------------------------------------


def _top_k(logprobs: Array, k: int) -> tuple[Array, Array]:
    """Each row's k best (ties: lower token id first), as a host's topk gives."""
    ids = np.argsort(-logprobs, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(logprobs, ids, axis=1)


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
        logprobs = _logprobs(rng, len(dense.active_rows), vocab, eos)
        ids, values = _top_k(logprobs, k)
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
    ids, values = _top_k(np.log(np.full((1, 20), 0.05, np.float32)), 9)
    state = config.start(20, [[0]])
    with pytest.raises(ValueError, match=r"k must be in 9\.\.=20"):
        state.step_candidates(ids[:, :8], values[:, :8])
    state.step_candidates(ids, values)


def test_candidates_ties_go_to_the_lower_token_whatever_the_order() -> None:
    state = BeamSearch(num_beams=2, max_new_tokens=3).start(8, [[0]])
    ids = np.array([[7, 5, 3, 1]])
    step = state.step_candidates(ids, np.full((1, 4), -1.0, np.float32))
    assert step.tokens.tolist() == [1, 3] and step.parents.tolist() == [0, 0]


# -- properties ----------------------------------------------------------------


def _drive(config: Any, vocab: int, prompts: list[list[int]], seed: int) -> tuple[list, Any]:
    """Runs a search on random log-probs; returns its steps and result."""
    rng = np.random.default_rng(seed)
    eos = tuple(config._native_args()["eos_token_ids"])
    state = config.start(vocab, prompts)
    steps = []
    while not state.done:
        logprobs = _logprobs(rng, len(state.active_rows), vocab, eos, holes=0.3)
        steps.append(tuple(a.tolist() for a in state.step(logprobs)))
    return steps, state.finalize()


def _drive_model(config: Any, vocab: int, prompts: list[list[int]]) -> Any:
    """Runs a search on log-probs that depend on each row's tokens only."""
    eos = tuple(config._native_args()["eos_token_ids"])
    model = _sequence_logprobs(vocab, eos)
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
        logprobs = _logprobs(rng, 4, 50, ())
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
            assert h.score == _fold32(h.token_scores)


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
    model = _sequence_logprobs(vocab, eos)
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
        step = state.step(_logprobs(rng, rows, vocab, (50256,)))
        assert ((step.tokens >= 0) & (step.tokens < vocab)).all()
    result = state.finalize()
    assert result.sequences().shape[0] == 4
    assert np.isfinite(result.scores).all()
    assert all(np.isfinite(h.token_scores).all() for item in result.hypotheses for h in item)


# -- the state's protocol ------------------------------------------------------


def test_finalize_midway_keeps_the_search_going() -> None:
    """finalize() before done returns the running beams at their length and
    changes nothing: the search then ends as if it had not been called."""
    config = BeamSearch(num_beams=3, max_new_tokens=5, num_return_sequences=3)
    rng = np.random.default_rng(5)
    logs = [_logprobs(rng, 6, 11, ()) for _ in range(5)]
    a, b = config.start(11, [[1], [2]]), config.start(11, [[1], [2]])
    for state in (a, b):
        state.step(logs[0][:2])
        state.step(logs[1])
    middle = a.finalize()
    assert all(len(h.tokens) == 2 for item in middle.hypotheses for h in item)
    assert a.steps == 2 and not a.done
    while not a.done:
        a.step(logs[a.steps])
        b.step(logs[b.steps])
    assert a.finalize() == b.finalize()


@pytest.mark.parametrize(
    "config",
    [
        GreedySearch(max_new_tokens=4),
        BeamSearch(num_beams=3, max_new_tokens=4, eos_token_id=1),
        DiverseBeamSearch(num_beams=4, num_groups=2, max_new_tokens=4, eos_token_id=1),
    ],
    ids=lambda c: type(c).__name__,
)
def test_a_refused_step_changes_nothing(config: Any) -> None:
    """A NaN in the last row (for diverse search: the last group, stepped
    after the others) is refused and leaves the search as it was."""
    rng = np.random.default_rng(2)
    vocab = 9
    clean, tried = config.start(vocab, [[3], [4, 5]]), config.start(vocab, [[3], [4, 5]])
    while not clean.done:
        logprobs = _logprobs(rng, len(clean.active_rows), vocab, (1,))
        broken = logprobs.copy()
        broken[-1, 2] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            tried.step(broken)
        with pytest.raises(ValueError, match="NaN"):
            ids, values = _top_k(broken, vocab)
            tried.step_candidates(ids, values)
        assert tried.steps == clean.steps
        a, b = clean.step(logprobs), tried.step(logprobs)
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert clean.finalize() == tried.finalize()


def test_input_conversions() -> None:
    """Log-probs may be any real numpy dtype or a torch tensor (converted to
    the state's dtype, the input untouched); bool, complex and strings are
    refused."""
    config = BeamSearch(num_beams=2, max_new_tokens=2)
    logprobs = np.log(np.array([[0.1, 0.2, 0.3, 0.4]]))
    copy = logprobs.copy()
    expected = config.start(4, [[0]]).step(logprobs.astype(np.float32))
    assert np.array_equal(logprobs, copy)
    for value, want in [
        (logprobs, expected),
        (logprobs.astype(np.float16), expected),
        (np.repeat(logprobs, 2, axis=1)[:, ::2], expected),  # not contiguous
    ]:
        got = config.start(4, [[0]]).step(value)
        assert all(np.array_equal(x, y) for x, y in zip(got, want, strict=True))
    torch = pytest.importorskip("torch")
    got = config.start(4, [[0]]).step(torch.from_numpy(logprobs))
    assert all(np.array_equal(x, y) for x, y in zip(got, expected, strict=True))
    bad_values = (
        logprobs.astype(bool), logprobs.astype(np.complex64), np.full((1, 4), "a"),
        np.array([[-3, -2, -1, -5]]),
    )  # fmt: skip
    for bad in bad_values:
        with pytest.raises(TypeError, match="logprobs must have a floating-point dtype"):
            config.start(4, [[0]]).step(bad)
    with pytest.raises(TypeError, match="numpy array or a torch tensor"):
        config.start(4, [[0]]).step(logprobs.tolist())


def test_steps_rows_and_done() -> None:
    state = BeamSearch(num_beams=2, max_new_tokens=2, eos_token_id=1).start(5, [[0], [2]])
    assert state.steps == 0 and not state.done
    assert state.active_rows.tolist() == [0, 2] and state.active_rows.dtype == np.int64
    step = state.step(np.log(np.full((2, 5), 0.2, np.float32)))
    assert state.steps == 1
    assert step.rows.tolist() == state.active_rows.tolist() == [0, 1, 2, 3]
    assert all(a.dtype == np.int64 for a in step)
    step = state.step(np.log(np.full((4, 5), 0.2, np.float32)))
    assert state.done and state.steps == 2 and len(step.tokens) == 0
    assert len(state.active_rows) == 0


# -- bad input -----------------------------------------------------------------

_BAD_CONFIGS: list[tuple[Any, type[Exception], str]] = [
    (lambda: BeamSearch(num_beams=0), ValueError, "num_beams must be at least 1"),
    (lambda: BeamSearch(num_beams=2, num_return_sequences=3), ValueError, "num_return_sequences"),
    (lambda: BeamSearch(num_beams=2, num_return_sequences=0), ValueError, "num_return_sequences"),
    (lambda: DiverseBeamSearch(num_beams=4, num_groups=3), ValueError, "divide num_beams"),
    (lambda: DiverseBeamSearch(num_beams=4, num_groups=0), ValueError, "num_groups"),
    (
        lambda: DiverseBeamSearch(num_beams=4, diversity_strength=-1.0),
        ValueError,
        "diversity_strength",
    ),
    (
        lambda: DiverseBeamSearch(num_beams=4, diversity_strength=float("nan")),
        ValueError,
        "diversity_strength",
    ),
    (lambda: DiverseBeamSearch(num_beams=4, diversity="jaccard"), ValueError, "diversity must be"),
    (
        lambda: DiverseBeamSearch(num_beams=4, diversity="ngram", diversity_ngram_size=0),
        ValueError,
        "diversity_ngram_size must be at least 1",
    ),
    (lambda: GreedySearch(max_new_tokens=0), ValueError, "max_new_tokens"),
    (lambda: BeamSearch(length_penalty=float("inf")), ValueError, "length_penalty"),
    (lambda: BeamSearch(early_stopping="always"), ValueError, "early_stopping"),
    (lambda: BeamSearch(early_stopping=1), ValueError, "early_stopping"),
    (lambda: GreedySearch(bad_words_ids=[[]]), ValueError, "bad_words_ids"),
    # wrong types
    # (the messages name the type, not the field: "'float' object cannot be
    # interpreted as an integer")
    (lambda: BeamSearch(num_beams=2.0), TypeError, "float|num_beams"),
    (lambda: BeamSearch(num_beams="2"), TypeError, "str|num_beams"),
    (lambda: GreedySearch(max_new_tokens=2.5), TypeError, "float|max_new_tokens"),
    (lambda: GreedySearch(pad_token_id=1.5), TypeError, "float|pad_token_id"),
    (lambda: BeamSearch(length_penalty="1"), TypeError, "str|length_penalty"),
    (lambda: DiverseBeamSearch(diversity_strength="a"), TypeError, "str|diversity_strength"),
    (lambda: GreedySearch(eos_token_id=1.0), TypeError, "eos_token_id"),
    (lambda: GreedySearch(eos_token_id="1"), TypeError, "eos_token_id"),
    (lambda: GreedySearch(eos_token_id=True), TypeError, "eos_token_id"),
    (lambda: GreedySearch(bad_words_ids="ab"), TypeError, "bad_words_ids"),
    (lambda: GreedySearch(bad_words_ids=[1, 2]), TypeError, "bad_words_ids"),
]


@pytest.mark.parametrize("make, error, match", _BAD_CONFIGS)
def test_bad_configurations(make: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make()


_BAD_STARTS: list[tuple[Any, type[Exception], str]] = [
    (lambda: GreedySearch(eos_token_id=9).start(9, batch_size=1), ValueError, "eos token id 9"),
    (lambda: GreedySearch(pad_token_id=9).start(9, batch_size=1), ValueError, "pad token id 9"),
    (lambda: GreedySearch(bad_words_ids=[[3, 9]]).start(9, [[0]]), ValueError, "bad word token"),
    (lambda: GreedySearch().start(0, batch_size=1), ValueError, "vocab_size"),
    (lambda: GreedySearch().start(2**33, batch_size=1), ValueError, "vocab_size"),
    (lambda: GreedySearch().start(2.0, batch_size=1), TypeError, "vocab_size"),
    (lambda: GreedySearch().start("9", batch_size=1), TypeError, "vocab_size"),
    (lambda: GreedySearch().start(9), ValueError, "prompts or batch_size"),
    (lambda: GreedySearch().start(9, [[1]], batch_size=2), ValueError, "batch_size is 2"),
    (lambda: GreedySearch().start(9, batch_size=1.0), TypeError, "batch_size"),
    (lambda: GreedySearch().start(9, batch_size=1, dtype=np.float16), TypeError, "dtype"),
    (lambda: GreedySearch().start(9, batch_size=1, dtype=np.int64), TypeError, "dtype"),
    (
        lambda: BeamSearch(num_beams=2, eos_token_id=[0, 1, 2]).start(3, [[0]]),
        ValueError,
        "keeps 8 candidates",
    ),
    # An empty batch is refused (not an empty result).
    (lambda: GreedySearch().start(9, batch_size=0), ValueError, "no prompts"),
    (lambda: BeamSearch().start(9, []), ValueError, "no prompts"),
]


@pytest.mark.parametrize("make, error, match", _BAD_STARTS)
def test_bad_starts(make: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make()


_NEGATIVE: tuple[Any, ...] = ()  # once xfail: these raised OverflowError


@pytest.mark.parametrize(
    "make, name",
    [
        pytest.param(lambda: BeamSearch(num_beams=-1), "num_beams", marks=_NEGATIVE),
        pytest.param(lambda: GreedySearch(max_new_tokens=-1), "max_new_tokens", marks=_NEGATIVE),
        pytest.param(lambda: GreedySearch(min_new_tokens=-1), "min_new_tokens", marks=_NEGATIVE),
        pytest.param(
            lambda: GreedySearch(no_repeat_ngram_size=-1), "no_repeat_ngram_size", marks=_NEGATIVE
        ),
        pytest.param(lambda: GreedySearch(eos_token_id=-1), "eos", marks=_NEGATIVE),
        pytest.param(lambda: GreedySearch(pad_token_id=-1), "pad", marks=_NEGATIVE),
        pytest.param(
            lambda: GreedySearch(bad_words_ids=[[2, -1]]), "bad_words_ids", marks=_NEGATIVE
        ),
        pytest.param(lambda: GreedySearch().start(-1, batch_size=1), "vocab_size", marks=_NEGATIVE),
        pytest.param(
            lambda: GreedySearch().start(2**70, batch_size=1), "vocab_size", marks=_NEGATIVE
        ),
        pytest.param(lambda: GreedySearch().start(9, [[1, -2]]), "prompt", marks=_NEGATIVE),
    ],
)
def test_negative_ids_and_counts(make: Any, name: str) -> None:
    with pytest.raises((ValueError, IndexError), match=name):
        make()


_TRUNCATED: tuple[Any, ...] = ()  # once xfail: ids were truncated with int()


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: GreedySearch(bad_words_ids=[[1.5]]), marks=_TRUNCATED),
        pytest.param(lambda: GreedySearch(bad_words_ids=[["3"]]), marks=_TRUNCATED),
        pytest.param(lambda: GreedySearch().start(9, [[1.7, 2]]), marks=_TRUNCATED),
        pytest.param(lambda: GreedySearch().start(9, np.array([[1.7, 2.0]])), marks=_TRUNCATED),
        pytest.param(
            lambda: (
                BeamSearch(num_beams=2)
                .start(9, [[0]])
                .step_candidates(np.array([[0.5, 1.5, 2.5, 3.5]]), np.zeros((1, 4), np.float32))
            ),
            marks=_TRUNCATED,
        ),
        pytest.param(lambda: BeamSearch(num_beams=True)),
    ],
)
def test_non_integer_ids_are_refused(make: Any) -> None:
    with pytest.raises(TypeError):
        make()


def test_prompt_ids_beyond_the_vocabulary_are_refused() -> None:
    with pytest.raises(IndexError, match=r"prompts\[0\] holds token id 20"):
        GreedySearch(max_new_tokens=2, no_repeat_ngram_size=2).start(9, [[20, 3, 20]])


def _started(dtype: Any = np.float32) -> Any:
    return BeamSearch(num_beams=2, max_new_tokens=2, eos_token_id=1).start(
        7, [[2], [3, 4]], dtype=dtype
    )


_UNIFORM = np.log(np.full((2, 7), 1 / 7, np.float32))


def _with(row: int, col: int, value: float) -> Array:
    out = _UNIFORM.copy()
    out[row, col] = value
    return out


_BAD_STEPS: list[tuple[Any, type[Exception], str]] = [
    (lambda s: s.step(_UNIFORM[:1]), ValueError, r"expected 2 x 7 = 14 log-probs, got 7"),
    (lambda s: s.step(np.zeros((3, 7), np.float32)), ValueError, "expected 2 x 7"),
    (lambda s: s.step(_UNIFORM[:, :6]), ValueError, "vocab is 6 but the configuration says 7"),
    (lambda s: s.step(np.zeros((2, 8), np.float32)), ValueError, "vocab is 8"),
    (lambda s: s.step(_UNIFORM[0]), ValueError, "logprobs must be 2-d"),
    (lambda s: s.step(_UNIFORM[None]), ValueError, "logprobs must be 2-d"),
    (lambda s: s.step(_with(1, 3, np.nan)), ValueError, "row 1, column 3 is NaN"),
    (lambda s: s.step(_with(0, 4, np.inf)), ValueError, "row 0, column 4 is inf"),
    (lambda s: s.finalize(), ValueError, "finalize needs at least one step"),
    # candidates: ranges, k, shapes, repeats
    (
        lambda s: s.step_candidates(np.array([[0, 7, 1, 2]] * 2), np.zeros((2, 4), np.float32)),
        IndexError,
        "token id 7 at row 0 is out of range for a vocabulary of 7",
    ),
    (
        lambda s: s.step_candidates(np.array([[0, -1, 1, 2]] * 2), np.zeros((2, 4), np.float32)),
        IndexError,
        "token id -1 at row 0, position 1 is out of range",
    ),
    (
        lambda s: s.step_candidates(np.array([[0, 1, 2]] * 2), np.zeros((2, 3), np.float32)),
        ValueError,
        "k must be in 4..=7",
    ),
    (
        lambda s: s.step_candidates(np.zeros((2, 8), np.int64), np.zeros((2, 8), np.float32)),
        ValueError,
        "k must be in 4..=7",
    ),
    (
        lambda s: s.step_candidates(np.array([[0, 1, 2, 3]] * 2), np.zeros((2, 5), np.float32)),
        ValueError,
        "same shape",
    ),
    (
        lambda s: s.step_candidates(np.array([[0, 1, 2, 3]]), np.zeros((1, 4), np.float32)),
        ValueError,
        "expected 2 x 4",
    ),
    (
        lambda s: s.step_candidates(np.array([[0, 1, 1, 3]] * 2), np.zeros((2, 4), np.float32)),
        ValueError,
        "lists token 1 more than once",
    ),
    (
        lambda s: s.step_candidates(np.array([0, 1, 2, 3]), np.zeros(4, np.float32)),
        ValueError,
        "tokens must be 2-d",
    ),
    (
        lambda s: s.step_candidates(
            np.array([[0, 1, 2, 3]] * 2), np.array([[0, 0, np.nan, 0]] * 2, np.float32)
        ),
        ValueError,
        "row 0, column 2 is NaN",
    ),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act, error, match", _BAD_STEPS)
def test_bad_steps(act: Any, error: type[Exception], match: str, dtype: Any) -> None:
    state = _started(dtype)
    with pytest.raises(error, match=match):
        act(state)
    assert state.steps == 0  # and the search can still start
    state.step(_UNIFORM)


def test_step_after_done() -> None:
    state = _started()
    state.step(_UNIFORM)
    state.step(np.log(np.full((4, 7), 1 / 7, np.float32)))
    assert state.done
    for act in (
        lambda: state.step(np.zeros((0, 7), np.float32)),
        lambda: state.step_candidates(np.zeros((0, 4), np.int64), np.zeros((0, 4), np.float32)),
    ):
        with pytest.raises(ValueError, match="the search is finished"):
            act()
    assert len(state.finalize().hypotheses) == 2


def test_no_internal_errors_on_odd_but_valid_input() -> None:
    """Rows of -inf only, a vocabulary of one, empty prompts: valid, and
    answered without a panic."""
    state = _started()
    step = state.step(np.full((2, 7), -np.inf, np.float32))
    assert state.done and len(step.tokens) == 0  # nothing can improve (as transformers 5.18)
    assert [len(h.tokens) for item in state.finalize().hypotheses for h in item] == [0, 0]
    state = GreedySearch(max_new_tokens=3).start(1, batch_size=2)
    while not state.done:
        state.step(np.zeros((2, 1), np.float32))
    assert state.finalize().sequences().tolist() == [[0, 0, 0], [0, 0, 0]]
    state = DiverseBeamSearch(num_beams=4, max_new_tokens=3, eos_token_id=1).start(5, [[], []])
    while not state.done:
        state.step(np.full((len(state.active_rows), 5), -np.inf, np.float32))
    assert len(state.finalize().hypotheses) == 2


def test_configurations_pickle_and_compare_by_value() -> None:
    import pickle

    for config in (
        GreedySearch(max_new_tokens=3, eos_token_id=[1, 2]),
        BeamSearch(num_beams=3, length_penalty=0.5, early_stopping="never"),
        DiverseBeamSearch(num_beams=4, num_groups=2, diversity="ngram", diversity_ngram_size=3),
    ):
        again = pickle.loads(pickle.dumps(config))
        assert again == config and repr(again) == repr(config)
        state = again.start(7, batch_size=2)
        assert state.active_rows.tolist() == config.start(7, batch_size=2).active_rows.tolist()
