"""seqcore's search machine behind the numpy reference's interface, so the
reference's tests and the Hugging Face harness can drive either."""

from __future__ import annotations

from typing import Any

import numpy as np

import seqcore
from tests.references.beam_search import SearchSpec


def config_of(spec: SearchSpec) -> Any:
    """The seqcore configuration that means the same as ``spec``."""
    common: dict[str, Any] = {
        "max_new_tokens": spec.max_new_tokens,
        "eos_token_id": list(spec.eos_token_ids),
        "pad_token_id": spec.pad_token_id,
        "min_new_tokens": spec.min_new_tokens,
        "no_repeat_ngram_size": spec.no_repeat_ngram_size,
        "bad_words_ids": [list(w) for w in spec.bad_words_ids],
    }
    if spec.num_beams == 1:
        return seqcore.GreedySearch(**common)
    beam = {
        "num_beams": spec.num_beams,
        "length_penalty": spec.length_penalty,
        "early_stopping": spec.early_stopping,
        "num_return_sequences": spec.num_return_sequences,
    }
    if spec.num_groups == 1:
        return seqcore.BeamSearch(**common, **beam)
    return seqcore.DiverseBeamSearch(
        **common,
        **beam,
        num_groups=spec.num_groups,
        diversity_strength=spec.diversity_strength,
    )


class SeqcoreSearch:
    """`ReferenceSearch`'s interface over `seqcore`'s machine."""

    def __init__(self, spec: SearchSpec, prompts: list[list[int]], dtype: Any = np.float32):
        self.state = config_of(spec).start(spec.vocab_size, prompts, dtype=dtype)

    @property
    def active_rows(self) -> list[int]:
        return [int(r) for r in self.state.active_rows]

    @property
    def done(self) -> bool:
        return self.state.done

    def step(self, logprobs: np.ndarray) -> tuple[list[int], list[int]]:
        step = self.state.step(logprobs)
        return step.tokens.tolist(), step.parents.tolist()

    def finalize(self) -> list[list[seqcore.decode.Hypothesis]]:
        return self.state.finalize().hypotheses
