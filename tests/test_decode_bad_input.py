"""Bad input to seqcore's search step machine: configurations, starts and
steps that are refused with a ValueError, TypeError or IndexError naming the
problem (never a panic), and which leave the search as it was; odd but valid
input is answered."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from seqcore import BeamSearch, DiverseBeamSearch, GreedySearch
from tests.decode_logprobs import Array

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
