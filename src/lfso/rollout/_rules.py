"""A rule as ``minimize`` options: checked, described, and run with the risks kept quiet.

A rule is a method of lfso's registry (:data:`lfso.METHODS`) with its options, run by
:func:`lfso.minimize`, or SciPy's L-BFGS-B, ``{"method": "scipy:L-BFGS-B"}``, run by
:func:`lfso.bench.scipy_lbfgs` (the one runner of SciPy's L-BFGS-B in lfso).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._minimize import _as_model, minimize
from .._registry import METHODS
from .._result import Result
from .._stepper import NonFiniteStartError
from .._validate import callback_list, flag
from ..bench._harness import SCIPY_LBFGS, scipy_lbfgs
from ..models import Model
from ..monitor import RiskWarning


def quiet_minimize(**kwargs: Any) -> Result:
    """:func:`lfso.minimize` with the risk warnings (and NumPy's overflow warnings of a rule
    that blows up) kept as evidence, in the history's risk bits, instead of printed."""
    with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RiskWarning)
        return minimize(**kwargs)


#: The keywords of each function of :mod:`lfso.rollout` that takes ``minimize`` options
#: (``**options``, for LFSO's runs), that another of them does not take.
STAGE_KEYWORDS = {
    "guarded_minimize": ("fallback", "guard", "on_handover", "target"),
    "pilot": ("rows", "criteria"),
    "rollout": (
        *("fallback", "guard", "criteria", "pilot_rows", "pilot_iter"),
        *("tuning", "force", "report", "every", "title"),
    ),
}


def check_not_a_stage_keyword(
    options: Mapping[str, Any], name: str, why: Mapping[str, str] | None = None
) -> None:
    """A ``TypeError`` for a keyword of another function of :mod:`lfso.rollout` among the
    ``options`` of ``name`` (it would reach LFSO's runs as an unknown option), naming the
    function it belongs to; ``why[key]``, where given, is said after it."""
    for key, value in options.items():
        owners = [f"lfso.rollout.{f}" for f, keys in STAGE_KEYWORDS.items() if key in keys]
        if owners and name not in (o.rsplit(".", 1)[1] for o in owners):
            more = (why or {}).get(key, " (its options go to the LFSO runs)")
            raise TypeError(
                f"{key}= is an argument of {' and '.join(owners)}, not of {name}{more}, "
                f"got {key}={value!r}"
            )


def as_model(objective: Any, grad: Any, smoothness: Any) -> Model:
    """A :class:`~lfso.models.Model` as is; a plain function with ``grad`` and ``smoothness``,
    taken as :func:`lfso.minimize` takes them (a number: a global Lipschitz constant;
    ``"auto"`` or ``None``: no oracle, estimated by the runs)."""
    return _as_model(objective, grad, smoothness)[0]


def one_callback(callback: Any) -> Callable[[Result], Any] | None:
    """``callback=`` as :func:`lfso.minimize` takes it (``None``, a callable or a list of
    them; a ``TypeError`` naming it otherwise) as one callable, or ``None``."""
    items = callback_list(callback)
    if len(items) < 2:
        return items[0] if items else None

    def each(intermediate_result: Result) -> None:
        for c in items:
            c(intermediate_result)

    return each


def describe_rule(rule: Mapping[str, Any]) -> str:
    """``method=gd, step=0.001``: a rule in one line."""
    return ", ".join(f"{k}={v}" for k, v in rule.items())


def check_rule(rule: Any, name: str) -> dict[str, Any]:
    """A copy of ``rule`` once it is a mapping with a ``'method'`` (``TypeError`` otherwise)
    that names a method of the registry or ``"scipy:L-BFGS-B"`` (``ValueError`` otherwise,
    listing the accepted names; ``"scipy:L-BFGS-B"`` takes no options) and holds none of
    the run's own arguments (``tol``, ``max_iter``, ...: a ``ValueError`` naming them)."""
    if not isinstance(rule, Mapping) or "method" not in rule:
        raise TypeError(
            f"{name} must be a mapping of minimize options with a 'method', e.g. "
            f"{{'method': 'gd', 'step': 1e-3}} or {{'method': '{SCIPY_LBFGS}'}}, got "
            f"{name}={rule!r}"
        )
    method = rule["method"]
    shared = [k for k in _RUN if k in rule]
    if shared:
        one = len(shared) == 1
        raise ValueError(
            f"{name}: {', '.join(map(repr, shared))} {'is' if one else 'are'} the run's, not "
            "the rule's (every rule of a stage runs from the same objective and x0 to the "
            "same tol, atol and max_iter, under the same callback): pass "
            f"{'it' if one else 'them'} to the call and keep the method and its options in "
            f"the rule, got {rule!r}"
        )
    if method == SCIPY_LBFGS:
        extra = sorted(str(k) for k in rule if k != "method")
        if extra:
            raise ValueError(
                f"{name}: method {SCIPY_LBFGS!r} (SciPy's L-BFGS-B) takes no options, got "
                f"{', '.join(extra)}; it runs with SciPy's default memory and line search, "
                "stopped by tol and max_iter as the other runs are"
            )
    elif not isinstance(method, str) or method not in METHODS:
        raise ValueError(
            f"{name}: unknown method {method!r}; choose from {', '.join(accepted_methods())}"
        )
    return dict(rule)


#: The arguments of a run that every rule of a stage shares: not a rule's options.
_RUN = ("objective", "x0", "tol", "atol", "max_iter", "callback")


def check_options(rule: Mapping[str, Any], name: str, *, objective: Any, x0: Any) -> None:
    """``rule``'s options checked by :func:`lfso.minimize` itself on a run of no step (one
    evaluation at ``x0``), so that a bad one is reported before the runs that precede the
    rule's own (a pilot's first run, a guarded run's first stage): the ``TypeError`` or
    ``ValueError`` of ``minimize``, its message after ``name`` (``progress`` checked as
    ``minimize`` checks it, though the run of no step shows no bar). SciPy's L-BFGS-B takes no
    options; a start where ``f`` is not finite is left to the run itself."""
    if rule["method"] == SCIPY_LBFGS:
        return
    try:
        flag(rule.get("progress"), "progress", allow_none=True)  # (the check runs without it)
        quiet_minimize(objective=objective, x0=x0, max_iter=0, **{**rule, "progress": False})
    except NonFiniteStartError:
        raise
    except (TypeError, ValueError) as exc:
        error = TypeError if isinstance(exc, TypeError) else ValueError
        raise error(f"{name} ({describe_rule(rule)}): {exc}") from None


def check_method(method: Any) -> None:
    """``method``, the rule on trial (or in charge), named: a method of the registry, a
    ``ValueError`` naming it otherwise (SciPy's L-BFGS-B is a rule of today, ``current`` or
    ``fallback``, not one to roll out). A step rule object is left to ``minimize``."""
    if isinstance(method, str) and method not in METHODS:
        also = (
            f" ({SCIPY_LBFGS!r} is taken as current= or fallback=, the rule of today)"
            if method == SCIPY_LBFGS
            else ""
        )
        raise ValueError(
            f"method must be a method of lfso.METHODS, got method={method!r}{also}; choose "
            f"from {', '.join(sorted(METHODS))}"
        )


def accepted_methods() -> list[str]:
    """The names a rule's ``'method'`` may take: the registry's, then SciPy's L-BFGS-B."""
    return [*sorted(METHODS), SCIPY_LBFGS]


def run_rule(rule: Mapping[str, Any], **run: Any) -> Result:
    """``rule``'s run (``run``: ``objective``, a model, ``x0``, ``tol``, ``max_iter`` and
    optionally ``atol`` and ``callback``), with the risks kept quiet (:func:`quiet_minimize`).

    ``{"method": "scipy:L-BFGS-B"}`` runs SciPy's L-BFGS-B (:func:`lfso.bench.scipy_lbfgs`:
    at most ``max_iter`` iterations and ``max_iter`` calls, stopped at ``||g|| <= max(tol
    ||g0||, atol)``); its result counts SciPy's own ``nfev`` and ``njev``.
    """
    if rule["method"] != SCIPY_LBFGS:
        return quiet_minimize(**run, **rule)
    with np.errstate(over="ignore", invalid="ignore"):
        return scipy_lbfgs(
            run["objective"],
            np.asarray(run["x0"], dtype=float),
            cap=run["max_iter"],
            tol=run["tol"],
            atol=run.get("atol", 0.0),
            callback=run.get("callback"),
            history=True,
        ).result
