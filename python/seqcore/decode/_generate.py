"""``seqcore.generate``: drives a torch model with a search configuration.

Two kinds of model:

* a Hugging Face causal LM (anything whose forward takes ``input_ids``,
  ``attention_mask``, ``position_ids``, ``past_key_values`` and returns
  ``.logits`` and ``.past_key_values``): the prompt runs once per batch item,
  then one token per row per step, with the KV cache gathered by each step's
  parents. Rows of finished items leave the batch, so the model stops paying
  for them;
* any other callable ``model(input_ids) -> logits`` of shape (rows, length,
  vocab) (or an object with ``.logits``): the whole sequence is recomputed at
  each step, which suits small models without a cache.

Prompts of different lengths are left-padded, with an attention mask, as
transformers does for decoder-only models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqcore.decode._search import SearchResult, SearchState, Step, _Common

StepCallback = Callable[[int, Step], object]


@dataclass(frozen=True)
class GenerateOutput:
    """What :func:`generate` returns."""

    sequences: Any
    """torch.LongTensor (items x returns, prompt length + longest output): the
    (left-padded) prompt followed by the generated tokens, padded on the right
    with the pad id, as transformers' ``generate`` returns them."""
    scores: Any
    """torch.FloatTensor of each returned sequence's score."""
    result: SearchResult
    """The hypotheses themselves (tokens, per-token scores, beam indices, group)."""


def _left_padded(input_ids: Any, attention_mask: Any, pad: int) -> tuple[Any, Any]:
    import torch

    if isinstance(input_ids, torch.Tensor):
        if input_ids.dim() != 2:
            raise ValueError(
                f"input_ids must be 2-d (batch, length), got shape {tuple(input_ids.shape)}"
            )
        if input_ids.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"input_ids must hold integer token ids, got {input_ids.dtype}")
        ids = input_ids.long()
        if attention_mask is None:
            mask = torch.ones_like(ids)
        else:
            mask = torch.as_tensor(attention_mask, device=ids.device).long()
            if mask.shape != ids.shape:
                raise ValueError(
                    f"attention_mask must have the shape of input_ids {tuple(ids.shape)}, "
                    f"got {tuple(mask.shape)}"
                )
        return ids, mask
    if attention_mask is not None:
        raise ValueError("attention_mask goes with a tensor of input_ids, not with lists")
    if isinstance(input_ids, (str, bytes)) or not isinstance(input_ids, Sequence):
        raise TypeError(f"input_ids must be a 2-d tensor or a list of id lists, got {input_ids!r}")
    rows = [[int(t) for t in row] for row in input_ids]
    width = max((len(r) for r in rows), default=0)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row) :] = torch.tensor(row)
            mask[i, width - len(row) :] = 1
    return ids, mask


def _is_hf_model(model: Any) -> bool:
    return (
        hasattr(model, "config")
        and hasattr(model, "forward")
        and hasattr(model.config, "vocab_size")
    )


def _logits_of(output: Any) -> Any:
    return output.logits if hasattr(output, "logits") else output


def generate(
    model: Any,
    input_ids: Any,
    search: _Common,
    *,
    attention_mask: Any = None,
    pad_token_id: int | None = None,
    on_step: StepCallback | None = None,
) -> GenerateOutput:
    """Generates from ``model`` with ``search`` (a :class:`GreedySearch`,
    :class:`BeamSearch` or :class:`DiverseBeamSearch`).

    ``input_ids``: a (batch, length) tensor (left-padded, with
    ``attention_mask``) or a list of id lists of any lengths. ``on_step(i,
    step)`` is called after every step with the step's tokens, parents and
    rows (for streaming); returning True stops the search there, and the
    running beams are returned as they are.
    """
    import torch

    pad = pad_token_id if pad_token_id is not None else search.pad_token_id
    if pad is None:
        eos = search._native_args()["eos_token_ids"]
        pad = eos[0] if eos else 0
    ids, mask = _left_padded(input_ids, attention_mask, pad)
    beams = search.beams_per_item()
    with torch.no_grad():
        if _is_hf_model(model):
            state = _run_cached(model, ids, mask, search, beams, on_step)
        else:
            state = _run_recomputed(model, ids, search, beams, on_step)
    result = state.finalize()
    generated = torch.from_numpy(result.sequences(pad)).to(ids.device)
    returns = len(result.hypotheses[0]) if result.hypotheses else 0
    prompts = ids.repeat_interleave(returns, dim=0) if returns else ids[:0]
    sequences = torch.cat([prompts, generated], dim=1)
    scores = torch.from_numpy(result.scores.astype(np.float32))
    return GenerateOutput(sequences, scores, result)


def _first_rows(state: SearchState, beams: int, device: Any) -> Any:
    """The prompt row (batch item) of each row the first step needs."""
    import torch

    return torch.from_numpy(state.active_rows // beams).to(device)


def _advance(state: SearchState, logits: Any) -> Step:
    import torch

    logprobs = torch.log_softmax(logits.float(), dim=-1)
    return state.step(logprobs)


def _run_cached(
    model: Any, ids: Any, mask: Any, search: _Common, beams: int, on_step: StepCallback | None
) -> SearchState:
    import torch

    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
    state = search.start(out.logits.shape[-1], ids.cpu())
    # The prompt ran once per item; the first step's rows copy their item's.
    items = _first_rows(state, beams, ids.device)
    logits, cache = out.logits[items, -1, :], out.past_key_values
    cache.reorder_cache(items)
    mask, positions = mask[items], positions[items, -1:]
    step_index = 0
    while True:
        step = _advance(state, logits)
        if state.done or (on_step is not None and on_step(step_index, step)):
            return state
        step_index += 1
        parents = torch.from_numpy(step.parents).to(ids.device)
        cache.reorder_cache(parents)
        mask = torch.cat([mask[parents], mask.new_ones((len(parents), 1))], dim=-1)
        positions = positions[parents] + 1
        tokens = torch.from_numpy(step.tokens).to(ids.device)[:, None]
        out = model(
            input_ids=tokens,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
        )
        logits, cache = out.logits[:, -1, :], out.past_key_values


def _run_recomputed(
    model: Any, ids: Any, search: _Common, beams: int, on_step: StepCallback | None
) -> SearchState:
    import torch

    logits = _logits_of(model(ids))
    if logits.dim() != 3 or logits.shape[0] != ids.shape[0]:
        raise ValueError(
            "the model must return logits of shape (rows, length, vocab), "
            f"got {tuple(logits.shape)}"
        )
    state = search.start(logits.shape[-1], ids.cpu())
    items = _first_rows(state, beams, ids.device)
    rows, logits = ids[items], logits[items, -1, :]
    step_index = 0
    while True:
        step = _advance(state, logits)
        if state.done or (on_step is not None and on_step(step_index, step)):
            return state
        step_index += 1
        parents = torch.from_numpy(step.parents).to(ids.device)
        tokens = torch.from_numpy(step.tokens).to(ids.device)[:, None]
        rows = torch.cat([rows[parents], tokens], dim=1)
        logits = _logits_of(model(rows))[:, -1, :]
