"""LFSO gradient descent (Berahas, Roberts & Roosta, TMLR 2024, Algorithm 1)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

from .._arrays import norm, rounding
from ..auto import SecantBound, SecantOracle
from ..bounds import LocalBound, check_monotone, check_value
from ..models import Evaluation, Model
from ._base import Step, StepFailedError, StepRule

__all__ = ["LFSOStep"]

RadiusRule = str | Callable[[Any], float]


#: Per-iteration decay of the audit's memory of an oracle caught too small.
_FORGET = 0.99


class LFSOState(NamedTuple):
    radius: float | None  # last radius: seeds the next generic radius solve
    inflation: float  # multiplier on the oracle's L after safeguard rollbacks (>= 1)
    estimator: Any  # state of the automatic oracle (None with a model oracle)
    learned: float = 1.0  # largest secant / L the audit saw, slowly forgotten
    slack: float = 1e-12  # relative rounding allowance of the descent test (dtype's)
    target: float = 0.0  # last eta ||g||: rescales the radius guess
    drift: float = 1.0  # last R / (previous R rescaled): the trend of L, carried forward
    length: float = 0.0  # last certified step length eta ||g|| / L: extrapolated for hints


class LFSOStep(StepRule):
    """The LFSO step ``x_{k+1} = x_k - (eta / L(x_k, R_k)) grad f(x_k)``.

    With ``R_k L(x_k, R_k) >= eta ||g_k||`` the step stays in ``B(x_k, R_k)``, where the
    gradient is ``L(x_k, R_k)``-Lipschitz, so the descent lemma gives

    .. math::  f(x_{k+1}) \\le f(x_k) - \\eta (1 - \\eta/2) \\|g_k\\|^2 / L(x_k, R_k).

    Radius rules:

    * ``"tight"`` (default): the smallest ``R`` with ``R L(x, R) >= eta ||g||`` (solved
      to ``radius_rtol`` on the step, see :mod:`lfso.bounds`): the largest step the oracle
      certifies. It is never smaller than the paper rule's step.
    * a callable ``R0(x)``: the paper's rule (Algorithm 1 with their code's choice),
      ``R = max(R0(x), eta ||g|| / L(x, R0(x)))`` then ``L = L(x, R)``.
    * ``"paper"``: the same with the model's own ``R0`` (the authors' choice per problem).

    Safeguard (``safeguard=True``; always on with the automatic oracle): the rule evaluates
    the trial point itself and accepts it only if it is finite and the descent inequality
    above holds with the ``L`` used. Otherwise it rolls the step back and retries with a
    larger ``L`` (the step shrinks, so it stays in the same ball ``B(x, R)``): with the
    automatic oracle the rejected trial's secant ratio joins the estimator's samples and the
    radius is solved again, and when that does not raise ``L`` (or with any other oracle)
    ``L`` is multiplied by ``backoff``. The multiplier is kept for the following iterations
    and relaxes by ``sqrt(backoff)`` per clean step, but never below the largest observed
    secant ratio ``||g(x+) - g(x)|| / ||x+ - x||`` over the oracle's ``L`` (remembered with a
    decay of 1% per iteration; this audit costs one vector difference): an oracle caught
    too small has its ``L`` raised for the following iterations, a valid one is left alone.
    Every rollback is counted (``Result.rollbacks``), so ``f`` never increases whatever the
    oracle says, and the accepted trial's evaluation is reused by the loop: no extra cost
    when the oracle is right.

    Parameters
    ----------
    eta : float in (0, 2)
    radius : "tight", "paper" or callable
    radius_rtol : float in (0, 1)
        Relative tolerance of the tight radius solve on the step length.
    safeguard : bool
    estimator : lfso.auto.SecantOracle, optional
        The automatic oracle; the models' own oracle is used when ``None``.
    backoff : float > 1
    max_rollbacks : int
        Per iteration; past it the run stops (status ``STEP_FAILED``, best point returned)
        rather than accept a step that breaks the descent inequality.
    """

    name = "lfso"
    monotone = True

    def __init__(
        self,
        eta: float = 1.0,
        radius: RadiusRule = "tight",
        radius_rtol: float = 1e-3,
        *,
        safeguard: bool = False,
        estimator: SecantOracle | None = None,
        backoff: float = 4.0,
        max_rollbacks: int = 60,
    ) -> None:
        eta = float(eta)
        if not 0.0 < eta < 2.0:
            raise ValueError(f"eta must be in (0, 2), got eta={eta!r}")
        if not (radius in ("tight", "paper") or callable(radius)):
            raise ValueError(
                f"radius must be 'tight', 'paper' or a callable x -> R0, got {radius!r}"
            )
        if estimator is not None and radius != "tight":
            raise ValueError("the automatic oracle uses the tight radius; radius= must be 'tight'")
        radius_rtol = float(radius_rtol)
        if not 0.0 < radius_rtol < 1.0:
            raise ValueError(f"radius_rtol must be in (0, 1), got {radius_rtol!r}")
        self.eta, self.radius, self.radius_rtol = eta, radius, radius_rtol
        self.estimator = estimator
        self.safeguard = bool(safeguard) or estimator is not None
        self.backoff = float(backoff)
        if not 1.0 < self.backoff < math.inf:
            raise ValueError(f"backoff must be > 1, got backoff={backoff!r}")
        self.max_rollbacks = int(max_rollbacks)
        self.needs_bound = self.certified = estimator is None

    def init(self, objective: Model, x: Any, evaluation: Evaluation) -> LFSOState:
        est = None
        if self.estimator is not None:
            est = self.estimator.init(objective, x, evaluation)
            floor = self.estimator.first_floor(objective, x, evaluation)
            est = est._replace(floor=floor)
        return LFSOState(None, 1.0, est, 1.0, rounding(x))

    def _choose(self, x: Any, bound: LocalBound, target: float, guess: float | None):
        """Radius, L and oracle calls for one bound, by the configured radius rule."""
        if self.radius == "tight":
            radius, lipschitz, calls = bound.radius_for(target, rtol=self.radius_rtol, guess=guess)
            if not 0.0 < lipschitz < math.inf:
                check_value(lipschitz, radius)  # raises, naming the oracle's value
            return radius, lipschitz, calls
        if self.radius == "paper":
            r0 = bound.paper_radius
            if r0 is None:
                raise TypeError(
                    "radius='paper' needs a model that defines the paper's R0; "
                    "pass radius=callable(x) -> R0 instead"
                )
        else:
            r0 = self.radius(x)
        r0 = float(r0)
        if not 0.0 <= r0 < math.inf:
            raise ValueError(f"radius rule returned R0 = {r0!r}; it must be finite and >= 0")
        l0 = check_value(bound(r0), r0)
        radius = max(r0, target / l0)
        lipschitz = check_value(bound(radius), radius)
        check_monotone(r0, l0, radius, lipschitz, bound.monotone_rtol)
        return radius, lipschitz, 2

    def step(
        self, objective: Model, x: Any, evaluation: Evaluation, state: LFSOState
    ) -> tuple[Step, LFSOState]:
        eta, g = self.eta, evaluation.grad
        target = eta * evaluation.grad_norm
        est, hvps = state.estimator, 0
        if self.estimator is None:
            bound = evaluation.bound
            assert bound is not None
            samples: list[tuple[float, float]] = []
        else:
            samples, est, hvps = self.estimator.samples(x, evaluation, est)
            bound = SecantBound(est.floor, samples, self.estimator.safety)
        # R* scales like eta ||g|| when L is steady; a trend in L carries over from the
        # last iteration. A close guess lets the generic radius solve take one evaluation
        # (and a radius the model bounded with the gradient, the hint this rule passed on,
        # none when it is in the tolerance window: see lfso.bounds.solve_radius).
        predicted = state.radius
        if predicted is not None and state.target > 0.0:
            predicted *= target / state.target
        guess = None if predicted is None else predicted * state.drift
        radius, lipschitz, calls = self._choose(x, bound, target, guess)
        drift = 1.0 if not predicted else min(max(radius / predicted, 0.5), 2.0)
        # The next radius, for the model to bound along with the next gradient: the root
        # R* = eta ||g|| / L(R*) is about the certified step length, extrapolated
        # geometrically (l_k^2 / l_{k-1}), then placed mid-window. On logistic data it almost
        # always lands in the window, saving the solve's round trip (docs/results.md).
        # A hint that missed cost a pass for nothing: the next iteration goes without one.
        offered = getattr(bound, "hint", None)
        missed = offered is not None and radius != offered
        length = target / lipschitz
        hint = None
        tight = self.radius == "tight" and self.estimator is None
        if tight and state.length > 0.0 and not missed:
            trend = min(max(length / state.length, 0.5), 2.0)
            hint = length * trend * math.sqrt(1.0 + self.radius_rtol)
        nxt = LFSOState(
            radius,
            state.inflation,
            state.estimator,
            state.learned,
            state.slack,
            target,
            drift,
            length,
        )
        if not self.safeguard:
            t = eta / lipschitz
            return Step(x - t * g, t, lipschitz, radius, calls, hint=hint), nxt

        inflation, rollbacks = state.inflation, 0
        slack = state.slack
        while True:
            used = lipschitz * inflation
            t = eta / used
            trial = x - t * g
            if hint is not None and getattr(objective, "takes_radius_hint", False):
                new = objective.evaluate(trial, bound=True, hint=hint)
            else:
                new = objective.evaluate(trial, bound=self.needs_bound)
            ok = math.isfinite(new.value) and math.isfinite(new.grad_norm)
            decrease = eta * (1.0 - eta / 2.0) * evaluation.grad_norm**2 / used
            ok = ok and new.value <= evaluation.value - decrease + slack * abs(evaluation.value)
            if ok:
                break
            if rollbacks >= self.max_rollbacks:
                raise StepFailedError(f"{rollbacks} trial steps rejected by the safeguard")
            rollbacks += 1
            if self.estimator is not None and math.isfinite(new.grad_norm):
                # Learn from the rejected trial: its secant ratio joins the samples.
                distance = t * evaluation.grad_norm
                samples.append((distance, norm(new.grad - g) / distance))
                bound = SecantBound(est.floor, samples, self.estimator.safety)
                grown, lipschitz_new, more = self._choose(x, bound, target, radius)
                calls += more
                if lipschitz_new > lipschitz:
                    radius, lipschitz = grown, lipschitz_new
                    continue
            inflation *= self.backoff
        relaxed = max(1.0, inflation / math.sqrt(self.backoff)) if rollbacks == 0 else inflation
        learned = state.learned
        if self.estimator is None and math.isfinite(new.grad_norm):
            # Audit at no cost: the accepted step's secant ratio against the oracle's L. The
            # multiplier never relaxes below what was seen, so an oracle caught too small
            # has its L raised for the next steps (a valid one leaves it at 1).
            secant = norm(new.grad - g) / (t * evaluation.grad_norm)
            learned = max(learned * _FORGET, secant / lipschitz)
            relaxed = max(relaxed, learned)
        if est is not None:
            floor = used / (inflation * self.estimator.safety * self.estimator.growth)
            est = est._replace(floor=floor, x=x, grad=g)
        nxt = nxt._replace(inflation=relaxed, estimator=est, learned=learned)
        move = Step(
            trial,
            t,
            used,
            radius,
            calls,
            evaluation=new,
            rollbacks=rollbacks,
            hvp_calls=hvps,
            hint=hint,
        )
        return move, nxt
