"""The numpy reference of the search step machine (tests/references/beam_search.py)
against Hugging Face transformers: greedy and beam search against 5.18.0 in this
process, diverse beam search against 4.56.2 in a subprocess (its own folder,
scripts/setup_hf456.sh). Each case is replayed twice: with HF's recorded logits
(the search arithmetic alone) and with the model and a reordered KV cache (as a
host drives the machine). SEQCORE_BEAM_GRID=large runs ten times more cases.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import seqcore
from tests.decode_helpers import SeqcoreSearch, config_of
from tests.references.beam_search import Hypothesis, ReferenceSearch, SearchSpec, run_search

REPO = Path(__file__).resolve().parent.parent
HF456 = Path(os.environ.get("SEQCORE_HF456", Path.home() / ".cache" / "seqcore" / "hf456"))
SCALE = 10 if os.environ.get("SEQCORE_BEAM_GRID") == "large" else 1


# -- the reference alone -------------------------------------------------------


def _random_logprobs(seed: int, vocab: int, eos: tuple[int, ...]) -> Any:
    """A host stand-in: random float32 log-probs with EOS made likely."""
    rng = np.random.default_rng(seed)

    def logprobs(search: ReferenceSearch) -> np.ndarray:
        logits = 2.0 * rng.standard_normal((len(search.active_rows), vocab))
        logits[:, list(eos)] += 2.5
        logits -= logits.max(axis=1, keepdims=True)
        return (logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))).astype(np.float32)

    return logprobs


@st.composite
def _specs(draw: st.DrawFn) -> SearchSpec:
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    beams = groups * draw(st.integers(1, 3)) if groups > 1 else draw(st.integers(1, 6))
    return SearchSpec(
        num_beams=beams,
        num_groups=groups,
        diversity_strength=draw(st.sampled_from([0.5, 2.0])) if groups > 1 else 0.0,
        length_penalty=draw(st.sampled_from([-0.5, 0.0, 1.0, 2.0])),
        early_stopping=draw(st.sampled_from([True, False, "never"])),
        num_return_sequences=draw(st.integers(1, beams)) if beams > 1 else 1,
        eos_token_ids=draw(st.sampled_from([(1,), (1, 2)])),
        pad_token_id=0,
        min_new_tokens=draw(st.integers(0, 2)),
        max_new_tokens=draw(st.integers(1, 7)),
        no_repeat_ngram_size=draw(st.sampled_from([0, 2])),
        bad_words_ids=draw(st.sampled_from([(), ((5,), (6, 7))])),
        vocab_size=24,
    )


@given(spec=_specs(), seed=st.integers(0, 2**32 - 1))
def test_step_contract_and_hypotheses(spec: SearchSpec, seed: int) -> None:
    """Parents index the previous active rows, and every hypothesis is a row the
    host saw grow, with the score HF would compute from its token scores."""
    prompts = [[9, 10, 11], [0, 12, 13]]
    search = ReferenceSearch(spec, prompts)
    host = {row: () for row in search.active_rows}  # the host's copy of each row
    seen = [set(host.values())]
    logprobs = _random_logprobs(seed, spec.vocab_size, spec.eos_token_ids)
    while not search.done:
        before = search.active_rows
        tokens, parents = search.step(logprobs(search))
        after = search.active_rows
        assert len(tokens) == len(parents) == len(after) and after == sorted(after)
        host = {
            row: host[before[p]] + (t,) for row, t, p in zip(after, tokens, parents, strict=True)
        }
        seen.append(set(host.values()))
    results = search.finalize()
    assert [len(r) for r in results] == [spec.num_return_sequences] * len(prompts)
    for item, hyps in enumerate(results):
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        for h in hyps:
            _check_hypothesis(spec, prompts[item], item, h, seen)


def _check_hypothesis(
    spec: SearchSpec, prompt: list[int], item: int, h: Hypothesis, seen: list[set[Any]]
) -> None:
    n = len(h.tokens)
    assert 1 <= n <= spec.max_new_tokens and len(h.token_scores) == len(h.beam_indices) == n
    ended = h.tokens[-1] in spec.eos_token_ids
    assert ended or n == spec.max_new_tokens
    assert not any(t in spec.eos_token_ids for t in h.tokens[:-1])
    assert h.tokens[:-1] in seen[n - 1]  # grown from a row the host was given
    if ended:
        assert n > spec.min_new_tokens
    assert all(b // spec.num_beams == item for b in h.beam_indices)
    if spec.num_groups > 1:
        assert all(b % spec.num_beams // spec.group_size == h.group for b in h.beam_indices)
    context = prompt + list(h.tokens)
    if spec.no_repeat_ngram_size == 2:
        pairs = list(itertools.pairwise(context))
        assert len(pairs) == len(set(pairs))
    if spec.bad_words_ids:
        assert 5 not in h.tokens and (6, 7) not in set(itertools.pairwise(context))
    # The running score is a float32 left fold of the token scores.
    total = np.float32(0.0)
    for s in h.token_scores:
        total = np.float32(total + np.float32(s))
    if spec.num_beams == 1:
        assert h.score == total
    elif spec.num_groups == 1:
        assert h.score == np.float32(total / np.float32(n**spec.length_penalty))
    else:
        assert h.score == np.float32(float(total) / n**spec.length_penalty)


def test_ties_go_to_the_lower_flat_index() -> None:
    spec = SearchSpec(num_beams=2, max_new_tokens=2, vocab_size=4)
    search = ReferenceSearch(spec, [[3]])
    flat = np.full((2, 4), np.log(0.25), dtype=np.float32)
    assert search.step(flat) == ([0, 1], [0, 0])  # only beam 0 counts at first
    assert search.step(flat) == ([], [])
    best = search.finalize()[0][0]
    assert best.tokens == (0, 0) and best.beam_indices == (0, 0)


def test_finished_items_leave_the_active_rows() -> None:
    spec = SearchSpec(
        num_beams=2, early_stopping=True, eos_token_ids=(1,), max_new_tokens=5, vocab_size=4
    )
    search = ReferenceSearch(spec, [[2], [3]])
    # Item 0 finishes once at the first step (only beam 0 expands), twice at
    # the second, and is then done; item 1 never ranks an EOS in its top 2.
    eos_first = np.log(np.array([0.05, 0.8, 0.1, 0.05], dtype=np.float32))
    other = np.log(np.array([0.5, 1e-6, 0.3, 0.2 - 1e-6], dtype=np.float32))
    rows = np.stack([eos_first, eos_first, other, other]).astype(np.float32)
    search.step(rows)
    assert search.active_rows == [0, 1, 2, 3]
    search.step(rows)
    assert search.active_rows == [2, 3]  # item 0 holds two hypotheses: done
    search.step(rows[2:])
    assert not search.done


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_beams": 4, "num_groups": 2},  # HF 4.56 wants a diversity penalty
        {"num_beams": 4, "diversity_strength": 0.5},
        {"num_beams": 4, "num_groups": 3, "diversity_strength": 0.5},
        {"num_beams": 2, "num_return_sequences": 3},
        {"num_beams": 2, "early_stopping": "always"},
        {"num_beams": 2, "eos_token_ids": (9,)},
        {"num_beams": 8, "eos_token_ids": (0, 1, 2), "vocab_size": 3},
    ],
)
def test_spec_refuses_what_hf_refuses(kwargs: dict[str, Any]) -> None:
    kwargs = {"max_new_tokens": 4, "vocab_size": 8, **kwargs}
    with pytest.raises(ValueError):
        SearchSpec(**kwargs)


def test_run_search_drives_to_the_end() -> None:
    spec = SearchSpec(num_beams=3, eos_token_ids=(1,), max_new_tokens=4, vocab_size=12)
    result = run_search(spec, [[4, 5]], _random_logprobs(0, 12, (1,)))
    assert len(result) == 1 and len(result[0]) == 1


# -- against Hugging Face ----------------------------------------------------------

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tests import hf_beam_harness as harness

_models = harness._Models()


def _check_against_hf(record: dict[str, Any]) -> None:
    case = harness.Case.from_json(record["case"])
    for machine in (None, SeqcoreSearch):  # the reference, then seqcore's machine
        hyps, steps = harness.replay_recorded(record, machine)
        assert steps == len(harness.recorded_logits(record)), "HF took another number of steps"
        assert harness.compare(record, hyps) == [], machine
    _check_generate(record, case)
    model = _models.get(case)
    assert harness.checksum(model) == record["model"], "the model was not rebuilt identically"
    hyps, gap = harness.replay_model(case, model, record)
    # The KV-cache replay reproduces HF's logits bit for bit, 4.56's GPT-2 too,
    # as long as torch uses as many threads as when HF ran.
    assert gap == 0.0 if record["threads"] == torch.get_num_threads() else gap <= 1e-4
    assert harness.compare(record, hyps) == []


def _check_generate(record: dict[str, Any], case: harness.Case) -> None:
    """seqcore.generate on the same model gives HF's hypotheses. It feeds the
    prompt once per item and drops finished items from the batch, so its
    logits may differ from HF's in the last bits (float32 sums of ~30 nats
    then differ by ~1e-5): sequences agree exactly, scores to 1e-4."""
    rows, masks = harness.prompts(case)
    model = _models.get(case)
    out = seqcore.generate(
        model,
        torch.tensor(rows),
        config_of(harness.search_spec(case)),
        attention_mask=torch.tensor(masks),
    )
    assert harness.compare(record, out.result.hypotheses, atol=1e-4) == []
    width = len(rows[0])
    for i, hyp in enumerate(h for item in out.result.hypotheses for h in item):
        assert out.sequences[i, :width].tolist() == rows[i // case.num_return_sequences]
        assert out.sequences[i, width : width + len(hyp.tokens)].tolist() == hyp.tokens
    assert torch.allclose(
        out.scores, torch.tensor([h.score for it in out.result.hypotheses for h in it])
    )


@pytest.fixture(scope="module")
def hf5() -> None:
    if transformers.__version__ != "5.18.0":
        pytest.skip(
            f"beam and greedy semantics are pinned to transformers 5.18.0, not {transformers.__version__}"
        )
    transformers.logging.set_verbosity_error()


@pytest.mark.parametrize("case", harness.grid("beam", 48 * SCALE), ids=lambda c: c.name)
def test_beam_search_matches_transformers_5(hf5: None, case: harness.Case) -> None:
    _check_against_hf(harness.run_hf(case, _models.get(case)))


@pytest.mark.parametrize("case", harness.grid("greedy", 24 * SCALE), ids=lambda c: c.name)
def test_greedy_matches_transformers_5(hf5: None, case: harness.Case) -> None:
    _check_against_hf(harness.run_hf(case, _models.get(case)))


GROUP_CASES = 40 * SCALE


@pytest.fixture(scope="module")
def group_records(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    if not (HF456 / "transformers").is_dir():
        pytest.skip(f"transformers 4.56.2 is not installed at {HF456}: run scripts/setup_hf456.sh")
    out = tmp_path_factory.mktemp("hf456") / "group.json"
    env = {**os.environ, "PYTHONPATH": str(HF456)}
    subprocess.run(
        [
            sys.executable,
            str(REPO / "tests" / "hf_beam_harness.py"),
            "--grid",
            "group",
            "--count",
            str(GROUP_CASES),
            "--out",
            str(out),
            "--threads",
            str(torch.get_num_threads()),
        ],
        check=True,
        env=env,
        cwd=REPO,
        timeout=600,
    )
    data = json.loads(out.read_text())
    assert data["transformers"] == "4.56.2"
    return list(data["records"])


@pytest.mark.parametrize("index", range(GROUP_CASES), ids=lambda i: f"group-{i}")
def test_group_beam_search_matches_transformers_4_56(
    group_records: list[dict[str, Any]], index: int
) -> None:
    _check_against_hf(group_records[index])
