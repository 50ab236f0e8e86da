"""The demo stages' training loop: fixed wall-clock time, a progress table."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def train_for_seconds(
    seconds: float,
    loss_of_next_batch: Callable[[], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    reports: int = 8,
) -> float:
    """Steps ``optimizer`` on ``loss_of_next_batch()`` for ``seconds``,
    printing step, time and loss about ``reports`` times; returns the last loss."""
    print(f"{'step':>6} {'seconds':>8} {'loss':>7}")
    start, step, next_report, loss_value = time.perf_counter(), 0, 0.0, float("nan")
    while (elapsed := time.perf_counter() - start) < seconds:
        loss = loss_of_next_batch()
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        step, loss_value = step + 1, float(loss.detach())
        if elapsed >= next_report:
            print(f"{step:>6} {elapsed:>8.1f} {loss_value:>7.3f}", flush=True)
            next_report += max(3.0, seconds / reports)
    print(f"{step:>6} {time.perf_counter() - start:>8.1f} {loss_value:>7.3f}")
    return loss_value
