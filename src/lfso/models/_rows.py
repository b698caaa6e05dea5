"""The local bound shared by row-separable models ``f(x) = (1/n) sum_i phi_i(a_i^T x) + ...``.

If ``|phi_i''(t)| <= h(|t - c_i|)`` with ``h`` non-increasing (logistic loss: ``h = sigma'``
around the decision boundary; Cauchy loss: ``h(u) = 1 / (1 + u^2/c^2)`` around the fit),
then on ``B(x, R)`` each statistic ``s_i = |a_i^T x - c_i|`` moves by at most
``||a_i|| R``, so ``|phi_i''| <= d_i(R) = h(max(0, s_i - ||a_i|| R))`` and

.. math::
    \\|\\nabla^2 f(y)\\| \\le \\frac1n \\min\\Big(\\|A\\|^2 \\max_i d_i(R),\\;
                         \\sum_i \\|a_i\\|^2 d_i(R)\\Big) + l_2,

the first from ``||A^T D A|| <= ||A||^2 max |D_ii|``, the second from
``||A^T D A|| <= sum_i |D_ii| ||a_i||^2``. Each ``d_i`` is non-decreasing in ``R``, hence so
is the bound. The statistics come from the gradient's pass: each radius costs O(n), no
product with ``A`` and one host round trip (both reductions travel together); the radius
solve (:func:`lfso._solve.solve_radius`) needs about one radius per iteration.

Rounding (any dtype, float32 included): each model lowers its statistics by their
rounding error (:func:`statistic_margin`: a dot product of length ``d`` is within
``gamma_d ||a_i||_1 ||x||_inf`` of the exact one, Higham, Lemma 3.1), the row norms and
``||A||_F^2`` are padded by their ``gamma_k`` (:class:`RowGeometry`, and ``||A||`` by
:func:`lfso._arrays.operator_norm`), the radius is stretched by ``1 + gamma_4`` against the
rounding of ``||a_i|| R``, the reductions are padded (``h`` by 8 ulps, the sum by
``gamma_{n+4}``), and ``h`` is floored at the dtype's smallest normal number (below which
it underflows): ``norm^2 (max_i d_i pad + tiny)`` and
``sum_i ||a_i||^2 d_i pad + ||A||_F^2 tiny``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .._arrays import (
    error_gamma,
    fetch_with_norm,
    materialize,
    namespace,
    operator_norm,
    reduce_max,
    row_norms,
    to_float,
    to_floats,
)
from ..bounds import LocalBound
from ._base import Evaluation

__all__ = ["RowCurvatureBound", "RowGeometry", "fetch_evaluation", "statistic_margin"]


class RowGeometry:
    """Norms of a data matrix computed once: ``||A||``, row norms, ``||A||_F^2``.

    Each is an upper bound on the exact value despite rounding in ``A``'s dtype: a row
    norm (``d`` squares summed, a square root) is padded by ``1 + gamma_{d+4}``, the sum
    of squares by ``1 + gamma_{n+4}`` (:func:`lfso._arrays.error_gamma`).
    """

    def __init__(self, A: Any) -> None:
        self.xp = namespace(A)
        n, d = int(A.shape[0]), int(A.shape[1])
        self.norm = operator_norm(A)
        self.row_norms = materialize(row_norms(A) * (1.0 + error_gamma(d + 4, A.dtype)))
        self.row_norms_sq = materialize(self.row_norms * self.row_norms)
        self.sum_pad = 1.0 + error_gamma(n + 4, A.dtype)
        self.frobenius_sq = to_float(self.xp.sum(self.row_norms_sq)) * self.sum_pad
        self.sqrt_d = float(d) ** 0.5
        self.gamma_d = error_gamma(d + 4, A.dtype)  # a dot product of length d, rounded
        self.gamma_4 = error_gamma(4, A.dtype)
        self.tiny = float(self.xp.finfo(A.dtype).smallest_normal)
        self.peak_pad = 1.0 + error_gamma(16, A.dtype)  # h (exp, +, *, /): 8 ulps


def statistic_margin(geometry: RowGeometry, x: Any, stats: Any, offset: Any = None) -> Any:
    """The rounding error of ``s_i = |a_i^T x - c_i|`` computed in the data's dtype, bounded.

    ``gamma_d (sqrt(d) ||a_i|| ||x||_inf + |c_i|) + gamma_4 s_i``: the dot product and the
    offset (Higham, Lemma 3.1, with ``||a_i||_1 <= sqrt(d) ||a_i||``), and the rounding of
    ``s_i - ||a_i|| R`` in :meth:`RowCurvatureBound.reductions`. ``||x||_inf`` stays a 0-d
    array (no round trip). Models subtract it from their statistics.
    """
    g = geometry
    xmax = reduce_max(g.xp, g.xp.abs(x)) * g.sqrt_d
    margin = g.gamma_d * (g.row_norms * xmax) + g.gamma_4 * stats
    return margin if offset is None else margin + g.gamma_d * offset


class RowCurvatureBound(LocalBound):
    """``R -> L(x, R)`` for a row-separable model (see the module docstring).

    Parameters
    ----------
    geometry : RowGeometry
    stats : array
        ``s_i = |a_i^T x - c_i|`` at the bound point.
    peak : callable ``h(u)`` on arrays
        Non-increasing bound on ``|phi''|`` at distance ``u`` from its peak.
    scale : float
        ``1/n`` for a mean.
    offset : float
        Curvature added everywhere (a ridge ``l2``).
    frobenius : bool
        Use the authors' ``||A||_F^2 max_i d_i`` instead of the sharp minimum.

    Attributes
    ----------
    hint : float or None
        A radius whose bound was computed with the gradient (:meth:`hinted`), so that
        asking for it costs no pass over the data and no round trip.
    """

    hint: float | None = None

    def __init__(
        self,
        geometry: RowGeometry,
        stats: Any,
        peak: Callable[[Any], Any],
        scale: float,
        offset: float = 0.0,
        frobenius: bool = False,
    ) -> None:
        self.geometry, self.stats, self.peak = geometry, stats, peak
        self.scale, self.offset, self.frobenius = scale, offset, frobenius
        # Proven non-decreasing: a decrease can only be the reductions' rounding, which in
        # float32 over many rows reaches 1e-6 and more; sqrt(eps) keeps the check for bugs.
        self.monotone_rtol = math.sqrt(float(geometry.xp.finfo(stats.dtype).eps))

    def reductions(self, radius: float) -> list[Any]:
        """The bound's reductions at ``radius`` as 0-d arrays, left where the data lives:
        ``max_i d_i(R)`` and (sharp bound) ``sum_i ||a_i||^2 d_i(R)``."""
        g = self.geometry
        xp = g.xp
        stretched = radius * (1.0 + g.gamma_4)  # against the rounding of ||a_i|| R
        d = self.peak(xp.clip(self.stats - g.row_norms * stretched, 0.0, None))
        if self.frobenius:
            return [reduce_max(xp, d)]
        return [reduce_max(xp, d), g.row_norms_sq @ d]

    def combine(self, values: list[float]) -> float:
        """``L(x, R)`` from :meth:`reductions` brought to the host."""
        g = self.geometry
        top = values[0] * g.peak_pad + g.tiny  # h to 8 ulps; underflow below tiny
        if self.frobenius:
            curv = g.frobenius_sq * top
        else:
            curv = min(
                g.norm**2 * top, values[1] * g.peak_pad * g.sum_pad + g.frobenius_sq * g.tiny
            )
        return self.scale * curv + self.offset

    def hinted(self, radius: float, values: list[float]) -> RowCurvatureBound:
        """Record ``L(x, radius)`` from reductions fetched with the gradient; returns self."""
        self.hint, self._hint_value = radius, self.combine(values)
        return self

    def __call__(self, radius: float) -> float:
        if radius == self.hint:
            return self._hint_value
        return self.combine(to_floats(*self.reductions(radius)))  # one host round trip


def fetch_evaluation(
    grad: Any,
    value: Any,
    bound: RowCurvatureBound | None,
    hint: float | None,
    probe: Any,
) -> Evaluation:
    """The evaluation with ``f(x)``, ``||grad f(x)||``, ``grad @ probe`` and (given a
    ``hint``) ``L(x, hint)`` brought back in one round trip.

    The bound's value at the hinted radius is recorded in ``bound`` (:meth:`hinted`), so
    that a radius solve that asks for it costs nothing more. How often LFSO's hint lands in
    the tolerance window: the ``noracle`` against ``nit`` columns of the logistic rows of
    ``lfso bench --suite paper --out DIR`` (read in ``docs/results.md``).
    """
    extra = bound.reductions(hint) if bound is not None and hint is not None else []
    fetched = fetch_with_norm(grad, value, *extra, probe=probe)
    if extra:
        assert bound is not None and hint is not None
        bound.hinted(hint, fetched.values[1:])
    return Evaluation(fetched.values[0], grad, fetched.grad_norm, bound, fetched.probe_dot)
