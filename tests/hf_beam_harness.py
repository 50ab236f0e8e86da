"""Hugging Face `generate` on tiny GPT-2 models, recorded, and replayed through
the numpy reference of the search step machine (tests/references/beam_search.py).

Run as a script it writes the HF side of a grid as JSON:

    python tests/hf_beam_harness.py --grid beam --out beam.json
    PYTHONPATH=~/.cache/seqcore/hf456 python tests/hf_beam_harness.py --grid group --out g.json

The first uses the main environment's transformers (5.18: greedy and beam
search), the second transformers 4.56.2 (the last with diverse beam search
built in; scripts/setup_hf456.sh installs it). Models are random GPT-2s whose
weights are drawn from numpy's generator, not torch's or HF's initialisers, so
both processes rebuild the very same model from a case's seed.

Two replays drive the reference: `replay_recorded` feeds it HF's own per-step
logits (exact test of the search arithmetic), `replay_model` runs the model
itself with a KV cache reordered by the reference's parents, as a host would.
torch and transformers are imported inside functions so that importing this
module (pytest's doctest collection does) stays cheap.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

# Token ids of every model: 0 pads, 1..3 are EOS candidates (a case picks which
# of them end a sequence), prompts use ids from FIRST_WORD on.
PAD = 0
EOS_BOOST = {1: 6.0, 2: 4.5, 3: 3.0}  # logit lift of the EOS candidates
FIRST_WORD = 4


@dataclass(frozen=True)
class Case:
    name: str
    num_beams: int
    num_groups: int = 1
    diversity: float = 0.0
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    num_return_sequences: int = 1
    eos_token_ids: tuple[int, ...] = (1,)
    pad_token_id: int = PAD
    min_new_tokens: int = 0
    max_new_tokens: int = 8
    no_repeat_ngram_size: int = 0
    bad_words_ids: tuple[tuple[int, ...], ...] = ()
    batch: int = 2
    seed: int = 0  # model weights and prompts
    vocab_size: int = 96

    @staticmethod
    def from_json(data: dict[str, Any]) -> Case:
        data = dict(data)
        data["eos_token_ids"] = tuple(data["eos_token_ids"])
        data["bad_words_ids"] = tuple(tuple(w) for w in data["bad_words_ids"])
        return Case(**data)


def search_spec(case: Case) -> Any:
    from tests.references.beam_search import SearchSpec

    return SearchSpec(
        num_beams=case.num_beams,
        num_groups=case.num_groups,
        diversity_strength=case.diversity,
        length_penalty=case.length_penalty,
        early_stopping=case.early_stopping,
        num_return_sequences=case.num_return_sequences,
        eos_token_ids=case.eos_token_ids,
        pad_token_id=case.pad_token_id,
        min_new_tokens=case.min_new_tokens,
        max_new_tokens=case.max_new_tokens,
        no_repeat_ngram_size=case.no_repeat_ngram_size,
        bad_words_ids=case.bad_words_ids,
        vocab_size=case.vocab_size,
    )


def prompts(case: Case) -> tuple[list[list[int]], list[list[int]]]:
    """Left-padded prompt rows (what HF's processors see) and attention masks."""
    rng = np.random.default_rng(case.seed + 1000)
    lengths = rng.permutation(np.arange(1, 7))[: case.batch]
    width = int(lengths.max())
    rows, masks = [], []
    for n in lengths:
        tokens = rng.integers(FIRST_WORD, case.vocab_size, size=int(n)).tolist()
        rows.append([case.pad_token_id] * (width - int(n)) + tokens)
        masks.append([0] * (width - int(n)) + [1] * int(n))
    return rows, masks


# -- grids -----------------------------------------------------------------


def grid(kind: str, count: int, seed: int = 0) -> list[Case]:
    """`count` cases of a kind ("greedy", "beam", "group"), drawn reproducibly;
    the first few pin the corners (length penalties, early stopping modes)."""
    rng = random.Random(f"{kind}-{seed}")
    eos_sets = [(1,), (1, 2), (3, 1, 2)]
    bad_sets: list[tuple[tuple[int, ...], ...]] = [(), ((5,), (7, 8)), ((1,), (9, 10, 11), (6,))]
    cases = []
    for i in range(count):
        knobs: dict[str, Any] = {
            "eos_token_ids": rng.choice(eos_sets),
            "min_new_tokens": rng.choice([0, 0, 2]),
            "max_new_tokens": rng.randint(4, 10),
            "no_repeat_ngram_size": rng.choice([0, 0, 2, 3]),
            "bad_words_ids": rng.choice(bad_sets),
            "batch": rng.choice([2, 3]),
            "seed": rng.randrange(1000),
            "pad_token_id": rng.choice([PAD, PAD, 1]),
            "vocab_size": rng.choice([64, 96, 160]),
        }
        if kind == "greedy":
            cases.append(Case(name=f"greedy-{i}", num_beams=1, **knobs))
            continue
        if kind == "beam":
            beams, groups, diversity = rng.randint(2, 8), 1, 0.0
        else:
            groups = rng.choice([2, 2, 3, 4])
            beams = groups * rng.choice([1, 2]) if groups > 2 else 2 * rng.randint(1, 4)
            diversity = rng.choice([0.25, 1.0, 3.0])
        corners = [(lp, es) for lp in (-0.5, 0.0, 1.0, 2.0) for es in (True, False, "never")]
        lp, es = (
            corners[i]
            if i < len(corners)
            else (rng.choice([-0.5, 0.0, 0.7, 1.0, 2.0]), rng.choice([True, False, "never"]))
        )
        cases.append(
            Case(
                name=f"{kind}-{i}",
                num_beams=beams,
                num_groups=groups,
                diversity=diversity,
                length_penalty=lp,
                early_stopping=es,
                num_return_sequences=rng.randint(1, beams),
                **knobs,
            )
        )
    return cases


# -- the model -------------------------------------------------------------


def build_model(vocab_size: int, seed: int) -> Any:
    """A random 2-layer GPT-2 (n_embd 32) with spread-out logits and EOS
    candidates made likely, weights drawn from numpy so that any transformers
    version builds the same model."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=1,
        eos_token_id=1,
        pad_token_id=PAD,
        tie_word_embeddings=False,
        attn_implementation="eager",
    )
    model = GPT2LMHeadModel(config).eval()
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for name, param in sorted(model.named_parameters()):
            shape = tuple(param.shape)
            if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
                values = 1.0 + 0.1 * rng.standard_normal(shape)
            elif len(shape) == 1:
                values = 0.1 * rng.standard_normal(shape)
            elif name.startswith("lm_head"):
                # logit spread of a couple of nats keeps near-ties rare
                values = 0.5 * rng.standard_normal(shape)
            else:
                values = rng.standard_normal(shape) / np.sqrt(shape[0])
            param.copy_(torch.from_numpy(values.astype(np.float32)))
        # A common direction in the final layer norm's bias, shared by the EOS
        # rows of the head, lifts their logits in every context.
        direction = rng.standard_normal(32)
        direction /= np.linalg.norm(direction)
        model.transformer.ln_f.bias += torch.from_numpy(direction.astype(np.float32))
        for token, lift in EOS_BOOST.items():
            model.lm_head.weight[token] += torch.from_numpy((lift * direction).astype(np.float32))
    return model


def checksum(model: Any) -> str:
    digest = hashlib.sha256()
    for name, param in sorted(model.named_parameters()):
        digest.update(name.encode())
        digest.update(param.detach().numpy().tobytes())
    return digest.hexdigest()[:16]


# -- HF side ---------------------------------------------------------------


def run_hf(case: Case, model: Any) -> dict[str, Any]:
    """model.generate for one case, with everything the comparison needs."""
    import torch
    import transformers

    rows, masks = prompts(case)
    kwargs: dict[str, Any] = {
        "input_ids": torch.tensor(rows),
        "attention_mask": torch.tensor(masks),
        "max_new_tokens": case.max_new_tokens,
        "do_sample": False,
        "num_beams": case.num_beams,
        "eos_token_id": list(case.eos_token_ids),
        "pad_token_id": case.pad_token_id,
        "output_scores": True,
        "output_logits": True,
        "return_dict_in_generate": True,
    }
    if case.min_new_tokens:
        kwargs["min_new_tokens"] = case.min_new_tokens
    if case.no_repeat_ngram_size:
        kwargs["no_repeat_ngram_size"] = case.no_repeat_ngram_size
    if case.bad_words_ids:
        kwargs["bad_words_ids"] = [list(w) for w in case.bad_words_ids]
    if case.num_beams > 1:
        kwargs["length_penalty"] = case.length_penalty
        kwargs["early_stopping"] = case.early_stopping
        kwargs["num_return_sequences"] = case.num_return_sequences
    if case.num_groups > 1:
        kwargs["num_beam_groups"] = case.num_groups
        kwargs["diversity_penalty"] = case.diversity
    with torch.no_grad():
        out = model.generate(**kwargs)
    logits = torch.stack(out.logits).to(torch.float32).numpy()  # (steps, rows, vocab)
    beam = case.num_beams > 1
    return {
        "case": asdict(case),
        "transformers": transformers.__version__,
        "model": checksum(model),
        # CPU matmuls round differently with another thread count (about 1e-6)
        "threads": torch.get_num_threads(),
        "prompt_len": len(rows[0]),
        "sequences": out.sequences.tolist(),
        "sequences_scores": out.sequences_scores.tolist() if beam else None,
        "beam_indices": out.beam_indices.tolist() if beam else None,
        "logits_shape": list(logits.shape),
        "logits": base64.b64encode(logits.tobytes()).decode("ascii"),
    }


def recorded_logits(record: dict[str, Any]) -> np.ndarray:
    raw = base64.b64decode(record["logits"])
    return np.frombuffer(raw, dtype=np.float32).reshape(record["logits_shape"])


def hf_hypotheses(record: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """HF's returned sequences per item: generated tokens, score, beam indices."""
    case = Case.from_json(record["case"])
    start = record["prompt_len"]
    per_item = case.num_return_sequences if case.num_beams > 1 else 1
    out: list[list[dict[str, Any]]] = [[] for _ in range(case.batch)]
    for i, sequence in enumerate(record["sequences"]):
        generated = sequence[start:]
        indices = []
        if record["beam_indices"] is not None:
            indices = [b for b in record["beam_indices"][i] if b != -1]
        if case.num_beams > 1 and case.num_groups == 1:
            length = len(indices)
        else:
            # Greedy pads finished rows, and 4.56's group-search beam indices are
            # garbled even in length: a hypothesis ends at its first EOS there
            # (running beams never hold one).
            ends = [k for k, t in enumerate(generated) if t in case.eos_token_ids]
            length = ends[0] + 1 if ends else len(generated)
        score = record["sequences_scores"][i] if record["sequences_scores"] else None
        out[i // per_item].append(
            {"tokens": generated[:length], "score": score, "beam_indices": indices}
        )
    return out


# -- replays ---------------------------------------------------------------


def replay_recorded(record: dict[str, Any], machine: Any = None) -> tuple[list[list[Any]], int]:
    """Drives the reference (or `machine(spec, prompts)`, any search with its
    interface) with HF's own logits; returns the hypotheses and the number of
    steps it took (HF's is len(record logits))."""
    import torch

    from tests.references.beam_search import ReferenceSearch

    case = Case.from_json(record["case"])
    logits = recorded_logits(record)
    rows, _ = prompts(case)
    search = (machine or ReferenceSearch)(search_spec(case), rows)
    steps = 0
    while not search.done:
        if steps == len(logits):
            raise AssertionError(f"{case.name}: the reference goes on after HF's {steps} steps")
        # log_softmax over the whole (rows, vocab) step, as HF computes it
        logprobs = torch.log_softmax(torch.from_numpy(logits[steps].copy()), dim=-1).numpy()
        search.step(logprobs[search.active_rows])
        steps += 1
    return search.finalize(), steps


def replay_model(
    case: Case, model: Any, record: dict[str, Any] | None = None
) -> tuple[list[list[Any]], float]:
    """Drives the reference with the model, as a host would: every batch row
    keeps its KV cache row (rows that left get a pad token and are ignored),
    reordered by the parents the reference returns. Returns the hypotheses and
    the largest gap between these logits and HF's recorded ones (active rows)."""
    import torch

    from tests.references.beam_search import ReferenceSearch

    rows, masks = prompts(case)
    width = case.num_beams
    ids = torch.tensor(rows).repeat_interleave(width, dim=0)
    mask = torch.tensor(masks).repeat_interleave(width, dim=0)
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    expected = recorded_logits(record) if record is not None else None
    search = ReferenceSearch(search_spec(case), rows)
    gap = 0.0
    with torch.no_grad():
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
        )
        step = 0
        while True:
            logits = out.logits[:, -1, :].to(torch.float32)
            active = search.active_rows
            if expected is not None and step < len(expected):
                diff = (logits[active] - torch.from_numpy(expected[step][active])).abs().max()
                gap = max(gap, float(diff))
            tokens, parents = search.step(torch.log_softmax(logits, dim=-1).numpy()[active])
            step += 1
            if search.done:
                break
            order = torch.arange(ids.shape[0])
            feed = torch.full((ids.shape[0],), case.pad_token_id)
            for row, token, parent in zip(search.active_rows, tokens, parents, strict=True):
                order[row] = active[parent]
                feed[row] = token
            cache = out.past_key_values
            cache.reorder_cache(order)
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=-1)
            positions = positions[:, -1:] + 1
            out = model(
                input_ids=feed[:, None],
                attention_mask=mask,
                position_ids=positions,
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
            )
    return search.finalize(), gap


def compare(record: dict[str, Any], hyps: list[list[Any]], atol: float = 1e-5) -> list[str]:
    """Differences between HF's result and the reference's, as messages."""
    case = Case.from_json(record["case"])
    problems = []
    for item, (theirs, ours) in enumerate(zip(hf_hypotheses(record), hyps, strict=True)):
        if len(theirs) != len(ours):
            problems.append(f"item {item}: {len(theirs)} HF hypotheses, {len(ours)} ours")
            continue
        for j, (hf, ref) in enumerate(zip(theirs, ours, strict=True)):
            tokens = list(ref.tokens)
            if case.num_groups > 1 and tokens and tokens[-1] in case.eos_token_ids:
                tokens[-1] = case.eos_token_ids[0]  # 4.56 writes the first EOS id
            where = f"{case.name} item {item} hyp {j}"
            if hf["tokens"] != tokens:
                problems.append(f"{where}: tokens HF {hf['tokens']} ours {tokens}")
            if hf["score"] is not None and not abs(hf["score"] - ref.score) <= atol:
                problems.append(f"{where}: score HF {hf['score']} ours {ref.score}")
            # 4.56's group-search beam indices are garbled (see the reference's notes)
            if case.num_beams > 1 and case.num_groups == 1:
                if hf["beam_indices"] != list(ref.beam_indices):
                    problems.append(
                        f"{where}: beams HF {hf['beam_indices']} ours {ref.beam_indices}"
                    )
    return problems


# -- script ----------------------------------------------------------------


@dataclass
class _Models:
    built: dict[tuple[int, int], Any] = field(default_factory=dict)

    def get(self, case: Case) -> Any:
        key = (case.vocab_size, case.seed)
        if key not in self.built:
            self.built[key] = build_model(case.vocab_size, case.seed)
        return self.built[key]


def run_grid(cases: list[Case]) -> list[dict[str, Any]]:
    models = _Models()
    return [run_hf(case, models.get(case)) for case in cases]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", choices=["greedy", "beam", "group"], required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (give the replaying process's)"
    )
    args = parser.parse_args(argv)

    import torch
    import transformers

    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    records = run_grid(grid(args.grid, args.count, args.seed))
    with open(args.out, "w") as f:
        json.dump({"transformers": transformers.__version__, "records": records}, f)


if __name__ == "__main__":
    main()
