"""The step-rule contract shared by LFSO-GD and every baseline."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from ..models import Evaluation, Model

__all__ = ["GradientMismatchError", "Move", "StepFailedError", "StepRule"]


class StepFailedError(RuntimeError):
    """Raised by a rule that cannot find an acceptable step; the loop stops with
    ``Status.STEP_FAILED`` and returns the best point."""


class GradientMismatchError(StepFailedError):
    """The safeguard found ``f`` disagreeing with its gradient along the step's direction
    (a finite difference against ``g . d``): the loop stops with
    ``Status.GRADIENT_MISMATCH`` and returns the best point."""


@dataclass(slots=True)
class Move:
    """One proposed move ``x -> x_new``, with what it was based on.

    What a rule's :meth:`StepRule.step` returns; the rules themselves are the ``*Step``
    classes (``FixedStep``, ``ArmijoStep``, ...), hence not ``Step``.

    Attributes
    ----------
    x : array
        The new iterate.
    step : float
        The scalar ``t`` of ``x_new = x - t g``, or of ``x_new = x + t d`` for a certified
        step along a direction ``d`` (NaN if the move is not of that form).
    L, R : float
        The oracle's bound and radius used (NaN for rules without an oracle); for a step
        along ``d``, the curvature bound per unit length ``C / ||d||^2`` and the length of
        the segment it covers.
    oracle_calls : int
        Evaluations of ``L(x, R)`` spent choosing the step.
    evaluation : Evaluation or None
        The evaluation at ``x_new`` if the rule already computed it (the loop then reuses it).
    rollbacks : int
        Trial steps the rule rejected (safeguard) before this one.
    hvp_calls : int
        Hessian-vector products spent choosing the step.
    hint : float or None
        A radius at which the next step will probably ask the oracle: models that can
        (``Model.takes_radius_hint``) evaluate their bound there in the same pass and round
        trip as the gradient, so that a GPU or a Dask cluster is not asked a second time.
    probe : array or None
        A vector whose dot product with the next gradient the rule will need: models that
        can (``Model.takes_probe``) return it with the evaluation (``probe_dot``).
    product : array or None
        The model's linear image of ``x_new`` when the rule knows it (``segment.product(t)``
        of a model with ``takes_product``): the next evaluation then skips that pass.
    """

    x: Any
    step: float
    L: float = math.nan
    R: float = math.nan
    oracle_calls: int = 0
    evaluation: Evaluation | None = None
    rollbacks: int = 0
    hvp_calls: int = 0
    hint: float | None = None
    probe: Any = None
    product: Any = None


class StepRule(ABC):
    """How a method chooses its step. The loop (:func:`lfso.loop.run`) owns everything else.

    A rule holds its hyperparameters (validated at construction) and keeps per-run state
    explicitly: :meth:`init` creates it from the first evaluation, :meth:`step` returns
    the move and the next state. Extra function or gradient evaluations go through the
    ``objective`` passed in, so the loop counts them.

    Attributes
    ----------
    name : str
        The ``method=`` string.
    needs_bound : bool
        Whether evaluations must carry the oracle's local bound.
    monotone : bool
        The rule promises that ``f`` decreases (a rise is a risk indicator).
    gradient_step : bool
        Each move is ``x+ = x - t g`` from the previous iterate; ``False`` for accelerated
        rules, whose iterates are extrapolated points.
    certified : bool
        The ``L`` a step reports is claimed to bound the curvature on its ball (a model's
        or user's oracle), so the loop audits it; ``False`` for estimates.
    zigzags : bool
        The step follows the curvature along the direction taken (Barzilai-Borwein, the
        segment certificate: like an exact line search, it alternates long and short on
        ill-conditioned problems), so the ``oscillation`` risk indicator does not apply.
    """

    name: str = "custom"
    needs_bound: bool = False
    monotone: bool = False
    gradient_step: bool = True
    certified: bool = False
    zigzags: bool = False

    def init(self, objective: Model, x: Any, evaluation: Evaluation) -> Any:
        """Create the rule's state at the starting point (default: none)."""
        return None

    @abstractmethod
    def step(
        self, objective: Model, x: Any, evaluation: Evaluation, state: Any
    ) -> tuple[Move, Any]:
        """Choose the move from ``x`` given the evaluation there; return it and the new state."""
