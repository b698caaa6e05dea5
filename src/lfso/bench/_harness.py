"""Run (problem, method) cases and measure what they cost to reach the tolerance."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from .._arrays import as_vector
from .._minimize import minimize
from .._progress import ProgressBar
from .._result import History, Result, Status, stop_if_interrupted
from .._validate import integer, nonnegative
from ..models import Model
from ._problems import Problem
from ._suite import BENCH_METHODS, BENCH_PROBLEMS, BenchMethod
from ._tuning import DEFAULT_STEP_GRID, step_grid, tune_step

__all__ = ["Record", "ScipyRun", "run_case", "run_suite", "scipy_lbfgs"]


@dataclass
class Record:
    """What one (problem, method) run cost.

    Attributes
    ----------
    status : str
        ``converged`` (``||g|| <= tol ||g0||``), ``capped`` (hit the evaluation cap),
        ``stalled`` (stopped by its own test short of the tolerance and the cap: lfso's
        ``STALLED`` or ``PRECISION_LIMIT``, SciPy's line search or its own convergence
        test), ``failed`` (non-finite, diverged, a failed step, or every grid step blew up) or
        ``n/a`` (with ``reason``).
    njev, nfev, noracle : int
        Gradient, function and oracle evaluations of the run (the best grid run for tuned
        methods).
    accuracy : float
        The best ``||g|| / ||g0||`` reached.
    njev_f : int or None
        Gradient evaluations until ``f - f* <= 1e-12 (f0 - f*)`` (when ``f*`` is known).
    seconds, per_iteration : float
        Wall time of the run and per iteration.
    step, grid_njev, grid_nfev : float, int, int
        Tuned methods: the best step and the whole grid's evaluations.
    curve : dict
        ``njev``, ``grad`` (relative) and ``f`` per iterate, for the plots.
    """

    problem: str
    method: str
    status: str
    reason: str = ""
    njev: int = 0
    nfev: int = 0
    noracle: int = 0
    iterations: int = 0
    accuracy: float = math.nan
    njev_f: int | None = None
    seconds: float = math.nan
    per_iteration: float = math.nan
    step: float | None = None
    grid_njev: int | None = None
    grid_nfev: int | None = None
    curve: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def evaluations(self) -> int:
        """Function plus gradient evaluations."""
        return self.nfev + self.njev


def label(status: Status) -> str:
    """A record's status for a run that stopped with ``status`` (:class:`Record`)."""
    if status is Status.CONVERGED:
        return "converged"
    if status is Status.MAX_ITER:
        return "capped"
    if status in (Status.STALLED, Status.PRECISION_LIMIT):
        return "stalled"
    return "failed"


def _record_from(problem: Problem, method: str, res: Result, f_star: float | None) -> Record:
    h = res.history
    grad = h.grad_norm / h.grad_norm[0]
    finite = np.isfinite(h.f) & np.isfinite(h.grad_norm)
    status = label(res.status) if finite[-1] else "failed"
    njev_f = None
    if f_star is not None:
        gap = h.f - f_star
        hit = np.nonzero(finite & (gap <= 1e-12 * (h.f[0] - f_star)))[0]
        njev_f = int(h.njev[hit[0]]) if hit.size else None
    seconds = float(h.time[-1])
    return Record(
        problem.name,
        method,
        status,
        njev=res.njev,
        nfev=res.nfev,
        noracle=res.noracle,
        iterations=res.nit,
        accuracy=float(np.min(grad[finite])) if finite.any() else math.inf,
        njev_f=njev_f,
        seconds=seconds,
        per_iteration=seconds / max(res.nit, 1),
        curve={"njev": h.njev, "grad": grad, "f": h.f},
    )


#: The name of SciPy's L-BFGS-B as :func:`scipy_lbfgs` runs it (its result's ``method``, and
#: the rule ``{"method": "scipy:L-BFGS-B"}`` of :mod:`lfso.rollout`).
SCIPY_LBFGS = "scipy:L-BFGS-B"


class ScipyRun(NamedTuple):
    """One SciPy L-BFGS-B run (:func:`scipy_lbfgs`)."""

    calls: list[tuple[Any, float, float]]  # (x, f, ||g||) of every call SciPy made
    g0: float  # ||grad f(x0)||, from one extra evaluation
    converged: bool
    iterations: int
    seconds: float  # wall time, the g0 evaluation included
    result: Result  # the run as an lfso Result (SciPy's counts; see scipy_lbfgs's history)


class _OutOfCallsError(Exception):
    """Raised by :func:`scipy_lbfgs`'s objective in place of a call past its cap."""


def scipy_lbfgs(
    model: Any,
    x0: np.ndarray,
    *,
    cap: int,
    tol: float,
    atol: float = 0.0,
    callback: Callable[[Result], Any] | None = None,
    history: bool = False,
) -> ScipyRun:
    """SciPy's L-BFGS-B on ``model``, stopped by our gradient test
    ``||g|| <= max(tol ||g0||, atol)`` (at a point where ``f`` is finite, as in
    :func:`lfso.minimize`).

    Every call is ``model.evaluate(x, bound=False)`` (one value and one gradient); the
    test runs at SciPy's iterates (the newest evaluation at ``x``), through a callback that
    raises ``StopIteration``. SciPy's own tests are off (``gtol = ftol = 0``). ``cap``
    bounds its iterations and its calls: at most ``cap`` of each (SciPy's own ``maxiter``
    and ``maxfun`` let a line search run past them, so the calls are counted here); a run
    stopped there ends ``MAX_ITER`` at its last iterate (``x0`` before the first; with
    ``cap=0`` SciPy makes no call). A ``KeyboardInterrupt`` ends the run ``INTERRUPTED``
    at its last iterate too (each iterate of L-BFGS-B lowers ``f``: the best point so far).
    Where ``x0`` passes the test (``tol >= 1``, or ``atol >= ||g0||``), the run stops there
    converged, as :func:`lfso.minimize` does: SciPy is not called, and ``x0``'s evaluation
    is its one call (``nit = 0``, ``nfev = njev = 1``; with ``cap=0``, none).
    The one runner for the benchmarks, ``lfso demo``, ``benchmarks/lbfgs_wallclock.py``
    and a rollout whose current rule is SciPy's (``{"method": "scipy:L-BFGS-B"}``,
    :mod:`lfso.rollout`).

    The run also comes back as an :class:`lfso.Result` (``result``, method
    ``"scipy:L-BFGS-B"``): SciPy's ``x``, ``fun``, ``jac``, ``nit``, ``nfev`` and ``njev``
    (``g0``'s evaluation is not SciPy's, and is not counted), and a history: ``x0``'s row,
    and with ``history=True`` or a ``callback`` a row per iterate, ``f`` and ``||g||``
    there, the calls SciPy had made by then (``nfev`` and ``njev`` alike: each call is one
    value and one gradient) and the seconds since SciPy started (no step, ``L`` or ``R``:
    NaN). Without them the run records nothing more than its test needs, so that the
    benchmarks time SciPy alone. ``callback(intermediate_result)``, if given, gets that
    result so far at each iterate, before the test; a ``StopIteration`` it raises ends the
    run (``Status.CALLBACK_STOP``). Any other exception, the callback's or the objective's,
    propagates with the run so far (the last iterate, ``Status.RAISED``) as its ``.result``.
    """
    from scipy.optimize import minimize as scipy_minimize

    x0, cap, tol, atol = _checked(model, x0, cap, tol, atol, callback)
    calls: list[tuple[Any, float, float]] = []
    iterates = History()
    # The history's rows after x0's, (f, ||g||, calls, time), where asked for, made into
    # the history after the run where no callback reads it during the run
    record = history or callback is not None
    rows: list[tuple[Any, float, int, float]] = []
    newest: dict[str, Any] = {}  # the gradient of the newest call
    start = time.perf_counter()

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        if len(calls) >= cap:
            raise _OutOfCallsError
        ev = model.evaluate(x, bound=False)
        calls.append((x.copy(), ev.value, ev.grad_norm))
        newest["grad"] = grad = np.asarray(ev.grad)
        return ev.value, grad

    first = model.evaluate(x0, bound=False)
    g0, threshold = first.grad_norm, max(tol * first.grad_norm, atol)
    begin = time.perf_counter()
    # the last iterate: its row of calls and its gradient (x0's, from g0's evaluation)
    state: dict[str, Any] = {"converged": False, "nit": 0, "capped": False, "row": None}
    state["jac"] = np.asarray(first.grad)

    def stop(intermediate_result: Any) -> None:
        state["nit"] += 1
        x, n, row, gnorm = intermediate_result.x, len(calls), None, math.nan
        for i in range(n - 1, -1, -1):  # (the newest call at x: the iterate's)
            if np.array_equal(calls[i][0], x):
                row, gnorm = i, calls[i][2]
                break
        jac = newest["grad"] if row == n - 1 else np.full_like(x, math.nan)
        state["row"], state["jac"] = row, jac
        if record:
            rows.append((intermediate_result.fun, gnorm, n, time.perf_counter()))
        if callback is not None:
            _fill(iterates, calls, rows, begin)
            f = float(intermediate_result.fun)
            callback(_lbfgs_result(np.copy(x), f, jac, state["nit"], n, n, iterates))
        if gnorm <= threshold and row is not None and math.isfinite(calls[row][1]):
            state["converged"] = True
            raise StopIteration
        if state["nit"] >= cap:
            state["capped"] = True
            raise StopIteration

    if cap >= 1 and g0 <= threshold:  # (x0 passes the test: no call of SciPy's)
        res = _converged_at_x0(x0, first.value, g0, state, calls)
    else:
        try:
            res = scipy_minimize(
                fun,
                x0,
                jac=True,
                method="L-BFGS-B",
                callback=stop,
                options={"maxiter": max(cap, 1), "maxfun": max(cap, 1), "gtol": 0.0, "ftol": 0.0},
            )
        except (_OutOfCallsError, KeyboardInterrupt) as exc:
            res = _stopped_early(exc, x0, first.value, state, calls, threshold)
        except Exception as exc:  # (the objective's or the callback's, with the run so far)
            _attach_so_far(exc, x0, first.value, state, calls, (iterates, rows, begin))
            raise
    seconds = time.perf_counter() - start
    if calls:
        _fill(iterates, calls, rows, begin)
    else:  # (cap 0: x0's row from g0's evaluation, no call of SciPy's)
        iterates.append(first.value, g0, *_NO_STEP, 0, 0, 0, 0.0)
    if not state["converged"] and res.status not in (99, -1):
        state["converged"] = _converged_at(np.asarray(res.x), calls, threshold)
    result = _result_of(res, state, cap, iterates)
    return ScipyRun(calls, g0, bool(state["converged"]), int(state["nit"]), seconds, result)


def _result_of(res: Any, state: dict[str, Any], cap: int, history: History) -> Result:
    """:func:`scipy_lbfgs`'s result from SciPy's ``res`` and the run's ``state``
    (``converged`` by our test, ``capped`` by ``cap``), with its ``history``."""
    status = _status(res, state["converged"], capped=state["capped"])
    message = f"SciPy's L-BFGS-B: {status.message}"
    if status is Status.NON_FINITE:  # (SciPy returns the point where f is not finite)
        message = "SciPy's L-BFGS-B: stopped at a point where f or its gradient is not finite."
    if state["capped"]:
        message += f" (cap={cap} bounds its iterations and its calls)"
    elif status is not Status.CONVERGED and res.status not in (99, -1):
        message += f" SciPy's message: {res.message}"
    return _lbfgs_result(
        np.asarray(res.x),
        float(res.fun),
        np.asarray(res.jac),
        int(res.nit),
        int(res.nfev),
        int(res.njev),
        history,
        status,
        message,
    )


def _converged_at_x0(
    x0: np.ndarray, f0: float, g0: float, state: dict[str, Any], calls: list[Any]
) -> Any:
    """SciPy's result of a :func:`scipy_lbfgs` run whose ``x0`` passes the gradient test:
    SciPy is not called, and ``x0``'s evaluation is the run's one call (as
    :func:`lfso.minimize` stops at ``x0`` after one evaluation)."""
    from scipy.optimize import OptimizeResult

    calls.append((np.copy(x0), f0, g0))
    state["converged"], state["row"] = True, 0
    return OptimizeResult(
        x=np.copy(x0),
        fun=f0,
        jac=state["jac"],
        nit=0,
        nfev=1,
        njev=1,
        status=0,
        message="x0 passes the gradient test",
    )


def _stopped_early(
    exc: BaseException,
    x0: np.ndarray,
    f0: float,
    state: dict[str, Any],
    calls: list[tuple[Any, float, float]],
    threshold: float,
) -> Any:
    """SciPy's result of a :func:`scipy_lbfgs` run that ``exc`` stopped inside SciPy (its
    cap of calls, or a ``KeyboardInterrupt``): the last iterate, with SciPy's fields and
    ``status`` ``-1`` (ours, not SciPy's)."""
    from scipy.optimize import OptimizeResult

    row = state["row"]
    x, f = _last_point(x0, f0, state, calls)
    if isinstance(exc, KeyboardInterrupt):
        why = "interrupted (KeyboardInterrupt)"
    else:  # (our test at the last iterate: x0's where SciPy made no iterate yet)
        at = float(np.linalg.norm(state["jac"])) if row is None else calls[row][2]
        state["converged"] = at <= threshold
        state["capped"] = not state["converged"]
        why = f"stopped at the cap of {len(calls)} calls, within a line search"
    return OptimizeResult(
        x=np.copy(x),
        fun=f,
        jac=state["jac"],
        nit=state["nit"],
        nfev=len(calls),
        njev=len(calls),
        status=-1,
        message=why,
    )


def _last_point(
    x0: np.ndarray, f0: float, state: dict[str, Any], calls: list[tuple[Any, float, float]]
) -> tuple[Any, float]:
    """``(x, f)`` of the last iterate of a :func:`scipy_lbfgs` run (``state["row"]``, its
    row among ``calls``), or of ``x0`` where SciPy made none yet."""
    row = state["row"]
    return (x0, f0) if row is None else (calls[row][0], calls[row][1])


def _attach_so_far(
    exc: Exception,
    x0: np.ndarray,
    f0: float,
    state: dict[str, Any],
    calls: list[tuple[Any, float, float]],
    record: tuple[History, list[tuple[Any, float, int, float]], float],
) -> None:
    """Attach the :func:`scipy_lbfgs` run that ``exc`` stopped (raised by the objective or
    the callback) to ``exc`` as ``exc.result``: the last iterate, status ``RAISED``, as
    :func:`lfso.minimize` does; ``record``: the history, its rows and its clock's start
    (:func:`_fill`)."""
    history, rows, begin = record
    _fill(history, calls, rows, begin)
    x, f = _last_point(x0, f0, state, calls)
    n = len(calls)
    message = f"SciPy's L-BFGS-B: {Status.RAISED.message} ({type(exc).__name__})"
    result = _lbfgs_result(
        np.copy(x), f, state["jac"], state["nit"], n, n, history, Status.RAISED, message
    )
    try:
        exc.result = result  # type: ignore[attr-defined]
    except AttributeError:  # (an exception type that takes no attributes)
        pass


def _checked(
    model: Any, x0: Any, cap: Any, tol: Any, atol: Any, callback: Any
) -> tuple[np.ndarray, int, float, float]:
    """:func:`scipy_lbfgs`'s inputs, checked: ``(x0, cap, tol, atol)``."""
    if not isinstance(model, Model):
        raise TypeError(f"model must be a model of lfso.models, got {type(model).__name__}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got callback={callback!r}")
    x = as_vector(x0, "x0", np)
    return x, integer(cap, "cap", low=0), nonnegative(tol, "tol"), nonnegative(atol, "atol")


def _converged_at(x: np.ndarray, calls: list[tuple[Any, float, float]], threshold: float) -> bool:
    """Our gradient test at the point SciPy stopped at, read from the newest call there:
    SciPy stops without calling back where its own test holds at ``x0``, or at a point its
    line search cannot leave (a gradient that is exactly zero there). Not where ``f`` there
    is not finite."""
    for point, value, gnorm in reversed(calls):
        if np.array_equal(point, x):
            return bool(gnorm <= threshold and math.isfinite(value))
    return False


def _status(res: Any, converged: bool, *, capped: bool) -> Status:
    """The status of SciPy's run ``res`` (``converged``: by our gradient test; ``capped``:
    stopped by :func:`scipy_lbfgs`'s own cap; a ``res`` of status -1 that was not:
    interrupted)."""
    if converged:
        return Status.CONVERGED
    if capped:
        return Status.MAX_ITER
    if res.status == -1:
        return Status.INTERRUPTED
    if res.status == 99:  # (SciPy's status of a callback's StopIteration: the caller's)
        return Status.CALLBACK_STOP
    if not np.isfinite(res.fun):
        return Status.NON_FINITE
    # SciPy's limits (maxiter, maxfun), or its line search found no lower f
    return Status.MAX_ITER if res.status == 1 else Status.STALLED


_NO_STEP = (math.nan, math.nan, math.nan)  # a history row's step, L and R: none


def _fill(
    history: History,
    calls: list[tuple[Any, float, float]],
    rows: list[tuple[Any, float, int, float]],
    begin: float,
) -> None:
    """:func:`scipy_lbfgs`'s history brought up to ``rows``: x0's row (SciPy's first call,
    at 0 s) and one per iterate (seconds since ``begin``)."""
    if not history and calls:
        history.append(calls[0][1], calls[0][2], *_NO_STEP, 1, 1, 0, 0.0)
    for f, gnorm, n, clock in rows[len(history) - 1 :]:
        history.append(float(f), gnorm, *_NO_STEP, n, n, 0, clock - begin)


def _lbfgs_result(
    x: np.ndarray,
    f: float,
    jac: np.ndarray,
    nit: int,
    nfev: int,
    njev: int,
    history: History,
    status: Status = Status.MAX_ITER,
    message: str = "In progress.",
) -> Result:
    """A :func:`scipy_lbfgs` run as an :class:`lfso.Result` (with the defaults, the
    intermediate result its callback gets)."""
    return Result(
        x=x,
        fun=f,
        jac=jac,
        nit=nit,
        nfev=nfev,
        njev=njev,
        noracle=0,
        status=status,
        message=message,
        method=SCIPY_LBFGS,
        grad_norm=float(np.linalg.norm(jac)),
        history=history,
    )


def lbfgs_record(problem: Problem, model: Any, x0: np.ndarray, cap: int, tol: float) -> Record:
    """:func:`scipy_lbfgs` on a benchmark problem, as a :class:`Record` (a
    ``KeyboardInterrupt`` that ended the run is raised again: it stops the suite or the
    demo, not only this run)."""
    run = scipy_lbfgs(model, x0, cap=cap, tol=tol)
    stop_if_interrupted(run.result, f"L-BFGS-B on {problem.name}")
    calls, g0, seconds = run.calls, run.g0, run.seconds
    state = {"converged": run.converged, "nit": run.iterations}
    f = np.array([c[1] for c in calls])
    grad = np.array([c[2] for c in calls]) / g0
    n = len(calls)
    f_star = problem.f_star() if problem.f_star is not None else None
    njev_f = None
    if f_star is not None:
        hit = np.nonzero(f - f_star <= 1e-12 * (f[0] - f_star))[0]
        njev_f = int(hit[0] + 1) if hit.size else None
    finite = np.isfinite(grad)
    return Record(
        problem.name,
        "lbfgs",
        label(run.result.status),
        njev=n,
        nfev=n,
        iterations=state["nit"],
        accuracy=float(np.min(grad[finite])) if finite.any() else math.inf,
        njev_f=njev_f,
        seconds=seconds,
        per_iteration=seconds / max(state["nit"], 1),
        curve={"njev": np.arange(1, n + 1), "grad": grad, "f": f},
    )


def run_case(
    problem: Problem | str,
    method: BenchMethod | str,
    *,
    cap: int = 50_000,
    tol: float = 1e-8,
    grid: Sequence[float] = DEFAULT_STEP_GRID,
) -> Record:
    """Run one method on one problem, at most ``cap`` gradient evaluations per run.

    ``problem`` and ``method`` are names of :data:`BENCH_PROBLEMS` and
    :data:`BENCH_METHODS` or entries of them; ``cap >= 1``, ``tol >= 0``, and ``grid``
    the fixed steps a tuned method tries (finite, > 0). The runs issue no risk warnings
    (``monitor="quiet"``; the records carry the outcome), without touching the
    process-wide warning filters.
    """
    return _run_case(
        _named(problem, BENCH_PROBLEMS, "problem", Problem),
        _named(method, BENCH_METHODS, "method", BenchMethod),
        integer(cap, "cap", low=1),
        nonnegative(tol, "tol"),
        step_grid(grid, "grid"),
    )


def _named(value: Any, table: dict[str, Any], name: str, kind: type) -> Any:
    """``table[value]`` for a name (a ``ValueError`` naming ``name``, the value and the
    choices where it is none of them); a ``kind`` as it is (anything else: ``TypeError``)."""
    if isinstance(value, kind):
        return value
    if not isinstance(value, str):
        raise TypeError(
            f"{name} must be a {name}'s name (a str) or a {kind.__name__}, got "
            f"{name}={value!r} ({type(value).__name__})"
        )
    try:
        return table[value]
    except KeyError:
        raise ValueError(f"unknown {name} {value!r}; choose from: {', '.join(table)}") from None


def _run_case(
    problem: Problem, method: BenchMethod, cap: int, tol: float, grid: Sequence[float]
) -> Record:
    options = method.options(problem)
    if isinstance(options, str):
        return Record(problem.name, method.name, "n/a", reason=options)
    options = dict(options)
    options.setdefault("monitor", "quiet")
    oracle = options.pop("oracle", "sharp")
    model, x0 = problem.build(oracle)
    if options.get("method") == "scipy-lbfgs":
        return lbfgs_record(problem, model, x0, cap, tol)
    f_star = problem.f_star() if problem.f_star is not None else None
    if not method.tuned:
        res = minimize(model, x0, tol=tol, max_iter=cap - 1, **options)
        # (a suite with a run cut short measures nothing)
        stop_if_interrupted(res, f"{method.name} on {problem.name}")
        return _record_from(problem, method.name, res, f_star)

    tuned = tune_step(model, x0, grid, tol=tol, max_iter=cap - 1, blowup=1e6, **options)
    best = _record_from(problem, method.name, tuned.result, f_star)
    if tuned.step in tuned.failed:
        best.status = "failed"
    best.step = tuned.step
    best.grid_njev = tuned.total_njev
    best.grid_nfev = sum(res.nfev for _, res in tuned.runs)
    return best


def run_suite(
    problems: Sequence[str],
    methods: Sequence[str],
    *,
    cap: int = 50_000,
    tol: float = 1e-8,
    grid: Sequence[float] = DEFAULT_STEP_GRID,
    progress: bool | None = None,
) -> list[Record]:
    """Every method on every problem; a progress bar on a terminal (or if ``progress``).

    Every name, ``cap``, ``tol`` and ``grid`` are checked before the first run (a
    ``ValueError`` naming the argument and the value; a single name where a sequence of
    them is expected, a ``TypeError``)."""
    for name, names in (("problems", problems), ("methods", methods)):
        if isinstance(names, str):
            raise TypeError(f"{name} must be a sequence of names, got the str {names!r}")
    cases = [_named(p, BENCH_PROBLEMS, "problem", Problem) for p in problems]
    rules = [_named(m, BENCH_METHODS, "method", BenchMethod) for m in methods]
    cap, tol = integer(cap, "cap", low=1), nonnegative(tol, "tol")
    grid = step_grid(grid, "grid")
    bar = ProgressBar(len(cases) * len(rules), "lfso bench", enabled=progress)
    records = []
    try:
        for p in cases:
            for m in rules:
                records.append(run_case(p, m, cap=cap, tol=tol, grid=grid))
                bar.update(1, f"{p.name} / {m.name}")
    finally:
        bar.close()
    return records
