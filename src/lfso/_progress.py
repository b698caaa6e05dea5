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
            enabled = _terminal(self.stream) and not ProgressBar._open.get(id(self.stream))
        # (no stream to draw on: sys.stderr is None under pythonw and some embedders, or closed)
        enabled = bool(enabled) and _open_stream(self.stream)
        self.enabled, self.total, self.label = enabled, max(int(total), 1), label
        self._key = id(self.stream)
        if self.enabled:
            ProgressBar._open[self._key] = ProgressBar._open.get(self._key, 0) + 1
        self.done = 0
        self.start = time.perf_counter()
        self._last = 0.0
        self._status = ""
        self._drawn = True  # (whether the line shows the latest state)

    def update(self, n: int = 1, status: str = "") -> None:
        """Advance by ``n`` units and redraw (at most 10 times a second, and at the end)."""
        self.done += n
        if not self.enabled:
            return
        self._status, self._drawn = status, False
        now = time.perf_counter()
        if now - self._last < 0.1 and self.done < self.total:
            return
        self._draw(now)

    def _draw(self, now: float) -> None:
        self._last, self._drawn, status = now, True, self._status
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
        """Draw the latest state if it is not shown yet, and end the line (once)."""
        if self.enabled:
            if not self._drawn:
                self._draw(time.perf_counter())
            self.enabled = False
            self.stream.write("\n")
            self.stream.flush()
            left = ProgressBar._open.get(self._key, 1) - 1
            if left > 0:
                ProgressBar._open[self._key] = left
            else:
                ProgressBar._open.pop(self._key, None)


def _open_stream(stream: object) -> bool:
    """Whether ``stream`` can be written to (not ``None``, not closed)."""
    return stream is not None and not getattr(stream, "closed", False)


def _terminal(stream: object) -> bool:
    """Whether ``stream`` is a terminal (``False`` for ``None``, a stream without
    ``isatty`` and a closed one, whose ``isatty`` raises)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except (OSError, ValueError):
        return False
