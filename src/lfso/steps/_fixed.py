"""Fixed-step gradient descent: the rule a user tunes by hand today."""

from __future__ import annotations

from typing import Any

from .._validate import positive
from ..models import Evaluation, Model
from ._base import Move, StepRule

__all__ = ["FixedStep"]


class FixedStep(StepRule):
    """``x_{k+1} = x_k - t grad f(x_k)`` with a constant ``t > 0`` (``method="gd"``).

    Converges for ``t < 2 / L`` when ``grad f`` is globally ``L``-Lipschitz; ``t = 1 / L``
    is the textbook choice (Nesterov, *Lectures on Convex Optimization*, 2018, Sec. 2.1.5).

    Parameters
    ----------
    step : float, > 0
    """

    name = "gd"
    monotone = True
    host_free = True  # (x - t g: nothing from the host)

    def __init__(self, step: float) -> None:
        self.step_size = positive(step, "step")

    def step(
        self, objective: Model, x: Any, evaluation: Evaluation, state: Any
    ) -> tuple[Move, Any]:
        t = self.step_size
        return Move(x - t * evaluation.grad, t), state
