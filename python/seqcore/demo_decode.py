"""``seqcore demo`` stage 4: beam search and diverse beam search.

1. Trains a byte-level BPE vocabulary (2,000 tokens) and a small GRU language
   model on the King James Bible (the demo's default corpus) for a few
   seconds.
2. Decodes from a few prompts with :class:`seqcore.BeamSearch` and
   :class:`seqcore.DiverseBeamSearch` (same number of beams and returned
   sequences) through :func:`seqcore.generate`, and prints how varied the
   returned sequences are: distinct n-grams over all n-grams across them.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from seqcore._demo_training import train_for_seconds

PROMPTS = ["And God said", "The LORD is my", "In the beginning", "Blessed are the"]


class GruLanguageModel(nn.Module):
    """Embedding -> GRU -> vocabulary logits; ``forward(ids)`` gives
    (rows, length, vocab), which is all :func:`seqcore.generate` needs."""

    def __init__(self, vocab: int, width: int = 192) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.gru = nn.GRU(width, width, batch_first=True)
        self.head = nn.Linear(width, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.gru(self.embed(ids))
        return self.head(hidden)  # type: ignore[no-any-return]


def distinct(sequences: list[list[int]], n: int) -> float:
    """Distinct n-grams over all n-grams across ``sequences`` (1.0: none repeats)."""
    grams = [tuple(s[i : i + n]) for s in sequences for i in range(len(s) - n + 1)]
    return len(set(grams)) / max(len(grams), 1)


def train_model(ids: torch.Tensor, vocab: int, seconds: float, seed: int) -> GruLanguageModel:
    torch.manual_seed(seed)
    model = GruLanguageModel(vocab)
    optimizer = torch.optim.AdamW(model.parameters(), lr=4e-3)
    generator = torch.Generator().manual_seed(seed)
    length, batch = 48, 32

    def loss_of_next_batch() -> torch.Tensor:
        offsets = torch.randint(0, len(ids) - length - 1, (batch,), generator=generator)
        window = torch.stack([ids[o : o + length + 1] for o in offsets.tolist()])
        logits = model(window[:, :-1])
        return nn.functional.cross_entropy(logits.reshape(-1, vocab), window[:, 1:].reshape(-1))

    train_for_seconds(seconds, loss_of_next_batch, optimizer, reports=6)
    return model.eval()


def run_decode_stage(seconds: float = 30.0, seed: int = 0) -> None:
    import seqcore
    from seqcore.tokenize import BpeTrainer
    from seqcore.tokenize.corpus import kjv_verses

    verses = kjv_verses()
    tok = BpeTrainer(vocab_size=2000, special_tokens=["<|endoftext|>"], show_progress=False).train(
        verses
    )
    eos = tok.token_to_id("<|endoftext|>")
    stream = [t for ids in tok.encode_batch(verses[:12000]) for t in [*ids, eos]]
    print(f"BPE {tok.vocab_size} tokens; GRU language model on {len(stream)} tokens")
    model = train_model(torch.tensor(stream), tok.vocab_size, seconds, seed)

    searches = {
        "beam search": seqcore.BeamSearch(
            num_beams=8, num_return_sequences=8, max_new_tokens=16, eos_token_id=eos
        ),
        "diverse beam search": seqcore.DiverseBeamSearch(
            num_beams=8, num_return_sequences=8, max_new_tokens=16, eos_token_id=eos,
            num_groups=4, diversity_strength=1.5,
        ),
    }  # fmt: skip
    prompts = [tok.encode(p) for p in PROMPTS]
    print(f"\n{len(PROMPTS)} prompts, 8 beams, 8 sequences returned per prompt")
    for name, search in searches.items():
        start = time.perf_counter()
        out = seqcore.generate(model, prompts, search)
        took = time.perf_counter() - start
        per_prompt = [[h.tokens for h in item] for item in out.result.hypotheses]
        d1 = sum(distinct(s, 1) for s in per_prompt) / len(per_prompt)
        d2 = sum(distinct(s, 2) for s in per_prompt) / len(per_prompt)
        d3 = sum(distinct(s, 3) for s in per_prompt) / len(per_prompt)
        print(
            f"{name:>20}: distinct 1-grams {d1:.2f}, 2-grams {d2:.2f}, 3-grams {d3:.2f} "
            f"({took:.2f} s)"
        )
        for hyp in out.result.hypotheses[0][:3]:
            text = tok.decode(hyp.tokens, skip_special_tokens=True).replace("\n", " ")
            print(f"{'':>22}{PROMPTS[0]}{text!s}  [{hyp.score:.2f}]")
