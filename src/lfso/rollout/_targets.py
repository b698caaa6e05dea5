"""Targets in ``f`` and when a run's history first reaches them."""

from __future__ import annotations

import numpy as np

from .._result import History


def to_target(history: History, target: float) -> tuple[int, int, float] | None:
    """``(row, gradients, seconds)`` at the first row of ``history`` with ``f <= target``.

    ``None`` if the run never reached it. Gradients and seconds are the history's own
    ``njev`` and ``time`` columns at that row.
    """
    f = history.f
    hits = np.nonzero(f <= target)[0]
    if hits.size == 0:
        return None
    row = int(hits[0])
    return row, int(history.njev[row]), float(history.time[row])


def relative_target(history: History, rtol: float) -> float:
    """All but ``rtol`` of the decrease ``f0 - min f`` the run achieved."""
    f = history.f
    finite = f[np.isfinite(f)]
    best = float(finite.min()) if finite.size else float(f[0])
    return best + rtol * max(float(f[0]) - best, 0.0)
