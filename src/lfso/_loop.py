"""The one iteration loop every method runs through.

It owns what no step rule should re-implement: call counting, the stopping tests, the
non-finite check, best-point tracking, interruption, the history, the risk indicators
(:mod:`lfso.monitor`), the progress bar and the callback.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable
from typing import Any

from array_api_compat import is_dask_array

from ._arrays import materialize, rounding
from ._later import resolve as host_value
from ._later import riding
from ._progress import ProgressBar
from ._result import History, Result, Status
from ._validate import callback_list
from .models import EXTRAS, Evaluation, Model
from .monitor import RiskMonitor
from .oracles._bounds import OracleError, PrecisionLimitError
from .steps import GradientMismatchError, StepFailedError, StepRule

# The loop's counting wrapper (Counted) is internal.
__all__ = ["run"]


class Counted(Model):
    """Wrap a model so that every evaluation is counted (one shared counter per run).

    It declares the model's contract as its own (``extras``, ``has_segment``,
    ``segment_uses_ball``, ``audit_oracle``), so a rule handed the counted objective reads
    the model's declarations, and it passes the optional inputs on through
    :meth:`Model.evaluate_with`, the one place that filters them.
    """

    extras = EXTRAS  # (filtered by the model's own evaluate_with)

    def __init__(self, model: Model) -> None:
        self.model, self.dim = model, model.dim
        self.has_oracle, self.audit_oracle = model.has_oracle, model.audit_oracle
        self.has_segment = model.has_segment
        self.nfev = self.njev = 0

    @property
    def segment_uses_ball(self) -> bool:
        """The model's own (the counting wrapper's :meth:`segment` only passes it on)."""
        return self.model.segment_uses_ball

    def evaluate(
        self,
        x: Any,
        *,
        bound: bool = True,
        hint: float | None = None,
        probe: Any = None,
        product: Any = None,
    ) -> Evaluation:
        """Count, and offer ``hint``, ``probe`` and ``product`` to the model
        (:meth:`Model.evaluate_with` passes on those it declares)."""
        self.nfev += 1
        self.njev += 1
        return self.model.evaluate_with(x, bound=bound, hint=hint, probe=probe, product=product)

    def value(self, x: Any) -> float:
        self.nfev += 1
        return self.model.value(x)

    def grad(self, x: Any) -> Any:
        self.njev += 1
        return self.model.grad(x)

    def segment(self, x: Any, evaluation: Evaluation, direction: Any) -> Any:
        """The model's segment bound along ``direction`` (Dask: persisted first, as the
        bound reads it in several computations: ``A d``, ``g . d``, ``||d||_inf``)."""
        return self.model.segment(x, evaluation, materialize(direction))


def _callback_style(callback: Callable[..., Any]) -> str:
    """How to call ``callback``: with the iterate (``"x"``) or the intermediate result."""
    try:
        signature = inspect.signature(callback)
    except (TypeError, ValueError):  # a builtin without a signature: SciPy's convention
        return "result"
    try:
        signature.bind(None)
    except TypeError:
        raise TypeError(
            f"callback must accept one argument (the intermediate result, or the iterate x), "
            f"got {callback!r} with signature {signature}"
        ) from None
    params = list(signature.parameters)
    return "x" if params and params[0] in ("x", "xk") else "result"


def _callbacks(callback: Any) -> list[tuple[str, Callable[..., Any]]]:
    """``callback=`` (``None``, a callable or a list of them) as ``(style, callable)`` pairs."""
    return [(_callback_style(c), c) for c in callback_list(callback)]


def run(
    model: Model,
    x0: Any,
    rule: StepRule,
    *,
    tol: float,
    atol: float,
    max_iter: int,
    callback: Callable[..., Any] | list[Callable[..., Any]] | None = None,
    monitor: bool | str = True,
    progress: bool | None = None,
) -> Result:
    """Iterate ``rule`` from ``x0`` until a stopping test fires; see :func:`lfso.minimize`."""
    objective = Counted(model)
    callbacks = _callbacks(callback)
    need_bound = rule.needs_bound
    history = History()
    start = time.perf_counter()
    noracle = rollbacks = nhev = 0
    risk, audit = None, False
    if monitor:  # the oracle audit needs a gradient step and an L claimed to be a bound
        unproven = monitor == "full" or model.audit_oracle
        audit = rule.gradient_step and rule.certified and unproven
        risk = RiskMonitor(
            monotone=rule.monotone,
            gradient_step=audit,
            rtol=rounding(x0),
            oscillation=not rule.zigzags,
        )
    shown = ProgressBar(max_iter, rule.name, enabled=progress)
    bar = shown if shown.enabled else None

    lazy = is_dask_array(x0) or is_dask_array(model.data)
    if lazy:  # (Dask: persisted, as the first evaluation and the rule both read it)
        x0 = materialize(x0)
    ev = objective.evaluate(x0, bound=need_bound)
    if not (math.isfinite(ev.value) and math.isfinite(ev.grad_norm)):
        raise ValueError(
            f"f(x0) = {ev.value!r} and ||grad f(x0)|| = {ev.grad_norm!r} must be finite"
        )
    history.append(ev.value, ev.grad_norm, math.nan, math.nan, math.nan, 1, 1, 0, 0.0)
    threshold = max(tol * ev.grad_norm, atol)
    x, best_x, best = x0, x0, ev
    nit = 0
    status: Status | None = None
    detail = ""  # what stopped the run, where its status's message alone does not say
    raised: Exception | None = None  # an exception from the run, re-raised with the result
    pending: tuple[int, Any, Evaluation] | None = None  # the newest point, recorded or not
    # Riding: a rule may size its step on the device and leave its scalars (t, L, R, the
    # direction's dot products) to come back with the next evaluation's fetch (lfso._later):
    # they are read below only after that evaluation.
    scope = riding()
    scope.__enter__()
    try:
        # At a stationary point (g = 0 exactly) there is nothing to do: no rule is started,
        # since LFSO's radius and the estimators' first secant are undefined there.
        state = rule.init(objective, x, ev) if ev.grad_norm > 0.0 else None
        while True:
            if ev.grad_norm <= threshold:  # (threshold 0: only an exact stationary point)
                status = Status.CONVERGED
                break
            if nit >= max_iter:
                status = Status.MAX_ITER
                break
            move, state = rule.step(objective, x, ev, state)
            if lazy:
                move.x = materialize(move.x)
            # The oracle audit needs g_new @ g_prev: asked for with the evaluation (a probe)
            # unless the rule uses the probe itself or brought its own evaluation.
            audit_dot = audit and move.probe is None and move.evaluation is None
            new = move.evaluation or objective.evaluate(
                move.x,
                bound=need_bound,
                hint=move.hint,
                probe=ev.grad if audit_dot else move.probe,
                # (a carried product bounds its own drift, and is None once past budget)
                product=move.product,
            )
            nit += 1
            noracle += move.oracle_calls
            rollbacks += move.rollbacks
            nhev += move.hvp_calls
            pending = (nit, move.x, new)  # one store, before the row that records it
            step, lipschitz, radius = (host_value(v) for v in (move.step, move.L, move.R))
            flags = 0
            if risk is not None:
                flags = risk.observe(
                    nit,
                    ev.value,
                    new.value,
                    ev.grad,
                    new.grad,
                    ev.grad_norm,
                    new.grad_norm,
                    step,
                    lipschitz,
                    new.probe_dot if audit_dot else None,
                )
            history.append(
                new.value,
                new.grad_norm,
                step,
                lipschitz,
                radius,
                objective.nfev,
                objective.njev,
                noracle,
                time.perf_counter() - start,
                flags,
            )
            if bar is not None:
                bar.update(
                    1,
                    f"f {new.value:.4e} |g| {new.grad_norm:.3e} step {step:.3e} L {lipschitz:.3e}",
                )
            if not (math.isfinite(new.value) and math.isfinite(new.grad_norm)):
                status = Status.NON_FINITE
                break
            x, ev = move.x, new
            if ev.value <= best.value:
                best_x, best = x, ev
            for style, call in callbacks:
                if style == "x":
                    call(x)
                else:
                    call(_result(x, ev, nit, objective, noracle, rule, history))
    except KeyboardInterrupt:
        status = Status.INTERRUPTED
        # The interrupt may land anywhere in an iteration: keep the rows appended in full,
        # and return the best of exactly those (the newest may be recorded, not yet taken).
        history._truncate()
        nit = len(history) - 1
        if pending is not None and pending[0] == nit:
            _, px, pev = pending
            if math.isfinite(pev.value) and math.isfinite(pev.grad_norm):
                x, ev = px, pev
                if pev.value <= best.value:
                    best_x, best = px, pev
    except StopIteration:
        status = Status.CALLBACK_STOP
    except GradientMismatchError as exc:
        status, detail = Status.GRADIENT_MISMATCH, str(exc)
        if risk is not None:
            risk.note("gradient", nit + 1)
    except StepFailedError:
        status = Status.STEP_FAILED
    except OracleError as exc:
        # A proven bound (a model that does not ask for its oracle to be audited: the
        # built-in ones) that cannot be evaluated (a value past the float range, a solve
        # that cannot finish in floating point) means the dtype cannot certify a further
        # step here. An audited oracle (a user's) that does so broke its contract.
        if not isinstance(exc, PrecisionLimitError) and model.audit_oracle:
            status, detail, raised = Status.RAISED, f"{type(exc).__name__}: {exc}", exc
        else:
            status, detail = Status.PRECISION_LIMIT, str(exc)
    except Exception as exc:  # from fun, grad, the oracle, hvp or a callback
        status, detail, raised = Status.RAISED, f"{type(exc).__name__}: {exc}", exc
    finally:
        scope.__exit__(None, None, None)
        if bar is not None:
            bar.close()

    if status is Status.CONVERGED:
        best_x, best = x, ev
    if best.carried and raised is None:  # f and its gradient at x, from a fresh A x
        fresh = objective.evaluate(best_x, bound=False)
        if math.isfinite(fresh.value) and math.isfinite(fresh.grad_norm):
            best = fresh
    if risk is not None and monitor != "quiet" and raised is None:
        risk.warn(rule.name)
    result = _result(
        best_x,
        best,
        nit,
        objective,
        noracle,
        rule,
        history,
        status,
        f"{status.message} ({detail})" if detail else status.message,
        rollbacks=rollbacks,
        nhev=nhev,
        risks=risk.summary() if risk is not None else {},
    )
    if raised is not None:  # (SciPy lets it propagate; the progress goes with it)
        _attach(raised, result)
        raise raised
    return result


def _attach(exc: Exception, result: Result) -> None:
    """Attach ``result`` to ``exc`` as ``exc.result``, with a note saying so."""
    try:
        exc.result = result  # type: ignore[attr-defined]
    except AttributeError:  # (an exception type that takes no attributes)
        return
    if hasattr(exc, "add_note"):  # Python >= 3.11
        exc.add_note(
            f"lfso.minimize: the best point so far (f = {result.fun:.6g} after "
            f"{result.nit} steps, status RAISED) is attached as this exception's .result"
        )


def _result(
    x: Any,
    ev: Evaluation,
    nit: int,
    objective: Counted,
    noracle: int,
    rule: StepRule,
    history: History,
    status: Status = Status.MAX_ITER,
    message: str = "In progress.",
    **extra: Any,
) -> Result:
    """A result at ``x``; with the defaults, the intermediate result for ``callback``."""
    return Result(
        x=x,
        fun=ev.value,
        jac=ev.grad,
        nit=nit,
        nfev=objective.nfev,
        njev=objective.njev,
        noracle=noracle,
        status=status,
        message=message,
        method=rule.name,
        grad_norm=ev.grad_norm,
        history=history,
        **extra,
    )
