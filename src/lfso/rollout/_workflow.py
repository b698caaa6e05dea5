"""The whole rollout as one call: pilot, guarded run, return on investment, live report."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._result import History, Result, Status, ran_its_course
from .._validate import flag, integer, positive
from ..bench._harness import SCIPY_LBFGS
from ..bench._tuning import tune_step
from ._guard import (
    Guard,
    GuardedResult,
    Handover,
    chain,
    guarded_minimize,
    judge_against,
)
from ._pilot import GoCriteria, PilotEvidence, check_criteria, pilot
from ._roi import ReturnOnInvestment, TuningBudget, _return_on_investment
from ._rules import (
    as_model,
    check_method,
    check_not_a_stage_keyword,
    check_options,
    check_rule,
    describe_rule,
    one_callback,
    run_rule,
)

if TYPE_CHECKING:
    from .._dashboard import LiveReport


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
    tol : float or None
        The runs' ``tol``: at 0 a guarded run that ends at the iteration cap, ``STALLED``
        or ``PRECISION_LIMIT`` did what it was asked, which :attr:`verdict` does not call
        "not converged" (``None``: not known).
    """

    pilot: PilotEvidence
    go: bool
    result: GuardedResult | None
    roi: ReturnOnInvestment | None
    report: Path | None = None
    tol: float | None = None

    @property
    def verdict(self) -> str:
        """The decision with what the guarded stage showed: ``GO`` alone only where the
        guarded run converged (or, at ``tol = 0``, ran its course: to the iteration cap or
        the limit of floating point) without a hand-over; otherwise what to know (the
        iteration cap, a hand-over, a fallback that did worse)."""
        head = "GO" if self.go else "NO-GO: keep the current rule"
        r = self.result
        if r is None:
            return head
        if not self.go:
            head += " (the guarded stage ran, forced)"
        notes = []
        if r.handover is not None:
            notes.append(
                f"the guard handed the run over to the fallback at iteration "
                f"{r.handover.iteration} (risk '{r.handover.reason}')"
            )
        if r.kept_first:
            notes.append("the fallback did worse, so the result is the first stage's point")
        asked = r.success or (self.tol is not None and ran_its_course(self.tol, r))
        if r.status is Status.MAX_ITER and not asked:
            notes.append(
                f"the guarded run hit the iteration cap ({r.nit} iterations) before its "
                "stopping test: not converged; raise max_iter or loosen tol"
            )
        elif not asked:
            notes.append(f"the guarded run stopped with {r.status.name}: not converged")
        if r.settled_at is not None and not asked:
            notes.append(
                f"f had stopped changing at the limit of floating point from iteration "
                f"{r.settled_at}"
            )
        return f"{head}, but {'; '.join(notes)}" if notes else head

    def lines(self) -> list[str]:
        """The summary: the return on investment first, then the stages, then the verdict."""
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
            if r.settled_at is not None:
                out.append(
                    f"  f stopped changing at the limit of floating point from iteration "
                    f"{r.settled_at}: converged as far as f can show (stagnation not acted on)"
                )
            out += r.handover.lines() if r.handover else ["  no hand-over: the guard never tripped"]
            if r.kept_first and len(r.stages) == 2:
                first, second = r.stages
                out.append(
                    f"  the fallback ended worse ({second.status.name}, f = {second.fun:.6e}): "
                    f"the result keeps the first stage's point (f = {first.fun:.6e})"
                )
        out.append(f"verdict: {self.verdict}")
        if self.report is not None:
            out.append(f"report: {self.report}")
        return out


def _detail(result: GuardedResult) -> str:
    """The guarded stage in one line, for the live report."""
    detail = f"{result.status.name}, f = {result.fun:.6e}"
    ho = result.handover
    if ho is not None:
        detail += (
            f"; handed over to {describe_rule(ho.fallback)} at iteration {ho.iteration} "
            f"(risk '{ho.reason}')"
        )
    if result.kept_first:
        detail += "; the fallback did worse: the first stage's point is kept"
    return detail


def _grid(current: Mapping[str, Any]) -> list[float]:
    step = float(current["step"])
    return [step * 10.0**k for k in range(-3, 4)]


def _measure_roi(
    model: Any,
    x0: Any,
    current: Mapping[str, Any],
    lfso_history: History,
    tuning: str | TuningBudget | Sequence[float],
    criteria: GoCriteria,
    *,
    tol: float,
    max_iter: int,
    atol: float = 0.0,
) -> tuple[ReturnOnInvestment, dict[str, Result]]:
    """The return on investment of the guarded run, and the current rule's runs it made
    (to the same stopping test as the guarded run's: ``tol``, ``atol``, ``max_iter``)."""
    _check_tuning(tuning, current)
    if isinstance(tuning, TuningBudget):
        base = run_rule(current, objective=model, x0=x0, tol=tol, atol=atol, max_iter=max_iter)
        roi = _return_on_investment(  # (both from x0: a noisy f0 is no other start)
            lfso_history, tuning, base.history, None, criteria.target_rtol, same_x0=True
        )
        roi = replace(roi, sources={**roi.sources, "current": f"measured: {_named(current)}"})
        return roi, {"current rule": base}
    steps = _grid(current) if isinstance(tuning, str) else list(tuning)
    rest = {k: v for k, v in current.items() if k not in ("method", "step")}
    with np.errstate(over="ignore", invalid="ignore"):  # steps that blow up
        tuned = tune_step(model, x0, steps, tol=tol, atol=atol, max_iter=max_iter, **rest)
    roi = _return_on_investment(
        lfso_history, tuned, None, current.get("step"), criteria.target_rtol, same_x0=True
    )
    return roi, {f"tuned gd (step {tuned.step:g})": tuned.result}


def _check_stages(criteria: Any, guard: Any, pilot_iter: Any, seed: Any, max_iter: Any) -> None:
    """:func:`rollout`'s ``criteria``, ``guard``, ``pilot_iter``, ``seed`` and ``max_iter``,
    checked before anything runs (a ``TypeError`` or ``ValueError`` naming the argument)."""
    check_criteria(criteria)
    integer(max_iter, "max_iter", low=0)  # (the guarded run's, used after the pilot)
    if guard is not None and not isinstance(guard, Guard):
        raise TypeError(
            f"guard must be a lfso.rollout.Guard or None (Guard(thresholds) for a mapping "
            f"of thresholds), got guard={guard!r}"
        )
    integer(pilot_iter, "pilot_iter", low=1)  # (a pilot of no step is no evidence)
    integer(seed, "seed", low=0)


#: Why ``rollout`` does not take a keyword of another stage's function.
_NOT_ROLLOUT = {
    "rows": ": rollout takes the pilot's rows as pilot_rows=",
    "on_handover": (
        " (its options go to the LFSO runs); the hand-over is in the result's handover, or "
        "run guarded_minimize yourself"
    ),
    "target": (
        " (its options go to the LFSO runs); rollout sets the guarded run's target itself, "
        "from the return on investment's runs"
    ),
}


def _check_tuning(tuning: Any, current: Mapping[str, Any]) -> None:
    """A ``ValueError`` for a ``tuning`` that cannot be measured for ``current``, before
    anything runs: a grid tunes the fixed step of a ``"gd"`` rule, and a sequence of steps
    holds steps ``> 0`` (a ``TypeError`` for anything else)."""
    if tuning is None or isinstance(tuning, TuningBudget):
        return
    if isinstance(tuning, str) and tuning != "grid":
        raise ValueError(f"tuning must be 'grid', steps, a TuningBudget or None, got {tuning!r}")
    if not isinstance(tuning, str):
        _check_steps(tuning)
    if current["method"] != "gd":
        nothing = " (0 where it was not tuned)" if current["method"] == SCIPY_LBFGS else ""
        given = (
            "tuning='grid'" if isinstance(tuning, str) else f"a grid of steps, tuning={tuning!r},"
        )
        raise ValueError(
            f"{given} tunes a fixed step (current method 'gd'); for "
            f"{current['method']!r} pass tuning=TuningBudget(gradients=...){nothing} or "
            "tuning=None"
        )


def _check_steps(tuning: Any) -> None:
    """``tuning`` as a grid of steps: a non-empty sequence of finite steps ``> 0``."""
    want = "'grid', a non-empty sequence of steps > 0, a TuningBudget or None"
    try:
        steps = list(tuning)
    except TypeError:
        raise TypeError(f"tuning must be {want}, got tuning={tuning!r}") from None
    if not steps:
        raise ValueError(f"tuning must be {want}, got tuning={tuning!r}")
    for step in steps:
        positive(step, f"each step of tuning={tuning!r}")


def _named(rule: Mapping[str, Any]) -> str:
    """A rule in words for the reports: SciPy's L-BFGS-B by name, with where its counts
    come from; an lfso rule as its options."""
    if rule["method"] == SCIPY_LBFGS:
        return f"SciPy's L-BFGS-B ({SCIPY_LBFGS}), its gradients SciPy's own njev"
    return describe_rule(rule)


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
    callback: Callable[[Result], Any] | None = None,
    **options: Any,
) -> Rollout:
    """Pilot, guarded run and return on investment, as one workflow.

    Parameters
    ----------
    objective, x0, tol, max_iter, grad, smoothness
        As for :func:`lfso.minimize`.
    current : mapping
        The rule used today, e.g. ``{"method": "gd", "step": 1e-3}`` (a method of
        :data:`lfso.METHODS` and its options), or ``{"method": "scipy:L-BFGS-B"}`` for
        SciPy's L-BFGS-B: ``scipy.optimize.minimize(fun, x0, jac=grad,
        method="L-BFGS-B")``, its own stopping tests replaced by the same ``tol``
        (``||g|| <= tol ||g0||``, tested at its iterates) and ``max_iter`` (at most that
        many iterations and calls), run by :func:`lfso.bench.scipy_lbfgs`. Its gradients
        and function values are SciPy's own ``njev`` and ``nfev`` (one call computes
        both), and the pilot, the guarded run's fallback and the return on investment count
        them; the summary names it. Any other method is a ``ValueError`` that lists the accepted
        names. L-BFGS-B has no step size to grid-tune: pass
        ``tuning=TuningBudget(gradients=...)`` (0 where it was not tuned) or ``None``.
    method : str
        The LFSO method to roll out. ``"lfso"`` by default, not :func:`lfso.minimize`'s
        ``"lfso-lbfgs"``: a rollout replaces the step size of the gradient descent a user
        runs today (``current``, a fixed step or a line search along ``-g``), so the
        default keeps the direction and changes only how the step is chosen, and the
        pilot, the guard and the return on investment compare like with like;
        ``method="lfso-lbfgs"`` rolls out the library's default instead.
    fallback : mapping, optional
        The rule the guard hands over to (default: ``current``), its options checked by
        a run of no step (one evaluation) before the pilot.
    pilot_rows, pilot_iter, criteria, seed
        The pilot's task (:func:`pilot`; ``pilot_iter`` is its ``max_iter``, an integer
        >= 1, and ``seed``, an integer >= 0, draws its rows).
    guard : Guard, optional
        The guard of the guarded run (:class:`Guard`; a mapping of thresholds is
        ``Guard(thresholds)``).
    tuning : "grid", sequence of steps, TuningBudget or None
        How the current rule's tuning cost is known: ``"grid"`` runs :func:`lfso.bench.tune_step`
        on the task over ``step x 10^-3 .. 10^3`` (a ``"gd"`` rule; a sequence gives the
        grid; nothing is charged where the current step is the grid's best), a
        :class:`TuningBudget` takes the user's figure (the current rule then runs once on the
        task for its time to target), ``None`` skips the ROI. Once the ROI's target is known,
        a guarded run whose first stage reached it is kept over a fallback that ended
        without converging.
    force : bool
        Run the guarded stage even on no-go.
    callback : callable or list of callables, optional
        ``callback(intermediate_result)`` after every iteration of the pilot's two runs and
        of the guarded run (``intermediate_result.method`` says which); ``StopIteration``
        ends that run, as in :func:`lfso.minimize`. The return on investment's runs are
        not watched.
    report : path, optional
        Write the live HTML report there (:class:`lfso.report.LiveReport`), refreshed
        every ``every`` seconds while the workflow runs. A workflow that ends in an
        exception leaves the page finished, the stage that was running marked
        ``interrupted`` (a ``KeyboardInterrupt``) or ``failed``.
    every : float > 0
        Seconds between rewrites of the ``report`` page.
    title : str
        The report page's title and heading.
    options
        Further ``minimize`` options for the LFSO runs; ``atol``, a stopping test, goes to
        every run (the pilot's two, both stages of the guarded run, the return on
        investment's).

    Returns
    -------
    Rollout
        Its :attr:`Rollout.verdict` is ``"GO"`` alone only where the guarded run converged
        without a hand-over; otherwise it says what happened (the iteration cap, ...).

    Raises
    ------
    KeyboardInterrupt
        Where a run of the pilot or of the tuning grid was interrupted (a run cut short is
        no evidence to decide or measure on). An interrupted guarded run ends the workflow
        with its result (status ``INTERRUPTED``, the best point) and no return on
        investment.

    Examples
    --------
    Rolling LFSO out where a fixed step of ``1e-2`` is used today (``lines()`` prints the
    whole summary, its measured seconds included):

    >>> import numpy as np, lfso
    >>> out = lfso.rollout.rollout(
    ...     lfso.models.PowerSum(2), np.ones(4), {"method": "gd", "step": 1e-2},
    ...     pilot_iter=300, max_iter=2000, tol=1e-6)
    >>> out.verdict, out.result.handover is None
    ('GO', True)
    >>> out.roi.lfso_gradients < out.roi.current_gradients
    True
    """
    from .._dashboard import LiveReport, check_page_path, check_title

    current = check_rule(current, "current")
    check_method(method)
    # (the fallback is the current rule unless given: its errors then name current)
    role = "fallback" if fallback is not None else "current"
    fallback = check_rule(fallback if fallback is not None else current, role)
    _check_tuning(tuning, current)
    _check_stages(criteria, guard, pilot_iter, seed, max_iter)
    force = bool(flag(force, "force"))
    check_not_a_stage_keyword(options, "rollout", _NOT_ROLLOUT)
    model = as_model(objective, grad, smoothness)
    check_options(fallback, role, objective=model, x0=x0)  # (used after the pilot)
    criteria = criteria if criteria is not None else GoCriteria()
    callback = one_callback(callback)
    positive(every, "every")  # (and title: the report's, checked with or without one)
    check_title(title)
    if report is not None:
        report = check_page_path(report, "report")
    live = LiveReport(report, title=title, every=every) if report is not None else None
    if live is not None:
        live.stage("pilot", "running", "current rule and lfso on the pilot task")
        live.stage("guarded", "pending")
        live.stage("roi", "pending" if tuning is not None else "skipped")
    try:
        return _stages(
            model,
            x0,
            current,
            fallback,
            live,
            method=method,
            pilot_rows=pilot_rows,
            pilot_iter=pilot_iter,
            criteria=criteria,
            guard=guard,
            tuning=tuning,
            tol=tol,
            max_iter=max_iter,
            force=force,
            seed=seed,
            callback=callback,
            **options,
        )
    except BaseException as exc:
        if live is not None:  # (the page must not go on saying the workflow runs)
            _abandon(live, exc)
        raise


def _abandon(live: LiveReport, exc: BaseException) -> None:
    """The finished page of a workflow that ended in ``exc``: the stage that was running
    marked ``interrupted`` (a ``KeyboardInterrupt``) or ``failed`` with the exception, and
    the stages that had not started ``skipped``."""
    state = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
    why = f"{type(exc).__name__}: {exc}".rstrip(": ")
    for name, (st, _) in list(live.stages.items()):
        if st == "running":
            live.stages[name] = (state, why)
        elif st == "pending":
            live.stages[name] = ("skipped", f"not run: the workflow {state}")
    live.finish()


def _stages(
    model: Any,
    x0: Any,
    current: dict[str, Any],
    fallback: dict[str, Any],
    live: LiveReport | None,
    *,
    method: str,
    pilot_rows: int | float | Sequence[int] | None,
    pilot_iter: int,
    criteria: GoCriteria,
    guard: Guard | None,
    tuning: str | TuningBudget | Sequence[float] | None,
    tol: float,
    max_iter: int,
    force: bool,
    seed: int,
    callback: Callable[[Result], Any] | None,
    **options: Any,
) -> Rollout:
    """:func:`rollout`'s stages, its arguments checked."""
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
        callback=chain(_pilot_watch(live), callback),
        **options,
    )
    go = evidence.go
    if live is not None:
        live.set_pilot(evidence)
        live.stage("pilot", "done", ("GO" if go else "NO-GO") + f" on {evidence.task}")
    result: GuardedResult | None = None
    roi: ReturnOnInvestment | None = None
    if go or force:
        result = _guarded_stage(
            model,
            x0,
            fallback,
            method,
            guard,
            live,
            tol=tol,
            max_iter=max_iter,
            callback=callback,
            **options,
        )
        if result.status is Status.INTERRUPTED:  # (stop: no grid after a KeyboardInterrupt)
            if live is not None and tuning is not None:
                live.stage("roi", "skipped", "the guarded run was interrupted")
        elif tuning is not None:
            result, roi = _roi_stage(
                model,
                x0,
                current,
                result,
                tuning,
                criteria,
                live,
                tol=tol,
                max_iter=max_iter,
                atol=options.get("atol", 0.0),
            )
    elif live is not None:
        live.stage("guarded", "skipped", "no-go: the current rule stays")
        live.stage("roi", "skipped")
    path = live.finish() if live is not None else None
    return Rollout(pilot=evidence, go=go, result=result, roi=roi, report=path, tol=tol)


def _pilot_watch(live: LiveReport | None) -> Callable[[Result], Any] | None:
    """The pilot's callback: its two runs (the current rule's, then lfso's) shown live."""
    if live is None:
        return None
    watchers: dict[str, Callable[[Result], Any]] = {}
    seen: list[History] = []

    def watch(r: Result) -> None:  # the pilot's two runs: the current rule's, then lfso's
        if not seen or seen[-1] is not r.history:
            seen.append(r.history)
        label = "pilot: current rule" if len(seen) == 1 else "pilot: lfso"
        watchers.setdefault(label, live.watch(label, pilot=True))(r)

    return watch


def _guarded_stage(
    model: Any,
    x0: Any,
    fallback: Mapping[str, Any],
    method: str,
    guard: Guard | None,
    live: LiveReport | None,
    *,
    tol: float,
    max_iter: int,
    callback: Callable[[Result], Any] | None = None,
    **options: Any,
) -> GuardedResult:
    """The guarded run (:func:`guarded_minimize`), shown live; ``callback`` watches it too."""
    if live is not None:
        live.stage("guarded", "running", f"{method} in charge, fallback {describe_rule(fallback)}")
        callback = chain(live.watch("guarded run"), callback)

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
        live.set_run("guarded run", result.history, handover=result.handover, result=result)
        # (a run cut short is no stage done, as on a plain run's page)
        state = "interrupted" if result.status is Status.INTERRUPTED else "done"
        live.stage("guarded", state, _detail(result))
    return result


def _roi_stage(
    model: Any,
    x0: Any,
    current: Mapping[str, Any],
    result: GuardedResult,
    tuning: str | TuningBudget | Sequence[float],
    criteria: GoCriteria,
    live: LiveReport | None,
    *,
    tol: float,
    max_iter: int,
    atol: float = 0.0,
) -> tuple[GuardedResult, ReturnOnInvestment]:
    """The return on investment of the guarded run, and that run judged against its target
    (known only now), shown live."""
    if live is not None:
        live.stage("roi", "running", "the current rule's tuning cost")
    roi, ran = _measure_roi(
        model, x0, current, result.history, tuning, criteria, tol=tol, max_iter=max_iter, atol=atol
    )
    result.roi = roi
    judged = judge_against(result, roi.target)  # the target is known only now
    if judged is not result:
        result = judged
        if live is not None:
            live.stage("guarded", "done", _detail(result))
    if live is not None:
        for label, run in ran.items():
            live.set_run(label, run.history, result=run)
        live.set_roi(roi)
        live.stage("roi", "done", roi.lines()[0])
    return result, roi
