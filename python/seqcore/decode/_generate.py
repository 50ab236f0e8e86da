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
  each step, which suits small models without a cache. Such a model gets no
  attention mask, so it sees the left padding of prompts shorter than the
  longest.

Prompts of different lengths are left-padded, with an attention mask, as
transformers does for decoder-only models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqcore.decode._search import SearchResult, SearchState, Step, _Common
from seqcore.decode._stop_strings import StopStrings, token_bytes_of

StepCallback = Callable[[int, Step], object]


@dataclass(frozen=True)
class GenerateOutput:
    """What :func:`generate` returns."""

    sequences: Any
    """torch.LongTensor (items x returns, prompt length + longest output): the
    (left-padded) prompt followed by the generated tokens, padded on the right
    with the pad id, as transformers' ``generate`` returns them (except that
    a pad id of 0 stays 0, where transformers 5.18 pads with the EOS id)."""
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
        if ids.shape[0] == 0 or ids.shape[1] == 0:
            raise ValueError(f"input_ids must not be empty, got shape {tuple(ids.shape)}")
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
    if not rows or not all(rows):
        raise ValueError("input_ids must hold at least one prompt, and no prompt may be empty")
    width = max(len(r) for r in rows)
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
    stop_strings: Sequence[str] | None = None,
    tokenizer: object = None,
) -> GenerateOutput:
    """Generates from ``model`` with ``search`` (a :class:`GreedySearch`,
    :class:`BeamSearch` or :class:`DiverseBeamSearch`).

    ``input_ids``: a (batch, length) tensor (left-padded, with
    ``attention_mask``) or a list of id lists of any lengths. ``on_step(i,
    step)`` is called after every step with the step's tokens, parents and
    rows (for streaming); returning True stops the search there, and the
    running beams are returned as they are. ``stop_strings`` (with the
    ``tokenizer`` that maps ids to text: a seqcore Tokenizer, or anything with
    ``decode(ids)``) end a beam when its text completes one, exactly where an
    EOS token would (transformers' rule); greedy and beam search only.

    On a GPU the log-probs stay there: each row's top candidates (enough for
    the step to be exact when no token is banned) cross to the CPU, not the
    whole vocabulary.
    """
    import torch

    if not isinstance(search, _Common):
        raise TypeError(
            "search must be a GreedySearch, BeamSearch or DiverseBeamSearch, "
            f"got {type(search).__name__}"
        )
    pad = pad_token_id if pad_token_id is not None else search.pad_token_id
    if pad is None:
        eos = search._native_args()["eos_token_ids"]
        pad = eos[0] if eos else 0
    ids, mask = _left_padded(input_ids, attention_mask, pad)
    if stop_strings is not None:
        if tokenizer is None:
            raise ValueError("stop_strings need the tokenizer that turns ids into text")
        if search._native_args()["num_groups"] > 1:
            raise ValueError(
                "stop_strings work with greedy and beam search, not diverse beam search "
                "(transformers 4.56's group search has no per-candidate stop rule)"
            )
    host = _CachedHost(model, ids, mask) if _is_hf_model(model) else _RecomputingHost(model, ids)
    with torch.no_grad():
        logits = host.prompt_logits()
        state = search.start(logits.shape[-1], ids.cpu())
        stops = None
        if stop_strings is not None:
            stops = StopStrings(stop_strings, token_bytes_of(tokenizer, logits.shape[-1]))
        _drive(state, host, logits, ids, mask, search.beams_per_item(), stops, on_step)
    result = state.finalize()
    generated = torch.from_numpy(result.sequences(pad)).to(ids.device)
    returns = len(result.hypotheses[0]) if result.hypotheses else 0
    prompts = ids.repeat_interleave(returns, dim=0) if returns else ids[:0]
    sequences = torch.cat([prompts, generated], dim=1)
    scores = torch.from_numpy(result.scores.astype(np.float32))
    return GenerateOutput(sequences, scores, result)


def _drive(
    state: SearchState,
    host: _Host,
    prompt_logits: Any,
    ids: Any,
    mask: Any,
    beams: int,
    stops: StopStrings | None,
    on_step: StepCallback | None,
) -> None:
    """The loop: log-probs of the active rows in, tokens and parents out."""
    import torch

    # The prompt ran once per item; the first step's rows copy their item's.
    items = torch.from_numpy(state.active_rows // beams).to(ids.device)
    host.gather(items, None)
    logits = prompt_logits[items]
    tails: list[bytes] = []
    if stops is not None:
        prompts = [ids[i][mask[i].bool()].tolist() for i in range(ids.shape[0])]
        tails = [stops.tail_of(prompts[i]) for i in (state.active_rows // beams).tolist()]
    step_index = 0
    while True:
        if stops is not None:
            rows, tokens = stops.finishers(tails)
            if len(rows):
                state.finish_on(rows, tokens)
        step = _advance(state, logits, state.candidates_needed())
        if (on_step is not None and on_step(step_index, step)) or state.done:
            return
        step_index += 1
        if stops is not None:
            tails = stops.advance(tails, step.parents.tolist(), step.tokens.tolist())
        parents = torch.from_numpy(step.parents).to(ids.device)
        logits = host.gather(parents, torch.from_numpy(step.tokens).to(ids.device))


def _advance(state: SearchState, logits: Any, k: int) -> Step:
    import torch

    logprobs = torch.log_softmax(logits.float(), dim=-1)
    if logprobs.is_cuda and k < logprobs.shape[-1]:
        values, tokens = torch.topk(logprobs, k, dim=-1)
        return state.step_candidates(tokens, values)
    return state.step(logprobs)


class _Host:
    """A model behind one interface: the prompt's last logits, then
    ``gather(parents, tokens)``: keep rows ``parents``, append ``tokens``
    (None: only gather) and return the new rows' last logits."""

    def prompt_logits(self) -> Any:
        raise NotImplementedError

    def gather(self, parents: Any, tokens: Any) -> Any:
        raise NotImplementedError


class _CachedHost(_Host):
    """A Hugging Face causal LM with its KV cache."""

    def __init__(self, model: Any, ids: Any, mask: Any) -> None:
        self.model, self.ids, self.mask = model, ids, mask
        self.positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
        self.cache: Any = None

    def prompt_logits(self) -> Any:
        out = self.model(
            input_ids=self.ids, attention_mask=self.mask, position_ids=self.positions,
            use_cache=True,
        )  # fmt: skip
        self.cache = out.past_key_values
        self.positions = self.positions[:, -1:]
        return out.logits[:, -1, :]

    def gather(self, parents: Any, tokens: Any) -> Any:
        self.cache.reorder_cache(parents)
        self.mask, self.positions = self.mask[parents], self.positions[parents]
        if tokens is None:
            return None
        self.mask = torch_cat_ones(self.mask)
        self.positions = self.positions + 1
        out = self.model(
            input_ids=tokens[:, None], attention_mask=self.mask, position_ids=self.positions,
            past_key_values=self.cache, use_cache=True,
        )  # fmt: skip
        self.cache = out.past_key_values
        return out.logits[:, -1, :]


def torch_cat_ones(mask: Any) -> Any:
    import torch

    return torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=-1)


class _RecomputingHost(_Host):
    """Any callable ``model(ids) -> logits``: the whole sequence each step."""

    def __init__(self, model: Any, ids: Any) -> None:
        self.model, self.rows = model, ids

    def prompt_logits(self) -> Any:
        logits = _logits_of(self.model(self.rows))
        if logits.dim() != 3 or logits.shape[:2] != self.rows.shape:
            raise ValueError(
                "the model must return logits of shape (rows, length, vocab) = "
                f"({self.rows.shape[0]}, {self.rows.shape[1]}, vocab), got {tuple(logits.shape)}"
            )
        return logits[:, -1, :]

    def gather(self, parents: Any, tokens: Any) -> Any:
        import torch

        self.rows = self.rows[parents]
        if tokens is None:
            return None
        self.rows = torch.cat([self.rows, tokens[:, None]], dim=1)
        return _logits_of(self.model(self.rows))[:, -1, :]
