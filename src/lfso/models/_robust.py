"""Smooth robust regression with the Cauchy (Lorentzian) loss: a non-convex model."""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from .._arrays import (
    constant,
    device,
    error_gamma,
    fetch_with_norm,
    materialize,
    namespace,
    quietly,
    reduce_sum,
    sum_bounds,
    to_float,
)
from .._later import is_ahead
from .._validate import nonnegative, real, regression_data
from ..oracles._segment import SegmentBound
from . import _fused
from ._base import Evaluation, Model
from ._ridge import held_up
from ._rows import (
    RowCurvatureBound,
    RowGeometry,
    fetch_evaluation,
    inf_norm,
    point_inf_norm,
    point_product,
    rounding_scale,
    statistic_margin,
    taken_product,
)
from ._segments import (
    CarriedProduct,
    RowSegment,
    cauchy_kernel,
    materialized_product,
    row_slope,
    slack_weights,
    squared_slack,
)
from ._slope import (
    RowSlope,
    cauchy_derivative,
    gradient_prior,
    on_host,
    prior_constants,
    row_norms_of,
    wide_products,
    wide_row_pads,
)

__all__ = ["CauchyRegression"]


def _rows(xp: Any, ax: Any, b: Any, c2: Any) -> tuple[Any, Any, Any]:
    """``(r, r / (1 + r^2 / c^2), f)`` for ``r = A x - b``, ``f`` the mean loss without
    the ridge: the evaluation's row work, in the generic code's operations and order, as
    one compiled pass on an accelerator (:func:`lfso.models._fused.one_pass`; the mean
    summed in float64, then rounded to the rows' dtype)."""
    r = ax - b
    factor = r / (1.0 + r * r / c2)
    mean = xp.mean(xp.astype(xp.log1p(r * r / c2), xp.float64))
    return r, factor, (0.5 * c2) * xp.astype(mean, ax.dtype)


def _cauchy_peak(inv_c2: float, u: Any) -> Any:
    """``1 / (1 + u^2 / c^2)`` (``inv_c2 = 1 / c^2``): the ball bound's ``h``."""
    return 1.0 / (1.0 + inv_c2 * u * u)


def _quiet_cauchy_peak(inv_c2: float, u: Any) -> Any:
    """:func:`_cauchy_peak` where ``u^2 / c^2`` overflows for some rows (their ``h`` is
    ``1 / inf = 0``, as it should be), without NumPy's warning."""
    return quietly(_cauchy_peak, inv_c2, u)


def _ratio(r: Any, c2: float) -> Any:
    """``r^2 / c^2`` (``c2 = c^2``), ``inf`` where it overflows."""
    return r * r / c2


def _quotient(a: Any, c: float) -> Any:
    """``a / c``, ``inf`` where it overflows."""
    return a / c


class CauchyRegression(Model):
    """``f(x) = (1/n) sum_i rho(a_i^T x - b_i) + (l2/2) ||x||^2`` with the Cauchy loss.

    .. math::  \\rho(t) = \\frac{c^2}{2} \\log\\Big(1 + \\frac{t^2}{c^2}\\Big), \\qquad
               \\rho''(t) = \\frac{1 - t^2/c^2}{(1 + t^2/c^2)^2}.

    Non-convex: ``rho''`` is negative for ``|t| > c``, so large residuals (outliers) pull
    ever less. Oracle: ``|rho''(t)| <= 1 / (1 + t^2/c^2)`` (as ``|1 - u| <= 1 + u``), which
    decreases in ``|t|``; so with residuals ``r_i`` and ``d_i(R) = 1 / (1 + s_i^2 / c^2)``,
    ``s_i = max(0, |r_i| - ||a_i|| R)``,

    .. math::  L(x, R) = \\frac1n \\min\\Big(\\|A\\|^2 \\max_i d_i(R),\\;
                         \\sum_i \\|a_i\\|^2 d_i(R)\\Big) + l_2

    bounds the Hessian's norm on the ball (:class:`~lfso.models._rows.RowCurvatureBound`).

    Segment bound (:meth:`segment`), one-sided (the descent lemma needs only an upper bound
    on ``d^T H d``; negative curvature is allowed), with ``u = A d``: ``d^T H(x + s d) d =
    (1/n) sum_i rho''(r_i + s u_i) u_i^2 + l2 ||d||^2``. As a function of ``w = r^2/c^2``,
    ``rho''`` has derivative ``(w - 3)/(1 + w)^3``: it decreases, then increases, so its
    supremum over an interval of ``|r|`` is at one of the interval's ends, the distance
    ``n_i(t)`` from 0 to ``[r_i, r_i + t u_i]`` or the farther endpoint ``f_i(t)``:

    .. math::  C(t) = \\max\\Big(\\epsilon, \\frac1n \\sum_i \\max(\\rho''(n_i(t)),
               \\rho''(f_i(t))) \\, u_i^2 + l_2 \\|d\\|^2\\Big),

    non-decreasing in ``t`` (suprema over growing intervals); ``epsilon > 0`` (the smallest
    normal float) keeps it positive where the segment's curvature is negative throughout.
    It is never above the ball's bound, which uses ``|rho''|`` on a larger interval. O(n)
    per ``t``, a batch of ``t`` per round trip; ``A x + t u`` is the next product.

    Parameters
    ----------
    A : array, shape (n, d)
    b : array, shape (n,)
    c : float > 0
        Scale of the loss: residuals much larger than ``c`` count as outliers.
    l2 : float >= 0

    Examples
    --------
    >>> import numpy as np, lfso
    >>> A = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    >>> model = lfso.models.CauchyRegression(A, np.array([1.0, 2.0, 2.0]), c=1.0)
    >>> lfso.minimize(model, np.zeros(2)).success
    True
    """

    has_segment = True
    extras = frozenset({"hint", "probe", "product"})
    _has_paper_radius = False
    _transient = Model._transient | {"_slope_constants", "_slope_norms"}

    #: The arrays indexed by the data's rows (what a subset of the rows takes:
    #: :func:`lfso.models._rows.take_rows`).
    row_arrays: tuple[str, ...] = ("A", "b")

    def __init__(self, A: Any, b: Any, c: float = 1.0, *, l2: float = 0.0) -> None:
        self.xp, self.A, self.b = regression_data(A, b)
        self.c = real(c, "c", low=0.0, low_open=True)
        # (the loss and its bounds divide by c^2, in float64 and in the data's dtype, whose
        # r^2 / c^2 would be 0 / 0 at an exact fit or 0 for every row: it must be a normal
        # number of both)
        finfo = self.xp.finfo(self.A.dtype)
        low = max(sys.float_info.min, float(finfo.smallest_normal))
        high = min(sys.float_info.max, float(finfo.max))
        if not (low <= self.c * self.c <= high):
            kind = "float64" if high == sys.float_info.max else str(self.A.dtype)
            raise ValueError(
                f"c must be positive with c^2 a normal {kind.replace('torch.', '')} (about "
                f"{math.sqrt(low):.2g} <= c <= {math.sqrt(high):.2g}), got c={c!r}"
            )
        self.l2 = nonnegative(l2, "l2")
        self.n, self.dim = int(self.A.shape[0]), int(self.A.shape[1])
        self.geometry = RowGeometry(self.A)
        self._b_max = to_float(self.xp.max(self.xp.abs(self.b))) if self.n else 0.0
        inv_c2 = 1.0 / (self.c * self.c)
        self._kernel = cauchy_kernel(inv_c2, self.geometry.unit)  # the segment's
        self._peak = functools.partial(_cauchy_peak, inv_c2)

    @property
    def data(self) -> Any:
        """``A``."""
        return self.A

    def value(self, x: Any) -> float:
        return self._value_product(x)[0]

    def _value_product(self, x: Any) -> tuple[float, Any]:
        self._check_point(x)
        # (evaluate's value, bit for bit: the same rows and sums, no gradient)
        ax = materialize(self._product(x))
        rows = self._fused_rows(ax)
        if rows is not None:
            r, mean = rows[0], rows[2]
        else:
            r = materialize(ax - self.b)
            # (r^2 / c^2 may overflow here with NumPy's warning: the errstate that silences
            # it in evaluate, where it replaces a pass, would cost this call about 10%;
            # other libraries' chunks or kernels, quietly, at no cost)
            ratios = r * r / self.c**2 if type(r) is np.ndarray else self._ratios(r)
            mean = self._mean_loss(ratios)
        value = to_float(self._value(x, mean))
        if value == math.inf:
            value = to_float(self._value(x, self._wide_mean(r)))
        return value, CarriedProduct(ax)

    def _fused_rows(self, ax: Any) -> tuple[Any, Any, Any] | None:
        """``(r, r / (1 + r^2 / c^2), f)`` from ``ax = A x`` in one compiled pass on an
        accelerator (:func:`_rows`), or ``None`` where none runs."""
        if not _fused.usable(ax):
            return None
        xp = namespace(ax)  # (c^2 made once)
        c2 = xp.reshape(constant(xp, (self.c**2,), ax.dtype, device(ax)), ())
        return _fused.one_pass(_rows, ax, self.b, c2)

    def value_error(self, x: Any, evaluation: Evaluation) -> float:
        """A bound on the rounding of ``evaluation.value``, the computed ``f(x)``.

        Each computed residual is within ``delta = gamma_{d+4} (alpha ||x||_inf + max_i
        |b_i|) + drift`` of the exact one (as for :meth:`segment`), and ``(d + 1)`` smallest
        subnormals more for gradual underflow; ``|rho'(t)| = |t| / (1 + t^2/c^2) <= c / 2``,
        so the mean of the losses moves by at most ``c delta / 2``. Every term of ``f``
        (the losses, the ridge's squares) is non-negative and within a few ulps of its
        computed value, and the sums within ``gamma_{n+d+4}``: with ``P = 1 +
        gamma_{n+d+16}``, the computed ``F`` is within ``(P - 1) / (2 - P) F`` (``P (P - 1)
        F`` where ``P >= 2``: :func:`lfso._arrays.sum_bounds`) of the exact sum of the
        computed terms, and each of the ``n + d`` terms may lose a smallest
        normal number to underflow (scaled by at most ``max(c^2, l2)``). So ``|F - f(x)| <=
        (P - 1) / (2 - P) F + c delta / 2 + (n + d) tiny max(1, c^2, l2)``, padded by ``1e-9``
        relative for its own float64 roundings.
        """
        g = self.geometry
        drift, xmax = rounding_scale(evaluation, x)
        d = int(self.A.shape[1])
        lost = (d + 1) * g.square_lost
        delta = g.gamma_d * (g.alpha * xmax + self._b_max) + drift + lost
        pad = 1.0 + error_gamma(self.n + d + 16, self.A.dtype)
        value = abs(float(evaluation.value))
        underflow = (self.n + d) * g.tiny * max(1.0, self.c * self.c, self.l2)
        spread = sum_bounds(pad)[0]  # ((P - 1) / (2 - P) below P = 2; any P: sum_bounds)
        if not spread < math.inf:  # (P = inf: gamma_k past float64)
            return math.inf
        return (spread * value + 0.5 * self.c * delta + underflow) * (1.0 + 1e-9)

    def _quiet_peak(self) -> Callable[[Any], Any]:
        """The ball bound's ``h`` without NumPy's overflow warning."""
        return functools.partial(_quiet_cauchy_peak, *self._peak.args)

    def _ratios(self, r: Any) -> Any:
        """``r^2 / c^2``; a row whose ratio overflows gives ``inf`` without a warning (its
        loss and gradient are taken again once ``f`` comes out ``inf``: see
        :meth:`_finite_value`)."""
        return quietly(_ratio, r, self.c**2)

    def _mean_loss(self, w: Any) -> Any:
        """``(c^2/2) mean_i log(1 + w_i)`` for ``w = r^2 / c^2`` (:meth:`_value`'s)."""
        return (0.5 * self.c**2) * self.xp.mean(self.xp.log1p(w))

    def _value(self, x: Any, mean: Any) -> Any:
        """``f`` as a 0-d array (left on the device until the caller fetches it) from the
        mean loss ``mean`` (:meth:`_mean_loss`, :meth:`_wide_mean`, or a compiled pass's)."""
        return mean + (0.5 * self.l2) * reduce_sum(self.xp, x * x) if self.l2 else mean

    def _wide_mean(self, r: Any) -> Any:
        """``(c^2/2) mean_i log(1 + r_i^2/c^2)`` where ``r_i^2`` overflows the dtype (a
        residual of 1e20 in float32, with ``c = 1``), though each loss is finite: such rows
        as ``2 log(|r_i| / c) + log1p((c / r_i)^2)`` (``|r_i| > c``: nothing overflows;
        ``log |r_i| - log c`` where ``|r_i| / c`` itself does), the others as
        :meth:`_value` takes them."""
        xp, c = namespace(r), self.c
        q = quietly(_ratio, r, c**2)  # (the overflows this replaces)
        kept = q < math.inf
        size = xp.where(kept, xp.ones_like(r), xp.abs(r))  # (no log of 0 elsewhere)
        ratio = quietly(_quotient, size, c)
        logs = xp.where(ratio < math.inf, xp.log(ratio), xp.log(size) - math.log(c))
        wide = 2.0 * logs + xp.log1p((c / size) ** 2)
        return (0.5 * c**2) * xp.mean(xp.where(kept, xp.log1p(q), wide))

    def _finite_value(
        self,
        r: Any,
        x: Any,
        probe: Any = None,
        grad: Any = None,
        local: RowCurvatureBound | None = None,
    ) -> Callable[[Evaluation], None]:
        """What runs once an evaluation's ``f`` is on the host: an ``f`` of ``inf`` is taken
        again by :meth:`_wide_mean` (``inf`` then only past the range of ``f`` itself), and
        so is the gradient ``grad``, by :meth:`_wide_gradient`, unless the evaluation is on
        its way from a device (:func:`lfso._later.ahead`: its gradient is in use already);
        the ball bound ``local``'s ``h`` then overflows where ``r^2 / c^2`` did, to the
        right ``h = 0``, without a warning (elsewhere, it takes the plain ``h`` back).
        """
        wide_grad = grad is not None and (type(grad) is np.ndarray or not is_ahead(grad))

        def then(evaluation: Evaluation) -> None:
            wide = evaluation.value == math.inf
            if wide:
                evaluation.value = to_float(self._value(x, self._wide_mean(r)))
                if wide_grad:
                    self._wide_gradient(evaluation, r, x, probe)
            if local is not None:  # (quiet only where it overflows: see evaluate)
                local.peak = self._quiet_peak() if wide else self._peak

        return then

    def _wide_gradient(self, evaluation: Evaluation, r: Any, x: Any, probe: Any) -> None:
        """The gradient again where ``r_i^2 / c^2`` overflows (the rows :meth:`_wide_mean`
        takes): there ``r / (1 + r^2 / c^2)`` is ``r / inf = 0``, though it is ``c / (q +
        1/q)``, ``q = r / c``, of size ``c^2 / |r|`` (``1e40`` for ``c = 1e100`` and ``r =
        1e160``, whose ``r^2`` alone overflows). Those rows take that form (``|q| >= 1``:
        no division by 0), the others their own, bit for bit."""
        xp, c = namespace(r), self.c
        w = quietly(_ratio, r, c**2)  # (the overflows this replaces)
        kept = w < math.inf
        q = xp.where(kept, xp.ones_like(r), quietly(_quotient, r, c))
        factor = xp.where(kept, r / (1.0 + w), c / (q + 1.0 / q))
        grad = (self.A.T @ factor) / self.n
        if self.l2:
            grad = grad + self.l2 * x
        grad = materialize(grad)
        fetched = fetch_with_norm(grad, probe=probe)
        evaluation.grad, evaluation.grad_norm = grad, fetched.grad_norm
        if probe is not None:
            evaluation.probe_dot = fetched.probe_dot

    def evaluate(
        self,
        x: Any,
        *,
        bound: bool = True,
        hint: float | None = None,
        probe: Any = None,
        product: Any = None,
    ) -> Evaluation:
        self._check_point(x)
        xp = namespace(x)
        # (Dask: kept on the workers, A read once; not at all when the segment gave A x)
        x_inf = point_inf_norm(x, product)  # (the drift budget's scale)
        ax, drift = taken_product(product, lambda: self._product(x), x_inf, self.geometry.drift)
        rows = self._fused_rows(ax)  # (one compiled pass on an accelerator)
        if rows is not None:
            r, factor, mean = rows
        else:
            r = materialize(ax - self.b)
            w = self._ratios(r)  # (once, for the gradient and f)
            factor, mean = r / (1.0 + w), self._mean_loss(w)
        grad = (self.A.T @ factor) / self.n
        if self.l2:
            grad = grad + self.l2 * x
        grad = materialize(grad)
        local = None
        if bound:
            # |r_i| lowered by its rounding error (float32 included): see _rows.
            stats = xp.abs(r)
            margin = statistic_margin(self.geometry, x, stats, xp.abs(self.b)) + drift
            stats = materialize(stats - margin)
            # (the hinted radius's bound is taken before f says whether r^2 / c^2 overflowed)
            peak = self._peak if hint is None else self._quiet_peak()
            local = RowCurvatureBound(self.geometry, stats, peak, 1.0 / self.n, self.l2)
        value = self._value(x, mean)
        # (the segment at x reads r again)
        return fetch_evaluation(
            grad,
            value,
            local,
            hint,
            probe,
            (ax, drift, x_inf),
            r,
            self._finite_value(r, x, probe, grad, local),
        )

    def segment(self, x: Any, evaluation: Evaluation, direction: Any) -> SegmentBound:
        """One-sided endpoint suprema of ``rho''`` (see the class docstring)."""
        xp, g = self.xp, self.geometry
        ax, drift, xmax = point_product(evaluation.product, x, lambda: self.A @ x)
        r = getattr(evaluation.product, "rows", None)  # (the evaluation's r = A x - b)
        u = materialize(self.A @ direction)
        dmax = inf_norm(direction)
        # Rows' rounding: |r_i - exact| <= gamma_d (alpha ||x||_inf + max |b|) + drift,
        # |u_i - exact| <= gamma_d alpha ||d||_inf (the kernel widens by delta + t eps).
        delta = g.gamma_d * (g.alpha * xmax + self._b_max) + drift
        eps = g.gamma_d * g.alpha * dmax
        carry = g.drift.carry(drift, xmax, dmax, evaluation.product)
        # (|u| + eps)^2; on NumPy its sum by reduce_sum below, as the magnitude's
        if type(u) is np.ndarray:
            weight, weight_sum = squared_slack(xp, u, eps, g.alpha * dmax), None
        else:
            weight, weight_sum = slack_weights(xp, u, eps, g.alpha * dmax)
        offset: Any = 0.0
        if self.l2:
            lost = math.prod(direction.shape) * g.square_lost  # (the squares' underflow)
            factor = held_up(self.l2 * g.offset_pad, xp, direction.dtype)  # (ridge: held up)
            offset = factor * (reduce_sum(xp, direction * direction) + lost)
        slope, pair = row_slope(evaluation.grad, direction)
        if r is None:
            r = materialize(ax - self.b)
        segment = RowSegment(
            r,
            u,
            self._kernel,
            weight=weight,
            scale=1.0 / self.n,
            offset=offset,
            slope=slope,
            product=materialized_product(ax, u, carry),
            # |rho''| <= 1: the weights' sum bounds the sum of |terms|
            magnitude=reduce_sum(xp, weight) if weight_sum is None else weight_sum,
            slack=(delta, eps),
            weight_sum=weight_sum,
        ).lazy_slope(pair)
        segment.slope_check = self._slope_check(
            x, r, u, direction, (delta, eps, dmax, xmax), evaluation
        )
        return segment

    def _slope_check(
        self,
        x: Any,
        r: Any,
        u: Any,
        direction: Any,
        pads: tuple[Any, Any, Any, Any],
        evaluation: Evaluation,
    ) -> RowSlope | None:
        """The exact slope along ``direction`` bounded from the segment's rows
        (:mod:`lfso.models._slope`, :func:`~lfso.models._slope.cauchy_derivative`), on
        NumPy rows with host pads; ``None`` elsewhere.

        A priori (:func:`lfso.models._slope.gradient_prior`): the gradient's row factor
        ``f_i = fl(r_i / (1 + r_i^2 / c^2))`` (or ``c / (q + 1/q)``, ``q = r_i / c``, where
        ``r_i^2`` overflows) is within ``16 u |f_i| + 4 eta`` of ``l'(r_i)`` (four or five
        operations, ``l'``'s relative sensitivity to each at most 1; ``eta`` the smallest
        subnormal, for underflow), and ``l'(r_i)`` within ``delta`` of ``l'(r*_i)``
        (``|l''| <= 1``); ``A^T f`` sums ``n`` products: ``row_error = (gamma_n + 16 u)
        sum_i |f_i| + n (4 eta + delta)``. The sum of the factors follows from ``f``:
        ``|l'(t)| <= min(c/2, sqrt(2 l(t)))`` (``w / (1 + w)^2 <= log(1 + w)`` for ``w =
        t^2 / c^2``), so by Cauchy-Schwarz ``sum_i |l'(r*_i)| <= n min(c/2, sqrt(2 f(x)))``
        and ``f(x) <= F + E`` (``F`` the computed ``f``, ``E`` :meth:`value_error`'s bound,
        whose ``delta`` is the segment's); ``|f_i| <= (1 + 16 u) (|l'(r*_i)| + delta) + 4
        eta``.
        """
        delta, eps, dmax, xmax = pads
        if not on_host(pads, r, u, x):
            return None
        # (the rows' underflow, as in value_error)
        delta = delta + (int(self.A.shape[1]) + 1) * self.geometry.square_lost
        prior = self._prior(delta, dmax, xmax, evaluation)
        return RowSlope(
            r,
            u,
            delta=delta,
            eps=eps,
            derivative=(cauchy_derivative, (self.c,)),
            divisor=float(self.n),
            prior=prior,
            ridge=(self._slope_ridge, x, direction) if self.l2 else None,
            refine=(self._wide_rows, (x, direction, xmax, dmax)),
        )

    def _prior(self, delta: float, dmax: float, xmax: float, evaluation: Evaluation) -> float:
        """:meth:`_slope_check`'s a-priori bound on ``|s* - fl(g . d)|`` (no row read), for
        rows within ``delta`` of the exact ones (their underflow included)."""
        g, n, dim = self.geometry, self.n, int(self.A.shape[1])
        held = self.__dict__.get("_slope_constants")
        if held is None or held[0] is not g:
            pad = 1.0 + error_gamma(n + dim + 16, self.A.dtype)
            constants = prior_constants(g.unit, dim, g.alpha, n, self.l2)
            held = (g, error_gamma(n, self.A.dtype), pad, constants)
            self.__dict__["_slope_constants"] = held
        _, gamma_n, pad, constants = held
        value = abs(float(evaluation.value))
        lost = (n + dim) * g.tiny * max(1.0, self.c * self.c, self.l2)
        top = (sum_bounds(pad)[0] * value + 0.5 * self.c * delta + lost) * (1.0 + 1e-9)
        size = min(0.5 * self.c, math.sqrt(2.0 * (value + top)) * (1.0 + 1e-9))
        factors = (1.0 + 16.0 * g.unit) * n * (size + delta) + 4.0 * n * g.square_lost
        row_error = (gamma_n + 16.0 * g.unit) * factors + n * (4.0 * g.square_lost + delta)
        return gradient_prior(constants, dmax, row_error, evaluation.grad_norm, xmax)

    def _slope_prior(self, x: Any, evaluation: Evaluation, direction: Any) -> float | None:
        """The a-priori bound on ``|s* - fl(g . d)|`` that :meth:`segment`'s slope check
        along ``direction`` states (:mod:`lfso.models._slope`), with no pass over the
        rows; ``None`` where the segment states no slope check (rows not NumPy arrays:
        PyTorch CPU tensors included, whose evaluation and segment are PyTorch's, this
        model keeping no NumPy twin, :mod:`lfso.models._host`). For certificates that do
        not take the segment otherwise (the ball's), which then take it only where this
        bound does not settle the step."""
        if type(x) is not np.ndarray or type(direction) is not np.ndarray:
            return None
        ax, drift, xmax = point_product(evaluation.product, x, lambda: self.A @ x)
        g = self.geometry
        dmax = inf_norm(direction)
        delta = g.gamma_d * (g.alpha * xmax + self._b_max) + drift
        if not on_host((delta, dmax, xmax), ax, x):
            return None
        delta = delta + (int(self.A.shape[1]) + 1) * g.square_lost
        return self._prior(delta, dmax, xmax, evaluation)

    def _slope_ridge(self) -> float:
        """The ridge's weight ``l2`` as the slope bound reads it."""
        return float(self.l2)

    def _wide_rows(
        self, x: np.ndarray, v: np.ndarray, xmax: float, vmax: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(r, u, delta, eps)``: ``A x - b`` and ``A v`` made again in float64, with
        per-row rounding bounds from the rows' 1-norms and ``|b_i|``
        (:func:`lfso.models._slope.wide_products`, ``wide_row_pads``)."""
        norms, alpha, dim = row_norms_of(self, self.A), self.geometry.alpha, int(self.A.shape[1])
        z, u = wide_products(self.A, x, v)
        b = np.asarray(self.b, dtype=np.float64)
        pad = wide_row_pads(norms, alpha, xmax, dim, np.abs(b))
        return z - b, u, pad, wide_row_pads(norms, alpha, vmax, dim)
