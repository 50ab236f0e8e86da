"""A minimal progress bar on stderr (no dependency)."""

from __future__ import annotations

import sys
import time

#: Seconds between redraws on a terminal.
TERMINAL_INTERVAL = 0.1
#: Seconds between lines when stderr is not a terminal (a log file, a pipe).
LOG_INTERVAL = 30.0


def _is_terminal() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty is not None and isatty())


class Progress:
    """Prints ``label: done/total (pct) elapsed`` on stderr.

    Shown when ``enabled`` is True, or when None and stderr is a terminal.
    On a terminal the line is redrawn in place; elsewhere (a log) a line is
    written every :data:`LOG_INTERVAL` seconds. :meth:`close` always shows
    the last state, so a run that ends early ends on what it reached.
    """

    def __init__(self, label: str, total: int, enabled: bool | None = None, unit: str = "") -> None:
        self.label = label
        self.total = max(total, 0)
        self.unit = unit
        self.terminal = _is_terminal()
        self.enabled = self.terminal if enabled is None else enabled
        self.start = time.perf_counter()
        self.last_draw = self.start if not self.terminal else 0.0
        self.done = 0
        self.drawn = False  # whether the current state is on the screen

    def update(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = total
        self.done = done
        self.drawn = False
        if not self.enabled:
            return
        now = time.perf_counter()
        interval = TERMINAL_INTERVAL if self.terminal else LOG_INTERVAL
        if now - self.last_draw < interval and not (self.terminal and done >= self.total):
            return
        self._draw(now)

    def _draw(self, now: float) -> None:
        self.last_draw = now
        self.drawn = True
        pct = f" ({100 * self.done / self.total:5.1f}%)" if self.total else ""
        of = f"/{self.total}" if self.total else ""
        line = f"{self.label}: {self.done}{of}{self.unit}{pct} {now - self.start:6.1f}s"
        sys.stderr.write(f"\r{line}" if self.terminal else f"{line}\n")
        sys.stderr.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        if not self.drawn:
            self._draw(time.perf_counter())
        if self.terminal:
            sys.stderr.write("\n")
        sys.stderr.flush()
