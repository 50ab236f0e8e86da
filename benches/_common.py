"""Helpers shared by the benchmark scripts: timing, machine line, plots."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def warm_times(fn: Callable[[], object], repeats: int) -> list[float]:
    """Wall times of ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls, after one warm-up call."""
    return statistics.median(warm_times(fn, repeats))


def paired_ratio(
    first: Callable[[], object],
    second: Callable[[], object],
    rounds: int,
    per_round: int = 3,
    before_first: Callable[[], object] = lambda: None,
    before_second: Callable[[], object] = lambda: None,
) -> tuple[float, float, float]:
    """Median times of ``first`` and ``second`` and the median of their
    per-round ratio (second / first), measured in alternating rounds.

    A ratio of two medians taken minutes apart moves with whatever else
    the machine does meanwhile (10-40% on a shared VM); timing the two
    side by side, round after round, cancels that drift. Each round runs
    ``before_*`` (e.g. to set a thread count) and one warm-up call, then
    ``per_round`` timed calls.
    """
    times: tuple[list[float], list[float]] = ([], [])
    ratios = []
    for _ in range(rounds):
        medians = []
        for fn, before, out in ((first, before_first, times[0]), (second, before_second, times[1])):
            before()
            these = warm_times(fn, per_round)
            out.extend(these)
            medians.append(statistics.median(these))
        ratios.append(medians[1] / medians[0])
    return statistics.median(times[0]), statistics.median(times[1]), statistics.median(ratios)


def machine(libraries: str) -> str:
    """One line naming the processor, the core count and ``libraries``."""
    model = "unknown cpu"
    try:
        with open("/proc/cpuinfo") as info:
            model = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    return f"{platform.machine()} {model}, {os.cpu_count()} cores, {libraries}"


def plot_times(
    path: Path,
    lengths: list[int],
    results: dict[str, list[float]],
    labels: dict[str, str],
    title: str,
) -> None:
    """Forward time against length, log-log, as a PNG (if matplotlib is there)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\nmatplotlib is not installed: no plot written")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, times in results.items():
        ax.loglog(lengths, [t * 1e3 for t in times], marker="o", label=labels[name])
    ax.set_xlabel("sequence length")
    ax.set_ylabel("forward time (ms), 1 thread")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"\nplot written to {path}")
