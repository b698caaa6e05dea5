"""Regression losses on a linear model: ``l_2p`` regression and composite least squares."""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from .._arrays import (
    Fetched,
    amax,
    error_gamma,
    fetch_with_norm,
    materialize,
    materialize_all,
    operator_norm,
    quiet_dot,
    reduce_max,
    row_norms,
    sum_bounds,
    to_float,
    to_floats,
    to_numpy,
)
from .._later import is_ahead
from .._validate import matrix_norm, power, regression_data
from ..oracles._bounds import (
    ConstantBound,
    LocalBound,
    MinBound,
    MinPowerBound,
    PowerBound,
    proven_constant,
    rounded_up,
)
from ..oracles._segment import SegmentBound
from . import _compiled, _fused
from ._base import Evaluation, Model, fetched_evaluation
from ._device_slope import PowerSlope, refine_from_now, refining
from ._host import device_product, host_twin
from ._power import (
    PowerNorm,
    _norm_powers,
    _norm_scale,
    _power_or_inf,
    _scaled,
    _zeros_kept,
    split_factor,
)
from ._rows import (
    ProductDrift,
    inf_norm,
    point_inf_norm,
    point_product,
    rounding_scale,
    taken_product,
)
from ._segments import (
    _PLAIN_HIGH,
    _PLAIN_LOW,
    CarriedProduct,
    NormPathSegment,
    RowSegment,
    _host_dot,
    materialized_product,
    power_kernel,
    row_slope,
    slack_weights,
    weight_floor,
)
from ._slope import (
    RowSlope,
    fresh_pads,
    gradient_prior,
    on_host,
    power_derivative,
    prior_constants,
    row_norms_of,
    wide_products,
    wide_row_pads,
)

__all__ = ["CompositeLeastSquares", "LpRegression"]


def _check_oracle(oracle: str) -> str:
    if oracle not in ("sharp", "paper"):
        raise ValueError(f"oracle must be 'sharp' or 'paper', got {oracle!r}")
    return oracle


class _LinearModel(Model):
    """A model of the residual ``Ax - b``: the validated data, power, oracle choice and ``||A||``.

    Attributes
    ----------
    xp : module
        The array namespace of ``A``.
    A : array, shape (n, d)
    b : array, shape (n,)
        On ``A``'s device and in its dtype.
    p : float
        The power, ``>= 1``.
    oracle : {"sharp", "paper"}
    dim : int
        ``d``.
    norm : float
        ``||A||_2`` (given, or computed exactly).
    row_norms : array, shape (n,)
        ``||a_i||``, padded by their rounding; ``max_row_norm`` their largest.
    """

    xp: Any
    A: Any
    b: Any
    p: float
    oracle: str
    dim: int
    norm: float

    #: The arrays indexed by the data's rows (what a subset of the rows takes:
    #: :func:`lfso.models._rows.take_rows`).
    row_arrays: tuple[str, ...] = ("A", "b")
    _transient = Model._transient | {"_slope_constants", "_slope_norms", "_slope_history"}

    def __init__(
        self, A: Any, b: Any, p: float, *, oracle: str = "sharp", norm: float | None = None
    ) -> None:
        self.xp, self.A, self.b = regression_data(A, b)
        self.p = power(p)
        self.oracle = _check_oracle(oracle)
        self.dim = d = int(self.A.shape[1])
        if norm is None:  # (first: a scale past float64's range raises here, naming A)
            self.norm = operator_norm(self.A)
        # Row norms padded by their rounding (a sum of d squares and a square root), and a
        # carried product's drift, with alpha = sqrt(d) max_i ||a_i|| >= max_i ||a_i||_1.
        pad = 1.0 + error_gamma(d + 4, self.A.dtype)
        self.row_norms = materialize(row_norms(self.A) * pad)
        if norm is not None:  # (a user's constant, checked only against lower bounds:
            # the ball bound rests on it, so the loop audits it and the safeguard applies)
            self.norm = matrix_norm(norm, self.A, self.row_norms)
            self.audit_oracle = True
            self._oracle_advice = (
                "the stated norm= may be below ||A||_2, on which the oracle's bound rests: "
                "leave norm=None (the default computes ||A||_2)"
            )
        self.max_row_norm = amax(self.xp, self.row_norms) if self.A.shape[0] else 0.0
        self._alpha = float(d) ** 0.5 * self.max_row_norm
        self._drift = ProductDrift(self._alpha, d, self.A.dtype)
        # What a row of A x - b or of A d may lose to gradual underflow besides its
        # relative rounding: each of its d products up to half the smallest subnormal
        # number (tiny eps; Higham, Section 2.1), and the subtraction of b nothing more.
        finfo = self.xp.finfo(self.A.dtype)
        self._tiny = float(finfo.smallest_normal)
        self._lost = (d + 1) * self._tiny * float(finfo.eps)

    @property
    def data(self) -> Any:
        """``A``."""
        return self.A


class LpRegression(_LinearModel):
    """``l_2p`` regression: ``f(x) = sum_i (a_i^T x - b_i)^(2p)`` for real ``p`` in ``[1, 2^22]``.

    With residuals ``r = Ax - b`` and ``m = 2p - 2``, ``Hess f(y) = A^T W(y) A`` where
    ``W(y) = diag(2p(2p-1) |r_i(y)|^m)``, and on ``B(x, R)``,
    ``|r_i(y)| <= |r_i| + ||a_i|| R``. Hence (``oracle="sharp"``)

    .. math::
        L(x, R) = 2p(2p-1) \\min\\Big( \\|A\\|^2 (\\max_i |r_i| + \\max_i \\|a_i\\| R)^m,
                  \\; \\big(T_0^{1/m} + T_2^{1/m} R\\big)^m \\Big),
        \\quad T_0 = \\sum_i \\|a_i\\|^2 |r_i|^m, \\; T_2 = \\sum_i \\|a_i\\|^{m+2}.

    for ``m >= 1``, and for ``0 < m < 1`` (``1 < p < 1.5``) the second term is
    ``T_0 + T_2 R^m`` instead.

    The first term is ``||A^T W A|| <= ||A||^2 max_i W_ii``. The second bounds the trace,
    ``||A^T W A|| <= sum_i W_ii ||a_i||^2 <= 2p(2p-1) sum_i ||a_i||^2 (|r_i| + ||a_i|| R)^m``.
    For ``m >= 1`` Minkowski's inequality in the weighted ``l_m`` norm (weights
    ``||a_i||^2``) splits the sum: ``(sum_i w_i (s_i + t_i R)^m)^(1/m) <=
    (sum_i w_i s_i^m)^(1/m) + R (sum_i w_i t_i^m)^(1/m)``. For ``0 < m < 1`` that
    inequality reverses (``l_m`` is not a norm: with ``A = [[1], [1]]``, ``b = [-1, 0]``,
    ``p = 1.25``, ``x = 0``, ``R = 0.125`` it under-estimated the Hessian by 13%), and the
    subadditivity of the concave ``t^m``, ``(s + tR)^m <= s^m + t^m R^m``, gives
    ``T_0 + T_2 R^m`` instead.

    Rounding: the residuals, row norms and sums are computed in the data's dtype. A
    residual ``fl(a_i^T x - b_i)`` is within ``delta_i = gamma_{d+1} (||a_i||_1 ||x||_inf
    + |b_i|) <= gamma (sqrt(d) ||a_i|| ||x||_inf + |b_i|)`` of the exact one (Higham,
    Lemma 3.1; :func:`lfso._arrays.error_gamma`), so the bound uses ``|r_i| + delta_i``;
    row norms, powers and sums of non-negative terms are padded by their own ``gamma_k``,
    and ``||A||`` by :func:`lfso._arrays.operator_norm`. In float64 that moves the bound
    by about 1e-14 (relative); in float32 it is what keeps the bound above the Hessian
    far from the data (``|x| ~ 5e7``, near-parallel rows: up to 7% below it without).
    Underflow: each power loses at most ``(2 ceil(m) + 8) eta / 2`` besides its relative
    rounding (``eta`` the dtype's smallest subnormal number; a chain of products of
    factors below 1, or one ``pow``), and each of ``T_0``'s products ``eta / 2`` more, so
    ``max_i |r_i|^m`` gains ``(2 ceil(m) + 8) eta``, ``T_0`` that times ``n max_i
    ||a_i||^2`` plus ``n eta``, and ``T_2`` ``n (2 ceil(m) + 8) eta`` (a float32 ``|r|^4 =
    1e-48`` is 0, while ``||A||^2 |r|^4`` may be far above the float64 range's floor). A
    power whose exponent the array library rounds to the dtype (NumPy takes a float32
    ``s ** m`` with ``m`` in float32) is padded by that rounding's effect
    (:func:`_exponent_pad`), the segment's coefficient too.

    Both terms need one reduction each over the padded residuals ``s_i``, so the oracle
    adds a few O(n) passes and no product with ``A``; any radius then costs O(1).

    ``oracle="paper"`` is the authors' bound (their code, ``linear_regression``):
    ``2p(2p-1) ||A||^2 k_m (max_i r_i^m + max_i ||a_i||^m R^m)`` with
    ``k_m = max(1, 2^(m-1))`` (:func:`lfso.models._power.split_factor`: the authors'
    ``2^(2p-3)`` for ``p >= 1.5``, but 1 for ``1 < p < 1.5``, where ``2^(m-1) < 1`` would
    under-estimate), and ``2 ||A||^2`` for ``p = 1``; the first sharp term is never
    larger, since ``(a + b)^m <= k_m (a^m + b^m)``. Both use the paper's radius
    ``R0(x) = ||Ax - b||_inf`` for ``radius="paper"``.

    Segment bound (:meth:`segment`), with ``u = A d``: ``d^T H(x + s d) d =
    2p(2p-1) sum_i |r_i + s u_i|^m u_i^2``, and ``|r_i + s u_i|`` is convex in ``s``, so each
    term is largest at an endpoint of ``[0, t]``:

    .. math::  C(t) = 2p(2p-1) \\sum_i \\max(|r_i|, |r_i + t u_i|)^m u_i^2,

    non-decreasing in ``t`` and never above the ball's ``2p(2p-1) sum_i (|r_i| +
    ||a_i|| t ||d||)^m u_i^2``-type bounds (``|u_i| <= ||a_i|| ||d||``). O(n) per ``t``, a
    batch of ``t`` per round trip (:class:`~lfso.models._segments.RowSegment`); for ``p = 1`` it is
    the exact constant ``2 ||A d||^2``. ``A x + t u`` is the next evaluation's product
    (``"product"`` in ``extras``), so an iteration reads ``A`` twice, like a gradient step.
    Its rounding: each ``r_i`` and ``u_i`` is widened by its error bound (``delta``,
    ``eps``), each with ``(d + 1) eta`` more for gradual underflow (``eta`` the smallest
    subnormal number: each of a row's ``d`` products may lose up to ``eta / 2``
    absolutely, which ``|r|^m`` with ``m < 1`` magnifies at a subnormal residual), and
    each weight ``(|u_i| + eps)^2`` is kept a normal number
    (:func:`~lfso.models._segments.weight_floor`: a weight rounded to 0 would drop its
    row beside a kernel ``|r_i|^m`` of any size).

    Parameters
    ----------
    A : array, shape (n, d)
    b : array, shape (n,)
    p : float, in [1, 2^22]
    oracle : {"sharp", "paper"}
    norm : float, optional
        An upper bound on ``||A||_2`` if known (computed exactly otherwise); a value below
        ``max_i ||a_i||`` or ``||A||_F / sqrt(min(n, d))`` raises, and so does one whose
        square overflows float64 (above ``1.34e154``). Only these lower
        bounds are checked, so a stated norm makes the ball bound a user's oracle
        (:attr:`~lfso.models.Model.audit_oracle` true): the loop audits it and the
        safeguard guards the steps it sizes, and a norm too small ends the run with a
        status naming the oracle instead of steps that make ``f`` rise. The segment bound
        (``certificate="auto"``'s choice) does not read it and stays proven.

    Examples
    --------
    >>> import numpy as np, lfso
    >>> A = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    >>> model = lfso.models.LpRegression(A, np.array([1.0, 2.0, 2.0]), p=1)
    >>> res = lfso.minimize(model, np.zeros(2))
    >>> res.success, np.round(res.x, 6).tolist()
    (True, [1.0, 1.0])
    >>> round(model(np.zeros(2), 1.0), 6)  # the oracle: L(x, R) at x = 0, R = 1
    10.605551
    """

    has_segment = True
    _segment_proven = True  # (no ||A||: a norm= given leaves it proven)
    extras = frozenset({"probe", "product"})

    def __init__(
        self, A: Any, b: Any, p: float, *, oracle: str = "sharp", norm: float | None = None
    ) -> None:
        super().__init__(A, b, p, oracle=oracle, norm=norm)
        xp, A = self.xp, self.A
        n, d = int(A.shape[0]), int(A.shape[1])
        m = 2 * self.p - 2
        # Rounding pads (see the class docstring): a power of a padded residual loses at
        # most (2 ceil(m) + 8) ulps.
        self._m = m
        self._curv = 2 * self.p * (2 * self.p - 1)
        # (the segment's, built once; its coefficient padded past the rounding of the
        # exponent m to the data's dtype, where the powers are taken: _exponent_pad)
        exponent = _exponent_pad(m, A.dtype, xp)
        coef = self._curv if exponent == 1.0 else rounded_up(self._curv * exponent, 1.0)
        self._kernel = power_kernel(m, coef)
        # The ball bound's leading factor, rounded up past every host rounding of the
        # bound's parameters (they all carry it): products and powers, 5 m + 12 ulps of
        # relative error in its value; and a power x^e of a float x >= 0 whose exponent e
        # (2 / m, 1 / m) is a relative u off changes by |ln x| e u, raised to the line's
        # power m: at most 2 * 745 u for each of ||A||, max w, T_0 and T_2.
        self._curv_up = rounded_up(self._curv, 5.0 * m + 12.0 + 4 * 1490.0)
        self._root_n = float(n) ** 0.5
        self._row_sq = materialize(self.row_norms * self.row_norms)
        self._residual_gamma = error_gamma(d + 4, A.dtype)
        self._sqrt_d = float(d) ** 0.5
        self._abs_b = materialize(xp.abs(self.b))
        # Row-wise rounding of r = fl(A x - b) and u = fl(A d), as scalars for the segment:
        # gamma (alpha ||x||_inf + max |b_i|) and gamma alpha ||d||_inf.
        self._b_max = amax(xp, self._abs_b) if n else 0.0
        power_ulps = 2 * int(-(-m // 1)) + 8
        self._pad_max = (1.0 + error_gamma(power_ulps, A.dtype)) * exponent
        self._pad_sum = (1.0 + error_gamma(power_ulps + 4, A.dtype)) * (
            1.0 + error_gamma(n + 2, A.dtype)
        )
        pad_t2 = self._pad_sum * _exponent_pad(m + 2, A.dtype, xp)
        self._pad_sum *= exponent
        # What underflow takes from the statistics besides their relative rounding (class
        # docstring): up to power_ulps eta / 2 from each power, and eta / 2 from each of
        # T_0's products, whose weights ||a_i||^2 magnify the first.
        eta = self._tiny * float(xp.finfo(A.dtype).eps)
        self._max_lost = power_ulps * eta
        self._sum_lost = (power_ulps * n * eta * self.max_row_norm) * self.max_row_norm + n * eta
        if m > 0:
            with np.errstate(over="ignore"):  # (inf: the minimum keeps the spectral line)
                t2 = to_float(xp.sum(self.row_norms ** (m + 2))) * pad_t2
            self._t2 = t2 + n * power_ulps * eta  # (each power's underflow)
        if m >= 1.0:  # (the lines c (a + b R)^m; for m < 1, 1 / m would overflow them)
            self._t2_root = self._t2 ** (1.0 / m)
            self._norm_root = self.norm ** (2.0 / m)

    def _bound(self, wmax: float, t0: float | None) -> LocalBound:
        """The local bound from ``max_i |r_i|^m`` and ``T_0 = sum_i ||a_i||^2 |r_i|^m``."""
        m, c = self._m, self._curv_up  # (rounded up: see __init__)
        bound: LocalBound
        if m == 0:
            bound = proven_constant(rounded_up(2.0 * self.norm**2, 1.0))
            rmax = wmax**0.5  # (wmax is max r_i^2 here)
        else:
            rmax = wmax ** (1.0 / m)
            if self.oracle == "paper" and (k := self._paper_constant()) < math.inf:
                power = _power_or_inf(self.max_row_norm, m)
                row = k * power
                # (k ||a_i||^m R^m as k (||a_i|| R)^m where k ||a_i||^m overflows: no inf * 0;
                # and where ||a_i||^m or k ||a_i||^m underflows, whose loss R^m would magnify)
                wide = row == math.inf or min(power, row) < sys.float_info.min
                rows = PowerBound(k, 0.0, self.max_row_norm, m) if wide else None
                bound = ConstantBound(k * wmax) + (rows or PowerBound(row, 0.0, 1.0, m))
            elif self.oracle == "paper":  # k past the float range: k_m t^m = (2 t)^m / 2
                half = 0.5 * c * self.norm**2  # (2 t exact; the powers one ulp each, 4 u)
                peak = rounded_up(half * _power_or_inf(2.0 * rmax, m), 2.0 * m + 6.0)
                rows = PowerBound(rounded_up(half, 2.0), 0.0, 2.0 * self.max_row_norm, m)
                bound = ConstantBound(peak) + rows
            elif m >= 1.0:
                assert t0 is not None
                k = self._norm_root  # ||A||^(2/m): both terms as c (a + b R)^m
                lines = ((k * rmax, k * self.max_row_norm), (t0 ** (1.0 / m), self._t2_root))
                bound = MinPowerBound(c, lines, m)
            else:  # 0 < m < 1: no Minkowski; (s + t R)^m <= s^m + t^m R^m instead
                assert t0 is not None
                spectral = PowerBound(c * self.norm**2, rmax, self.max_row_norm, m)
                trace = ConstantBound(c * t0) + PowerBound(c * self._t2, 0.0, 1.0, m)
                bound = MinBound((spectral, trace))
        bound.paper_radius = rmax
        return bound

    def _paper_constant(self) -> float:
        """``k = c ||A||^2 k_m`` of ``oracle="paper"``; ``inf`` past the float64 range
        (``k_m = 2^(m-1)`` is from ``m = 1025``, ``p > 513.5``)."""
        m = self._m
        return self._curv_up * self.norm**2 * split_factor(m) if m < 1025.0 else math.inf

    def value(self, x: Any) -> float:
        return self._value_product(x)[0]

    def _value_product(self, x: Any) -> tuple[float, Any]:
        self._check_point(x)
        host = None if type(x) is np.ndarray else host_twin(self, x)
        if host is not None:  # a CPU tensor: the NumPy code on views (models._host)
            return host.value_product(x)
        # (evaluate's sum, bit for bit: the same rows and the same operations, no gradient)
        ax = materialize(self._product(x))
        return to_float(self._rows(ax, False)[4]), CarriedProduct(ax)

    def _rows(self, ax: Any, bound: bool) -> tuple[Any, Any, Any, Any, Any]:
        """``(r, r^2, w, w r, f)`` from ``ax = A x``: the residuals ``r = A x - b``, their
        squares (``None`` where nothing reads them), the weights ``w = |r|^(2p-2)``
        (``None`` for ``p = 1``, whose ``w r`` is ``r``) and ``f = sum_i w_i r_i^2``; without
        the ball bound's statistics (not ``bound``) in one compiled pass where one runs
        (``r^2`` and ``w`` are then ``None``). What :meth:`evaluate` and :meth:`value`
        share, so that their values agree bit for bit."""
        p, b = self.p, self.b
        rows = None
        if not bound and p != 1.0 and _fused.usable(ax):  # (one compiled pass: accelerators)
            rows = _fused.one_pass(_residual_rows(p), ax, b)
        elif not bound and p in (2.0, 3.0) and _compiled.usable(ax, b):
            # r, w r and f = sum_i w_i r_i^2 in one pass (the same values; f summed in
            # float64): what the gradient and the segment read, no ball bound's statistics.
            rows = _compiled.residual_powers(ax, b, p)
        if rows is not None:
            r, weighted, total = rows
            return r, None, None, weighted, total
        r = materialize(ax - b)
        if type(r) is np.ndarray:  # (powers past the float range are inf, as f is there)
            with np.errstate(over="ignore"):
                return self._powers(r, bound)
        return self._powers(r, bound)

    def _powers(self, r: Any, bound: bool) -> tuple[Any, Any, Any, Any, Any]:
        """:meth:`_rows` from the residuals ``r``."""
        p = self.p
        if p == 1.0:  # (r^2: read by the bound only)
            return r, r * r if bound else None, None, r, _dot(r, r)
        r2 = r * r
        w = _weights(self.xp, r, r2, p)
        return r, r2, w, w * r, _dot(w, r2)

    def _gradient(self, r: Any, weighted: Any, total: Any) -> Any:
        """``2p A^T (w r)``; where ``f`` is past the float range (NumPy), ``2p m^(2p-1)
        A^T v`` with ``m = max_i |r_i|`` and ``v = |r / m|^(2p-2) r / m`` (``|v_i| <= 1``): an
        overflowing weight made ``inf * 0 = NaN`` in ``A^T (w r)``, where each entry is
        ``+-inf``, or 0 where ``A^T v`` is."""
        p = self.p
        if not (type(total) is float and total == math.inf and type(r) is np.ndarray):
            return _times(2 * p, self._adjoint(weighted))
        top = float(np.max(np.abs(r)))
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            y = r / top
            g = self._adjoint(y * np.abs(y) ** (2 * p - 2))
            scale = 2 * p * np.float64(top) ** (2 * p - 1)
            return np.where(g == 0.0, 0.0, g * scale).astype(r.dtype)

    def _padded_powers(self, r: Any, xmax: Any, drift: Any) -> Any:
        """``s^(2p-2)`` of ``s = |r_i|`` padded by its rounding error, the carried
        product's drift and the lost subnormals (class docstring)."""
        s = self.xp.abs(r) + self._residual_gamma * (self.row_norms * xmax + self._abs_b) + drift
        return _power(self.xp, s + self._lost, self.p)

    def _past_range(self, r: Any, grad: Any, probe: Any) -> tuple[float, float | None]:
        """Where ``f`` passed the float range on an array library other than NumPy (known
        once the scalars are fetched: no extra round trip on the ordinary path), ``grad``
        made again in place as :meth:`_gradient` makes NumPy's (``+-inf`` or 0, not the
        ``inf * 0 = NaN`` of ``A^T (w r)``), and its norm and dot with ``probe``."""
        xp, q = self.xp, 2.0 * self.p
        top = xp.max(xp.abs(r))
        y = r / top
        g = self._adjoint(y * xp.abs(y) ** (q - 2.0))
        try:
            scale = q * float(top) ** (q - 1.0)
        except OverflowError:
            scale = math.inf
        grad[...] = xp.where(g == 0.0, xp.zeros_like(g), g * scale)
        gnorm = to_float(xp.sqrt(xp.sum(grad * grad)))
        return gnorm, None if probe is None else to_float(xp.sum(grad * probe))

    def value_error(self, x: Any, evaluation: Evaluation) -> float:
        """A bound on the rounding of ``evaluation.value``, the computed ``f(x)``.

        Each computed residual is within ``delta = gamma_{d+4} (alpha ||x||_inf + max_i
        |b_i|)`` (plus a carried product's drift and the underflow pad) of the exact one,
        as for :meth:`segment` (class docstring). Each term ``|r_i|^(2p)`` of the computed
        residuals is within ``gamma_k`` of its computed value and their sum within
        ``gamma_{n+2}``, and a term below the smallest normal number ``tiny`` (an exact
        ``|r_i|^(2p)`` of 1e-96 at ``|r_i| = 1e-6``, ``p = 8``: 0 in float32) loses up to
        ``tiny`` instead, whatever its relative error; with ``P`` their product of ``1 +
        gamma`` (``_pad_sum``) and ``U = 2 n tiny`` the computed value ``F`` and the
        exact sum ``S`` of the computed residuals' terms obey ``|F - S| <= (P - 1) S + U``
        and ``S <= (F + U) / (2 - P)``. The residuals' own rounding
        moves the sum by at most ``sum_i 2p (|r_i| + delta)^(2p-1) delta`` (mean value
        theorem), and by Hoelder's and Minkowski's inequalities in ``l_2p``,
        ``sum_i (|r_i| + delta)^(2p-1) <= n^(1/2p) (S^(1/2p) + n^(1/2p) delta)^(2p-1)``.
        So ``|F - f(x)| <= (P - 1) / (2 - P) (F + U) + U + 2p delta n^(1/2p) (((F + U) /
        (2 - P))^(1/2p) + n^(1/2p) delta)^(2p-1)`` (where ``P >= 2``, ``S <= P (F + U)`` and
        ``P (P - 1)`` for ``(P - 1) / (2 - P)``: :func:`lfso._arrays.sum_bounds`), computed
        on the host in float64 and padded by
        ``1e-9`` (relative) for its own few roundings. In float32 a residual at rounding
        level (an exact fit) makes the second term dominate: there successive values
        of ``f`` are rounding noise, and a rise among them says nothing about the exact
        ``f``.
        """
        drift, xmax = rounding_scale(evaluation, x)
        delta = self._residual_gamma * (self._alpha * xmax + self._b_max) + drift + self._lost
        value, pad, q = abs(float(evaluation.value)), self._pad_sum, 2.0 * self.p
        n = int(self.A.shape[0])
        root_n = float(n) ** (1.0 / q)
        lost = 2.0 * n * self._tiny  # (terms below tiny: underflow, U in the docstring)
        spread, floor = sum_bounds(pad)  # ((P - 1) / (2 - P), 2 - P) below P = 2
        if not floor > 0.0:  # (P = inf: gamma_k past float64)
            return math.inf
        try:
            norm = ((value + lost) / floor) ** (1.0 / q) + root_n * delta  # (Minkowski)
            moved = q * delta * root_n * norm ** (q - 1.0)
        except OverflowError:  # (past float64: no bound, no rise is judged)
            return math.inf
        return (spread * (value + lost) + lost + moved) * (1.0 + 1e-9)

    def evaluate(
        self,
        x: Any,
        *,
        bound: bool = True,
        hint: float | None = None,
        probe: Any = None,
        product: Any = None,
    ) -> Evaluation:
        xp = self.xp
        self._check_point(x)
        if type(x) is not np.ndarray:  # a CPU tensor: the NumPy code on views (models._host)
            host = host_twin(self, x)
            if host is not None:
                return host.evaluate(x, bound=bound, hint=hint, probe=probe, product=product)
            product = device_product(product, self.A)
        # (Dask: one pass over A, kept on the workers; none when the segment gave A x)
        x_inf = point_inf_norm(x, product, bound)  # (the drift budget's scale)
        ax, drift = taken_product(product, lambda: self._product(x), x_inf, self._drift)
        r, r2, w, weighted, total = self._rows(ax, bound)
        grad = self._gradient(r, weighted, total)
        # Every scalar of the iteration in one host round trip: ||x||_inf (and a carried
        # product's drift) for the segment's rounding, then the bound's statistics.
        scalars = [total, 0.0 if x_inf is None else x_inf, drift]
        if bound and w is None:
            scalars.append(reduce_max(xp, r2))  # p = 1: a constant bound, r for R0 only
        elif bound:
            # |r_i| padded by its rounding error (class docstring) and the carried product's
            # drift; ||a_i||_1 ||x||_inf <= sqrt(d) ||a_i|| ||x||_inf.
            xmax = x_inf * self._sqrt_d
            # (and the (d + 1) smallest subnormals it may have lost to gradual underflow)
            if type(r) is np.ndarray:
                with np.errstate(over="ignore"):  # (inf past the float range)
                    ws = self._padded_powers(r, xmax, drift)
            else:
                ws = self._padded_powers(r, xmax, drift)
            scalars.append(reduce_max(xp, ws))
            if self.oracle == "sharp":
                scalars.append(self._row_sq @ ws)
        plain = w is None
        carried = CarriedProduct(ax, drift, x_inf)  # (host scalars once fetched)
        carried.rows = r  # (the segment at x reads r again)
        if type(total) is not np.ndarray and type(r) is not np.ndarray:
            carried.total = total  # (the device's slope check reads f: no round trip)

        def make(fetched: Fetched) -> Evaluation:
            values, gnorm, dot = fetched
            if values[0] == math.inf and type(r) is not np.ndarray:
                gnorm, dot = self._past_range(r, grad, probe)
            local = None
            if bound:
                wmax = values[3] if plain else values[3] * self._pad_max + self._max_lost
                t0 = values[4] * self._pad_sum + self._sum_lost if len(values) > 4 else None
                local = self._bound(wmax, t0)
            carried.drift, carried.source = values[2], None
            carried.xmax = None if x_inf is None else values[1]
            return Evaluation(values[0], grad, gnorm, local, dot, carried, values[2] > 0.0)

        return fetched_evaluation(grad, scalars, probe, make, product=carried)

    def segment(self, x: Any, evaluation: Evaluation, direction: Any) -> SegmentBound:
        """Per-row endpoint suprema along ``u = A d`` (see the class docstring)."""
        host = None if type(x) is np.ndarray else host_twin(self, x)
        if host is not None:  # a CPU tensor: the NumPy code on views (models._host)
            return host.segment(x, evaluation, direction)
        xp = self.xp
        ax, drift, xmax = point_product(evaluation.product, x, lambda: self._product(x))
        u = materialize(self._product(direction))
        dmax = inf_norm(direction)
        carry = self._drift.carry(drift, xmax, dmax, evaluation.product)
        product = materialized_product(ax, u, carry)
        # Each row's rounding (class docstring): |r_i - exact| <= delta, |u_i - exact| <= eps.
        eps = self._residual_gamma * self._alpha * dmax + self._lost
        delta = self._residual_gamma * (self._alpha * xmax + self._b_max) + drift + self._lost
        r = getattr(evaluation.product, "rows", None)  # (the evaluation's r = z - b)
        if self._m == 0:  # a quadratic, ||r + s u||^2: C = 2 ||A d||^2, exact (r not read)
            root_n = self._root_n  # the row errors in 2-norm
            pair = (evaluation.grad, direction)  # (g . d: summed if asked for)
            path = NormPathSegment.along(
                1.0, 1.0, None, u, slope_of=pair, eps=root_n * eps, product=product
            )
            # (r only where the slope bound reads the rows: made then, if not at hand)
            rows = r if r is not None else (_residuals, (ax, self.b))
            path.slope_check = self._slope_check(
                x, rows, u, direction, (delta, eps, dmax, xmax), evaluation
            )
            if path.slope_check is None:
                r = r if r is not None else materialize(ax - self.b)
                pads = (delta, eps, dmax, xmax)
                path.device_check = self._device_check(x, r, u, direction, pads, evaluation)
            return path
        slope, summed = row_slope(evaluation.grad, direction)
        if r is None:
            r = materialize(ax - self.b)
        # (|u| + eps)^2, kept a normal number (weight_floor): the power kernel's values
        # are unbounded, so no weight may lose an absolute amount to underflow
        floor = weight_floor(xp, u.dtype)
        weight, weight_sum = slack_weights(xp, u, eps + floor, self._alpha * dmax)
        segment = RowSegment(
            r,
            u,
            self._kernel,
            weight=weight,
            scale=1.0,
            slope=slope,
            product=product,
            slack=(delta, eps),
            weight_sum=weight_sum,
        ).lazy_slope(summed)
        segment.slope_check = self._slope_check(
            x, r, u, direction, (delta, eps, dmax, xmax), evaluation
        )
        if segment.slope_check is None:
            pads = (delta, eps, dmax, xmax)
            segment.device_check = self._device_check(x, r, u, direction, pads, evaluation)
        return segment

    def _device_check(
        self,
        x: Any,
        r: Any,
        u: Any,
        direction: Any,
        pads: tuple[Any, Any, Any, Any],
        evaluation: Evaluation,
    ) -> PowerSlope | None:
        """The exact slope along ``direction`` bounded on the data's device
        (:class:`lfso.models._device_slope.PowerSlope`), for a step sized there: the
        a-priori bound of :meth:`_prior` (from the evaluation's computed ``f``, a 0-d
        array there) and the held rows'. ``None`` for NumPy rows (the host's check) and
        where the evaluation did not keep ``f`` on the device."""
        total = getattr(evaluation.product, "total", None)
        if type(r) is np.ndarray or total is None:
            return None
        delta, eps, dmax, xmax = pads
        xp = self.xp
        constants = self._held_slope_constants()[-1]
        # (0 / 0 at an exact fit is NaN, and the a-priori bound then inf)
        row_error = self._row_error(xp.abs(xp.astype(total, xp.float64)), delta)
        refine = None
        if refining(self):  # (a step of this run the held rows could not certify)
            refine = (self.A, x, direction, self._alpha, xmax, dmax)
        check = PowerSlope(
            xp,
            r,
            u,
            p=self.p,
            delta=delta,
            eps=eps,
            divisor=1,
            prior=(constants, dmax, row_error, evaluation.grad, xmax),
            ridge=None,
            refine=refine,
            offset=(self.b, self._b_max),
        )
        check.escalate = self._refine_on_device
        return check

    def _refine_on_device(self) -> None:
        """From now on in this run the device's slope check also makes the rows again in
        float64 (:meth:`lfso.models._device_slope.DeviceSlope.bound_refined`): a step the
        held rows' bound could not certify was taken as 0."""
        refine_from_now(self)

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
        (:mod:`lfso.models._slope`), on NumPy rows with host pads; ``None`` elsewhere.

        A priori (:func:`lfso.models._slope.gradient_prior`), with ``q = 2p``, ``m = q -
        2``: the gradient is ``q A^T f`` with ``f_i = fl(|r_i|^m r_i)`` within ``gamma_k
        |r_i|^(q-1) + 4 tiny`` of its exact value (``k`` the power's ulps, and underflow),
        and ``l'(r_i) = q |r_i|^m r_i`` within ``q (q - 1) (|r_i| + delta)^m delta`` of
        ``l'(r*_i)`` (mean value theorem); ``A^T f`` sums ``n`` products (``gamma_n``). The
        sums over the rows follow from the computed ``F = f(x)``: the exact sum ``S`` of
        the computed residuals' terms is at most ``(F + U) / (2 - P)`` (as in
        :meth:`value_error`), and by Hoelder's and Minkowski's inequalities ``sum_i
        |r_i|^(q-1) <= n^(1/q) S^((q-1)/q)`` and ``sum_i (|r_i| + delta)^m <= n^(1 - m/q)
        (S^(1/q) + n^(1/q) delta)^m``.
        """
        delta, eps, dmax, xmax = pads
        if not ((type(r) is np.ndarray or type(r) is tuple) and on_host(pads, u, x)):
            return None
        prior = self._prior(delta, dmax, xmax, evaluation)
        return RowSlope(
            r,
            u,
            delta=delta,
            eps=eps,
            derivative=(power_derivative, (self.p,)),
            divisor=1.0,
            prior=prior,
            refine=(self._wide_rows, (x, direction, xmax, dmax)),
            fresh=(self._fresh_rows, (x, u, xmax, dmax)),
            history=self.__dict__.setdefault("_slope_history", {}),
        )

    def _prior(self, delta: float, dmax: float, xmax: float, evaluation: Evaluation) -> float:
        """:meth:`_slope_check`'s a-priori bound on ``|s* - fl(g . d)|`` (no row read)."""
        constants = self._held_slope_constants()[-1]
        try:
            row_error = self._row_error(abs(evaluation.value), delta)
        except (OverflowError, ZeroDivisionError):
            row_error = math.inf
        return gradient_prior(constants, dmax, row_error, evaluation.grad_norm, xmax)

    def _held_slope_constants(self) -> tuple[Any, ...]:
        """:meth:`_slope_constants_of`, kept with the data they were made from."""
        held = self.__dict__.get("_slope_constants")
        if held is None or held[0] is not self.A:
            held = (self.A, *self._slope_constants_of())
            self.__dict__["_slope_constants"] = held
        return held  # type: ignore[no-any-return]

    def _row_error(self, value: Any, delta: Any) -> Any:
        """The a-priori bound's ``row_error`` (:meth:`_slope_check`) from ``|f|`` (``value``:
        a float, or a 0-d float64 array on the device) and the rows' pad ``delta``."""
        _, sums, spread_n, root_n, lost, _ = self._held_slope_constants()
        q, m = 2.0 * self.p, self._m
        top = (value + lost) / sum_bounds(self._pad_sum)[1]
        root = top ** (1.0 / q)
        spread = spread_n * (root + root_n * delta) ** m
        return q * (sums * root_n * top / root + (q - 1.0) * delta * spread) + lost

    def _slope_prior(self, x: Any, evaluation: Evaluation, direction: Any) -> float | None:
        """The a-priori bound on ``|s* - fl(g . d)|`` that :meth:`segment`'s slope check
        along ``direction`` states (:mod:`lfso.models._slope`), with no pass over the
        rows; ``None`` where the segment states no slope check (rows not NumPy arrays).
        For certificates that do not take the segment otherwise (the ball's), which then
        take it only where this bound does not settle the step. PyTorch CPU tensors: the
        NumPy twin's, on views (:mod:`lfso.models._host`)."""
        if type(x) is not np.ndarray:
            host = host_twin(self, x)
            return None if host is None else host.slope_prior(x, evaluation, direction)
        ax, drift, xmax = point_product(evaluation.product, x, lambda: self._product(x))
        dmax = inf_norm(direction)
        eps = self._residual_gamma * self._alpha * dmax + self._lost
        delta = self._residual_gamma * (self._alpha * xmax + self._b_max) + drift + self._lost
        if not (type(ax) is np.ndarray and on_host((delta, eps, dmax, xmax), x)):
            return None
        return self._prior(delta, dmax, xmax, evaluation)

    def _slope_constants_of(self) -> tuple[float, float, float, float, Any]:
        """:meth:`_slope_check`'s constants of the rows (once): ``gamma_n (1 + gamma_k) +
        gamma_k``, ``n^(1 - m/q)``, ``n^(1/q)``, ``2 n tiny + 8 p n tiny`` (the terms'
        underflow, ``U``, and the factors', ``q 4 n tiny``) and the prior's constants."""
        A = self.A
        n, d = int(A.shape[0]), int(A.shape[1])
        q, m = 2.0 * self.p, self._m
        gk = error_gamma(2 * int(-(-m // 1)) + 10, A.dtype)
        sums = error_gamma(n, A.dtype) * (1.0 + gk) + gk
        lost = (2.0 + 4.0 * q) * n * self._tiny
        unit = 0.5 * float(self.xp.finfo(A.dtype).eps)
        constants = prior_constants(unit, d, self._alpha, 1.0, 0.0)
        return sums, float(n) ** (1.0 - m / q), float(n) ** (1.0 / q), lost, constants

    def _fresh_rows(
        self, x: np.ndarray, u: np.ndarray, xmax: float, vmax: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(r, u, delta, eps)``: ``r = fl(A x - b)`` made again in the data's dtype (no
        carried drift) and the held ``u = A v``, with per-row rounding bounds from the
        rows' 1-norms (:func:`lfso.models._slope.fresh_pads`, the norms made once).

        ``z = fl(A x)`` is within ``gamma_d c_i ||x||_inf + d eta`` of ``a_i^T x``, and the
        subtraction of ``b_i`` adds at most ``u |r_i|`` (``fl(y) = y / (1 + d)``, ``|d| <=
        u``, Higham eq. 2.5; exact where it underflows): ``delta_i = fresh_pads_i + u
        |r_i|``, two float64 operations more, rounded up by a relative ``2^-40``, and ``2
        eta_64`` for the product's underflow."""
        norms = row_norms_of(self, self.A)
        gamma, lost = self._residual_gamma, self._lost
        r = np.asarray(self._product(x) - self.b)
        unit = 0.5 * float(np.finfo(r.dtype).eps)
        spread = unit * np.abs(r.astype(np.float64))
        delta = (fresh_pads(norms, gamma, xmax, lost) + spread) * (1.0 + 2.0**-40)
        delta += 2.0 * math.ulp(0.0)
        return r, u, delta, fresh_pads(norms, gamma, vmax, lost)

    def _wide_rows(
        self, x: np.ndarray, v: np.ndarray, xmax: float, vmax: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(r, u, delta, eps)``: ``A x - b`` and ``A v`` made again in float64, with
        per-row rounding bounds from the rows' 1-norms and ``|b_i|``
        (:func:`lfso.models._slope.wide_products`, ``wide_row_pads``)."""
        norms, alpha, d = row_norms_of(self, self.A), self._alpha, self.dim
        z, u = wide_products(self.A, x, v)
        b = np.asarray(self.b, dtype=np.float64)
        pad = wide_row_pads(norms, alpha, xmax, d, np.abs(b))
        return z - b, u, pad, wide_row_pads(norms, alpha, vmax, d)


def _residuals(ax: Any, b: Any) -> Any:
    """``A x - b`` from ``ax = A x`` (the residuals a least-squares segment's slope bound
    reads only where it asks for them)."""
    return ax - b


@functools.lru_cache(maxsize=16)
def _residual_rows(p: float) -> Callable[..., tuple[Any, Any, Any]]:
    """``(r, w r, sum_i w_i r_i^2)`` with ``w = |r|^(2p - 2)``, ``r = A x - b``, ``p > 1``:
    the evaluation's row work without the ball bound's statistics, in the generic code's
    operations, as one compiled pass on an accelerator
    (:func:`lfso.models._fused.one_pass`; the sum in float64, then rounded to the rows'
    dtype)."""

    def rows(xp: Any, ax: Any, b: Any) -> tuple[Any, Any, Any]:
        r = ax - b
        r2 = r * r
        w = _weights(xp, r, r2, p)
        return r, w * r, xp.astype(xp.sum(xp.astype(w * r2, xp.float64)), ax.dtype)

    return rows


def _weights(xp: Any, r: Any, r2: Any, p: float) -> Any:
    """``w = |r|^(2p - 2)`` for ``p > 1`` from the residuals ``r`` and their squares."""
    if p == 2.0:
        return r2
    if p == int(p):
        return r2 ** int(p - 1)
    return xp.abs(r) ** (2 * p - 2)


def _dot(a: Any, b: Any) -> Any:
    """``a @ b``; of NumPy vectors, a float by :func:`~lfso.models._segments._host_dot` (the
    same sum, bit for bit, without ``@``'s check of the floating-point flags); of Dask
    vectors :func:`~lfso._arrays.quiet_dot`'s (``inf`` past the range, without a warning)."""
    return _host_dot(a, b) if type(a) is np.ndarray else quiet_dot(a, b)


def _times(factor: float, v: Any) -> Any:
    """``factor * v`` for a fresh array ``v`` that is not read again: in place for NumPy (the
    same products, bit for bit, without a new array)."""
    if type(v) is np.ndarray:
        v *= factor
        return v
    return materialize(factor * v)


def _nonzero(xp: Any, top: Any) -> Any:
    """``top``, or 1 where it is 0 (a divisor; a float for NumPy, no array wrappers)."""
    if isinstance(top, (np.ndarray, np.generic)):
        value = float(top)
        return value if value > 0.0 else 1.0
    return xp.where(top > 0.0, top, xp.ones_like(top))


def _exponent_pad(e: float, dtype: Any, xp: Any) -> float:
    """``1 +`` a bound on the relative change of ``s^e`` for ``s >= 0`` where the array
    library takes ``s ** e`` with ``e`` rounded to ``s``'s dtype (NumPy, for a float32
    ``s``): ``1.0`` where ``e`` is a number of that dtype (float64; an integer ``e``).

    With ``e'`` the rounded exponent and ``eta`` the dtype's smallest subnormal number, a
    power ``s^e'`` in ``[eta, inf)`` has ``|ln s| <= -ln(eta) / e'`` (``ln(max) < -ln(eta)``
    in every IEEE format), so ``s^e / s^e' = s^(e - e')`` is within ``exp(-ln(eta) |e -
    e'| / e') - 1`` of 1, below ``1.01 (-ln eta) |e - e'| / e'`` (the argument is at most
    ``104 u_32 < 1e-5``); a power below ``eta`` stays below ``eta (1 + 1e-5)``, which the
    statistics' underflow floors cover. ``|ln s| = 26`` and ``|e - e'| = 6e-8`` made the
    float32 ``|r|^m`` 2e-6 low, past the power's own ulps."""
    held = to_float(xp.asarray(e, dtype=dtype))
    if held == e:
        return 1.0
    finfo = xp.finfo(dtype)
    eta = float(finfo.smallest_normal) * float(finfo.eps)
    return 1.0 + 1.01 * -math.log(eta) * abs(held - e) / held


def _power(xp: Any, s: Any, p: float) -> Any:
    """``s^(2p-2)`` for ``s >= 0``, by products for integer ``p`` (as the gradient's weight)."""
    if p == 2.0:
        return s * s
    if p == int(p):
        return (s * s) ** int(p - 1)
    return s ** (2 * p - 2)


def _subnormal_up(base: float, exponent: float) -> float:
    """``base ** exponent`` (``base >= 0``) as :func:`_power_or_inf`, plus the smallest
    subnormal number where the power is below the normal range (the bound multiplies it
    by ``L_g``, which may be ``1e57``: ``t^(p-1) = 1e-318`` is off by ``eta / 2``, a
    relative 2e-6, there) or underflowed to 0 from a positive base."""
    power = _power_or_inf(base, exponent)
    return power + 5e-324 if base > 0.0 and power < sys.float_info.min else power


class _PaperCompositeBound(LocalBound):
    """The authors' composite bound for ``h(g(x))``, ``g = ||Ax - b||^2``, ``h(t) = t^p``.

    ``c = L_g R + ||grad g(x)||`` bounds ``||grad g||`` on the ball,
    ``t = g_up + c^2 / (2 mu_g)`` bounds ``g`` there (PL, with ``g_up >= min g``), and
    ``L = h''(t) c^2 + h'(t) L_g`` for ``p >= 2``; for ``1 <= p < 2``, where ``h''``
    decreases, the first term is ``p (p-1) (2 L_g)^(2-p) c^(2p-2)`` instead
    (:class:`CompositeLeastSquares` gives the proof). A power past the float64 range
    makes it ``inf``, a built-in bound's precision limit (:attr:`LocalBound.proven`).

    Rounding, in units of ``u = 2^-53`` below the exact value at the float parameters:
    ``c`` 3 (two operations, and ``L_g R``'s underflow, ``eta / 2``, below ``u c`` as
    ``c >= 1e-150``), ``c^2`` 7, ``t`` 10 (the quotient, the sum, and the quotient's
    underflow, below ``u t`` where ``t`` is normal; a subnormal ``t`` is moved up by the
    smallest subnormal ``eta``); a power ``t^e`` ``10 e + 2`` (``pow`` within an ulp; a
    subnormal power moved up by ``eta``, :func:`_subnormal_up`); ``(2 L_g)^(2-p)`` 2
    (``2 - p``, ``p - 1``, ``p - 2`` and ``2 L_g`` are exact); the products and the sum
    one each: ``10 p - 7`` for ``p >= 2``, 15 below, so :func:`rounded_up` with ``10 p +
    10`` roundings (second-order terms included) makes the value at least the exact one
    (``p = 50`` was up to 110 units below it).
    """

    proven = True

    def __init__(self, p: float, lg: float, mu: float, gg: float, floor: float = 0.0) -> None:
        self.p, self.lg, self.mu, self.gg, self.floor = p, lg, mu, gg, floor

    def __call__(self, radius: float) -> float:
        p = self.p
        c = self.lg * radius + self.gg
        if 0.0 < c < 1e-150 and p != 1.0:  # c^2 underflows: the powers in logarithms
            return self._small(c)
        t = self.floor + 0.5 * c * c / self.mu
        if 0.0 < t < sys.float_info.min:  # (the quotient's underflow, eta / 2, covered)
            t += 5e-324
        # (powers past the float range are inf, as the products' are: no OverflowError)
        if p == 1.0:
            second = 0.0
        elif p >= 2.0:
            second = p * (p - 1) * _subnormal_up(t, p - 2) * c * c
        else:
            low = _power_or_inf(2.0 * self.lg, 2.0 - p)
            second = p * (p - 1) * low * _subnormal_up(c, 2.0 * p - 2.0)
        return rounded_up(second + p * _subnormal_up(t, p - 1) * self.lg, 10.0 * p + 10.0)

    def _small(self, c: float) -> float:
        """The bound where ``c^2`` underflows (``0 < c < 1e-150``): ``c^2 / (2 mu)``, ``t``
        and the two terms in logarithms (``t`` may be below the float range while
        ``t^(p-1)`` is not, and ``t^(p-1)`` below it while ``p t^(p-1) L_g`` is not), each
        term ``e^E``; ``inf`` past the float range.

        Rounding: each exponent's absolute error is counted in units of ``u = 2^-53``:
        ``log``'s ulp, ``2 |log y|``, each sum's or product's ``|result|``, a factor's
        error times its multiplier, and ``c``'s, 3 (a subnormal ``c`` moved up past
        ``L_g R``'s underflow by the smallest subnormal); ``log1p(e^d)`` passes on the
        larger of its inputs' errors, plus 4. The value is multiplied by ``e^(1.01 u k)``,
        ``k`` the larger exponent's count, and :func:`rounded_up` covers ``exp``'s ulps,
        the products and the sum (12). A fixed pad of ``1e-11`` was ``9e-10`` low at ``p =
        10001`` (``log t`` near 0 from logarithms near ``-700``)."""
        p, log = self.p, math.log
        if c < sys.float_info.min:
            c += 5e-324
        log_c = log(c)
        e_c = 2.0 * abs(log_c) + 3.01
        log_mu = log(2.0 * self.mu)
        log_t = 2.0 * log_c - log_mu
        e_t = 2.0 * e_c + 2.0 * abs(log_mu) + abs(log_t)
        if self.floor > 0.0:
            log_f = log(self.floor)
            top, low = max(log_t, log_f), min(log_t, log_f)
            log_t = top + math.log1p(math.exp(low - top))
            e_t += 2.0 * abs(log_f) + abs(low - top) + abs(log_t) + 4.0
        log_pp = log(p * (p - 1))  # (p > 1 here)
        if p >= 2.0:
            power = (p - 2.0) * log_t
            e_s = (p - 2.0) * e_t + abs(power) + 2.0 * e_c
            log_second = power + 2.0 * log_c + log_pp
        else:
            log_lg = log(2.0 * self.lg)
            power = (2.0 - p) * log_lg + (2.0 * p - 2.0) * log_c
            e_s = (2.0 - p) * 2.0 * abs(log_lg) + (2.0 * p - 2.0) * e_c + 2.0 * abs(power)
            log_second = power + log_pp
        e_s += 2.0 * abs(log_pp) + 2.0 * abs(log_second) + 1.0
        log_first = (p - 1.0) * log_t + log(p) + log(self.lg)
        e_f = (p - 1.0) * e_t + 2.0 * abs((p - 1.0) * log_t) + 2.0 * abs(log(p))
        e_f += 2.0 * abs(log(self.lg)) + abs(log_first)
        try:
            total = math.exp(log_second) + math.exp(log_first)
            return rounded_up(total * math.exp(1.01 * 2.0**-53 * max(e_s, e_f)), 12.0)
        except OverflowError:  # (a term past the float range: inf, as the powers' are)
            return math.inf


def _paper_constants(A: Any, b: Any) -> tuple[float, float, float]:
    """``L_g = 2 ||A||_F^2``, ``mu_g = 2 sigma^2`` and ``g_up >= min ||Ax - b||^2``, padded.

    Computed once in float64 on the host (float32 data are exact there). ``sigma`` is the
    least singular value less ``8 max(n, d) eps ||A||`` (the SVD is backward stable, and a
    singular value moves by at most the norm of the perturbation); ``g_up`` is the squared
    residual of the least-squares solution ``x_ls`` plus its rounding error.
    """
    A = np.asarray(A, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n, d = A.shape
    gamma = error_gamma(n * d + 4, np.float64)
    frob_sq = float(np.sum(A * A)) * (1.0 + gamma)
    sv = np.linalg.svd(A, compute_uv=False)
    sigma = float(sv.min()) - 8.0 * max(n, d) * float(np.finfo(np.float64).eps) * float(sv.max())
    if not sigma > 0.0:
        raise ValueError(
            f"oracle='paper' needs A of full rank (its least singular value "
            f"{float(sv.min()):.3g} is zero within rounding, so g = ||Ax - b||^2 has no "
            "Polyak-Lojasiewicz constant); use oracle='sharp'"
        )
    x_ls = np.linalg.lstsq(A, b, rcond=None)[0]
    res = A @ x_ls - b
    res_err = error_gamma(d + 4, np.float64) * float(
        np.linalg.norm(np.abs(A) @ np.abs(x_ls) + np.abs(b))
    )
    g_up = (float(np.linalg.norm(res)) * (1.0 + gamma) + res_err) ** 2
    return 2.0 * frob_sq, 2.0 * sigma * sigma, g_up


class CompositeLeastSquares(_LinearModel):
    """``f(x) = (||Ax - b||^2)^p`` for real ``p`` in ``[1, 2^22]``.

    The oracle comes from the calculus: ``f = PowerNorm(p)`` composed with the affine map
    ``x -> Ax - b``, so

    .. math::  L(x, R) = \\|A\\|^2 \\, 2p(2p-1) (\\|Ax - b\\| + \\|A\\| R)^{2p-2}.

    Validity: for every ``A``, ``b`` and ``p >= 1``, consistent system or not (it bounds
    the Hessian norm on the ball directly; no Polyak-Lojasiewicz constant is involved).

    ``oracle="paper"`` is the authors' bound (their code, ``composite_linear_least_squares``)
    with ``g = ||Ax - b||^2``, ``h(t) = t^p``, ``L_g = 2 ||A||_F^2 >= ||Hess g||`` and
    ``c = L_g R + ||grad g(x)|| >= ||grad g(y)||`` on ``B(x, R)``:

    .. math::  L(x, R) = h''(t) c^2 + h'(t) L_g, \\qquad t = g_\\star + c^2 / (2 \\mu_g),
               \\qquad \\mu_g = 2 \\sigma_{\\min}(A)^2,

    for ``p >= 2``; for ``1 <= p < 2`` the first term is ``p(p-1) (2 L_g)^{2-p} c^{2p-2}``.
    Proof: ``Hess f = h''(g) grad g grad g^T + h'(g) Hess g``. ``g`` satisfies the
    Polyak-Lojasiewicz inequality ``g - g_* <= ||grad g||^2 / (2 mu_g)`` with
    ``mu_g = 2 sigma^2``, ``sigma`` the least non-zero singular value (``grad g = 2 A^T r``
    and ``r - r_*`` lies in the range of ``A``), so ``g(y) <= t``; ``h'`` is
    non-decreasing, so ``h'(g) ||Hess g|| <= h'(t) L_g``; for ``p >= 2`` so is ``h''``. For
    ``1 < p < 2``, ``h''`` decreases, but ``g - g_* >= ||grad g||^2 / (2 L_g)`` (``g`` is
    convex and ``L_g``-smooth), so ``h''(g) ||grad g||^2 <= p(p-1) (||grad g||^2 /
    (2 L_g))^{p-2} ||grad g||^2 <= p(p-1) (2 L_g)^{2-p} c^{2p-2}``. The authors' code
    uses ``mu_g = 2 sigma_min`` and ``g_* = 0``; both agree with the above on their
    matrices (``sigma_min = 1``, consistent systems), and for ``p`` in ``{1, 2}`` the
    first term is theirs. Elsewhere theirs under-estimates: ``A = [[0.5]]``, ``b = 0``,
    ``x = 1`` gave ``L = 0.625`` against a Hessian of 0.75. Here ``g_*`` is bounded above
    by the residual of a least-squares solution (so an inconsistent system is covered
    too), and ``sigma`` by the least singular value less its rounding; ``oracle="paper"``
    raises ``ValueError`` when ``A`` is rank-deficient (``sigma_min(A) = 0`` within
    rounding), where no such ``mu_g`` exists. Both oracles use the paper's radius
    ``R0(x) = ||grad g(x)|| = 2 ||A^T (Ax - b)||``.

    Rounding (both oracles): ``||Ax - b||`` and ``||A^T (Ax - b)||`` are padded by their
    rounding errors in the data's dtype (:func:`lfso._arrays.error_gamma`), as in
    :class:`LpRegression`: the computed residual ``r = fl(z - b)`` (``z = A x`` fresh, or
    carried with drift ``D >= max_i |z_i - (A x)_i|``, :class:`lfso.models._rows.ProductDrift`)
    is within ``gamma_{d+4} (sqrt(d) ||a_i|| ||x||_inf + |b_i|) + D`` of the exact one in
    row ``i``, hence within ``delta = gamma_{d+4} (sqrt(d) ||A||_F ||x||_inf + ||b||) +
    sqrt(n) D`` in 2-norm (Higham, Lemma 3.1, and the triangle inequality); a carried
    product whose drift exceeds :data:`~lfso.models._rows.DRIFT_BUDGET` times a fresh
    product's error at the new point is recomputed there. The value and
    gradient are taken from ``||r||^2`` summed as it is where that is safe (float64 on the
    host, ``||r||^2`` in ``[1e-200, 1e200]``: the sum rounds as the normalised one does,
    and an underflowing term loses less than the pad ``sqrt(n) ||r|| tiny``), else from
    ``r / max_i |r_i|`` (sums in ``[1, n]``: no overflow or underflow) with the scale's
    powers in logarithms on the host, as in :class:`~lfso.models.PowerNorm`.

    Segment bound (:meth:`segment`): along ``d`` the residual moves along ``u = A d``, and
    ``f(x + s d) = ||r + s u||^(2p)``, so :class:`~lfso.models._segments.NormPathSegment` gives the
    exact supremum of ``d^T H d`` on the segment (``h''`` at the endpoint with the larger
    residual), from the normalised ``||r||^2``, ``r . u``, ``||u||^2`` in one round trip,
    covering the rounding of ``r`` (``delta`` above) and of ``u = fl(A d)`` (``eps =
    gamma_{d+4} sqrt(d) ||A||_F ||d||_inf``), each with ``sqrt(n) (d + 1) eta`` more for
    gradual underflow (``eta`` the smallest subnormal number: each of a row's ``d`` products
    may lose up to ``eta / 2`` absolutely, which ``|r|^m`` with ``m < 1`` magnifies at a
    subnormal residual); no ``||A||`` and no consistency assumption.
    ``A x + t u`` is the next evaluation's product, its drift bounded by
    :class:`~lfso.models._rows.ProductDrift`.
    """

    has_segment = True
    _segment_proven = True  # (no ||A||: a norm= given leaves it proven)
    extras = frozenset({"probe", "product"})

    def __init__(
        self, A: Any, b: Any, p: float, *, oracle: str = "sharp", norm: float | None = None
    ) -> None:
        super().__init__(A, b, p, oracle=oracle, norm=norm)
        A = self.A
        self._outer = PowerNorm(self.p)
        xp = self.xp
        n, d = int(A.shape[0]), int(A.shape[1])
        # Rounding of ||r|| = ||fl(Ax - b)||: the residual errors delta_i (LpRegression)
        # have ||delta|| <= gamma (sqrt(d) ||A||_F ||x||_inf + ||b||).
        self._residual_gamma = error_gamma(d + 4, A.dtype)
        self._norm_pad = 1.0 + error_gamma(n + 4, A.dtype)  # sqrt of a sum of n squares
        self._atr_pad = 1.0 + error_gamma(d + 4, A.dtype)
        self._atr_gamma = error_gamma(n + 2, A.dtype)  # fl(A^T r): gamma_n ||A||_F ||r||
        pad = 1.0 + error_gamma(n + d + 4, A.dtype)
        with np.errstate(over="ignore"):  # (squares past the dtype's range: inf, an upper
            # bound, whose bounds are inf: a precision limit where a step is sized)
            self._frobenius = to_float(xp.sqrt(xp.sum(A * A))) * pad
            self._b_norm = to_float(xp.sqrt(xp.sum(self.b * self.b))) * pad
        self._sqrt_d = float(d) ** 0.5
        self._sqrt_n = float(n) ** 0.5
        if oracle == "paper":
            self._lg, self._mu, self._floor = _paper_constants(to_numpy(A), to_numpy(self.b))

    def value(self, x: Any) -> float:
        return self._value_product(x)[0]

    def _value_product(self, x: Any) -> tuple[float, Any]:
        self._check_point(x)
        host = None if type(x) is np.ndarray else host_twin(self, x)
        if host is not None:  # a CPU tensor: the NumPy code on views (models._host)
            return host.value_product(x)
        # (evaluate's value, bit for bit: the same sums and powers, no gradient)
        xp, p = self.xp, self.p
        ax = materialize(self._product(x))
        carried = CarriedProduct(ax)
        r = materialize(ax - self.b)
        sq = _host_dot(r, r) if type(r) is np.ndarray and r.dtype == np.float64 else math.nan
        if _PLAIN_LOW <= sq <= _PLAIN_HIGH:  # (NumPy float64 in range: the sum as it is)
            return (_norm_powers(1.0, sq, p)[0] if p != 1.0 else sq), carried
        top = reduce_max(xp, xp.abs(r))
        unit = r / _nonzero(xp, top)
        big, small = to_floats(top, unit @ unit)
        if big > 0.0:
            return _norm_powers(big, small, p)[0], carried
        return (0.0 if big == 0.0 else math.nan), carried  # (NaN: a NaN entry of x)

    def value_error(self, x: Any, evaluation: Evaluation) -> float:
        """A bound on the rounding of ``evaluation.value``, the computed ``f(x)``.

        The computed value is ``F = (||r'||^2 (1 + a))^p (1 + b)`` with ``r'`` the computed
        residuals, ``|a| <= gamma_{n+4}`` (a sum of ``n`` squares, scaled) and ``|b|`` a
        few ulps (the power), so ``||r'||`` is within ``rho = 2 gamma_{n+16}`` (relative)
        of ``N = F^(1/2p)``; and ``||r' - r||`` is within ``e = gamma_{d+4} (sqrt(d)
        ||A||_F ||x||_inf + ||b||) + sqrt(n) (drift + N (1 + rho) tiny + lost)`` (the
        ball bound's ``r_err``, class docstring). The exact ``f = ||r||^(2p)`` therefore
        lies in ``[max(N (1 - rho) - e, 0)^(2p), (N (1 + rho) + e)^(2p)]``, and
        ``|F - f|`` is at most the larger distance from ``F`` to its ends (computed in
        float64 on the host, padded by ``1e-9`` relative). ``F`` and the upper end are
        float64 powers: below float64's smallest normal number ``tiny`` each loses up to
        ``tiny`` instead of a relative error (``F = 0`` where the exact ``f`` is 1e-400),
        so ``2 tiny`` more.
        """
        drift, xmax = rounding_scale(evaluation, x)
        value, q = abs(float(evaluation.value)), 2.0 * self.p
        n = int(self.A.shape[0])
        rho = 2.0 * error_gamma(n + 16, self.A.dtype)
        try:
            norm = value ** (1.0 / q)
            error = self._residual_gamma * (self._sqrt_d * self._frobenius * xmax + self._b_norm)
            error += self._sqrt_n * (drift + norm * (1.0 + rho) * self._tiny + self._lost)
            high = (norm * (1.0 + rho) + error) ** q
            low = max(norm * (1.0 - rho) - error, 0.0) ** q
        except OverflowError:  # (past float64: no bound, no rise is judged)
            return math.inf
        return max(high - value, value - low) * (1.0 + 1e-9) + 2.0 * sys.float_info.min

    def evaluate(
        self,
        x: Any,
        *,
        bound: bool = True,
        hint: float | None = None,
        probe: Any = None,
        product: Any = None,
    ) -> Evaluation:
        p, xp = self.p, self.xp
        self._check_point(x)
        if type(x) is not np.ndarray:  # a CPU tensor: the NumPy code on views (models._host)
            host = host_twin(self, x)
            if host is not None:
                return host.evaluate(x, bound=bound, hint=hint, probe=probe, product=product)
            product = device_product(product, self.A)
        x_inf = point_inf_norm(x, product, bound)  # (the drift budget's scale)
        ax, drift = taken_product(product, lambda: self._product(x), x_inf, self._drift)
        r = materialize(ax - self.b)
        scaled: tuple[Any, Any, Any, Any] | None = None
        sq = _host_dot(r, r) if type(r) is np.ndarray and r.dtype == np.float64 else math.nan
        if _PLAIN_LOW <= sq <= _PLAIN_HIGH:
            # NumPy float64 in range: ||r||^2 summed as it is (the sum's own rounding is
            # the normalised one's, gamma_n; no term overflows, and an underflowing one
            # loses less than the pad sqrt(n) R tiny below, R = ||r|| >= max_i |r_i|).
            atr = self._adjoint(r)
            (x_top, drift), atr_norm, atr_dot = fetch_with_norm(
                atr, 0.0 if x_inf is None else x_inf, drift, probe=probe
            )
            # (R = 1 in _norm_powers' units: the sum is ||r||^2 itself)
            big, small, r_top = 1.0, sq, math.sqrt(sq)
            # (p = 1: f = ||r||^2 itself and the factor 2, as _norm_powers gives them)
            powers = _norm_powers(1.0, sq, p) if p != 1.0 else (sq, 2.0)
            factor = powers[1]
            if factor * atr_norm < 1e300:  # |factor (A^T r)_i| <= factor ||A^T r||: no overflow
                grad, gmax = _times(factor, atr), 0.0  # (A^T r itself is not read again)
            else:  # (an overflowing gradient: scale = inf below, from its largest entry)
                with np.errstate(over="ignore"):
                    grad = _scaled(factor, atr)
                gmax = float(np.abs(grad).max())
            found = (small, big, x_top, drift, gmax, atr_norm, atr_dot, r_top, powers)
            arrays = (ax, r, grad, sq)
            return self._fetched(x, bound, hint, probe, x_inf is not None, arrays, None, found)
        # ||r||^2 = R^2 ||r / R||^2 with R = max_i |r_i| (no overflow or underflow),
        # and grad f = c A^T r with c = 2p ||r||^(2p-2) computed in float64 (power.py)
        top = reduce_max(xp, xp.abs(r))
        unit = r / _nonzero(xp, top)
        # ||r||^2 / R^2, in [1, n]. (Dask: persisted with R and r / R, as the gradient,
        # the fetch and the segment read them; so is the gradient, which the step reads
        # again.)
        small, top, unit = materialize_all(unit @ unit, top, unit)
        atr = materialize(self._adjoint(r))
        factor = _norm_scale(xp, atr, p, top, small)
        with np.errstate(over="ignore"):  # (an overflowing gradient: scale = inf below)
            grad = materialize(_scaled(factor, atr))
        scaled = (r, top, unit, small)  # (on the device: the segment at x reuses them)
        # One round trip: the sums, ||x||_inf and the drift (the segment's rounding),
        # the gradient's largest entry (inf where it overflowed), probe.
        scalars = [small, top, 0.0 if x_inf is None else x_inf, drift]
        scalars.append(reduce_max(xp, xp.abs(grad)))

        carried = _Residual(ax, drift, x_inf)  # (host scalars once fetched)
        ahead = is_ahead(grad)

        def make(fetched: Fetched) -> Evaluation:
            (small, big, x_top, drift, gmax), atr_norm, atr_dot = fetched
            powers = _norm_powers(big, small, p) if big > 0.0 else (0.0, 0.0)
            if not gmax < math.inf and type(grad) is not np.ndarray:  # (NumPy's kept 0)
                _zeros_kept(xp, grad, atr)
            found = (small, big, x_top, drift, gmax, atr_norm, atr_dot, big, powers)
            arrays = (ax, r, grad, sq)
            # (made ahead, the evaluation's gradient is in use: no evaluation afresh)
            early = carried if ahead else None
            return self._fetched(
                x, bound, hint, probe, x_inf is not None, arrays, scaled, found, early
            )

        # (the gradient's norm is ||A^T r|| scaled: fetched with A^T r's)
        early = carried if ahead else None
        if early is not None:
            self._keep(early, r, scaled, sq)
        return fetched_evaluation(grad, scalars, probe, make, measured=atr, product=early)

    def _fetched(
        self,
        x: Any,
        bound: bool,
        hint: float | None,
        probe: Any,
        has_xmax: bool,
        arrays: tuple[Any, Any, Any, float],
        scaled: tuple[Any, Any, Any, Any] | None,
        fetched: tuple[Any, ...],
        early: _Residual | None = None,
    ) -> Evaluation:
        """:meth:`evaluate`'s evaluation from its fetch: ``arrays = (A x, r, grad,
        ||r||^2 where summed as it is)``, ``fetched = (the sum, R, ||x||_inf (if
        has_xmax), drift, max |g_i|, ||A^T r||, its probe dot, max |r_i|, (f, peak))``."""
        ax, r, grad, sq = arrays
        small, big, x_top, drift, gmax, atr_norm, atr_dot, r_top, powers = fetched
        xmax = x_top if has_xmax else None  # (None: a segment at x computes it)
        stale = xmax is not None and drift > 0.0 and self._drift.stale(drift, xmax)
        if stale and early is None:
            # A product carried from a far point into a near one drifted past the budget
            # relative to this point's own rounding (the budget is checked where the step
            # starts): f and its gradient from a fresh A x instead, as sharp as ever.
            return self.evaluate(x, bound=bound, hint=hint, probe=probe)
        value = scale = r_norm = 0.0
        if big > 0.0:
            value, peak = powers
            scale, r_norm = peak / big, big * math.sqrt(small)  # 2p ||r||^(2p-2), ||r||
        elif big != 0.0:  # a NaN entry of x (not 0: f is NaN)
            value = math.nan
        if not gmax < math.inf:
            scale = math.inf
        local = self._local(r_norm, r_top, atr_norm, x_top, drift) if bound else None
        dot = None if atr_dot is None else scale * atr_dot
        if early is not None:
            carried = early
            carried.drift, carried.xmax, carried.source = drift, xmax, None
        else:
            carried = self._keep(_Residual(ax, drift, xmax), r, scaled, sq)
        return Evaluation(value, grad, scale * atr_norm, local, dot, carried, drift > 0.0)

    def _keep(
        self, carried: _Residual, r: Any, scaled: tuple[Any, Any, Any, Any] | None, sq: float
    ) -> _Residual:
        """``carried`` with what the segment at the point reads again; returns it."""
        if scaled is not None and type(r) is not np.ndarray:  # (NumPy's: computed in place)
            carried.scaled = scaled
        elif self.p != 1.0:
            carried.residual = r
            if scaled is None:  # (the plain sum: the segment's ||r||^2 as it is)
                carried.sq = sq
        return carried

    def _local(
        self, r_norm: float, r_top: float, atr_norm: float, x_top: float, drift: float
    ) -> LocalBound:
        """The local bound at a point from the computed ``||r||``, ``max_i |r_i|`` and
        ``||A^T r||``, each padded by its rounding (class docstring)."""
        # Rounding pads (class docstring): an upper bound on the exact ||r||, and on
        # the exact ||A^T r|| from the computed one (underflow: tiny per operation).
        r_err = self._residual_gamma * (self._sqrt_d * self._frobenius * x_top + self._b_norm)
        # (and each row's loss to gradual underflow, (d + 1) smallest subnormals)
        r_err += self._sqrt_n * (drift + r_top * self._tiny + self._lost)
        r_up = r_norm * self._norm_pad + r_err
        local: LocalBound
        if self.oracle == "paper":
            atr_up = (
                atr_norm * self._atr_pad
                + self._atr_gamma * self._frobenius * r_norm * self._norm_pad
                + self.norm * r_err
                + self._frobenius * r_top * self._sqrt_n * self._tiny
                + 4.0 * self._lost  # (each of the four products may underflow)
            )
            local = _PaperCompositeBound(self.p, self._lg, self._mu, 2.0 * atr_up, self._floor)
        else:
            local = self._outer.bound_from_norm(r_up).stretched(self.norm) * self.norm**2
        local.paper_radius = 2.0 * atr_norm
        return local

    def segment(self, x: Any, evaluation: Evaluation, direction: Any) -> SegmentBound:
        """The exact supremum along ``r + s A d``, bounded despite the rounding of ``r``
        and ``u = A d`` (see the class docstring)."""
        host = None if type(x) is np.ndarray else host_twin(self, x)
        if host is not None:  # a CPU tensor: the NumPy code on views (models._host)
            return host.segment(x, evaluation, direction)
        ax, drift, xmax = point_product(evaluation.product, x, lambda: self._product(x))
        u = materialize(self._product(direction))
        # (r, R = max |r|, r / R, ||r / R||^2) of the evaluation at x, or None
        scaled = getattr(evaluation.product, "scaled", None)
        r: Any = None
        if self.p != 1.0:  # (p = 1: not read)
            if scaled is not None:
                r = scaled[0]
            else:  # the evaluation's own r = A x - b where it kept it
                r = getattr(evaluation.product, "residual", None)
                r = materialize(ax - self.b) if r is None else r
        dmax = inf_norm(direction)  # (a 0-d array, fetched with the sums)
        gamma, frobenius = self._residual_gamma, self._sqrt_d * self._frobenius
        carry = self._drift.carry(drift, xmax, dmax, evaluation.product)
        lost = self._sqrt_n * self._lost  # (each row's loss to underflow, in 2-norm)
        delta = gamma * (frobenius * xmax + self._b_norm) + self._sqrt_n * drift + lost
        return NormPathSegment.along(
            self.p,
            1.0,
            r,
            u,
            slope_of=(evaluation.grad, direction),  # (g . d: fetched with the path's sums)
            delta=delta,
            eps=gamma * frobenius * dmax + lost,
            product=materialized_product(ax, u, carry),
            y_scaled=None if scaled is None or r is None else scaled[1:],
            y_sq=getattr(evaluation.product, "sq", None),
        )


class _Residual(CarriedProduct):
    """The evaluation's ``A x`` with its residual ``r``, ``R = max_i |r_i|``, ``r / R`` and
    ``||r / R||^2`` (``scaled``; on NumPy only ``residual``, ``r`` itself): the segment at
    that point reuses them (Dask: an expression submitted again, while the gradient built
    on it is kept, may reach the scheduler as a different task under the same key; and it
    would be computed twice; ``sq``: ``float(r @ r)``, where the evaluation summed it)."""

    __slots__ = ("residual", "scaled", "sq")

    scaled: tuple[Any, Any, Any, Any] | None
    residual: Any
    sq: float | None

    def __init__(self, value: Any, drift: Any = 0.0, xmax: float | None = None) -> None:
        super().__init__(value, drift, xmax)
        # (None until set: the segment's getattr then finds them without an exception)
        self.scaled = self.residual = self.sq = None
