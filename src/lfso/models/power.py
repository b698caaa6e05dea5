"""Flat-minimum test functions: ``||x||^(2p)`` and ``sum_i x_i^(2p)``."""

from __future__ import annotations

from typing import Any

from .._arrays import error_gamma, fetch_with_norm, namespace, reduce_max, to_float, to_floats
from .._validate import power
from ..bounds import ConstantBound, LocalBound, PowerBound
from ..segments import (
    NormPathSegment,
    RowSegment,
    SegmentBound,
    power_kernel,
)
from ._base import Evaluation, Model

__all__ = ["PowerNorm", "PowerSum"]


def split_factor(m: float) -> float:
    """``k_m = max(1, 2^(m-1))``, the least ``k`` with ``(a + b)^m <= k (a^m + b^m)``.

    For ``a, b >= 0`` and ``m > 0``: convexity of ``t^m`` (``m >= 1``) gives
    ``((a + b)/2)^m <= (a^m + b^m)/2``, and subadditivity of the concave ``t^m``
    (``0 < m < 1``, ``0^m = 0``) gives ``(a + b)^m <= a^m + b^m``. Both are attained
    (``a = b``, resp. ``b = 0``), so ``k_m`` is the least such factor.
    """
    return 2.0 ** (m - 1.0) if m >= 1.0 else 1.0


class PowerNorm(Model):
    """``f(x) = ||x||_2^(2p)`` for real ``p >= 1``.

    Oracle (exact supremum of the Hessian norm over the ball):

    .. math::  L(x, R) = 2p(2p - 1) (\\|x\\| + R)^{2p - 2}.

    Why: ``Hess f(y) = 2p ||y||^(2p-2) I + 2p(2p-2) ||y||^(2p-4) y y^T`` has norm
    ``2p(2p-1) ||y||^(2p-2)``, increasing in ``||y|| <= ||x|| + R``. It coincides with the
    paper's composite bound for this function (Section 5.1). The paper's default radius is
    ``R0(x) = ||grad ||x||^2|| = 2 ||x||``. ``||x||`` is computed in ``x``'s dtype and padded
    by its rounding error, ``gamma_{d+4}`` (:func:`lfso._arrays.error_gamma`).

    Examples
    --------
    >>> import numpy as np, lfso
    >>> res = lfso.minimize(lfso.models.PowerNorm(2), np.ones(10))
    >>> res.success
    True
    """

    has_segment = True
    takes_probe = True

    def __init__(self, p: float) -> None:
        self.p = power(p)

    def bound_from_norm(self, norm: float) -> LocalBound:
        """``R -> L(x, R)`` given ``||x||``."""
        p = self.p
        if p == 1.0:
            bound: LocalBound = ConstantBound(2.0)
        else:
            bound = PowerBound(2 * p * (2 * p - 1), norm, 1.0, 2 * p - 2)
        bound.paper_radius = 2.0 * norm
        return bound

    def evaluate(
        self,
        x: Any,
        *,
        bound: bool = True,
        hint: float | None = None,
        probe: Any = None,
        product: Any = None,
    ) -> Evaluation:
        xp = namespace(x)
        p = self.p
        if probe is None:
            sq, dot = to_float(xp.sum(x * x)), None
        else:  # grad = c x, so grad @ probe = c (x @ probe): same round trip
            sq, dot = to_floats(xp.sum(x * x), xp.sum(x * probe))
        scale = 2 * p * sq ** (p - 1)
        norm = sq**0.5
        local = None
        if bound:  # ||x|| from a sum of d squares in x's dtype: padded by its rounding
            local = self.bound_from_norm(norm * (1.0 + error_gamma(int(x.shape[0]) + 4, x.dtype)))
        return Evaluation(
            sq**p, scale * x, scale * norm, local, None if dot is None else scale * dot
        )

    def segment(self, x: Any, evaluation: Evaluation, direction: Any) -> SegmentBound:
        """Exact supremum of the curvature along the segment (see the class docstring)."""
        d = direction
        eps = float(namespace(x).finfo(x.dtype).eps)
        n = int(x.shape[0])
        slope = evaluation.grad @ d  # fetched with x @ x, x @ d, d @ d on first use
        return NormPathSegment(
            self.p, 1.0, x @ x, x @ d, d @ d, slope=slope, terms=n, dtype_eps=eps
        )


class PowerSum(Model):
    """``f(x) = sum_i |x_i|^(2p)`` for real ``p >= 1``.

    Oracle (``oracle="sharp"``, the exact supremum of the Hessian norm over the ball):

    .. math::  L(x, R) = 2p(2p - 1) (\\max_i |x_i| + R)^{2p - 2}.

    Why: the Hessian is ``diag(2p(2p-1) |y_i|^(2p-2))`` and ``|y_i| <= |x_i| + R`` on
    ``B(x, R)``, with equality along a coordinate axis.

    ``oracle="paper"`` is the authors' bound, which splits ``(a + b)^m``, ``m = 2p - 2``:

    .. math::  L(x, R) = 2p(2p - 1) \\, k_m (\\max_i |x_i|^m + R^m),
               \\qquad k_m = \\max(1, 2^{m - 1}),

    with their radius ``R0(x) = ||x||_inf``. Why: for ``a, b >= 0``,
    ``(a + b)^m <= k_m (a^m + b^m)``. For ``m >= 1``, ``t^m`` is convex, so
    ``((a + b)/2)^m <= (a^m + b^m)/2`` (the authors' factor ``2^(m-1)``, kept exactly). For
    ``0 < m < 1``, ``t^m`` is concave with ``0^m = 0``, hence subadditive:
    ``(a + b)^m <= a^m + b^m`` (there ``2^(m-1) < 1`` would under-estimate: at ``p = 1.25``,
    ``x = 1``, ``R -> 0`` it gives 2.65 where the Hessian is 3.75). The sharp oracle is
    never larger.

    Segment bound (:meth:`segment`): ``d^T H(x + s d) d = 2p(2p-1) sum_i |x_i + s d_i|^(2p-2)
    d_i^2`` and each ``|x_i + s d_i|`` is convex in ``s``, so its power ``2p - 2 >= 0`` is
    largest at an endpoint:

    .. math::  C(t) = 2p(2p-1) \\sum_i \\max(|x_i|, |x_i + t d_i|)^{2p-2} d_i^2,

    non-decreasing in ``t`` and never above the ball's
    ``2p(2p-1) (max_i |x_i| + t ||d||)^(2p-2) ||d||^2``. O(d) per ``t``, a batch of ``t``
    per round trip (:class:`~lfso.segments.RowSegment`).
    """

    has_segment = True
    takes_probe = True

    def __init__(self, p: float, *, oracle: str = "sharp") -> None:
        self.p = power(p)
        if oracle not in ("sharp", "paper"):
            raise ValueError(f"oracle must be 'sharp' or 'paper', got {oracle!r}")
        self.oracle = oracle

    def bound_from_max(self, amax: float) -> LocalBound:
        """``R -> L(x, R)`` given ``max_i |x_i|``."""
        p = self.p
        bound: LocalBound
        if p == 1.0:
            bound = ConstantBound(2.0)
        elif self.oracle == "sharp":
            bound = PowerBound(2 * p * (2 * p - 1), amax, 1.0, 2 * p - 2)
        else:
            c = 2 * p * (2 * p - 1) * split_factor(2 * p - 2)
            bound = ConstantBound(c * amax ** (2 * p - 2)) + PowerBound(c, 0.0, 1.0, 2 * p - 2)
        bound.paper_radius = amax
        return bound

    def evaluate(
        self,
        x: Any,
        *,
        bound: bool = True,
        hint: float | None = None,
        probe: Any = None,
        product: Any = None,
    ) -> Evaluation:
        xp = namespace(x)
        p = self.p
        ax = xp.abs(x)
        if p == int(p):
            x2 = x * x
            w = x2 ** int(p - 1)
            value = xp.sum(w * x2)
        else:
            w = ax ** (2 * p - 2)
            value = xp.sum(w * ax * ax)
        grad = (2 * p) * (w * x)
        extra = [reduce_max(xp, ax)] if bound else []
        scalars, gnorm, dot = fetch_with_norm(grad, value, *extra, probe=probe)
        local = self.bound_from_max(scalars[1]) if bound else None
        return Evaluation(scalars[0], grad, gnorm, local, dot)

    def segment(self, x: Any, evaluation: Evaluation, direction: Any) -> SegmentBound:
        """Per-coordinate endpoint suprema (see the class docstring)."""
        p, d = self.p, direction
        slope = evaluation.grad @ d
        if p == 1.0:  # f = ||x||^2: C = 2 ||d||^2 exactly
            eps = float(namespace(d).finfo(d.dtype).eps)
            n = int(d.shape[0])
            return NormPathSegment(
                1.0, 1.0, x @ x, x @ d, d @ d, slope=slope, terms=n, dtype_eps=eps
            )
        kernel = power_kernel(2 * p - 2, 2 * p * (2 * p - 1))
        return RowSegment(x, d, kernel, weight=d * d, scale=1.0, slope=slope)
