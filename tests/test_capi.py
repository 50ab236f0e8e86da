"""The C API (rust/seqcore-capi) seen from C: examples/c/beam_search.c, built
against include/seqcore.h and libseqcore_capi, returns exactly what the
Python API returns for the same log-probs.

The example prints, with ``--trace``, every log-prob row it feeds (as exact
hex floats) and every step's answer; the test replays those rows through
``seqcore.decode`` and compares step by step, then the hypotheses. It also
recomputes the example's toy model, to check that the C program fed each
row the log-probs of that row's own history.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from seqcore.decode import BeamSearch, DiverseBeamSearch

ROOT = Path(__file__).resolve().parents[1]
HEADER_DIR = ROOT / "rust" / "seqcore-capi" / "include"
EXAMPLE = ROOT / "examples" / "c" / "beam_search.c"
CFLAGS = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"]

# What examples/c/beam_search.c sets up.
VOCAB = 10
EOS = 1
PROMPTS = [[4, 7, 2], [9, 3]]
SEARCHES = {
    "beam": BeamSearch(
        num_beams=4,
        num_return_sequences=3,
        eos_token_id=EOS,
        min_new_tokens=2,
        max_new_tokens=8,
        length_penalty=1.0,
        no_repeat_ngram_size=3,
        bad_words_ids=[[0], [3, 8]],
    ),
    "diverse": DiverseBeamSearch(
        num_beams=6,
        num_groups=3,
        diversity="hamming",
        diversity_strength=0.7,
        num_return_sequences=4,
        eos_token_id=EOS,
        max_new_tokens=6,
        no_repeat_ngram_size=2,
        early_stopping=True,
    ),
}


def _compiler(name: str, *fallbacks: str) -> str | None:
    for candidate in (os.environ.get(name), *fallbacks):
        if candidate and (path := shutil.which(candidate)):
            return path
    return None


def _run(args: list[str | Path]) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def release_dir() -> Path:
    """target/release after `cargo build --release -p seqcore-capi` (a no-op
    when it is up to date)."""
    if _compiler("CC", "cc", "gcc", "clang") is None:
        pytest.skip("no C compiler found (set CC, or install cc, gcc or clang)")
    _run(["cargo", "build", "--release", "--quiet", "-p", "seqcore-capi"])
    metadata = json.loads(_run(["cargo", "metadata", "--format-version", "1", "--no-deps"]))
    return Path(metadata["target_directory"]) / "release"


@pytest.fixture(scope="module")
def static_example(release_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = _compiler("CC", "cc", "gcc", "clang")
    assert cc is not None
    exe = tmp_path_factory.mktemp("capi") / "beam_search"
    libs = ["-lpthread", "-ldl", "-lm"]
    _run([cc, *CFLAGS, f"-I{HEADER_DIR}", EXAMPLE, release_dir / "libseqcore_capi.a", *libs,
          "-o", exe])  # fmt: skip
    return exe


def _parse_list(text: str, kind: type) -> list:
    return [kind(v) for v in text.split(",")] if text else []


def _fields(words: list[str]) -> dict[str, str]:
    return dict(word.split("=", 1) for word in words)


class Trace:
    """The C program's output, per search: fed rows, step answers, hypotheses."""

    def __init__(self, stdout: str) -> None:
        self.logprobs: dict[str, dict[int, dict[int, list[float]]]] = {}
        self.steps: dict[str, list[dict[str, list[int]]]] = {}
        self.hypotheses: dict[str, list[list[dict[str, object]]]] = {}
        self.errors: list[str] = []
        for line in stdout.splitlines():
            words = line.split()
            if words[0] == "trace" and words[2] == "logprobs":
                name = words[1]
                at = _fields(words[3:5])
                row = [float.fromhex(v) for v in words[5:]]
                steps = self.logprobs.setdefault(name, {})
                steps.setdefault(int(at["step"]), {})[int(at["row"])] = row
            elif words[0] == "trace" and words[2] == "step":
                fields = _fields(words[3:])
                assert int(fields["step"]) == len(self.steps.setdefault(words[1], []))
                self.steps[words[1]].append(
                    {k: _parse_list(fields[k], int) for k in ("parents", "rows", "tokens")}
                )
            elif words[0] in SEARCHES:
                fields = _fields(words[1:])
                items = self.hypotheses.setdefault(words[0], [])
                item = int(fields["item"])
                if item == len(items):
                    items.append([])
                assert int(fields["rank"]) == len(items[item])
                items[item].append(
                    {
                        "tokens": _parse_list(fields["tokens"], int),
                        "score": float(fields["score"]),
                        "token_scores": _parse_list(fields["token_scores"], float),
                        "beam_indices": _parse_list(fields["beam_indices"], int),
                        "group": int(fields["group"]),
                    }
                )
            elif words[0] == "error":
                self.errors.append(line)


@pytest.fixture(scope="module")
def trace(static_example: Path) -> Trace:
    return Trace(_run([static_example, "--trace"]))


def _toy_model(prev: int, last: int, step: int) -> np.ndarray:
    """examples/c/beam_search.c's toy_model, in the same double arithmetic."""
    logits = []
    for j in range(VOCAB):
        h = (prev * 7 + last * 13 + j * 29 + (j * j) % 5) % 23
        logit = h / 6.0
        if j == EOS:
            logit += 0.6 * step - 1.5
        logits.append(logit)
    top = max(logits)
    log_sum = top + math.log(sum(math.exp(v - top) for v in logits))
    return np.array([v - log_sum for v in logits], dtype=np.float32)


def _as_f32(values: list[float]) -> np.ndarray:
    return np.array(values, dtype=np.float64).astype(np.float32)


@pytest.mark.parametrize("name", list(SEARCHES))
def test_c_example_equals_the_python_api(trace: Trace, name: str) -> None:
    state = SEARCHES[name].start(VOCAB, PROMPTS)
    fed = trace.logprobs[name]
    # The toy model's memory of each active row: its last two tokens.
    memory = [(p[-2] if len(p) > 1 else 0, p[-1] if p else 0) for p in PROMPTS]
    for step, c_step in enumerate(trace.steps[name]):
        assert not state.done
        rows = [fed[step][i] for i in range(len(fed[step]))]
        assert len(rows) == len(state.active_rows)
        logprobs = np.array(rows, dtype=np.float64).astype(np.float32)
        # The C program fed each row its own history's log-probs.
        own = np.stack([_toy_model(prev, last, step) for prev, last in memory])
        np.testing.assert_allclose(logprobs, own, rtol=0, atol=1e-6)
        answer = state.step(logprobs)
        assert answer.tokens.tolist() == c_step["tokens"]
        assert answer.parents.tolist() == c_step["parents"]
        assert answer.rows.tolist() == c_step["rows"]
        memory = [(memory[p][1], t) for p, t in zip(answer.parents, answer.tokens, strict=True)]
    assert state.done, "the C program stopped when the search was done"

    hypotheses = state.finalize().hypotheses
    c_items = trace.hypotheses[name]
    assert len(c_items) == len(PROMPTS) == len(hypotheses)
    for c_item, item in zip(c_items, hypotheses, strict=True):
        assert len(c_item) == len(item) == SEARCHES[name].num_return_sequences
        for c_hyp, hyp in zip(c_item, item, strict=True):
            assert c_hyp["tokens"] == hyp.tokens
            assert c_hyp["beam_indices"] == hyp.beam_indices
            assert c_hyp["group"] == hyp.group
            # float32 values printed with %.9g: exact once read back as float32.
            assert _as_f32([c_hyp["score"]])[0] == np.float32(hyp.score)
            assert _as_f32(c_hyp["token_scores"]).tolist() == _as_f32(hyp.token_scores).tolist()


def test_diverse_groups_differ(trace: Trace) -> None:
    groups = {h["group"] for item in trace.hypotheses["diverse"] for h in item}
    assert len(groups) > 1


def test_c_example_reports_errors(trace: Trace) -> None:
    assert trace.errors == [
        "error step after done: SEQCORE_STATUS_FINISHED: the search is finished; call finalize",
        "error wrong vocab: SEQCORE_STATUS_SHAPE_ERROR: vocab is 9 but the configuration says 10",
        "error small buffers: SEQCORE_STATUS_BUFFER_TOO_SMALL: "
        "the step's output buffers: capacity 2, 4 needed",
        "error small buffers: 4 rows needed",
        "error NULL output: SEQCORE_STATUS_INVALID_ARGUMENT: out_done is NULL",
        "error bad config: SEQCORE_STATUS_CONFIG_ERROR: invalid search configuration: "
        "num_groups (3) must be at least 1 and divide num_beams (4)",
    ]


def test_shared_library_gives_the_same_output(
    release_dir: Path, static_example: Path, tmp_path: Path
) -> None:
    cc = _compiler("CC", "cc", "gcc", "clang")
    assert cc is not None
    exe = tmp_path / "beam_search_shared"
    _run([cc, *CFLAGS, f"-I{HEADER_DIR}", EXAMPLE, f"-L{release_dir}", "-lseqcore_capi", "-lm",
          f"-Wl,-rpath,{release_dir}", "-o", exe])  # fmt: skip
    assert _run([exe]) == _run([static_example])


def test_header_compiles_as_cpp(tmp_path: Path) -> None:
    cxx = _compiler("CXX", "c++", "g++", "clang++")
    if cxx is None:
        pytest.skip("no C++ compiler found")
    source = tmp_path / "use.cpp"
    source.write_text(
        '#include "seqcore.h"\n'
        "int main() {\n"
        "    SeqcoreSearchConfig *config = nullptr;\n"
        "    SeqcoreStatus status = seqcore_search_config_new(8, 2, &config);\n"
        "    seqcore_search_config_free(config);\n"
        "    return status == SEQCORE_STATUS_OK ? 0 : 1;\n"
        "}\n"
    )
    _run([cxx, "-std=c++11", "-Wall", "-Wextra", "-Werror", f"-I{HEADER_DIR}", "-fsyntax-only",
          source])  # fmt: skip
