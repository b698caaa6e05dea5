"""A dependency-free progress bar: on by default only when the stream is a terminal."""

from __future__ import annotations

import sys
import time
from typing import IO

# Internal: the progress bar of lfso.minimize(progress=True) and the CLI.
__all__ = []


class ProgressBar:
    """Single-line progress on a stream (``stderr`` by default).

    Parameters
    ----------
    total : int
        Number of units of work.
    label : str
    enabled : bool or None
        ``None``: only when ``stream.isatty()`` (so silent in tests, CI and pipes) and no
        other bar is open on the stream: the runs inside ``lfso bench`` or ``lfso demo`` leave
        the overall bar alone instead of overwriting its line.
    stream : file-like, optional
    """

    #: Streams (by id) with an enabled bar open, and how many.
    _open: dict[int, int] = {}  # noqa: RUF012 - shared on purpose

    def __init__(
        self,
        total: int,
        label: str = "",
        *,
        enabled: bool | None = None,
        stream: IO[str] | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty()) and not ProgressBar._open.get(id(self.stream))
        self.enabled, self.total, self.label = bool(enabled), max(int(total), 1), label
        self._key = id(self.stream)
        if self.enabled:
            ProgressBar._open[self._key] = ProgressBar._open.get(self._key, 0) + 1
        self.done = 0
        self.start = time.perf_counter()
        self._last = 0.0

    def update(self, n: int = 1, status: str = "") -> None:
        """Advance by ``n`` units and redraw (at most 10 times a second, and at the end)."""
        self.done += n
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last < 0.1 and self.done < self.total:
            return
        self._last = now
        frac = min(self.done / self.total, 1.0)
        width = 24
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        elapsed = now - self.start
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        line = (
            f"\r{self.label} [{bar}] {self.done}/{self.total} {elapsed:5.0f}s <{eta:4.0f}s {status}"
        )
        self.stream.write(line[:120].ljust(120))
        self.stream.flush()

    def close(self) -> None:
        """End the line (once)."""
        if self.enabled:
            self.enabled = False
            self.stream.write("\n")
            self.stream.flush()
            left = ProgressBar._open.get(self._key, 1) - 1
            if left > 0:
                ProgressBar._open[self._key] = left
            else:
                ProgressBar._open.pop(self._key, None)
