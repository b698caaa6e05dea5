"""Certificates: how far to go along a descent direction ``d`` with a proven decrease.

A certificate bounds the curvature of ``f`` along the segment ``[x, x + t d]`` by some
``C(t)`` non-decreasing in ``t`` and takes the step ``t`` with ``t C(t) >= eta (-g . d)``
(the smallest, to a tolerance), ``t = eta (-g . d) / C``. On the segment
``f(x + s d) <= f(x) + s g . d + s^2 C / 2`` (the descent lemma in one variable), so

.. math::  f(x + t d) \\le f(x) - \\eta (1 - \\eta/2) (g \\cdot d)^2 / C.

* :class:`BallCertificate`: ``C(t) = L(x, t ||d||) ||d||^2`` (the segment lies in the ball
  ``B(x, t ||d||)``); with ``d = -g`` this is the paper's LFSO step, with its radius rules.
* :class:`SegmentCertificate`: the model's own segment bound (:meth:`lfso.models.Model.segment`),
  sharper for the row models (curvature along ``d`` only).
* :class:`EstimateCertificate`: the ball certificate over the automatic oracle
  (:class:`lfso.steps.SecantEstimator`), for functions without an oracle. An estimate proves
  nothing, so rules with it run under the safeguard (:class:`lfso.steps.Safeguarded`).

Every certificate reports ``L = C / ||d||^2`` (curvature per unit length, the ball's ``L``
for the ball) and ``R = t_max ||d||`` (the length of the segment the bound covers).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .._arrays import distance as gap
from .._arrays import namespace, to_floats
from .._auto import SecantBound, SecantEstimator
from .._later import Later, host_value, known_dot, later
from .._validate import call_user, returned_scalar
from ..models import Evaluation, Model, _fused
from ..models._device_slope import swamped_message
from ..models._segments import _viewable
from ..models._slope import prior_ok
from ..oracles._bounds import LocalBound, PrecisionLimitError, check_monotone, check_value
from ..oracles._solve import (
    OracleError,
    _NotSmoothError,
    _RadiusRuleError,
    as_float,
    check_solved,
)
from ._base import Certificate, SizedStep, SizeInputs

__all__ = [
    "BallCappedEstimate",
    "BallCertificate",
    "Certificate",
    "EstimateCertificate",
    "SegmentCertificate",
    "SizedStep",
]

RadiusRule = str | Callable[[Any], float]

#: The smallest curvature an estimate along ``d`` takes (no division by zero).
_TINY = math.ulp(0.0)


def _quotient_up(a: float, b: float) -> float:
    """``a / b`` rounded up, ``a > 0`` a product rounded to nearest and ``b > 0``: the
    float above ``a`` bounds the exact product, and the float above its quotient by ``b``
    (rounded to nearest, half an ulp off at most) bounds the exact quotient."""
    return math.nextafter(math.nextafter(a, math.inf) / b, math.inf)


class BallState(NamedTuple):
    radius: float | None  # last radius: seeds the next generic radius solve
    target: float = 0.0  # last eta (-g . d) / ||d||: rescales the radius guess
    drift: float = 1.0  # last R / (previous R rescaled): the trend of L, carried forward
    length: float = 0.0  # last certified step length: extrapolated for hints


class BallCertificate(Certificate):
    """``C(t) = L(x, t ||d||) ||d||^2``, with the paper's radius rules.

    In the radius ``R = t ||d||`` the condition ``t C(t) >= eta (-g . d)`` reads
    ``R L(x, R) >= eta (-g . d) / ||d||`` (``= eta ||g||`` for ``d = -g``: the paper's).

    * ``"tight"``: the smallest such ``R`` (solved to ``radius_rtol`` on the step, see
      :mod:`lfso.oracles`): the largest step the oracle certifies.
    * a callable ``R0(x)``: the paper's rule as in the authors' code,
      ``R = max(R0(x), target / L(x, R0(x)))`` then ``L = L(x, R)``.
    * ``"paper"``: the same with the model's own ``R0``.

    The radius rules take ``target / L(x, R0(x))`` rounded up, so that ``R`` is never below
    the paper's ``R_k = max(R0, eta ||g|| / L(x, R0))`` (for the float ``eta`` and ``||g||``):
    rounded to nearest, ``eta ||g||`` and the quotient can each round down half an ulp, and
    ``R`` then falls one ulp short of ``R_k``, or ``R0`` is taken where ``R_k`` exceeds it,
    and the step ``eta ||g|| / L(x, R)`` leaves the ball ``L`` covers by an ulp. The rounding
    up moves ``R`` by two ulps at most, and the step only through ``L(x, R)``, by rounding.

    With the tight rule the next radius is offered to the model as a hint
    (``Move.hint``): models whose bound costs a pass over the data bound it there along
    with the next gradient, and the solve takes it when it lands in its tolerance window.

    Exact slope. The step is sized from the computed slope ``s = g . d``; the descent
    lemma holds for the exact gradient. On a row model's NumPy rows (logistic, ``l_2p``
    regression) the step is checked against the model's bound on the exact slope ``s*``
    as the segment certificate's is (:func:`_ball_slope_checked`): unchanged where it
    descends (its claim less ``t e``), sized from ``s_up >= s*`` where that is negative,
    else the run stops with :attr:`lfso.Status.PRECISION_LIMIT`. The model's a-priori
    bound settles the step with no pass over the rows; only where it does not is ``A d``
    formed (one product).
    """

    by_ball = True

    def __init__(self, radius: RadiusRule = "tight", radius_rtol: float = 1e-3) -> None:
        super().__init__(radius_rtol)
        if not (radius in ("tight", "paper") or callable(radius)):
            raise ValueError(
                f"radius must be 'tight', 'paper' or a callable x -> R0, got radius={radius!r}"
            )
        self.radius = radius

    def init(self, objective: Model, x: Any, evaluation: Evaluation) -> Any:
        return BallState(None)

    def _choose(
        self, x: Any, bound: LocalBound, target: float, guess: float | None
    ) -> tuple[float, float, int]:
        """Radius, L and oracle calls for one bound, by the configured radius rule."""
        if self.radius == "tight":
            # (checked: a user's bound class may solve its own radius)
            answer = bound.radius_for(target, rtol=self.radius_rtol, guess=guess)
            return check_solved(answer, proven=bound.proven)
        if self.radius == "paper":
            r0 = bound.paper_radius
            if r0 is None:
                raise TypeError(
                    "radius='paper' needs a model that defines the paper's R0; "
                    "pass radius=callable(x) -> R0 instead"
                )
        else:
            assert callable(self.radius)
            r0 = returned_scalar(call_user(self.radius, "radius(x)", x), "radius(x)")
        r0 = float(r0)
        if not 0.0 <= r0 < math.inf:
            raise ValueError(f"radius rule returned R0 = {r0!r}; it must be finite and >= 0")
        proven = bound.proven
        value = bound(r0)
        try:
            l0 = check_value(value, r0, proven=proven)
        except PrecisionLimitError:
            if not callable(self.radius):
                raise
            raise _radius_rule_limit(r0, value) from None
        # (rounded up: R_k >= eta ||g|| / L(x, R0) exactly, see the class docstring)
        tight = _quotient_up(target, l0) if target > 0.0 else 0.0
        if tight > r0:  # R0 too small for the step: the radius that R0's L says it needs
            lipschitz = check_value(bound(tight), tight, proven=proven)
            check_monotone(r0, l0, tight, lipschitz, bound.monotone_rtol)
            return tight, lipschitz, 2
        # R0 is feasible and the step uses L(x, R0); the second evaluation checks the
        # contract below it (L non-decreasing in R), where the step would land.
        below = check_value(bound(tight), tight, proven=proven)
        check_monotone(tight, below, r0, l0, bound.monotone_rtol)
        return r0, l0, 2

    def size(self, inputs: SizeInputs, *, defer: bool = False) -> tuple[SizedStep, Any]:
        """See :meth:`Certificate.size`; on a row model's NumPy rows the step is checked
        against the model's bound on the exact slope (:func:`_ball_slope_checked`)."""
        bound = inputs.evaluation.bound
        if bound is None:
            raise ValueError("the ball certificate needs evaluations made with bound=True")
        sized, state = self._sized(bound, inputs, inputs.state)
        return _ball_slope_checked(sized, inputs), state

    def _sized(
        self, bound: LocalBound, inputs: SizeInputs, state: BallState
    ) -> tuple[SizedStep, BallState]:
        """The step by ``bound`` (this certificate's radius rule), from ``state``."""
        _, x, evaluation, direction, slope, length, eta, _ = inputs
        steepest = direction is None
        target = eta * evaluation.grad_norm if steepest else eta * (-slope) / length
        # R* scales like the target when L is steady; a trend in L carries over from the
        # last iteration. A close guess lets the generic radius solve take one evaluation
        # (and a radius the model bounded with the gradient, the hint passed on below,
        # none when it is in the tolerance window: see lfso._solve.solve_radius).
        predicted = state.radius
        if predicted is not None and state.target > 0.0:
            predicted *= target / state.target
        guess = None if predicted is None else predicted * state.drift
        radius, lipschitz, calls = self._choose(x, bound, target, guess)
        drift = 1.0 if not predicted else min(max(radius / predicted, 0.5), 2.0)
        # The next radius, for the model to bound along with the next gradient: the root
        # is about the certified step length, extrapolated geometrically (l_k^2 / l_{k-1}),
        # then placed mid-window. A hint that missed cost a pass for nothing: the next
        # iteration goes without one.
        offered = bound.hint
        missed = offered is not None and radius != offered
        step_length = target / lipschitz
        hint = None
        if self._hints and state.length > 0.0 and not missed:
            trend = min(max(step_length / state.length, 0.5), 2.0)
            hint = step_length * trend * math.sqrt(1.0 + self.radius_rtol)
        t = eta / lipschitz if steepest else target / (lipschitz * length)
        # The step stays in the ball the bound covers: a feasible solve, R L(R) >= target,
        # makes t ||d|| <= R up to the quotients' rounding (a few ulps, as the iterate's
        # own); a solve short of its target by more (a user's oracle) is capped at R.
        along = evaluation.grad_norm if steepest else length
        if along > 0.0 and t * along > radius * (1.0 + 2.0**-50):
            t = radius / along
        sized = SizedStep(t, lipschitz, radius, calls, hint)
        return sized, state._replace(radius=radius, target=target, drift=drift, length=step_length)

    @property
    def _hints(self) -> bool:
        return self.radius == "tight"

    @property
    def sizes_steepest(self) -> bool:  # type: ignore[override]
        """With the tight radius (a radius rule sizes only along the rule's own ``d``)."""
        return self.radius == "tight"

    def steepest_step(
        self, objective: Model, x: Any, evaluation: Evaluation, eta: float, guess: float
    ) -> tuple[float, float, int]:
        """The tight radius ``R L(x, R) >= eta ||g||`` (the solve seeded with
        ``guess ||g||``)."""
        if not self.sizes_steepest:
            return super().steepest_step(objective, x, evaluation, eta, guess)
        gnorm = evaluation.grad_norm
        bound = evaluation.bound
        if bound is None:
            raise ValueError("the ball certificate needs evaluations made with bound=True")
        return check_solved(
            bound.radius_for(
                eta * gnorm, rtol=self.radius_rtol, guess=guess * gnorm if guess > 0.0 else None
            ),
            proven=bound.proven,
        )


def _exact_slope(
    objective: Any,
    x: Any,
    evaluation: Evaluation,
    direction: Any,
    slope: Any,
    length: Any,
    eta: float,
) -> tuple[float, float, float | None]:
    """``(2^k, e, s_up)`` of a host step along ``v = 2^k d`` (``d = -g`` where
    ``direction`` is ``None``; ``||v||`` in ``[1/2, 1)``) by a certificate that takes no
    segment of its own (the ball's): :func:`_checked_slope`'s ``e`` and ``s_up`` from the
    model's bound on the exact slope (:class:`lfso.models._slope.RowSlope`), its
    a-priori bound first (the model's ``_slope_prior``, no pass over the rows), the
    segment's check (one product ``A v``) only where that does not settle the step;
    ``(1, 0, None)`` where the model states no such bound (not a row model, not NumPy
    rows or PyTorch CPU tensors on the host path, :mod:`lfso.models._host`)."""
    prior_of = getattr(objective, "_slope_prior", None)
    grad = evaluation.grad
    if (
        prior_of is None
        or (type(grad) is not np.ndarray and not _viewable(grad))
        or not (type(length) is float and 0.0 < length < math.inf)
    ):
        return 1.0, 0.0, None
    steepest = direction is None
    d = evaluation.grad if steepest else direction
    scale = _unit_scale(length, _exponent_cap(d))
    v = d * -scale if steepest else (d * scale if scale != 1.0 else d)
    prior = prior_of(x, evaluation, v)
    if prior is None:
        return 1.0, 0.0, None
    along = -(length * (length * scale)) if steepest else float(slope) * scale
    if prior_ok(prior, (1.0 - 0.5 * eta) * -along):
        return scale, prior, None
    check = objective.segment(x, evaluation, v).slope_check
    if check is None:
        return 1.0, 0.0, None
    error, bounded = _checked_slope(check, along, eta)
    return scale, error, bounded


def _ball_slope_checked(sized: SizedStep, inputs: SizeInputs) -> SizedStep:
    """The ball's host step checked against the exact slope (:func:`_exact_slope`).

    The step ``t = eta (-s) / (L ||d||^2)`` stays in the ball ``B(x, R)`` on which
    ``L = L(x, R)`` bounds the curvature, so the descent lemma for the exact ``f`` reads
    ``f(x + t d) - f(x) <= t s* + t^2 L ||d||^2 / 2 = t (s* - s) - t (1 - eta/2) |s|``
    (``s = g . d`` computed, ``s* = grad f(x) . d`` exact). With ``e >= s* - s`` below
    ``(1 - eta/2) |s|`` the step is unchanged and its claimed decrease less ``t e``
    (:attr:`SizedStep.slope_error`); else, where ``s_up >= s*`` is negative, the step is
    sized from ``s_up``, ``t' = t s_up / s <= t`` (in the same ball, so under the same
    ``L``): ``f(x + t' d) - f(x) <= t' s_up + t' eta (-s_up) / 2 = -t' (1 - eta/2)
    |s_up| < 0``, the claimed decrease ``eta (1 - eta/2) s_up^2 / (L ||d||^2)``
    (:attr:`SizedStep.slope`); else :class:`_SlopeSwampedError` (the rule tries ``-g``,
    then stops the run with :attr:`lfso.Status.PRECISION_LIMIT`)."""
    objective, x, evaluation, direction, slope, length, eta, _ = inputs
    if objective is None or not (type(sized.t) is float and sized.t > 0.0):
        return sized
    scale, error, bounded = _exact_slope(objective, x, evaluation, direction, slope, length, eta)
    if bounded is None:
        return sized._replace(slope_error=error / scale) if error > 0.0 else sized
    along = -(length * (length * scale)) if direction is None else slope * scale
    return sized._replace(t=sized.t * (bounded / along), slope=bounded / scale)


def _radius_rule_limit(r0: float, value: Any) -> _RadiusRuleError:
    """A user's radius rule's ``R0`` at which the proven bound leaves the float range: the
    error names the radius, not the data's precision (the run's message is this alone)."""
    if float(value) == 0.0:  # (0: no curvature on B(x, R0), or an underflow)
        why = (
            "is 0 there, which certifies no step (its exact value, or a positive one "
            "below the smallest float); returning the best point. Return a larger R0 from "
            "radius= (or rescale the problem where the bound is 0 at every radius)"
        )
    else:
        why = (
            "leaves the float range at that radius (its exact value is a finite number); "
            "returning the best point. Return a smaller R0 from radius="
        )
    return _RadiusRuleError(
        f"Stopped: L(x, R) is {float(value)!r} at R = {r0:.6g} from the radius rule "
        f"radius(x): the proven bound's value {why} (or pass radius='tight', the smallest "
        "radius that certifies the step)."
    )


def audited_sizing(model: Any, rule: Any = None, *, segment: bool = False) -> bool:
    """Whether ``rule`` (settled for ``model``; a :class:`~lfso.steps.Safeguarded` one's
    inner rule is read; or, with ``rule=None``, a rule certifying by the model's segment
    bound where ``segment``) sizes its steps by an oracle that ``model`` asks to have
    audited (:attr:`lfso.models.Model.audit_oracle`): every rule on such a model but one
    that certifies by the model's own segment bound where that bound is proven without
    the audited constant (a built-in model's ``norm=``: its ball bound rests on it, its
    segment does not)."""
    if not getattr(model, "audit_oracle", False):
        return False
    if rule is not None:
        certificate = getattr(getattr(rule, "rule", rule), "certificate", None)
        segment = isinstance(certificate, SegmentCertificate)
    return not (segment and proven_segment(model))


def proven_segment(model: Any) -> bool:
    """Whether ``model``'s own segment bound is proven whatever its ``audit_oracle``: it
    reads none of the constants the user stated (nor the ball bound)."""
    return bool(getattr(model, "_segment_proven", False)) and not model.segment_uses_ball


def certificate_named(
    name: str, radius: RadiusRule = "tight", radius_rtol: float = 1e-3
) -> Certificate:
    """``certificate="ball"`` or ``"segment"`` as a certificate object (a choice that needs
    no model; ``"auto"`` is the registry's, :func:`lfso._registry.certificate_for`).

    A radius rule other than ``"tight"`` is the ball's.
    """
    if name not in ("ball", "segment"):
        raise ValueError(
            f"certificate must be 'auto', 'ball' or 'segment', got certificate={name!r}"
        )
    if name == "ball":
        return BallCertificate(radius, radius_rtol)
    if radius != "tight":
        raise ValueError(
            f"radius={radius!r} is a rule of the ball certificate; "
            "certificate='segment' needs radius='tight'"
        )
    return SegmentCertificate(radius_rtol)


class SegmentCertificate(Certificate):
    """The model's segment bound ``t -> C(x, d, t)`` (:meth:`lfso.models.Model.segment`).

    Its root ``t`` of ``t C(t) = eta (-g . d)`` is found by the bound's own solve, seeded
    with the last step; a bound with ``product(t)`` (row models) hands the model's image of
    ``x + t d`` to the next evaluation, which then skips its pass over ``A``. Without a
    sharper bound the model's default is the ball's, ``L(x, t ||d||) ||d||^2``.

    Tolerance. As ``C`` is non-decreasing, every trial ``t`` certifies the step
    ``min(t, target / C(t))`` (``target = eta (-g . d)``) and bounds the largest certified
    step ``t*`` from above (``t* <= t`` if ``t C(t) >= target``, else ``t* <= target / C(t)``);
    the segment's solve stops as soon as its step is within a factor ``1 + radius_rtol`` of
    such a bound, hence of ``t*``. A looser tolerance takes a step up to that much shorter
    (never longer than ``t*``) in fewer trials: ``lfso-lbfgs`` takes ``radius_rtol = 0.1``
    (along its directions the last step, or the root if ``C`` were flat from there, is
    usually within 10%), ``lfso`` (the published algorithm) ``1e-3``.

    Scale. The bound is taken along ``v = 2^k d``, ``d`` scaled by a power of two to
    ``||v||`` in ``[1/2, 1)`` (exact but in elements of ``d`` it makes subnormal), so that
    ``d``'s own scale neither overflows nor underflows in ``u = A v``, its squares and
    ``t u``; the step along ``v``, ``s = t / 2^k``, is of the size of the step's length.

    Device steps. With ``defer=True`` the step along ``v`` is chosen on the data's device
    (:meth:`SegmentBound.device_step`, ``2^k`` a 0-d array where ``||d||`` is one): a 0-d
    ``tau`` with ``tau C <= eta (-g . v)``, ``C`` bounding the curvature of ``f`` on ``[x,
    x + tau v]`` and ``g . v`` the model's own sum, rounded toward zero to the data's
    dtype (where the bound was assembled in a wider one: a shorter step on the same
    segment keeps both). The move is ``x + tau v`` (:attr:`SizedStep.along`): the segment
    it takes is the one the bound covers, whatever the rounding of ``2^k d``, so the
    decrease lemma above holds for it as it does for a host step (the iterate's own
    rounding aside, as there), and the step ``t = tau 2^k`` along ``d`` is held in two
    factors of the data's dtype: a float32 ``d`` of size 1e-36 takes ``t = 6e38``, past
    float32's largest number, as ``tau = 3.7e3`` along ``v = 2^117 d``. Where ``tau 2^k``
    is a normal number of the dtype, ``x + tau v`` is ``x + fl(tau 2^k) d`` bit for bit
    (multiplications by powers of two are exact). ``t``, reported and the next step's
    guess, is ``tau 2^k`` in float64.
    """

    claims_ball = False
    #: The model's own segment bound needs no ball bound (:meth:`needs_bound_for` asks
    #: for it where the model's segment is the default one, built from the ball).
    needs_bound = False
    along_segment = True
    on_device = True
    sizes_steepest = True

    def needs_bound_for(self, model: Model) -> bool:
        """The ball bound where the model's segment is made from it
        (:attr:`lfso.models.Model.segment_uses_ball`)."""
        return model.segment_uses_ball

    def init(self, objective: Model, x: Any, evaluation: Evaluation) -> float | None:
        return None

    def steepest_step(
        self, objective: Model, x: Any, evaluation: Evaluation, eta: float, guess: float
    ) -> tuple[float, float, int]:
        """The root of ``t C(x, -g, t) = eta ||g||^2`` by the segment's own solve (seeded
        with ``guess``); ``R = t_max ||g||``, ``L = C / ||g||^2``.

        As in :meth:`size`, the bound is taken along ``v = -2^k g`` with ``||v||`` in
        ``[1/2, 1)`` (an exact scaling), so that neither ``||g||^2`` nor a bound's
        ``||d||^2`` factor leaves the float range where ``||g||`` is far from 1."""
        gnorm = evaluation.grad_norm
        grad = evaluation.grad
        scale = _unit_scale(gnorm, _exponent_cap(grad))
        unit = gnorm * scale  # ||v||
        segment = objective.segment(x, evaluation, grad * -scale if scale != 1.0 else -grad)
        t_max, curvature, calls = segment.radius_for(
            eta * gnorm * unit,
            rtol=self.radius_rtol,
            guess=guess / scale if guess > 0.0 else None,
        )
        check_value(curvature, t_max, proven=segment.proven)
        return t_max * unit, curvature / unit / unit, calls

    def size(self, inputs: SizeInputs, *, defer: bool = False) -> tuple[SizedStep, Any]:
        """See :meth:`Certificate.size`; with ``defer=True`` (the loop, PyTorch tensors)
        and a segment that sizes its step on the device (:attr:`SegmentBound.on_device`),
        the step is :meth:`SegmentBound.device_step`'s and ``t``, ``L`` and ``R`` are
        :class:`~lfso._later.Later` scalars that come back with the next evaluation (so do
        ``slope`` and ``length`` when the direction deferred them)."""
        objective, x, evaluation, direction, slope, length, eta, state = inputs
        d = evaluation.grad if direction is None else direction  # (negated below)
        # (the last step: on the device while it is on its way, for a step sized there)
        early = isinstance(state, Later) and state.value is None and defer
        guess = state if state is None or type(state) is float or early else host_value(state)
        # The bound is taken along v = 2^k d with ||v|| in [1/2, 1) (see Scale in the class
        # docstring), the trial steps s = t / 2^k in units of v. On the device (defer) 2^k
        # is a 0-d array: no round trip.
        size = length.array if isinstance(length, Later) else length
        _, big, cap = dtype_limits(d)  # (cap as _exponent_cap; d's dtype is 2^k d's)
        made = None  # (2^k, 2^k d) of one compiled pass
        if isinstance(size, float):
            scale = _unit_scale(size, cap)
            scaled = scale != 1.0
        else:
            if _fused.iteration_compiles(evaluation):  # (steepest descent: -2^k g)
                made = _fused.one_pass(_unit_scaled, d, size, cap, direction is None)
            scale = _device_unit_scale(size, cap) if made is None else made[0]
            scaled = True
        if made is not None:
            d = made[1]
        elif direction is None:  # -2^k g in one exact operation
            d = d * -scale if scaled else -d
        elif scaled:
            d = d * scale
        segment = objective.segment(x, evaluation, d)
        if isinstance(guess, Later):
            if not (defer and segment.on_device):
                guess = guess.get()
            else:
                guess = guess.array  # (a 0-d array: the device step takes it there)
        if defer and segment.on_device:
            return self._device_sized(segment, eta, guess, (size, scale, d), made is not None)
        product = segment.product if segment.has_product else None
        if scaled and product is not None:
            product = _rescaled(product, scale)
        if not isinstance(scale, float):
            scale = to_floats(scale)[0]
        if not (type(slope) is float and type(length) is float):  # (a direction's Later)
            slope, length = host_value(slope), host_value(length)
        target, error, bounded = _host_target(segment, direction is None, slope, length, scale, eta)
        # A subnormal target, or 0 from a nonzero d (underflow): no accurate solve
        if target < sys.float_info.min and length > 0.0:
            raise PrecisionLimitError(
                f"the step's target eta (-g . d) = {target!r} is below the smallest normal "
                "float: no step can be certified accurately at this point"
            )
        t_max, curvature, calls = segment.radius_for(
            target, rtol=self.radius_rtol, guess=None if guess is None else guess / scale
        )
        if not (type(curvature) is float and 0.0 < curvature < math.inf):  # (else no call)
            curvature = check_value(curvature, t_max, proven=segment.proven)
        # (at most t_max: the quotient can round past the end of the certified segment)
        tau = min(target / curvature, t_max) if target > 0.0 else 0.0  # (along 2^k d)
        t = _in_range(tau, big) * scale
        unit = length * scale  # ||2^k d||
        per_length = curvature / unit / unit if unit > 0.0 else math.inf
        slope_error, slope_d = 0.0, None
        if error > 0.0 or bounded is not None:  # (in units of d: v = 2^k d, exactly)
            slope_error = error / scale
            slope_d = None if bounded is None else bounded / scale
        # (one record, every field in order: no _replace per step)
        sized = SizedStep(
            t, per_length, t_max * unit, calls, None, product, 0, None, None, slope_error, slope_d
        )
        return sized, t_max * scale

    def _device_sized(
        self, segment: Any, eta: float, guess: Any, along: tuple[Any, Any, Any], fused: bool
    ) -> tuple[SizedStep, Any]:
        """:meth:`size`'s step sized on the device (``along = (||d||, 2^k, 2^k d)``; its
        scale made in one compiled pass where ``fused``): ``tau C <= eta (-g . v)``, ``C``
        bounding the curvature on ``[x, x + tau v]``, and the move is ``x + tau v`` along
        the very vector ``v`` (see Device steps in the class docstring)."""
        size, scale, d = along
        tau, bound = segment.device_step(eta, rtol=self.radius_rtol, guess=guess, unit=scale)
        arrays = (tau, bound, size, scale, d[:1])
        # (one compiled pass where the scale was)
        made = _fused.one_pass(_reported, *arrays) if fused else None
        tau, t, lipschitz, radius = _reported(None, *arrays) if made is None else made
        step = later(t)
        sized = SizedStep(
            step,  # type: ignore[arg-type]
            later(lipschitz),  # type: ignore[arg-type]
            later(radius),  # type: ignore[arg-type]
            1,  # one batched pass over the trial steps
            None,
            segment.product,
            along=(tau, d),
            swamped=_device_swamped(segment),
        )
        return sized, step


def _host_target(
    segment: Any, steepest: bool, slope: float, length: float, scale: float, eta: float
) -> tuple[float, float, float | None]:
    """``(target, e, s_up)`` of a host step along ``v = 2^k d`` (``scale = 2^k``):
    ``target = eta (-g . v)``, and where the segment bounds the exact slope
    (:func:`_checked_slope`) ``e`` and, where the step is sized from it, ``s_up`` (then
    ``target = eta (-s_up)``).

    ``g . d`` is on the host already (the direction fetched it), so the solve uses it: the
    target, the step and the claimed decrease all rest on the same slope; per unit length
    first for steepest descent (``-g . d = ||g||^2``, which underflows where ``||g|| <
    1e-154`` while ``2^k ||g|| ||g||`` does not).
    """
    if steepest:
        along = -(length * (length * scale))
        target = eta * length * (length * scale)
    else:
        along = slope * scale
        target = eta * (-slope) * scale
    check = getattr(segment, "slope_check", None)
    if check is None:
        return target, 0.0, None
    error, bounded = _checked_slope(check, along, eta)
    return (target if bounded is None else eta * (-bounded)), error, bounded


class _SlopeSwampedError(PrecisionLimitError):
    """No upper bound on the exact slope along the direction is negative: the gradient's
    rounding swamps its slope there (:func:`_checked_slope`); ``in_range`` false where the
    bound passed float64's range instead (a problem to rescale)."""

    in_range = True


def _checked_slope(check: Any, along: float, eta: float) -> tuple[float, float | None]:
    """``(e, s_up)`` for a step along ``v`` whose computed slope is ``along = g . v <
    0``, from the model's bound on the exact slope ``s* = grad f(x) . v``
    (:class:`lfso.models._slope.RowSlope`; theorem and rounding there).

    The step ``tau = eta (-s) / C`` (``C`` bounding the curvature on ``[x, x + tau v]``)
    obeys ``f(x + tau v) - f(x) <= tau s* + tau^2 C / 2 = tau (s* - s) - tau (1 - eta/2)
    |s|`` (the descent lemma), so it descends where ``e >= s* - s`` is below ``(1 -
    eta/2) |s|``:

    * ``check.prior`` (no pass over the rows) at most an eighth of that: ``(prior,
      None)``, the step unchanged;
    * else ``e = check.upper() - s`` (one pass in float64), below it: ``(e, None)``, the
      step unchanged;
    * else, ``s_up = check.upper() < 0``: ``(0, s_up)``, the step sized from ``s_up``,
      ``tau = eta (-s_up) / C``: ``f(x + tau v) - f(x) <= tau s_up + tau eta (-s_up) / 2 =
      -tau (1 - eta/2) |s_up| < 0``, the decrease ``eta (1 - eta/2) s_up^2 / C``;
    * else :class:`_SlopeSwampedError` (the caller tries ``-g``, then stops the run with
      :attr:`lfso.Status.PRECISION_LIMIT`).

    An ``upper()`` past float64's range (``inf`` or NaN: rows of 1e300) states nothing,
    so no step along ``v`` is certain to descend: :class:`_SlopeSwampedError` as well
    (a step taken there would claim no decrease, and the run would go on uncertified).
    """
    margin = (1.0 - 0.5 * eta) * -along
    prior = check.prior
    if prior_ok(prior, margin):
        return prior, None
    upper = check.upper(along + margin)  # (rows made again where the held are not enough)
    if not math.isfinite(upper):
        beyond = _SlopeSwampedError(
            f"the bound on the exact slope along the step is {upper!r} (the rows pass "
            f"float64's range; the computed slope g . d = {along:.6g}), so no step along "
            "it is certain to descend"
        )
        beyond.in_range = False
        raise beyond
    error = math.nextafter(upper - along, math.inf)
    if error < margin:
        return max(error, 0.0), None
    if upper < 0.0:
        return 0.0, upper
    raise _SlopeSwampedError(swamped_message(along, upper))


def _device_swamped(segment: Any) -> tuple[Any, Any, Any, Any] | None:
    """A device step's check of the exact slope (:attr:`SizedStep.swamped`): its flag,
    ``s`` and ``s_up`` as riders on the next fetch, and its ``escalate``, where the
    segment checked it."""
    check = getattr(segment, "device_check", None)
    if check is None or check.swamped is None:
        return None
    return later(check.swamped), later(check.along), later(check.upper), check.escalate


def _in_range(tau: float, big: float) -> float:
    """The step ``tau`` along ``2^k d``, once it is within the range of ``d``'s dtype (whose
    largest number is ``big``); past it
    (only where ``d``'s entries underflowed: a float32 gradient below 1e-38 whose norm, on
    the host, did not, so that ``2^k d`` is far shorter than 1/2, or 0, and bounds
    nothing) neither ``x + t d`` nor the product ``A x + t A d`` can be formed (``inf``, or
    NaN from ``inf * 0``): :class:`~lfso.oracles.PrecisionLimitError`."""
    if not tau <= big:
        raise PrecisionLimitError(
            f"the certified step {tau!r} along the direction is past the range of its "
            "dtype (the direction's entries underflowed): no step can be taken here"
        )
    return tau


def _reported(xp: Any, tau: Any, bound: Any, size: Any, scale: Any, like: Any) -> Any:
    """A device step's ``tau`` in the data's dtype (``like``'s; :func:`_toward_zero`) and
    what the loop reports of it, 0-d float64 arrays: ``t = tau 2^k`` (exactly), ``L = C /
    ||2^k d||^2`` and ``R = tau ||2^k d||``, from its bound ``C`` along ``2^k d``, ``||d||
    = size`` and ``2^k = scale`` (floats, or 0-d arrays on the device). PyTorch's
    operations (``xp`` is not used), one compiled pass where the step's scale is
    (:func:`lfso.models._fused.one_pass`)."""
    import torch

    f64 = torch.float64
    tau = _toward_zero(tau, like.dtype)
    unit = size * scale  # ||2^k d||
    tau64 = tau.to(f64)
    return tau, tau64 * scale, bound.to(f64) / (unit * unit), tau64 * unit


def _toward_zero(tau: Any, dtype: Any) -> Any:
    """The 0-d step ``tau`` in ``dtype`` (the data's), rounded toward zero where it is of
    a wider one (a bound assembled in float64): at most ``tau``, so the step applied stays
    inside the segment its bound covers and below the root it certifies."""
    if tau.dtype == dtype:
        return tau
    xp = namespace(tau)
    low = xp.astype(tau, dtype)
    return xp.where(low > tau, xp.nextafter(low, xp.zeros_like(low)), low)


def _exponent_cap(d: Any) -> int:
    """The largest binary exponent of ``d``'s dtype (127 in float32, 1023 in float64):
    ``2^k`` for ``|k|`` up to it is a normal number of that dtype (so is the scale itself
    in that dtype), and ``2^k d`` rounds nothing that was not already subnormal."""
    return dtype_limits(d)[2]


def dtype_limits(d: Any) -> tuple[float, float, int]:
    """``(smallest normal, largest, largest binary exponent)`` of ``d``'s floating dtype,
    from its array library's ``finfo``, kept by dtype object (looked up on every step)."""
    dtype = d.dtype
    hit = _LIMITS.get(id(dtype))
    if hit is not None and hit[0] is dtype:
        return hit[1]
    info = namespace(d).finfo(dtype)
    tiny, big = float(info.smallest_normal), float(info.max)
    limits = (tiny, big, math.frexp(big)[1] - 1)
    if len(_LIMITS) > 64:  # (dtype objects made on the fly: keep a few)
        _LIMITS.clear()
    _LIMITS[id(dtype)] = (dtype, limits)
    return limits


#: ``id(dtype) -> (dtype, limits)``, the dtype kept so that its id is not reused (dtypes of
#: different libraries are never compared: array-api-strict warns where they are).
_LIMITS: dict[int, tuple[Any, tuple[float, float, int]]] = {}


def _unit_scale(length: float, cap: int) -> float:
    """``2^k`` with ``2^k length`` in ``[1/2, 1)``, ``|k| <= cap`` (``1`` where ``length`` is
    0 or not finite)."""
    if not 0.0 < length < math.inf:
        return 1.0
    k = -math.frexp(length)[1]
    if k > cap:
        k = cap
    elif k < -cap:
        k = -cap
    return math.ldexp(1.0, k)


def _device_unit_scale(length: Any, cap: int) -> Any:
    """:func:`_unit_scale` of a 0-d array, as a 0-d array (no round trip): ``2^-k`` with
    ``k = ceil(log2 length)`` (``1`` where ``length`` is 0 or not finite)."""
    return _unit_scale_of(namespace(length), length, cap)


def _unit_scaled(xp: Any, d: Any, length: Any, cap: int, negated: bool) -> tuple[Any, Any]:
    """``(2^k, 2^k d)`` (``negated``: ``-2^k d``, steepest descent's ``d = -g`` from
    ``g``), ``2^k`` :func:`_device_unit_scale`'s of ``length = ||d||``: the same
    operations, one compiled pass (:func:`lfso.models._fused.one_pass`) where an
    iteration's arithmetic compiles (:func:`lfso.models._fused.iteration_compiles`)."""
    scale = _unit_scale_of(xp, length, cap)
    return scale, d * (-scale if negated else scale)


def _unit_scale_of(xp: Any, length: Any, cap: int) -> Any:
    ok = (length > 0.0) & (length < math.inf)
    k = xp.ceil(xp.log2(xp.where(ok, length, xp.ones_like(length))))
    k = xp.clip(k, -float(cap), float(cap))
    return xp.where(ok, 2.0 ** (-k), xp.ones_like(length))


def _rescaled(product: Callable[[Any], Any], scale: Any) -> Callable[[Any], Any]:
    """``t -> product(t / scale)``: a product along ``scale d`` asked for in units of ``d``."""
    return lambda t: product(t / scale)


class EstimateState(NamedTuple):
    ball: BallState
    estimator: Any  # lfso._auto.SecantState
    base: list[tuple[float, float]] | None = None  # this iteration's samples (taken once)
    extra: tuple[tuple[float, float], ...] = ()  # samples from this iteration's rejections


class EstimateCertificate(BallCertificate):
    """The ball certificate over the automatic oracle ``hat L(x, R)`` (tight radius).

    The estimate (:class:`lfso.steps.SecantEstimator`: secant ratios of gradients the run
    computes, Hessian power iterations with ``hvp``, safety factor, growth floor) can be
    too small, so it proves nothing: rules with it are safeguarded. A rejected trial's
    secant ratio ``||g(x + t d) - g(x)|| / (t ||d||)`` joins the samples at distance
    ``t ||d||`` (:meth:`learn`), and the accepted step's ``L`` sets the next floor.
    Along a direction other than ``-g`` (L-BFGS) the samples are secants *along* the
    step, ``(g(x + t d) - g(x)) . d / (t ||d||^2)``, the last step's
    ``s . y / ||s||^2`` and, with ``hvp``, ``d . H d / ||d||^2``: the curvature the step
    meets, not the worst one around it; a
    rejected trial's sample is also at least the curvature its values show, and the step
    is sized without the safety factor, capped at the unit step (:meth:`_along`).
    """

    claims_ball = False
    needs_bound = False
    proven = False

    def __init__(self, estimator: SecantEstimator, radius_rtol: float = 1e-3) -> None:
        super().__init__("tight", radius_rtol)
        if not isinstance(estimator, SecantEstimator):
            raise TypeError(
                f"estimator must be a lfso.steps.SecantEstimator, got estimator={estimator!r}"
            )
        self.estimator = estimator

    @property
    def _hints(self) -> bool:
        return False

    @property
    def sizes_steepest(self) -> bool:  # type: ignore[override]
        return False

    def init(self, objective: Model, x: Any, evaluation: Evaluation) -> EstimateState:
        est = self.estimator.init(objective, x, evaluation)
        est = est._replace(floor=self.estimator.first_floor(objective, x, evaluation))
        return EstimateState(BallState(None), est)

    def size(self, inputs: SizeInputs, *, defer: bool = False) -> tuple[SizedStep, EstimateState]:
        _, x, evaluation, direction, slope, length, eta, state = inputs
        hvps = 0
        if state.base is None:  # the first sizing of this iteration takes the samples
            base, est, hvps = self.estimator.samples(
                x, evaluation, state.estimator, along=direction
            )
            if direction is not None and est.x is not None:
                # Along a direction other than -g the curvature that matters is the
                # directional one: the last step's secant s . y / ||s||^2 replaces the
                # norm ratio ||y|| / ||s|| (the Hessian's sample, at distance 0, is
                # along d already: SecantEstimator.samples).
                pair = ((x, est.x), (evaluation.grad, est.grad))
                sy, ss = known_dot(*pair), known_dot(pair[0], pair[0])  # (fetched already)
                if sy is None or ss is None:
                    s_, y_ = x - est.x, evaluation.grad - est.grad
                    sy, ss = to_floats(s_ @ y_, s_ @ s_)
                if ss > 0.0:
                    kept = [sample for sample in base if sample[0] == 0.0]
                    base = [(math.sqrt(ss), max(sy, 0.0) / ss), *kept]
            state = state._replace(base=base, estimator=est)
        samples = [*state.base, *state.extra]
        floor = state.estimator.floor
        if direction is not None:
            sized = self._along(floor, samples, slope, length, eta)
            return sized._replace(hvp_calls=hvps), state
        bound = SecantBound(floor, samples, self.estimator.safety)
        if not bound(math.inf) > 0.0:  # (else the radius solve's L = 0 blames an oracle)
            raise _estimate_lost(bound(math.inf), inputs.eta)
        try:
            sized, ball = self._sized(bound, inputs, state.ball)
        except PrecisionLimitError:
            raise
        except OracleError as error:  # (an estimate past the float range: L = inf)
            jump = _not_smooth(samples, self.estimator.safety)
            if jump is None:
                raise
            raise jump from error
        if not sized.t < math.inf:
            raise _estimate_lost(sized.curvature, inputs.eta)
        return sized._replace(hvp_calls=hvps), state._replace(ball=ball)

    def _along(
        self,
        floor: float,
        samples: list[tuple[float, float]],
        slope: float,
        length: float,
        eta: float,
    ) -> SizedStep:
        """The step along a quasi-Newton direction ``d`` (not ``-g``).

        The bare estimate ``hat c(r) = max(floor, rho_0, max{rho_i : d_i <= r})`` (curvature
        per unit length along ``d``, ``rho_0`` the nearest sample's, which stands for the
        radii below its distance) sizes the step with no safety factor, capped at the unit
        step: ``t = min(1, eta (-g . d) / (hat c ||d||^2))``. The cap is the direction's
        own curvature ``c_d = (-g . d) / ||d||^2``: L-BFGS builds ``d = -H g`` from secant
        pairs, so ``t = 1`` minimises its quadratic model along ``d``, and ``t`` is the root
        of ``t c ||d||^2 = eta (-g . d)`` for ``c = max(hat c, eta c_d)``. The safety factor
        ``s`` enters the claim instead: the descent lemma at ``t`` for the curvature
        ``s c``, ``t (-g . d) - t^2 s c ||d||^2 / 2 = t (-g . d) (1 - s eta / 2)`` (floored
        at 0): with the defaults ``s = 2``, ``eta = 1`` the safeguard accepts the trial iff
        ``f`` does not rise, and a rejection adds its secant (and its curvature from the
        values, :meth:`learn`) to the samples, which shortens the next trial as a
        quadratic-interpolation backtrack would. The reported ``L`` is ``s hat c``.
        """
        target = eta * (-slope) / length  # = eta c_d ||d||
        raw = SecantBound(max(floor, min(samples)[1] if samples else 0.0, _TINY), samples, 1.0)
        level = raw(length)
        if level * length <= target:  # the bare estimate reaches the unit step
            t = 1.0
        else:
            _, level, _ = raw.radius_for(target, rtol=self.radius_rtol)
            t = target / (level * length)
        safety = self.estimator.safety
        claim = safety * max(level, target / length)
        return SizedStep(t, safety * level, t * length, 1, claim=claim)

    def learn(self, x, evaluation, direction, distance, new, state):
        """The state with the rejected trial's secant ratio at ``distance`` added."""
        if not (math.isfinite(new.grad_norm) and distance > 0.0):
            return None
        if direction is None:
            sample = (distance, gap(new.grad, evaluation.grad) / distance)  # ||change||
        else:
            change = new.grad - evaluation.grad
            # Along d, two lower bounds on the largest curvature on [0, t] (t ||d|| =
            # distance): the gradient secant (g(x + t d) - g(x)) . d / (t ||d||^2), and
            # from the values 2 (f(x + t d) - f(x) - t g . d) / (t ||d||)^2 (Taylor: the
            # remainder is at most the largest curvature times t^2 ||d||^2 / 2), which
            # exceeds the curvature the rejected step claimed whenever its descent test
            # failed, so the next proposal is shorter.
            with np.errstate(over="ignore"):  # (||d||^2 past the float range: d / max |d_i|)
                dd, along, gd = to_floats(
                    direction @ direction, change @ direction, evaluation.grad @ direction
                )
            if distance * dd > 0.0 and dd < math.inf and distance * distance > 0.0:
                rho = max(along, 0.0) * math.sqrt(dd) / (distance * dd)
                t = distance / math.sqrt(dd)
                rise = new.value - evaluation.value - t * gd
                if math.isfinite(rise):
                    rho = max(rho, 2.0 * rise / (distance * distance))
            else:  # (||d||^2, or a product with it, past the float range: d / max |d_i|)
                rho = _along_scaled(direction, change, evaluation, new, distance)
            sample = (distance, rho)
        return state._replace(extra=(*state.extra, sample))

    def commit(self, sized: SizedStep, state: Any, x: Any, evaluation: Evaluation) -> Any:
        # ``L_floor = L / (s growth)``: the step grows at most ``growth``-fold per
        # iteration; after a quasi-Newton step (reported ``L = s hat c``, sized without the
        # safety factor) the floor is ``hat c / growth^2``: the direction rescales itself
        # by its secant pairs, so the floor only has to stop a runaway estimate.
        growth = self.estimator.growth
        if sized.claim is not None:
            growth *= growth
        floor = sized.curvature / (self.estimator.safety * growth)
        est = state.estimator._replace(floor=floor, x=x, grad=evaluation.grad)
        return EstimateState(state.ball, est)


def _along_scaled(
    direction: Any, change: Any, evaluation: Evaluation, new: Evaluation, distance: float
) -> float:
    """:meth:`EstimateCertificate.learn`'s sample along ``d`` where ``||d||^2`` or
    ``distance ||d||^2`` leaves the float range (a run that closes in on a kink of ``f``
    takes steps of 1e-160): the same two lower bounds from ``e = d / max |d_i|`` (the
    sample does not depend on the length of ``d``), ``inf`` where they overflow."""
    xp = namespace(direction)
    scale = to_floats(xp.max(xp.abs(direction)))[0]
    if not 0.0 < scale < math.inf:
        return 0.0
    e = direction / scale
    ee, along, ge = to_floats(e @ e, change @ e, evaluation.grad @ e)
    norm = math.sqrt(ee)  # (in [1, sqrt(n)])
    rho = max(along, 0.0) / norm / distance
    rise = new.value - evaluation.value - distance * (ge / norm)
    if math.isfinite(rise):
        rho = max(rho, 2.0 * rise / distance / distance)
    return rho


#: A distance below which a secant's overflow is the gradient's jump, not its scale: the
#: square root of the smallest normal float (a smooth f whose secant overflows there
#: changes its gradient by less than ``sqrt(max float)`` only where it is not smooth).
_VANISHING = math.sqrt(sys.float_info.min)


def _not_smooth(samples: list[tuple[float, float]], safety: float) -> _NotSmoothError | None:
    """The error for an automatic estimate that is ``inf`` because of a secant over a
    vanishing distance (below :data:`_VANISHING`): the gradient jumps, ``f`` may not be
    differentiable there; ``None`` where no sample explains the ``inf`` so (a gradient whose
    changes pass the float range: a scaling problem, as the plain error says)."""
    jumps = [(d, rho) for d, rho in samples if 0.0 < d < _VANISHING and safety * rho == math.inf]
    if not jumps:
        return None
    d, rho = min(jumps)
    change = f"more than {sys.float_info.max * d:.3g}" if rho == math.inf else f"{rho * d:.3g}"
    return _NotSmoothError(
        f"the gradient changes by {change} over a distance of {d:.3g}: the automatic "
        "smoothness estimate is inf; f may not be differentiable at x"
    )


def _estimate_lost(level: float, eta: float) -> PrecisionLimitError:
    """The error for an automatic estimate whose step ``eta / L`` is past the float range
    (``L = 0`` included): its floor, ``L / (s growth)`` carried from step to step, fell
    below the smallest float where the samples showed no curvature (the gradients'
    differences underflowed, as a float32 part of a mixed-precision model's does)."""
    return PrecisionLimitError(
        f"the automatic smoothness estimate L = {level!r} (secants of the gradients seen, "
        f"no oracle's) leaves the step eta / L = {eta / level if level > 0.0 else math.inf!r} "
        "past the float range: the gradients' changes are below their precision here"
    )


class BallCappedEstimate(EstimateCertificate):
    """The automatic estimate along ``d``, never a shorter step than the ball's: for a
    model whose oracle is a ball bound ``L(x, R)`` (a user's ``smoothness=``) and
    quasi-Newton directions.

    The ball bound certifies ``t`` with ``t L(x, t ||d||) ||d||^2 = eta (-g . d)``, but
    ``L`` is the worst curvature over *every* direction around ``x``, far above the
    curvature along an L-BFGS direction, so its steps are much shorter than the unit step
    the direction is built for. This certificate proposes the longer of two steps:
    :class:`EstimateCertificate`'s (secants along ``d``, capped at the unit step) and the
    ball's. A rule with it is safeguarded (the estimate proves nothing), so every step
    taken satisfies its descent test; where the estimate is the shorter, the step is the
    ball's certified one. A run with an oracle is thus never held to shorter steps than
    the same run without one (``smoothness="auto"``) for lack of a sharper bound.
    """

    needs_bound = True

    def init(self, objective: Model, x: Any, evaluation: Evaluation) -> EstimateState:
        """The estimate's first floor is the ball's ``L(x, 0)`` (no probe gradient where
        it is positive)."""
        est = self.estimator.init(objective, x, evaluation)
        floor = math.nan if evaluation.bound is None else as_float(evaluation.bound(0.0), 0.0)
        if not 0.0 < floor < math.inf:  # (no bound, or L(x, 0) = 0 at a flat point)
            floor = self.estimator.first_floor(objective, x, evaluation)
        return EstimateState(BallState(None), est._replace(floor=floor))

    def size(self, inputs: SizeInputs, *, defer: bool = False) -> tuple[SizedStep, EstimateState]:
        sized, state = super().size(inputs)
        bound = inputs.evaluation.bound
        if bound is None:
            return sized, state
        ball, ball_state = self._sized(bound, inputs, state.ball)
        state = state._replace(ball=ball_state)
        calls = sized.calls + ball.calls
        # A rejected trial of this iteration no longer than the ball's step shows the
        # ball bound wrong here (it certifies every shorter step): the estimate alone then,
        # which learnt from the rejection (proposing the ball's step again would repeat it).
        # (The ball's step is solved to radius_rtol: the same bound's varies by as much.)
        reach = ball.t * inputs.length * (1.0 + self.radius_rtol)
        refuted = any(distance <= reach for distance, _ in state.extra)
        if ball.t > sized.t and not refuted:  # the ball certifies more: its step, proven
            return ball._replace(hvp_calls=sized.hvp_calls, calls=calls), state
        return sized._replace(calls=calls), state
