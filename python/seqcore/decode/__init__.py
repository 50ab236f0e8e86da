"""Greedy, beam and diverse beam search as a step machine any host can drive.

* :class:`GreedySearch`, :class:`BeamSearch`, :class:`DiverseBeamSearch`:
  immutable configurations with transformers' semantics (beam search as in
  transformers 5.18, diverse beam search as in 4.56's group beam search).
* ``config.start(vocab_size, prompts)`` -> :class:`SearchState`: ``step``
  (log-probs of the active rows), ``step_candidates`` (each row's top-k),
  ``active_rows``, ``done``, ``finalize``.
* :func:`generate`: drives a torch model or a Hugging Face causal LM (KV
  cache reordered each step) with any of them.
"""

from __future__ import annotations

from seqcore.decode._generate import GenerateOutput, generate
from seqcore.decode._search import (
    BeamSearch,
    DiverseBeamSearch,
    GreedySearch,
    Hypothesis,
    SearchResult,
    SearchState,
    Step,
)

__all__ = [
    "BeamSearch",
    "DiverseBeamSearch",
    "GenerateOutput",
    "GreedySearch",
    "Hypothesis",
    "SearchResult",
    "SearchState",
    "Step",
    "generate",
]
