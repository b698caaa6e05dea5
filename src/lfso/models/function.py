"""A model from plain callables: ``fun(x)``, ``grad(x)`` and ``smoothness(x, R)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._arrays import fetch_with_norm, namespace, to_float
from ..bounds import LocalBound
from ..oracles import FunctionOracle, LocalSmoothnessOracle
from ..segments import SegmentBound, WrappedSegment
from ._base import Evaluation, Model

__all__ = ["FunctionModel"]


class FunctionModel(Model):
    """Adapt user callables to the model contract.

    Parameters
    ----------
    fun : callable ``fun(x) -> float``, or ``fun(x) -> (float, array)`` when ``grad=True``
    grad : callable ``grad(x) -> array``, or ``True``
    smoothness : callable ``smoothness(x, R) -> float`` or LocalSmoothnessOracle, optional
        The LFSO. Each value it returns is checked (finite, positive, non-decreasing in R).
    radius : callable ``R0(x) -> float``, optional
        A default radius for ``radius="paper"``.

    Notes
    -----
    Segment bound (:meth:`segment`): an oracle built with the calculus of
    :mod:`lfso.oracles` (sums, scaling, affine maps, ridge, built-in models) gives its own
    segment bound (``oracle.along(x, d)``: e.g. exact along ``A d`` through an affine map);
    a plain callable ``smoothness(x, R)`` gives the ball's ``L(x, t ||d||) ||d||^2``.
    """

    takes_probe = True

    def __init__(
        self,
        fun: Callable[[Any], Any],
        grad: Callable[[Any], Any] | bool,
        smoothness: Callable[[Any, float], float] | LocalSmoothnessOracle | None = None,
    ) -> None:
        if not callable(fun):
            raise TypeError(f"fun must be callable, got {fun!r}")
        if grad is None or grad is False:
            raise TypeError("a plain function needs its gradient: pass grad=callable or grad=True")
        if grad is not True and not callable(grad):
            raise TypeError(f"grad must be callable or True, got {grad!r}")
        self.fun, self.jac = fun, grad
        if smoothness is None or isinstance(smoothness, LocalSmoothnessOracle):
            self.oracle = smoothness
        else:
            self.oracle = FunctionOracle(smoothness)
        self.has_oracle = self.audit_oracle = self.oracle is not None

    def _value_grad(self, x: Any) -> tuple[Any, Any]:
        """``f(x)`` as the callable returned it (a float or a 0-d array) and the gradient."""
        if self.jac is True:
            value, grad = self.fun(x)
        else:
            value, grad = self.fun(x), self.jac(x)
        xp = namespace(x)
        grad = xp.asarray(grad)
        if grad.shape != x.shape:
            raise ValueError(f"grad(x) must have shape {tuple(x.shape)}, got {tuple(grad.shape)}")
        return value, grad

    def evaluate(self, x: Any, *, bound: bool = True, probe: Any = None) -> Evaluation:
        raw, grad = self._value_grad(x)
        if isinstance(raw, (float, int)) or getattr(raw, "shape", None) != ():
            value = to_float(raw)  # a host number (or a 1-element array)
            _, gnorm, dot = fetch_with_norm(grad, probe=probe)
        else:  # a 0-d array of the gradient's library: one round trip for all of it
            (value,), gnorm, dot = fetch_with_norm(grad, raw, probe=probe)
        local: LocalBound | None = None
        if bound:
            if self.oracle is None:
                raise TypeError(
                    "this method needs a smoothness oracle: pass smoothness=callable(x, R) "
                    "or use a model from lfso.models"
                )
            local = self.oracle.at(x)
        return Evaluation(value, grad, gnorm, local, dot)

    def value(self, x: Any) -> float:
        return to_float(self.fun(x)[0] if self.jac is True else self.fun(x))

    def segment(self, x: Any, evaluation: Evaluation, direction: Any) -> SegmentBound:
        """The calculus's segment bound, or the ball fallback for a plain callable."""
        if self.oracle is None or isinstance(self.oracle, FunctionOracle):
            return super().segment(x, evaluation, direction)
        # (g . d from this model's gradient: the oracle only bounds the curvature)
        inner = self.oracle.along(x, direction)
        return WrappedSegment(inner, grad=evaluation.grad, direction=direction)
