"""The guarded run: a :class:`Guard` watches the risks, the fallback rule finishes the run."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import operator
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import _result
from .._atomic import write_together
from .._result import (
    _NON_FINITE,
    HANDED_OVER,
    History,
    Result,
    Status,
    _forget_handover,
    _plain,
    earlier_handover_file,
    handover_file,
    saved_at,
)
from .._stepper import NonFiniteStartError
from .._validate import real
from ..monitor import RISKS, STAGNATION_RTOL
from ..oracles._bounds import OracleError
from ._roi import ReturnOnInvestment
from ._rules import (
    as_model,
    check_method,
    check_not_a_stage_keyword,
    check_options,
    check_rule,
    describe_rule,
    one_callback,
    quiet_minimize,
    run_rule,
)

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

    ``stagnation`` (``f`` changed by less than ``1e-15 |f|`` over the monitor's window) is
    not counted where the run is at the limit of floating point: where the decrease a step
    certifies at the current point, ``||g||^2 / L`` (``t ||g||^2`` for a rule that records
    no ``L``), is itself at most ``1e-15 |f|``, so that ``f`` cannot show further progress
    (the run is converged as far as ``f`` can tell, not stuck). The run goes on under its
    rule, to its stopping test or ``max_iter``; :attr:`settled_at` records the iteration.
    A step that vanishes while the gradient does not is the ``collapse`` indicator's.

    Parameters
    ----------
    thresholds : mapping name -> int >= 1, optional
        Overrides :data:`DEFAULT_THRESHOLDS`; an indicator left out (or mapped to 0) is not
        watched. A count must be an integer (a bool is a ``TypeError``).
    divergence : float > 0 or None
        ``None`` turns the divergence test off, and with it the hand-over of a first stage
        that ends ``DIVERGED`` (:func:`guarded_minimize`).
    callback : callable, optional
        Called with each intermediate result before the guard decides (a logger, a
        dashboard).

    Attributes
    ----------
    settled_at : int or None
        The first iteration at which ``stagnation`` fired at the limit of floating point
        (and was not counted); ``None`` if it never did.
    """

    def __init__(
        self,
        thresholds: Mapping[str, int] | None = None,
        *,
        divergence: float | None = 10.0,
        callback: Callable[[Result], Any] | None = None,
    ) -> None:
        merged = dict(DEFAULT_THRESHOLDS)
        if thresholds is not None and not isinstance(thresholds, Mapping):
            raise TypeError(
                "thresholds must be a mapping of risk indicator names to counts, e.g. "
                f"{{'oscillation': 3}}, or None, got thresholds={thresholds!r}"
            )
        for name, value in (thresholds or {}).items():
            if name not in DEFAULT_THRESHOLDS:
                raise ValueError(
                    f"unknown guard threshold {name!r}; choose from {list(DEFAULT_THRESHOLDS)}"
                )
            try:
                if isinstance(value, (bool, np.bool_)):  # (True is no count)
                    raise TypeError
                value = operator.index(value)
            except TypeError:
                raise TypeError(f"threshold {name} must be an integer, got {value!r}") from None
            if value < 0:
                raise ValueError(f"threshold {name} must be >= 0, got {value}")
            merged[name] = value
        if (
            divergence is not None
            and not 0.0 < real(divergence, "divergence", finite=False) < math.inf
        ):
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
        self.settled_at: int | None = None

    def __call__(self, intermediate_result: Result) -> None:
        r = intermediate_result
        h = r.history
        self.last = r
        if self.best is None or r.fun <= self.best.fun:
            self.best, self.best_row = r, len(h) - 1
        if self.callback is not None:
            self.callback(r)
        if self.check(h, r.fun, r.nit, self.best.fun) is not None:
            raise StopIteration

    def check(
        self, history: History, f: float, iteration: int, best: float
    ) -> tuple[str, str] | None:
        """Count the risk bits of ``history``'s last row (``f`` there, at ``iteration``;
        ``best`` the lowest ``f`` so far) and test for divergence: the trip, ``(reason,
        detail)``, recorded with :meth:`trip`, or ``None``. The check of every guarded run
        (:class:`lfso.torch.GuardedOptimizer` calls it after each LFSO step)."""
        if self.f0 != self.f0:  # (NaN: the first row)
            self.f0 = float(history.f[0])
        flags = int(history.last("risk"))
        for name, (bit, _) in RISKS.items():
            if flags & bit:
                if name == "stagnation" and _at_rounding(history):
                    if self.settled_at is None:
                        self.settled_at = iteration
                    continue
                self.counts[name] = self.counts.get(name, 0) + 1
                limit = self.thresholds.get(name)
                if limit is not None and self.counts[name] >= limit:
                    detail = f"fired {self.counts[name]}x (threshold {limit})"
                    self.trip(name, iteration, detail)
                    return name, detail
        if self.divergence is not None and "divergence" in self.thresholds:
            if f > best + self.divergence * max(self.f0 - best, abs(self.f0)):
                self.counts["divergence"] = self.counts.get("divergence", 0) + 1
                if self.counts["divergence"] >= self.thresholds["divergence"]:
                    detail = (
                        f"f = {f:.6e} rose above the best {best:.6e} by more than "
                        f"{self.divergence:g} x max(f0 - f_best, |f0|)"
                    )
                    self.trip("divergence", iteration, detail)
                    return "divergence", detail
        return None

    def trip(self, reason: str, iteration: int, detail: str) -> None:
        """Record the first trip (later ones are ignored)."""
        if self.tripped is None:
            self.tripped, self.tripped_at, self.detail = reason, iteration, detail


def _at_rounding(history: History) -> bool:
    """Whether the decrease a step certifies at the newest point, ``||g||^2 / L`` (or
    ``t ||g||^2`` without an ``L``), is at most the rounding ``stagnation`` allows in ``f``."""
    f, g = abs(history.last("f")), history.last("grad_norm")
    L, t = history.last("L"), history.last("step")
    if 0.0 < L < math.inf:
        decrease = g / L * g
    elif 0.0 <= t < math.inf:
        decrease = t * g * g
    else:
        return False
    return decrease <= STAGNATION_RTOL * f


@dataclass(frozen=True)
class Handover:
    """When and why the guard handed the run to the fallback rule.

    Attributes
    ----------
    reason : str
        The indicator that tripped (a key of :data:`lfso.monitor.RISKS`, ``"divergence"``
        or ``"oracle_error"``), or how the first rule gave up: ``"step_failed"`` (its
        safeguard rejected every trial step, status ``STEP_FAILED``) or
        ``"gradient_mismatch"`` (a finite difference of ``f`` contradicted the gradient:
        the safeguard's, a line search's, or the check of a run that converged above
        ``f(x0)`` or diverged; status ``GRADIENT_MISMATCH``) or ``"diverged"`` (the run's
        own divergence test, status ``DIVERGED``; not with ``divergence=None``).
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
        risk = "gradient" if self.reason == "gradient_mismatch" else self.reason
        advice = RISKS[risk][1] if risk in RISKS else ""
        return [
            f"hand-over at iteration {self.iteration} ({self.time:.3g} s): risk "
            f"'{self.reason}' {self.detail}",
            f"  restored the best point (history row {self.best_row}, f = {self.best_f:.6e}); "
            f"the fallback ({describe_rule(self.fallback)}) runs from history row {self.row}",
        ] + ([f"  about '{self.reason}': {advice}"] if advice else [])


@dataclass(repr=False)
class GuardedResult(Result):
    """A :class:`lfso.Result` of a guarded run, with the hand-over and the stages.

    ``history`` is the first rule's history followed by the fallback's (counters and time
    continued); ``handover`` is ``None`` when the guard never tripped. ``stages`` holds the
    stage results; ``roi`` the return on investment when :func:`rollout` computed it.
    ``kept_first`` is true when the fallback ended worse than the first stage (a higher
    ``f``, or not converged where the first stage had reached its target) and the result
    is the first stage's point. ``settled_at`` is :attr:`Guard.settled_at`: the iteration
    from which ``f`` had stopped changing at the limit of floating point, or ``None``.
    """

    handover: Handover | None = None
    stages: list[Result] = field(default_factory=list)
    roi: ReturnOnInvestment | None = None
    kept_first: bool = False
    settled_at: int | None = None

    def __repr__(self) -> str:
        base = super().__repr__()
        if self.handover is None:
            return base
        return f"{base[:-1]}, handover={self.handover.reason!r} at {self.handover.iteration})"

    def save(self, path: str | Path) -> Path:
        """:meth:`lfso.Result.save` (a plain result file), and beside it
        ``<name>.rollout.json`` (``<name>`` the file's whole name: ``run.npz`` ->
        ``run.npz.rollout.json``) with the hand-over, the ROI, ``kept_first`` and
        ``settled_at`` (not the stages), standard JSON (a non-finite number written as the
        string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``, read back as the float). Both
        are written beside their names under temporary ones, then moved to them, the
        hand-over first: a failed write or move leaves the result and hand-over files saved
        there before as they were (where the result's move fails, the hand-over file saved
        before is put back)."""
        extra = {
            "result": _identity(self),  # (which result the file goes with)
            "handover": dataclasses.asdict(self.handover) if self.handover else None,
            "roi": dataclasses.asdict(self.roi) if self.roi else None,
            "kept_first": self.kept_first,
            "settled_at": self.settled_at,
        }
        text = json.dumps(
            _plain(extra),
            allow_nan=False,
            default=lambda v: _plain(v.item()) if hasattr(v, "item") else str(v),
        )
        arrays = self._arrays()  # (a result that holds no point: a ValueError first)
        path = Path(path)
        _forget_handover(path)  # (an earlier version's hand-over of <path>.npz moved now)
        side, earlier = handover_file(path), earlier_handover_file(path)
        write_together(side, text, path, _result._npz_bytes(arrays))
        if earlier is not None and earlier.is_file():  # (an earlier version's, now stale)
            earlier.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: str | Path) -> GuardedResult:
        """Load a result written by :meth:`save` (``stages`` come back empty); a sidecar
        that is not the one :meth:`save` writes (a folder, a link to a missing file, a
        field missing, unknown, of another kind or past the result's rows), or that it
        wrote with another result (the result file replaced since other than by
        :meth:`lfso.Result.save`, which removes the sidecar), is a ``ValueError`` naming
        it. The hand-over file that earlier versions wrote beside ``<name>.npz``,
        ``<name>.rollout.json``, is read too."""
        base = Result.load(path)
        side = handover_file(saved_at(path))
        earlier = earlier_handover_file(saved_at(path))
        if not side.exists() and not side.is_symlink() and earlier is not None:
            side = earlier if earlier.is_file() else side
        try:
            if side.is_symlink() and not side.exists():
                raise ValueError(
                    f"it is a symbolic link to {os.readlink(side)!r}, which is missing"
                )
            if side.exists() and not side.is_file():
                raise ValueError("it is a folder (or another non-file), not a file")
            extra = json.loads(side.read_text(encoding="utf-8")) if side.is_file() else {}
            if not isinstance(extra, dict):
                raise ValueError(f"a JSON {type(extra).__name__}, not an object")
            unknown = sorted(set(extra) - set(_SIDECAR))
            if unknown:
                raise ValueError(f"unknown field(s) {unknown}; the fields are {list(_SIDECAR)}")
            saved = extra.get("result")
            if saved is not None and saved != _identity(base):
                raise ValueError(
                    f"it was saved with another result ({saved}; the result file holds "
                    f"{_identity(base)}): the result file was written again since"
                )
            handover, roi = extra.get("handover"), extra.get("roi")
            handed = _saved(Handover, "handover", handover) if handover is not None else None
            measured = _saved(ReturnOnInvestment, "roi", roi) if roi is not None else None
            kept_first, settled_at = extra.get("kept_first", False), extra.get("settled_at")
            if not isinstance(kept_first, bool):
                raise ValueError(f"kept_first must be true or false, got {kept_first!r}")
            if settled_at is not None and not (_count(settled_at) and settled_at <= base.nit):
                raise ValueError(
                    f"settled_at must be an iteration 0..nit = {base.nit} or null, got "
                    f"{settled_at!r}"
                )
            _check_rows(handed, base)
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"GuardedResult.load: {str(side)!r} is not the hand-over file that "
                f"GuardedResult.save writes beside {str(path)!r}: {type(exc).__name__}: {exc}"
            ) from None
        return cls(
            **{k: getattr(base, k) for k in Result.__dataclass_fields__},
            handover=handed,
            roi=measured,
            kept_first=kept_first,
            settled_at=settled_at,
        )


#: The fields of a hand-over file (:meth:`GuardedResult.save`).
_SIDECAR = ("result", "handover", "roi", "kept_first", "settled_at")


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


#: What each saved field of a hand-over or a return on investment must be: its
#: description and its test.
_SAVED_KINDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "str": ("a string", lambda v: isinstance(v, str)),
    "count": ("an integer >= 0", _count),
    "count?": ("an integer >= 0 or null", lambda v: v is None or _count(v)),
    "number": ("a number", _number),
    "number?": ("a number or null", lambda v: v is None or _number(v)),
    "bool": ("true or false", lambda v: isinstance(v, bool)),
    "options": ("an object", lambda v: isinstance(v, dict)),
    "sources": (
        "an object of strings",
        lambda v: isinstance(v, dict) and all(isinstance(s, str) for s in v.values()),
    ),
}

#: The kind of each field of :class:`Handover` and :class:`ReturnOnInvestment` as saved.
_SAVED_FIELDS: dict[str, dict[str, str]] = {
    "handover": {
        "reason": "str",
        "detail": "str",
        "iteration": "count",
        "row": "count",
        "best_row": "count",
        "best_f": "number",
        "time": "number",
        "fallback": "options",
    },
    "roi": {
        "target": "number",
        "tuning_gradients": "count",
        "tuning_seconds": "number",
        "tuning_runs": "count?",
        "current_gradients": "count?",
        "current_seconds": "number?",
        "lfso_gradients": "count?",
        "lfso_seconds": "number?",
        "sources": "sources",
        "current_stalled": "bool",
    },
}


def _saved(cls: Any, name: str, value: Any) -> Any:
    """``cls`` (:class:`Handover` or :class:`ReturnOnInvestment`) from the field ``name``
    of a hand-over file; a ``ValueError`` naming the field, the value and what it must be
    where a field is missing, unknown or of another kind."""
    kinds = _SAVED_FIELDS[name]
    if not isinstance(value, dict):
        raise ValueError(f"{name} = {value!r}; expected an object with {list(kinds)}, or null")
    required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING}
    unknown, missing = sorted(set(value) - set(kinds)), sorted(required - set(value))
    if unknown or missing:
        raise ValueError(
            f"{name} has unknown field(s) {unknown}, lacks {missing}; its fields are {list(kinds)}"
        )
    value = {  # (a non-finite number, written as its string)
        k: _NON_FINITE.get(v, v) if kinds[k].startswith("number") and isinstance(v, str) else v
        for k, v in value.items()
    }
    for key, v in value.items():
        want, test = _SAVED_KINDS[kinds[key]]
        if not test(v):
            raise ValueError(f"{name}[{key!r}] = {v!r}; expected {want}")
    return cls(**value)


def _check_rows(handover: Handover | None, result: Result) -> None:
    """A ``ValueError`` where a saved hand-over points past its result: the best point's
    row before the fallback's first, that within the history, the iteration within ``nit``."""
    if handover is None:
        return
    rows, nit = len(result.history), result.nit
    if not (handover.best_row < handover.row <= rows and handover.iteration <= nit):
        raise ValueError(
            f"handover has best_row = {handover.best_row}, row = {handover.row}, iteration = "
            f"{handover.iteration}; expected best_row < row <= {rows} (the history's rows) "
            f"and iteration <= nit = {nit}"
        )


def _identity(result: Result) -> dict[str, Any]:
    """What ties a hand-over file to its result: the method and the counters."""
    return {"method": result.method, "nit": int(result.nit), "njev": int(result.njev)}


def concat_histories(first: History, second: History) -> History:
    """``first``'s rows, then ``second``'s with its counters and time continued."""
    a, b = first.as_dict(), second.as_dict()
    for column in ("nfev", "njev", "noracle", "time"):
        b[column] = b[column] + a[column][-1]
    return History.from_dict({c: np.concatenate([a[c], b[c]]) for c in History.columns})


class _Continued:
    """The fallback's callback: ``callback`` with each intermediate result as the guarded
    run's so far, as :func:`_combine` joins the stages (``nit`` and the counters continued
    from the first stage, the history both stages' with counters and time continued, the
    risks merged; the method the fallback's, which tells the stages apart), so that a
    logger writes one run.

    The joined history grows by the fallback's new rows at each call (O(1) an iteration);
    ``handover_row``, its attribute, is the row where the fallback starts."""

    def __init__(self, first: Result, callback: Callable[[Result], Any]) -> None:
        self.first, self.callback = first, callback
        self.history = concat_histories(first.history, History())
        self.history.handover_row = len(self.history)  # type: ignore[attr-defined]
        h = first.history
        # (the columns concat_histories continues: nfev, njev, noracle, time)
        self.offsets = [0.0] * 5 + [h.last(c) for c in ("nfev", "njev", "noracle", "time")]
        self.seen = 0

    def __call__(self, intermediate_result: Result) -> None:
        r, first = intermediate_result, self.first
        rows = r.history._rows[self.seen : len(r.history)]
        for row in rows:  # (as History.append adds them, the risk bits as they are)
            shifted = (v + o for v, o in zip(row[:9], self.offsets, strict=True))
            self.history._rows.append((*shifted, row[9]))
        self.seen += len(rows)
        self.callback(
            dataclasses.replace(
                r,
                nit=first.nit + r.nit,
                nfev=first.nfev + r.nfev,
                njev=first.njev + r.njev,
                noracle=first.noracle + r.noracle,
                nhev=first.nhev + r.nhev,
                rollbacks=first.rollbacks + r.rollbacks,
                risks=_merged_risks(first, r),
                history=self.history._snapshot(),
            )
        )


def _merged_risks(first: Result, second: Result) -> dict[str, dict[str, int]]:
    """The risks of both stages: counts added, the first firing counted in the joined run."""
    risks = {k: dict(v) for k, v in first.risks.items()}
    for k, v in second.risks.items():
        if k in risks:
            risks[k]["count"] += v["count"]
        else:
            risks[k] = {"count": v["count"], "first": v["first"] + first.nit}
    return risks


def _salvage(guard: Guard, method: str, exc: Exception) -> Result:
    """A result from what the guard saw of a run that ended in the exception ``exc``: its
    last intermediate result (counters, history, risks) at the best point it saw; where it
    saw none (the exception came at the first step), the result the exception carries (its
    ``.result``: the start, where the fallback then begins). Its status is ``RAISED``, as
    :func:`lfso.minimize`'s run that ends there, its message naming the exception (which
    the guard handles: the fallback goes on from the best point)."""
    if guard.best is None or guard.last is None:
        raised = getattr(exc, "result", None)
        if not isinstance(raised, Result):
            raise RuntimeError("the run failed before its first step; nothing to fall back from")
        guard.best = guard.last = raised
    b = guard.best
    return dataclasses.replace(
        guard.last,
        x=b.x,
        fun=b.fun,
        jac=b.jac,
        grad_norm=b.grad_norm,
        status=Status.RAISED,
        message=(
            f"Stopped: an exception was raised during the run ({type(exc).__name__}: {exc}); "
            "returning the best point."
        ),
        method=method,
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
    target: float | None = None,
    grad: Any = None,
    smoothness: Any = None,
    **options: Any,
) -> GuardedResult:
    """Run ``method`` under a :class:`Guard`; on a trip, finish with ``fallback`` from the
    best point.

    The guard trips on its risk indicators and divergence (:class:`Guard`), on an oracle
    that breaks its contract (``"oracle_error"``), and where the first stage ends without
    a usable step: ``NON_FINITE``, ``STEP_FAILED`` (its safeguard rejected every trial
    step) or ``GRADIENT_MISMATCH`` (a finite difference of ``f`` contradicted the gradient:
    the safeguard's, a line search's (``armijo``, ``bb``), or the check of a run that
    converged above ``f(x0)`` or diverged), or ``DIVERGED`` (the run's own test, at
    ``max_iter`` or a stall: ``f`` at the last point above the lowest ``f`` by more than
    ``max(f0 - f_best, |f0|)``, a rise the guard's ``divergence`` test, at 10 times that,
    lets through); the hand-over's ``reason`` is then the status in lower case. A guard
    with ``divergence=None`` (or a ``divergence`` threshold of 0) watches no rise of ``f``:
    a first stage that ends ``DIVERGED`` is then its result. The fallback needs no oracle,
    so it goes on from the best point where the first rule cannot.

    The stopping test is the same for both stages: ``||g|| <= max(tol ||g_0||, atol)`` with
    ``g_0`` the gradient at ``x0``, and ``max_iter`` counts the steps of both. The result is
    the fallback's unless the fallback ended worse: at a higher ``f`` than the best point
    before the trip, or not converged where that point had reached the stopping test or
    ``target``. Then it is the first stage's best point (``kept_first``, and the message
    says so), so ``f`` at the end is never above the best ``f`` before the trip. The status
    is the fallback's, or, where the fallback converged but the first stage's point is
    kept, that point's: ``CONVERGED`` only where it passed the stopping test. A guarded
    result reads ``RAISED`` only where its exception propagates: where it takes its status
    from a first stage that an oracle's exception stopped (``stages[0].status`` is
    ``RAISED``, as :func:`lfso.minimize`'s run ends there), the guard handled it and
    stopped that stage, so it reads ``CALLBACK_STOP``, as a stage the guard stopped on a
    risk indicator does (the hand-over's ``reason`` is ``"oracle_error"``); so too where
    the fallback cannot start (``f`` or its gradient at the best point, evaluated again,
    is not finite: the first stage's point and status, and a message that says so).

    Parameters
    ----------
    objective, x0, tol, atol, max_iter, grad, smoothness, options
        As for :func:`lfso.minimize` (``options`` go to the first stage only).
    fallback : mapping
        ``minimize`` options of the rule to hand over to, e.g. ``{"method": "gd",
        "step": 1e-3}``, or ``{"method": "scipy:L-BFGS-B"}`` (SciPy's L-BFGS-B, as for
        :func:`pilot`'s ``current``). Its options are checked by a run of no step from
        ``x0`` before the first stage (one evaluation), not at the hand-over.
    method : str
        The rule in charge until a trip.
    guard : Guard, optional
        Default: :class:`Guard` with :data:`DEFAULT_THRESHOLDS`.
    callback : callable or list of callables, optional
        ``callback(intermediate_result)`` in both stages; in the fallback's, the result is
        the guarded run's so far (``nit``, ``nfev``, ``njev``, ``noracle`` continued from
        the first stage's, the history both stages' as the result's, time continued), its
        ``method`` the fallback's: a logger writes one run. An exception it (or ``fun``,
        ``grad``) raises propagates as from :func:`lfso.minimize`, its ``.result`` the
        guarded run's so far (a :class:`GuardedResult`, both stages after a hand-over).
        A ``KeyboardInterrupt`` (Ctrl-C) ends the run ``INTERRUPTED`` at its best point,
        where it comes as the fallback starts too (before the fallback has a result).
    on_handover : callable, optional
        ``on_handover(handover, first_stage_result)`` when the guard trips.
    target : float, optional
        An ``f`` that counts as reached (e.g. the best ``f`` the current rule attains): a
        first stage whose best point reached it is kept over a fallback that ends without
        converging.

    Returns
    -------
    GuardedResult

    Examples
    --------
    A user's oracle 1000x too small: the safeguard (on by default for a user's oracle)
    rolls the steps it breaks back, and the guard has nothing to hand over; without the
    safeguard, ``f`` rises and the guard hands the run over to the fallback.

    >>> import numpy as np, lfso
    >>> wrong = lambda x, R: 1e-3 * (12 * (np.max(np.abs(x)) + R) ** 2)  # 1000x too small
    >>> task = dict(grad=lambda x: 4 * x**3, smoothness=wrong, fallback={"method": "armijo"},
    ...             tol=1e-6)
    >>> res = lfso.rollout.guarded_minimize(lambda x: np.sum(x**4), np.ones(3), **task)
    >>> res.handover is None, res.success, res.rollbacks > 0
    (True, True, True)
    >>> res = lfso.rollout.guarded_minimize(lambda x: np.sum(x**4), np.ones(3),
    ...                                     safeguard=False, **task)
    >>> res.handover.reason, bool(res.fun <= res.stages[0].fun)
    ('descent', True)
    """
    fallback = check_rule(fallback, "fallback")
    check_method(method)
    check_not_a_stage_keyword(options, "guarded_minimize")
    target = _check_target(target)
    callback = one_callback(callback)
    if on_handover is not None and not callable(on_handover):
        raise TypeError(f"on_handover must be callable or None, got on_handover={on_handover!r}")
    model = as_model(objective, grad, smoothness)
    if guard is not None and not isinstance(guard, Guard):
        raise TypeError(
            f"guard must be a lfso.rollout.Guard or None (Guard(thresholds) for a mapping "
            f"of thresholds), got guard={guard!r}"
        )
    # (the fallback's options now, not at a hand-over after the first stage)
    check_options(fallback, "fallback", objective=model, x0=x0)
    guard = guard if guard is not None else Guard()
    guard.reset()
    first = _first_stage(
        model,
        x0,
        guard,
        callback,
        method=method,
        tol=tol,
        atol=atol,
        max_iter=max_iter,
        **options,
    )
    if guard.tripped is None:
        fields = {k: getattr(first, k) for k in Result.__dataclass_fields__}
        if guard.settled_at is not None:
            fields["message"] = f"{_settled_note(guard.settled_at)} {first.message}"
        return GuardedResult(**fields, stages=[first], settled_at=guard.settled_at)

    handover = _handover(first, guard, fallback)
    if on_handover is not None:
        on_handover(handover, first)
    threshold = max(tol * float(first.history.grad_norm[0]), atol)
    combine = functools.partial(
        _combine,
        first,
        handover=handover,
        reached=_reached(first, threshold, target),
        settled_at=guard.settled_at,
        first_converged=first.grad_norm <= threshold,
    )
    try:
        second = run_rule(
            fallback,
            objective=model,
            x0=first.x,
            tol=0.0,
            atol=threshold,
            max_iter=max(max_iter - first.nit, 0),
            callback=None if callback is None else _Continued(first, callback),
        )
    except NonFiniteStartError as error:  # f is no longer finite at the best point
        return _unstarted(first, handover, str(error), settled_at=guard.settled_at)
    except KeyboardInterrupt as error:  # (Ctrl-C as the fallback starts: no result of its own)
        if isinstance(getattr(error, "result", None), Result):
            raise
        return _interrupted_start(first, handover, settled_at=guard.settled_at)
    except Exception as error:  # (its .result: the whole guarded run so far, both stages)
        raised = getattr(error, "result", None)
        if isinstance(raised, Result):
            error.result = combine(raised)  # type: ignore[attr-defined]
        raise
    return combine(second)


def _reached(first: Result, threshold: float, target: float | None) -> str | None:
    """What the first stage's best point reached (the stopping test at ``threshold``, or
    ``target``), in words, or ``None``."""
    if first.grad_norm <= threshold:
        return "the stopping test"
    if target is not None and first.fun <= target:
        return f"the target f <= {target:.6e}"
    return None


def _check_target(target: Any) -> float | None:
    """``target`` as a float (``None`` stays); a clear error for no finite number."""
    if target is None:
        return None
    try:
        finite = math.isfinite(target)
    except TypeError:
        raise TypeError(f"target must be a number or None, got target={target!r}") from None
    if not finite:
        raise ValueError(f"target must be finite, got target={target!r}")
    return float(target)


def chain(*callbacks: Callable[[Result], Any] | None) -> Callable[[Result], Any] | None:
    """One callback that calls each of ``callbacks`` (``None`` ones left out) in turn."""
    active = [c for c in callbacks if c is not None]
    if len(active) < 2:
        return active[0] if active else None

    def each(intermediate_result: Result) -> None:
        for c in active:
            c(intermediate_result)

    return each


def _first_stage(
    model: Any,
    x0: Any,
    guard: Guard,
    callback: Callable[[Result], Any] | None,
    *,
    method: str,
    tol: float,
    atol: float,
    max_iter: int,
    **options: Any,
) -> Result:
    """``method``'s run under ``guard`` (``callback`` chained before the guard's own): its
    result, or what the guard saw of it where the oracle broke its contract. A run that
    ended non-finite, or whose safeguard gave up (every trial step rejected, or a finite
    difference of ``f`` that contradicts the gradient), trips the guard; one that ended
    ``DIVERGED`` does so where the guard watches divergence."""
    chained = guard.callback  # the guard's own callback runs too
    guard.callback = chain(callback, chained)
    try:
        try:
            first = quiet_minimize(
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
            first = _salvage(guard, method, exc)
        except Exception as exc:  # (its .result: the guarded run's, as after a hand-over)
            raised = getattr(exc, "result", None)
            if isinstance(raised, Result):
                fields = {k: getattr(raised, k) for k in Result.__dataclass_fields__}
                exc.result = GuardedResult(  # type: ignore[attr-defined]
                    **fields, stages=[raised], settled_at=guard.settled_at
                )
            raise
    finally:
        guard.callback = chained
    if guard.tripped is None and first.status is Status.NON_FINITE:
        guard.trip("non_finite", first.nit, "f or the gradient became NaN/inf")
    elif guard.tripped is None and first.status is Status.STEP_FAILED:
        guard.trip("step_failed", first.nit, "the safeguard rejected every trial step")
    elif guard.tripped is None and first.status is Status.GRADIENT_MISMATCH:
        # (the message ends with where and by how much, in parentheses)
        where = first.message.removeprefix(Status.GRADIENT_MISMATCH.message).strip()
        detail = (
            "a finite difference of f (the safeguard's, a line search's, or the check of a "
            "run that converged above f(x0) or diverged) disagreed with the gradient"
        )
        guard.trip("gradient_mismatch", first.nit, f"{detail} {where}".rstrip())
    elif (
        guard.tripped is None
        and first.status is Status.DIVERGED
        and guard.divergence is not None
        and "divergence" in guard.thresholds
    ):
        where = first.message.removeprefix(Status.DIVERGED.message).strip()
        detail = "f at the last point rose far above the lowest f seen"
        guard.trip("diverged", first.nit, f"{detail} {where}".rstrip())
    return first


def _handover(first: Result, guard: Guard, fallback: dict[str, Any]) -> Handover:
    """The record of the guard's trip at the end of the first stage."""
    assert guard.tripped is not None
    h1 = first.history
    usable = np.isfinite(h1.f) & np.isfinite(h1.grad_norm)
    best_row = int(np.argmin(np.where(usable, h1.f, np.inf)))
    return Handover(
        reason=guard.tripped,
        detail=guard.detail,
        iteration=first.nit,
        row=len(h1),
        best_row=best_row,
        best_f=first.fun,
        time=float(h1.time[-1]),
        fallback=fallback,
    )


def _settled_note(iteration: int) -> str:
    return (
        f"Guard: f stopped changing at the limit of floating point from iteration "
        f"{iteration} (a step's certified decrease below {STAGNATION_RTOL:g} |f|); the "
        "stagnation risk there is convergence as far as f can show, not a hand-over."
    )


def _unstarted(
    first: Result,
    handover: Handover,
    why: str,
    *,
    settled_at: int | None,
    status: Status | None = None,
) -> GuardedResult:
    """The guarded result of a run whose fallback could not start from the first stage's
    best point (``f`` or its gradient there, evaluated again, is not finite): that point,
    with the first stage's status as the guard left it (:func:`_stopped_by`), or ``status``
    (``INTERRUPTED``: a Ctrl-C as the fallback started), and a message that says so."""
    method = first.method
    note = f"{_settled_note(settled_at)} " if settled_at is not None else ""
    note += (
        f"Guard: {method} handed over to {describe_rule(handover.fallback)} at iteration "
        f"{first.nit} (risk '{handover.reason}' {handover.detail}), but the fallback could "
        f"not start from the best point f = {first.fun:.6e}: evaluated again there, {why}; "
        f"returning {method}'s best point. "
    )
    fields = {k: getattr(first, k) for k in Result.__dataclass_fields__}
    fields.update(
        message=note + first.message, method=f"{method}{HANDED_OVER}{handover.fallback['method']}"
    )
    fields["status"] = _stopped_by(first) if status is None else status
    return GuardedResult(
        **fields, handover=handover, stages=[first], kept_first=True, settled_at=settled_at
    )


def _interrupted_start(
    first: Result, handover: Handover, *, settled_at: int | None
) -> GuardedResult:
    """The guarded result of a run whose fallback a ``KeyboardInterrupt`` stopped as it
    started (before it had a result): the first stage's best point, ``INTERRUPTED``."""
    why = "the run was interrupted (KeyboardInterrupt) as it started"
    return _unstarted(first, handover, why, settled_at=settled_at, status=Status.INTERRUPTED)


def _stopped_by(first: Result) -> Status:
    """The first stage's status as the guard left it, for a guarded result that takes its
    status from that stage: its own, except ``RAISED`` (an oracle's exception that the guard
    handled, so that none propagates), which reads ``CALLBACK_STOP``, as a stage the guard
    stopped on a risk indicator does."""
    return Status.CALLBACK_STOP if first.status is Status.RAISED else first.status


def _combine(
    first: Result,
    second: Result,
    handover: Handover,
    *,
    reached: str | None,
    settled_at: int | None,
    first_converged: bool = False,
) -> GuardedResult:
    """The guarded result of a run handed over: the fallback's point, or the first stage's
    where the fallback ended worse (a higher ``f``, or not converged where the first stage's
    point had ``reached`` its target, a description of it).

    The status is the fallback's, except where the first stage's point is kept over a
    fallback that converged (to a higher ``f``): then it is that point's, ``CONVERGED``
    only where it passed the stopping test (``first_converged``), the first stage's status
    as the guard left it otherwise (:func:`_stopped_by`)."""
    method, fallback = first.method, handover.fallback
    # (a fallback that ends where f is NaN, as SciPy's may, ends no lower either)
    higher = second.fun > first.fun or (math.isnan(second.fun) and not math.isnan(first.fun))
    kept_first = higher or (reached is not None and not second.success)
    end = first if kept_first else second
    status, message = second.status, second.message
    if kept_first and second.success and not first_converged:
        status = _stopped_by(first)
        message = (
            f"That point has not converged (||g|| = {first.grad_norm:.3e}); the status is "
            f"{method}'s there, {status.name}."
        )
    elif kept_first and second.success:
        status, message = Status.CONVERGED, Status.CONVERGED.message
    risks = _merged_risks(first, second)
    note = f"{_settled_note(settled_at)} " if settled_at is not None else ""
    note += (
        f"Guard: {method} handed over to {describe_rule(fallback)} at iteration {first.nit} "
        f"(risk '{handover.reason}' {handover.detail}), from the best point "
        f"f = {first.fun:.6e}. "
    )
    if higher:
        where = "above that point" if second.fun > first.fun else "where f is not finite"
        note += (
            f"The fallback ended {where} (f = {second.fun:.6e}); returning {method}'s best point. "
        )
    elif kept_first:
        note += (
            f"The fallback ended {second.status.name} without converging, while {method}'s "
            f"point had reached {reached}; returning {method}'s point "
            f"(the fallback's f = {second.fun:.6e}). "
        )
    return GuardedResult(
        x=end.x,
        fun=end.fun,
        jac=end.jac,
        nit=first.nit + second.nit,
        nfev=first.nfev + second.nfev,
        njev=first.njev + second.njev,
        noracle=first.noracle + second.noracle,
        status=status,
        message=note + message,
        method=f"{method}{HANDED_OVER}{fallback['method']}",
        grad_norm=end.grad_norm,
        history=concat_histories(first.history, second.history),
        rollbacks=first.rollbacks + second.rollbacks,
        nhev=first.nhev + second.nhev,
        risks=risks,
        handover=handover,
        stages=[first, second],
        kept_first=kept_first,
        settled_at=settled_at,
    )


def judge_against(result: GuardedResult, target: float) -> GuardedResult:
    """``result`` judged again with ``target`` (known only once the run is over): a first
    stage that had reached it is kept over a fallback that ended without converging. The
    same ``result`` where that changes nothing; its ``roi`` carries over."""
    if result.handover is None or len(result.stages) != 2 or result.kept_first:
        return result
    first, second = result.stages
    if second.success or not first.fun <= target:
        return result
    judged = _combine(
        first,
        second,
        result.handover,
        reached=f"the target f <= {target:.6e}",
        settled_at=result.settled_at,
    )
    judged.roi = result.roi
    return judged
