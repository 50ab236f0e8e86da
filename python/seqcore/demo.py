"""``seqcore demo``: seqcore's main job at this stage, end to end on CPU.

Stage 2 (a Mamba-style model that generates token by token) is in
:mod:`seqcore.demo_mamba`, stage 3 (tokenization) in
:mod:`seqcore.demo_tokenize`, stage 4 (beam and diverse beam search) in
:mod:`seqcore.demo_decode`, stage 5 (CRFs) in :mod:`seqcore.demo_crf`;
stage 1 is below.

1. Fits a small sequence model built from :class:`seqcore.nn.LRU` layers to
   a generated task: reproduce the input signal delayed by ``DELAY`` steps,
   which a model can only solve by carrying memory through its recurrence.
   The loss is printed as it goes down.
2. Times ``seqcore.scan.linear`` against the plain torch loop it replaces,
   forward and backward, one thread each, and prints the ratio.
"""

from __future__ import annotations

import time

DELAY = 12
LENGTH = 128
BATCH = 32
D_MODEL = 32


def make_batch(
    generator: object, batch: int = BATCH, length: int = LENGTH
) -> tuple[object, object]:
    import torch

    assert isinstance(generator, torch.Generator)
    x = torch.randn(batch, length, 1, generator=generator)
    target = torch.zeros_like(x)
    target[:, DELAY:] = x[:, :-DELAY]
    return x, target


def build_model(seed: int) -> object:
    import torch
    from torch import nn

    from seqcore.nn import LRU

    torch.manual_seed(seed)

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = nn.LayerNorm(D_MODEL)
            self.lru = LRU(D_MODEL, d_state=64, r_min=0.5, r_max=0.99, max_phase=3.14)
            self.mlp = nn.Sequential(
                nn.Linear(D_MODEL, 2 * D_MODEL), nn.GELU(), nn.Linear(2 * D_MODEL, D_MODEL)
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = x + self.lru(self.norm(x))
            return x + self.mlp(x)  # type: ignore[no-any-return]

    return nn.Sequential(nn.Linear(1, D_MODEL), Block(), Block(), nn.Linear(D_MODEL, 1))


def train(seconds: float, seed: int) -> tuple[float, float]:
    import torch

    model = build_model(seed)
    assert isinstance(model, torch.nn.Module)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    eval_x, eval_y = make_batch(torch.Generator().manual_seed(seed + 1), batch=256)
    assert isinstance(eval_x, torch.Tensor) and isinstance(eval_y, torch.Tensor)

    def evaluate() -> float:
        with torch.no_grad():
            return float(torch.nn.functional.mse_loss(model(eval_x), eval_y))

    first = evaluate()
    print(f"task: output the input delayed by {DELAY} steps (batch {BATCH}, length {LENGTH})")
    print(
        f"model: 2 LRU blocks, d_model {D_MODEL}, {sum(p.numel() for p in model.parameters())} "
        "parameters"
    )
    print(f"{'step':>6} {'seconds':>8} {'eval MSE':>9}")
    print(f"{0:>6} {0.0:>8.1f} {first:>9.4f}")
    start, step, next_report = time.perf_counter(), 0, 5.0
    while (elapsed := time.perf_counter() - start) < seconds:
        x, y = make_batch(generator)
        assert isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        step += 1
        if elapsed >= next_report:
            print(f"{step:>6} {elapsed:>8.1f} {evaluate():>9.4f}", flush=True)
            next_report += max(5.0, seconds / 12)
    last = evaluate()
    print(f"{step:>6} {time.perf_counter() - start:>8.1f} {last:>9.4f}")
    return first, last


def compare_scan_speed() -> None:
    import torch

    import seqcore

    def reference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        # unbind: one stack in the backward pass, not a full-size zero
        # gradient per sliced step.
        h, steps = torch.zeros_like(b[:, 0]), []
        for a_t, b_t in zip(a.unbind(1), b.unbind(1), strict=True):
            h = a_t * h + b_t
            steps.append(h)
        return torch.stack(steps, dim=1)

    def timed(fn: object, repeats: int = 3) -> float:
        assert callable(fn)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        return best

    shape = (8, 2048, 256)
    a = torch.rand(shape).requires_grad_()
    b = torch.randn(shape).requires_grad_()
    threads, torch_threads = seqcore.get_num_threads(), torch.get_num_threads()
    seqcore.set_num_threads(1)
    torch.set_num_threads(1)
    try:
        ours = timed(lambda: seqcore.scan.linear(a, b).sum().backward())  # type: ignore[no-untyped-call]
        theirs = timed(lambda: reference(a, b).sum().backward(), repeats=2)  # type: ignore[no-untyped-call]
    finally:
        seqcore.set_num_threads(threads)
        torch.set_num_threads(torch_threads)
    print(
        f"scan {shape} float32, forward + backward, one thread: seqcore {ours * 1e3:.1f} ms, "
        f"torch loop {theirs * 1e3:.1f} ms -> seqcore is {theirs / ours:.0f}x faster"
    )


def run_demo(seconds: float = 60.0, seed: int = 0) -> int:
    from seqcore.demo_mamba import run_mamba_stage

    print("== seqcore demo, stage 1: an LRU model on CPU")
    first, last = train(seconds, seed)
    print(f"eval MSE {first:.4f} -> {last:.4f} ({first / max(last, 1e-12):.1f}x lower)")
    compare_scan_speed()
    print("\n== stage 2: a Mamba-style model (SelectiveSSM), trained, then generating")
    run_mamba_stage(seconds / 2, seed)
    from seqcore.demo_tokenize import run_tokenizer_stage

    print("\n== stage 3: tokenization (BPE + multi-word tokens) on the bundled corpus")
    run_tokenizer_stage()
    from seqcore.demo_decode import run_decode_stage

    print("\n== stage 4: beam search and diverse beam search from a small language model")
    run_decode_stage(seconds / 2, seed)
    from seqcore.demo_crf import run_crf_stage

    print("\n== stage 5: sequence labelling, first-order CRF against an SPN higher-order CRF")
    run_crf_stage(seed=seed)
    return 0
