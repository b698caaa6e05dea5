"""The loop of every method as a stepper: :meth:`Stepper.start`, :meth:`Stepper.advance`,
:meth:`Stepper.result` (in the spirit of optimistix's ``iterative_solve``).

The stepper owns what no step rule re-implements: the iteration count and the counters
(the objective counts its own calls), the stopping tests, the non-finite check, best-point
tracking, interruption, the history rows, the risk indicators (:mod:`lfso.monitor`), the
progress bar and the callbacks, and it builds the :class:`~lfso.Result`.
:func:`lfso._loop.run` is ``start``, ``advance`` until it says the run stopped, ``result``.
An iteration is two halves, the rule's move from the current point (:meth:`Stepper.move`)
and the arrival at the point it reached (:meth:`Stepper.arrive`: its row, the progress
bar, the non-finite test); :meth:`Stepper.advance` adds the stopping tests, the
evaluation between the halves, the best point and the callbacks. The minibatch driver
(:mod:`lfso.stochastic`) advances one epoch at a time (an epoch of batch steps is one
move). :class:`lfso.torch.LFSO`, whose loop is the caller's (``torch.optim``), runs the
same halves in the other order: each ``step(closure)`` evaluates the parameters through
the closure, arrives there (the last step's end), then moves (a failed step there is a
warning with the parameters unchanged, not the end of a run). :meth:`Stepper.record` is
the one place a history row is written and the risk indicators observe it;
:meth:`Stepper.build` the one place a result is made.
"""

from __future__ import annotations

import inspect
import math
import sys
from collections.abc import Callable
from dataclasses import replace
from time import perf_counter
from typing import Any

from array_api_compat import is_dask_array

from ._arrays import device_norm, materialize, namespace, norm, rounding, to_float
from ._gradcheck import _scatter, central_difference
from ._later import accelerated, ahead, host_value, riding
from ._progress import ProgressBar
from ._result import STALL_ITERATIONS, History, Result, Status, stop_message
from ._validate import callback_list, scipy_face
from .models import Evaluation, _fused
from .models._base import PendingEvaluation
from .models._device_slope import swamped_message
from .monitor import RiskMonitor
from .oracles._bounds import OracleError, PrecisionLimitError
from .oracles._solve import _NotSmoothError, _RadiusRuleError
from .steps import GradientMismatchError, Move, StepFailedError, StepRule
from .steps._base import StepStalledError
from .steps._certificates import _SlopeSwampedError, audited_sizing
from .steps._safeguard import Safeguarded, _bends_below, _check_gradient, _kink, _truncation

__all__ = ["AHEAD_ROWS", "Stepper", "attach", "underflow_note"]

#: How many times both ``|f(x_0)|`` and the descent from ``f(x_0)`` to the lowest ``f`` seen
#: the current ``f`` must rise above that low for the run to count as diverged.
_DIVERGENCE = 10.0

#: The end-of-run check of the steps (Stepper._check_last_steps) keeps the points at the
#: last two multiples of this many iterations.
_ANCHOR_EVERY = 8

_INF = math.inf

#: The fewest rows (:func:`lfso.models._fused.iteration_rows`) for which the loop runs a
#: point ahead of its evaluations' scalars on an accelerator (see :meth:`Stepper.advance`):
#: where an iteration's device work is long enough to overlap the host's, and its
#: bookkeeping on the device is in compiled passes (:data:`lfso.models._fused.MIN_ROWS`).
AHEAD_ROWS = 1 << 18


def _callback_style(callback: Callable[..., Any]) -> str:
    """How to call ``callback``: with the iterate (``"x"``), or with the intermediate result,
    positionally (``"result"``) or, to a keyword-only ``intermediate_result``, by that
    keyword (``"keyword"``, as SciPy calls it)."""
    try:
        signature = inspect.signature(callback)
    except (TypeError, ValueError):  # a builtin without a signature: SciPy's convention
        return "result"
    keyword = signature.parameters.get("intermediate_result")
    if keyword is not None and keyword.kind is inspect.Parameter.KEYWORD_ONLY:
        return "keyword"  # (SciPy calls such a callback callback(intermediate_result=...))
    if not _bindable(signature):
        raise TypeError(
            f"callback must accept one argument (the intermediate result, or the iterate x), "
            f"got {callback!r} with signature {signature}"
        )
    params = list(signature.parameters)
    return "x" if params and params[0] in ("x", "xk") else "result"


def _bindable(signature: inspect.Signature) -> bool:
    """Whether a callback of ``signature`` takes one positional argument."""
    try:
        signature.bind(None)
    except TypeError:
        return False
    return True


def _copy(x: Any) -> Any:
    """A copy of the array ``x`` in its own library (``None`` as it is)."""
    return None if x is None else namespace(x).asarray(x, copy=True)


class NonFiniteStartError(ValueError):
    """``f`` or its gradient at the starting point is NaN or infinite: nothing to start from.

    Raised by :func:`lfso.minimize` (exported as ``lfso.NonFiniteStartError``); a
    ``ValueError``, so ``except ValueError`` catches it too.
    """


def callbacks_of(callback: Any) -> list[tuple[str, Callable[..., Any]]]:
    """``callback=`` (``None``, a callable or a list of them) as ``(style, callable)`` pairs."""
    return [(_callback_style(c), c) for c in callback_list(callback)]


def attach(exc: Exception, result: Result) -> None:
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


def _gradient_mismatch(objective: Any, x: Any, ev: Evaluation) -> GradientMismatchError | None:
    """The safeguard's check of the gradient at ``x`` (evaluated as ``ev``) along ``-g``
    (:func:`lfso.steps._safeguard._check_gradient`: a central difference of ``f``, four
    evaluations per length): its error where ``f`` disagrees with the gradient there,
    ``None`` where it agrees or ``f`` fails at the check's points."""
    gn = ev.grad_norm
    try:
        _check_gradient(objective, x, ev, (None, -gn * gn, gn))
    except GradientMismatchError as exc:
        return exc
    except Exception:  # (f failing there: no evidence either way)
        return None
    return None


def _disagree(observed: float, slope: float, error: float) -> bool:
    """Whether a finite difference ``observed`` (within ``error``) and the gradient's
    ``slope`` along the same unit differ by more than half the larger, beyond ``error``."""
    return abs(observed - slope) > 0.5 * max(abs(observed), abs(slope)) + error


def underflow_note(value: float, grad_norm: float, x: Any) -> str:
    """Where the gradient is exactly 0 while ``f`` is not (at ``x0``, or where a run whose
    gradient was subnormal from ``x0`` on converged), and
    ``|f| < tiny / eps`` of ``x``'s dtype (``tiny`` its smallest normal number, ``eps`` its
    machine epsilon: about ``1e-31`` in float32, ``1e-292`` in float64), why the gradient
    may have underflowed and what to do; else ``""``. A gradient entry rounds to 0 only
    below the smallest subnormal number ``tiny eps``; with ``|f|`` under ``tiny / eps``
    that is within ``1 / eps^2`` of ``|f|``, as for any ``f`` whose value and gradient
    share its scale (``c ||x||^2`` with ``||x||`` up to ``1 / eps^2``)."""
    if grad_norm != 0.0 or value == 0.0:
        return ""
    tiny, eps = _tiny(x), float(namespace(x).finfo(x.dtype).eps)
    if not abs(value) < tiny / eps:  # (NaN: no note)
        return ""
    return (
        f"the gradient is exactly 0 where f = {value:.3g} is not: below {tiny / eps:.3g} "
        f"({str(x.dtype).replace('torch.', '')}'s smallest normal number over its "
        "epsilon) the gradient may have underflowed to 0; multiply f (the loss) by a "
        "constant so that it is of order 1 (the certified steps do not depend on its scale)"
    )


def _tiny(x: Any) -> float:
    """The smallest normal number of ``x``'s dtype."""
    return float(namespace(x).finfo(x.dtype).smallest_normal)


class Stepper:
    """One run of a step rule, advanced one iteration at a time.

    Iteration ``k`` takes the rule's move from ``x_k`` and evaluates ``x_{k+1}``; the row
    of ``x_{k+1}`` joins the history (:meth:`record`), the run stops at the first of

    * ``||g_k|| <= max(tol ||g_0||, atol)`` (``CONVERGED``; with a threshold of 0 only at an
      exact stationary point), tested before a step (a gradient from a carried product,
      on a fresh evaluation); ``GRADIENT_MISMATCH`` instead where ``f`` there is above
      ``f(x_0)`` and a finite difference of ``f`` disagrees with the gradient
      (:meth:`_check_rise`), and no stop (or ``DIVERGED``) where the gradient there says
      ``f`` falls toward the best point (an overshoot, not a stationary point),
    * ``k = max_iter`` (``MAX_ITER``),
    * :data:`lfso._result.STALL_ITERATIONS` iterations without a new low of ``f`` or of
      ``||g||``, with a tolerance to reach (``STALLED``, for a monotone rule:
      :meth:`_stalls`), or as many steps in a row of a line search whose decrease test
      passed on the rounding of ``f`` alone (``STALLED``, for any rule: :meth:`_flat`),
      or as many without a new low that end at the point of the last one, bit for bit
      (``STALLED``, for any rule: :meth:`_still`), or as many without a new low whose
      ``f`` all lay within the rounding of ``f`` of the lowest (``STALLED``, for any
      rule: :meth:`_at_rounding`);
      ``DIVERGED`` instead of it or of ``MAX_ITER``, for any rule,
      where ``f`` at the current point is far above the lowest ``f`` (:meth:`_diverged`),
      and ``GRADIENT_MISMATCH`` where a finite difference of ``f`` at the best point then
      disagrees with the gradient there (:meth:`_unless_diverged`),
    * a non-finite ``f(x_{k+1})`` or ``||g_{k+1}||`` (``NON_FINITE``),
    * ``KeyboardInterrupt`` (``INTERRUPTED``), ``StopIteration`` from a callback
      (``CALLBACK_STOP``), a rule that gives up (``STEP_FAILED``; ``GRADIENT_MISMATCH``
      from the rule, or instead of ``STEP_FAILED`` where a finite difference of ``f`` at
      the best point disagrees with the gradient there: :meth:`_name_a_mismatch`),
      a bound the dtype cannot evaluate (``PRECISION_LIMIT``; ``GRADIENT_MISMATCH`` instead
      where the safeguard's trials were all rejected and the gradient is wrong, as for
      ``STEP_FAILED``), or any other exception
      (``RAISED``: :meth:`result` re-raises it with the result attached as ``.result``);
      ``UNBOUNDED`` instead of ``NON_FINITE``, ``PRECISION_LIMIT``, ``STEP_FAILED``,
      ``MAX_ITER`` or ``STALLED`` where ``f`` fell to ``-inf`` or to the edge of the float
      range (:meth:`_unbounded`).

    Parameters
    ----------
    objective : Model or None
        The counted model the rule steps on (``nfev`` and ``njev`` are read from it; a
        model that counts only ``nfev``, a closure giving both together, records it as
        both). ``None`` for a stepper that only records rows and builds results.
    rule : StepRule or None
        The step rule; ``None`` with ``objective=None``.
    model : Model, optional
        The model ``objective`` counts, if another object (:class:`lfso._loop.Counted`):
        whether it asks for its oracle to be audited (:attr:`lfso.models.Model.audit_oracle`)
        and its data (a Dask array: the iterates are persisted) are read from it.
    method : str, optional
        The result's ``method`` (default: the rule's name).
    tol, atol : float >= 0
    max_iter : int >= 0
    callback : callable, list of callables or None
        As for :func:`lfso.minimize`.
    monitor : bool or {"full", "quiet"}
        Risk indicators (``"full"``: audit the oracle even where the model does not ask;
        ``"quiet"``: no warnings at the end).
    progress : bool or None
        A progress bar (``None``: on a terminal).

    Examples
    --------
    >>> import numpy as np, lfso
    >>> from lfso._stepper import Stepper
    >>> from lfso._loop import Counted
    >>> model = lfso.models.PowerSum(2)
    >>> stepper = Stepper(Counted(model), lfso.steps.FixedStep(0.1), tol=1e-3, max_iter=500)
    >>> stepper.start(np.ones(3))
    >>> while not stepper.advance():
    ...     pass
    >>> res = stepper.result()
    >>> res.status.name, res.nit, len(res.history)
    ('CONVERGED', 120, 121)
    """

    def __init__(
        self,
        objective: Any,
        rule: StepRule | None,
        *,
        model: Any = None,
        method: str | None = None,
        tol: float = 0.0,
        atol: float = 0.0,
        max_iter: int = 0,
        callback: Any = None,
        monitor: bool | str = True,
        progress: bool | None = False,
    ) -> None:
        self.method = method if method is not None else rule.name if rule is not None else ""
        self.use(objective, rule, model)
        self.tol, self.atol, self.max_iter = tol, atol, max_iter
        self.callbacks = callbacks_of(callback)
        self._callback_stopped = False  # (a callback raised StopIteration: CALLBACK_STOP)
        self.monitor = monitor
        self.progress = progress
        self.history = History()
        self._rows = 0  # len(self.history), kept here: read every iteration
        self._lengths: list[float] = []  # each row's step length t ||d|| (NaN: not given)
        self.nit = self.noracle = self.rollbacks = self.nhev = 0
        self.risk: RiskMonitor | None = None
        self.audit = self._along = self._along_device = False
        self.clock = math.nan  # perf_counter() at the start (set at the first row if unset)
        # f, ||g||, g (where audited), x and its evaluation of the last row
        self._last: tuple[float, float, Any, Any, Evaluation] | None = None
        self.status: Status | None = None
        self.detail = ""  # what stopped the run, where its status's message alone does not say
        self._stalled_by = ""  # (a rule whose step is 0 for good: STALLED at once)
        self._stopped_by = ""  # (a message in place of the status's own, detail and all)
        self._not_smooth = False  # (PRECISION_LIMIT where the gradient jumps: f not smooth)
        self._swamped = False  # (PRECISION_LIMIT where the gradient's rounding swamps its slope)
        self.raised: Exception | None = None  # an exception from the run, re-raised with it
        self.bar: ProgressBar | None = None
        self._scope: Any = None
        self.threshold = 0.0
        self.x: Any = None
        self.ev: Evaluation | None = None
        self.best_x: Any = None
        self.best: Evaluation | None = None
        self.state: Any = None
        self._lazy = False
        self._need_bound = True
        self._pending: tuple[int, Any, Evaluation] | None = None  # newest point, recorded or not
        self._low_grad = self._low_f = _INF  # the lowest ||g|| and f seen
        self._f0 = _INF  # f(x0)
        self._g0 = _INF  # ||grad f(x0)||
        self._start: tuple[Any, Evaluation] | None = None  # x0 and its evaluation
        self._f_slack = 0.0  # the relative rounding of f below which the best point is by ||g||
        self._improved = 0  # the last iteration that lowered the best f or the lowest ||g||
        self._above = 0  # the last iteration whose f lay above the rounding of the lowest f
        # the iteration, f, the best f and the finding of the last check that found an
        # overshoot
        self._overshot: tuple[int, float, float, str] | None = None
        self._at_low: Any = None  # the point of that iteration (x0 at the start)
        self.flags = 0  # the risk bits of the last row arrive() recorded
        self._ahead = False  # whether evaluations may leave their scalars on their way
        # the move that reached the current point, whose scalars are on their way, and the
        # point before it (see advance)
        self._behind: tuple[Any, bool, Any, Evaluation | None] | None = None
        # (x, f, g) of the points before the current one that the end-of-run check of the
        # steps reads (_check_last_steps): the last one, and those at the last two
        # multiples of _ANCHOR_EVERY iterations
        self._before: list[tuple[Any, Evaluation]] = []

    # -- the pieces every driver shares ------------------------------------------------------

    def use(self, objective: Any, rule: StepRule | None, model: Any = None) -> None:
        """Step ``rule`` on ``objective`` from now on, keeping the history, the counters and
        the risk indicators (an optimiser whose parameters were regrouped)."""
        self.objective, self.rule = objective, rule
        self.model = objective if model is None else model
        # (the oracle the rule's steps rest on is one the model asks to have audited)
        self.audit_oracle = audited_sizing(self.model, rule)
        # (a model that counts one number for both: a closure gives f and g together)
        self._njev = hasattr(objective, "njev")

    def watch(self, like: Any) -> None:
        """(Re)start the risk indicators for the rule (``like``: an array of the run's dtype)."""
        rule = self.rule
        assert rule is not None
        # The oracle audit needs a gradient step and an L claimed to be a bound.
        unproven = self.monitor == "full" or self.audit_oracle
        self.audit = bool(rule.gradient_step and rule.certified and unproven)
        # Other steps sized by the oracle's bound (momentum, a segment's): the curvature
        # along each step against its L, for the loose-oracle note (no `oracle` test); on
        # NumPy arrays at once, on PyTorch tensors kept on their device and fetched once,
        # at the end of the run (RiskMonitor.settle); not on other libraries' arrays.
        along = unproven and not self.audit and rule.needs_bound and not rule.estimated
        library = type(like).__module__
        self._along = bool(along and library == "numpy")
        self._along_device = bool(along and library.split(".")[0] == "torch")
        self.risk = self._new_monitor(like, self.audit)

    def _new_monitor(self, like: Any, audit: bool) -> RiskMonitor:
        """A risk monitor for the rule's run (``like``: an array of the run's dtype;
        ``audit``: whether it audits the oracle)."""
        rule = self.rule
        assert rule is not None
        return RiskMonitor(
            monotone=bool(rule.monotone),  # (a rule's attribute, as it reads: truthy)
            gradient_step=audit,
            # (the coarser of the model's unit roundoff and that of the run's dtype)
            rtol=rounding(like, getattr(self.objective, "unit_roundoff", None)),
            oscillation=not rule.oscillates,
        )

    def record(
        self,
        ev: Evaluation,
        step: float,
        lipschitz: float,
        radius: float,
        dot: Any = None,
        x: Any = None,
        *,
        length: float = math.nan,
    ) -> int:
        """Append the row of the point ``x`` evaluated as ``ev`` (reached by a step of
        ``step`` with ``L = lipschitz`` and radius ``radius``; NaN for the first row) and
        return the risk bits the monitor set for it, from the last row to this one
        (``dot``: ``g_new @ g_prev`` when the evaluation brought it). Where ``f`` rose by
        more than the monitor's relative allowance, the model's :meth:`value_error` at
        both points (``x`` given) widens it: a rise within the values' rounding is not
        one of the exact ``f``. A step along a direction ``d`` other than ``-g`` (its
        ``length``, ``t ||d||``, given) is shown to the monitor as the gradient step of that
        length, ``t ||d|| / ||g||``: ``t`` alone scales with ``||d||``, which L-BFGS's
        varies by orders of magnitude, so a short ``t`` is no collapse of the step."""
        now = perf_counter()
        clock = self.clock
        if clock != clock:  # (NaN: the first row)
            self.clock = clock = now
        value, grad_norm = ev.value, ev.grad_norm
        rows, flags, risk = self._rows, 0, self.risk
        if risk is not None:
            last = self._last
            if last is not None:
                allowance = 0.0
                seen = step  # (a step along d: the gradient step of its length)
                if 0.0 < length < _INF and 0.0 < last[1] < _INF:
                    seen = length / last[1]
                if risk.monotone and value > last[0] + risk.rtol * abs(last[0]):
                    allowance = self._rounding(last[3], last[4]) + self._rounding(x, ev)
                flags = risk.observe(
                    rows,
                    last[0],
                    value,
                    last[2],
                    ev.grad,
                    last[1],
                    grad_norm,
                    seen,
                    lipschitz,
                    dot,
                    allowance,
                )
                along = self._along or self._along_device
                if along and x is not None and last[3] is not None and step > 0.0:
                    measure = _curvature_on_device if self._along_device else _curvature_along
                    risk.along(measure(last[3], last[2], x, ev.grad), lipschitz, last[1])
            kept = self.audit or self._along or self._along_device
            self._last = (value, grad_norm, ev.grad if kept else None, x, ev)
        objective = self.objective
        nfev = objective.nfev
        self.history.append(
            value,
            grad_norm,
            step,
            lipschitz,
            radius,
            nfev,
            objective.njev if self._njev else nfev,
            self.noracle,
            now - clock,
            flags,
        )
        self._lengths.append(length)
        self._rows = rows + 1
        return flags

    def _rounding(self, x: Any, ev: Evaluation) -> float:
        """The model's bound on the rounding of ``ev.value`` at ``x`` (``Model.value_error``;
        0 where the model states none or ``x`` is not known)."""
        stated = getattr(self.model, "value_error", None)
        error = None if x is None or stated is None else stated(x, ev)
        return 0.0 if error is None else float(error)

    def build(
        self,
        x: Any,
        ev: Evaluation,
        status: Status = Status.MAX_ITER,
        message: str = "In progress.",
        *,
        jac: Any = True,
    ) -> Result:
        """A result at ``x`` (``ev`` its evaluation; ``jac=None`` to leave out the gradient);
        with the defaults, the intermediate result a callback receives."""
        objective = self.objective
        nfev = objective.nfev
        return Result(
            x=x,
            fun=ev.value,
            jac=ev.grad if jac is True else jac,
            nit=self._rows - 1,
            nfev=nfev,
            njev=objective.njev if self._njev else nfev,
            noracle=self.noracle,
            status=status,
            message=message,
            method=self.method,
            grad_norm=ev.grad_norm,
            history=self.history,
            rollbacks=self.rollbacks,
            nhev=self.nhev,
            risks=self.risk.summary() if self.risk is not None else {},
            skipped=int(getattr(self.rule, "skipped", 0)),  # (minibatches: so far)
        )

    def report(self, x: Any, ev: Evaluation, *, jac: Any = True) -> None:
        """Call the callbacks with the iterate ``x`` or the intermediate result at it.

        Each callback gets its own copies of ``x`` and of the gradient (as SciPy passes
        ``np.copy(xk)``) and a snapshot of the history (:meth:`History._snapshot`): one
        that changes its argument in place changes neither the run nor its result, and
        one that keeps it keeps the run as it was at that iteration. A ``StopIteration``
        from a callback is noted as the callback's (``CALLBACK_STOP``); one from ``fun``,
        ``grad`` or the oracle is not."""
        try:
            for style, call in self.callbacks:
                if style == "x":
                    call(_copy(x))
                    continue
                result = self.build(_copy(x), ev, jac=_copy(ev.grad) if jac is True else jac)
                result.history = self.history._snapshot()  # (as it is at this iteration)
                if style == "keyword":
                    call(intermediate_result=result)
                else:
                    call(result)
        except StopIteration:
            self._callback_stopped = True
            raise

    # -- the run: start, advance, result -----------------------------------------------------

    def start(self, x0: Any, ev: Evaluation | None = None) -> None:
        """Evaluate ``x0`` (or take its evaluation ``ev``) and record it as row 0; start
        the rule. A non-finite ``f(x0)`` or gradient raises a ``ValueError``."""
        rule, objective = self.rule, self.objective
        assert rule is not None
        t0 = perf_counter()
        self._lazy = is_dask_array(x0) or is_dask_array(self.model.data)
        if self._lazy:  # (Dask: persisted, as the first evaluation and the rule both read it)
            x0 = materialize(x0)
        self._need_bound = need_bound = rule.needs_bound
        if ev is None:
            ev = objective.evaluate(x0, bound=need_bound)
        # (after f(x0): a plain function's model takes the rounding of the values it returns)
        unit = getattr(objective, "unit_roundoff", None)
        if self.monitor:
            self.watch(x0)
        if not (math.isfinite(ev.value) and math.isfinite(ev.grad_norm)):
            raise NonFiniteStartError(
                f"f(x0) = {ev.value!r} and ||grad f(x0)|| = {ev.grad_norm!r} must be finite"
            )
        # (opened once x0 is evaluated: a bar left open by an f that raises there would
        # keep every later run's bar off on that terminal)
        shown = ProgressBar(self.max_iter, self.method, enabled=self.progress)
        self.bar = shown if shown.enabled else None
        self.record(ev, math.nan, math.nan, math.nan, x=x0)
        self.clock = t0  # (row 0 is at time 0; later rows count x0's evaluation)
        self.threshold = max(self.tol * ev.grad_norm, self.atol)
        self.x = self.best_x = self._at_low = x0
        self.ev = self.best = ev
        self._low_grad, self._low_f = ev.grad_norm, ev.value
        self._f0, self._g0 = ev.value, ev.grad_norm
        self._start = (x0, ev)
        self._f_slack = 8.0 * max(float(namespace(x0).finfo(x0.dtype).eps), unit or 0.0)
        # Riding: a rule may size its step on the device and leave its scalars (t, L, R, the
        # direction's dot products) to come back with the next evaluation's fetch
        # (lfso._later): they are read in advance() only after that evaluation.
        self._scope = riding()
        self._scope.__enter__()
        self._ahead = (
            rule.host_free
            and not self._lazy
            and accelerated(ev.grad)
            and _fused.iteration_rows(ev) >= AHEAD_ROWS
        )
        try:
            # At a stationary point (g = 0 exactly) there is nothing to do: no rule is
            # started, since LFSO's radius and the estimators' first secant are undefined.
            self.state = rule.init(objective, x0, ev) if ev.grad_norm > 0.0 else None
        except BaseException as exc:
            self._stop(exc)

    def move(self) -> Move:
        """The rule's move from the current point (:attr:`x`, :attr:`ev`, the rule's
        :attr:`state`), its oracle calls, rollbacks and Hessian products counted. What the
        rule raises propagates: the driver decides what a failed step means
        (:meth:`advance`: the end of the run)."""
        rule, ev = self.rule, self.ev
        assert rule is not None and ev is not None
        move, self.state = rule.step(self.objective, self.x, ev, self.state)
        self.noracle += move.oracle_calls
        self.rollbacks += move.rollbacks
        self.nhev += move.hvp_calls
        return move

    def arrive(
        self,
        x: Any,
        new: Evaluation,
        step: float,
        lipschitz: float,
        radius: float,
        dot: Any = None,
        *,
        record: bool = True,
        length: float = math.nan,
    ) -> bool:
        """The point ``x``, evaluated as ``new``, reached by a step of ``step`` with
        ``L = lipschitz`` and radius ``radius``: its row (:meth:`record`, unless
        ``record=False``; the risk bits are left in :attr:`flags`) and the progress bar.
        Whether ``f`` and ``||g||`` there are finite; if so ``x`` becomes the current point,
        the next :meth:`move`'s start (``length``: :attr:`lfso.steps.Move.length`)."""
        self.flags = (
            self.record(new, step, lipschitz, radius, dot, x, length=length) if record else 0
        )
        if self.bar is not None:
            self.bar.update(
                1,
                f"f {new.value:.4e} |g| {new.grad_norm:.3e} step {step:.3e} L {lipschitz:.3e}",
            )
        if not (-_INF < new.value < _INF and -_INF < new.grad_norm < _INF):  # (NaN fails)
            return False
        if self.ev is not None and self.x is not None:
            self._keep_before(self.x, self.ev)
        self.x, self.ev = x, new
        return True

    def advance(self) -> bool:
        """One iteration: the stopping tests, the rule's move (:meth:`move`), the
        evaluation of the new point, its arrival (:meth:`arrive`), the best point, the
        callbacks. Whether the run has stopped (then call :meth:`result`).

        On an accelerator, with a rule whose move needs nothing from the host
        (:attr:`lfso.steps.StepRule.host_free`) and a model of at least
        :data:`AHEAD_ROWS` rows, the iteration runs one point ahead: the evaluation of
        the new point starts its fetch and returns (:func:`lfso._later.ahead`), the next
        iteration takes its move from that point at once, starts the next evaluation,
        and only then reads the point's scalars (its arrival, the best
        point, the callbacks, the stopping tests), so that the device has work queued
        while the host waits. The run's points, rows and status are those of the
        iteration in order; a run that stops at a point has also taken the step from it
        and evaluated the point it reached (counted in ``nfev`` and ``noracle``)."""
        if self.status is not None:
            return True
        if self._behind is not None:
            return self._advance_ahead()
        try:
            if self._stops(self.ev, self.nit):  # type: ignore[arg-type]
                return True
            move, x, new, audit_dot = self._take()
            self.nit = nit = self.nit + 1
            if self._ahead and self._pending_at(new):  # (read after the next move)
                self._behind = (move, audit_dot, self.x, self.ev)
                self.x, self.ev = x, new
                return False
            if not self._settle(nit, x, new, move, audit_dot):
                return self._stop(Status.NON_FINITE)
        except BaseException as exc:
            return self._stop(exc)
        return False

    def _stops(self, ev: Evaluation, nit: int) -> bool:
        """The stopping tests at the point ``nit`` (evaluated as ``ev``) before a move from
        it; whether the run stopped."""
        if ev.grad_norm <= self.threshold and self._confirmed(ev):  # (0: exact stationarity)
            if not self._still_overshot(nit) and self._check_rise():
                self._check_last_steps()
                return self._stop(Status.CONVERGED)
            if self._diverged():  # (f's own slope says no stationary point: overshot)
                return self._stop(Status.DIVERGED)
            self.detail = ""  # (the run goes on)
        if nit >= self.max_iter:
            status = self._unless_diverged(Status.MAX_ITER)
            if status is Status.MAX_ITER:
                self._past_overshoot()
            return self._stop(status)
        if nit - self._improved >= STALL_ITERATIONS and self.threshold > 0.0:
            if self._diverged():
                return self._stop(self._unless_diverged(Status.STALLED))
            if self._stalls():
                return self._stop(Status.STALLED)
        # (a rule counts at most one flat step an iteration: none stops before that many)
        if nit >= STALL_ITERATIONS and self.threshold > 0.0 and self._flat():
            return self._stop(self._unless_diverged(Status.STALLED))
        if nit - self._improved >= STALL_ITERATIONS and self.threshold > 0.0 and self._still():
            return self._stop(Status.STALLED)
        if nit - max(self._improved, self._above) >= STALL_ITERATIONS and self.threshold > 0.0:
            return self._stop(self._at_rounding())
        return False

    def _diverged(self) -> bool:
        """Whether ``f`` at the current point is above the lowest ``f`` seen by more than
        :data:`_DIVERGENCE` (10) times both ``|f(x_0)|`` and the descent from ``f(x_0)`` to
        that low (and than ``8 eps`` of ``|f|``, the rounding of ``f``): the run diverged.
        (A rule that does not descend at every step, Polyak's or Barzilai-Borwein's, rises
        above ``f(x_0)`` on its way, by less than that.)"""
        ev, low, f0 = self.ev, self._low_f, self._f0
        if ev is None:
            return False
        rise = ev.value - low
        return rise > max(_DIVERGENCE * max(f0 - low, abs(f0)), self._f_slack * abs(ev.value))

    def _unless_diverged(self, status: Status) -> Status:
        """``DIVERGED`` instead of ``status`` (``MAX_ITER``, ``STALLED``) where the run
        diverged (:meth:`_diverged`), with the lowest ``f`` and the last in the message;
        where a central difference of ``f`` at the best point along ``-g`` there shows
        less than half the decrease the gradient predicts (four evaluations of ``f``:
        the safeguard's check), :class:`~lfso.steps.GradientMismatchError` instead."""
        if not self._diverged():
            return status
        best = self.best
        assert best is not None and self.ev is not None
        gn = best.grad_norm
        seen = (
            f"f = {self.ev.value:.6g} at iteration {self.nit}, the lowest f = "
            f"{self._low_f:.6g}, f(x0) = {self._f0:.6g}"
        )
        try:
            _check_gradient(self.objective, self.best_x, best, (None, -gn * gn, gn))
        except GradientMismatchError as exc:
            named = GradientMismatchError(f"the run diverged ({seen}); at the best point, {exc}")
            named._kink = exc._kink
            raise named from None
        self.detail = seen
        return Status.DIVERGED

    def _confirmed(self, ev: Evaluation) -> bool:
        """Whether the gradient norm of the current point (evaluated as ``ev``, which
        passed the convergence test) passes it freshly: an evaluation that read a product
        carried from the last step (``A x`` updated by ``t A d``) has a gradient whose
        rounding differs from that of ``x``'s own (where ``x + t d`` rounds to ``x``, its
        norm can reach 0 from ``1e-17``); the fresh one, which :meth:`result` would make
        anyway, becomes the current evaluation (counted), and decides."""
        if not ev.carried:
            return True
        fresh = self.objective.evaluate(self.x, bound=self._need_bound)
        if not (math.isfinite(fresh.value) and math.isfinite(fresh.grad_norm)):
            return True  # (the carried one stands, as in result())
        if self.best is ev:
            self.best = fresh
        self.ev = fresh
        return fresh.grad_norm <= self.threshold

    def _still_overshot(self, nit: int) -> bool:
        """Whether the last :meth:`_check_rise` that found an overshoot is fewer than
        :data:`STALL_ITERATIONS` iterations before ``nit``, with the best point the same and
        ``f`` within a quarter of the rise it saw: its verdict stands, and its four
        evaluations of ``f`` are not spent again at every iteration of a run stuck there."""
        seen, ev, best = self._overshot, self.ev, self.best
        if seen is None or ev is None or best is None:
            return False
        at, f, low, _ = seen
        return (
            nit - at < STALL_ITERATIONS
            and float(best.value) == low
            and abs(float(ev.value) - f) <= (f - low) / 4.0
        )

    def _past_overshoot(self) -> None:
        """Where a run that reached ``max_iter`` ends at a point that passed the gradient
        tolerance and still sits past the overshoot :meth:`_check_rise` last found there (the
        best point the same, ``f`` within a quarter of the rise it saw), its message says
        so in place of the advice on ``max_iter`` and ``tol``: the steps from that point
        are too short to leave it."""
        seen, ev, best = self._overshot, self.ev, self.best
        if seen is None or ev is None or best is None or not ev.grad_norm <= self.threshold:
            return
        _, f, low, finding = seen
        if float(best.value) == low and abs(float(ev.value) - f) <= (f - low) / 4.0:
            self._stopped_by = (
                f"Maximum number of iterations reached: the run stopped past an overshoot "
                f"({finding}), its steps from there too short to leave it. Returning the "
                "best point."
            )

    def _check_rise(self) -> bool:
        """Test a converged point whose ``f`` is above ``f(x0)`` (beyond ``8 eps |f(x0)|``):
        a central difference of ``f`` from it toward the best point
        (:func:`lfso._gradcheck.central_difference`, four counted evaluations of ``f``)
        against the gradient's ``g . u`` there. Where they differ by more than half the
        larger, beyond the difference's error bound (widened by a built-in model's proven
        curvature, and unless a shorter difference shows ``f`` bends far below the step:
        the safeguard's :func:`~lfso.steps._safeguard._truncation` and
        :func:`~lfso.steps._safeguard._bends_below`), the gradient that stopped the run is
        not ``f``'s (a kink named as such: :func:`~lfso.steps._safeguard._kink`):
        :class:`~lfso.steps.GradientMismatchError` (``GRADIENT_MISMATCH``, the best point
        returned). Where they agree, a stationary point above ``x0`` (the steps
        left ``x0``'s basin), the run converges with the message saying so, unless the
        gradient says ``f`` falls toward the best point by at least half its rise over the
        way there (``-g . u ||x_best - x|| >= (f - f_best) / 2``, as a convex ``f`` does at
        every point): no stationary point on ``f``'s own scale, whose gradient passed a
        tolerance relative to a far larger ``||g(x0)||``. Then the run goes on (the finding
        kept for the message of a run that ends there: :meth:`_past_overshoot`), or stops
        ``DIVERGED`` where :meth:`_diverged` (the best point returned); whether it
        converges is returned. A run whose ``f`` ends at or below ``f(x0)`` pays nothing."""
        x, ev, f0 = self.x, self.ev, self._f0
        assert ev is not None
        if not ev.value > f0 + self._f_slack * abs(f0):
            return True
        toward = self.best_x - x
        length = norm(toward)
        if not 0.0 < length < _INF:
            return True
        unit = toward / length
        above = f"f = {ev.value:.6g} at the point the run converged to is above f(x0) = {f0:.6g}"
        slope = self._check_along(x, ev, unit, f"{above}, and toward the best point")
        best = self.best
        assert best is not None
        rise = float(ev.value) - float(best.value)
        if -slope * length >= rise / 2.0:  # (f descends toward the best point: overshot)
            self.detail = (
                f"f = {ev.value:.6g} at iteration {self.nit} is above f(x0) = {f0:.6g}, the "
                f"lowest f = {best.value:.6g}; the gradient norm "
                f"{ev.grad_norm:.3g} there passed the tolerance {self.threshold:.3g} (relative "
                "to ||grad f(x0)||), "
                f"but f falls toward the best point at {-slope:.3g} per unit length (a finite "
                "difference agrees): the steps overshot, not a stationary point"
            )
            self._overshot = (self.nit, float(ev.value), float(best.value), self.detail)
            return False
        self.detail = (
            f"{above}: the steps left x0's basin for this stationary point (a finite "
            "difference of f agrees with the gradient here)"
        )
        return True

    def _check_along(self, x: Any, ev: Evaluation, unit: Any, where: str) -> float:
        """A central difference of ``f`` at ``x`` (evaluated as ``ev``) along the unit
        vector ``unit`` (:func:`lfso._gradcheck.central_difference`, four counted
        evaluations of ``f``) against the gradient's ``g . u``: where they differ by more
        than half the larger, beyond the difference's error bound (widened by a built-in
        model's proven curvature, and by ``f``'s rounding as its values show it,
        :func:`lfso._gradcheck._scatter`, for an ``f`` computed less accurately than its
        dtype; and unless a shorter difference shows ``f`` bends far below the step:
        :func:`~lfso.steps._safeguard._truncation` and
        :func:`~lfso.steps._safeguard._bends_below`), the gradient is not ``f``'s:
        :class:`~lfso.steps.GradientMismatchError` (a kink named as such:
        :func:`~lfso.steps._safeguard._kink`), its message starting with ``where``; else the
        gradient's ``g . u``, which the difference confirms, is returned."""
        eps = getattr(self.objective, "unit_roundoff", None)  # (coarser than x's dtype's)
        value, seen = self.objective.value, []

        def recorded(y: Any) -> float:  # (the difference's values, for a kink)
            seen.append(float(value(y)))
            return seen[-1]

        observed, error = central_difference(recorded, x, unit, eps=eps)
        slope = to_float(ev.grad @ unit)
        # (f's rounding measured from its values, where they show no kink: a kink is f's)
        if _disagree(observed, slope, error) and not _kink(float(ev.value), x, seen, eps):
            unit_eps = eps or float(namespace(x).finfo(x.dtype).eps)
            h = unit_eps ** (1.0 / 3.0) * max(1.0, norm(x))
            error = max(error, _scatter(seen, float(ev.value), h))
        bends = False
        if _disagree(observed, slope, error):  # (a proven oracle's curvature, as the safeguard)
            error += _truncation(self.objective, x, ev, 1.0, eps)
        if _disagree(observed, slope, error):
            sign = -1.0 if slope > 0.0 else 1.0  # (g . u <= 0 along sign u: a descent)
            first = (sign * observed, error)
            # (f bends far below the step, where a shorter difference settles: no evidence)
            bends = _bends_below(value, x, sign * unit, eps, first, sign * slope)
        if not bends and _disagree(observed, slope, error):
            exc = GradientMismatchError(
                f"{where} f changes at {observed:.3g} per unit length (a finite "
                f"difference, +- {error:.2g}) where the gradient says {slope:.3g}"
            )
            exc._kink = _kink(float(ev.value), x, seen, eps)
            if exc._kink:
                jump = f"{abs(exc._kink):.3g} per unit length: a kink"
                exc.args = (f"{exc}; f's one-sided slopes there differ by {jump}",)
            raise exc
        return slope

    def _keep_before(self, x: Any, ev: Evaluation) -> None:
        """Keep ``x`` (the point the run leaves, evaluated as ``ev``) for
        :meth:`_check_last_steps`: as the last point, and as an anchor where its iteration
        is a multiple of :data:`_ANCHOR_EVERY` (the two latest kept)."""
        # (without its bound, whose arrays the check does not read: a plain evaluation;
        # one without a bound, the segment certificate's, is kept as it is)
        plain = type(ev) is not Evaluation or ev.bound is None
        kept = (x, ev if plain else replace(ev, bound=None))
        anchors = self._before[1:]
        if self.nit % _ANCHOR_EVERY == 0:
            anchors = [*anchors[-1:], kept]
        self._before = [kept, *anchors]

    def _check_last_steps(self) -> None:
        """Test a converged point ``x`` against the change of ``f`` from points the run
        passed, at no evaluation: from a point ``y`` (the last one, and those at the last
        two multiples of :data:`_ANCHOR_EVERY` iterations) ``f`` changes by ``(g(y) + g) .
        (x - y) / 2`` up to the trapezoid rule's error, a third-order term, here taken as
        no more than the second-order one ``|(g - g(y)) . (x - y)|`` plus half the larger
        change, beyond ``f``'s rounding (``8 eps`` of each value). Where the change of
        ``f`` differs by more, the gradient is checked along ``x - y``
        (:meth:`_check_along`, four counted evaluations of ``f``, raising
        :class:`~lfso.steps.GradientMismatchError` where it disagrees): a wrong gradient's
        zero, as ``2 (x - 2)`` for ``sum((x - 1)^2)``, where ``f`` still fell along the
        steps, is not taken for convergence."""
        x, ev = self.x, self.ev
        if ev is None:
            return
        for y, before in self._before:
            step = x - y
            length = norm(step)
            if not 0.0 < length < _INF:
                continue
            unit = step / length  # (products along it, times length on the host: no underflow)
            change = ev.value - before.value
            predicted = 0.5 * to_float((before.grad + ev.grad) @ unit) * length
            second = abs(to_float((ev.grad - before.grad) @ unit)) * length
            rounding = self._f_slack * (abs(ev.value) + abs(before.value))
            rounding += self._rounding(x, ev) + self._rounding(y, before)
            # (gradient entries below the normal range lose all but their leading bits)
            rounding += 2.0 * _tiny(x) * length * math.sqrt(int(x.shape[0]))
            allowed = 0.5 * max(abs(change), abs(predicted)) + second + rounding
            if abs(change - predicted) > allowed:  # (NaN: no evidence)
                where = "over the steps before convergence,"
                self._check_along(x, ev, unit, where)
                return

    def _collapsed(self, status: Status) -> bool:
        """Whether a ``MAX_ITER`` or ``STALLED`` run (no rule's step of 0) ended with its
        steps collapsed: the ``collapse`` indicator fired (a step ``1e-6`` times below the
        recent ones while the gradient norm did not shrink with it) and the last step is
        still ``1e-6`` times below the longest: the curvature the run measured grew without
        bound where the gradient did not vanish, as it does at a kink of ``f``. A run
        without a monitor (``monitor=False``) replays its history (``f``, ``||g||``, the
        steps and ``L``) through one, so that its message does not depend on ``monitor=``;
        both read a step along a direction ``d`` as the monitor sees it (:meth:`_seen`)."""
        if status not in (Status.MAX_ITER, Status.STALLED) or self._stalled_by:
            return False
        risk, replay = self.risk, self.risk is None
        if risk is None:
            if self.rule is None or self.x is None:
                return False
            risk = self._new_monitor(self.x, False)
        elif not risk.counts.get("collapse"):
            return False
        history = self.history
        f, gnorm = history.f.tolist(), history.grad_norm.tolist()
        step = self._seen(history.step.tolist(), gnorm)
        steps = [t for t in step[1:] if t > 0.0]  # (NaN fails)
        if not (steps and steps[-1] < risk.collapse * max(steps)):
            return False
        if replay:
            lipschitz = history.L.tolist()
            for k in range(1, len(f)):
                gnorms = (gnorm[k - 1], gnorm[k])
                risk.observe(k, f[k - 1], f[k], None, None, *gnorms, step[k], lipschitz[k])
        return bool(risk.counts.get("collapse"))

    def _seen(self, step: list[float], gnorm: list[float]) -> list[float]:
        """Each row's step as :meth:`record` shows it to the monitor: the gradient step of
        the same length, ``t ||d|| / ||g||``, where the row's length was given."""
        lengths = self._lengths
        seen = list(step)
        for k in range(1, min(len(seen), len(lengths))):
            length, last = lengths[k], gnorm[k - 1]
            if 0.0 < length < _INF and 0.0 < last < _INF:
                seen[k] = length / last
        return seen

    @property
    def _oracle_advice(self) -> str:
        """What to do where the model's oracle under-estimates the smoothness (its
        ``_oracle_advice``; empty where it names nothing)."""
        return str(getattr(self.model, "_oracle_advice", ""))

    @property
    def _rolled_back(self) -> int:
        """The trial steps the safeguard rolled back on a user's oracle's claim (not on an
        estimate's, which learns by them): 0 for other runs."""
        rule = self.rule
        guarded = isinstance(rule, Safeguarded) and not rule.estimated
        return self.rollbacks if guarded and self.audit_oracle else 0

    def _nan_note(self, status: Status, detail: str) -> str:
        """``detail`` with a note of the trial points (a line search's, the gradient
        checks') at which ``f`` was NaN, for a run that did not converge: a function
        undefined along the steps, not rounding, may be what held it."""
        nans = getattr(self.objective, "nan_values", 0)
        if not nans or status is Status.CONVERGED:
            return detail
        note = (
            f"f was NaN at {nans:,} trial points: it is not defined everywhere along the "
            "steps, which may be what held the run"
        )
        return f"{detail}; {note}" if detail else note

    def _take(self) -> tuple[Any, Any, Evaluation, bool]:
        """The rule's move from the current point and the evaluation of the point it
        reaches (ahead of its host scalars where the run goes ahead): ``(move, x, new,
        audit_dot)``."""
        ev: Evaluation = self.ev  # type: ignore[assignment]
        move = self.move()
        if self._lazy:
            move.x = materialize(move.x)
        x = move.x
        # The oracle audit needs g_new @ g_prev: asked for with the evaluation (a probe)
        # unless the rule uses the probe itself or brought its own evaluation.
        audit_dot = self.audit and move.probe is None and move.evaluation is None
        new = move.evaluation
        if new is None:
            probe, bound, hint = ev.grad if audit_dot else move.probe, self._need_bound, move.hint
            # (a carried product bounds its own drift, and is None once past budget; a
            # line search's value at x is handed on, so that f is not asked for again)
            known = {} if move.value is None else {"value": move.value}
            if self._ahead:
                with ahead():
                    new = self.objective.evaluate(
                        x, bound=bound, hint=hint, probe=probe, product=move.product, **known
                    )
            else:
                new = self.objective.evaluate(
                    x, bound=bound, hint=hint, probe=probe, product=move.product, **known
                )
        return move, x, new, audit_dot

    def _pending_at(self, new: Evaluation) -> bool:
        """Whether the run goes on ahead of ``new``'s scalars: they are on their way (only
        where the run goes ahead, :attr:`_ahead`) and a move from its point is allowed."""
        return isinstance(new, PendingEvaluation) and new.pending and self.nit < self.max_iter

    def _advance_ahead(self) -> bool:
        """:meth:`advance` from a point whose scalars are on their way: the move from it
        and the next evaluation, then the point's arrival and stopping tests (see
        :meth:`advance`)."""
        behind, self._behind = self._behind, None
        assert behind is not None
        x, ev, nit = self.x, self.ev, self.nit
        assert ev is not None
        if not self._pending_at(ev):  # (read it now, and go on in order)
            try:
                if not self._arrived(nit, x, ev, behind):
                    return self._stop(Status.NON_FINITE)
            except BaseException as exc:
                return self._stop(exc)
            return self.advance()
        before = behind[3]
        if isinstance(ev, PendingEvaluation) and before is not None:
            ev.follow(before)  # (a carried product's budget: tested on the last arrival)
        try:
            taken = self._take()
        except BaseException as exc:  # (the point's own status first, as in order)
            try:
                return self._reached(nit, x, ev, behind) or self._stop(exc)
            except BaseException as late:
                return self._stop(late)
        try:
            if self._reached(nit, x, ev, behind):
                return True
        except BaseException as exc:
            return self._stop(exc)
        move, x_new, new, audit_dot = taken
        self.nit = nit + 1
        if self._pending_at(new):
            self._behind = (move, audit_dot, x, ev)
            self.x, self.ev = x_new, new
            return False
        try:
            if not self._settle(nit + 1, x_new, new, move, audit_dot):
                return self._stop(Status.NON_FINITE)
        except BaseException as exc:
            return self._stop(exc)
        return False

    def _reached(self, nit: int, x: Any, ev: Evaluation, behind: tuple[Any, ...]) -> bool:
        """The arrival at the point the run went ahead of (:meth:`_arrived`) and the
        stopping tests there: whether the run stopped."""
        if not self._arrived(nit, x, ev, behind):
            return self._stop(Status.NON_FINITE)
        return self._stops(ev, nit)

    def _arrived(self, nit: int, x: Any, ev: Evaluation, behind: tuple[Any, ...]) -> bool:
        """:meth:`_settle` for the point the run went ahead of (``behind``: the move that
        reached it, its audit flag, and the point before it, which stays the current one
        if this one is not finite)."""
        move, audit_dot, last_x, last_ev = behind
        self.x, self.ev = last_x, last_ev
        return self._settle(nit, x, ev, move, audit_dot)

    def _settle(self, nit: int, x: Any, new: Evaluation, move: Any, audit_dot: bool) -> bool:
        """The arrival at the point ``nit`` (``x``, evaluated as ``new``, reached by
        ``move``): its row, the best point, the callbacks. Whether it is finite."""
        self._pending = (nit, x, new)  # one store, before the row that records it
        step, lipschitz, radius = move.step, move.L, move.R
        if not (type(step) is float and type(lipschitz) is float and type(radius) is float):
            step, lipschitz, radius = (host_value(v) for v in (step, lipschitz, radius))
            # (a step sized on the device from a nonzero gradient; the loop ahead may take
            # one from a carried gradient of 0, see _confirmed)
            start = self.ev  # (the point the move was taken from)
            if step == 0.0 and not lipschitz < _INF and start is not None and start.grad_norm:
                raise PrecisionLimitError(
                    f"the curvature bound along the step is {lipschitz!r} at every trial "
                    "step sized on the device: no step can be certified at this point"
                )
            swamped = getattr(move, "swamped", None)
            flag = 0.0 if swamped is None or step != 0.0 else host_value(swamped[0])
            if flag == 1.0 and swamped is not None and swamped[3] is not None:
                swamped[3]()  # (the held rows could not certify: the rows made again next)
            elif flag != 0.0 and getattr(move, "fallback", None) is not None:
                move.fallback()  # (not along -g: the next step is steepest descent)
            elif flag != 0.0 and swamped is not None:  # (no bound on the exact slope < 0)
                along, upper = host_value(swamped[1]), host_value(swamped[2])
                raise _SlopeSwampedError(swamped_message(along, upper))
        dot, length = new.probe_dot if audit_dot else None, getattr(move, "length", math.nan)
        if not self.arrive(x, new, step, lipschitz, radius, dot, length=length):
            return False
        self._keep_best(nit, x, new)
        if self.callbacks:
            self.report(x, new)
        return True

    def _keep_best(self, nit: int, x: Any, new: Evaluation) -> None:
        """Weigh the point ``x`` (iteration ``nit``, evaluated as ``new``, finite) as the
        best one, and note the iteration if ``f`` or ``||g||`` reached a new low there.

        The best point is the one of smallest ``||g||`` among those whose ``f`` lies within
        the rounding of ``f`` of the lowest ``f`` seen (``8 eps |f|``, ``eps`` of ``x``'s
        dtype): below that, which of two values is lower says nothing about the points
        (at the rounding level of a float32 ``f`` the point of lowest computed ``f`` can
        be one of the farthest from stationary), and their gradients still tell them
        apart."""
        value, gnorm = new.value, new.grad_norm
        if value < self._low_f:
            self._low_f = value
            self._improved, self._at_low = nit, x
        if gnorm < self._low_grad:
            self._low_grad = gnorm
            self._improved, self._at_low = nit, x
        best = self.best
        assert best is not None
        near = self._low_f + self._f_slack * abs(self._low_f)
        if value > near:
            self._above = nit
        if value <= near and (
            best.value > near  # (the lowest f fell below the old best's reach)
            or gnorm < best.grad_norm
            or (gnorm == best.grad_norm and value <= best.value)
        ):
            self.best_x, self.best = x, new

    def _stalls(self) -> bool:
        """Whether the run stops ``STALLED``: neither ``f`` nor ``||g||`` reached a new low in
        the last :data:`STALL_ITERATIONS` iterations (:meth:`advance` checks the count), the
        rule descends at every step (:attr:`lfso.steps.StepRule.monotone`) and the run has a
        tolerance to reach (``tol=0`` and ``atol=0``: it takes ``max_iter`` steps).

        A monotone rule lowers ``f`` at every step in exact arithmetic (a certified step by
        at least ``eta (1 - eta/2) (g . d)^2 / C``); neither ``f`` nor ``||g||`` improving
        for that long means the rounding of ``f`` and of its gradient in ``x``'s dtype has
        stopped the run above the tolerance (float32 runs held to ``tol=1e-8``)."""
        rule = self.rule
        return self.threshold > 0.0 and rule is not None and rule.monotone

    def _still(self) -> bool:
        """Whether the run stops ``STALLED`` (past :meth:`_stalls`, which leaves a rule that
        may raise ``f`` alone): the point is, bit for bit, the one of the last new low of
        ``f`` or ``||g||``, :data:`STALL_ITERATIONS` iterations on (:meth:`advance` checks
        the count). Such a rule's steps are then below the rounding of ``x`` (``x + t d ==
        x``: a float32 run held to ``tol=1e-30`` repeats one step), or cycle back to it,
        and no count of iterations moves it on; one comparison of two points per window."""
        x, low = self.x, self._at_low
        if x is None or low is None or x.shape != low.shape:
            return False
        if not (x is low or bool(namespace(x).all(x == low))):
            return False
        self._stalled_by = (
            f"{STALL_ITERATIONS:,} iterations on, the point is, bit for bit, the one of the "
            "last new low of f or of the gradient norm (the steps are below the rounding of "
            "x, or cycle back to it), above the tolerance"
        )
        return True

    def _at_rounding(self) -> Status:
        """``STALLED`` for a run (any rule, past :meth:`_stalls`, which leaves a rule that
        may raise ``f`` alone) whose last :data:`STALL_ITERATIONS` points brought no new
        low of ``f`` or ``||g||`` and all lay within the rounding of ``f`` of its lowest
        value (``8 eps |f|``, as for the best point): ``f`` cannot tell them apart and
        their gradients show no progress, so the run sits at its rounding (an accelerated
        rule's momentum moving the point bit by bit at a tolerance below the rounding of
        ``||g||``), and no count of iterations moves it on. (A rule that wanders, Polyak's
        or Barzilai-Borwein's, leaves that band of ``f``.) The message says so."""
        self._stalled_by = (
            f"{STALL_ITERATIONS:,} iterations on, neither f nor the gradient norm reached a "
            "new low, and f stayed within its rounding of its lowest value, above the "
            "tolerance"
        )
        return Status.STALLED

    def _flat(self) -> bool:
        """Whether the rule's last :data:`STALL_ITERATIONS` steps all passed their test of
        ``f``'s decrease on its rounding alone (:meth:`lfso.steps.StepRule._flat_steps`:
        a line search at the rounding floor of ``f``, where it accepts steps it cannot
        tell from no move, and ``||g||`` may creep to new lows that :meth:`_stalls` reads
        as progress; a rule that may raise ``f``, which :meth:`_stalls` leaves alone,
        included); if so the run stops ``STALLED``, the message saying why."""
        rule = self.rule
        if rule is None or rule._flat_steps(self.state) < STALL_ITERATIONS:
            return False
        self._stalled_by = (
            f"the line search's last {STALL_ITERATIONS:,} steps lowered f by no more than "
            "its rounding (its sufficient-decrease test passed on rounding alone), above "
            "the tolerance"
        )
        return True

    def interrupt(self) -> None:
        """Stop as ``INTERRUPTED`` (a ``KeyboardInterrupt`` that landed between iterations)."""
        if self.status is None:
            self._stop(KeyboardInterrupt())

    def _stop(self, why: Status | BaseException) -> bool:
        """End the run with the status ``why``, or the one the exception ``why`` means."""
        try:
            if isinstance(why, Status):
                self.status = why
            elif isinstance(why, KeyboardInterrupt):
                self._interrupted()
            elif isinstance(why, StopIteration) and self._callback_stopped:
                self.status = Status.CALLBACK_STOP
            elif isinstance(why, StepStalledError):
                self.status, self._stalled_by = Status.STALLED, str(why)
            elif isinstance(why, GradientMismatchError):
                self.status, self.detail = Status.GRADIENT_MISMATCH, str(why)
                self._not_smooth = bool(why._kink)
                if self.risk is not None:
                    self.risk.note("gradient", self.nit + 1)
            elif isinstance(why, StepFailedError):
                self.status, self.detail = Status.STEP_FAILED, str(why)
                self.rollbacks += why.rollbacks  # (the failed step's rejected trials)
                self._name_a_mismatch(why)
            elif isinstance(why, OracleError) and (
                isinstance(why, PrecisionLimitError) or not self.audit_oracle
            ):
                # A proven bound (a model that does not ask for its oracle to be audited:
                # the built-in ones) that cannot be evaluated (a value past the float range,
                # a solve that cannot finish in floating point) means the dtype cannot
                # certify a further step here. An audited oracle (a user's) that does so
                # broke its contract: RAISED, below.
                self.status, self.detail = Status.PRECISION_LIMIT, str(why)
                if isinstance(why, _RadiusRuleError):  # (its own message: not the data's)
                    self._stopped_by = str(why)
                self._not_smooth = isinstance(why, _NotSmoothError)
                self._swamped = isinstance(why, _SlopeSwampedError) and why.in_range
                self.rollbacks += getattr(why, "rollbacks", 0)  # (the safeguard's trials)
                if getattr(why, "rollbacks", 0):  # (all rejected: as for STEP_FAILED)
                    self._name_a_mismatch(why)
            elif isinstance(why, Exception):  # from fun, grad, the oracle, hvp or a callback
                self.status = Status.RAISED
                self.detail, self.raised = f"{type(why).__name__}: {why}", why
            else:  # (SystemExit, GeneratorExit: not the run's to handle)
                raise why
            limits = (
                Status.NON_FINITE,
                Status.PRECISION_LIMIT,
                Status.STEP_FAILED,
                Status.MAX_ITER,
                Status.STALLED,
            )
            if self.status in limits and self._unbounded():
                self.status = Status.UNBOUNDED
        finally:
            if self._scope is not None:
                self._scope.__exit__(None, None, None)
                self._scope = None
            if self.bar is not None:
                self.bar.close()
                self.bar = None
        return True

    def _name_a_mismatch(self, why: BaseException) -> None:
        """``GRADIENT_MISMATCH`` instead of the status set for ``why`` (``STEP_FAILED``,
        or ``PRECISION_LIMIT`` where the safeguard shrank its trial step to 0: every trial
        rejected) where the safeguard's check of the gradient at the best point along
        ``-g`` there (a central difference of ``f``, four evaluations:
        :meth:`_unless_diverged`'s) disagrees with it. ``f`` failing at the check's points,
        or a run unbounded below (:meth:`_unbounded`), leaves the status as it is."""
        best = self.best
        if best is None or self._unbounded():
            return
        exc = _gradient_mismatch(self.objective, self.best_x, best)
        if exc is not None:
            self.status, self.detail = Status.GRADIENT_MISMATCH, f"{why}; at the best point, {exc}"
            self._not_smooth = bool(exc._kink)
            if self.risk is not None:
                self.risk.note("gradient", self.nit + 1)

    def _unbounded(self) -> bool:
        """Whether ``f`` fell to ``-inf`` at the newest point, or at the best one below
        ``-2^-20`` times the largest float of ``x``'s dtype (``-2^-4`` times it for a
        dtype whose range, as float16's ``2^16``, is too narrow for that margin: ``2^-20``
        of it would be ``-0.0625``): where a run that stops for a non-finite value, an
        uncertifiable step (a linear function's steps double until ``x`` nears the float
        range) or trial steps the safeguard rejects there (their values past the float
        range) does so because the objective is unbounded below."""
        pending, best = self._pending, self.best
        if pending is not None and pending[2].value == -_INF:
            return True
        if best is None:
            return False
        dtype = getattr(self.best_x, "dtype", None)
        top = sys.float_info.max if dtype is None else namespace(self.best_x).finfo(dtype).max
        top = float(top)
        return best.value <= -top * (2.0**-20 if top > 2.0**80 else 2.0**-4)

    def _interrupted(self) -> None:
        self.status = Status.INTERRUPTED
        # The interrupt may land anywhere in an iteration: keep the rows appended (a row is
        # appended whole or not at all), and return the best of exactly those (the newest
        # may be recorded, not yet taken).
        self._rows = rows = len(self.history)
        self.nit = nit = rows - 1
        pending = self._pending
        if pending is not None and pending[0] == nit:
            _, px, pev = pending
            if math.isfinite(pev.value) and math.isfinite(pev.grad_norm):
                self.x, self.ev = px, pev
                self._keep_best(nit, px, pev)

    def _against_start(self, x: Any, fresh: Evaluation) -> tuple[Any, Evaluation]:
        """The better of the best point ``x`` (freshly evaluated as ``fresh``) and ``x0``,
        by the rule of :meth:`_keep_best` on fresh values alone: the one of smaller
        ``||g||`` where both ``f`` lie within the rounding of ``f`` of the lower one, else
        the one of lower ``f``. The best point was chosen by the ``||g||`` of a carried
        product ``A x``, whose rounding drifts from ``x``'s own (in float32, by more than
        a run restarted from a converged point gains): without this, such a run can
        return a point whose fresh ``f`` and ``||g||`` are both above ``x0``'s."""
        start = self._start
        if start is None or start[1].carried or start[0] is x:
            return x, fresh
        x0, ev0 = start
        low = min(fresh.value, ev0.value)
        near = low + self._f_slack * abs(low)
        if ev0.value <= near and (
            fresh.value > near
            or ev0.grad_norm < fresh.grad_norm
            or (ev0.grad_norm == fresh.grad_norm and ev0.value < fresh.value)
        ):
            return x0, ev0
        return x, fresh

    def result(self) -> Result:
        """The result of the stopped run: the last point when converged, else the best; an
        exception that stopped it (``RAISED``) is re-raised with the result as ``.result``."""
        status = self.status
        if status is None:
            raise RuntimeError("Stepper.result: the run has not stopped (advance() until it does)")
        best_x, best = self.best_x, self.best
        assert best is not None
        if status is Status.CONVERGED:
            best_x, best = self.x, self.ev
            assert best is not None
        if best.carried and self.raised is None:  # f and its gradient at x, from a fresh A x
            fresh = self.objective.evaluate(best_x, bound=False)
            if math.isfinite(fresh.value) and math.isfinite(fresh.grad_norm):
                best = fresh
                if status is not Status.CONVERGED:
                    best_x, best = self._against_start(best_x, best)
        risk = self.risk
        if risk is not None:
            risk.settle()  # (the curvatures kept on a device)
        guarded = isinstance(self.rule, Safeguarded)
        if risk is not None and self.monitor != "quiet" and self.raised is None:
            risk.warn(
                self.method, guarded=guarded, rollbacks=self.rollbacks, fix=self._oracle_advice
            )
        detail = self._nan_note(status, self.detail)
        eps = float(namespace(best_x).finfo(best_x.dtype).eps)
        message = stop_message(
            status,
            float64=eps <= 2.0**-52,
            users_oracle=self.audit_oracle,
            stalled_by=self._stalled_by,
            not_smooth=self._not_smooth or self._collapsed(status),
            half=str(best_x.dtype).replace("torch.", "") if eps >= 2.0**-10 else "",
            secant_ratio=math.nan if risk is None else risk.secant_ratio,
            swamped=self._swamped,
            rollbacks=self._rolled_back,
            oracle_advice=self._oracle_advice,
        )
        if self._stopped_by:
            message, detail = self._stopped_by, ""
        if status is Status.CONVERGED and (self.nit == 0 or self._g0 < _tiny(best_x)):
            # (at x0, or a run whose gradient was subnormal from x0 on: underflow ended it)
            note = underflow_note(best.value, best.grad_norm, best_x)
            detail = f"{detail}; {note}" if detail and note else detail or note
        result = self.build(best_x, best, status, f"{message} ({detail})" if detail else message)
        if risk is not None:  # (what the warning advised, for the report's legend)
            result._risk_advice = risk.advice(
                guarded=guarded, rollbacks=self.rollbacks, fix=self._oracle_advice
            )
        # (read once, after the run, for the SciPy face's hess_inv alone: no cost per
        # iteration, and a result of lfso.minimize holds no copy of L-BFGS's pairs)
        if self.rule is not None and scipy_face():
            result._memory = self.rule._memory(self.state)
        if self.raised is not None:  # (SciPy lets it propagate; the progress goes with it)
            attach(self.raised, result)
            raise self.raised
        return result


def _curvature_along(x: Any, grad: Any, x_new: Any, grad_new: Any) -> float:
    """``|(g+ - g) . (x+ - x)| / ||x+ - x||^2``: the mean curvature of ``f`` along the
    segment from ``x`` to ``x_new``: 0 where they coincide (a step below the rounding
    of ``x``, lost whole, as the ball's audit counts it)."""
    s = x_new - x
    length = norm(s)
    if length == 0.0:
        return 0.0
    if not length < math.inf:
        return math.nan
    return abs(to_float((grad_new - grad) @ (s / length))) / length


def _curvature_on_device(x: Any, grad: Any, x_new: Any, grad_new: Any) -> Any:
    """:func:`_curvature_along` of PyTorch tensors as a 0-d float64 tensor on their device
    (:func:`lfso._arrays.device_norm`'s ``||x+ - x||``): no host round trip."""
    import torch

    s = x_new - x
    length = device_norm(None, s, s @ s)
    moved = length > 0.0
    safe = torch.where(moved, length, 1.0)
    slope = ((grad_new - grad) @ (s / safe.to(s.dtype))).abs().to(torch.float64)
    curvature = torch.where(moved, slope / safe, 0.0)
    return torch.where(length < math.inf, curvature, math.nan)
