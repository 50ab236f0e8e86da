"""The protocol of seqcore's search state and configurations: steps, active
rows and done, finalize() midway, refused steps that change nothing, the
input types a step converts, and configurations that pickle and compare by
value."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from seqcore import BeamSearch, DiverseBeamSearch, GreedySearch
from tests.decode_logprobs import random_logprobs, top_k


def test_finalize_midway_keeps_the_search_going() -> None:
    """finalize() before done returns the running beams at their length and
    changes nothing: the search then ends as if it had not been called."""
    config = BeamSearch(num_beams=3, max_new_tokens=5, num_return_sequences=3)
    rng = np.random.default_rng(5)
    logs = [random_logprobs(rng, 6, 11, ()) for _ in range(5)]
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
        logprobs = random_logprobs(rng, len(clean.active_rows), vocab, (1,))
        broken = logprobs.copy()
        broken[-1, 2] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            tried.step(broken)
        with pytest.raises(ValueError, match="NaN"):
            ids, values = top_k(broken, vocab)
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
