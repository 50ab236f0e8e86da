"""Benchmark of seqcore.scan.ema (Mega's damped EMA): scan mode, FFT
convolution mode, and the plain torch loop they replace.

Run: ``python benches/ema.py`` (after ``bash scripts/test`` or
``maturin develop --release`` built seqcore). One thread for torch and for
seqcore. Prints, per length, the median time of each (forward, and forward
plus backward) and the ratios measured in this one run. Writes a plot of
time against length to ``docs/ema_bench.png`` when matplotlib is installed
(it is not a dependency).

* scan: ``seqcore.scan.linear`` over a ``(batch, time, dim * ndim)`` state;
  ``O(time)``, but it materialises gates, inputs and states ``ndim`` times
  the size of ``x``.
* conv: the kernel from ``seqcore.scan.ssm_kernel`` (Rust, float64 inside),
  applied with ``torch.fft`` at ``2 * time``; ``O(time log time)`` on arrays
  the size of ``x``.
* torch loop: one step at a time with autograd, as in a plain PyTorch
  implementation.
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

MODES = ("scan", "conv")


def torch_loop_ema(
    x: torch.Tensor,
    alpha: torch.Tensor,
    delta: torch.Tensor,
    beta: torch.Tensor,
    gamma: torch.Tensor,
) -> torch.Tensor:
    p = torch.sigmoid(alpha)
    q = 1 - p * torch.sigmoid(delta)
    weight = p * beta
    h = x.new_zeros(x.shape[0], *alpha.shape)
    steps = []
    for x_t in x.unbind(1):
        h = weight * x_t.unsqueeze(-1) + q * h
        steps.append(torch.einsum("bdj,dj->bd", h, gamma))
    return torch.stack(steps, dim=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--ndim", type=int, default=16)
    parser.add_argument("--lengths", type=int, nargs="+", default=[512, 1024, 2048, 4096, 8192])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--plot", type=Path, default=Path("docs/ema_bench.png"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    seqcore.set_num_threads(1)
    torch.manual_seed(0)
    dim, ndim = args.dim, args.ndim
    params = [
        (torch.randn(dim, ndim) * 0.2).requires_grad_(),
        (torch.randn(dim, ndim) * 0.2).requires_grad_(),
        (torch.randn(dim, ndim) * 0.02 + 1).requires_grad_(),
        torch.randn(dim, ndim).requires_grad_(),
    ]
    print(f"machine: {machine(f'torch {torch.__version__}')}")
    print(
        f"float32, batch {args.batch}, dim {dim}, ndim {ndim}; 1 thread; "
        f"median of {args.repeats} runs (torch loop: 3)\n"
    )
    header = (
        f"{'length':>6} | {'scan':>8} {'conv':>8} {'loop':>8} | {'loop/scan':>9} "
        f"{'loop/conv':>9} {'scan/conv':>9} | {'fwd+bwd: scan':>13} {'conv':>8} {'loop':>8} | "
        f"{'loop/scan':>9} {'loop/conv':>9} {'scan/conv':>9}"
    )
    print("times in ms, forward unless marked")
    print(header)
    print("-" * len(header))
    results: dict[str, list[float]] = {"scan": [], "conv": [], "loop": []}
    for length in args.lengths:
        x = torch.randn(args.batch, length, dim, requires_grad=True)
        forward: dict[str, float] = {}
        train: dict[str, float] = {}
        with torch.no_grad():
            for mode in MODES:
                forward[mode] = median_seconds(
                    lambda mode=mode, x=x: seqcore.scan.ema(x, *params, mode=mode), args.repeats
                )
            forward["loop"] = median_seconds(lambda x=x: torch_loop_ema(x, *params), 3)
        for mode in MODES:
            train[mode] = median_seconds(
                lambda mode=mode, x=x: seqcore.scan.ema(x, *params, mode=mode).sum().backward(),
                args.repeats,
            )
        train["loop"] = median_seconds(lambda x=x: torch_loop_ema(x, *params).sum().backward(), 3)
        for name in results:
            results[name].append(forward[name])
        f, t = forward, train
        print(
            f"{length:>6} | {f['scan'] * 1e3:>8.2f} {f['conv'] * 1e3:>8.2f} "
            f"{f['loop'] * 1e3:>8.1f} | {f['loop'] / f['scan']:>8.1f}x "
            f"{f['loop'] / f['conv']:>8.1f}x {f['scan'] / f['conv']:>8.2f}x | "
            f"{t['scan'] * 1e3:>13.2f} {t['conv'] * 1e3:>8.2f} {t['loop'] * 1e3:>8.1f} | "
            f"{t['loop'] / t['scan']:>8.1f}x {t['loop'] / t['conv']:>8.1f}x "
            f"{t['scan'] / t['conv']:>8.2f}x",
            flush=True,
        )
    labels = {"scan": "seqcore scan", "conv": "seqcore FFT conv", "loop": "torch loop"}
    plot_times(args.plot, args.lengths, results, labels, "Mega EMA")


if __name__ == "__main__":
    main()
