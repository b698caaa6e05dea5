"""Tuning-free step rules from observed gradients: AdGD (2020, 2023), DoG and Polyak."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from .._arrays import norm, rounding
from .._validate import positive, real
from ..models import Evaluation, Model
from ._base import Move, StepFailedError, StepRule, StepStalledError

__all__ = ["AdGDStep", "DoGStep", "PolyakStep"]


class AdGDState(NamedTuple):
    x: Any
    grad: Any
    step: float
    theta: float


class AdGDStep(StepRule):
    """Adaptive gradient descent without descent (``method="adgd"``).

    With the local curvature estimate ``L_k = ||g_k - g_{k-1}|| / ||x_k - x_{k-1}||`` and
    ``theta_k = t_k / t_{k-1}``, the step is

    * ``variant=2020`` (Malitsky & Mishchenko, ICML 2020, Algorithm 1):
      ``t_k = min(sqrt(1 + theta_{k-1}) t_{k-1}, 1 / (2 L_k))``;
    * ``variant=2023`` (Malitsky & Mishchenko, "Adaptive proximal gradient method for
      convex optimization", NeurIPS 2024, arXiv:2308.02261, Algorithm 1):
      ``t_k = min(sqrt(2/3 + theta_{k-1}) t_{k-1}, t_{k-1} / sqrt([2 t_{k-1}^2 L_k^2 - 1]_+))``.

    Both start with ``x_1 = x_0 - step0 g_0``, with ``theta_0 = +inf`` (2020) or
    ``theta_0 = 1/3`` (2023). A step grows by at most ``sqrt(1 + theta_{k-1})`` (2020)
    or ``sqrt(2/3 + theta_{k-1})`` (2023) per iteration: from ``step0``, by 1, then
    ``sqrt(5/3)``, ``1.40``, ... (2023; less than the root ``(1 + sqrt(11/3)) / 2 = 1.457``
    of ``theta^2 = theta + 2/3``) and, after the first step, by ``sqrt(2)``, ``1.55``,
    ... (2020; less than the golden ratio ``1.618``). No function values are used.

    Where the 2020 recursion has no finite step, ``t_1 = min(+inf, 1 / (2 L_1)) = +inf``
    with ``L_1 = 0`` (the first step did not change the gradient: ``f`` linear along it,
    or ``step0 ||g_0||`` below the rounding of ``x_0``), the step is kept,
    ``t_1 = t_0``, and the recursion grows it from there (first by ``sqrt(2)``); the paper's
    formula, and the authors' code, take an infinite step.

    Parameters
    ----------
    variant : {2020, 2023}
    step0 : float > 0
        The first step (the authors use 1e-10 to 1e-6; any small value works).
    """

    name = "adgd"

    def __init__(self, variant: int = 2023, step0: float = 1e-10) -> None:
        if variant not in (2020, 2023):
            raise ValueError(f"variant must be 2020 or 2023, got variant={variant!r}")
        self.variant = variant
        self.step0 = positive(step0, "step0")

    def init(self, objective: Model, x: Any, evaluation: Evaluation) -> AdGDState | None:
        return None

    def step(
        self, objective: Model, x: Any, evaluation: Evaluation, state: AdGDState | None
    ) -> tuple[Move, AdGDState]:
        g = evaluation.grad
        if state is None:
            t = self.step0
            theta = math.inf if self.variant == 2020 else 1.0 / 3.0
            return Move(x - t * g, t), AdGDState(x, g, t, theta)
        prev = state.step
        if not prev > 0.0:  # (a step that underflowed to 0 can never grow again)
            raise StepFailedError("AdGD's step underflowed to 0; the run cannot move")
        dx, dg = norm(x - state.x), norm(g - state.grad)
        curvature = dg / dx if dx > 0.0 else 0.0
        if self.variant == 2020:
            cap = 1.0 / (2.0 * curvature) if curvature > 0.0 else math.inf
            t = min(math.sqrt(1.0 + state.theta) * prev, cap)
            if t == math.inf:  # (theta_0 = inf and no curvature seen: keep the step)
                t = prev
        else:
            excess = 2.0 * prev * prev * curvature * curvature - 1.0
            cap = prev / math.sqrt(excess) if excess > 0.0 else math.inf
            t = min(math.sqrt(2.0 / 3.0 + state.theta) * prev, cap)
        return Move(x - t * g, t), AdGDState(x, g, t, t / prev)


class DoGState(NamedTuple):
    x0: Any
    max_distance: float
    sum_sq_grad: float


class DoGStep(StepRule):
    """Distance over gradients (Ivgi, Hinder & Carmon, ICML 2023), ``method="dog"``.

    .. math::
        t_k = \\frac{\\max(r_\\epsilon, \\max_{i \\le k} \\|x_i - x_0\\|)}
                   {\\sqrt{\\sum_{i \\le k} \\|g_i\\|^2}},
        \\qquad r_\\epsilon = \\text{r_eps} (1 + \\|x_0\\|).

    Parameters
    ----------
    r_eps : float > 0
        Relative size of the first movement (the paper's default is 1e-6).
    """

    name = "dog"

    def __init__(self, r_eps: float = 1e-6) -> None:
        self.r_eps = positive(r_eps, "r_eps")

    def init(self, objective: Model, x: Any, evaluation: Evaluation) -> DoGState:
        return DoGState(x, self.r_eps * (1.0 + norm(x)), 0.0)

    def step(
        self, objective: Model, x: Any, evaluation: Evaluation, state: DoGState
    ) -> tuple[Move, DoGState]:
        distance = max(state.max_distance, norm(x - state.x0))
        total = state.sum_sq_grad + evaluation.grad_norm * evaluation.grad_norm
        t = distance / math.sqrt(total) if total > 0.0 else 0.0
        return Move(x - t * evaluation.grad, t), DoGState(state.x0, distance, total)


class PolyakStep(StepRule):
    """Polyak's step for a known optimal value ``f*`` (``method="polyak"``).

    .. math::  t_k = \\frac{f(x_k) - f^*}{\\|g_k\\|^2}

    (Polyak, *Introduction to Optimization*, 1987, Sec. 5.3). It needs ``f*`` exactly; a
    value above the true minimum stalls the run, one below it slows it down. A point where
    ``f`` is below ``f*`` (beyond the rounding of ``f`` in ``x``'s dtype), where the step
    would be negative, shows that ``f*`` is not the minimum: the step raises a
    ``ValueError`` naming both (the run stops ``RAISED``, with the best point attached).
    A point where ``f`` equals ``f*`` in floating point while ``||g||`` is above the
    tolerance makes the step 0 there for good: the run stops ``STALLED`` at once.

    Parameters
    ----------
    f_star : float
        The optimal value.
    """

    name = "polyak"

    def __init__(self, f_star: float) -> None:
        self.f_star = real(f_star, "f_star")

    def step(
        self, objective: Model, x: Any, evaluation: Evaluation, state: Any
    ) -> tuple[Move, Any]:
        gn = evaluation.grad_norm
        g2 = gn * gn  # (inf where ||g||^2 overflows: then divided by ||g|| twice)
        value, f_star = evaluation.value, self.f_star
        if f_star - value > rounding(x, getattr(objective, "unit_roundoff", None)) * max(
            abs(value), abs(f_star)
        ):
            raise ValueError(
                f"f_star={f_star!r} must be at most the minimum of f, but f = {value!r} here: "
                "Polyak's step (f - f_star) / ||g||^2 would be negative; pass the optimal value "
                "of f (or a lower bound of it)"
            )
        gap = max(value - f_star, 0.0)
        if gap == 0.0 and gn > 0.0:  # (the loop stops before a step from ||g|| <= tol)
            raise StepStalledError(
                f"Polyak's step (f - f_star) / ||g||^2 is 0: f = {value!r} equals "
                f"f_star={f_star!r} to the rounding of f, while ||g|| = {gn:.3g} is above the "
                "tolerance"
            )
        t = (gap / g2 if g2 < math.inf else gap / gn / gn) if gn > 0.0 else 0.0
        return Move(x - t * evaluation.grad, t), state
