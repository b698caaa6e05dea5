"""Certified steps: a descent direction sized by a certificate (LFSO-GD, LFSO-L-BFGS).

Berahas, Roberts & Roosta (TMLR 2024, Algorithm 1) is the case ``d = -g`` with the ball
certificate; any direction and any certificate of :mod:`lfso.steps.certificates` combine
the same way (optimistix's descent + search split), and :class:`lfso.steps.Safeguarded`
wraps any of them.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .._arrays import norm
from .._later import Later, deferring, host_value
from .._validate import open_interval
from ..models import Evaluation, Model
from ..models._device_slope import run_key
from ..oracles._bounds import OracleError, PrecisionLimitError
from ._base import AutoCertificate, Certificate, Direction, Move, SizedStep, SizeInputs, StepRule
from ._certificates import BallCertificate, _SlopeSwampedError, certificate_named, dtype_limits
from ._directions import SteepestDescent

# Proposal is the rules' internal.
__all__ = ["CertifiedRule", "CertifiedStep", "LFSOStep"]


#: The powers of two a step is split by in :func:`advance` (normal in every float dtype
#: from float16 up).
_SPLIT = 2.0**8


def advance(x: Any, t: float, d: Any) -> Any:
    """``x + t d`` for a host float ``t``, rounded once per element as ``x + fl(t) d`` is
    where ``t`` is a normal number of ``d``'s dtype (then it is that, bit for bit).

    A step ``t`` outside that range (a float32 ``d`` of size 1e-36 with ``t = 6e38``, whose
    product is 2e3; or a subnormal ``t``, which the cast would round by up to half its
    size) would overflow to ``inf`` or be rounded far off when cast to ``d``'s dtype.
    Then ``t = m 2^k`` (``1/2 <= |m| < 1``) and ``x + m (2^k d)``, ``2^k d`` by exact
    multiplications by powers of two (exact but where an element of ``t d`` is itself
    outside the normal range, which the rounding of ``x + t d`` absorbs).
    """
    if t == 0.0 or not math.isfinite(t):
        return x + t * d
    tiny, big, _ = dtype_limits(d)
    if tiny <= abs(t) <= big:
        return x + t * d
    m, k = math.frexp(t)
    if k > 0:
        while k > 8:
            d, k = d * _SPLIT, k - 8
    else:
        while k < -8:
            d, k = d * (1.0 / _SPLIT), k + 8
    return x + m * (d * 2.0**k)


def _check_sized(sized: SizedStep, certificate: Certificate) -> None:
    """A ``ValueError`` naming ``certificate`` where the step it sized on the host is not a
    number ``>= 0`` (a user's certificate that returns a negative step would climb, and a
    NaN one end the run blaming the objective); a step sized on the device is checked
    where it comes back."""
    t = sized.t
    if isinstance(t, float) and not 0.0 <= t <= math.inf:
        raise ValueError(
            f"certificate {certificate!r} sized a step t = {t!r}; a certificate's step must "
            "be a number >= 0"
        )


def _check_direction(direction: Any) -> None:
    """A ``TypeError`` naming ``direction`` unless it is a :class:`Direction` instance."""
    if not isinstance(direction, Direction):
        raise TypeError(
            "direction must be a lfso.steps Direction (SteepestDescent(), "
            f"LBFGSDirection(memory), CallableDirection(fn)), got direction={direction!r}"
        )


class Proposal(NamedTuple):
    """A certified rule's move with what it promises, for :class:`lfso.steps.Safeguarded`.

    ``f(anchor) <= f(x) - decrease`` is the claim (``anchor is None``: the move's own
    point, whose evaluation the loop can then reuse); ``state`` is the rule's next state if
    the move is accepted.
    """

    move: Move
    decrease: float
    state: Any
    anchor: Any = None


class CertifiedRule(StepRule):
    """A rule whose step comes with a decrease it can state, so it can be safeguarded.

    :meth:`step` is ``plan`` then ``propose`` at ``inflation = 1`` then ``commit``; the
    safeguard instead proposes with a growing ``inflation`` (the curvature bound times it,
    so the step shrinks and stays in the region the bound covers) until ``f`` decreases as
    claimed, and lets the rule :meth:`learn` from rejected trials.
    """

    eta: float = 1.0
    monotone = True

    def plan(self, objective: Model, x: Any, evaluation: Evaluation, state: Any) -> Any:
        """Everything the step needs that does not depend on the inflation."""
        raise NotImplementedError

    def propose(self, x: Any, evaluation: Evaluation, plan: Any, inflation: float) -> Proposal:
        """The move with the curvature bound multiplied by ``inflation >= 1``."""
        raise NotImplementedError

    def learn(
        self, x: Any, evaluation: Evaluation, plan: Any, proposal: Proposal, new: Evaluation
    ) -> tuple[Any, bool] | None:
        """After a rejected trial: a new plan and whether its bound grew (``None``: nothing
        learnt, the safeguard inflates)."""
        return None

    def commit(self, plan: Any, proposal: Proposal, x: Any, evaluation: Evaluation) -> Any:
        """The next state once ``proposal`` was accepted."""
        return proposal.state

    def audit(
        self, x: Any, evaluation: Evaluation, plan: Any, proposal: Proposal, new: Evaluation
    ) -> float | None:
        """Observed curvature over the bound used (above 1: the bound was too small)."""
        return None

    def along(self, plan: Any) -> tuple[Any, Any, Any] | None:
        """``(d, g . d, ||d||)`` of a plan (``d is None``: ``-g``), for the safeguard's
        gradient check; ``None``: the rule's step is not along one direction it chose."""
        return None

    def step(
        self, objective: Model, x: Any, evaluation: Evaluation, state: Any
    ) -> tuple[Move, Any]:
        plan = self.plan(objective, x, evaluation, state)
        proposal = self.propose(x, evaluation, plan, 1.0)
        return proposal.move, self.commit(plan, proposal, x, evaluation)


class Plan(NamedTuple):
    direction: Any  # d (None: -g)
    slope: Any  # g . d (a float, or a Later when sized on the device)
    length: Any  # ||d|| (likewise)
    sized: SizedStep | None  # None: g = 0, no move
    direction_state: Any
    certificate_state: Any


class CertifiedStep(CertifiedRule):
    """``x_{k+1} = x_k + t_k d_k``: a direction sized by a certificate, no line search.

    ``t_k = eta (-g_k . d_k) / C_k`` with ``C_k`` the certificate's bound on the curvature
    along ``[x_k, x_k + t_k d_k]``, so (see :mod:`lfso.steps.certificates`)

    .. math::  f(x_{k+1}) \\le f(x_k) - \\eta (1 - \\eta/2) (g_k \\cdot d_k)^2 / C_k :

    monotone, and no function value is needed to choose the step. With ``d = -g`` and the
    ball certificate this is LFSO-GD exactly (``t = eta / L(x, R)``); ``Move.step`` is
    ``t``, ``Move.L`` is ``C / ||d||^2`` and ``Move.R`` the length of the segment the bound
    covers.

    Parameters
    ----------
    direction : Direction
        :class:`~lfso.steps.SteepestDescent`, ``LBFGSDirection``, ...
    certificate : Certificate or "auto"
        ``"auto"``: left to the registry, which settles it for the run's model once
        (:func:`lfso._registry.settle`, called by :func:`lfso.minimize`): the model's
        segment bound if it has a sharper one than the ball's, else the ball with the
        tight radius. Until then :attr:`certificate` is ``None``.
    eta : float in (0, 2)
    name : str
        The ``method=`` string reported in results.
    radius_rtol : float in (0, 1)
        Relative tolerance of the certificate's solve on the step length (where
        ``certificate="auto"`` is settled; a certificate passed in has its own).
    """

    def __init__(
        self,
        direction: Direction,
        certificate: Certificate | str = "auto",
        eta: float = 1.0,
        *,
        name: str = "lfso",
        radius_rtol: float = 1e-3,
    ) -> None:
        eta = open_interval(eta, "eta", 0.0, 2.0)
        _check_direction(direction)
        if not isinstance(name, str):
            raise TypeError(f"name must be a str (the method= it reports), got name={name!r}")
        if certificate != "auto" and not isinstance(certificate, Certificate):
            raise TypeError(
                f"certificate must be a Certificate or 'auto', got certificate={certificate!r}"
            )
        radius_rtol = open_interval(radius_rtol, "radius_rtol", 0.0, 1.0)
        self.eta, self.direction, self.name = eta, direction, name
        self.radius_rtol = radius_rtol
        self.certificate = certificate if isinstance(certificate, Certificate) else None
        self._auto = self.certificate is None  # ("auto": settled again for each run's model)
        self._configure(None)

    def _configure(self, model: Model | None) -> None:
        """The rule's flags from its certificate's declarations (for ``model`` once
        settled; before that, ``needs_bound`` errs on asking for the bound)."""
        self.gradient_step = self.direction.steepest
        certificate = self.certificate
        if certificate is None:  # "auto": either way the bound is needed
            self.needs_bound, self.certified = True, True
            return
        # (sized on the device along a direction made there: no host value read)
        self.host_free = certificate.on_device and self.direction.host_free
        if model is None:
            self.needs_bound = certificate.needs_bound or certificate.along_segment
        else:
            self.needs_bound = certificate.needs_bound_for(model)
        self.certified = certificate.claims_ball
        self.oscillates = certificate.along_segment
        self.estimated = not certificate.proven

    def resolve(self, model: Model, auto: AutoCertificate) -> CertifiedStep:
        """Settle the rule for ``model`` (see :meth:`StepRule.resolve`): ``"auto"`` takes
        ``auto(radius_rtol)``, and the flags follow the certificate's declarations for the
        model (a segment certificate asks for the ball bound only where the model's
        segment is made from it), for each run's model anew. Returns the settled rule, a
        copy: the instance passed is left as it was, so that runs in several threads may
        share it (a run reads its rule's certificate and flags until it ends)."""
        settled = copy.copy(self)
        if settled._auto:
            settled.certificate = auto(settled.radius_rtol)
        settled._configure(model)
        return settled

    def _settled(self) -> Certificate:
        certificate = self.certificate
        if certificate is None:
            raise TypeError(
                f"{type(self).__name__}(certificate='auto') is settled for a model when "
                "lfso.minimize runs it: pass the rule to lfso.minimize, or pass a "
                "Certificate"
            )
        return certificate

    def init(self, objective: Model, x: Any, evaluation: Evaluation) -> Any:
        return (
            self.direction.init(x, evaluation),
            self._settled().init(objective, x, evaluation),
        )

    def _memory(self, state: Any) -> Any:
        return self.direction._memory(None if state is None else state[0])

    def step(
        self, objective: Model, x: Any, evaluation: Evaluation, state: Any
    ) -> tuple[Move, Any]:
        # The loop's own step may defer its scalars to the next evaluation's fetch (the
        # safeguard's trials, which compare decreases on the host, never do).
        plan = self.plan(objective, x, evaluation, state, defer=True)
        proposal = self.propose(x, evaluation, plan, 1.0)
        return proposal.move, self.commit(plan, proposal, x, evaluation)

    def plan(
        self, objective: Model, x: Any, evaluation: Evaluation, state: Any, *, defer: bool = False
    ) -> Plan:
        """The direction and the certified step along it. ``defer=True``: on PyTorch
        tensors in the loop (:func:`lfso._later.deferring`) with the segment certificate,
        the direction and the step are computed on the device with no host round trip;
        their scalars come back with the next evaluation (:mod:`lfso._later`)."""
        certificate = self.certificate
        if certificate is None:
            certificate = self._settled()  # (raises, saying who settles it)
        grad = evaluation.grad  # (a NumPy array defers nothing)
        defer = defer and type(grad) is not np.ndarray and certificate.on_device and deferring(grad)
        if defer and self.direction.on_device and _falls_back(self):
            # (the last step along the direction was 0, swamped: -g, as the host falls back)
            d, slope, length, _ = SteepestDescent()(x, evaluation, None, defer=True)
            dstate = state[0]
        elif defer and self.direction.on_device:
            d, slope, length, dstate = self.direction(x, evaluation, state[0], defer=True)
        else:
            d, slope, length, dstate = self.direction(x, evaluation, state[0])
        kept = state[1]
        if isinstance(slope, Later):
            if defer:  # a descent direction by construction (-g on the device otherwise)
                inputs = SizeInputs(objective, x, evaluation, d, slope, length, self.eta, kept)
                sized, cstate = certificate.size(inputs, defer=True)
                return Plan(d, slope, length, sized, dstate, cstate)
            slope, length = host_value(slope), host_value(length)
        if not slope < 0.0 and evaluation.grad_norm > 0.0 and not slope > 0.0:
            # g . d rounded or underflowed to 0 with g != 0 (||g|| < 1e-154): steepest
            # descent, which descends, sized per unit length (see below)
            d, slope, length = (
                None,
                -evaluation.grad_norm * evaluation.grad_norm,
                evaluation.grad_norm,
            )
        if evaluation.grad_norm == 0.0 and d is None and evaluation.bound is not None:
            # g = 0 on steepest descent: the paper's step t = eta / L(x, 0) (no move), by
            # the ball whatever the certificate (a segment along d = 0 bounds nothing).
            if not certificate.by_ball:
                certificate = BallCertificate("tight", self.radius_rtol)
                state = (state[0], certificate.init(objective, x, evaluation))
        elif not slope < 0.0 and not (d is None and evaluation.grad_norm > 0.0):
            # g = 0 (or no descent at all): nothing to certify, no move. (Steepest descent
            # descends whenever g != 0, also where -||g||^2 underflows: the certificate
            # takes its slope per unit length, ||g||, then.)
            return Plan(d, slope, length, None, dstate, kept)
        inputs = SizeInputs(objective, x, evaluation, d, slope, length, self.eta, state[1])
        try:
            if defer and certificate.on_device:
                sized, cstate = certificate.size(inputs, defer=True)
            else:
                sized, cstate = certificate.size(inputs)
        except _SlopeSwampedError:
            if d is None:
                raise
            # No bound on the exact slope along d is negative: steepest descent, whose own
            # bound is checked alike (the run stops where it is not negative either).
            d, slope, length = None, -(evaluation.grad_norm**2), evaluation.grad_norm
            inputs = inputs._replace(direction=d, slope=slope, length=length)
            sized, cstate = certificate.size(inputs)
        except OracleError as error:
            if slope < 0.0 or isinstance(error, PrecisionLimitError):
                raise
            return Plan(d, slope, length, None, dstate, kept)  # L(x, 0) = 0 at g = 0
        if certificate is not self.certificate:
            cstate = kept
        if not (type(sized.t) is float and 0.0 <= sized.t <= math.inf):  # (else no call)
            _check_sized(sized, certificate)
        if sized.slope is not None:  # sized from a bound on the exact slope: that slope,
            slope = sized.slope  # along d = -g spelt out (propose's steepest step is g's)
            if d is None:
                d = -evaluation.grad
        return Plan(d, slope, length, sized, dstate, cstate)

    def propose(self, x: Any, evaluation: Evaluation, plan: Plan, inflation: float) -> Proposal:
        state = (plan.direction_state, plan.certificate_state)
        sized = plan.sized
        if sized is None:
            return Proposal(Move(x, 0.0), 0.0, state)
        steepest, eta = plan.direction is None, self.eta
        if sized.along is not None:  # sized on the device (plan with defer=True)
            tau, along = sized.along  # x + tau (2^k d): t = tau 2^k (SegmentCertificate)
            new = x + tau * along
            product = sized.product(tau) if sized.product is not None else None
            move = Move(new, sized.t, sized.curvature, sized.radius, sized.calls, product=product)
            move.swamped = sized.swamped
            if sized.swamped is not None and not steepest:
                move.fallback = functools.partial(_fall_back, self)
            # The decrease eta (1 - eta/2) (g . d)^2 / C is not on the host (only the loop's
            # own step defers; the safeguard, which compares it, never does).
            return Proposal(move, math.nan, state)
        used = sized.curvature * inflation
        if inflation == 1.0:
            t = sized.t
        else:
            t = eta / used if steepest else sized.t / inflation
        new = advance(x, -t, evaluation.grad) if steepest else advance(x, t, plan.direction)
        product = sized.product(t) if sized.product is not None else None
        rate = evaluation.grad_norm if steepest else -plan.slope / plan.length  # -g . d / ||d||
        if sized.claim is not None:  # the descent lemma at t (not the root) for the claim's
            length2 = plan.length * plan.length
            claimed = sized.claim * inflation
            decrease = max(t * (-plan.slope) - 0.5 * t * t * claimed * length2, 0.0)
            if not decrease < math.inf:  # (a product past the float range, or inf - inf):
                moved = t * plan.length  # the same in units of the step's length
                decrease = max(moved * rate - 0.5 * moved * moved * claimed, 0.0)
        else:
            decrease = eta * (1.0 - eta / 2.0) * (rate * rate) / used
            if decrease == math.inf:  # (the square past the float range, not the decrease)
                decrease = eta * (1.0 - eta / 2.0) * (rate / used) * rate
            if sized.slope_error > 0.0:  # the exact slope may exceed g . d by that much
                decrease = max(decrease - t * sized.slope_error, 0.0)
        move = Move(
            new,
            t,
            used,
            sized.radius,
            sized.calls,
            hvp_calls=sized.hvp_calls,
            hint=sized.hint,
            product=product,
        )
        if not steepest and type(plan.length) is float:
            move.length = t * plan.length  # (the risk indicators' step: t ||d|| / ||g||)
        return Proposal(move, decrease, state)

    def learn(
        self, x: Any, evaluation: Evaluation, plan: Plan, proposal: Proposal, new: Evaluation
    ) -> tuple[Plan, bool] | None:
        certificate = self.certificate  # (settled: plan() ran)
        assert certificate is not None and plan.sized is not None
        distance = proposal.move.step * plan.length
        cstate = certificate.learn(
            x, evaluation, plan.direction, distance, new, plan.certificate_state
        )
        if cstate is None:
            return None
        sized, cstate = certificate.size(
            SizeInputs(
                None, x, evaluation, plan.direction, plan.slope, plan.length, self.eta, cstate
            )
        )
        grew = sized.curvature > plan.sized.curvature
        calls = plan.sized.calls + sized.calls
        kept = sized if grew else plan.sized
        return plan._replace(sized=kept._replace(calls=calls), certificate_state=cstate), grew

    def along(self, plan: Plan) -> tuple[Any, Any, Any]:
        return plan.direction, plan.slope, plan.length

    def commit(self, plan: Plan, proposal: Proposal, x: Any, evaluation: Evaluation) -> Any:
        certificate = self.certificate  # (settled: plan() ran)
        assert certificate is not None
        if plan.sized is None:
            return proposal.state
        cstate = certificate.commit(plan.sized, plan.certificate_state, x, evaluation)
        return (plan.direction_state, cstate)

    def audit(
        self, x: Any, evaluation: Evaluation, plan: Plan, proposal: Proposal, new: Evaluation
    ) -> float | None:
        certificate = self.certificate  # (settled: plan() ran)
        assert certificate is not None
        if not certificate.proven or plan.sized is None or not proposal.move.step > 0.0:
            return None
        t, change = proposal.move.step, new.grad - evaluation.grad
        ball = certificate.claims_ball  # ||g+ - g|| <= L ||x+ - x|| on the ball
        span = t * plan.length if ball else t * plan.length * plan.length
        curvature = plan.sized.curvature
        if not (span > 0.0 and curvature > 0.0):  # (underflowed: nothing to measure)
            return None
        if ball:
            secant = norm(change) / span
        else:  # the curvature along d only
            d = -evaluation.grad if plan.direction is None else plan.direction
            secant = abs(float(change @ d)) / span
        return secant / curvature


class LFSOStep(CertifiedStep):
    """LFSO gradient descent: ``x_{k+1} = x_k - (eta / L_k) grad f(x_k)`` (``method="lfso"``).

    The paper's method (Berahas, Roberts & Roosta, TMLR 2024, Algorithm 1) with the ball
    certificate: with ``R_k L(x_k, R_k) >= eta ||g_k||`` the step stays in
    ``B(x_k, R_k)``, where the gradient is ``L(x_k, R_k)``-Lipschitz, so

    .. math::  f(x_{k+1}) \\le f(x_k) - \\eta (1 - \\eta/2) \\|g_k\\|^2 / L(x_k, R_k).

    ``certificate="segment"`` bounds the curvature along ``-g`` only
    (:meth:`lfso.models.Model.segment`, sharper for the row models), and the default
    ``"auto"`` takes it when the model has a sharper one than the ball's. The radius
    rules (``"tight"``, ``"paper"``, a callable ``R0(x)``) are the ball certificate's
    (:class:`lfso.steps.BallCertificate`); ``"paper"`` and a callable imply
    the ball. The safeguard is a wrapper: ``Safeguarded(LFSOStep(...))``.

    Parameters
    ----------
    eta : float in (0, 2)
    radius : "tight", "paper" or callable
    radius_rtol : float in (0, 1)
        Relative tolerance of the radius (or segment) solve on the step length.
    certificate : "auto", "ball", "segment" or Certificate
    direction : Direction, optional
        Default steepest descent; ``LBFGSDirection(memory)`` gives ``lfso-lbfgs``.
    name : str, optional
        The ``method=`` string reported in results (default ``"lfso"``, or
        ``"lfso-lbfgs"`` along a direction other than steepest descent).
    """

    def __init__(
        self,
        eta: float = 1.0,
        radius: str | Callable[[Any], float] = "tight",
        radius_rtol: float = 1e-3,
        *,
        certificate: Certificate | str = "auto",
        direction: Direction | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(certificate, str) and not (certificate == "auto" and radius == "tight"):
            # (the choices that need no model; "auto" with a radius rule is the ball)
            named = "ball" if certificate == "auto" else certificate
            certificate = certificate_named(named, radius, radius_rtol)
        if direction is None:
            direction = SteepestDescent()
        _check_direction(direction)
        if name is None:
            name = "lfso" if direction.steepest else "lfso-lbfgs"
        super().__init__(direction, certificate, eta, name=name, radius_rtol=radius_rtol)
        self.radius = radius


def _fall_back(rule: CertifiedRule) -> None:
    """Make ``rule``'s next deferred step in the current run steepest descent (a step
    along its direction was 0 where no bound on the exact slope there was negative)."""
    rule.__dict__["_fallback"] = run_key()


def _falls_back(rule: CertifiedRule) -> bool:
    """Whether ``rule``'s next deferred step is steepest descent (:func:`_fall_back`),
    once."""
    key = rule.__dict__.pop("_fallback", None)
    return key is not None and key is run_key()
