"""Search directions for the certified step rules: steepest descent, L-BFGS, a user's.

A direction ``d`` at ``x`` is worth certifying only if it descends, ``g . d < 0``; every
direction here falls back to ``-g`` when its own choice does not (or is not finite), so a
certified step always exists. Each returns ``(d, g . d, ||d||, state)``; for steepest
descent ``d`` is ``None`` (meaning ``-g``: the rule then computes ``x - t g`` exactly as
LFSO-GD always has).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .._arrays import to_floats
from .._validate import integer
from ..models import Evaluation

__all__ = ["CallableDirection", "Direction", "LBFGSDirection", "SteepestDescent"]

#: A pair with ``s . y <= _CURVATURE ||s|| ||y||`` is skipped (no positive curvature seen).
_CURVATURE = 1e-10


class Direction(ABC):
    """How a certified rule picks ``d``; the certificate then sizes ``t`` in ``x + t d``.

    Attributes
    ----------
    steepest : bool
        ``d = -g`` always (the loop may then audit the step as a gradient step).
    """

    steepest: bool = False

    def init(self, x: Any, evaluation: Evaluation) -> Any:
        """The direction's state at the starting point (default: none)."""
        return None

    @abstractmethod
    def __call__(self, x: Any, evaluation: Evaluation, state: Any) -> tuple[Any, float, float, Any]:
        """``(d, g . d, ||d||, state)`` at ``x``; ``d is None`` means ``-g``."""


def _steepest(evaluation: Evaluation) -> tuple[None, float, float]:
    gnorm = evaluation.grad_norm
    return None, -gnorm * gnorm, gnorm


class SteepestDescent(Direction):
    """``d = -grad f(x)`` (LFSO-GD, the paper's method)."""

    steepest = True

    def __call__(self, x: Any, evaluation: Evaluation, state: Any) -> tuple[Any, float, float, Any]:
        return (*_steepest(evaluation), state)


class LBFGSState(NamedTuple):
    pairs: tuple[tuple[Any, Any], ...]  # (s_i, y_i), oldest first
    x: Any  # the previous iterate and its gradient (None at the start)
    grad: Any


class LBFGSDirection(Direction):
    """Limited-memory BFGS (Nocedal 1980; Liu & Nocedal 1989): ``d = -H_k g_k``.

    ``H_k`` is the inverse-Hessian approximation from the last ``memory`` pairs
    ``s_i = x_{i+1} - x_i``, ``y_i = g_{i+1} - g_i`` by the two-loop recursion, with
    ``H_k^0 = (s^T y / y^T y) I`` from the newest pair. A pair with
    ``s^T y <= 1e-10 ||s|| ||y||`` is skipped (the update would not be positive definite;
    non-convex or rounding). While every kept pair has ``s^T y > 0``, ``H_k`` is positive
    definite and ``g . d < 0``; if rounding makes ``g . d >= 0`` or ``d`` non-finite, the
    direction is ``-g`` and the memory is cleared. ``g = 0`` gives ``d = -g = 0``.

    The dot products of the recursion stay in the data's array library (0-d arrays); the
    pair test, ``g . d`` and ``||d||`` come to the host in one round trip.

    Parameters
    ----------
    memory : int >= 1
        Number of pairs kept.
    """

    def __init__(self, memory: int = 10) -> None:
        self.memory = integer(memory, "memory", low=1)

    def init(self, x: Any, evaluation: Evaluation) -> LBFGSState:
        return LBFGSState((), None, None)

    @staticmethod
    def _two_loop(g: Any, pairs: tuple[tuple[Any, Any], ...], scalars: list[Any]) -> Any:
        q = g
        alphas = []
        for (s, y), (rho, _) in zip(reversed(pairs), reversed(scalars), strict=True):
            alpha = rho * (s @ q)
            alphas.append(alpha)
            q = q - alpha * y
        gamma = scalars[-1][1]
        r = gamma * q
        for (s, y), (rho, _), alpha in zip(pairs, scalars, reversed(alphas), strict=True):
            beta = rho * (y @ r)
            r = r + (alpha - beta) * s
        return -r

    def __call__(
        self, x: Any, evaluation: Evaluation, state: LBFGSState
    ) -> tuple[Any, float, float, LBFGSState]:
        g = evaluation.grad
        pairs = state.pairs
        new_pair: tuple[Any, Any] | None = None
        if state.x is not None:
            new_pair = (x - state.x, g - state.grad)
        candidates = pairs + ((new_pair,) if new_pair is not None else ())
        candidates = candidates[-self.memory :]
        if not candidates or evaluation.grad_norm == 0.0:
            d, gd, dnorm = _steepest(evaluation)
            return d, gd, dnorm, LBFGSState(pairs, x, g)
        with np.errstate(all="ignore"):  # a bad new pair is caught below
            scalars = [(1.0 / (s @ y), (s @ y) / (y @ y)) for s, y in candidates]
            d = self._two_loop(g, candidates, scalars)
        extra = []
        if new_pair is not None:
            s, y = new_pair
            extra = [s @ y, s @ s, y @ y]
        values = to_floats(g @ d, d @ d, *extra)
        gd, dd = values[0], values[1]
        if new_pair is not None:
            sy, ss, yy = values[2:]
            if not (sy > _CURVATURE * math.sqrt(ss * yy) and math.isfinite(sy * ss * yy)):
                # Skip the new pair: recompute from the old ones (rare; one more fetch).
                candidates = pairs[-self.memory :]
                if not candidates:
                    d, gd, dnorm = _steepest(evaluation)
                    return d, gd, dnorm, LBFGSState(pairs, x, g)
                scalars = [(1.0 / (s @ y), (s @ y) / (y @ y)) for s, y in candidates]
                d = self._two_loop(g, candidates, scalars)
                gd, dd = to_floats(g @ d, d @ d)
        if not (gd < 0.0 and math.isfinite(gd) and 0.0 < dd < math.inf):
            d, gd, dnorm = _steepest(evaluation)
            return d, gd, dnorm, LBFGSState((), x, g)
        return d, gd, math.sqrt(dd), LBFGSState(tuple(candidates), x, g)


class CallableDirection(Direction):
    """A user's direction ``direction(x, g) -> d`` (an array like ``x``), sized by the
    certificate; ``-g`` where it does not descend (``g . d >= 0``) or is not finite."""

    def __init__(self, direction: Callable[[Any, Any], Any]) -> None:
        if not callable(direction):
            raise TypeError(f"direction must be callable as direction(x, g), got {direction!r}")
        self.direction = direction

    def __call__(self, x: Any, evaluation: Evaluation, state: Any) -> tuple[Any, float, float, Any]:
        g = evaluation.grad
        d = self.direction(x, g)
        if getattr(d, "shape", None) != tuple(g.shape):
            raise ValueError(
                f"direction(x, g) must return an array of shape {tuple(g.shape)}, "
                f"got {getattr(d, 'shape', type(d).__name__)}"
            )
        gd, dd = to_floats(g @ d, d @ d)
        if not (gd < 0.0 and math.isfinite(gd) and 0.0 < dd < math.inf):
            return (*_steepest(evaluation), state)
        return d, gd, math.sqrt(dd), state
