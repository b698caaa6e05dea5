"""LFSO gradient descent (Berahas, Roberts & Roosta, TMLR 2024, Algorithm 1)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..bounds import check_monotone, check_value
from ..models import Evaluation, Model
from ._base import Step, StepRule

__all__ = ["LFSOStep"]

RadiusRule = str | Callable[[Any], float]


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

    Parameters
    ----------
    eta : float in (0, 2)
    radius : "tight", "paper" or callable
    radius_rtol : float in (0, 1)
        Relative tolerance of the tight radius solve on the step length.
    """

    name = "lfso"
    needs_bound = True

    def __init__(
        self, eta: float = 1.0, radius: RadiusRule = "tight", radius_rtol: float = 1e-3
    ) -> None:
        eta = float(eta)
        if not 0.0 < eta < 2.0:
            raise ValueError(f"eta must be in (0, 2), got eta={eta!r}")
        if not (radius in ("tight", "paper") or callable(radius)):
            raise ValueError(
                f"radius must be 'tight', 'paper' or a callable x -> R0, got {radius!r}"
            )
        radius_rtol = float(radius_rtol)
        if not 0.0 < radius_rtol < 1.0:
            raise ValueError(f"radius_rtol must be in (0, 1), got {radius_rtol!r}")
        self.eta, self.radius, self.radius_rtol = eta, radius, radius_rtol

    def step(
        self, objective: Model, x: Any, evaluation: Evaluation, state: Any
    ) -> tuple[Step, Any]:
        bound = evaluation.bound
        assert bound is not None
        eta = self.eta
        target = eta * evaluation.grad_norm
        if self.radius == "tight":
            radius, lipschitz, calls = bound.radius_for(target, rtol=self.radius_rtol, guess=state)
            if not 0.0 < lipschitz < math.inf:
                check_value(lipschitz, radius)  # raises, naming the oracle's value
        else:
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
            check_monotone(r0, l0, radius, lipschitz)
            calls = 2
        t = eta / lipschitz
        # The state is the last radius: it seeds the next bracket of a generic solve.
        return Step(x - t * evaluation.grad, t, lipschitz, radius, calls), radius
