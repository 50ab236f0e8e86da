"""Helpers shared by the benchmark scripts: timing, machine line, plots."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
