"""Grid-tuning a fixed step: the cost a user pays today to make plain gradient descent work."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._minimize import minimize
from .._result import Result, stop_if_interrupted
from .._validate import integer, real
from ..monitor import DivergenceStop

__all__ = ["DEFAULT_STEP_GRID", "TunedStep", "tune_step"]

#: The one grid of fixed steps: decades from 1e-8 to 10, wide enough for every built-in
#: problem. :func:`tune_step`'s default, ``lfso bench``'s tuned methods and ``lfso demo``'s
#: grid-tuned GD all use it.
DEFAULT_STEP_GRID: tuple[float, ...] = tuple(float(s) for s in np.logspace(-8, 1, 10))


@dataclass
class TunedStep:
    """The best fixed step of a grid and what the whole grid cost.

    Attributes
    ----------
    step : float
        The best step: fewest gradient evaluations among converged runs, else the lowest
        ``||g|| / ||g0||`` reached by a run that did not blow up; where every run blew
        up, the one that reached the lowest (then ``step in failed``).
    result : Result
        The run with that step.
    total_njev : int
        Gradient evaluations spent on the whole grid: the tuning cost.
    runs : list of (step, Result)
    failed : set of float
        The steps whose run blew up (``f`` past the ``blowup`` guard, or not finite).
    """

    step: float
    result: Result
    total_njev: int
    runs: list[tuple[float, Result]] = field(repr=False)
    failed: set[float] = field(default_factory=set, repr=False)


class _Blowup(DivergenceStop):
    """:class:`~lfso.monitor.DivergenceStop` at ``blowup * max(|f0|, 1)``, with ``f0`` the
    run's value at ``x0`` read from its history at the first call (no evaluation of its
    own: the grid's gradients are its runs')."""

    def __init__(self, blowup: float) -> None:
        super().__init__(math.inf)
        self.blowup = blowup

    def __call__(self, intermediate_result: Any) -> None:
        if self.limit == math.inf:
            self.limit = self.blowup * max(abs(float(intermediate_result.history.f[0])), 1.0)
        super().__call__(intermediate_result)


def _accuracy(res: Result) -> float:
    """The lowest finite ``||g|| / ||g0||`` of a run (``inf`` if none is finite)."""
    h = res.history
    finite = np.isfinite(h.f) & np.isfinite(h.grad_norm)
    return float(np.min(h.grad_norm[finite] / h.grad_norm[0])) if finite.any() else math.inf


def step_grid(steps: Any, name: str) -> list[float]:
    """A grid of fixed steps as a list of floats, checked: a sequence or a 1-D array of
    finite steps > 0, at least one (a ``TypeError``/``ValueError`` naming ``name``)."""
    if isinstance(steps, np.ndarray) and steps.ndim == 1:
        steps = steps.tolist()
    if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence):
        raise TypeError(f"{name} must be a sequence of step sizes, got {steps!r}")
    if len(steps) == 0:
        raise ValueError(f"{name} must contain at least one step size, got {name}=[]")
    return [real(s, f"{name}[{i}]", low=0.0, low_open=True) for i, s in enumerate(steps)]


def tune_step(
    objective: Any,
    x0: Any,
    steps: Sequence[float] = DEFAULT_STEP_GRID,
    *,
    method: str = "gd",
    tol: float = 1e-8,
    max_iter: int = 10_000,
    blowup: float = 1e6,
    **options: Any,
) -> TunedStep:
    """Run fixed-step GD for each step of a grid and return the best with the grid's cost.

    A run whose ``f`` exceeds ``blowup * max(|f(x0)|, 1)`` is stopped and counted as failed
    (as is one that ends on a non-finite ``f`` or gradient). The best run: the converged run
    with the fewest gradients, else the lowest ``||g|| / ||g0||`` reached by a run that did
    not fail (ties: the first in the grid). ``lfso bench``'s tuned methods use this grid
    search too.

    Parameters
    ----------
    objective, x0, options
        As for :func:`lfso.minimize`.
    steps : sequence or array of float
        The grid, e.g. ``np.logspace(-4, 0, 9)``.
    method : str
        A method of :data:`lfso.METHODS` whose step size is the option ``step`` (``"gd"``,
        ``"nesterov"``).
    tol, max_iter
        Stopping tests of each run.
    blowup : float

    Raises
    ------
    KeyboardInterrupt
        Where a run of the grid was interrupted (that run's result as the exception's
        ``.result``): the grid stops there, as a grid with a run cut short measures nothing.

    Examples
    --------
    >>> import numpy as np, lfso
    >>> tuned = lfso.bench.tune_step(lfso.models.PowerSum(1), np.ones(3), steps=[0.1, 0.4, 2.0])
    >>> tuned.step
    0.4
    """
    steps = step_grid(steps, "steps")
    blowup = real(blowup, "blowup", low=0.0, low_open=True)
    for name, why in (("step", "each of steps="), ("callback", "its divergence guard")):
        if name in options:  # (the grid's own, passed to each run)
            raise TypeError(f"tune_step sets {name}= itself ({why}), got {name}={options[name]!r}")
    max_iter = integer(max_iter, "max_iter", low=0)
    # The runs record risks without warning (bad steps are the point of a grid); warnings
    # are not filtered: the process-wide filters are not this function's to change.
    monitor = options.pop("monitor", True)
    monitor = "quiet" if monitor is True else monitor
    runs: list[tuple[float, Result]] = []
    failed: set[float] = set()
    total = 0
    for step in steps:
        guard = _Blowup(blowup)
        res = minimize(
            objective,
            x0,
            method=method,
            step=step,
            tol=tol,
            max_iter=max_iter,
            callback=guard,
            monitor=monitor,
            **options,
        )
        # (a grid with a run cut short measures nothing)
        stop_if_interrupted(res, f"tune_step's run with step {step!r}")
        total += res.njev
        runs.append((float(step), res))
        last = res.history
        if guard.fired or not (math.isfinite(last.f[-1]) and math.isfinite(last.grad_norm[-1])):
            failed.add(float(step))

    def key(item: tuple[float, Result]) -> tuple[int, float]:
        step, res = item
        if step in failed:
            return (2, _accuracy(res))
        if res.success:
            return (0, res.njev)
        return (1, _accuracy(res))

    best_step, best = min(runs, key=key)
    return TunedStep(best_step, best, total, runs, failed)
