"""Benchmark of seqcore.scan.linear against its floors and peers.

Run: ``python benches/scan_linear.py`` (after ``bash scripts/demo`` or
``bash scripts/test`` built seqcore). Prints a table of ratios measured in
this one run, on this machine:

* forward bandwidth at 12 bytes per element (read a, b; write h) against
  single-core memcpy bandwidth (numpy copy, counted as read + write);
  both with a preallocated output and with a freshly allocated one;
* backward time against forward time;
* against the plain torch loop it replaces, one thread each;
* two threads against one.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from _common import machine, median_seconds  # benches/ is on sys.path when run as a script

import seqcore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shape", type=int, nargs=3, default=(8, 4096, 1024))
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    shape, repeats = tuple(args.shape), args.repeats
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 1.0, size=shape).astype(np.float32)
    b = rng.standard_normal(size=shape).astype(np.float32)
    n = a.size
    out = np.empty_like(a)
    rows: list[tuple[str, str, str]] = []

    def add(name: str, value: str, note: str) -> None:
        rows.append((name, value, note))
        print(f"{name:<50} {value:>8}  {note}", flush=True)

    print(f"machine: {machine(f'numpy {np.__version__}')}")
    print(f"shape {shape} float32; median of {repeats} runs\n")

    copy_pre = median_seconds(lambda: np.copyto(out, a), repeats)
    copy_fresh = median_seconds(lambda: a.copy(), repeats)
    memcpy_pre = 2 * a.nbytes / copy_pre / 1e9
    memcpy_fresh = 2 * a.nbytes / copy_fresh / 1e9
    add("memcpy, preallocated destination", f"{memcpy_pre:.1f} GB/s", "read + write, 1 thread")
    add("memcpy, fresh destination (a.copy())", f"{memcpy_fresh:.1f} GB/s", "includes page faults")
    with ThreadPoolExecutor(2) as pool:
        halves = [
            (out[: len(out) // 2], a[: len(a) // 2]),
            (out[len(out) // 2 :], a[len(a) // 2 :]),
        ]

        def copy_in_two_threads() -> None:
            list(pool.map(lambda pair: np.copyto(*pair), halves))

        copy_two = median_seconds(copy_in_two_threads, repeats)
    add(
        "memcpy, 2 threads / 1 thread",
        f"{copy_pre / copy_two:.2f}x",
        "the machine's ceiling for memory-bound work at this size",
    )

    results: dict[int, dict[str, float]] = {}
    for threads in (1, 2):
        seqcore.set_num_threads(threads)
        fwd_pre = median_seconds(lambda: seqcore.scan.linear(a, b, out=out), repeats)
        fwd_fresh = median_seconds(lambda: seqcore.scan.linear(a, b), repeats)
        h = seqcore.scan.linear(a, b)
        bwd_fresh = median_seconds(lambda h=h: seqcore._core.linear_scan_backward(a, h, b), repeats)
        results[threads] = {"pre": fwd_pre, "fresh": fwd_fresh, "bwd": bwd_fresh}

    one = results[1]
    bw_pre = 12 * n / one["pre"] / 1e9
    bw_fresh = 12 * n / one["fresh"] / 1e9
    add(
        "forward, out= preallocated, 1 thread",
        f"{bw_pre:.1f} GB/s",
        f"{100 * bw_pre / memcpy_pre:.0f}% of memcpy (target >= 70%)",
    )
    add(
        "forward, fresh output, 1 thread",
        f"{bw_fresh:.1f} GB/s",
        f"{100 * bw_fresh / memcpy_fresh:.0f}% of fresh memcpy, "
        f"{100 * bw_fresh / memcpy_pre:.0f}% of preallocated memcpy",
    )
    add(
        "backward / forward, fresh outputs, 1 thread",
        f"{one['bwd'] / one['fresh']:.2f}x",
        "target <= 2x",
    )
    two = results[2]
    add("2 threads / 1 thread, out=", f"{one['pre'] / two['pre']:.2f}x", "target >= 1.7x")
    add(
        "2 threads / 1 thread, fresh output",
        f"{one['fresh'] / two['fresh']:.2f}x",
        "fresh pages are faulted in by the OS",
    )
    add("2 threads / 1 thread, backward", f"{one['bwd'] / two['bwd']:.2f}x", "")
    # A size whose arrays fit in the last-level cache: thread scaling
    # without the memory-bandwidth ceiling.
    small_shape = (16, 128, 512)
    sa, sb = a.reshape(-1)[: np.prod(small_shape)], b.reshape(-1)[: np.prod(small_shape)]
    sa, sb = sa.reshape(small_shape), sb.reshape(small_shape)
    small_out = np.empty_like(sa)
    per_thread = {}
    for threads in (1, 2):
        seqcore.set_num_threads(threads)
        per_thread[threads] = median_seconds(
            lambda: [seqcore.scan.linear(sa, sb, out=small_out) for _ in range(20)], repeats
        )
    add(
        f"2 threads / 1 thread, out=, {small_shape}",
        f"{per_thread[1] / per_thread[2]:.2f}x",
        "in cache: no bandwidth ceiling",
    )

    try:
        import torch
    except ImportError:
        print("\ntorch is not installed: skipping the torch loop comparison")
        return
    torch.set_num_threads(1)
    seqcore.set_num_threads(1)

    def torch_loop(ta: torch.Tensor, tb: torch.Tensor) -> torch.Tensor:
        # unbind, not ta[:, t]: the backward of one unbind is one stack,
        # while each slice's backward would materialise a full-size zero
        # gradient (time x the whole tensor).
        state, steps = torch.zeros_like(tb[:, 0]), []
        for a_t, b_t in zip(ta.unbind(1), tb.unbind(1), strict=True):
            state = a_t * state + b_t
            steps.append(state)
        return torch.stack(steps, dim=1)

    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    ref_fwd = median_seconds(lambda: torch_loop(ta, tb), 3)
    ours_fwd = median_seconds(lambda: seqcore.scan.linear(ta, tb), repeats)
    add(
        "vs torch loop, forward, 1 thread each",
        f"{ref_fwd / ours_fwd:.1f}x",
        f"torch {ref_fwd * 1e3:.0f} ms, seqcore {ours_fwd * 1e3:.1f} ms",
    )
    ga, gb = ta.clone().requires_grad_(), tb.clone().requires_grad_()
    ref_train = median_seconds(lambda: torch_loop(ga, gb).sum().backward(), 3)
    ours_train = median_seconds(lambda: seqcore.scan.linear(ga, gb).sum().backward(), repeats)
    add(
        "vs torch loop, forward + backward",
        f"{ref_train / ours_train:.1f}x",
        f"torch {ref_train * 1e3:.0f} ms, seqcore {ours_train * 1e3:.1f} ms (target >= 30x)",
    )
    small = (8, 4096, 64)
    sa, sb = torch.rand(small), torch.randn(small)
    ref_small = median_seconds(lambda: torch_loop(sa, sb), 3)
    ours_small = median_seconds(lambda: seqcore.scan.linear(sa, sb), repeats)
    add(
        f"vs torch loop, forward, {small}",
        f"{ref_small / ours_small:.0f}x",
        f"torch {ref_small * 1e3:.1f} ms, seqcore {ours_small * 1e3:.2f} ms",
    )
    sa.requires_grad_()
    sb.requires_grad_()
    ref_small = median_seconds(lambda: torch_loop(sa, sb).sum().backward(), 3)
    ours_small = median_seconds(lambda: seqcore.scan.linear(sa, sb).sum().backward(), repeats)
    add(
        f"vs torch loop, forward + backward, {small}",
        f"{ref_small / ours_small:.0f}x",
        f"torch {ref_small * 1e3:.1f} ms, seqcore {ours_small * 1e3:.2f} ms",
    )


if __name__ == "__main__":
    main()
