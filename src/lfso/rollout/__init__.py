"""Staged rollout: a pilot beside the current rule, a guarded run that falls back on its
own, and the return on investment in figures.

The workflow a team follows before it stops tuning step sizes, as one call
(:func:`rollout`) or stage by stage:

1. **Pilot** (:func:`pilot`). The current rule and LFSO run on the same small task, a row
   subsample of the data (:func:`subsample`) or a short budget. Go / no-go follows explicit
   :class:`GoCriteria`, each checked and recorded (:class:`PilotEvidence`).
2. **Guarded run** (:func:`guarded_minimize`). LFSO runs the full task while a
   :class:`Guard` watches the risk indicators of :mod:`lfso.monitor` (and divergence,
   non-finite values, a failing safeguard, an oracle error). When one trips its threshold,
   the run goes back to the best point and the fallback rule finishes it: one
   :class:`GuardedResult`, one history, the hand-over marked (:class:`Handover`).
3. **Return on investment** (:func:`return_on_investment`). Gradients and seconds the
   current rule's tuning costs (a grid run with :func:`lfso.tune_step`, or the user's stated
   budget), the tuned rule's and LFSO's gradients and seconds to the same target, and the
   time-to-target ratio, each figure labelled measured, stated or estimated.

:class:`lfso.dashboard.LiveReport` shows all of it in a self-refreshing HTML page while the
run goes (``report=`` of :func:`rollout`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
import os
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..bounds import OracleError
from ..minimize import minimize
from ..models import FunctionModel, Model
from ..monitor import RISKS, RiskWarning
from ..result import History, Result, Status
from ..tuning import TunedStep, tune_step

__all__ = [
    "DEFAULT_THRESHOLDS",
    "Check",
    "GoCriteria",
    "Guard",
    "GuardedResult",
    "Handover",
    "PilotEvidence",
    "ReturnOnInvestment",
    "Rollout",
    "TuningBudget",
    "decide",
    "guarded_minimize",
    "pilot",
    "return_on_investment",
    "rollout",
    "subsample",
    "to_target",
]


# --------------------------------------------------------------------------- subsample


def _row_indices(rows: Any, n: int, seed: int) -> np.ndarray:
    if isinstance(rows, bool):
        raise TypeError(f"rows must be a count, a fraction or row indices, got rows={rows!r}")
    if isinstance(rows, float):
        if not 0.0 < rows <= 1.0:
            raise ValueError(f"rows as a fraction must be in (0, 1], got rows={rows!r}")
        rows = max(1, round(rows * n))
    if isinstance(rows, (int, np.integer)):
        k = int(rows)
        if not 1 <= k <= n:
            raise ValueError(f"rows as a count must be in [1, {n}], got rows={k}")
        return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))
    idx = np.asarray(rows)
    if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu":
        raise TypeError(f"rows must be a non-empty 1-D sequence of integers, got {rows!r}")
    if idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"row indices must be in [0, {n}), got min {idx.min()}, max {idx.max()}")
    return idx


def subsample(model: Model, rows: int | float | Sequence[int], *, seed: int = 0) -> Model:
    """The same model on a subset of its data's rows (a pilot task).

    Rebuilds :class:`~lfso.models.LpRegression`,
    :class:`~lfso.models.CompositeLeastSquares`, :class:`~lfso.models.CauchyRegression`,
    :class:`~lfso.models.LogisticRegression` and :class:`~lfso.models.SoftmaxRegression`
    with the same settings (power, oracle, ``l2``, intercept) from the chosen rows; the data
    stay in their array library and on their device.

    Parameters
    ----------
    model : row model
    rows : int, float or sequence of int
        A count (that many rows drawn without replacement, in order), a fraction in
        ``(0, 1]`` of the rows, or the row indices themselves.
    seed : int
        Seed of the draw.

    Examples
    --------
    >>> import numpy as np, lfso
    >>> A, b = np.arange(12.0).reshape(6, 2), np.ones(6)
    >>> small = lfso.rollout.subsample(lfso.models.LpRegression(A, b, 2), [0, 2, 4])
    >>> small.A.tolist()
    [[0.0, 1.0], [4.0, 5.0], [8.0, 9.0]]
    """
    from .._arrays import device
    from ..models import (
        CauchyRegression,
        CompositeLeastSquares,
        LogisticRegression,
        LpRegression,
        SoftmaxRegression,
    )

    m: Any = model  # (attributes set by the models' shared initialisers)
    if isinstance(model, (LpRegression, CompositeLeastSquares, CauchyRegression)):
        data = m.A
    elif isinstance(model, (LogisticRegression, SoftmaxRegression)):
        data = m.X
    else:
        raise TypeError(
            "subsample needs a row model (LpRegression, CompositeLeastSquares, "
            f"CauchyRegression, LogisticRegression, SoftmaxRegression), got "
            f"{type(model).__name__}; pilot on a short budget instead (rows=None)"
        )
    xp = m.xp
    idx = _row_indices(rows, int(data.shape[0]), seed)

    def take(a: Any) -> Any:
        return xp.take(a, xp.asarray(idx, device=device(a)), axis=0)

    if isinstance(model, (LpRegression, CompositeLeastSquares)):
        return type(model)(take(m.A), take(m.b), m.p, oracle=m.oracle)
    if isinstance(model, CauchyRegression):
        return CauchyRegression(take(m.A), take(m.b), m.c, l2=m.l2)
    X = take(m.X)
    if m.fit_intercept:  # the models append the constant column themselves
        X = X[:, :-1]
    if isinstance(model, LogisticRegression):
        return LogisticRegression(
            X,
            take(m.signs),
            l2=m.l2,
            fit_intercept=m.fit_intercept,
            oracle=m.oracle,
        )
    y = xp.argmax(take(m.onehot), axis=1)
    return SoftmaxRegression(X, y, m.K, l2=m.l2, fit_intercept=m.fit_intercept)


# --------------------------------------------------------------------------- targets


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


def _target(history: History, rtol: float) -> float:
    """All but ``rtol`` of the decrease ``f0 - min f`` the run achieved."""
    f = history.f
    finite = f[np.isfinite(f)]
    best = float(finite.min()) if finite.size else float(f[0])
    return best + rtol * max(float(f[0]) - best, 0.0)


def _quiet(**kwargs: Any) -> Result:
    """:func:`lfso.minimize` with the risk warnings (and NumPy's overflow warnings of a rule
    that blows up) kept as evidence, in the history's risk bits, instead of printed."""
    with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RiskWarning)
        return minimize(**kwargs)


def _rows_of(model: Any) -> int:
    return int((model.A if hasattr(model, "A") else model.X).shape[0])


def _as_model(objective: Any, grad: Any, smoothness: Any) -> Model:
    if isinstance(objective, Model):
        return objective
    return FunctionModel(objective, grad, smoothness)


def _describe(rule: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in rule.items())


def _check_rule(rule: Any, name: str) -> dict[str, Any]:
    if not isinstance(rule, Mapping) or "method" not in rule:
        raise TypeError(
            f"{name} must be a mapping of minimize options with a 'method', e.g. "
            f"{{'method': 'gd', 'step': 1e-3}}, got {name}={rule!r}"
        )
    return dict(rule)


# --------------------------------------------------------------------------- pilot


@dataclass(frozen=True)
class GoCriteria:
    """What the pilot must show before LFSO takes over (all must hold).

    Attributes
    ----------
    target_rtol : float in [0, 1)
        The target is the current rule's best ``f`` plus ``target_rtol`` times the decrease
        it achieved (``f0 - f_best``): LFSO must close all but that fraction of the gap.
    max_gradient_ratio : float > 0
        LFSO's gradients to the target at most this times the current rule's (1: no more;
        below 1: strictly fewer by that margin).
    forbidden_risks : tuple of str
        Risk indicators (:data:`lfso.monitor.RISKS`) that must not fire in LFSO's pilot run.
        All but ``stagnation`` by default: a run stuck before the target already fails the
        first criterion, and a run on a fixed budget (a PyTorch pilot) stagnates once it
        has converged.
    """

    target_rtol: float = 1e-6
    max_gradient_ratio: float = 1.0
    forbidden_risks: tuple[str, ...] = tuple(r for r in RISKS if r != "stagnation")

    def __post_init__(self) -> None:
        if not 0.0 <= self.target_rtol < 1.0:
            raise ValueError(f"target_rtol must be in [0, 1), got {self.target_rtol!r}")
        if not 0.0 < self.max_gradient_ratio < math.inf:
            raise ValueError(
                f"max_gradient_ratio must be finite and > 0, got {self.max_gradient_ratio!r}"
            )
        unknown = sorted(set(self.forbidden_risks) - set(RISKS))
        if unknown:
            raise ValueError(f"unknown risk indicator(s) {unknown}; choose from {list(RISKS)}")

    def lines(self) -> list[str]:
        """The criteria in words (printed before the decision)."""
        return [
            f"lfso reaches the target f <= f_best(current) + {self.target_rtol:g} "
            "(f0 - f_best(current))",
            f"lfso's gradients to the target <= {self.max_gradient_ratio:g} x the current rule's",
            "no risk indicator among " + ", ".join(self.forbidden_risks) + " fires in lfso's run",
        ]


@dataclass(frozen=True)
class Check:
    """One go / no-go criterion as checked: what was required, what was observed."""

    name: str
    required: str
    observed: str
    passed: bool


@dataclass
class PilotEvidence:
    """What the pilot ran, measured and decided.

    Attributes
    ----------
    current, candidate : Result
        The current rule's and LFSO's pilot runs (same task, same start).
    task : str
        The pilot task in words (rows of the subsample, or the short budget).
    target : float
    current_to_target, candidate_to_target : (row, gradients, seconds) or None
    checks : list of Check
    go : bool
    criteria : GoCriteria
    """

    current: Result
    candidate: Result
    task: str
    target: float
    current_to_target: tuple[int, int, float] | None
    candidate_to_target: tuple[int, int, float] | None
    checks: list[Check]
    go: bool
    criteria: GoCriteria

    def lines(self) -> list[str]:
        """The decision, then each criterion with what was observed."""
        out = [f"pilot on {self.task}: {'GO' if self.go else 'NO-GO'}"]
        for c in self.checks:
            mark = "pass" if c.passed else "FAIL"
            out.append(f"  [{mark}] {c.name}: required {c.required}; observed {c.observed}")
        return out


def pilot(
    objective: Any,
    x0: Any,
    current: Mapping[str, Any],
    *,
    method: str = "lfso",
    rows: int | float | Sequence[int] | None = None,
    max_iter: int = 1000,
    tol: float = 1e-8,
    criteria: GoCriteria | None = None,
    seed: int = 0,
    callback: Callable[[Result], Any] | None = None,
    grad: Any = None,
    smoothness: Any = None,
    **options: Any,
) -> PilotEvidence:
    """Run the current rule and LFSO on the same small task and decide go / no-go.

    Parameters
    ----------
    objective, x0
        As for :func:`lfso.minimize` (``grad=`` and ``smoothness=`` for a plain function).
    current : mapping
        The ``minimize`` options of the rule used today, e.g. ``{"method": "gd",
        "step": 1e-3}``.
    method : str
        The LFSO method on trial (``"lfso"``, ``"lfso-accel"``, ...).
    rows : int, float, sequence of int or None
        The pilot's rows (:func:`subsample`); ``None``: the full model on the short budget.
    max_iter, tol
        The pilot's budget and tolerance (both runs).
    criteria : GoCriteria, optional
    callback : callable, optional
        ``callback(intermediate_result)`` in both runs (``intermediate_result.method`` says
        which).
    options
        Further ``minimize`` options for the LFSO run (``eta``, ``radius``, ...).

    Returns
    -------
    PilotEvidence

    Examples
    --------
    >>> import numpy as np, lfso
    >>> ev = lfso.rollout.pilot(lfso.models.PowerSum(2), np.ones(4),
    ...                         {"method": "gd", "step": 1e-3}, max_iter=300)
    >>> ev.go, ev.candidate_to_target[1] < ev.current_to_target[1]
    (True, True)
    """
    current = _check_rule(current, "current")
    criteria = criteria if criteria is not None else GoCriteria()
    model = _as_model(objective, grad, smoothness)
    if rows is not None:
        n_before = _rows_of(model)
        model = subsample(model, rows, seed=seed)
        n = _rows_of(model)
        task = f"{n} of {n_before} rows, at most {max_iter} iterations"
    else:
        task = f"the full task, at most {max_iter} iterations"
    run = {"objective": model, "x0": x0, "tol": tol, "max_iter": max_iter, "callback": callback}
    cur = _quiet(**run, **current)
    cand = _quiet(**run, method=method, **options)
    return decide(cur, cand, task=task, criteria=criteria)


def decide(
    current: Result, candidate: Result, *, task: str, criteria: GoCriteria | None = None
) -> PilotEvidence:
    """Go / no-go from two pilot runs on the same task (the current rule's and LFSO's).

    Only their histories (``f``, ``njev``, ``time``) and the candidate's ``risks`` are read,
    so runs from anywhere (:func:`pilot`, :func:`lfso.torch_rollout.pilot`) are judged
    alike.
    """
    criteria = criteria if criteria is not None else GoCriteria()
    cur, cand = current, candidate
    target = _target(cur.history, criteria.target_rtol)
    cur_hit, cand_hit = to_target(cur.history, target), to_target(cand.history, target)
    checks = [
        Check(
            "reaches the target",
            f"lfso's best f <= {target:.6e}",
            f"lfso's best f = {np.nanmin(cand.history.f):.6e}",
            cand_hit is not None,
        )
    ]
    if cand_hit is not None and cur_hit is not None:
        ratio = cand_hit[1] / cur_hit[1]
        observed = (
            f"{cand_hit[1]} vs {cur_hit[1]} gradients (ratio {ratio:.3g}; "
            f"{cand_hit[2]:.3g} s vs {cur_hit[2]:.3g} s)"
        )
        passed = ratio <= criteria.max_gradient_ratio
    else:
        observed, passed = "lfso did not reach the target", False
    checks.append(
        Check(
            "gradients to the target",
            f"ratio lfso / current <= {criteria.max_gradient_ratio:g}",
            observed,
            passed,
        )
    )
    fired = {k: v for k, v in cand.risks.items() if k in criteria.forbidden_risks}
    checks.append(
        Check(
            "risk indicators",
            "none of " + ", ".join(criteria.forbidden_risks),
            ", ".join(f"{k} ({v['count']}x from iteration {v['first']})" for k, v in fired.items())
            or "none fired",
            not fired,
        )
    )
    return PilotEvidence(
        current=cur,
        candidate=cand,
        task=task,
        target=target,
        current_to_target=cur_hit,
        candidate_to_target=cand_hit,
        checks=checks,
        go=all(c.passed for c in checks),
        criteria=criteria,
    )


# --------------------------------------------------------------------------- guard

#: Risk indicator (and the guard's own ``divergence``) -> firings that trip the guard.
DEFAULT_THRESHOLDS: dict[str, int] = {
    "non_finite": 1,
    "descent": 1,
    "oracle": 1,
    "divergence": 1,
    "collapse": 1,
    "oscillation": 1,
    "stagnation": 1,
}


class Guard:
    """A callback that stops a run (``StopIteration``) when a risk trips its threshold.

    After each step it reads the risk bits of the history's last row
    (:data:`lfso.monitor.RISKS`) and counts them; the guard trips when an indicator's count
    reaches its threshold, or when ``f`` rises above the best ``f`` by more than
    ``divergence`` times ``max(f0 - f_best, |f0|)`` (``divergence``). The loop then returns
    the best point. The guard also keeps the best point and the counters itself, so that a
    run that ends in an exception (an :class:`lfso.OracleError`) can be taken over too.

    Parameters
    ----------
    thresholds : mapping name -> int >= 1, optional
        Overrides :data:`DEFAULT_THRESHOLDS`; an indicator left out (or mapped to 0) is not
        watched.
    divergence : float > 0 or None
        ``None`` turns the divergence test off.
    callback : callable, optional
        Called with each intermediate result before the guard decides (a logger, a
        dashboard).
    """

    def __init__(
        self,
        thresholds: Mapping[str, int] | None = None,
        *,
        divergence: float | None = 10.0,
        callback: Callable[[Result], Any] | None = None,
    ) -> None:
        merged = dict(DEFAULT_THRESHOLDS)
        for name, value in (thresholds or {}).items():
            if name not in DEFAULT_THRESHOLDS:
                raise ValueError(
                    f"unknown guard threshold {name!r}; choose from {list(DEFAULT_THRESHOLDS)}"
                )
            try:
                value = operator.index(value)
            except TypeError:
                raise TypeError(f"threshold {name} must be an integer, got {value!r}") from None
            if value < 0:
                raise ValueError(f"threshold {name} must be >= 0, got {value}")
            merged[name] = value
        if divergence is not None and not 0.0 < float(divergence) < math.inf:
            raise ValueError(f"divergence must be finite and > 0 or None, got {divergence!r}")
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        self.thresholds = {k: v for k, v in merged.items() if v > 0}
        self.divergence = None if divergence is None else float(divergence)
        self.callback = callback
        self.reset()

    def reset(self) -> None:
        """Forget a previous run."""
        self.counts: dict[str, int] = {}
        self.tripped: str | None = None
        self.tripped_at: int | None = None
        self.detail = ""
        self.f0 = math.nan
        self.best: Result | None = None
        self.best_row = 0
        self.last: Result | None = None

    def __call__(self, intermediate_result: Result) -> None:
        r = intermediate_result
        h = r.history
        if self.best is None:
            self.f0 = float(h.f[0])
        self.last = r
        if self.best is None or r.fun <= self.best.fun:
            self.best, self.best_row = r, len(h) - 1
        if self.callback is not None:
            self.callback(r)
        flags = int(h.last("risk"))
        for name, (bit, _) in RISKS.items():
            if flags & bit:
                self.counts[name] = self.counts.get(name, 0) + 1
                limit = self.thresholds.get(name)
                if limit is not None and self.counts[name] >= limit:
                    self.trip(name, r.nit, f"fired {self.counts[name]}x (threshold {limit})")
                    raise StopIteration
        if self.divergence is not None and "divergence" in self.thresholds:
            best = self.best.fun
            if r.fun > best + self.divergence * max(self.f0 - best, abs(self.f0)):
                self.counts["divergence"] = self.counts.get("divergence", 0) + 1
                if self.counts["divergence"] >= self.thresholds["divergence"]:
                    self.trip(
                        "divergence",
                        r.nit,
                        f"f = {r.fun:.6e} rose above the best {best:.6e} by more than "
                        f"{self.divergence:g} x max(f0 - f_best, |f0|)",
                    )
                    raise StopIteration

    def trip(self, reason: str, iteration: int, detail: str) -> None:
        """Record the first trip (later ones are ignored)."""
        if self.tripped is None:
            self.tripped, self.tripped_at, self.detail = reason, iteration, detail


@dataclass(frozen=True)
class Handover:
    """When and why the guard handed the run to the fallback rule.

    Attributes
    ----------
    reason : str
        The indicator that tripped (a key of :data:`lfso.monitor.RISKS`, ``"divergence"``,
        ``"step_failed"`` or ``"oracle_error"``).
    detail : str
    iteration : int
        Steps the first rule took before the trip.
    row : int
        Row of the combined history where the fallback starts (its first row is the best
        point, evaluated again).
    best_row : int
        Row of the best point that was restored.
    best_f : float
    time : float
        Seconds into the run.
    fallback : dict
        The fallback's ``minimize`` options.
    """

    reason: str
    detail: str
    iteration: int
    row: int
    best_row: int
    best_f: float
    time: float
    fallback: dict[str, Any]

    def lines(self) -> list[str]:
        advice = RISKS[self.reason][1] if self.reason in RISKS else ""
        return [
            f"hand-over at iteration {self.iteration} ({self.time:.3g} s): risk "
            f"'{self.reason}' {self.detail}",
            f"  restored the best point (history row {self.best_row}, f = {self.best_f:.6e}); "
            f"the fallback ({_describe(self.fallback)}) runs from history row {self.row}",
        ] + ([f"  about '{self.reason}': {advice}"] if advice else [])


@dataclass(repr=False)
class GuardedResult(Result):
    """A :class:`lfso.Result` of a guarded run, with the hand-over and the stages.

    ``history`` is the first rule's history followed by the fallback's (counters and time
    continued); ``handover`` is ``None`` when the guard never tripped. ``stages`` holds the
    stage results; ``roi`` the return on investment when :func:`rollout` computed it.
    """

    handover: Handover | None = None
    stages: list[Result] = field(default_factory=list)
    roi: ReturnOnInvestment | None = None

    def __repr__(self) -> str:
        base = super().__repr__()
        if self.handover is None:
            return base
        return f"{base[:-1]}, handover={self.handover.reason!r} at {self.handover.iteration})"

    def save(self, path: str | Path) -> Path:
        """:meth:`lfso.Result.save` (a plain result file), and beside it
        ``<name>.rollout.json`` with the hand-over and the ROI (not the stages)."""
        path = super().save(path)
        extra = {
            "handover": dataclasses.asdict(self.handover) if self.handover else None,
            "roi": dataclasses.asdict(self.roi) if self.roi else None,
        }
        side = _sidecar(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{side.name}.", suffix=".tmp", dir=side.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(extra, fh, default=lambda v: v.item() if hasattr(v, "item") else str(v))
        os.replace(tmp, side)
        return path

    @classmethod
    def load(cls, path: str | Path) -> GuardedResult:
        """Load a result written by :meth:`save` (``stages`` come back empty)."""
        base = Result.load(path)
        side = _sidecar(Path(path))
        extra = json.loads(side.read_text(encoding="utf-8")) if side.is_file() else {}
        handover, roi = extra.get("handover"), extra.get("roi")
        return cls(
            **{k: getattr(base, k) for k in Result.__dataclass_fields__},
            handover=Handover(**handover) if handover else None,
            roi=ReturnOnInvestment(**roi) if roi else None,
        )


def _sidecar(path: Path) -> Path:
    name = path.name[: -len(".npz")] if path.name.endswith(".npz") else path.name
    return path.with_name(name + ".rollout.json")


def _concat(first: History, second: History) -> History:
    a, b = first.as_dict(), second.as_dict()
    for column in ("nfev", "njev", "noracle", "time"):
        b[column] = b[column] + a[column][-1]
    return History.from_dict({c: np.concatenate([a[c], b[c]]) for c in History.columns})


def _salvage(guard: Guard, method: str) -> Result:
    """A result from what the guard saw of a run that ended in an exception."""
    if guard.best is None or guard.last is None:
        raise RuntimeError("the run failed before its first step; nothing to fall back from")
    b, last = guard.best, guard.last
    return Result(
        x=b.x,
        fun=b.fun,
        jac=b.jac,
        nit=last.nit,
        nfev=last.nfev,
        njev=last.njev,
        noracle=last.noracle,
        status=Status.STEP_FAILED,
        message="Stopped by an exception; returning the best point.",
        method=method,
        grad_norm=b.grad_norm,
        history=last.history,
    )


def guarded_minimize(
    objective: Any,
    x0: Any,
    *,
    fallback: Mapping[str, Any],
    method: str = "lfso",
    guard: Guard | None = None,
    tol: float = 1e-8,
    atol: float = 0.0,
    max_iter: int = 10_000,
    callback: Callable[[Result], Any] | None = None,
    on_handover: Callable[[Handover, Result], Any] | None = None,
    grad: Any = None,
    smoothness: Any = None,
    **options: Any,
) -> GuardedResult:
    """Run ``method`` under a :class:`Guard`; on a trip, finish with ``fallback`` from the
    best point.

    The stopping test is the same for both stages: ``||g|| <= max(tol ||g_0||, atol)`` with
    ``g_0`` the gradient at ``x0``, and ``max_iter`` counts the steps of both. The result is
    at the lower of the two stages' final values, so ``f`` at the end is never above the
    best ``f`` before the trip.

    Parameters
    ----------
    objective, x0, tol, atol, max_iter, grad, smoothness, options
        As for :func:`lfso.minimize` (``options`` go to the first stage only).
    fallback : mapping
        ``minimize`` options of the rule to hand over to, e.g. ``{"method": "gd",
        "step": 1e-3}``.
    method : str
        The rule in charge until a trip.
    guard : Guard, optional
        Default: :class:`Guard` with :data:`DEFAULT_THRESHOLDS`.
    callback : callable, optional
        ``callback(intermediate_result)`` in both stages.
    on_handover : callable, optional
        ``on_handover(handover, first_stage_result)`` when the guard trips.

    Returns
    -------
    GuardedResult

    Examples
    --------
    >>> import numpy as np, lfso
    >>> wrong = lambda x, R: 1e-3 * (12 * (np.max(np.abs(x)) + R) ** 2)  # 1000x too small
    >>> res = lfso.rollout.guarded_minimize(
    ...     lambda x: np.sum(x**4), np.ones(3), grad=lambda x: 4 * x**3, smoothness=wrong,
    ...     fallback={"method": "armijo"}, tol=1e-6)
    >>> res.handover.reason, bool(res.fun <= res.stages[0].fun)
    ('descent', True)
    """
    fallback = _check_rule(fallback, "fallback")
    model = _as_model(objective, grad, smoothness)
    guard = guard if guard is not None else Guard()
    guard.reset()
    chained = guard.callback  # the guard's own callback runs too

    def both(r: Result) -> None:
        callback(r)  # type: ignore[misc]
        chained(r)  # type: ignore[misc]

    guard.callback = both if callback and chained else callback or chained
    try:
        try:
            first = _quiet(
                objective=model,
                x0=x0,
                method=method,
                tol=tol,
                atol=atol,
                max_iter=max_iter,
                callback=guard,
                **options,
            )
        except OracleError as exc:
            guard.trip("oracle_error", guard.last.nit if guard.last else 0, str(exc))
            first = _salvage(guard, method)
    finally:
        guard.callback = chained
    if guard.tripped is None and first.status is Status.NON_FINITE:
        guard.trip("non_finite", first.nit, "f or the gradient became NaN/inf")
    elif guard.tripped is None and first.status is Status.STEP_FAILED:
        guard.trip("step_failed", first.nit, "the safeguard rejected every trial step")
    if guard.tripped is None:
        fields = {k: getattr(first, k) for k in Result.__dataclass_fields__}
        return GuardedResult(**fields, stages=[first])

    h1 = first.history
    usable = np.isfinite(h1.f) & np.isfinite(h1.grad_norm)
    best_row = int(np.argmin(np.where(usable, h1.f, np.inf)))
    handover = Handover(
        reason=guard.tripped,
        detail=guard.detail,
        iteration=first.nit,
        row=len(h1),
        best_row=best_row,
        best_f=first.fun,
        time=float(h1.time[-1]),
        fallback=fallback,
    )
    if on_handover is not None:
        on_handover(handover, first)
    threshold = max(tol * float(h1.grad_norm[0]), atol)
    second = _quiet(
        objective=model,
        x0=first.x,
        tol=0.0,
        atol=threshold,
        max_iter=max(max_iter - first.nit, 0),
        callback=callback,
        **fallback,
    )
    end = second if second.fun <= first.fun else first
    risks = {k: dict(v) for k, v in first.risks.items()}
    for k, v in second.risks.items():
        if k in risks:
            risks[k]["count"] += v["count"]
        else:
            risks[k] = {"count": v["count"], "first": v["first"] + first.nit}
    note = (
        f"Guard: {method} handed over to {_describe(fallback)} at iteration {first.nit} "
        f"(risk '{guard.tripped}' {guard.detail}), from the best point f = {first.fun:.6e}. "
    )
    if end is first:
        note += "The fallback ended above that point; returning the best point. "
    return GuardedResult(
        x=end.x,
        fun=end.fun,
        jac=end.jac,
        nit=first.nit + second.nit,
        nfev=first.nfev + second.nfev,
        njev=first.njev + second.njev,
        noracle=first.noracle + second.noracle,
        status=second.status,
        message=note + second.message,
        method=f"{method} -> {fallback['method']}",
        grad_norm=end.grad_norm,
        history=_concat(h1, second.history),
        rollbacks=first.rollbacks + second.rollbacks,
        nhev=first.nhev + second.nhev,
        risks=risks,
        handover=handover,
        stages=[first, second],
    )


# --------------------------------------------------------------------------- ROI


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
    target = _target(current, target_rtol)
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


# --------------------------------------------------------------------------- workflow


@dataclass
class Rollout:
    """What :func:`rollout` ran, decided and measured.

    Attributes
    ----------
    pilot : PilotEvidence
    go : bool
        The pilot's decision (the guarded stage ran only on go, or with ``force=True``).
    result : GuardedResult or None
        The guarded run (``None`` on no-go).
    roi : ReturnOnInvestment or None
    report : Path or None
        The HTML report.
    """

    pilot: PilotEvidence
    go: bool
    result: GuardedResult | None
    roi: ReturnOnInvestment | None
    report: Path | None = None

    def lines(self) -> list[str]:
        """The summary: the return on investment first, then the stages."""
        out = list(self.roi.lines()) if self.roi is not None else []
        out += self.pilot.lines()
        r = self.result
        if r is None:
            out.append("guarded stage: not run (no-go); keep the current rule")
        else:
            out.append(
                f"guarded stage ({r.method}): {r.status.name}, {r.nit} iterations, "
                f"{r.njev} gradients, f = {r.fun:.6e}"
            )
            out += r.handover.lines() if r.handover else ["  no hand-over: the guard never tripped"]
        if self.report is not None:
            out.append(f"report: {self.report}")
        return out


def _grid(current: Mapping[str, Any]) -> list[float]:
    step = float(current["step"])
    return [step * 10.0**k for k in range(-3, 4)]


def rollout(
    objective: Any,
    x0: Any,
    current: Mapping[str, Any],
    *,
    method: str = "lfso",
    fallback: Mapping[str, Any] | None = None,
    pilot_rows: int | float | Sequence[int] | None = None,
    pilot_iter: int = 1000,
    criteria: GoCriteria | None = None,
    guard: Guard | None = None,
    tuning: str | TuningBudget | Sequence[float] | None = "grid",
    tol: float = 1e-8,
    max_iter: int = 10_000,
    force: bool = False,
    report: str | Path | None = None,
    every: float = 2.0,
    title: str = "lfso rollout",
    seed: int = 0,
    grad: Any = None,
    smoothness: Any = None,
    **options: Any,
) -> Rollout:
    """Pilot, guarded run and return on investment, as one workflow.

    Parameters
    ----------
    objective, x0, tol, max_iter, grad, smoothness
        As for :func:`lfso.minimize`.
    current : mapping
        The rule used today, e.g. ``{"method": "gd", "step": 1e-3}``.
    method : str
        The LFSO method to roll out (``"lfso"`` by default).
    fallback : mapping, optional
        The rule the guard hands over to (default: ``current``).
    pilot_rows, pilot_iter, criteria
        The pilot's task (:func:`pilot`).
    guard : Guard, optional
    tuning : "grid", sequence of steps, TuningBudget or None
        How the current rule's tuning cost is known: ``"grid"`` runs :func:`lfso.tune_step`
        on the task over ``step x 10^-3 .. 10^3`` (a ``"gd"`` rule; a sequence gives the
        grid), a :class:`TuningBudget` takes the user's figure (the current rule then runs
        once on the task for its time to target), ``None`` skips the ROI.
    force : bool
        Run the guarded stage even on no-go.
    report : path, optional
        Write the live HTML report there (:class:`lfso.dashboard.LiveReport`), refreshed
        every ``every`` seconds while the workflow runs.
    options
        Further ``minimize`` options for the LFSO runs.

    Returns
    -------
    Rollout
    """
    from ..dashboard import LiveReport

    current = _check_rule(current, "current")
    fallback = _check_rule(fallback if fallback is not None else current, "fallback")
    model = _as_model(objective, grad, smoothness)
    criteria = criteria if criteria is not None else GoCriteria()
    live = LiveReport(report, title=title, every=every) if report is not None else None
    if live is not None:
        live.stage("pilot", "running", "current rule and lfso on the pilot task")
        live.stage("guarded", "pending")
        live.stage("roi", "pending" if tuning is not None else "skipped")
    watch: Callable[[Result], Any] | None = None
    if live is not None:
        watchers: dict[str, Callable[[Result], Any]] = {}
        seen: list[History] = []

        def watch(r: Result) -> None:  # the pilot's two runs: the current rule's, then lfso's
            if not seen or seen[-1] is not r.history:
                seen.append(r.history)
            label = "pilot: current rule" if len(seen) == 1 else "pilot: lfso"
            watchers.setdefault(label, live.watch(label, pilot=True))(r)

    evidence = pilot(
        model,
        x0,
        current,
        method=method,
        rows=pilot_rows,
        max_iter=pilot_iter,
        tol=tol,
        criteria=criteria,
        seed=seed,
        callback=watch,
        **options,
    )
    go = evidence.go
    if live is not None:
        live.set_pilot(evidence)
        live.stage("pilot", "done", ("GO" if go else "NO-GO") + f" on {evidence.task}")
    result: GuardedResult | None = None
    roi: ReturnOnInvestment | None = None
    if go or force:
        callback = None
        if live is not None:
            live.stage("guarded", "running", f"{method} in charge, fallback {_describe(fallback)}")
            callback = live.watch("guarded run")

            def on_handover(handover: Handover, first: Result) -> None:
                live.set_handover(handover)

        result = guarded_minimize(
            model,
            x0,
            fallback=fallback,
            method=method,
            guard=guard,
            tol=tol,
            max_iter=max_iter,
            callback=callback,
            on_handover=on_handover if live is not None else None,
            **options,
        )
        if live is not None:
            live.set_run("guarded run", result.history, handover=result.handover)
            detail = f"{result.status.name}, f = {result.fun:.6e}"
            if result.handover is not None:
                ho = result.handover
                detail += (
                    f"; handed over to {_describe(fallback)} at iteration {ho.iteration} "
                    f"(risk '{ho.reason}')"
                )
            live.stage("guarded", "done", detail)
        if tuning is not None:
            if live is not None:
                live.stage("roi", "running", "the current rule's tuning cost")
            if isinstance(tuning, TuningBudget):
                base = _quiet(objective=model, x0=x0, tol=tol, max_iter=max_iter, **current)
                roi = return_on_investment(
                    result.history,
                    tuning=tuning,
                    current=base.history,
                    target_rtol=criteria.target_rtol,
                )
                ran = {"current rule": base.history}
            else:
                if current["method"] != "gd":
                    raise ValueError(
                        "tuning='grid' tunes a fixed step (current method 'gd'); for "
                        f"{current['method']!r} pass tuning=TuningBudget(gradients=...)"
                    )
                steps = _grid(current) if isinstance(tuning, str) else list(tuning)
                if isinstance(tuning, str) and tuning != "grid":
                    raise ValueError(
                        f"tuning must be 'grid', steps, a TuningBudget or None, got {tuning!r}"
                    )
                rest = {k: v for k, v in current.items() if k not in ("method", "step")}
                with np.errstate(over="ignore", invalid="ignore"):  # steps that blow up
                    tuned = tune_step(model, x0, steps, tol=tol, max_iter=max_iter, **rest)
                roi = return_on_investment(
                    result.history, tuning=tuned, target_rtol=criteria.target_rtol
                )
                ran = {f"tuned gd (step {tuned.step:g})": tuned.result.history}
            result.roi = roi
            if live is not None:
                for label, h in ran.items():
                    live.set_run(label, h)
                live.set_roi(roi)
                live.stage("roi", "done", roi.lines()[0])
    elif live is not None:
        live.stage("guarded", "skipped", "no-go: the current rule stays")
        live.stage("roi", "skipped")
    path = live.finish() if live is not None else None
    return Rollout(pilot=evidence, go=go, result=result, roi=roi, report=path)
