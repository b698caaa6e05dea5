"""The safeguard: a wrapper that makes any certified rule monotone whatever its bound says."""

from __future__ import annotations

import copy
import math
from typing import Any, NamedTuple, cast

from .._arrays import namespace, norm, rounding
from .._gradcheck import (
    _REFINEMENTS,
    _SHRINK,
    _extrapolated,
    _kinked,
    _values_unit,
    central_difference,
)
from .._validate import integer, real, spelt_given
from ..models import Evaluation, Model
from ..oracles._bounds import PrecisionLimitError
from ._base import AutoCertificate, GradientMismatchError, Move, StepFailedError, StepRule
from ._certified import CertifiedRule

__all__ = ["Safeguarded"]

#: Per-iteration decay of the audit's memory of a bound caught too small.
_FORGET = 0.99

#: Steps in a row without a decrease beyond rounding (or accepted on the rounding allowance
#: alone, or after a rejected trial that changed ``f``), with at least one trial that
#: changed ``f`` short of its claim, after which the safeguard checks the gradient along
#: the step's direction.
_STALLS = 10

#: Lengths of the finite differences (times the optimal one) that must all disagree with
#: the gradient before the safeguard reports a mismatch.
_SCALES = (1.0, 16.0, 256.0)

#: Fractions of the decrease the gradient predicts along the direction below which a
#: finite difference of ``f`` shows a mismatch: one half at every length, or three
#: quarters at every length with the three differences within a quarter of the predicted
#: decrease of each other (so a gradient exactly twice too long, which sits on the half
#: line, is caught, while values noisier than their dtype, whose differences scatter with
#: the length, need the half).
_SHORTFALL, _CONSISTENT_SHORTFALL = 0.5, 0.75


class SafeguardState(NamedTuple):
    inner: Any  # the wrapped rule's state
    inflation: float  # multiplier on the rule's curvature bound after rollbacks (>= 1)
    learned: float  # largest observed / claimed curvature the audit saw, slowly forgotten
    slack: float  # relative rounding allowance of the descent test (the dtype's)
    stalls: int = 0  # steps in a row that decreased f by no more than rounding, or short
    rises: int = 0  # trials over them (taken or rejected) that changed f short of a claim
    wait: int = _STALLS  # stalled steps before the gradient is checked (doubles after one)


class Safeguarded(StepRule):
    """Accept a certified rule's step only if ``f`` decreases as the rule claims.

    The wrapped rule (:class:`lfso.steps.CertifiedRule`: LFSO-GD, LFSO-L-BFGS,
    LFSO-accelerated) proposes a move with a claimed decrease,
    ``f(anchor) <= f(x) - decrease`` (the anchor is the move's own point, or the gradient
    step of an accelerated rule). The safeguard evaluates it (the loop reuses that
    evaluation) and accepts it if it is finite and the claim holds up to ``8 eps`` of the
    computed ``|f(x)|`` (:func:`lfso._arrays.rounding`: at least ``1e-12``; the model's
    unit roundoff where coarser than the dtype's). That bounds the computed values: the
    exact ``f`` may rise by that plus the rounding of ``f`` at both points
    (:meth:`lfso.models.Model.value_error`, which can be far above ``eps |f|``: a softmax
    regression at large weights).
    Otherwise it rolls the step back: a rule that learns from the rejected trial (the
    automatic oracle adds its secant ratio to its samples) proposes again if its bound
    grew, and otherwise the bound is multiplied by ``backoff`` (the step shrinks, so it
    stays in the region the bound covers). The multiplier is kept for the next iterations
    and relaxes by ``sqrt(backoff)`` per clean step, but never below the largest observed
    curvature over the rule's bound (``CertifiedRule.audit``, remembered with a decay of
    1% per iteration): a bound caught too small is raised for the following iterations, a
    valid one is left alone. Every rollback is counted (``Result.rollbacks``).

    A wrong gradient makes the rule crawl: every trial along a direction the gradient says
    descends (for LFSO-accelerated, the gradient step's ``-g``) raises ``f``, or falls
    short of the decrease the gradient promises (a gradient several times too long), until
    the steps are so short that the shortfall is within the rounding allowance. After 10
    steps in a row that decreased ``f`` by no more than its rounding allowance, were
    accepted on that allowance alone (their claimed decrease failed) or came after a
    rejected trial that changed ``f`` (L-BFGS along a gradient twice too long: each
    iteration's first trial falls short, the bound it teaches makes the next one tiny, and
    that one meets its claim), with at least one
    trial over them (taken or rejected) that changed ``f`` without meeting its claim, the
    safeguard compares a finite difference of ``f`` along the step's direction
    (:func:`lfso._gradcheck.central_difference`, four evaluations of ``f``) with ``g . d``:
    where ``f`` falls by less than half what the gradient predicts, beyond the difference's
    error bound, and two differences 16 and 256 times longer (four evaluations each, only
    then) confirm it (or it falls by less than three quarters at all three lengths, the
    three within a quarter of the prediction of each other: a gradient exactly twice too
    long; values noisier than their dtype's rounding, as a function computed
    partly in float32 gives, move a longer difference less), and no difference at a
    step 16 to ``16^8`` times shorter settles, contradicts the first and shows the
    predicted decrease (``f`` bends on a scale far below the step, which spans the bend
    and sees a kink: :func:`_bends_below`), it raises
    :class:`~lfso.steps.GradientMismatchError` (status ``GRADIENT_MISMATCH``). Where they
    agree (a slow stretch, or a run at the limit of floating point), the next check waits
    twice as many stalled steps.

    Parameters
    ----------
    rule : CertifiedRule
    backoff : float > 1
    max_rollbacks : int >= 0
        Per iteration; past it the run stops (status ``STEP_FAILED``, best point returned)
        rather than accept a step that breaks the claimed decrease: ``max_rollbacks + 1``
        trial steps rejected, each rolled back and counted in ``Result.rollbacks``.
    """

    monotone = True

    def __init__(self, rule: CertifiedRule, backoff: float = 4.0, max_rollbacks: int = 60) -> None:
        if not isinstance(rule, CertifiedRule):
            raise TypeError(
                "the safeguard wraps a certified rule (lfso, lfso-lbfgs, lfso-accel), "
                f"got {type(rule).__name__}"
            )
        backoff = real(backoff, "backoff", low=1.0, low_open=True)
        max_rollbacks = integer(max_rollbacks, "max_rollbacks", low=0)
        self.rule, self.backoff, self.max_rollbacks = rule, backoff, max_rollbacks
        self.name = rule.name
        self._flags()

    def _flags(self) -> None:
        rule = self.rule
        self.needs_bound, self.certified = rule.needs_bound, rule.certified
        self.gradient_step, self.monotone = rule.gradient_step, rule.monotone
        self.estimated = rule.estimated

    def resolve(self, model: Model, auto: AutoCertificate) -> Safeguarded:
        """Settle the wrapped rule for ``model`` (see :meth:`StepRule.resolve`) and take
        its flags, in a copy (the instance passed is left as it was, as the rule's own
        :meth:`~lfso.steps.CertifiedStep.resolve` leaves it)."""
        settled = copy.copy(self)
        settled.rule = cast(CertifiedRule, self.rule.resolve(model, auto))
        settled._flags()
        return settled

    def _memory(self, state: SafeguardState | None) -> Any:
        return self.rule._memory(None if state is None else state.inner)

    def init(self, objective: Model, x: Any, evaluation: Evaluation) -> SafeguardState:
        inner = self.rule.init(objective, x, evaluation)
        self._flags()
        unit = getattr(objective, "unit_roundoff", None)  # (coarser than x's dtype's)
        return SafeguardState(inner, 1.0, 1.0, rounding(x, unit))

    def step(
        self, objective: Model, x: Any, evaluation: Evaluation, state: SafeguardState
    ) -> tuple[Move, SafeguardState]:
        rule = self.rule
        plan = rule.plan(objective, x, evaluation, state.inner)
        inflation, rollbacks, raised, nans = state.inflation, 0, 0, 0
        allowance = state.slack * abs(evaluation.value)
        while True:
            proposal = rule.propose(x, evaluation, plan, inflation)
            move = proposal.move
            new: Evaluation | None = None
            if proposal.anchor is None:  # (the model takes the inputs it declares)
                new = objective.evaluate_with(
                    move.x, bound=self.needs_bound, hint=move.hint, product=move.product
                )
                value, ok = new.value, math.isfinite(new.value) and math.isfinite(new.grad_norm)
            else:
                value = objective.value(proposal.anchor)
                ok = math.isfinite(value)
            if ok and value <= evaluation.value - proposal.decrease + allowance:
                break
            if value == -math.inf:  # f fell to -inf along the step: unbounded below there,
                break  # which the loop reports (Status.UNBOUNDED) from this evaluation
            rollbacks += 1
            nans += value != value
            if move.step == 0.0:  # (the bound times the inflation past the float range:
                # every further trial is x itself, its claim NaN, rejected to the last)
                limit = PrecisionLimitError(
                    f"the safeguard shrank the trial step to 0 (the curvature bound times "
                    f"{inflation:.3g} is past the float range) after {trial_steps(rollbacks)} "
                    f"rejected at f = {evaluation.value:.6g}: no step short enough for the "
                    "safeguard is representable"
                )
                limit.rollbacks = rollbacks  # type: ignore[attr-defined]
                raise limit
            if rollbacks > self.max_rollbacks:
                error = StepFailedError(
                    f"{trial_steps(rollbacks)} rejected by the safeguard, more than "
                    f"{spelt_given('max_rollbacks', str(self.max_rollbacks))} allows"
                    + (f"; f was NaN at {nans} of them" if nans else "")
                )
                error.rollbacks = rollbacks
                raise error
            # (a trial that raised f, or fell short of its claim while f decreased: the
            # crawl of a gradient several times too long, whose trials never raise f)
            raised += ok and value != evaluation.value
            learnt = rule.learn(x, evaluation, plan, proposal, new) if new is not None else None
            if learnt is not None:
                plan, grew = learnt
                if grew:
                    continue
            inflation *= self.backoff
        relaxed = max(1.0, inflation / math.sqrt(self.backoff)) if rollbacks == 0 else inflation
        learned = state.learned
        if new is not None and math.isfinite(new.grad_norm) and math.isfinite(value):
            ratio = rule.audit(x, evaluation, plan, proposal, new)
            if ratio is not None:
                learned = max(learned * _FORGET, ratio)
                relaxed = max(relaxed, learned)
        stalls, risen, wait = 0, 0, state.wait  # (risen: over the stalled steps in a row)
        # (a step accepted on the rounding allowance alone, its claim failed, crawls too,
        # as do steps that each follow a rejected trial that changed f)
        short = not value <= evaluation.value - proposal.decrease
        if short or raised or not value < evaluation.value - allowance:
            stalls, risen = state.stalls + 1, state.rises + raised + (value > evaluation.value)
            if stalls >= wait and risen > 0:
                _check_gradient(objective, x, evaluation, rule.along(plan))
                # The gradient agrees with f: a slow stretch (or rounding), checked again
                # after twice as many stalled steps.
                stalls, risen, wait = 0, 0, 2 * wait
        inner = rule.commit(plan, proposal, x, evaluation)
        move.evaluation, move.rollbacks = new, rollbacks
        state = SafeguardState(inner, relaxed, learned, state.slack, stalls, risen, wait)
        return move, state


def _truncation(
    objective: Model, x: Any, evaluation: Evaluation, scale: float, eps: float | None
) -> float:
    """``h L(x, h) / 2``, ``h`` the longer length of the central difference at ``scale``
    (:func:`lfso._gradcheck.central_difference`): how far that difference may lie from
    ``g . u`` along a unit ``u`` where ``L(x, h)`` bounds the gradient's Lipschitz constant
    on ``B(x, h)`` (Taylor: ``f(x +- s u)`` is off its tangent by at most ``L s^2 / 2``, so
    ``D(s)`` by ``L s / 2``, and Richardson's ``(4 D(h/2) - D(h)) / 3`` by ``L h / 2``).
    Only a model's own proven oracle is read (a user's is audited, not trusted); 0 without
    one. A curvature far above ``|g . u| / h`` (data of size 1e17: ``f`` bends within a
    length far below ``h``) leaves the difference no evidence against the gradient."""
    if not getattr(objective, "has_oracle", False) or getattr(objective, "audit_oracle", True):
        return 0.0
    if eps is None:
        eps = float(namespace(x).finfo(x.dtype).eps)
    h = scale * eps ** (1.0 / 3.0) * max(1.0, norm(x))
    bound = evaluation.bound
    try:
        if bound is None:
            bound = objective.evaluate(x, bound=True).bound
        curvature = float(bound(h)) if bound is not None else 0.0
    except Exception:  # (a bound the dtype cannot evaluate: no evidence either way)
        return math.inf
    return 0.5 * h * curvature if curvature >= 0.0 else math.inf


def _check_gradient(
    objective: Model, x: Any, evaluation: Evaluation, along: tuple[Any, Any, Any] | None
) -> None:
    """Raise :class:`GradientMismatchError` where a finite difference of ``f`` along the
    plan's direction ``along = (d, g . d, ||d||)`` (:meth:`CertifiedRule.along`) shows
    less than half the decrease ``g . d`` predicts, or three quarters consistently over the
    lengths (:data:`_SHORTFALL`), beyond the difference's error bound
    (:func:`lfso._gradcheck.central_difference`)."""
    if along is None:
        return
    direction, slope, length = along
    if not (isinstance(slope, float) and isinstance(length, float) and length > 0.0):
        return
    if not math.isfinite(length):
        return
    if direction is None and slope == -math.inf:  # (d = -g: g . d = -||g||^2 past the
        predicted = -length  # float range, but g . u = -||g|| is not)
    elif slope < 0.0 and math.isfinite(slope):
        predicted = slope / length  # g . u: the decrease per unit length g promises
    else:
        return
    d = -evaluation.grad if direction is None else direction
    unit = d / length
    eps = getattr(objective, "unit_roundoff", None)  # (coarser than x's dtype's, if set)
    # f and the prediction in units of a power of 2 near |f(x)| (exact): the differences
    # of values near the float range, and their Richardson weights, do not overflow.
    size = abs(evaluation.value)
    ulp = 2.0 ** math.floor(math.log2(size)) if 1.0 < size < math.inf else 1.0
    value = objective.value if ulp == 1.0 else (lambda y: objective.value(y) / ulp)
    predicted /= ulp
    observed_at, loose, seen = [], True, []
    first: tuple[float, float] | None = None

    def recorded(y: Any) -> float:  # (the finest difference's values, for a kink)
        seen.append(float(value(y)))
        return seen[-1]

    for scale in _SCALES:  # (a disagreement is confirmed by longer differences, which
        # values noisier than their dtype's rounding move less: f partly in float32)
        observed, error = central_difference(
            recorded if scale == 1.0 else value, x, unit, eps=eps, scale=scale
        )
        if observed > _CONSISTENT_SHORTFALL * predicted + error:  # (a proven oracle's
            error += _truncation(objective, x, evaluation, scale, eps) / ulp  # curvature)
        if not observed > _CONSISTENT_SHORTFALL * predicted + error:
            return
        loose = loose and observed > _SHORTFALL * predicted + error
        observed_at.append(observed)
        first = first or (observed, error)
    spread = max(observed_at) - min(observed_at)
    if loose or spread <= (1.0 - _CONSISTENT_SHORTFALL) * -predicted:
        if _bends_below(value, x, unit, eps, first, predicted):
            return
        exc = GradientMismatchError(
            f"along the step's direction f changes at {observed * ulp:.3g} per unit length "
            f"(a finite difference, +- {error * ulp:.2g}) where the gradient says "
            f"{predicted * ulp:.3g}"
        )
        exc._kink = _kink(float(evaluation.value) / ulp, x, seen, eps) * ulp
        if exc._kink:
            exc.args = (
                f"{exc}; f's one-sided slopes there differ by {abs(exc._kink):.3g} per unit "
                "length: a kink",
            )
        raise exc


def _bends_below(
    value: Any, x: Any, unit: Any, eps: float | None, first: Any, predicted: float
) -> bool:
    """Whether a central difference at a step :data:`~lfso._gradcheck._SHRINK` to
    ``16^8`` times shorter than the first's (four evaluations of ``f`` each, only where a
    mismatch would be named) settles, contradicts the first, ``first = (observed,
    error)``, beyond their error bounds, and shows the decrease the gradient predicts
    (within the error bounds, at least three quarters of it and at most four thirds: a
    decrease far larger than the gradient's is no more its than one far smaller):
    ``f`` bends on a scale far below the first step (least squares plus a smoothed
    ``sum |y - c|`` at ``y = x / 1e-5``, near its minimum), which that step spans and
    sees as a kink, so it is no evidence against the gradient (as in
    :func:`lfso.check_grad`)."""
    observed, error = first
    for k in range(1, _REFINEMENTS + 1):
        fine, truncation, noise = _extrapolated(value, x, unit, eps, _SHRINK**-k, None)
        if not noise < max(abs(fine), abs(predicted)):
            return False  # (the difference is all rounding from here down)
        if truncation > 3.0 * noise or abs(fine - observed) <= truncation + noise + error:
            continue  # (not settled, or it confirms the first)
        slack = truncation + noise  # (and not far more: a gradient too short is wrong too)
        short = fine > _CONSISTENT_SHORTFALL * predicted + slack
        return not short and not fine < predicted / _CONSISTENT_SHORTFALL - slack
    return False


def _kink(f0: float, x: Any, seen: list[float], eps: float | None) -> float:
    """The jump in slope of ``f`` at ``x`` along the direction of the finest central
    difference, whose four values are ``seen``, or 0 where its one-sided differences
    agree (:func:`lfso._gradcheck._kinked`); ``f0`` is ``f(x)`` in the same units (the
    run's evaluation there: no evaluation more)."""
    unit = float(namespace(x).finfo(x.dtype).eps) if eps is None else eps
    pairs = list(zip(seen[::2], seen[1::2], strict=True))
    h = unit ** (1.0 / 3.0) * max(1.0, norm(x))  # (central_difference's at scale 1)
    return _kinked(seen, f0, h, _values_unit(pairs, unit))


def trial_steps(count: int) -> str:
    """``count`` trial steps, in words: ``1 trial step``, ``2 trial steps``."""
    return f"{count} trial step{'' if count == 1 else 's'}"
