"""The pilot: the current rule and LFSO on the same small task, and go / no-go."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._result import History, Result, Status, stop_if_interrupted
from .._validate import integer, positive, real
from ..monitor import RISKS
from ._rules import (
    as_model,
    check_method,
    check_not_a_stage_keyword,
    check_options,
    check_rule,
    one_callback,
    quiet_minimize,
    run_rule,
)
from ._subsample import subsample
from ._targets import check_same_start, relative_target, to_target


def _rows_of(model: Any) -> int:
    return int(model.data.shape[0])


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
        below 1: strictly fewer by that margin). Where the current rule never went below
        its start (it diverged at once: its target is ``f0``, held by both runs from their
        first gradient), LFSO meets this criterion by going below ``f0``.
    forbidden_risks : tuple of str
        Risk indicators (:data:`lfso.monitor.RISKS`) that must not fire in LFSO's pilot run
        (a list or set is taken too, and kept as a tuple in the order of ``RISKS``).
        All but ``stagnation`` by default: a run stuck before the target already fails the
        first criterion, and a run on a fixed budget (a PyTorch pilot) stagnates once it
        has converged.

    Notes
    -----
    Whatever the criteria, LFSO's safeguard must not give up in the pilot run (status
    ``STEP_FAILED``: every trial step of a step rejected; ``GRADIENT_MISMATCH``: a
    finite difference of ``f``, its own or the loop's check of a run that converged above
    ``f(x0)`` or diverged, disagreed with the gradient; a guarded run hands over to
    the fallback at either), even where the run had reached the target before.
    """

    target_rtol: float = 1e-6
    max_gradient_ratio: float = 1.0
    forbidden_risks: tuple[str, ...] = tuple(r for r in RISKS if r != "stagnation")

    def __post_init__(self) -> None:
        real(self.target_rtol, "target_rtol", low=0.0, high=1.0, high_open=True)
        positive(self.max_gradient_ratio, "max_gradient_ratio")
        risks = self.forbidden_risks
        if isinstance(risks, str) or not isinstance(risks, (tuple, list, set, frozenset)):
            raise TypeError(
                "forbidden_risks must be a tuple of risk indicator names, got "
                f"forbidden_risks={risks!r} ({type(risks).__name__})"
                + (f"; one risk is forbidden_risks=({risks!r},)" if isinstance(risks, str) else "")
            )
        unknown = sorted(set(self.forbidden_risks) - set(RISKS))
        if unknown:
            raise ValueError(f"unknown risk indicator(s) {unknown}; choose from {list(RISKS)}")
        # A tuple in RISKS's order, whatever collection named them: equal criteria compare
        # equal and hash, as a frozen dataclass's should, and print in one order.
        object.__setattr__(self, "forbidden_risks", tuple(r for r in RISKS if r in set(risks)))

    def lines(self) -> list[str]:
        """The criteria in words (printed before the decision)."""
        return [
            f"lfso reaches the target f <= f_best(current) + {self.target_rtol:g} "
            "(f0 - f_best(current))",
            f"lfso's gradients to the target <= {self.max_gradient_ratio:g} x the current rule's",
            (
                "no risk indicator among "
                + ", ".join(self.forbidden_risks)
                + " fires in lfso's run"
                if self.forbidden_risks
                else "no risk indicator is forbidden (any may fire in lfso's run)"
            ),
            "lfso's safeguard never gives up (no step with every trial rejected, no gradient "
            "mismatch)",
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
        for role, r in (("current rule", self.current), ("lfso", self.candidate)):
            out.append(
                f"  {role} ({r.method}): {r.status.name}, {r.nit} iterations, {r.njev} "
                f"gradients, {r.nfev} function values, f = {r.fun:.6e}"
            )
        for c in self.checks:
            mark = "pass" if c.passed else "FAIL"
            out.append(f"  [{mark}] {c.name}: required {c.required}; observed {c.observed}")
        return out


def check_criteria(criteria: Any) -> GoCriteria:
    """``criteria``, or the default :class:`GoCriteria` for ``None``; a ``TypeError``
    naming it for anything else."""
    if criteria is None:
        return GoCriteria()
    if not isinstance(criteria, GoCriteria):
        raise TypeError(
            f"criteria must be a lfso.rollout.GoCriteria or None, got criteria={criteria!r}"
        )
    return criteria


#: Why ``pilot`` does not take a keyword of another stage's function.
_NOT_PILOT = {
    "pilot_rows": ": pilot takes its rows as rows=",
    "pilot_iter": ": pilot's budget is max_iter=",
}


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
    objective, x0, grad, smoothness
        As for :func:`lfso.minimize` (``grad=`` and ``smoothness=`` for a plain function).
    current : mapping
        The ``minimize`` options of the rule used today, e.g. ``{"method": "gd",
        "step": 1e-3}``, or ``{"method": "scipy:L-BFGS-B"}`` for SciPy's L-BFGS-B
        (``scipy.optimize.minimize(fun, x0, jac=grad, method="L-BFGS-B")``, stopped by the
        same ``tol`` and ``max_iter``; its gradients and function values are SciPy's own
        ``njev`` and ``nfev``). Any other method is a ``ValueError`` listing the names.
    method : str
        The LFSO method on trial (``"lfso"``, ``"lfso-accel"``, ...).
    rows : int, float, sequence of int or None
        The pilot's rows (:func:`subsample`); ``None``: the full model on the short budget.
    max_iter, tol
        The pilot's budget (an integer >= 1: a pilot of no step is no evidence) and
        tolerance (both runs).
    criteria : GoCriteria, optional
    seed : int >= 0
        Draws the pilot's rows (:func:`subsample`'s ``seed``).
    callback : callable or list of callables, optional
        ``callback(intermediate_result)`` in both runs (``intermediate_result.method`` says
        which).
    options
        Further ``minimize`` options for the LFSO run (``eta``, ``radius``, ...), checked
        by a run of no step (one evaluation) before the current rule's run, as the current
        rule's are (an error then names ``current``); ``atol``, a stopping test, goes to
        both runs. A keyword of :func:`guarded_minimize` or :func:`rollout` (``fallback``,
        ``tuning``, ``pilot_rows``, ...) is a ``TypeError`` naming the function it is of.

    Returns
    -------
    PilotEvidence

    Raises
    ------
    KeyboardInterrupt
        Where either run was interrupted (its result as the exception's ``.result``): a
        run cut short is no evidence to decide on.

    Examples
    --------
    >>> import numpy as np, lfso
    >>> ev = lfso.rollout.pilot(lfso.models.PowerSum(2), np.ones(4),
    ...                         {"method": "gd", "step": 1e-3}, max_iter=300)
    >>> ev.go, ev.candidate_to_target[1] < ev.current_to_target[1]
    (True, True)
    """
    current = check_rule(current, "current")
    check_method(method)
    check_not_a_stage_keyword(options, "pilot", _NOT_PILOT)
    criteria = check_criteria(criteria)
    callback = one_callback(callback)  # (SciPy's L-BFGS-B runner takes one callable)
    integer(max_iter, "max_iter", low=1)  # (a pilot of no step is no evidence)
    integer(seed, "seed", low=0)  # (with rows=None too, as rollout checks it)
    model = as_model(objective, grad, smoothness)
    if rows is not None:
        small = subsample(model, rows, seed=seed)  # (a TypeError for a model without rows)
        task = f"{_rows_of(small)} of {_rows_of(model)} rows, at most {max_iter} iterations"
        model = small
    else:
        task = f"the full task, at most {max_iter} iterations"
    # (lfso's options now, not after the current rule's run; the current rule's named)
    check_options(current, "current", objective=model, x0=x0)
    check_options({"method": method, **options}, "lfso's run", objective=model, x0=x0)
    run = {"objective": model, "x0": x0, "tol": tol, "max_iter": max_iter, "callback": callback}
    if "atol" in options:  # (a stopping test: both runs stop by it, not lfso's alone)
        run["atol"] = options.pop("atol")
    cur = stop_if_interrupted(run_rule(current, **run), "the pilot's run of the current rule")
    cand = stop_if_interrupted(quiet_minimize(**run, method=method, **options), "lfso's pilot run")
    return _decide(cur, cand, task, criteria, same_x0=True)  # (a noisy f0 is no other start)


def decide(
    current: Result, candidate: Result, *, task: str, criteria: GoCriteria | None = None
) -> PilotEvidence:
    """Go / no-go from two pilot runs on the same task (the current rule's and LFSO's).

    Only their histories (``f``, ``njev``, ``time``) and the candidate's ``risks`` and
    ``status`` are read, so runs from anywhere (:func:`pilot`, :func:`lfso.torch.pilot`)
    are judged alike. A candidate whose safeguard gave up (``STEP_FAILED``,
    ``GRADIENT_MISMATCH``) fails the check ``safeguard``, which names the status. Runs
    whose histories start from different ``f0`` (beyond a relative ``1e-5``) are a
    ``ValueError`` naming both: they were not on the same task.
    """
    return _decide(current, candidate, task, criteria, same_x0=False)


def _decide(
    current: Result, candidate: Result, task: str, criteria: Any, *, same_x0: bool
) -> PilotEvidence:
    """:func:`decide`; ``same_x0``: the runs are known to start from the same point (their
    ``f0`` is not compared: a noisy ``f`` gives two values there)."""
    criteria = check_criteria(criteria)
    if not isinstance(task, str):
        raise TypeError(f"task must be a str (the pilot task in words), got task={task!r}")
    for name, run in (("current", current), ("candidate", candidate)):
        if not isinstance(run, Result):
            hint = "; pass the run's result, not its history" if isinstance(run, History) else ""
            raise TypeError(
                f"{name} must be a lfso.Result (a pilot run's result), got "
                f"{type(run).__name__}{hint}"
            )
    cur, cand = current, candidate
    target = relative_target(cur.history, criteria.target_rtol, "current")
    if not same_x0:
        check_same_start(cur.history, cand.history, ("current's history", "candidate's history"))
    cur_hit, cand_hit = to_target(cur.history, target), to_target(cand.history, target)
    best = float(np.nanmin(cand.history.f))
    checks = [
        Check(
            "reaches the target",
            f"lfso's best f <= {target:.6e}",
            f"lfso's best f = {best:.6e}",
            cand_hit is not None,
        )
    ]
    if cand_hit is not None and cur_hit is not None and cur_hit[0] == 0 and best < target:
        # The current rule never went below its start: its target is f0, which both runs
        # hold from their first gradient; a ratio of those gradients measures nothing.
        observed = (
            f"the current rule never went below its start f0 = {target:.6e} "
            f"({cur.status.name}); lfso went on to f = {best:.6e}"
        )
        passed = True
    elif cand_hit is not None and cur_hit is not None:
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
            "none of " + ", ".join(criteria.forbidden_risks)
            if criteria.forbidden_risks
            else "nothing (no risk indicator is forbidden)",
            ", ".join(f"{k} ({v['count']}x from iteration {v['first']})" for k, v in fired.items())
            or "none fired",
            not fired,
        )
    )
    gave_up = _GAVE_UP.get(cand.status)
    checks.append(
        Check(
            "safeguard",
            "lfso's safeguard never gives up (neither STEP_FAILED nor GRADIENT_MISMATCH)",
            f"gave up, {cand.status.name}: {gave_up}" if gave_up else "it never gave up",
            gave_up is None,
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


#: A candidate's status where its safeguard gave up on a step, and what that means.
_GAVE_UP = {
    Status.STEP_FAILED: "the safeguard rejected every trial step of a step (max_rollbacks)",
    Status.GRADIENT_MISMATCH: (
        "a finite difference of f (the safeguard's, or the check of a run that converged "
        "above f(x0) or diverged) disagreed with the gradient (risk 'gradient')"
    ),
}
