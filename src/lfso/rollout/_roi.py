"""The return on investment: the current rule's tuning and run against LFSO's run."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .._result import History
from .._validate import integer, nonnegative, real
from ..bench._tuning import TunedStep
from ._targets import check_same_start, relative_target, to_target


@dataclass(frozen=True)
class TuningBudget:
    """The tuning effort a user states the current rule took (instead of a measured grid).

    ``seconds=None``: estimated from the gradients at the current rule's measured seconds
    per gradient on the task.

    Attributes
    ----------
    gradients : int >= 0
    seconds : float >= 0 or None
    runs : int >= 0 or None
    """

    gradients: int
    seconds: float | None = None
    runs: int | None = None

    def __post_init__(self) -> None:
        integer(self.gradients, "gradients", low=0)
        if self.seconds is not None:
            nonnegative(self.seconds, "seconds")
        if self.runs is not None:
            integer(self.runs, "runs", low=0)


@dataclass(frozen=True)
class ReturnOnInvestment:
    """What LFSO saves, in gradients and seconds, each figure with where it came from.

    The *current approach* costs the tuning (the grid's other runs, or the stated budget;
    nothing where the current step is already the grid's best) plus the tuned rule's run to
    the target; LFSO costs its own run to the target (no tuning). ``time_ratio`` is the
    first over the second in seconds, ``gradient_ratio`` in gradients; ``run_time_ratio``
    and ``run_gradient_ratio`` leave the tuning out. A ratio below 1 means LFSO is slower
    (or needs more gradients); :meth:`lines` says so in words.

    Attributes
    ----------
    target : float
        The ``f`` both must reach: the tuned rule's best ``f`` plus ``target_rtol`` of its
        decrease.
    tuning_gradients, tuning_seconds : int, float
        The tuning charged to the current approach (0 where it was already tuned).
    tuning_runs : int or None
    current_gradients, current_seconds : int, float or None
        The tuned (or current) rule to the target.
    lfso_gradients, lfso_seconds : int, float or None
        ``None`` when LFSO did not reach the target.
    sources : dict
        ``{"tuning_gradients": "measured: ..."}`` and so on for every figure: measured,
        stated or estimated, and how.
    current_stalled : bool
        The current (or tuned) rule never went below its start ``f0`` (it diverged at
        once, or ran no step): its target is ``f0``, which every run holds at its start,
        so there is no time to target to compare; the ratios are then ``None`` and
        :meth:`lines` says so.
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
    current_stalled: bool = False

    def _seconds(self) -> tuple[float, float] | None:
        """The current rule's and lfso's seconds to the target, where a ratio means something."""
        cur, mine = self.current_seconds, self.lfso_seconds
        if self.current_stalled or cur is None or mine is None or mine <= 0:
            return None
        return cur, mine

    def _gradients(self) -> tuple[int, int] | None:
        """The current rule's and lfso's gradients to the target, where a ratio means something."""
        cur, mine = self.current_gradients, self.lfso_gradients
        if self.current_stalled or cur is None or not mine:
            return None
        return cur, mine

    @property
    def gradient_ratio(self) -> float | None:
        g = self._gradients()
        return None if g is None else (self.tuning_gradients + g[0]) / g[1]

    @property
    def time_ratio(self) -> float | None:
        t = self._seconds()
        return None if t is None else (self.tuning_seconds + t[0]) / t[1]

    @property
    def run_time_ratio(self) -> float | None:
        t = self._seconds()
        return None if t is None else t[0] / t[1]

    @property
    def run_gradient_ratio(self) -> float | None:
        g = self._gradients()
        return None if g is None else g[0] / g[1]

    @property
    def tuning_charged(self) -> bool:
        """Whether any tuning cost counts against the current approach."""
        return self.tuning_gradients > 0 or self.tuning_seconds > 0.0

    def lines(self) -> list[str]:
        """The figures a manager reads first, then where each comes from.

        The first line compares the runs to the target (LFSO's against the tuned rule's,
        in seconds and gradients: ``faster`` or ``slower``, ``fewer`` or ``more``) and,
        where tuning is charged, the current approach as a whole (tuning plus run).
        """
        s = self.sources
        cur_g, cur_s = self.current_gradients, self.current_seconds
        my_g, my_s = self.lfso_gradients, self.lfso_seconds
        if self.current_stalled:
            head = (
                f"time to target: not measured: the current rule never went below its start "
                f"f0 = {self.target:.6e}, so its target is f0, held by every run at its start"
            )
        elif my_g is None or my_s is None:
            head = f"time to target: lfso did not reach the target f <= {self.target:.6e}"
        elif cur_g is None or cur_s is None:
            head = "time to target: the current rule did not reach the target"
        else:
            pace = _pace(cur_s, my_s, "faster", "slower")
            runs = (
                f"lfso {pace} {'as' if pace.startswith('about') else 'than'} the tuned rule's run "
                f"({my_s:.3g} s vs {cur_s:.3g} s) with "
                f"{_pace(cur_g, my_g, 'fewer', 'more')} gradients ({my_g} vs {cur_g})"
            )
            if self.tuning_charged:
                total_s = self.tuning_seconds + cur_s
                total_g = self.tuning_gradients + cur_g
                head = (
                    f"time to target: {_pace(total_s, my_s, 'faster', 'slower')} with lfso "
                    f"counting the tuning (tuning + run {total_s:.3g} s vs lfso {my_s:.3g} s; "
                    f"{_pace(total_g, my_g, 'fewer', 'more')} gradients); the runs alone: "
                    f"{runs}"
                )
            else:
                head = f"time to target: {runs}; no tuning charged"
        n = self.tuning_runs
        count = f" in {n} run{'' if n == 1 else 's'}" if n is not None else ""
        if self.current_stalled:
            cur = "never went below its start"
        elif cur_g is not None and cur_s is not None:
            cur = f"{cur_g} gradients, {cur_s:.3g} s"
        else:
            cur = "not reached"
        mine = (
            f"{my_g} gradients, {my_s:.3g} s"
            if my_g is not None and my_s is not None
            else "not reached"
        )
        charged = (
            f"{self.tuning_gradients} gradients{count}, {self.tuning_seconds:.3g} s"
            if self.tuning_charged
            else "none charged"
        )
        return [
            head,
            f"  tuning the current rule: {charged} (gradients {s['tuning_gradients']}; "
            f"seconds {s['tuning_seconds']})",
            f"  tuned rule to f <= {self.target:.6e}: {cur} ({s['current']})",
            f"  lfso to the same target: {mine} ({s['lfso']}; no tuning)",
        ]


def _pace(theirs: float, ours: float, better: str, worse: str) -> str:
    """``theirs`` against lfso's ``ours`` in words: ``2x faster``, ``1.5x slower``, ``about
    as fast`` (``better`` and ``worse`` name the direction: faster/slower, fewer/more)."""
    if ours > 0:
        ratio = theirs / ours
    else:
        ratio = math.inf if theirs > 0 else 1.0
    if f"{ratio:.3g}" == "1":
        return "about as fast" if better == "faster" else "about as many"
    if ratio > 1.0:
        return f"{ratio:.3g}x {better}" if ratio < math.inf else better
    return f"{1.0 / ratio:.3g}x {worse}" if ratio > 0.0 else worse


def _check_history(history: object, name: str) -> None:
    """A ``TypeError`` naming ``name`` unless ``history`` is a :class:`~lfso.History` (a
    result's ``.history``), a ``ValueError`` where it has no row (not even the start)."""
    if not isinstance(history, History):
        hint = (
            f"; pass the result's history, {name}=result.history"
            if isinstance(getattr(history, "history", None), History)
            else ""
        )
        kind = type(history).__name__
        raise TypeError(f"{name} must be a lfso.History (a run's .history), got {kind}{hint}")
    if len(history) == 0:
        raise ValueError(f"{name} is an empty History: a run's history holds at least its start")


def _check_current_step(current_step: Any, tuning: Any) -> None:
    """``current_step``: a finite number ``> 0`` (``ValueError``), with a measured grid
    (``TypeError`` with a :class:`TuningBudget`)."""
    try:
        valid = 0.0 < current_step < math.inf
    except TypeError:
        valid = False
    if not valid:
        raise ValueError(f"current_step must be a finite number > 0 or None, got {current_step!r}")
    if isinstance(tuning, TuningBudget):
        raise TypeError(
            "current_step= goes with a measured grid (a TunedStep), to tell whether the "
            f"current step is its best; a stated TuningBudget is charged as stated, got "
            f"current_step={current_step!r} with {tuning!r}"
        )


def return_on_investment(
    lfso_history: History,
    *,
    tuning: TunedStep | TuningBudget,
    current: History | None = None,
    current_step: float | None = None,
    target_rtol: float = 1e-6,
) -> ReturnOnInvestment:
    """Gradients and seconds saved, computed from run histories.

    Parameters
    ----------
    lfso_history : History
        LFSO's run on the task (a guarded run's combined history counts the fallback too).
    tuning : TunedStep or TuningBudget
        A measured grid (:func:`lfso.bench.tune_step`; its chosen run is the tuned rule and the
        other runs are the tuning cost), or the user's stated budget.
    current : History, optional
        The current rule's run on the task; required with a :class:`TuningBudget`, refused
        with a measured grid (whose chosen run is the current rule's run).
    current_step : float > 0, optional
        The step of the rule used today, with a measured grid: where it is the grid's
        chosen step (to a relative ``1e-9``), the current rule was already tuned and the
        grid's runs are not charged (``tuning_gradients = tuning_seconds = 0``; the
        sources give what the grid took). Refused with a :class:`TuningBudget`, which
        is charged as stated.
    target_rtol : float in [0, 1)
        The target is the tuned rule's best ``f`` plus this fraction of its decrease.

    Raises
    ------
    ValueError
        Where LFSO's run and the current (or tuned) rule's start from different ``f0``
        (beyond a relative ``1e-5``): runs from different points have no common target.

    Examples
    --------
    >>> import numpy as np, lfso
    >>> model, x0 = lfso.models.PowerSum(2), np.ones(4)
    >>> tuned = lfso.bench.tune_step(model, x0, steps=[1e-3, 1e-2, 1e-1], max_iter=500)
    >>> roi = lfso.rollout.return_on_investment(lfso.minimize(model, x0).history, tuning=tuned)
    >>> roi.tuning_gradients == sum(r.njev for s, r in tuned.runs if r is not tuned.result)
    True
    """
    return _return_on_investment(
        lfso_history, tuning, current, current_step, target_rtol, same_x0=False
    )


def _return_on_investment(
    lfso_history: History,
    tuning: TunedStep | TuningBudget,
    current: History | None,
    current_step: float | None,
    target_rtol: float,
    *,
    same_x0: bool,
) -> ReturnOnInvestment:
    """:func:`return_on_investment`; ``same_x0``: the runs are known to start from the same
    point (their ``f0`` is not compared: a noisy ``f`` gives two values there)."""
    sources: dict[str, str] = {}
    real(target_rtol, "target_rtol", low=0.0, high=1.0, high_open=True)  # (as GoCriteria's)
    _check_history(lfso_history, "lfso_history")
    if current is not None:
        _check_history(current, "current")
        if isinstance(tuning, TunedStep):
            raise TypeError(
                "current= goes with a stated TuningBudget; with a measured grid (a TunedStep) "
                "the grid's chosen run is the current rule's run: drop current="
            )
    if current_step is not None:
        _check_current_step(current_step, tuning)
    if isinstance(tuning, TunedStep):
        others = [r for _, r in tuning.runs if r is not tuning.result]
        tuning_gradients = sum(r.njev for r in others)
        tuning_seconds = float(sum(r.history.time[-1] for r in others))
        runs: int | None = len(others)
        current = tuning.result.history
        grid = f"the grid's {len(others)} other step size{'' if len(others) == 1 else 's'}"
        if current_step is not None and math.isclose(current_step, tuning.step, rel_tol=1e-9):
            sources["tuning_gradients"] = (
                f"not charged: the current step {current_step:g} is already the grid's best "
                f"({grid} took {tuning_gradients} gradients, measured)"
            )
            sources["tuning_seconds"] = (
                f"not charged ({grid} took {tuning_seconds:.3g} s, measured)"
            )
            tuning_gradients, tuning_seconds, runs = 0, 0.0, 0
        else:
            sources["tuning_gradients"] = f"measured: {grid}, chosen step {tuning.step:g}"
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
    who = "current" if isinstance(tuning, TuningBudget) else "the grid's chosen run"
    target = relative_target(current, target_rtol, who)
    if not same_x0:
        check_same_start(current, lfso_history, (f"{who}'s history", "lfso_history"))
    cur_hit, mine = to_target(current, target), to_target(lfso_history, target)
    # The current rule never went below its start: its target is f0, which every run holds
    # at its start; a time to it measures nothing.
    stalled = cur_hit is not None and cur_hit[0] == 0
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
        current_stalled=stalled,
    )
