"""seqcore.generate: a plain torch callable (the whole sequence recomputed
each step) against driving the SearchState by hand, a tiny GPT-2 (KV cache)
against transformers' own generate, on_step, and bad input. The search
arithmetic itself is tested in test_decode.py and test_beam_reference.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import seqcore
from seqcore import BeamSearch, DiverseBeamSearch, GreedySearch

VOCAB = 23
EOS = 1


class TinyLM(torch.nn.Module):
    """Embedding + linear over the running mean of the embeddings, so each
    position's logits depend on the whole prefix; EOS gets a lift so that
    hypotheses finish early."""

    def __init__(self, vocab: int = VOCAB, dim: int = 8, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.embed = torch.nn.Embedding(vocab, dim)
        self.head = torch.nn.Linear(dim, vocab)
        with torch.no_grad():
            self.embed.weight.copy_(torch.randn(vocab, dim, generator=generator))
            self.head.weight.copy_(2.0 * torch.randn(vocab, dim, generator=generator))
            self.head.bias.zero_()
            self.head.bias[EOS] = 1.5

    def forward(self, ids: Any) -> Any:
        x = self.embed(ids).cumsum(dim=1)
        x = x / torch.arange(1, ids.shape[1] + 1, dtype=x.dtype)[None, :, None]
        return self.head(torch.tanh(x))


def _left_pad(prompts: list[list[int]], pad: int) -> tuple[Any, Any]:
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    return ids, mask


def _by_hand(model: Any, ids: Any, config: Any) -> tuple[seqcore.decode.SearchResult, list]:
    """The host loop with full recomputation, written out: the rows are the
    (padded) prompts, extended by each step's tokens and reordered by its parents."""
    beams = config.beams_per_item()
    state = config.start(VOCAB, ids.numpy())
    rows = ids.numpy()[state.active_rows // beams]
    steps = []
    while not state.done:
        with torch.no_grad():
            logits = model(torch.from_numpy(rows))[:, -1, :]
        step = state.step(torch.log_softmax(logits.float(), dim=-1).numpy())
        steps.append(step)
        rows = np.concatenate([rows[step.parents], step.tokens[:, None]], axis=1)
    return state.finalize(), steps


CONFIGS = [
    GreedySearch(max_new_tokens=6, eos_token_id=EOS),
    BeamSearch(num_beams=4, max_new_tokens=6, eos_token_id=EOS, num_return_sequences=3),
    BeamSearch(
        num_beams=3,
        max_new_tokens=5,
        eos_token_id=[EOS, 2],
        length_penalty=2.0,
        early_stopping="never",
        no_repeat_ngram_size=2,
    ),
    DiverseBeamSearch(
        num_beams=4, num_groups=2, max_new_tokens=6, eos_token_id=EOS, num_return_sequences=4
    ),
]
PROMPTS = [[5, 6, 7], [8], [9, 10, 11, 12, 13]]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: type(c).__name__)
def test_plain_model_matches_the_hand_driven_search(config: Any) -> None:
    model = TinyLM().eval()
    pad = EOS  # no pad_token_id anywhere: the first EOS id pads
    ids, mask = _left_pad(PROMPTS, pad)
    expected, _ = _by_hand(model, ids, config)
    from_lists = seqcore.generate(model, PROMPTS, config)
    from_tensor = seqcore.generate(model, ids, config, attention_mask=mask)
    for out in (from_lists, from_tensor):
        assert out.result == expected
        returns = len(expected.hypotheses[0])
        generated = expected.sequences(pad)
        width = ids.shape[1]
        assert out.sequences.dtype == torch.int64
        assert out.sequences.shape == (len(PROMPTS) * returns, width + generated.shape[1])
        assert out.sequences[:, :width].tolist() == ids.repeat_interleave(returns, 0).tolist()
        assert out.sequences[:, width:].tolist() == generated.tolist()
        assert out.scores.dtype == torch.float32
        assert out.scores.tolist() == expected.scores.astype(np.float32).tolist()


def test_pad_token_choice() -> None:
    """The pad id: generate's argument, else the search's, else the first EOS id, else 0."""
    model = TinyLM().eval()
    prompts = [[5, 6, 7], [8]]
    search = BeamSearch(num_beams=2, max_new_tokens=3, eos_token_id=[3, 1])
    assert seqcore.generate(model, prompts, search).sequences[1, 0] == 3
    assert seqcore.generate(model, prompts, search, pad_token_id=4).sequences[1, 0] == 4
    with_pad = BeamSearch(num_beams=2, max_new_tokens=3, eos_token_id=3, pad_token_id=2)
    assert seqcore.generate(model, prompts, with_pad).sequences[1, 0] == 2
    plain = BeamSearch(num_beams=2, max_new_tokens=3)
    assert seqcore.generate(model, prompts, plain).sequences[1, 0] == 0


def test_model_output_with_logits_attribute() -> None:
    """A model may return an object with .logits instead of the tensor."""

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = TinyLM()

        def forward(self, ids: Any) -> Any:
            return type("Out", (), {"logits": self.inner(ids)})()

    model = Wrapped().eval()
    config = CONFIGS[1]
    plain = seqcore.generate(model.inner, PROMPTS, config)
    wrapped = seqcore.generate(model, PROMPTS, config)
    assert wrapped.result == plain.result


# -- transformers ------------------------------------------------------------


@pytest.fixture(scope="module")
def gpt2() -> Any:
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    from tests.hf_beam_harness import build_model  # a GPT-2 from GPT2Config, no download

    return build_model(64, 7)


@pytest.mark.parametrize(
    "knobs",
    [
        {"length_penalty": 1.0, "early_stopping": False},
        {"length_penalty": 2.0, "early_stopping": "never", "no_repeat_ngram_size": 2},
    ],
)
def test_gpt2_matches_transformers_generate(gpt2: Any, knobs: dict[str, Any]) -> None:
    """Sequences equal in full, right padding included. The pad id is not 0:
    transformers 5.18 right-pads beam search output with
    `pad_token_id or eos_token_id[0]`, so a pad id of 0 pads with EOS there
    (and with 0 in seqcore)."""
    ids, mask = _left_pad([[5, 9, 14], [20, 21, 22, 23, 30]], 4)
    common = {"num_beams": 4, "num_return_sequences": 3, "max_new_tokens": 7, **knobs}
    with torch.no_grad():
        theirs = gpt2.generate(
            input_ids=ids,
            attention_mask=mask,
            do_sample=False,
            eos_token_id=1,
            pad_token_id=4,
            output_scores=True,
            return_dict_in_generate=True,
            **common,
        )
    ours = seqcore.generate(
        gpt2,
        ids,
        BeamSearch(eos_token_id=1, pad_token_id=4, **common),
        attention_mask=mask,
    )
    assert ours.sequences.tolist() == theirs.sequences.tolist()
    assert torch.allclose(ours.scores, theirs.sequences_scores, rtol=0, atol=1e-4)
    assert any(h.tokens[-1] == 1 for item in ours.result.hypotheses for h in item)


# -- on_step -------------------------------------------------------------------


def test_on_step_sees_the_steps_of_the_search() -> None:
    """on_step(i, step) gets the step index and the Step the state returned."""
    model = TinyLM().eval()
    config = BeamSearch(num_beams=3, max_new_tokens=5, num_return_sequences=2)
    calls: list[tuple[int, Any]] = []
    out = seqcore.generate(model, PROMPTS, config, on_step=lambda i, s: calls.append((i, s)))
    expected, steps = _by_hand(model, _left_pad(PROMPTS, 0)[0], config)
    assert out.result == expected
    assert [i for i, _ in calls] == list(range(len(calls)))
    assert all(isinstance(s, seqcore.decode.Step) for _, s in calls)
    for (_, got), want in zip(calls, steps, strict=False):
        assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    assert len(calls) == len(steps)


@pytest.mark.parametrize("config", CONFIGS[:2], ids=lambda c: type(c).__name__)
def test_on_step_is_called_once_per_step(config: Any) -> None:
    model = TinyLM().eval()
    calls: list[int] = []
    seqcore.generate(model, PROMPTS, config, on_step=lambda i, s: calls.append(i))
    _, steps = _by_hand(model, _left_pad(PROMPTS, EOS)[0], config)
    assert calls == list(range(len(steps)))


@pytest.mark.parametrize("stop_after", [0, 2])
def test_on_step_true_stops_with_the_running_beams(stop_after: int) -> None:
    """Returning True ends the search after that step: without EOS every
    hypothesis has one token per step taken, and the result is what a search
    with that many max_new_tokens gives."""
    model = TinyLM().eval()
    knobs: dict[str, Any] = {"num_beams": 4, "num_return_sequences": 4, "length_penalty": 0.5}
    calls: list[int] = []

    def stop(i: int, step: Any) -> bool:
        calls.append(i)
        return i == stop_after

    out = seqcore.generate(model, PROMPTS, BeamSearch(max_new_tokens=8, **knobs), on_step=stop)
    taken = stop_after + 1
    assert calls == list(range(taken))
    assert {len(h.tokens) for item in out.result.hypotheses for h in item} == {taken}
    assert out.sequences.shape[1] == max(len(p) for p in PROMPTS) + taken
    short = seqcore.generate(model, PROMPTS, BeamSearch(max_new_tokens=taken, **knobs))
    assert out.result == short.result
    # with EOS: finished hypotheses may be shorter, running ones have `taken` tokens
    eos = BeamSearch(max_new_tokens=8, eos_token_id=EOS, **knobs)
    out = seqcore.generate(model, PROMPTS, eos, on_step=lambda i, s: i == stop_after)
    for h in (h for item in out.result.hypotheses for h in item):
        assert len(h.tokens) == taken or (len(h.tokens) < taken and h.tokens[-1] == EOS)


# -- bad input -------------------------------------------------------------------


def _model() -> Any:
    return TinyLM().eval()


_CONFIG = BeamSearch(num_beams=2, max_new_tokens=3)

_BAD_CALLS: list[tuple[Any, type[Exception], str]] = [
    (lambda: seqcore.generate(_model(), torch.tensor([5, 6, 7]), _CONFIG), ValueError, "2-d"),
    (lambda: seqcore.generate(_model(), torch.ones(1, 2, 3).long(), _CONFIG), ValueError, "2-d"),
    (lambda: seqcore.generate(_model(), torch.ones(2, 3), _CONFIG), TypeError, "integer"),
    (
        lambda: seqcore.generate(_model(), torch.ones(2, 3, dtype=torch.bool), _CONFIG),
        TypeError,
        "integer",
    ),
    (
        lambda: seqcore.generate(
            _model(), torch.ones(2, 3).long(), _CONFIG, attention_mask=torch.ones(2, 4)
        ),
        ValueError,
        "attention_mask",
    ),
    (
        lambda: seqcore.generate(_model(), [[5, 6], [7]], _CONFIG, attention_mask=torch.ones(2, 2)),
        ValueError,
        "attention_mask",
    ),
    (lambda: seqcore.generate(_model(), "5 6 7", _CONFIG), TypeError, "input_ids"),
    (lambda: seqcore.generate(_model(), np.array([[5, 6]]), _CONFIG), TypeError, "input_ids"),
    (
        lambda: seqcore.generate(lambda ids: torch.zeros(ids.shape[0], VOCAB), [[5]], _CONFIG),
        ValueError,
        r"\(rows, length, vocab\)",
    ),
    (
        lambda: seqcore.generate(
            lambda ids: torch.zeros(ids.shape[0] + 1, ids.shape[1], VOCAB), [[5]], _CONFIG
        ),
        ValueError,
        r"\(rows, length, vocab\)",
    ),
    (
        # right at first, then one row whatever the number of beams
        lambda: seqcore.generate(lambda ids: torch.zeros(1, ids.shape[1], VOCAB), [[5]], _CONFIG),
        ValueError,
        "expected 2 x 23",
    ),
    (
        # the vocabulary changes after the prompt
        lambda: seqcore.generate(
            lambda ids: torch.zeros(ids.shape[0], ids.shape[1], VOCAB + (ids.shape[1] > 1)),
            [[5]],
            _CONFIG,
        ),
        ValueError,
        "vocab is 24 but the configuration says 23",
    ),
    (
        lambda: seqcore.generate(
            lambda ids: torch.full((ids.shape[0], ids.shape[1], VOCAB), float("nan")),
            [[5]],
            _CONFIG,
        ),
        ValueError,
        "NaN",
    ),
]


@pytest.mark.parametrize("call, error, match", _BAD_CALLS)
def test_bad_generate_input(call: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_bad_generate_input_for_transformers_models(gpt2: Any) -> None:
    ids = torch.tensor([[5, 6, 7]])
    with pytest.raises(ValueError, match="attention_mask"):
        seqcore.generate(gpt2, ids, _CONFIG, attention_mask=torch.ones(1, 2))
    with pytest.raises(ValueError, match="2-d"):
        seqcore.generate(gpt2, ids[0], _CONFIG)


@pytest.mark.parametrize("prompts", [[[]], []], ids=["one-empty", "no-prompts"])
def test_empty_prompts_are_refused_clearly(prompts: list[list[int]]) -> None:
    with pytest.raises(ValueError, match=r"prompt|input_ids"):
        seqcore.generate(_model(), prompts, _CONFIG)


def test_search_must_be_a_configuration() -> None:
    with pytest.raises(TypeError, match="search"):
        seqcore.generate(_model(), [[5]], "beam")
