"""(L0, L1)-smooth objectives: an oracle from a bound on the Hessian by the gradient."""

from __future__ import annotations

from typing import Any

from .._arrays import error_gamma, namespace, norm_from_square, to_floats
from .._validate import real
from ..oracles._bounds import ExpBound, rounded_up
from ..oracles._segment import SegmentBound, WrappedSegment
from ._base import Evaluation, Model, value_product

__all__ = ["L0L1Smooth"]


class L0L1Smooth(Model):
    """Wrap a model whose Hessian satisfies ``||Hess f(y)|| <= L0 + L1 ||grad f(y)||``.

    Oracle (Zhang, He, Sra & Jadbabaie, ICLR 2020; Berahas, Roberts & Roosta, Section 2):

    .. math::  L(x, R) = (L_0 + L_1 \\|\\nabla f(x)\\|) \\, e^{L_1 R}.

    Why: along a segment from ``x``, ``u(t) = L0 + L1 ||grad f||`` satisfies
    ``u' <= L1 u``, so by Gronwall ``L0 + L1 ||grad f(y)|| <= (L0 + L1 ||grad f(x)||)
    e^{L1 ||y - x||}``, which bounds the Hessian norm on ``B(x, R)``. Only the gradient at
    ``x`` is needed, so the bound costs nothing beyond the gradient.

    Segment bound (:meth:`segment`): along ``[x, x + t d]`` the same Gronwall argument gives
    ``L0 + L1 ||grad f(x + s d)|| <= (L0 + L1 ||grad f(x)||) e^{L1 ||d|| s}``, and
    ``d^T H d <= ||H|| ||d||^2``, so

    .. math::  C(t) = (L_0 + L_1 \\|\\nabla f(x)\\|) \\, e^{L_1 \\|d\\| t} \\|d\\|^2.

    This is the ball bound at radius ``t ||d||`` times ``||d||^2``: the hypothesis bounds
    only the Hessian's norm, so no direction is sharper than another. It needs no ball
    evaluation (it works from an evaluation made with ``bound=False``).

    Floating point: ``||grad f(x)||`` is the norm of the base's computed gradient ``g``
    (the bound is exact for ``g``; the base's own rounding of ``g`` is not covered, as the
    step's slope ``g . d`` is not). The arithmetic on it is rounded up: ``||g||``, from a
    sum of squares in ``g``'s dtype, is within ``gamma_{d+2}`` of ``g``'s exact norm
    (:func:`lfso._arrays.norm_from_square`) and padded by that, plus two smallest
    subnormal numbers ``eta`` of ``g``'s dtype (a subnormal norm such as ``8e-323`` is off
    by up to ``eta / 2`` absolutely in its last product and in its pad, 3% there, which
    ``L1 = 1e30`` carried into the bound; not where ``g = 0``, whose norm 0 is exact),
    ``||d||`` by
    ``gamma_{d+4}``, each sum and product by its rounding, and the exponential by its own
    (:class:`~lfso.oracles._bounds.ExpBound`).

    Parameters
    ----------
    base : Model
        Supplies value and gradient (its own oracle is ignored).
    L0, L1 : float, >= 0, not both zero
        The constants of the hypothesis, the user's claim about ``f`` (not checked): the
        oracle is a user's (:attr:`~lfso.models.Model.audit_oracle` true), so the loop
        audits it and the safeguard guards the steps it sizes, and ``certificate="auto"``
        keeps the ball (the segment bound is the ball's, times ``||d||^2``). Constants too
        small end the run with a status naming the oracle instead of steps that make
        ``f`` rise.

    Examples
    --------
    >>> import numpy as np
    >>> from lfso.models import L0L1Smooth, PowerSum
    >>> L = L0L1Smooth(PowerSum(2), L0=2.0, L1=0.0)(np.ones(2), 5.0)  # L1 = 0: L is L0
    >>> 2.0 <= L <= 2.0 * (1 + 1e-15)  # (rounded up past its arithmetic's rounding)
    True
    """

    def __init__(self, base: Model, L0: float, L1: float) -> None:
        if not isinstance(base, Model):
            raise TypeError(f"base must be a model (lfso.models), got {base!r}")
        L0, L1 = real(L0, "L0", low=0.0), real(L1, "L1", low=0.0)
        if not (L0 >= 0.0 and L1 >= 0.0 and L0 + L1 > 0.0):
            raise ValueError(f"need L0 >= 0, L1 >= 0, not both 0; got L0={L0}, L1={L1}")
        self.base, self.L0, self.L1 = base, L0, L1
        self.dim, self.xp = base.dim, base.xp

    has_segment = True
    #: ``L0`` and ``L1`` are the user's claim about ``f``, not checked: a user's oracle,
    #: audited and safeguarded, its segment bound (read from them) too.
    audit_oracle = True
    _has_paper_radius = False
    _oracle_advice = (
        "L0 and L1 may be below f's (||Hess f|| <= L0 + L1 ||grad f|| must hold): check "
        "them with lfso.check_oracle, or raise them"
    )

    @property
    def data(self) -> Any:
        """The base model's data."""
        return self.base.data

    @property
    def extras(self) -> frozenset[str]:  # type: ignore[override]
        """The base model's ``"probe"`` (passed on to it); the bound needs no other input."""
        return self.base.extras & {"probe"}

    def evaluate(
        self,
        x: Any,
        *,
        bound: bool = True,
        hint: float | None = None,
        probe: Any = None,
        product: Any = None,
    ) -> Evaluation:
        """The base's evaluation at ``x`` (its public :meth:`~Model.evaluate`, which checks
        ``x`` and names it) with this model's bound; ``x`` is checked here first, so that an
        error names this model, not its base."""
        if self.dim is not None:  # (a base of any length checks its own)
            self._check_point(x)
        offered = {"probe": probe} if probe is not None and "probe" in self.base.extras else {}
        return self._bounded(self.base.evaluate(x, bound=False, **offered), bound)

    def evaluate_with(
        self,
        x: Any,
        *,
        bound: bool = True,
        hint: float | None = None,
        probe: Any = None,
        product: Any = None,
    ) -> Evaluation:
        """:meth:`evaluate` at a run's iterate, by the base's :meth:`~Model.evaluate_with`
        (no check of ``x`` where the base skips it for its iterates)."""
        return self._bounded(self.base.evaluate_with(x, bound=False, probe=probe), bound)

    def evaluate_valued(
        self,
        x: Any,
        value: float,
        *,
        bound: bool = True,
        hint: float | None = None,
        probe: Any = None,
        product: Any = None,
    ) -> tuple[Evaluation, bool]:
        """The base's :meth:`~Model.evaluate_valued` (which takes what its
        :meth:`~Model._value_product` handed on) with this model's bound."""
        ev, again = self.base.evaluate_valued(x, value, bound=False, probe=probe, product=product)
        return self._bounded(ev, bound), again

    def value(self, x: Any) -> float:
        """The base's ``f(x)``, without its gradient."""
        return self._value_product(x)[0]

    def _value_product(self, x: Any) -> tuple[float, Any]:
        if self.dim is not None:  # (an error names this model, as evaluate's does)
            self._check_point(x)
        return value_product(self.base, x)

    def _bounded(self, ev: Evaluation, bound: bool) -> Evaluation:
        """``ev`` with the bound ``L0 + L1 ||g||`` (if ``bound``)."""
        if not bound:
            return ev
        local = ExpBound(self._scale(ev), self.L1)
        return Evaluation(ev.value, ev.grad, ev.grad_norm, local, ev.probe_dot)

    def _scale(self, evaluation: Evaluation) -> float:
        """``L0 + L1 ||g||`` rounded up (see Floating point in the class docstring)."""
        grad = evaluation.grad
        finfo = namespace(grad).finfo(grad.dtype)
        eta = float(finfo.smallest_normal) * float(finfo.eps)  # (the underflow's: docstring)
        gamma = error_gamma(int(grad.shape[0]) + 2, grad.dtype)
        # (a zero gradient's norm is exact: L0 + L1 * 0, the bound 0 where L0 = 0)
        pad = 2.0 * eta if evaluation.grad_norm > 0.0 else 0.0
        padded = evaluation.grad_norm * (1.0 + gamma) + pad
        return rounded_up(self.L0 + rounded_up(self.L1 * padded, 1.0), 1.0)

    def segment(self, x: Any, evaluation: Evaluation, direction: Any) -> SegmentBound:
        """Gronwall along the segment (see the class docstring)."""
        sq, slope = to_floats(direction @ direction, evaluation.grad @ direction)
        length = norm_from_square(sq, direction)
        # ||d|| from a sum of its squares in d's dtype: padded by that sum's rounding
        length *= 1.0 + error_gamma(int(direction.shape[0]) + 4, direction.dtype)
        scale = rounded_up(rounded_up(self._scale(evaluation) * length, 1.0) * length, 1.0)
        return WrappedSegment(ExpBound(scale, self.L1 * length), slope=slope)
