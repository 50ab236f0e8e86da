"""The Mamba stage of ``seqcore demo``: a small language model built from
:class:`seqcore.nn.SelectiveSSM` blocks learns arithmetic sequences
(``x_{t+1} = x_t + k mod V`` with ``k`` drawn per sequence, so it must infer
``k`` from context), then generates token by token with the recurrent
:meth:`~seqcore.nn.SelectiveSSM.step` mode, which is checked against the
full-sequence forward pass."""

from __future__ import annotations

import torch
from torch import nn

from seqcore._demo_training import train_for_seconds
from seqcore.nn import SelectiveSSM

VOCAB = 16
LENGTH = 48
BATCH = 32


def make_batch(generator: torch.Generator, batch: int = BATCH) -> torch.Tensor:
    start = torch.randint(0, VOCAB, (batch, 1), generator=generator)
    stride = torch.randint(1, VOCAB, (batch, 1), generator=generator)
    return (start + stride * torch.arange(LENGTH)) % VOCAB


class TinyMamba(nn.Module):
    def __init__(self, d_model: int = 32, layers: int = 2) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, d_model)
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(layers))
        self.mixers = nn.ModuleList(SelectiveSSM(d_model, d_state=16) for _ in range(layers))
        self.head = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, VOCAB))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        for norm, mixer in zip(self.norms, self.mixers, strict=True):
            x = x + mixer(norm(x))
        return self.head(x)  # type: ignore[no-any-return]

    def step(self, token: torch.Tensor, states: list[tuple[torch.Tensor, torch.Tensor]]
             ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:  # fmt: skip
        x = self.embed(token)
        new_states = []
        for norm, mixer, state in zip(self.norms, self.mixers, states, strict=True):
            assert isinstance(mixer, SelectiveSSM)
            y, state = mixer.step(norm(x), state)
            x = x + y
            new_states.append(state)
        return self.head(x), new_states


def run_mamba_stage(seconds: float, seed: int) -> None:
    torch.manual_seed(seed)
    model = TinyMamba()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"task: continue x_t+1 = x_t + k (mod {VOCAB}), k unknown to the model; "
          f"{parameters} parameters, 2 SelectiveSSM blocks")  # fmt: skip

    def loss_of_next_batch() -> torch.Tensor:
        tokens = make_batch(generator)
        logits = model(tokens[:, :-1])
        return nn.functional.cross_entropy(logits.reshape(-1, VOCAB), tokens[:, 1:].reshape(-1))

    train_for_seconds(seconds, loss_of_next_batch, optimizer)

    # Generate step by step from 6-token prompts, then compare the step
    # mode's logits with one full forward pass over the generated text.
    prompts = make_batch(torch.Generator().manual_seed(seed + 1), batch=4)[:, :6]
    with torch.no_grad():
        states = [
            m.initial_state(len(prompts)) for m in model.mixers if isinstance(m, SelectiveSSM)
        ]
        tokens, step_logits = prompts[:, :1], []
        for t in range(LENGTH - 1):
            logits, states = model.step(tokens[:, t], states)
            step_logits.append(logits)
            following = prompts[:, t + 1] if t + 1 < prompts.shape[1] else logits.argmax(-1)
            tokens = torch.cat([tokens, following[:, None]], dim=1)
        full_logits = model(tokens[:, :-1])
    gap = (torch.stack(step_logits, dim=1) - full_logits).abs().max().item()
    stride = (prompts[:, 1] - prompts[:, 0]) % VOCAB
    expected = (prompts[:, :1] + stride[:, None] * torch.arange(LENGTH)) % VOCAB
    accuracy = (tokens[:, 6:] == expected[:, 6:]).float().mean().item()
    for row in tokens[:2]:
        print("generated:", " ".join(f"{int(t):>2}" for t in row[:24]), "...")
    print(f"generated tokens correct: {accuracy:.0%}; step-by-step vs full forward: "
          f"max |logit difference| = {gap:.1e}")  # fmt: skip
