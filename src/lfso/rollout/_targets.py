"""Targets in ``f`` and when a run's history first reaches them."""

from __future__ import annotations

import math

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


def relative_target(history: History, rtol: float, name: str) -> float:
    """All but ``rtol`` of the decrease ``f0 - min f`` the run achieved; a ``ValueError``
    naming ``name`` where its start ``f0`` is not finite (a decrease from it means nothing,
    and a run of lfso never starts there)."""
    f = history.f
    if not np.isfinite(f[0]):
        raise ValueError(
            f"{name}'s history starts at f0 = {float(f[0])!r}: the target is measured from a "
            "finite start (all but a fraction of the decrease from f0); pass the history of "
            "a run that started where f is finite"
        )
    finite = f[np.isfinite(f)]
    best = float(finite.min()) if finite.size else float(f[0])
    return best + rtol * max(float(f[0]) - best, 0.0)


def check_same_start(first: History, second: History, names: tuple[str, str]) -> None:
    """A ``ValueError`` naming both values where the two runs' start ``f0`` differ by more
    than rounding (a relative ``1e-5``, float32's rounding of a sum included): runs from
    different starts have no common target, and one that starts below it reaches it at
    its first gradient."""
    a, b = float(first.f[0]), float(second.f[0])
    if a == b or math.isclose(a, b, rel_tol=_SAME_START_RTOL):
        return
    raise ValueError(
        f"{names[0]} starts at f0 = {a!r} and {names[1]} at f0 = {b!r}: the runs must start "
        f"from the same point (their f0 equal to a relative {_SAME_START_RTOL:g}) to be "
        "compared; pass the histories of runs from the same x0"
    )


#: How far apart two runs' ``f0`` may be and still count as the same start (rounding).
_SAME_START_RTOL = 1e-5
