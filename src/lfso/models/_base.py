"""The model contract: value, gradient and the oracle's per-point statistics, computed once."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

from ..bounds import LocalBound
from ..oracles import LocalSmoothnessOracle

__all__ = ["Evaluation", "Model"]


@dataclass(slots=True)
class Evaluation:
    """Everything one pass over the data gives at a point.

    Attributes
    ----------
    value : float
        ``f(x)``.
    grad : array, shape (d,)
        ``grad f(x)``.
    grad_norm : float
        ``||grad f(x)||_2`` (brought to the host once).
    bound : LocalBound or None
        ``R -> L(x, R)``, bound from the statistics of this pass; ``None`` when not asked for.
    probe_dot : float or None
        ``grad f(x) @ probe`` when the caller passed a ``probe`` vector (models with
        ``takes_probe``), brought back in the same round trip.
    """

    value: float
    grad: Any
    grad_norm: float
    bound: LocalBound | None = None
    probe_dot: float | None = None


class Model(LocalSmoothnessOracle):
    """A differentiable objective that carries its own LFSO.

    Subclasses implement :meth:`evaluate`, which returns the value, the gradient and (when
    ``bound=True``) the local bound from one pass over the data; :meth:`value`,
    :meth:`grad`, :meth:`smoothness` and :meth:`at` are derived from it.

    Attributes
    ----------
    dim : int or None
        Length of ``x`` the model expects (``None``: any).
    has_oracle : bool
        ``False`` for a model without an LFSO (LFSO methods then estimate one).
    audit_oracle : bool
        Whether the loop should audit the oracle against observed gradient changes (the
        ``oracle`` risk indicator); true for user-supplied oracles, false for the built-in
        models, whose bounds are proven.
    takes_radius_hint : bool
        Whether :meth:`evaluate` accepts ``hint=R``: a radius at which the bound will
        probably be asked, evaluated in the same round trip as the gradient (the models
        whose bound costs a pass over the data per radius).
    takes_probe : bool
        Whether :meth:`evaluate` accepts ``probe=v`` and returns ``grad f(x) @ v`` as
        ``Evaluation.probe_dot`` from the same round trip (the built-in models).
    """

    dim: int | None = None
    has_oracle: bool = True
    audit_oracle: bool = False
    takes_radius_hint: bool = False
    takes_probe: bool = False

    @abstractmethod
    def evaluate(self, x: Any, *, bound: bool = True) -> Evaluation:
        """Value, gradient and (if ``bound``) the local bound at ``x``, computed together.

        Models with ``takes_radius_hint`` also accept ``hint: float | None``, and models
        with ``takes_probe`` accept ``probe`` (an array like ``x``, or ``None``).
        """

    def value(self, x: Any) -> float:
        """``f(x)``."""
        return self.evaluate(x, bound=False).value

    def grad(self, x: Any) -> Any:
        """``grad f(x)``."""
        return self.evaluate(x, bound=False).grad

    def at(self, x: Any) -> LocalBound:
        """``R -> L(x, R)``."""
        bound = self.evaluate(x, bound=True).bound
        assert bound is not None
        return bound

    def smoothness(self, x: Any, radius: float) -> float:
        """``L(x, R)``: a bound on the Lipschitz constant of the gradient on ``B(x, R)``."""
        return self(x, radius)
