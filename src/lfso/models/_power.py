"""Flat-minimum test functions: ``||x||^(2p)`` and ``sum_i x_i^(2p)``."""

from __future__ import annotations

import math
import sys
from abc import abstractmethod
from typing import Any, NamedTuple

import numpy as np

from .._arrays import Fetched, error_gamma, namespace, reduce_max, reduce_sum
from .._validate import _show, power
from ..oracles._bounds import ConstantBound, LocalBound, PowerBound, proven_constant, rounded_up
from ..oracles._segment import SegmentBound
from ._base import Evaluation, Model, _RadiusChecked, fetched_evaluation, fetched_scalars
from ._segments import (
    NormPathSegment,
    RowSegment,
    host_max_abs,
    power_kernel,
    row_slope,
    squared_slack,
    weight_floor,
)

__all__ = ["PowerNorm", "PowerSum"]


def split_factor(m: float) -> float:
    """``k_m = max(1, 2^(m-1))``, the least ``k`` with ``(a + b)^m <= k (a^m + b^m)``.

    For ``a, b >= 0`` and ``m > 0``: convexity of ``t^m`` (``m >= 1``) gives
    ``((a + b)/2)^m <= (a^m + b^m)/2``, and subadditivity of the concave ``t^m``
    (``0 < m < 1``, ``0^m = 0``) gives ``(a + b)^m <= a^m + b^m``. Both are attained
    (``a = b``, resp. ``b = 0``), so ``k_m`` is the least such factor.
    """
    return 2.0 ** (m - 1.0) if m >= 1.0 else 1.0


#: ``log`` of the largest float64: ``exp`` of anything above it is ``inf``.
_LOG_MAX = math.log(1.7976931348623157e308)


def _exp(log_value: float) -> float:
    """``exp`` that returns ``inf`` past the float64 range instead of raising (and NaN
    for NaN)."""
    return math.inf if log_value >= _LOG_MAX else math.exp(log_value)


def _power(factor: float, base: float, exponent: float) -> float:
    """``factor base^exponent`` (``factor, base > 0``) in float64: directly where every
    intermediate is a normal number (as accurate as the plain formula), else in
    logarithms (``inf`` past the float64 range, never an ``OverflowError``)."""
    try:
        power = base**exponent
    except OverflowError:
        power = math.inf
    value = factor * power
    if _NORMAL <= power < math.inf and _NORMAL <= value < math.inf:
        return value
    if base == math.inf:  # (an infinite entry: inf / inf made the factor NaN)
        return math.inf
    return _exp(math.log(factor) + exponent * math.log(base))


#: The smallest normal float64.
_NORMAL = 2.2250738585072014e-308


def _power_or_inf(base: float, exponent: float) -> float:
    """``base ** exponent`` (``base >= 0``), ``inf`` past the float64 range (where ``**``
    raises ``OverflowError``)."""
    try:
        return base**exponent
    except OverflowError:
        return math.inf


def _norm_powers(big: float, small: float, p: float) -> tuple[float, float]:
    """``(||y||^(2p), 2p ||y||^(2p-2) max_i |y_i|)`` from ``big = max_i |y_i| > 0`` and
    ``small = ||y / big||^2``: the value of ``||y||^(2p)`` and the largest entry of its
    gradient ``2p ||y||^(2p-2) y``, in float64 without overflow exceptions (``inf`` only
    past its range), as accurate as the plain formulas where ``||y||^2`` is in range."""
    sq = big * big * small
    if _NORMAL <= sq < math.inf:
        return _power(1.0, sq, p), _power(2.0 * p * big, sq, p - 1.0)
    if big == math.inf:  # (an infinite entry: inf / inf made small NaN)
        return math.inf, math.inf
    log_sq = 2.0 * math.log(big) + math.log(small)  # ||y||^2 itself beyond float64
    return _exp(p * log_sq), _exp(math.log(2.0 * p) + (p - 1.0) * log_sq + math.log(big))


def _normalized(x: Any) -> tuple[Any, Any, Any]:
    """``(xp, max_i |x_i|, x / max_i |x_i|)``, the maximum a 0-d array (no round trip).

    The entries of ``x / max |x_i|`` lie in ``[-1, 1]`` and one of them is ``+-1``
    exactly, so sums of their powers neither overflow nor underflow (a sum with a term 1
    is at least 1), whatever the scale of ``x``: the scale goes to the host as a number
    and powers of it are taken there in logarithms."""
    xp = namespace(x)
    if type(x) is np.ndarray:  # host memory: the maximum as a float (the same quotients)
        host = host_max_abs(x)
        return xp, host, x / (host if host > 0.0 else 1.0)
    top = reduce_max(xp, xp.abs(x))
    return xp, top, x / xp.where(top > 0.0, top, xp.ones_like(top))


def _scaled(factor: Any, y: Any) -> Any:
    """``factor * y``, the gradient of a power of a norm; on the host, where ``factor`` is
    past the float range (``inf``), ``0`` where ``y_i = 0`` (the exact entry), not NumPy's
    ``inf * 0 = NaN`` and its warning, and ``+-inf`` elsewhere, silently."""
    if type(y) is np.ndarray and isinstance(factor, (float, np.floating)) and factor == math.inf:
        with np.errstate(over="ignore", invalid="ignore"):
            return np.where(y == 0.0, y, factor * y)
    return factor * y


def _zeros_kept(xp: Any, grad: Any, y: Any) -> None:
    """``grad = factor * y`` made again in place where ``factor`` passed the float range on
    an array library other than NumPy (known once ``max_i |grad_i|``, inf or NaN, is
    fetched: no extra round trip on the ordinary path): ``0`` where ``y_i = 0``, the exact
    entry, not the ``inf * 0 = NaN`` of the product (:func:`_scaled`'s NumPy result)."""
    grad[...] = xp.where(y == 0.0, xp.zeros_like(grad), grad)


def _norm_scale(xp: Any, like: Any, p: float, top: Any, small: Any) -> Any:
    """``2p ||y||^(2p-2)`` (the factor of ``y`` in the gradient of ``||y||^(2p)``) from the
    0-d arrays ``top = max_i |y_i|`` and ``small = ||y / top||^2``, computed in float64 on
    ``like``'s device (the plain formula where ``||y||^2`` is a normal float64, else in
    logarithms) and rounded once to ``like``'s dtype; exactly 2 for ``p = 1``. No round
    trip: the gradient ``scale * y`` stays on the device."""
    if p == 1.0:
        return 2.0
    if isinstance(top, (float, np.generic)) and isinstance(small, (float, np.generic)):
        # Host scalars (NumPy): the same float64 formulas on Python floats, no 0-d arrays.
        big, ssum = float(top), float(small)
        sq = big * big * ssum
        if _NORMAL <= sq < math.inf:
            try:
                factor = (2.0 * p) * sq ** (p - 1.0)
            except OverflowError:
                factor = math.inf
        else:  # (as the device formula, NumPy's own exp and log: the same value)
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                logs = 2.0 * np.log(np.float64(big)) + np.log(np.float64(ssum))
                factor = float(np.exp(math.log(2.0 * p) + (p - 1.0) * logs))
        if like.dtype == np.float64:
            return factor
        with np.errstate(over="ignore"):
            return like.dtype.type(factor)
    wide = xp.float64
    big, ssum = xp.astype(top, wide), xp.astype(small, wide)
    sq = big * big * ssum
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        direct = (2.0 * p) * sq ** (p - 1.0)
        logs = xp.exp(math.log(2.0 * p) + (p - 1.0) * (2.0 * xp.log(big) + xp.log(ssum)))
    plain = (sq >= _NORMAL) & (sq < math.inf)
    return xp.astype(xp.where(plain, direct, logs), like.dtype)


class _PointModel(Model):
    """A model of a point alone (no data): its public :meth:`evaluate` (and so
    :meth:`value`, :meth:`grad` and :meth:`at`) checks ``x`` (:func:`checked_point`),
    the loop reaches the unchecked body :meth:`_evaluate` through :meth:`evaluate_with`
    (its iterates come from its checked ``x0``) and the calculus through :meth:`_at`."""

    def evaluate(
        self,
        x: Any,
        *,
        bound: bool = True,
        hint: float | None = None,
        probe: Any = None,
        product: Any = None,
    ) -> Evaluation:
        return self._evaluate(checked_point(x, self), bound, probe)

    def evaluate_with(
        self,
        x: Any,
        *,
        bound: bool = True,
        hint: float | None = None,
        probe: Any = None,
        product: Any = None,
    ) -> Evaluation:
        """:meth:`evaluate` at a point already checked (a run's iterate): ``probe`` is
        the one optional input these models use."""
        return self._evaluate(x, bound, probe)

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
        """The evaluation :meth:`_value_product` made at ``x`` (``product``) where it is
        all that is asked for (no bound, no probe); else a new one."""
        if type(product) is _Evaluated and product.x is x and not bound and probe is None:
            return product.evaluation, False
        return super().evaluate_valued(x, value, bound=bound, probe=probe)

    def _value_product(self, x: Any) -> tuple[float, Any]:
        """``f(x)`` with the evaluation it comes with (the gradient: one pass over ``x``),
        handed on to :meth:`evaluate_valued` at ``x``."""
        evaluation = self._evaluate(checked_point(x, self), False, None)
        return evaluation.value, _Evaluated(x, evaluation)

    def _at(self, x: Any) -> LocalBound:
        bound = self._evaluate(x, True, None).bound
        assert bound is not None
        return _RadiusChecked(bound)

    @abstractmethod
    def _evaluate(self, x: Any, bound: bool, probe: Any) -> Evaluation:
        """:meth:`evaluate` for a checked ``x``."""


class _Evaluated(NamedTuple):
    """A point model's evaluation at ``x``, made for its value
    (:meth:`_PointModel._value_product`)."""

    x: Any
    evaluation: Evaluation


def checked_point(x: Any, model: Model) -> Any:
    """``x`` as a point of ``model``: a non-empty 1-D real array (integers and bools
    become float64, as ``lfso.minimize``'s ``x0``), else a ``TypeError`` or
    ``ValueError`` naming ``x``. No pass over its entries: a NaN makes ``f`` NaN."""
    shape, name = getattr(x, "shape", None), type(model).__name__
    if shape is None:  # (a list: lfso.minimize converts its x0, these methods take arrays)
        raise TypeError(
            f"x must be a 1-D real array for this {name}, got x={_show(x)} ({type(x).__name__})"
        )
    if len(shape) != 1 or shape[0] == 0:
        raise ValueError(
            f"x must be a non-empty 1-D array for this {name}, got x of shape {tuple(shape)}"
        )
    xp = namespace(x)
    if xp.isdtype(x.dtype, "real floating"):
        return x
    if not xp.isdtype(x.dtype, ("integral", "bool")):
        raise TypeError(f"x must be a real array for this {name}, got dtype {x.dtype}")
    return xp.astype(x, xp.float64)


class PowerNorm(_PointModel):
    """``f(x) = ||x||_2^(2p)`` for real ``p`` in ``[1, 2^22]``.

    ``x`` may have any length (:attr:`dim` is ``None``): the function is defined in every
    dimension, and a run's dimension is its ``x0``'s.

    Oracle (exact supremum of the Hessian norm over the ball):

    .. math::  L(x, R) = 2p(2p - 1) (\\|x\\| + R)^{2p - 2}.

    Why: ``Hess f(y) = 2p ||y||^(2p-2) I + 2p(2p-2) ||y||^(2p-4) y y^T`` has norm
    ``2p(2p-1) ||y||^(2p-2)``, increasing in ``||y|| <= ||x|| + R``. It coincides with the
    paper's composite bound for this function (Section 5.1). The paper's default radius is
    ``R0(x) = ||grad ||x||^2|| = 2 ||x||``.

    Floating point (any scale of ``x``, float32 included): ``||x||^2 = X^2 s`` with ``X =
    max_i |x_i|`` and ``s = ||x / X||^2 in [1, d]``, a sum that cannot overflow or
    underflow; ``f``, ``||grad f||`` and the bound's ``||x||`` are taken from ``X`` and
    ``s`` on the host (in logarithms where ``||x||^2`` leaves the float64 range: ``f =
    inf`` only past it), and
    ``grad f = c x`` with ``c = 2p ||x||^(2p-2)`` computed in float64 and rounded once to
    ``x``'s dtype (2 exactly for ``p = 1``). ``||x||`` is padded by the rounding of
    ``s``, ``gamma_{d+4}`` (:func:`lfso._arrays.error_gamma`), and by ``sqrt(2 d tiny)``
    for underflow (``tiny`` the dtype's smallest normal number).

    Examples
    --------
    >>> import numpy as np, lfso
    >>> res = lfso.minimize(lfso.models.PowerNorm(2), np.ones(10))
    >>> res.success
    True
    """

    has_segment = True
    extras = frozenset({"probe"})

    def __init__(self, p: float) -> None:
        self.p = power(p)

    def bound_from_norm(self, norm: float) -> LocalBound:
        """``R -> L(x, R)`` given ``||x||``."""
        p = self.p
        if p == 1.0:
            bound: LocalBound = proven_constant(2.0)
        else:
            bound = PowerBound(rounded_up(2 * p * (2 * p - 1), 1.0), norm, 1.0, 2 * p - 2)
        bound.paper_radius = 2.0 * norm
        return bound

    def _evaluate(self, x: Any, bound: bool, probe: Any) -> Evaluation:
        p = self.p
        xp, top, unit = _normalized(x)
        ssum = reduce_sum(xp, unit * unit)  # ||x||^2 / X^2, in [1, d]
        grad = _scaled(_norm_scale(xp, x, p, top, ssum), x)
        # (the largest entry of the computed gradient: inf where it overflowed)
        wanted = [top, ssum, reduce_max(xp, xp.abs(grad))]
        if probe is not None:  # grad @ probe = c X (x / X) @ probe: same round trip
            wanted.append(reduce_sum(xp, unit * probe))

        def make(values: list[float]) -> Evaluation:
            big, small = values[0], values[1]
            value = gnorm = 0.0
            dot = None if probe is None else 0.0
            if big > 0.0:
                value, peak = _norm_powers(big, small, p)
                gnorm = peak * math.sqrt(small)
                if not values[2] < math.inf:  # (overflowed: inf, or inf * 0 = NaN)
                    gnorm = math.inf
                    if type(grad) is not np.ndarray:  # (NumPy's kept its zeros)
                        _zeros_kept(xp, grad, x)
                if probe is not None:
                    dot = peak * values[3]
            elif big != 0.0:  # a NaN entry of x (not 0: f and its gradient are NaN)
                value = gnorm = math.nan
            local = None
            if bound:  # ||x|| from a sum of d squares in x's dtype: padded by its rounding
                n = int(x.shape[0])
                tiny = float(xp.finfo(x.dtype).smallest_normal)
                pad = 1.0 + error_gamma(n + 4, x.dtype)
                norm = big * (math.sqrt(small) * pad + math.sqrt(2 * n * tiny))
                local = self.bound_from_norm(norm)
            return Evaluation(value, grad, gnorm, local, dot)

        return fetched_scalars(grad, wanted, make)

    def segment(self, x: Any, evaluation: Evaluation, direction: Any) -> SegmentBound:
        """The exact supremum of the curvature along the segment, bounded despite rounding
        (:class:`~lfso.models._segments.NormPathSegment`: ``x`` and ``d`` are exact inputs)."""
        # (g . d: fetched with the path's sums on first use; on the host, when asked for)
        return NormPathSegment.along(
            self.p, 1.0, x, direction, slope_of=(evaluation.grad, direction)
        )

    def along_within(self, x: Any, direction: Any, delta: float, eps: float) -> SegmentBound:
        """The segment bound of a line known up to ``delta`` and ``eps``
        (:meth:`lfso.oracles.LocalSmoothnessOracle.along_within`): the exact supremum's,
        which covers its vectors' rounding (``NormPathSegment``'s ``delta`` and ``eps``)."""
        evaluation = self._evaluate(x, True, None)
        return NormPathSegment.along(
            self.p,
            1.0,
            x,
            direction,
            slope_of=(evaluation.grad, direction),
            delta=delta,
            eps=eps,
        )


class PowerSum(_PointModel):
    """``f(x) = sum_i |x_i|^(2p)`` for real ``p`` in ``[1, 2^22]``.

    ``x`` may have any length (:attr:`dim` is ``None``): the function is defined in every
    dimension, and a run's dimension is its ``x0``'s.

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
    per round trip (:class:`~lfso.models._segments.RowSegment`), computed in float64 whatever the
    data's dtype (``x`` and ``d`` convert exactly), so that a float32 run's curvature does
    not underflow: ``0.1^48`` is ``0`` in float32, whose smallest number is about
    ``1e-45``.

    Floating point: ``f = X^(2p) sum_i |x_i / X|^(2p)`` with ``X = max_i |x_i|`` (the sum
    lies in ``[1, d]``: no overflow or underflow), its power taken on the host (in
    logarithms where it leaves the float64 range: ``f = inf`` only there); the gradient's
    entries ``2p |x_i|^(2p-2) x_i`` over- or underflow only where they themselves leave
    the dtype's range.
    """

    has_segment = True
    extras = frozenset({"probe"})

    def __init__(self, p: float, *, oracle: str = "sharp") -> None:
        self.p = power(p)
        if oracle not in ("sharp", "paper"):
            raise ValueError(f"oracle must be 'sharp' or 'paper', got {oracle!r}")
        self.oracle = oracle
        self._kernel = power_kernel(2 * self.p - 2, 2 * self.p * (2 * self.p - 1))

    def bound_from_max(self, amax: float) -> LocalBound:
        """``R -> L(x, R)`` given ``max_i |x_i|``."""
        p = self.p
        bound: LocalBound
        if p == 1.0:
            bound = proven_constant(2.0)
        elif self.oracle == "sharp":
            bound = PowerBound(rounded_up(2 * p * (2 * p - 1), 1.0), amax, 1.0, 2 * p - 2)
        elif (c := self._paper_constant()) < math.inf:
            # (c: two products and a power, 4 u; c amax^q: a power and a product more; a
            # power below the normal range carries the smallest subnormal number, what it
            # may have lost, which c magnifies, and the R term's underflow with it)
            power = _power_or_inf(amax, 2 * p - 2)
            if amax > 0.0 and power < sys.float_info.min:
                power += 5e-324
            peak = ConstantBound(rounded_up(c * power, 7.0))
            bound = peak + PowerBound(rounded_up(c, 4.0), 0.0, 1.0, 2 * p - 2)
        else:  # c past the float range (p > 512): k_m t^m = (2 t)^m / 2, 2 t exact
            half = p * (2 * p - 1)
            peak = ConstantBound(rounded_up(half * _power_or_inf(2.0 * amax, 2 * p - 2), 7.0))
            bound = peak + PowerBound(rounded_up(half, 4.0), 0.0, 2.0, 2 * p - 2)
        bound.paper_radius = amax
        return bound

    def _paper_constant(self) -> float:
        """``c = 2p(2p - 1) k_m``, ``m = 2p - 2``; ``inf`` past the float64 range."""
        p, m = self.p, 2 * self.p - 2
        return 2 * p * (2 * p - 1) * split_factor(m) if m < 1025.0 else math.inf

    def _powers(self, xp: Any, x: Any, unit: Any) -> tuple[Any, Any]:
        """``(|x|^(2p-2), sum_i |x_i / X|^(2p))``, ``X = max_i |x_i|``."""
        p = self.p
        if p == int(p):
            x2, u2 = x * x, unit * unit
            return x2 ** int(p - 1), reduce_sum(xp, u2 ** int(p - 1) * u2)
        au = xp.abs(unit)
        return xp.abs(x) ** (2 * p - 2), reduce_sum(xp, au ** (2 * p - 2) * au * au)

    def _evaluate(self, x: Any, bound: bool, probe: Any) -> Evaluation:
        p = self.p
        xp, top, unit = _normalized(x)
        # Each |x_i|^(2p-1) over- or underflows only with its own gradient entry: inf past
        # the float range, silently (NumPy's errstate only where max |x_i|^(2p-1) may pass)
        if type(top) is float and top > 0.0 and max(2.0, 2 * p - 1) * math.log(top) > 700.0:
            with np.errstate(over="ignore"):
                w, total = self._powers(xp, x, unit)
                grad = (2 * p) * (w * x)
        else:
            w, total = self._powers(xp, x, unit)
            grad = (2 * p) * (w * x)

        def make(fetched: Fetched) -> Evaluation:
            (total_h, big), gnorm, dot = fetched
            if big > 0.0:
                value = _power(total_h, big, 2.0 * p)
            else:  # (0, or NaN where x has a NaN entry)
                value = 0.0 if big == 0.0 else math.nan
            local = self.bound_from_max(big) if bound else None
            return Evaluation(value, grad, gnorm, local, dot)

        return fetched_evaluation(grad, [total, top], probe, make)

    def segment(self, x: Any, evaluation: Evaluation, direction: Any) -> SegmentBound:
        """Per-coordinate endpoint suprema (see the class docstring), in float64."""
        p, d = self.p, direction
        if p == 1.0:  # f = ||x||^2: C = 2 ||d||^2 exactly
            return NormPathSegment.along(1.0, 1.0, None, d, slope=evaluation.grad @ d)
        g = evaluation.grad
        f64 = np.float64  # (three tests written out: a generator costs more than they do)
        if not (
            type(x) is np.ndarray
            and type(d) is np.ndarray
            and type(g) is np.ndarray
            and x.dtype == f64
            and d.dtype == f64
            and g.dtype == f64
        ):
            xp = namespace(x)
            x, d, g = (xp.astype(v, xp.float64) for v in (x, d, g))
        # d^2 as (|d| + floor)^2, a normal number (weight_floor: no weight may underflow
        # beside the power kernel's unbounded values; d^2 itself where |d| > 1e-138); no
        # bound on max |d| is at hand (top=inf): a d^2 past the float range is inf, which
        # the bound takes, silently (the microsecond of np.errstate, not a pass over d)
        xp = namespace(d)
        weight = squared_slack(xp, d, weight_floor(xp, d.dtype), top=math.inf)
        slope, pair = row_slope(g, d)
        return RowSegment(x, d, self._kernel, weight=weight, scale=1.0, slope=slope).lazy_slope(
            pair
        )
