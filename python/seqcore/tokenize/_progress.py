"""A minimal progress bar on stderr (no dependency)."""

from __future__ import annotations

import sys
import time


class Progress:
    """Prints ``label: done/total (pct) elapsed`` on one line of stderr.

    Shown when ``enabled`` is True, or when None and stderr is a terminal.
    """

    def __init__(self, label: str, total: int, enabled: bool | None = None, unit: str = "") -> None:
        self.label = label
        self.total = max(total, 0)
        self.unit = unit
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.start = time.perf_counter()
        self.last_draw = 0.0

    def update(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = total
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self.last_draw < 0.1 and done < self.total:
            return
        self.last_draw = now
        pct = f" ({100 * done / self.total:5.1f}%)" if self.total else ""
        of = f"/{self.total}" if self.total else ""
        sys.stderr.write(f"\r{self.label}: {done}{of}{self.unit}{pct} {now - self.start:6.1f}s")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
