"""Regression losses on a linear model: ``l_2p`` regression and composite least squares."""

from __future__ import annotations

from typing import Any

from .._arrays import (
    amax,
    fetch_with_norm,
    like,
    materialize,
    namespace,
    operator_norm,
    reduce_max,
    row_norms,
    sq_norm,
    to_float,
)
from ..bounds import ConstantBound, LocalBound, MinPowerBound, PowerBound
from ..segments import (
    NormPathSegment,
    RowSegment,
    SegmentBound,
    materialized_product,
    power_kernel,
)
from ._base import Evaluation, Model
from .power import PowerNorm, _check_power

__all__ = ["CompositeLeastSquares", "LpRegression"]


def _check_data(A: Any, b: Any) -> tuple[Any, Any, Any]:
    xp = namespace(A, b)
    if A.ndim != 2:
        raise ValueError(f"A must be 2-D, got shape {tuple(A.shape)}")
    if b.ndim != 1 or b.shape[0] != A.shape[0]:
        raise ValueError(f"b must have shape ({A.shape[0]},) to match A, got {tuple(b.shape)}")
    if not (bool(xp.all(xp.isfinite(A))) and bool(xp.all(xp.isfinite(b)))):
        raise ValueError("A and b must be finite, found a NaN or infinite entry")
    return xp, A, like(b, A)  # (PyTorch: b on A's device and in its dtype)


def _check_oracle(oracle: str) -> str:
    if oracle not in ("sharp", "paper"):
        raise ValueError(f"oracle must be 'sharp' or 'paper', got {oracle!r}")
    return oracle


def _init_linear(model: Model, A: Any, b: Any, p: float, oracle: str, norm: float | None) -> None:
    """The validated data, power, oracle choice and ``||A||`` of a model of ``Ax - b``."""
    model.xp, model.A, model.b = _check_data(A, b)
    model.p = _check_power(p)
    model.oracle = _check_oracle(oracle)
    model.dim = int(A.shape[1])
    model.norm = float(norm) if norm is not None else operator_norm(A)


class LpRegression(Model):
    """``l_2p`` regression: ``f(x) = sum_i (a_i^T x - b_i)^(2p)`` for real ``p >= 1``.

    With residuals ``r = Ax - b`` and ``m = 2p - 2``, ``Hess f(y) = A^T W(y) A`` where
    ``W(y) = diag(2p(2p-1) |r_i(y)|^m)``, and on ``B(x, R)``,
    ``|r_i(y)| <= |r_i| + ||a_i|| R``. Hence (``oracle="sharp"``)

    .. math::
        L(x, R) = 2p(2p-1) \\min\\Big( \\|A\\|^2 (\\max_i |r_i| + \\max_i \\|a_i\\| R)^m,
                  \\; \\big(T_0^{1/m} + T_2^{1/m} R\\big)^m \\Big),
        \\quad T_0 = \\sum_i \\|a_i\\|^2 |r_i|^m, \\; T_2 = \\sum_i \\|a_i\\|^{m+2}.

    The first term is ``||A^T W A|| <= ||A||^2 max_i W_ii``. The second bounds the trace,
    ``||A^T W A|| <= sum_i W_ii ||a_i||^2 <= 2p(2p-1) sum_i ||a_i||^2 (|r_i| + ||a_i|| R)^m``,
    by Minkowski's inequality in the weighted ``l_m`` norm (weights ``||a_i||^2``). Both
    terms need one reduction each over the residuals, and ``|r_i|^m`` is the weight the
    gradient ``2p A^T (|r|^m r)`` already computed, so the oracle adds two O(n) passes and
    no product with ``A``; any radius then costs O(1).

    ``oracle="paper"`` is the authors' bound (their code, ``linear_regression``):
    ``2p(2p-1) ||A||^2 2^(2p-3) (max_i r_i^(2p-2) + max_i ||a_i||^(2p-2) R^(2p-2))``
    for ``p > 1`` and ``2 ||A||^2`` for ``p = 1``; the first sharp term is never larger,
    since ``(a + b)^m <= 2^(m-1) (a^m + b^m)``. Both use the paper's radius
    ``R0(x) = ||Ax - b||_inf`` for ``radius="paper"``.

    Segment bound (:meth:`segment`), with ``u = A d``: ``d^T H(x + s d) d =
    2p(2p-1) sum_i |r_i + s u_i|^m u_i^2``, and ``|r_i + s u_i|`` is convex in ``s``, so each
    term is largest at an endpoint of ``[0, t]``:

    .. math::  C(t) = 2p(2p-1) \\sum_i \\max(|r_i|, |r_i + t u_i|)^m u_i^2,

    non-decreasing in ``t`` and never above the ball's ``2p(2p-1) sum_i (|r_i| +
    ||a_i|| t ||d||)^m u_i^2``-type bounds (``|u_i| <= ||a_i|| ||d||``). O(n) per ``t``, a
    batch of ``t`` per round trip (:class:`~lfso.segments.RowSegment`); for ``p = 1`` it is
    the exact constant ``2 ||A d||^2``. ``A x + t u`` is the next evaluation's product
    (``takes_product``), so an iteration reads ``A`` twice, like a gradient step.

    Parameters
    ----------
    A : array, shape (n, d)
    b : array, shape (n,)
    p : float, >= 1
    oracle : {"sharp", "paper"}
    norm : float, optional
        ``||A||_2`` if known (computed exactly otherwise).
    """

    takes_probe = True
    takes_product = True

    def __init__(
        self, A: Any, b: Any, p: float, *, oracle: str = "sharp", norm: float | None = None
    ) -> None:
        _init_linear(self, A, b, p, oracle, norm)
        xp = self.xp
        self.row_norms = row_norms(A)
        self.max_row_norm = amax(xp, self.row_norms)
        m = 2 * self.p - 2
        self._m = m
        self._curv = 2 * self.p * (2 * self.p - 1)
        self._row_sq = materialize(self.row_norms * self.row_norms)
        if m > 0:
            self._t2_root = to_float(xp.sum(self.row_norms ** (m + 2))) ** (1.0 / m)
            self._norm_root = self.norm ** (2.0 / m)

    def _bound(self, wmax: float, t0: float | None) -> LocalBound:
        """The local bound from ``max_i |r_i|^m`` and ``T_0 = sum_i ||a_i||^2 |r_i|^m``."""
        m, c = self._m, self._curv
        bound: LocalBound
        if m == 0:
            bound = ConstantBound(2.0 * self.norm**2)
            rmax = wmax**0.5  # (wmax is max r_i^2 here)
        else:
            rmax = wmax ** (1.0 / m)
            if self.oracle == "paper":
                k = c * self.norm**2 * 2 ** (m - 1)
                bound = ConstantBound(k * wmax) + PowerBound(k * self.max_row_norm**m, 0.0, 1.0, m)
            else:
                assert t0 is not None
                k = self._norm_root  # ||A||^(2/m): both terms as c (a + b R)^m
                lines = ((k * rmax, k * self.max_row_norm), (t0 ** (1.0 / m), self._t2_root))
                bound = MinPowerBound(c, lines, m)
        bound.paper_radius = rmax
        return bound

    def value(self, x: Any) -> float:
        r = self.A @ x - self.b
        if self.p == 1.0:
            return sq_norm(r)
        return to_float(self.xp.sum(self.xp.abs(r) ** (2 * self.p)))

    def evaluate(
        self, x: Any, *, bound: bool = True, probe: Any = None, product: Any = None
    ) -> Evaluation:
        xp, p = self.xp, self.p
        # (Dask: one pass over A, kept on the workers; none when the segment gave A x)
        ax = materialize(self.A @ x) if product is None else product
        r = materialize(ax - self.b)
        r2 = r * r
        if p == 1.0:
            w = None
        elif p == 2.0:
            w = r2
        elif p == int(p):
            w = r2 ** int(p - 1)
        else:
            w = xp.abs(r) ** (2 * p - 2)
        grad = materialize((2 * p) * (self.A.T @ (w * r if w is not None else r)))
        # Every scalar of the iteration in one host round trip.
        scalars = [w @ r2 if w is not None else r @ r]
        if bound:
            scalars.append(reduce_max(xp, w if w is not None else r2))
            if self._m > 0 and self.oracle == "sharp":
                scalars.append(self._row_sq @ w)
        values, gnorm, dot = fetch_with_norm(grad, *scalars, probe=probe)
        local = self._bound(values[1], values[2] if len(values) > 2 else None) if bound else None
        return Evaluation(values[0], grad, gnorm, local, dot, ax)

    def segment(self, x: Any, evaluation: Evaluation, direction: Any) -> SegmentBound:
        """Per-row endpoint suprema along ``u = A d`` (see the class docstring)."""
        ax = evaluation.product if evaluation.product is not None else materialize(self.A @ x)
        u = materialize(self.A @ direction)
        slope = evaluation.grad @ direction
        product = materialized_product(ax, u)
        r = materialize(ax - self.b)
        if self._m == 0:  # a quadratic, ||r + s u||^2: C = 2 ||A d||^2, exact
            eps = float(self.xp.finfo(u.dtype).eps)
            n = int(u.shape[0])
            return NormPathSegment(
                1.0, 1.0, r @ r, r @ u, u @ u, slope=slope, terms=n, dtype_eps=eps, product=product
            )
        kernel = power_kernel(self._m, self._curv)
        return RowSegment(r, u, kernel, weight=u * u, scale=1.0, slope=slope, product=product)


class _PaperCompositeBound(LocalBound):
    """The authors' composite bound for ``h(g(x))``, ``g = ||Ax - b||^2``, ``h(t) = t^p``.

    ``c = L_g R + ||grad g(x)||``, ``t = c^2 / (2 mu_g)`` bounds ``g`` on the ball (valid
    only when the system is consistent, ``g* = 0``), and
    ``L = h''(t) c^2 + h'(t) L_g``.
    """

    def __init__(self, p: float, lg: float, mu: float, gg: float) -> None:
        self.p, self.lg, self.mu, self.gg = p, lg, mu, gg

    def __call__(self, radius: float) -> float:
        p = self.p
        c = self.lg * radius + self.gg
        t = 0.5 * c * c / self.mu
        second = p * (p - 1) * t ** (p - 2) if p != 1.0 else 0.0
        return second * c * c + p * t ** (p - 1) * self.lg


class CompositeLeastSquares(Model):
    """``f(x) = (||Ax - b||^2)^p`` for real ``p >= 1``.

    The oracle comes from the calculus: ``f = PowerNorm(p)`` composed with the affine map
    ``x -> Ax - b``, so

    .. math::  L(x, R) = \\|A\\|^2 \\, 2p(2p-1) (\\|Ax - b\\| + \\|A\\| R)^{2p-2}.

    Validity: for every ``A``, ``b`` and ``p >= 1``, consistent system or not (it bounds
    the Hessian norm on the ball directly; no Polyak-Lojasiewicz constant is involved).

    ``oracle="paper"`` is the authors' bound (their code, ``composite_linear_least_squares``)
    with ``L_g = 2 ||A||_F^2`` and ``mu_g = 2 sigma_min(A)``; it is valid only when
    ``b`` is in the range of ``A`` and ``A`` has full column rank. Both use the paper's
    radius ``R0(x) = ||grad g(x)|| = 2 ||A^T (Ax - b)||``.

    Segment bound (:meth:`segment`): along ``d`` the residual moves along ``u = A d``, and
    ``f(x + s d) = ||r + s u||^(2p)``, so :class:`~lfso.segments.NormPathSegment` gives the
    exact supremum of ``d^T H d`` on the segment (``h''`` at the endpoint with the larger
    residual), from ``||r||^2``, ``r . u``, ``||u||^2`` in one round trip; no ``||A||``
    and no consistency assumption. ``A x + t u`` is the next evaluation's product.
    """

    takes_probe = True
    takes_product = True

    def __init__(
        self, A: Any, b: Any, p: float, *, oracle: str = "sharp", norm: float | None = None
    ) -> None:
        _init_linear(self, A, b, p, oracle, norm)
        self._outer = PowerNorm(self.p)
        if oracle == "paper":
            xp = self.xp
            self._lg = 2.0 * to_float(xp.sum(A * A))
            self._mu = 2.0 * to_float(xp.min(xp.linalg.svdvals(A)))

    def value(self, x: Any) -> float:
        return sq_norm(self.A @ x - self.b) ** self.p

    def evaluate(
        self, x: Any, *, bound: bool = True, probe: Any = None, product: Any = None
    ) -> Evaluation:
        p = self.p
        ax = materialize(self.A @ x) if product is None else product
        r = ax - self.b
        atr = self.A.T @ r
        (sq,), atr_norm, atr_dot = fetch_with_norm(atr, r @ r, probe=probe)
        scale = 2 * p * sq ** (p - 1)
        grad = scale * atr
        local: LocalBound | None = None
        if bound:
            if self.oracle == "paper":
                local = _PaperCompositeBound(p, self._lg, self._mu, 2.0 * atr_norm)
            else:
                local = self._outer.bound_from_norm(sq**0.5).stretched(self.norm) * self.norm**2
            local.paper_radius = 2.0 * atr_norm
        dot = None if atr_dot is None else scale * atr_dot
        return Evaluation(sq**p, grad, scale * atr_norm, local, dot, ax)

    def segment(self, x: Any, evaluation: Evaluation, direction: Any) -> SegmentBound:
        """Exact supremum along ``r + s A d`` (see the class docstring)."""
        ax = evaluation.product if evaluation.product is not None else materialize(self.A @ x)
        u = materialize(self.A @ direction)
        r = ax - self.b
        eps = float(self.xp.finfo(u.dtype).eps)
        return NormPathSegment(
            self.p,
            1.0,
            r @ r,
            r @ u,
            u @ u,
            slope=evaluation.grad @ direction,  # all four fetched together on first use
            terms=int(u.shape[0]),
            dtype_eps=eps,
            product=materialized_product(ax, u),
        )
