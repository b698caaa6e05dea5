"""The one iteration loop every method runs through.

:func:`run` drives a :class:`lfso._stepper.Stepper` (start, advance until it stops,
result), which owns what no step rule should re-implement: the stopping tests, the
non-finite check, best-point tracking, interruption, the history, the risk indicators
(:mod:`lfso.monitor`), the progress bar and the callback. Every evaluation goes through
:class:`Counted`, the run's one call counter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._arrays import materialize
from ._result import Result
from ._stepper import Stepper, callbacks_of
from .models import EXTRAS, Evaluation, Model
from .models._base import value_product
from .steps import StepRule

# The loop's counting wrapper (Counted) is internal.
__all__ = ["run"]


class Counted(Model):
    """Wrap a model so that every evaluation is counted (one shared counter per run).

    It declares the model's contract as its own (``extras``, ``has_segment``,
    ``segment_uses_ball``, ``audit_oracle``, ``unit_roundoff``), so a rule handed the
    counted objective reads the model's declarations, and it passes the optional inputs on
    through :meth:`Model.evaluate_with`, the one place that filters them.
    """

    extras = EXTRAS  # (filtered by the model's own evaluate_with)

    def __init__(self, model: Model) -> None:
        self.model, self.dim = model, model.dim
        self.has_oracle, self.audit_oracle = model.has_oracle, model.audit_oracle
        self.has_segment = model.has_segment
        self._segment_proven = model._segment_proven
        self.nfev = self.njev = self.nan_values = 0

    @property
    def unit_roundoff(self) -> float | None:  # type: ignore[override]
        """The model's, as it is now (a :class:`~lfso.models.FunctionModel` takes that of
        the values its ``fun`` returns, at the first evaluation)."""
        return getattr(self.model, "unit_roundoff", None)

    @property
    def segment_uses_ball(self) -> bool:
        """The model's own (the counting wrapper's :meth:`segment` only passes it on)."""
        return self.model.segment_uses_ball

    def evaluate(
        self,
        x: Any,
        *,
        bound: bool = True,
        hint: float | None = None,
        probe: Any = None,
        product: Any = None,
        value: float | None = None,
    ) -> Evaluation:
        """Count, and offer ``hint``, ``probe`` and ``product`` to the model
        (:meth:`Model.evaluate_with` passes on those it declares); ``value``, ``f(x)``
        where a line search's trial already computed it, is handed to
        :meth:`Model.evaluate_valued` and ``f`` counted only where the model computes it
        again."""
        self.njev += 1
        if value is None:
            self.nfev += 1
            return self.model.evaluate_with(x, bound=bound, hint=hint, probe=probe, product=product)
        ev, again = self.model.evaluate_valued(
            x, value, bound=bound, hint=hint, probe=probe, product=product
        )
        self.nfev += again
        return ev

    def value(self, x: Any) -> float:
        """Counted; a NaN value (a trial point outside ``f``'s domain) is counted apart,
        in :attr:`nan_values`, for the run's message."""
        self.nfev += 1
        value = self.model.value(x)
        if value != value:
            self.nan_values += 1
        return value

    def _value_product(self, x: Any) -> tuple[float, Any]:
        """:meth:`value` (counted alike), with what the model's pass formed for the
        evaluation at ``x`` (:func:`~lfso.models._base.value_product`)."""
        self.nfev += 1
        value, product = value_product(self.model, x)
        if value != value:
            self.nan_values += 1
        return value, product

    def grad(self, x: Any) -> Any:
        """Counted as a value too: a model's gradient is its evaluation's
        (:meth:`Model.grad`), which calls a plain function's ``fun`` as well."""
        self.nfev += 1
        self.njev += 1
        return self.model.grad(x)

    def segment(self, x: Any, evaluation: Evaluation, direction: Any) -> Any:
        """The model's segment bound along ``direction`` (Dask: persisted first, as the
        bound reads it in several computations: ``A d``, ``g . d``, ``||d||_inf``)."""
        return self.model.segment(x, evaluation, materialize(direction))

    def _slope_prior(self, x: Any, evaluation: Evaluation, direction: Any) -> float | None:
        """The model's a-priori bound on the computed slope's error along ``direction``
        (``_slope_prior`` of the row models, :mod:`lfso.models._slope`), ``None`` where
        it states none."""
        prior = getattr(self.model, "_slope_prior", None)
        return None if prior is None else prior(x, evaluation, direction)


def run(
    model: Model,
    x0: Any,
    rule: StepRule,
    *,
    tol: float,
    atol: float,
    max_iter: int,
    callback: Callable[..., Any] | list[Callable[..., Any]] | None = None,
    monitor: bool | str = True,
    progress: bool | None = None,
) -> Result:
    """Iterate ``rule`` from ``x0`` until a stopping test fires; see :func:`lfso.minimize`."""
    objective = Counted(model)
    callbacks_of(callback)  # (a callback that cannot be called raises before anything runs)
    stepper = Stepper(
        objective,
        rule,
        model=model,
        tol=tol,
        atol=atol,
        max_iter=max_iter,
        callback=callback,
        monitor=monitor,
        progress=progress,
    )
    stepper.start(x0)
    try:
        while not stepper.advance():
            pass
    except KeyboardInterrupt:  # (between two iterations)
        stepper.interrupt()
    return stepper.result()
