"""The return on investment: the current rule's tuning and run against LFSO's run."""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

from ..result import History
from ..tuning import TunedStep
from ._targets import relative_target, to_target


@dataclass(frozen=True)
class TuningBudget:
    """The tuning effort a user states the current rule took (instead of a measured grid).

    ``seconds=None``: estimated from the gradients at the current rule's measured seconds
    per gradient on the task.
    """

    gradients: int
    seconds: float | None = None
    runs: int | None = None

    def __post_init__(self) -> None:
        if operator.index(self.gradients) < 0:
            raise ValueError(f"gradients must be >= 0, got {self.gradients!r}")
        if self.seconds is not None and not 0.0 <= self.seconds < math.inf:
            raise ValueError(f"seconds must be finite and >= 0, got {self.seconds!r}")


@dataclass(frozen=True)
class ReturnOnInvestment:
    """What LFSO saves, in gradients and seconds, each figure with where it came from.

    The *current approach* costs the tuning (the grid's other runs, or the stated budget)
    plus the tuned rule's run to the target; LFSO costs its own run to the target (no
    tuning). ``time_ratio`` is the first over the second in seconds, ``gradient_ratio`` in
    gradients; ``run_time_ratio`` leaves the tuning out.

    Attributes
    ----------
    target : float
        The ``f`` both must reach: the tuned rule's best ``f`` plus ``target_rtol`` of its
        decrease.
    tuning_gradients, tuning_seconds : int, float
    tuning_runs : int or None
    current_gradients, current_seconds : int, float or None
        The tuned (or current) rule to the target.
    lfso_gradients, lfso_seconds : int, float or None
        ``None`` when LFSO did not reach the target.
    sources : dict
        ``{"tuning_gradients": "measured: ..."}`` and so on for every figure: measured,
        stated or estimated, and how.
    """

    target: float
    tuning_gradients: int
    tuning_seconds: float
    tuning_runs: int | None
    current_gradients: int | None
    current_seconds: float | None
    lfso_gradients: int | None
    lfso_seconds: float | None
    sources: dict[str, str]

    @property
    def gradient_ratio(self) -> float | None:
        if self.current_gradients is None or not self.lfso_gradients:
            return None
        return (self.tuning_gradients + self.current_gradients) / self.lfso_gradients

    @property
    def time_ratio(self) -> float | None:
        if self.current_seconds is None or self.lfso_seconds is None or self.lfso_seconds <= 0:
            return None
        return (self.tuning_seconds + self.current_seconds) / self.lfso_seconds

    @property
    def run_time_ratio(self) -> float | None:
        if self.current_seconds is None or self.lfso_seconds is None or self.lfso_seconds <= 0:
            return None
        return self.current_seconds / self.lfso_seconds

    def lines(self) -> list[str]:
        """The figures a manager reads first, then where each comes from."""
        s = self.sources
        if self.time_ratio is not None:
            head = (
                f"time to target: {self.time_ratio:.3g}x faster with lfso "
                f"(tuning + run {self.tuning_seconds + (self.current_seconds or 0.0):.3g} s "
                f"vs lfso {self.lfso_seconds:.3g} s); gradients {self.gradient_ratio:.3g}x fewer"
            )
        elif self.lfso_gradients is None:
            head = f"time to target: lfso did not reach the target f <= {self.target:.6e}"
        else:
            head = "time to target: the current rule did not reach the target"
        runs = f" in {self.tuning_runs} runs" if self.tuning_runs is not None else ""
        cur = (
            f"{self.current_gradients} gradients, {self.current_seconds:.3g} s"
            if self.current_gradients is not None and self.current_seconds is not None
            else "not reached"
        )
        mine = (
            f"{self.lfso_gradients} gradients, {self.lfso_seconds:.3g} s"
            if self.lfso_gradients is not None and self.lfso_seconds is not None
            else "not reached"
        )
        return [
            head,
            f"  tuning the current rule: {self.tuning_gradients} gradients{runs}, "
            f"{self.tuning_seconds:.3g} s (gradients {s['tuning_gradients']}; seconds "
            f"{s['tuning_seconds']})",
            f"  tuned rule to f <= {self.target:.6e}: {cur} ({s['current']})",
            f"  lfso to the same target: {mine} ({s['lfso']}; no tuning)",
        ]


def return_on_investment(
    lfso_history: History,
    *,
    tuning: TunedStep | TuningBudget,
    current: History | None = None,
    target_rtol: float = 1e-6,
) -> ReturnOnInvestment:
    """Gradients and seconds saved, computed from run histories.

    Parameters
    ----------
    lfso_history : History
        LFSO's run on the task (a guarded run's combined history counts the fallback too).
    tuning : TunedStep or TuningBudget
        A measured grid (:func:`lfso.tune_step`; its chosen run is the tuned rule and the
        other runs are the tuning cost), or the user's stated budget.
    current : History, optional
        The current rule's run on the task; required with a :class:`TuningBudget`.
    target_rtol : float
        The target is the tuned rule's best ``f`` plus this fraction of its decrease.

    Examples
    --------
    >>> import numpy as np, lfso
    >>> model, x0 = lfso.models.PowerSum(2), np.ones(4)
    >>> tuned = lfso.tune_step(model, x0, steps=[1e-3, 1e-2, 1e-1], max_iter=500)
    >>> roi = lfso.rollout.return_on_investment(lfso.minimize(model, x0).history, tuning=tuned)
    >>> roi.tuning_gradients == sum(r.njev for s, r in tuned.runs if r is not tuned.result)
    True
    """
    sources: dict[str, str] = {}
    if isinstance(tuning, TunedStep):
        others = [r for _, r in tuning.runs if r is not tuning.result]
        tuning_gradients = sum(r.njev for r in others)
        tuning_seconds = float(sum(r.history.time[-1] for r in others))
        runs: int | None = len(others)
        current = tuning.result.history
        sources["tuning_gradients"] = (
            f"measured: the grid's {len(others)} other step sizes, chosen step {tuning.step:g}"
        )
        sources["tuning_seconds"] = "measured"
    elif isinstance(tuning, TuningBudget):
        if current is None:
            raise TypeError("a stated TuningBudget needs current=History of the current rule")
        tuning_gradients, runs = int(tuning.gradients), tuning.runs
        sources["tuning_gradients"] = "stated by the user"
        if tuning.seconds is not None:
            tuning_seconds, sources["tuning_seconds"] = float(tuning.seconds), "stated"
        else:
            per = float(current.time[-1]) / max(float(current.njev[-1]), 1.0)
            tuning_seconds = tuning_gradients * per
            sources["tuning_seconds"] = (
                f"estimated: stated gradients x the current rule's measured {per:.3g} s "
                "per gradient"
            )
    else:
        raise TypeError(f"tuning must be a TunedStep or a TuningBudget, got {tuning!r}")
    target = relative_target(current, target_rtol)
    cur_hit, mine = to_target(current, target), to_target(lfso_history, target)
    sources["current"] = "measured"
    sources["lfso"] = "measured"
    return ReturnOnInvestment(
        target=target,
        tuning_gradients=int(tuning_gradients),
        tuning_seconds=tuning_seconds,
        tuning_runs=runs,
        current_gradients=cur_hit[1] if cur_hit else None,
        current_seconds=cur_hit[2] if cur_hit else None,
        lfso_gradients=mine[1] if mine else None,
        lfso_seconds=mine[2] if mine else None,
        sources=sources,
    )
