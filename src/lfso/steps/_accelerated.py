"""Accelerated step rules: Nesterov with a fixed step, and LFSO-accelerated.

For these rules the loop's iterate is the extrapolated point ``y_k`` where the gradient is
evaluated; the rule keeps the gradient-step sequence ``x_k`` in its state.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from .._validate import flag, positive, real, spelt_given, spelt_method
from ..models import Evaluation, Model
from ._base import Certificate, Move, StepRule
from ._certificates import BallCertificate, _exact_slope
from ._certified import CertifiedRule, Proposal, advance

__all__ = ["LFSOAccelStep", "NesterovStep"]


class MomentumState(NamedTuple):
    x: Any  # the last gradient-step point x_k
    t: float  # the momentum parameter t_k
    planned: float  # the step of the current epoch (0: none yet)
    restarts: int
    certified: float = 0.0  # the last certified step eta / L: seeds the next radius solve


def _momentum(t: float) -> float:
    """The FISTA sequence ``t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2``.

    It solves ``tau t_{k+1} (t_{k+1} - 1) = tau t_k^2`` for a constant step ``tau``: the
    Scheinberg-Goldfarb-Bai condition inside an epoch of non-increasing steps.
    """
    return 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))


def _claim(tau: float, gain: float, grad_norm: float, eta: float) -> float:
    """The claimed decrease ``tau (1 - eta/2) ||g||^2``, ``tau * gain``; where ``gain``
    is past the float range (``||g|| ~ 1e300``, while ``tau ||g||`` is of order ``||g|| / L``)
    it is ``((tau ||g||) ||g||) (1 - eta/2)`` instead, finite where the decrease is."""
    decrease = tau * gain
    if decrease == math.inf:
        decrease = (tau * grad_norm) * grad_norm * (1.0 - eta / 2.0)
    return decrease


class NesterovStep(StepRule):
    """Nesterov's accelerated gradient with a fixed step ``1/L`` (``method="nesterov"``).

    .. math::
        x_{k+1} = y_k - t \\nabla f(y_k), \\quad
        t_{k+1} = \\tfrac12 (1 + \\sqrt{1 + 4 t_k^2}), \\quad
        y_{k+1} = x_{k+1} + \\tfrac{t_k - 1}{t_{k+1}} (x_{k+1} - x_k)

    (Nesterov 1983; Beck & Teboulle's FISTA form, SIAM J. Imaging Sci. 2009). For convex
    ``f`` with an ``L``-Lipschitz gradient and ``t <= 1/L``,
    ``f(x_k) - f* <= 2 ||x_0 - x*||^2 / (t (k + 1)^2)``.

    Parameters
    ----------
    step : float > 0
        ``1/L``, or a tuned value.
    lipschitz : float > 0
        A Lipschitz constant ``L`` of the gradient, given instead of ``step``: the step is
        ``1/L``. Exactly one of the two.
    """

    name = "nesterov"
    gradient_step = False

    def __init__(self, step: float | None = None, *, lipschitz: float | None = None) -> None:
        if (step is None) == (lipschitz is None):
            raise TypeError(
                f"{spelt_method('nesterov')} needs exactly one of {spelt_given('step', '...')} "
                f"or {spelt_given('lipschitz', '...')}"
            )
        if step is not None:
            self.step_size = positive(step, "step")
        else:
            assert lipschitz is not None
            self.step_size = 1.0 / positive(lipschitz, "lipschitz")

    def init(self, objective: Model, x: Any, evaluation: Evaluation) -> MomentumState:
        return MomentumState(x, 1.0, self.step_size, 0)

    def step(
        self, objective: Model, x: Any, evaluation: Evaluation, state: MomentumState
    ) -> tuple[Move, MomentumState]:
        t = self.step_size
        new = x - t * evaluation.grad
        t_next = _momentum(state.t)
        y = new + ((state.t - 1.0) / t_next) * (new - state.x)
        return Move(y, t), MomentumState(new, t_next, t, 0)


class LFSOAccelStep(CertifiedRule):
    """LFSO-accelerated gradient (``method="lfso-accel"``): FISTA with oracle steps.

    At the extrapolated point ``y_k`` the oracle's tight radius gives the certified step
    ``s_k = eta / L(y_k, R_k)`` with ``R_k L(y_k, R_k) >= eta ||grad f(y_k)||``. The run is
    a sequence of FISTA epochs (Beck & Teboulle 2009) with non-increasing steps inside
    each epoch, the momentum sequence of Scheinberg, Goldfarb & Bai (Found. Comput. Math.
    2014) for steps that change between iterations:

    .. math::
        \\tau_k = \\min(s_k, \\tau_{k-1}), \\quad
        x_{k+1} = y_k - \\tau_k \\nabla f(y_k), \\quad
        y_{k+1} = x_{k+1} + \\tfrac{t_k - 1}{t_{k+1}} (x_{k+1} - x_k),
        \\quad t_{k+1} = \\tfrac12 (1 + \\sqrt{1 + 4 t_k^2}).

    A new epoch (``t = 1``, ``y_{k+1} = x_{k+1}``) starts when

    * the oracle certifies a step at least ``jump`` times the epoch's step (then
      ``tau_k = s_k``): on flat problems the local curvature keeps falling and the step
      must grow, which a FISTA epoch cannot do; or
    * the gradient test of O'Donoghue & Candes (Found. Comput. Math. 2015) fires,
      ``grad f(y_k)^T (x_{k+1} - x_k) > 0`` (adaptive restart).

    What is guaranteed: with ``eta <= 1`` every gradient step stays in the ball where the
    oracle bounds the curvature, so ``f(x_{k+1}) <= f(y_k) - (tau_k / 2) ||grad f(y_k)||^2``
    (the quadratic upper bound FISTA needs), and inside an epoch
    ``tau_{k+1} t_{k+1} (t_{k+1} - 1) <= tau_k t_k^2``. For convex ``f`` the FISTA bound
    then holds within each epoch started at ``x_e``:
    ``f(x_k) - f* <= 2 ||x_e - x*||^2 / (tau_k (k - e + 1)^2)``. Not guaranteed: anything
    for non-convex ``f``; a global rate across restarts (restarts are a heuristic with strong
    practice behind them); monotone ``f(y_k)``, the values the history records.

    Rounding. The inequality above is the exact gradient's; the step is sized from the
    computed ``g``, so for the exact ``f`` at the float ``y_k`` it reads ``f(y_k - tau g)
    - f(y_k) <= tau (s* - s) - tau (1 - eta/2) ||g||^2`` for every ``tau <= eta / L`` (``s
    = -||g||^2``, ``s* = -grad f(y_k) . g``). On a row model's NumPy rows (logistic,
    ``l_2p`` regression) ``s*`` is bounded as for :class:`~lfso.steps.SegmentCertificate`
    (:mod:`lfso.models._slope`): with ``e >= s* - s`` below ``(1 - eta/2) ||g||^2`` the
    step is unchanged and its claimed decrease is ``tau ((1 - eta/2) ||g||^2 - e)``; else,
    with ``s_up >= s*`` negative, ``L`` is taken as ``L s / s_up`` (so ``tau <= eta (-s_up)
    / (L ||g||^2)``) and the claim is ``tau (1 - eta/2) |s_up|``; else the run stops with
    :attr:`lfso.Status.PRECISION_LIMIT`. What is promised at every gradient step is thus
    the claimed decrease from ``y_k`` for the exact ``f`` (the iterate's own rounding
    aside), which the safeguard compares; the FISTA bound, which needs the exact
    gradient's inequality, holds only as far as the gradient's rounding is negligible.

    Parameters
    ----------
    eta : float in (0, 1]
    jump : float > 1
        Restart when the certified step exceeds the epoch's step by this factor.
    restart : bool
        Use the gradient restart test.
    radius_rtol : float in (0, 1)
        The tolerance of the default certificate's radius solve (a certificate passed in
        has its own).
    certificate : Certificate, optional
        One that sizes a step along ``-g`` by itself (``sizes_steepest``): the default
        :class:`~lfso.steps.BallCertificate` (tight radius), or
        :class:`~lfso.steps.SegmentCertificate`, which certifies the step by the model's
        bound on the curvature along ``-g`` (:meth:`lfso.models.Model.segment`) instead of
        the ball's; the FISTA inequality above needs only that curvature.

    Notes
    -----
    Safeguard: ``Safeguarded(LFSOAccelStep(...))`` checks
    ``f(x_{k+1}) <= f(y_k) - tau_k (1 - eta/2) ||g||^2`` at the gradient step (one more
    function value per iteration) and shrinks ``tau_k`` until it holds.
    """

    name = "lfso-accel"
    gradient_step = False
    needs_bound = True
    monotone = False

    def __init__(
        self,
        eta: float = 1.0,
        jump: float = 2.0,
        restart: bool = True,
        radius_rtol: float = 1e-3,
        certificate: Certificate | None = None,
    ) -> None:
        if certificate is None:
            certificate = BallCertificate("tight", radius_rtol)
        elif not (isinstance(certificate, Certificate) and certificate.sizes_steepest):
            raise TypeError(
                "certificate must be a Certificate that sizes a step along -g by itself "
                "(BallCertificate() with the tight radius, SegmentCertificate()), "
                f"got certificate={certificate!r}"
            )
        self.certificate = certificate
        self.eta = real(eta, "eta", low=0.0, low_open=True, high=1.0)
        self.jump = real(jump, "jump", low=1.0, low_open=True, finite=False)  # (inf: no cap)
        self.restart = bool(flag(restart, "restart"))
        self.radius_rtol = certificate.radius_rtol

    def init(self, objective: Model, x: Any, evaluation: Evaluation) -> MomentumState:
        return MomentumState(x, 1.0, 0.0, 0)

    def plan(
        self, objective: Model, x: Any, evaluation: Evaluation, state: MomentumState
    ) -> tuple[float, float, int, MomentumState, float, float]:
        """The bound at ``y_k``: radius, ``L`` and the oracle calls spent, by the
        certificate's step along ``-g`` (seeded with the last certified step), with the
        state, ``||g(y_k)||`` and the part ``k`` of the claimed decrease that the exact
        slope keeps (see Rounding in the class docstring)."""
        radius, lipschitz, calls = self.certificate.steepest_step(
            objective, x, evaluation, self.eta, state.certified
        )
        gnorm = evaluation.grad_norm
        kept = 1.0
        if gnorm > 0.0 and lipschitz < math.inf:
            scale, error, bounded = _exact_slope(
                objective, x, evaluation, None, -gnorm * gnorm, gnorm, self.eta
            )
            along = -(gnorm * (gnorm * scale))  # (-||g||^2 along v = -2^k g)
            if bounded is not None:  # the step sized from s_up: L scaled by s / s_up
                kept = bounded / along
                lipschitz = lipschitz / kept
            elif error > 0.0:
                kept = max(1.0 - error / ((1.0 - 0.5 * self.eta) * -along), 0.0)
        return radius, lipschitz, calls, state, gnorm, kept

    def along(
        self, plan: tuple[float, float, int, MomentumState, float, float]
    ) -> tuple[None, float, float]:
        """The gradient step's direction ``-g`` at ``y_k``: ``(None, -||g||^2, ||g||)``."""
        grad_norm = plan[4]
        return None, -grad_norm * grad_norm, grad_norm

    def propose(
        self,
        x: Any,
        evaluation: Evaluation,
        plan: tuple[float, float, int, MomentumState, float, float],
        inflation: float,
    ) -> Proposal:
        radius, lipschitz, calls, state, _, kept = plan
        lipschitz = lipschitz * inflation if inflation != 1.0 else lipschitz
        certified = self.eta / lipschitz
        g = evaluation.grad
        grad_norm = evaluation.grad_norm
        gain = (1.0 - self.eta / 2.0) * grad_norm * grad_norm
        # (first step: no epoch yet, planned 0, which jump = inf would make inf * 0 = NaN)
        if state.planned == 0.0 or certified >= self.jump * state.planned:  # or it may grow
            new = advance(x, -certified, g)
            nxt = MomentumState(new, 1.0, certified, state.restarts + 1, certified)
            move = Move(new, certified, lipschitz, radius, calls)
            return Proposal(move, kept * _claim(certified, gain, grad_norm, self.eta), nxt)
        tau = min(certified, state.planned)
        new = advance(x, -tau, g)
        direction = new - state.x
        if self.restart and state.t > 1.0 and self._uphill(g, direction, evaluation, tau):
            nxt = MomentumState(new, 1.0, tau, state.restarts + 1, certified)
            move = Move(new, tau, lipschitz, radius, calls)
            return Proposal(move, kept * _claim(tau, gain, grad_norm, self.eta), nxt)
        t_next = _momentum(state.t)
        momentum = ((state.t - 1.0) / t_next) * direction
        nxt = MomentumState(new, t_next, tau, state.restarts, certified)
        # The next restart test needs g(y)^T (y - x_new): the model returns it with the
        # gradient (probe), so the test costs no round trip of its own. The decrease is
        # promised at the gradient step x_new, not at the extrapolated point.
        move = Move(new + momentum, tau, lipschitz, radius, calls, probe=momentum)
        return Proposal(move, kept * _claim(tau, gain, grad_norm, self.eta), nxt, anchor=new)

    @staticmethod
    def _uphill(g: Any, direction: Any, evaluation: Evaluation, tau: float) -> bool:
        """The gradient restart test ``g^T (x_{k+1} - x_k) > 0``.

        With ``x_{k+1} = y_k - tau g`` it equals ``g^T (y_k - x_k) - tau ||g||^2``, and
        ``g^T (y_k - x_k)`` came back with the evaluation at ``y_k`` (the probe passed with
        the last step); models without probes pay one reduction here.
        """
        if evaluation.probe_dot is not None:
            return evaluation.probe_dot - tau * evaluation.grad_norm * evaluation.grad_norm > 0.0
        return float(g @ direction) > 0.0
