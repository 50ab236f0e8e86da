"""seqcore's search step machine (seqcore.decode) against the numpy reference
(tests/references/beam_search.py): greedy, beam and diverse beam search run in
lockstep with it on random log-probs, and float64 runs against float32 ones.
The reference itself is checked against transformers in
test_beam_reference.py; the candidates mode is in test_decode_candidates.py,
properties that relate the modes to each other and determinism in
test_decode_properties.py, the state's protocol in test_decode_state.py, bad
input in test_decode_bad_input.py and generate() in test_decode_generate.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import seqcore
from seqcore import BeamSearch, DiverseBeamSearch
from tests.decode_helpers import config_of
from tests.decode_logprobs import fold32, random_logprobs
from tests.references.beam_search import ReferenceSearch, SearchSpec

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
    instead of the argmax (test_greedy_after_a_banned_row_follows_the_argmax in
    test_decode_properties.py)."""
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
        fresh = random_logprobs(rng, len(ours_before), spec.vocab_size, spec.eos_token_ids, holes)
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
    total = fold32(h.token_scores)
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
                # Greedy scores: test_greedy_score_is_the_plain_sum
                # (test_decode_properties.py).
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
