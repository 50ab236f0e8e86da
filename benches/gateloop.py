"""Benchmark of seqcore.scan.gateloop: the chunked mode against the plain
torch recurrence and the surrogate-attention form.

Run: ``python benches/gateloop.py`` (after ``maturin develop --release``
built seqcore). One thread for torch and for seqcore; batch 1, 4 heads,
``d_k = d_v = 32``, float32 (``--complex`` for complex64). Prints, per
length, the median time of each (forward, and forward plus backward) and
the ratios measured in this one run. Writes a plot of time against length
to ``docs/gateloop_bench.png`` when matplotlib is installed (it is not a
dependency).

* chunked: ``mode="chunked"``, chunks of 64; attention form inside a
  chunk, the state recurrence across chunks; Rust, forward and backward.
* recurrent: ``mode="recurrent"``, the O(L) scan in Rust, forward and
  backward.
* attention: ``mode="attention"``, the O(L^2) surrogate-attention form in
  Rust, forward and backward.
* torch loop: the recurrence one step at a time with autograd, as in a
  plain PyTorch implementation.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from _common import (
    machine,
    median_seconds,
    plot_times,
)  # benches/ is on sys.path when run as a script

import seqcore

MODES = ("chunked", "recurrent", "attention")
NAMES = (*MODES, "loop")


def torch_loop(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    batch, _, heads, d_k = q.shape
    state = q.new_zeros(batch, heads, d_k, v.shape[-1])
    ys = []
    for q_t, k_t, v_t, a_t in zip(q.unbind(1), k.unbind(1), v.unbind(1), a.unbind(1), strict=True):
        state = a_t.unsqueeze(-1) * state + k_t.unsqueeze(-1) * v_t.unsqueeze(-2)
        ys.append(torch.einsum("bhi,bhij->bhj", q_t, state))
    return torch.stack(ys, dim=1)


def run(name: str, args: tuple[torch.Tensor, ...]) -> torch.Tensor:
    if name == "loop":
        return torch_loop(*args)
    return seqcore.scan.gateloop(*args, mode=name)  # type: ignore[no-any-return]


def loss(y: torch.Tensor) -> torch.Tensor:
    return (y.real if y.is_complex() else y).sum()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--d", type=int, default=32, help="d_k = d_v")
    parser.add_argument("--lengths", type=int, nargs="+", default=[512, 1024, 2048, 4096, 8192])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--complex", action="store_true", help="complex64 instead of float32")
    parser.add_argument("--plot", type=Path, default=Path("docs/gateloop_bench.png"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    seqcore.set_num_threads(1)
    torch.manual_seed(0)
    dtype = torch.complex64 if args.complex else torch.float32
    print(f"machine: {machine(f'torch {torch.__version__}')}")
    print(
        f"{dtype}, batch 1, heads {args.heads}, d_k = d_v = {args.d}, chunk 64; 1 thread; "
        f"median of {args.repeats} runs\n"
    )
    header = (
        f"{'length':>6} | {'chunked':>8} {'recur':>8} {'attn':>8} {'loop':>8} | "
        f"{'loop/chunk':>10} {'attn/chunk':>10} {'chunk/recur':>11} | {'fwd+bwd: chunked':>16} "
        f"{'recur':>8} {'attn':>8} {'loop':>8} | {'loop/chunk':>10} {'attn/chunk':>10} "
        f"{'chunk/recur':>11}"
    )
    print("times in ms, forward unless marked")
    print(header)
    print("-" * len(header))
    results: dict[str, list[float]] = {name: [] for name in NAMES}
    for length in args.lengths:
        shape = (1, length, args.heads, args.d)
        q, k, v = (torch.randn(shape, dtype=dtype) / args.d**0.5 for _ in range(3))
        magnitude = torch.rand(shape).mul(0.5).add(0.5)
        a = magnitude.to(dtype) if not args.complex else torch.polar(magnitude, torch.rand(shape))
        inputs = tuple(x.requires_grad_() for x in (q, k, v, a))
        forward: dict[str, float] = {}
        train: dict[str, float] = {}
        for name in NAMES:
            with torch.no_grad():
                forward[name] = median_seconds(lambda n=name, x=inputs: run(n, x), args.repeats)
            train[name] = median_seconds(
                lambda n=name, x=inputs: loss(run(n, x)).backward(), args.repeats
            )
            results[name].append(forward[name])
        f, t = forward, train
        print(
            f"{length:>6} | {f['chunked'] * 1e3:>8.1f} {f['recurrent'] * 1e3:>8.1f} "
            f"{f['attention'] * 1e3:>8.1f} {f['loop'] * 1e3:>8.1f} | "
            f"{f['loop'] / f['chunked']:>9.1f}x {f['attention'] / f['chunked']:>9.1f}x "
            f"{f['chunked'] / f['recurrent']:>10.1f}x | "
            f"{t['chunked'] * 1e3:>16.1f} {t['recurrent'] * 1e3:>8.1f} "
            f"{t['attention'] * 1e3:>8.1f} {t['loop'] * 1e3:>8.1f} | "
            f"{t['loop'] / t['chunked']:>9.1f}x {t['attention'] / t['chunked']:>9.1f}x "
            f"{t['chunked'] / t['recurrent']:>10.1f}x",
            flush=True,
        )
    labels = {
        "chunked": "seqcore chunked (Rust)",
        "recurrent": "seqcore recurrent (Rust)",
        "attention": "seqcore attention (Rust)",
        "loop": "torch loop",
    }
    plot_times(
        args.plot, args.lengths, results, labels, "GateLoop, batch 1, 4 heads, d_k = d_v = 32"
    )


if __name__ == "__main__":
    main()
