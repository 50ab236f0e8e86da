"""Benchmark of seqcore's search step machine against transformers and torch.

Run: ``python benches/decode.py`` (after ``bash scripts/test`` or ``maturin
develop --release``). One thread everywhere, vocab 50,257 (GPT-2's), float32.

1. Bookkeeping per step, from log-probs, at (batch, beams) = (1, 4), (8, 4),
   (8, 8):
   * seqcore: ``state.step(logprobs)``, and the same plus the host's
     ``log_softmax``;
   * a minimal torch step: ``log_softmax`` + add the beam scores + ``topk``
     over each item's beams x vocab (what a hand-written beam search must do
     at the least);
   * transformers' beam-search overhead: ``generate()`` time minus the time
     spent inside the model's forward (measured by wrapping the forward), per
     step, on a tiny GPT-2 whose forward is cheap.
2. Diverse beam search (4 groups) against beam search at the same total beams.
3. End to end: ``seqcore.generate`` against ``transformers.generate`` with a
   small GPT-2-shaped model on CPU, same beams, outputs checked identical.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch
import transformers
from _common import machine, median_seconds
from transformers import GPT2Config, GPT2LMHeadModel

import seqcore

VOCAB = 50257
SHAPES = [(1, 4), (8, 4), (8, 8)]


def random_logprobs(rows: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    logits = 3.0 * torch.randn(rows, VOCAB, generator=generator)
    return torch.log_softmax(logits, dim=-1)


def seqcore_step_seconds(search: Any, batch: int, steps: int, with_softmax: bool) -> float:
    """Mean seconds per step of a search fed fixed log-probs (no EOS ever)."""
    beams = search.beams_per_item()
    logits = [3.0 * torch.randn(batch * beams, VOCAB) for _ in range(4)]
    logprobs = [torch.log_softmax(x, dim=-1).numpy() for x in logits]

    def run() -> None:
        state = search.start(VOCAB, batch_size=batch)
        for i in range(steps):
            rows = len(state.active_rows)
            if with_softmax:
                state.step(torch.log_softmax(logits[i % 4][:rows], dim=-1))
            else:
                state.step(logprobs[i % 4][:rows])

    return median_seconds(run, 5) / steps


def torch_minimal_step_seconds(batch: int, beams: int, steps: int) -> float:
    logits = [3.0 * torch.randn(batch * beams, VOCAB) for _ in range(4)]
    scores = torch.zeros(batch, beams)

    def run() -> None:
        for i in range(steps):
            logprobs = torch.log_softmax(logits[i % 4], dim=-1)
            total = logprobs.view(batch, beams, VOCAB) + scores[:, :, None]
            torch.topk(total.view(batch, beams * VOCAB), 2 * beams, dim=1)

    return median_seconds(run, 5) / steps


def tiny_gpt2(n_embd: int, layers: int, seed: int = 0) -> Any:
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=VOCAB, n_positions=512, n_embd=n_embd, n_layer=layers, n_head=2,
        bos_token_id=0, eos_token_id=0, pad_token_id=0,
    )  # fmt: skip
    return GPT2LMHeadModel(config).eval()


def hf_overhead_seconds(model: Any, batch: int, beams: int, steps: int) -> tuple[float, float]:
    """(overhead, forward) seconds per step of transformers' beam search."""
    spent = [0.0]
    forward = model.forward

    def timed_forward(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return forward(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    prompt = torch.randint(1, VOCAB, (batch, 8), generator=torch.Generator().manual_seed(1))
    model.forward = timed_forward
    try:
        totals = []
        forwards = []
        for _ in range(3):
            spent[0] = 0.0
            start = time.perf_counter()
            with torch.no_grad():
                model.generate(
                    prompt, attention_mask=torch.ones_like(prompt), num_beams=beams,
                    max_new_tokens=steps, min_new_tokens=steps, do_sample=False,
                )  # fmt: skip
            totals.append(time.perf_counter() - start)
            forwards.append(spent[0])
    finally:
        del model.forward
    best = int(np.argmin(totals))
    return (totals[best] - forwards[best]) / steps, forwards[best] / steps


def end_to_end(batch: int, beams: int, steps: int) -> None:
    model = tiny_gpt2(n_embd=128, layers=4)
    prompt = torch.randint(1, VOCAB, (batch, 12), generator=torch.Generator().manual_seed(2))
    mask = torch.ones_like(prompt)
    search = seqcore.BeamSearch(num_beams=beams, max_new_tokens=steps, eos_token_id=0)
    with torch.no_grad():
        theirs = model.generate(
            prompt, attention_mask=mask, num_beams=beams, max_new_tokens=steps, do_sample=False
        )
    ours = seqcore.generate(model, prompt, search, attention_mask=mask)
    same = torch.equal(theirs[:, : ours.sequences.shape[1]], ours.sequences)
    hf_t = median_seconds(
        lambda: model.generate(
            prompt, attention_mask=mask, num_beams=beams, max_new_tokens=steps, do_sample=False
        ),
        3,
    )
    sc_t = median_seconds(lambda: seqcore.generate(model, prompt, search, attention_mask=mask), 3)
    print(
        f"  GPT-2 shape (n_embd 128, 4 layers, vocab {VOCAB}), batch {batch}, {beams} beams, "
        f"{steps} tokens: transformers {hf_t * 1e3:.0f} ms, seqcore {sc_t * 1e3:.0f} ms "
        f"-> {hf_t / sc_t:.2f}x; outputs identical: {same}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(1)
    seqcore.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    print(machine(f"torch {torch.__version__}, transformers {transformers.__version__}"))
    steps = args.steps

    print(f"\nper-step bookkeeping, vocab {VOCAB}, float32, 1 thread (microseconds)")
    print(
        f"{'batch x beams':>14} {'seqcore':>8} {'+softmax':>9} {'torch min':>10} "
        f"{'HF overhead':>12} {'HF fwd':>8}   {'vs HF (<=1/3)':>13} {'vs torch (<=1.2)':>16}"
    )
    model = tiny_gpt2(n_embd=16, layers=1)
    for batch, beams in SHAPES:
        search = seqcore.BeamSearch(num_beams=beams, max_new_tokens=steps)
        ours = seqcore_step_seconds(search, batch, steps, with_softmax=False)
        ours_soft = seqcore_step_seconds(search, batch, steps, with_softmax=True)
        minimal = torch_minimal_step_seconds(batch, beams, steps)
        overhead, fwd = hf_overhead_seconds(model, batch, beams, steps)
        print(
            f"{f'{batch} x {beams}':>14} {ours * 1e6:8.0f} {ours_soft * 1e6:9.0f} "
            f"{minimal * 1e6:10.0f} {overhead * 1e6:12.0f} {fwd * 1e6:8.0f}   "
            f"{ours / overhead:13.3f} {ours_soft / minimal:16.2f}"
        )

    print("\ndiverse beam search (4 groups, Hamming) vs beam search, same total beams")
    for batch, beams in [(8, 8), (8, 16)]:
        plain = seqcore.BeamSearch(num_beams=beams, max_new_tokens=steps)
        diverse = seqcore.DiverseBeamSearch(
            num_beams=beams, num_groups=4, diversity_strength=0.5, max_new_tokens=steps
        )
        p = seqcore_step_seconds(plain, batch, steps, with_softmax=False)
        d = seqcore_step_seconds(diverse, batch, steps, with_softmax=False)
        print(
            f"  {batch} x {beams}: beam {p * 1e6:.0f} us, diverse {d * 1e6:.0f} us per step "
            f"-> {d / p:.2f}x (target <= 1.1x)"
        )

    print("\nend to end, CPU, 1 thread")
    end_to_end(batch=2, beams=4, steps=steps)


if __name__ == "__main__":
    main()
