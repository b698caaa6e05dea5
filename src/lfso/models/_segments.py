"""The built-in models' segment bounds ``t -> C(x, d, t)`` (the contract:
:class:`lfso.oracles.SegmentBound`): sharp ones, O(n) per ``t`` from ``u = A d``.

:class:`RowSegment`: ``C(t) = sum_i sup_{s <= t} l_i''(r_i + s u_i) u_i^2`` over the rows
of a row model, several ``t`` per host round trip, with the row kernels (power, logistic,
Cauchy) beside it; :class:`NormPathSegment`: ``||y||^(2p)`` along a line, O(1) per ``t``
after one round trip; :class:`CarriedProduct`: the model's linear image of the next point,
carried from the segment so that it is not recomputed.
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
from collections.abc import Callable
from typing import Any

import array_api_compat
import numpy as np
from scipy.linalg.blas import idamax, isamax

from .._arrays import (
    _DOT_DTYPES,
    _gamma_of_unit,
    constant,
    device,
    host_vdot,
    materialize,
    materialize_all,
    namespace,
    to_floats,
    to_numpy,
)
from .._later import accelerated
from ..oracles._bounds import (
    OracleError,
    PrecisionLimitError,
    check_monotone,
    check_target,
    check_value,
    solve_radius,
)
from ..oracles._segment import SegmentBound
from . import _compiled, _fused
from ._portable import rebuilt_by
from ._ridge import held_up

__all__ = ["ApproachSegment", "CarriedProduct", "NormPathSegment", "RowSegment"]

_MAX_ROUNDS = 60
#: A sequential solve's first largest step up from the bracket's low end (_next_point).
_WIDEST = 8.0
#: Default positive floor of a row segment bound (the smallest normal float64).
_FLOOR = 2.2250738585072014e-308
#: A row segment of ``n`` terms in a dtype narrower than float64 sums them in float64 where
#: ``n eps`` reaches this (float32: from ``2^23`` rows, where a sum in the rows' dtype
#: needs a pad of 2, and of ``e^(n eps / 2)`` past 2.1e7 rows, 11 at 4e7; summed in
#: float64, ``1 + 2e-6``: :func:`rounding_pad`).
_WIDE_SUMS = 1.0
#: Rows per block of a sum accumulated in float64 (:func:`_wide_sums`).
_WIDE_BLOCK = 1 << 16


def rounding_pad(
    terms: int, dtype_eps: float, term_ulps: float = 8.0, sum_eps: float | None = None
) -> float:
    """Relative pad on a sum of ``terms`` non-negative floating-point terms: ``P`` with
    ``exact sum <= P computed sum``, for every ``terms``.

    Each term is a product of a few correctly rounded operations, within ``term_ulps``
    units of ``eps = dtype_eps`` (relative) of its exact value (8 for the elementwise
    formulas here, exponentials included; a kernel raising a rounded base to a power ``m``
    states its own, about ``9 m``): ``e_i <= c_i / (1 - term_ulps eps)`` for the computed
    ``c_i >= 0``. The ``n = terms`` terms are added in any order (recursive, pairwise,
    blocked: NumPy, PyTorch, Dask), each addition rounded to nearest in a dtype of unit
    roundoff ``v = sum_eps / 2`` (``sum_eps``: the rows' ``eps`` by default; float64's
    where the sum is accumulated there, and then maybe rounded once to the rows' dtype,
    ``eps / 2`` more). Each term passes through at most ``n - 1`` additions, each of which,
    adding non-negative numbers, keeps at least ``1 - v`` of its exact result, so the
    computed sum ``S`` is at least ``(1 - v)^(n - 1)`` of the sum of the ``c_i`` (Higham,
    *Accuracy and Stability of Numerical Algorithms*, 2002, Section 4.2). The theorem, for
    every ``n``:

        sum_i e_i  <=  S / ((1 - term_ulps eps) (1 - v)^(n - 1) [1 - eps / 2])

    (the bracket where the sum is accumulated in another dtype). The pad returned is the
    first-order form ``1 + (n + 2 term_ulps + 1) eps`` where that covers the exact one (for
    a sum in the rows' dtype, ``1 + 2 x >= e^x`` for ``x = (n - 1) v`` up to about 1.25:
    a float32 sum of up to about 2.1e7 terms; any sum of ``term_ulps >= 3`` in float64),
    else the exact one, rounded up against its own float64 roundings (``exp`` and
    ``log1p`` within an ulp: a relative ``2^-50``); ``inf`` past the float range. It
    grows as ``e^(n v)``: a float32 sum of 4e7 terms needs 11, so :class:`RowSegment`
    accumulates long sums in float64 (:data:`_WIDE_SUMS`). Negligible in float64; in
    float32 about ``n`` ulps, i.e. 1e-3 at 10^4 rows. Underflow is an absolute error,
    padded separately (:attr:`RowSegment.underflow`).
    """
    wide = sum_eps is not None
    if sum_eps is None:
        first = 1.0 + (terms + 2.0 * term_ulps + 1.0) * dtype_eps
        sum_eps = dtype_eps
    else:
        first = 1.0 + terms * sum_eps + (2.0 * term_ulps + 1.0) * dtype_eps
    below = 1.0 - term_ulps * dtype_eps
    if wide:
        below *= 1.0 - 0.5 * dtype_eps
    # (1 - v)^-(n - 1) = e^y, y = -(n - 1) log1p(-v), within a relative 2^-51: enlarged
    y = (terms - 1) * -math.log1p(-0.5 * sum_eps) * (1.0 + 2.0**-50)
    if not below > 0.0 or y > 700.0:
        return math.inf
    exact = math.exp(y) * (1.0 + 2.0**-50) / below
    return first if first >= exact else exact


class NormPathSegment(SegmentBound):
    """``f(y) = k ||y||^(2p)`` (``p >= 1``, ``k > 0``) along ``y(s) = y + s v``: the exact
    supremum, bounded from above despite every rounding.

    With ``q(s) = ||y(s)||^2``, ``c = ||v||^2`` and ``D = min_s q(s)`` (the squared distance
    from 0 to the line), ``h(s) = f(y(s)) = k q(s)^p`` has

    .. math::  h''(s) = 2 p k \\, c \\, q^{p-1} \\big(1 + 2 (p - 1) \\rho\\big)
               = 2 p k \\, c \\, q^{p-1} \\big((2p - 1) - 2 (p - 1) D / q\\big),

    ``rho = (b + c s)^2 / (c q) = 1 - D/q`` (``b = y . v``). As a function ``G(c, D, q)``
    it is non-decreasing in ``q >= D`` (``dG/dq = 2 p k c (p - 1) q^(p-3) ((2p - 1) q -
    2 (p - 2) D) >= 0``), non-increasing in ``D`` and increasing in ``c``. Along the line
    ``q`` is convex, so on ``[0, t]`` it is largest at an endpoint, and

    .. math::  \\sup_{s \\in [0, t]} h''(s) = G\\big(c, D, \\max(q(0), q(t))\\big)
               \\le G(c^+, D^-, Q(t)) =: C(t)

    for any ``c^+ >= c``, ``D^- <= D`` and ``Q(t) >= max(q(0), q(t))``; ``C`` is
    non-decreasing in ``t`` because ``Q`` is, and exact when the three bounds are. It is
    never above the ball bound ``2p(2p-1) k (||y|| + t ||v||)^{2p-2} ||v||^2``.

    Rounding. The given ``y``, ``v`` are computed vectors within ``delta`` and ``eps``
    (2-norm) of the exact ones (``0`` for exact inputs such as an iterate and its
    direction). :meth:`along` divides them by ``Y = max_i |y_i|`` and ``V = max_i |v_i|``
    on the device and sums ``a = ||y/Y||^2``, ``b = (y/Y) . (v/V)``, ``c = ||v/V||^2``,
    all O(1) (no overflow; a sum with a term 1 cannot underflow), and fetches them with
    ``Y``, ``V``, ``delta``, ``eps`` and ``g . d`` in one round trip (for ``p = 1`` on
    NumPy, ``c = ||v||^2`` is summed as it is where it lies in ``[1e-200, inf)``: the same
    argument in the unit ``V = 1``, no overflow, ``zeta`` below an ulp of ``c``). Each term
    has three roundings and a sum of ``n`` terms is within ``gamma = gamma_{n+3} = (n + 3) u / (1 -
    (n + 3) u)`` (``u = eps_dtype / 2``; :func:`lfso._arrays.error_gamma` for any ``n``)
    of the sum of absolute values (Higham, Lemma 3.1), and each operation may lose
    ``zeta_1 =`` the dtype's smallest normal number to underflow (flush-to-zero
    included), so each sum is within ``gamma |.| + zeta``, ``zeta = 5 n zeta_1`` (times
    ``1 + gamma`` where ``gamma >= 1``: the later roundings scale a loss by as much). On the
    host (float64) every quantity is taken in units ``S_y = max(Y, delta)`` and
    ``S_v = max(V, eps)`` and ``sigma = t S_v / S_y``; with ``a^+ = (a + zeta) / (1 -
    gamma)`` (``(a + zeta) (1 + gamma)`` where ``gamma >= 1``, by the lemma in
    :func:`lfso._arrays.error_gamma`), ``a^- = (a - zeta)_+ / (1 + gamma)`` (likewise ``c``):

    * ``||ybar + sigma vbar||^2 <= P(sigma) = a + 2 b sigma + c sigma^2 + gamma (sqrt(a^+)
      + sigma sqrt(c^+))^2 + zeta (1 + sigma)^2`` for the computed vectors, a convex
      quadratic (so ``max(P(0), P(sigma))`` bounds it on ``[0, sigma]``), and by the
      triangle inequality ``sqrt(q(s)) / S_y <= sqrt(max(P(0), P(sigma))) + delta / S_y +
      sigma eps / S_v`` for ``s <= t``: ``Q(t)``;
    * ``||v_exact|| / S_v <= sqrt(c^+) + eps / S_v`` (the triangle inequality), whose
      square bounds ``c`` in units ``S_v^2``;
    * ``sqrt(D) >= sqrt((a^- - (|b| + gamma sqrt(a^+ c^+) + zeta)^2 / c^-)_+) - delta /
      S_y - sqrt(a^+) min(1, (eps / S_v) / sqrt(c^-))``: the computed line's distance to 0,
      moved by at most ``delta`` through ``y`` and by ``||y|| sin(angle)`` through ``v``,
      whose angle to the computed ``v`` has ``sin <= eps / ||v||``; ``D^-`` is its square.

    The host's own float64 rounding is covered by ``8 eps_64`` on the quadratic's
    coefficients, ``16 eps_64`` times the sum of the magnitudes of the logarithms in
    ``log C = log(2pk) + log c^+ + (p - 1) log Q + log((2p - 1) - 2(p - 1) D^- / Q)``
    (which is how ``C`` is evaluated for ``p > 1``: no intermediate overflows or
    underflows, whatever the scales of ``y``, ``v`` and ``t``; for ``p = 1``, ``C = 2k
    c^+`` is computed directly, padded by ``4 eps_64``: seven roundings) and ``4 max(1,
    2pk)`` units in the last place of 0 (a subnormal result's rounding). So ``C`` is
    ``inf`` only where the padded bound itself exceeds the float64 range, and never ``0``.
    Where the sums were taken as they are on the host (float64, in range; ``delta, eps <=
    1``) and ``0 <= t <= 1``, ``C`` is instead evaluated directly, ``2pk c^+ Q^(p-1)
    ((2p - 1) - 2(p - 1) min(D^- / Q, 1))`` padded by ``1 + (32 p + 16) eps_64``, wherever
    its power and value are normal numbers (:func:`_host_path_direct` holds that rounding
    argument; the logarithms elsewhere): the same bound, with a smaller pad.
    O(1) per ``t`` after the round trip. Where no finite step can be certified (``C(0) =
    inf``, or a step past the float range), :meth:`radius_for` raises
    :class:`~lfso.oracles.PrecisionLimitError`.

    Parameters
    ----------
    p : float, >= 1
    scale : float, > 0
        ``k``.
    a, b, c : 0-d arrays or floats
        The three sums, of ``y / Y`` and ``v / V`` where ``norms = (Y, V)`` is given (as
        :meth:`along` computes them), else of ``y`` and ``v`` themselves (which may over-
        or underflow: prefer :meth:`along`).
    slope : 0-d array, optional
        ``g . d``.
    terms : int
        ``n``, the length of ``y``.
    dtype_eps : float
        The machine epsilon of the dtype the sums were computed in.
    product : callable ``t -> array`` or None
    norms : (0-d array, 0-d array), optional
        ``(max_i |y_i|, max_i |v_i|)``.
    delta, eps : floats or 0-d arrays
        Bounds on ``||y - y_exact||`` and ``||v - v_exact||`` (2-norms).
    tiny : float, optional
        The absolute rounding error of one operation in the sums' dtype (its smallest
        normal number; from ``a``'s dtype by default).
    """

    proven = True  # (a built-in model's: 0 or inf is the float range's edge)
    #: ``(s, eta) -> s_eff``: the computed slope checked against a bound on the exact one
    #: on the device (:class:`lfso.models._device_slope.DeviceSlope`), where the model
    #: states one; :meth:`device_step` sizes the step from ``s_eff``.
    device_check: Any = None

    def __init__(
        self,
        p: float,
        scale: float,
        a: Any,
        b: Any,
        c: Any,
        *,
        slope: Any = None,
        terms: int = 1,
        dtype_eps: float = 0.0,
        product: Callable[[float], Any] | None = None,
        norms: tuple[Any, Any] | None = None,
        delta: Any = 0.0,
        eps: Any = 0.0,
        tiny: float | None = None,
    ) -> None:
        if tiny is None:
            dtype = getattr(a, "dtype", None)
            tiny = float(namespace(a).finfo(dtype).smallest_normal) if dtype is not None else 0.0
        self._setup(p, scale, (a, b, c, slope), terms, dtype_eps, tiny, product, norms, delta, eps)

    def _setup(
        self,
        p: float,
        scale: float,
        arrays: tuple[Any, Any, Any, Any],
        terms: int,
        dtype_eps: float,
        tiny: float,
        product: Callable[[float], Any] | None,
        norms: tuple[Any, Any] | None,
        delta: Any,
        eps: Any,
    ) -> None:
        """The attributes :meth:`__init__` sets (positional: the host subclasses call it
        once per segment, where keywords cost more than the arithmetic)."""
        self.p, self.k = float(p), float(scale)
        self._gamma, self._zeta, self.monotone_rtol = _path_pads(self.p, terms, dtype_eps, tiny)
        self._arrays = arrays  # (a, b, c, slope): 0-d arrays (or floats), fetched on first use
        self._norms, self._errors = norms, (delta, eps)
        self._host: dict[str, Any] | None = None
        self._product = product
        self.has_product = product is not None

    @classmethod
    def along(
        cls,
        p: float,
        scale: float,
        y: Any | None,
        v: Any,
        *,
        slope: Any = None,
        delta: Any = 0.0,
        eps: Any = 0.0,
        product: Callable[[float], Any] | None = None,
        y_scaled: tuple[Any, Any, Any] | None = None,
        y_sq: float | None = None,
        slope_of: tuple[Any, Any] | None = None,
    ) -> NormPathSegment:
        """The segment of ``k ||y + s v||^(2p)`` from the vectors: their maxima and the
        three sums of the normalised vectors, left on the device (see the class
        docstring); ``delta``, ``eps`` bound the vectors' own rounding (2-norms). For
        ``p = 1`` the bound ``2k ||v||^2`` does not read ``y``, which may be ``None``.
        ``y_scaled``: ``(Y, y / Y, ||y / Y||^2)`` with ``Y = max_i |y_i|`` (divided by 1
        where ``Y = 0``) as computed here, when the caller has them on the device already
        (not read for NumPy ``y``, whose host path computes them in place). ``y_sq``:
        ``float(y @ y)`` for NumPy ``y``, when the caller has summed it already.
        ``slope_of``: ``(g, d)`` in place of ``slope``, whose ``g . d`` is summed when the
        bound is asked for it on the host (a host solve does not read it), else at once."""
        host = type(v) is np.ndarray and (y is None or type(y) is np.ndarray)
        # p = 1 on the host: ||v||^2 summed as it is where that neither overflows nor comes
        # near the underflow range (the class docstring's argument in the unit S_v = 1: the
        # pad zeta is then below an ulp of the sum); normalised otherwise. (A sum past the
        # range is inf: normalised below.)
        plain = _host_dot(v, v) if host and p == 1.0 else math.nan
        in_range = _PLAIN_LOW <= plain < math.inf
        if in_range and isinstance(delta, float) and isinstance(eps, float):  # (all on the host)
            dtype_eps, tiny = _eps_tiny(_NUMPY, v.dtype)
            return _HostQuadratic(
                scale, plain, int(v.shape[0]), dtype_eps, tiny, delta, eps, slope, product
            ).lazy_slope(slope_of)
        xp = _NUMPY if type(v) is np.ndarray else namespace(v)
        dtype_eps, tiny = _eps_tiny(xp, v.dtype)
        if slope_of is not None and not host:
            slope = slope_of[0] @ slope_of[1]
        norms: tuple[Any, Any] | None = None
        pair = (
            host
            and p != 1.0
            and y is not None
            and v.dtype == np.float64
            and y.dtype == np.float64
            and _PAIR_LOW <= (a := _host_dot(y, y) if y_sq is None else y_sq) <= _PAIR_HIGH
            and _PAIR_LOW <= (c := _host_dot(v, v)) <= _PAIR_HIGH
        )
        if in_range:
            a = b = c = plain
        elif pair:
            # p > 1, float64 on the host, both sums in range: summed as they are, in the
            # unit S_y = S_v = 1 (the range keeps a c, and so |y . v| <= sqrt(a c), a
            # normal number: the bound's rounding terms neither overflow nor underflow).
            assert y is not None
            b = _host_dot(y, v)
            if isinstance(delta, float) and isinstance(eps, float):  # (all on the host)
                return _HostPath(
                    p, scale, a, b, c, int(v.shape[0]), dtype_eps, tiny, delta, eps, slope, product
                ).lazy_slope(slope_of)
        else:
            vmax, vs = _normalised(xp, v, host)
            c = vs @ vs
            if p == 1.0:  # (the sums of y would not be read)
                ymax, a, b = vmax, c, c
            elif y is None:
                raise ValueError(f"NormPathSegment.along needs y for p = {p!r} (only p = 1 not)")
            else:
                if y_scaled is not None and not host:
                    ymax, ys, a = y_scaled
                else:
                    ymax, ys = _normalised(xp, y, host)
                    a = ys @ ys
                b = ys @ vs
            norms = (ymax, vmax)
        if slope_of is not None and host:
            slope = slope_of[0] @ slope_of[1]
        return cls(
            p,
            scale,
            a,
            b,
            c,
            slope=slope,
            terms=int(v.shape[0]),
            dtype_eps=dtype_eps,
            product=product,
            norms=norms,
            delta=delta,
            eps=eps,
            tiny=tiny,
        )

    def _fetch(self) -> dict[str, Any]:
        """The host constants (one round trip, the first time), with ``g . d``."""
        if self._host is None:
            a, b, c, slope = self._arrays
            norms = (1.0, 1.0) if self._norms is None else self._norms
            wanted = [a, b, c, *norms, *self._errors]
            if slope is not None:
                wanted.append(slope)
            values = to_floats(*wanted)
            if slope is not None:
                self._slope = values.pop()
            self._host = _host_path_constants(
                self.p, self.k, self._gamma, self._zeta, *map(float, values)
            )
        return self._host

    def _fetch_slope(self) -> float:
        self._fetch()
        if self._slope is None:
            raise ValueError("this segment bound was built without the gradient: no slope")
        return self._slope

    def __call__(self, radius: float) -> float:
        consts = self._fetch()
        return _host_path_curvature(self.p, self.k, consts, float(radius))

    def radius_for(
        self, target: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        """:meth:`lfso.oracles.LocalBound.radius_for`; exact for ``p = 1`` (a quadratic).

        Raises :class:`~lfso.oracles.PrecisionLimitError` where the bound leaves the float
        range (``C(0) = inf``) or certifies no representable step."""
        target = check_target(target)
        if not target > 0.0 or self.p == 1.0:
            at_zero = self._at_zero()
            if not target > 0.0:
                return 0.0, check_value(at_zero, 0.0), 1
        try:
            if self.p == 1.0:  # a quadratic: exact
                t, value, evals = target / at_zero, at_zero, 1
            else:  # (C(0) is looked at only if the solve finds no step)
                t, value, evals = solve_radius(self, target, rtol=rtol, guess=guess)
        except (OracleError, ZeroDivisionError) as exc:
            self._at_zero()
            raise PrecisionLimitError(f"no certified step in float range: {exc}") from exc
        if not (0.0 < value < math.inf and target / value < math.inf):
            self._at_zero()
            raise PrecisionLimitError(
                f"the certified step {target!r} / {value!r} is not representable"
            )
        return t, value, evals

    def _at_zero(self) -> float:
        """``C(0)``; raises :class:`~lfso.oracles.PrecisionLimitError` where it is ``inf``
        (then so is ``C(t)`` for every ``t``: no finite step can be certified)."""
        at_zero = self(0.0)
        if not at_zero < math.inf:
            raise PrecisionLimitError(
                "the curvature along the step exceeds the float range at its start "
                f"(C(0) = {at_zero!r}): no finite step can be certified"
            )
        return at_zero

    @property
    def on_device(self) -> bool:
        a, _, _, slope = self._arrays
        return slope is not None and not isinstance(a, (float, int))

    def device_step(
        self, eta: float, *, rtol: float = 1e-3, guess: Any = None, unit: Any = 1.0
    ) -> tuple[Any, Any]:
        """:meth:`SegmentBound.device_step` on the data's device, no round trip (``guess``
        a float or a 0-d array there): the same
        bound (in float64 there) on two batches of trial steps, each certifying ``min(t_j,
        target / C(t_j))`` (:func:`_grid_step`); exact for ``p = 1``. As ``C`` is
        non-decreasing, the largest certified step is at most ``t_0 = target / C(0)``, so
        the first batch is ``t_0`` times :data:`_PATH_TRIALS` (whatever the scale of ``d``:
        no guess needed), and the second refines the bracket it finds."""
        a, b, c, slope = self._arrays
        if slope is None or isinstance(a, (float, int)):
            return super().device_step(eta, rtol=rtol, guess=guess, unit=unit)
        xp = namespace(a)
        where = device(a)
        f64 = xp.float64

        def wide(value: Any) -> Any:  # (a host number by a fill: no copy from the host)
            if isinstance(value, (int, float)):
                return xp.full((), float(value), dtype=f64, device=where)
            return xp.asarray(value, dtype=f64, device=where)

        norms = (1.0, 1.0) if self._norms is None else self._norms
        values = [wide(v) for v in (a, b, c, *norms, *self._errors)]
        consts = _path_constants(xp, self.p, self.k, self._gamma, self._zeta, *values)
        if self.device_check is not None:  # (the exact slope's bound: models._device_slope)
            slope = self.device_check(slope, eta)
        target = (-eta) * wide(slope)

        def curvature(trials: Any, then: Any = None) -> Any:
            return _finished(xp, _path_curvature(xp, self.p, self.k, consts, trials), then)

        top = target / curvature(xp.zeros(1, dtype=f64, device=where))[0]  # (t* <= it)
        if guess is not None and not isinstance(guess, (int, float)):
            fallback = wide(guess)  # (a 0-d array on the device: 1 if 0 or not finite)
            fallback = xp.where((fallback > 0.0) & (fallback < math.inf), fallback, 1.0)
        else:
            fallback = wide(guess if guess is not None and 0.0 < guess < math.inf else 1.0)
        fallback = fallback / wide(unit)
        top = xp.where((top > 0.0) & (top < math.inf), top, fallback)
        trials = top * constant(xp, _PATH_TRIALS, f64, where)
        t_max = float(xp.finfo(a.dtype).max) ** 0.25
        return _grid_step(xp, target, trials, curvature, t_max)

    def product(self, t: float) -> Any:
        return None if self._product is None else self._product(t)


def _sum_floor(gamma: float) -> float:
    """``f`` with ``s <= (s~ + zeta) / f`` for a sum ``s`` of non-negative terms computed
    as ``s~`` within ``gamma |s| + zeta``: Higham's ``1 - gamma`` where ``gamma < 1``;
    beyond, ``1 / (1 + gamma)`` rounded down, as ``s~ >= s / (1 + gamma) - zeta`` (the
    lemma in :func:`lfso._arrays.error_gamma`: each term's factor is at least ``(1 -
    u)^(n+3) >= 1 / (1 + gamma)``)."""
    return 1.0 - gamma if gamma < 1.0 else (1.0 - 2.0**-50) / (1.0 + gamma)


@functools.lru_cache(maxsize=64)
def _path_pads(p: float, terms: int, dtype_eps: float, tiny: float) -> tuple[float, float, float]:
    """``(gamma, zeta, monotone_rtol)`` of :class:`NormPathSegment` for ``n = terms`` sums'
    terms in a dtype with this machine epsilon and smallest normal number (once per
    shape and dtype: every segment of a run asks for the same)."""
    n = max(int(terms), 1)
    gamma = _gamma_of_unit(n + 3, 0.5 * float(dtype_eps))  # gamma_{n+3}, finite for any n
    zeta = 5.0 * n * float(tiny)
    if gamma >= 1.0:  # (an underflow's loss passes through the later roundings too)
        zeta *= 1.0 + gamma
    # C is non-decreasing in exact arithmetic; the host's rounding and its pad move it
    # by at most 16 eps_64 times the logarithms' magnitudes (see the class docstring).
    return gamma, zeta, max(1e-12, 64.0 * float(dtype_eps), 1e5 * (p + 1.0) * _EPS64)


class _HostQuadratic(NormPathSegment):
    """:class:`NormPathSegment` for ``p = 1`` with ``c = ||v||^2`` summed on the host (the
    plain sum of :meth:`NormPathSegment.along`): the same bound, ``C = 2k c^+`` padded as
    the class docstring says, computed at once from host floats (bit for bit what the
    general path computes on first use), so that each ``C(t)`` and the exact step are a
    read and a division."""

    def __init__(
        self,
        scale: float,
        c: float,
        terms: int,
        dtype_eps: float,
        tiny: float,
        delta: float,
        eps: float,
        slope: Any,
        product: Callable[[float], Any] | None,
    ) -> None:
        self._setup(1.0, scale, (c, c, c, slope), terms, dtype_eps, tiny, product, None, delta, eps)
        quad = _host_quad(self.k, self._gamma, self._zeta, c, 1.0, eps)
        self._host = {"quad": quad}  # (what _host_path_constants gives for p = 1)
        # _host_path_curvature for p = 1, written out: its (quad + 0.0) + pad is quad + pad
        # (adding 0.0 changes only the sign of a zero), and inf where quad is not below inf
        self._value = quad + _path_pad(1.0, self.k) if quad < math.inf else math.inf
        if slope is not None:
            self._slope = float(slope)

    def __call__(self, radius: float) -> float:
        return self._value

    def radius_for(
        self, target: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        target, value = check_target(target), self._value
        if not value < math.inf or not target > 0.0:  # (the general path's errors)
            return super().radius_for(target, rtol=rtol, guess=guess)
        t = target / value
        if not t < math.inf:
            return super().radius_for(target, rtol=rtol, guess=guess)
        return t, value, 1


class _HostPath(NormPathSegment):
    """:class:`NormPathSegment` for ``p > 1`` with the three sums taken on the host as they
    are (float64, in range: :meth:`NormPathSegment.along`, units ``S_y = S_v = 1``): the
    same bound, its constants computed at once from host floats (bit for bit what the
    general path computes on first use). Each ``C(t)`` for ``0 <= t <= 1`` where
    ``delta, eps <= 1`` is evaluated directly (:func:`_host_path_direct`: no logarithms,
    and sharper than their pad), where every intermediate stays a normal number; in
    logarithms otherwise (:func:`_host_path_curvature`)."""

    def __init__(
        self,
        p: float,
        scale: float,
        a: float,
        b: float,
        c: float,
        terms: int,
        dtype_eps: float,
        tiny: float,
        delta: float,
        eps: float,
        slope: Any,
        product: Callable[[float], Any] | None,
    ) -> None:
        self._setup(p, scale, (a, b, c, slope), terms, dtype_eps, tiny, product, None, delta, eps)
        if slope is not None:
            self._slope = float(slope)
        self._lead: float | None = None
        self._direct: tuple[float, ...] = ()
        if 0.0 <= delta <= 1.0 and 0.0 <= eps <= 1.0:  # (units S_y = S_v = 1)
            # The direct form's constants (the logarithms' ones, bit for bit, computed on
            # first use: _fetch) and its leading constant 2pk c^+, where that is normal.
            quad, direct = _host_unit_constants(
                self.k, self._gamma, self._zeta, a, b, c, delta, eps
            )
            lead = self.p * quad
            if _NORMAL64 <= lead < math.inf:
                self._lead, self._direct = lead, direct
        if self._lead is None:
            self._host = _host_path_constants(
                self.p, self.k, self._gamma, self._zeta, a, b, c, 1.0, 1.0, delta, eps
            )

    def __call__(self, radius: float) -> float:
        t = float(radius)
        if self._lead is not None and 0.0 <= t <= 1.0:
            value = _host_path_direct(self.p, self._lead, self._direct, t)
            if value == value:  # (NaN: a power or product outside the normal range)
                return value
        return _host_path_curvature(self.p, self.k, self._fetch(), t)


#: The smallest normal float64.
_NORMAL64 = 2.2250738585072014e-308
#: The constants :func:`_host_path_direct` reads, in its order.
_DIRECT_KEYS = ("alpha", "beta", "kappa", "root", "dy", "ev", "dist2")


def _host_path_direct(p: float, lead: float, k: tuple[float, ...], t: float) -> float:
    """``C(t)`` of :class:`NormPathSegment` for ``p > 1`` at ``0 <= t <= 1`` in the units
    ``S_y = S_v = 1`` (``sigma = t``), evaluated directly on host floats from the
    constants ``k`` of :func:`_host_path_constants` (:data:`_DIRECT_KEYS`, in that order)
    and ``lead = fl(p quad) >= 2pk c^+ (1 - u)``
    (``u = eps_64 / 2``); NaN where an intermediate leaves the normal range (the caller
    then takes the logarithms, :func:`_host_path_curvature`).

    The same bound as the logarithms', ``G(c^+, D^-, Q)`` at ``Q = N^2``, ``N = max(root,
    sqrt(P(t))) + dy + t ev`` (the quadratic ``P`` with its padded coefficients, evaluated
    as there), with its own rounding argument. ``N`` is a sum of non-negative terms whose
    computed value has at most five roundings (``root``'s square root, ``P``'s, the product
    and the two sums), so the exact one is at most ``N^ (1 + u)^5``, and ``Q`` at most
    ``q^ (1 + u)^11`` (``q^ = fl(N^ N^)``). ``N^ >= root >= sqrt(a) >= 1e-75`` (the sums lie
    in ``[1e-150, 1e150]``), so an underflowing product in ``P`` or ``t ev`` (an absolute
    error below ``1e-300``) moves ``N`` by less than ``1e-200`` relative: inside the pad.
    As ``G`` is non-decreasing in ``Q``, ``G(Q) <= G(q^ (1 + u)^11)``: its power is within
    ``(1 + u)^(11 (p - 1))`` of ``q^^(p-1)``, which ``**`` (the C library's ``pow``, within
    an ulp) gives to ``2u``, and its factor ``(2p - 1) - 2(p - 1) min(D^- / Q, 1)`` (at
    least 1) moves by at most ``2(p - 1) 12 u`` through ``Q`` and by ``(8p - 4) u`` relative
    through its own roundings (the quotient, the constants ``2p - 1`` and ``2(p - 1)``, the
    product and the difference). With ``lead``'s rounding and the two products, the exact
    ``G`` is at most the computed value times ``1 + (43 p + 2) u`` to first order; the
    result is padded by ``1 + (32 p + 16) eps_64 = 1 + (64 p + 32) u``, which covers the
    second-order terms as well. Where the power or the result is not a normal number (or
    the power overflows) it returns NaN: the relative bounds above need normal numbers."""
    alpha, beta, kappa, root, dy, ev, dist2 = k
    near = alpha + t * (2.0 * beta + kappa * t)
    root_near = math.sqrt(near) if near >= 0.0 else 0.0
    n = (root if root >= root_near else root_near) + dy + t * ev
    q = n * n
    ratio = dist2 / q
    fac = (2.0 * p - 1.0) - (2.0 * (p - 1.0)) * (ratio if ratio <= 1.0 else 1.0)
    try:
        power = q ** (p - 1.0)
    except OverflowError:
        return math.nan
    value = lead * power * fac * (1.0 + (32.0 * p + 16.0) * _EPS64)
    if _NORMAL64 <= power and _NORMAL64 <= value < math.inf:
        return value
    return math.nan


#: BLAS's index of the entry of largest magnitude, by dtype (:func:`host_max_abs`).
_IAMAX = {np.dtype(np.float64): idamax, np.dtype(np.float32): isamax}


def host_max_abs(x: np.ndarray) -> float:
    """``max_i |x_i|`` of a NumPy vector as a float, ``0`` where it is empty.

    For float64 and float32, the magnitude of the entry BLAS's ``i?amax`` picks (the
    largest ``|x_i|``: the value of ``float(np.abs(x).max())`` exactly, as no rounding is
    involved) in one call with no temporary array; ``np.abs(x).max()`` otherwise. (A NaN
    entry may be passed over there: an iterate or direction with one makes ``f`` or the
    bound NaN anyway.)"""
    if not x.size:
        return 0.0
    iamax = _IAMAX.get(x.dtype) if x.ndim == 1 else None
    if iamax is None:
        return float(np.abs(x).max())
    return abs(float(x[iamax(x)]))


def _host_dot(a: np.ndarray, b: np.ndarray) -> float:
    """``float(a @ b)`` of two NumPy vectors, ``inf`` past the range without a warning.

    For float64 and float32 (``lfso._arrays._DOT_DTYPES``), ``np.vdot``: the dtype's own
    dot function, as ``@`` calls it
    (the same sum, bit for bit), without the check of the floating-point flags after it
    (which ``@`` makes, and which ``np.errstate`` takes about a microsecond to silence);
    other dtypes under ``np.errstate(over="ignore")``."""
    if a.dtype in _DOT_DTYPES and b.dtype == a.dtype:
        return float(host_vdot(a, b) if type(b) is np.ndarray else np.vdot(a, b))
    with np.errstate(over="ignore"):
        return float(a @ b)


@functools.lru_cache(maxsize=32)
def _eps_tiny(xp: Any, dtype: Any) -> tuple[float, float]:
    """A dtype's machine epsilon and smallest normal number, as floats (once per dtype)."""
    finfo = xp.finfo(dtype)
    return float(finfo.eps), float(finfo.smallest_normal)


#: The smallest ``||v||^2`` :meth:`NormPathSegment.along` sums without normalising (``p =
#: 1``): the underflow pad ``5 n tiny`` stays far below one ulp of it for any length.
_PLAIN_LOW = 1e-200
#: The largest sum of squares a float64 host evaluation sums without normalising (a
#: model's ``||r||^2``): every partial sum stays far from overflow.
_PLAIN_HIGH = 1e200
#: The range in which :meth:`NormPathSegment.along` sums ``||y||^2``, ``y . v``, ``||v||^2``
#: without normalising for ``p > 1`` (float64, host): the products of two sums that the
#: bound's rounding terms take (``gamma sqrt(a c)``) stay normal numbers.
_PAIR_LOW, _PAIR_HIGH = 1e-150, 1e150

#: Trial steps of :meth:`NormPathSegment.device_step`, as fractions of ``target / C(0)``:
#: dense near 1 (where ``C`` barely grows over the step), then every power of 4 down to
#: ``2^-40`` (where it grows fast: a far start, a large power).
_PATH_TRIALS = (
    *(1.0, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2),
    *(2.0**-k for k in range(3, 41, 2)),
)


def _normalised(xp: Any, z: Any, host: bool) -> tuple[Any, Any]:
    """``(Z, z / Z)`` with ``Z = max_i |z_i|`` (divided by 1 where ``Z = 0``): a float on
    the host, a 0-d array of ``z``'s library elsewhere (no round trip)."""
    if host:
        top = host_max_abs(z)
        return top, z / (top if top > 0.0 else 1.0)
    top = xp.max(xp.abs(z))
    return top, z / xp.where(top > 0.0, top, xp.ones_like(top))


class _HostFloats:
    """The few array functions :func:`_path_constants` and :func:`_path_curvature` use, on
    Python floats (float64, IEEE like NumPy's: ``log 0 = -inf``, ``exp`` past the range
    ``inf``, no exceptions), for the host's O(1) evaluations: an operation on a float costs
    far less than one on a 0-d NumPy array (``docs/results.md``, "Certified in floating
    point")."""

    @staticmethod
    def zeros_like(x: float) -> float:
        return 0.0

    @staticmethod
    def ones_like(x: float) -> float:
        return 1.0

    @staticmethod
    def full_like(x: float, value: float) -> float:
        return value

    @staticmethod
    def where(condition: bool, a: float, b: float) -> float:
        return a if condition else b

    @staticmethod
    def maximum(a: float, b: float) -> float:
        return a if a >= b or a != a else b  # (NaN propagates, as NumPy's)

    @staticmethod
    def minimum(a: float, b: float) -> float:
        return a if a <= b or a != a else b

    @staticmethod
    def sqrt(x: float) -> float:
        return math.sqrt(x) if x >= 0.0 else math.nan

    @staticmethod
    def log(x: float) -> float:
        if x > 0.0:
            return math.log(x)
        return -math.inf if x == 0.0 else math.nan

    @staticmethod
    def exp(x: float) -> float:
        try:
            return math.exp(x)
        except OverflowError:
            return math.inf

    abs = staticmethod(abs)
    isfinite = staticmethod(math.isfinite)


_NUMPY = array_api_compat.array_namespace(np.zeros(0))

#: float64 constants of the host arithmetic in :class:`NormPathSegment`.
_EPS64 = float(np.finfo(np.float64).eps)
_LOG_MAX = math.log(float(np.finfo(np.float64).max))
_SMALLEST = math.ulp(0.0)
#: ``|log t|`` for every positive float64 ``t``.
_LOG_SPAN = 745.2


def _path_constants(
    xp: Any,
    p: float,
    k: float,
    gamma: float,
    zeta: float,
    a: Any,
    b: Any,
    c: Any,
    ymax: Any,
    vmax: Any,
    delta: Any,
    eps: Any,
) -> dict[str, Any]:
    """The t-independent part of :class:`NormPathSegment`'s bound (its class docstring), on
    float64 0-d arrays of ``xp``: the quadratic ``P``, ``c^+``, ``D^-`` in the units
    ``S_y``, ``S_v``."""
    zero, one = xp.zeros_like(a), xp.ones_like(a)
    sv = xp.maximum(vmax, eps)
    sv = xp.where(sv > 0.0, sv, one)  # v = 0 exactly: c^+ = 0 below, C = 0
    if p == 1.0:  # C = 2k c^+ S_v^2: the rest is not needed
        rv = vmax / sv
        c_up = (c * (rv * rv) + zeta * (rv * rv)) / _sum_floor(gamma)
        root_c = sv * (xp.sqrt(c_up) + eps / sv)
        return {"quad": (2.0 * k) * (root_c * root_c) * (1.0 + 4.0 * _EPS64)}
    sy = xp.maximum(ymax, delta)
    sy = xp.where(sy > 0.0, sy, sv)  # y = 0 exactly: any unit
    ry, rv = ymax / sy, vmax / sv  # the sums' units in S_y, S_v (<= 1)
    a, b, c = a * (ry * ry), b * (ry * rv), c * (rv * rv)
    zy, zv, zyv = zeta * (ry * ry), zeta * (rv * rv), zeta * (ry * rv)
    floor = _sum_floor(gamma)
    a_up, c_up = (a + zy) / floor, (c + zv) / floor
    a_lo = xp.maximum(a - zy, zero) / (1.0 + gamma)
    c_lo = xp.maximum(c - zv, zero) / (1.0 + gamma)
    b_err = gamma * xp.sqrt(a_up * c_up) + zyv
    dy, ev = delta / sy, eps / sv
    host = 8.0 * _EPS64
    alpha = (a + gamma * a_up + zy) * (1.0 + host)
    beta = b + b_err
    beta = beta + host * xp.abs(beta)
    kappa = (c + gamma * c_up + zv) * (1.0 + host)
    c_bound = xp.sqrt(c_up) + ev
    safe_lo = xp.where(c_lo > 0.0, c_lo, one)
    b_up = xp.abs(b) + b_err
    dist2 = a_lo - b_up * (b_up / safe_lo) - host * a_up
    sine = xp.minimum(ev / xp.sqrt(safe_lo), one)
    dist = xp.sqrt(xp.maximum(dist2, zero)) - dy - xp.sqrt(a_up) * sine
    dist = xp.where(c_lo > 0.0, xp.maximum(dist, zero), zero)
    log_sv, log_sy = xp.log(sv), xp.log(sy)
    log_c = xp.log(c_bound * c_bound)
    base = math.log(2.0 * p * k) + 2.0 * log_sv + log_c
    size = abs(math.log(2.0 * p * k)) + 2.0 * xp.abs(log_sv) + xp.abs(log_c) + 8.0
    if p != 1.0:
        base = base + (2.0 * (p - 1.0)) * log_sy
        size = size + (2.0 * (p - 1.0)) * (2.0 * xp.abs(log_sy) + xp.abs(log_sv) + 4.0)
    root_c = sv * c_bound  # >= ||v_exact||: for p = 1, C = 2k ||v||^2 directly
    return {
        "quad": (2.0 * k) * (root_c * root_c) * (1.0 + 4.0 * _EPS64),  # 7 roundings
        "alpha": alpha,
        "beta": beta,
        "kappa": kappa,
        "root": xp.sqrt(alpha),
        "dy": dy,
        "ev": ev,
        "dist2": dist * dist,
        "log_ratio": log_sv - log_sy,
        "base": base,
        "size": size,
    }


def _path_curvature(xp: Any, p: float, scale: float, k: dict[str, Any], trials: Any) -> Any:
    """``C(t)`` of :class:`NormPathSegment` at the trial steps (a float64 array of ``xp``,
    ``t >= 0``) from :func:`_path_constants`: for ``p = 1`` the constant ``2k c^+ S_v^2``
    directly (five roundings, padded by ``8 eps_64``), else ``exp`` of the padded
    :func:`_path_log_curvature`; plus ``4 max(1, 2pk)`` units in the last place of 0
    against the rounding of a subnormal result; ``inf`` past the float64 range and where
    a statistic is not finite."""
    if p == 1.0:
        value = k["quad"] + xp.zeros_like(trials)
        finite = value < math.inf
    else:
        log_c = _path_log_curvature(xp, p, k, trials)
        finite = log_c < _LOG_MAX
        value = xp.exp(xp.where(finite, log_c, xp.zeros_like(log_c)))
    value = value + (4.0 * _SMALLEST * max(1.0, 2.0 * p * scale))
    return xp.where(finite, value, xp.full_like(value, math.inf))


def _path_log_curvature(xp: Any, p: float, k: dict[str, Any], trials: Any) -> Any:
    """``log C(t)`` of :class:`NormPathSegment` for ``p > 1`` at the trial steps (a float64
    array of ``xp``, ``t >= 0``) from :func:`_path_constants`, padded for the host's
    rounding."""
    zero = xp.zeros_like(trials)
    positive = trials > 0.0
    log_t = xp.log(xp.where(positive, trials, xp.ones_like(trials)))
    log_sigma = xp.where(positive, log_t + k["log_ratio"], xp.full_like(trials, -math.inf))
    small = xp.exp(xp.minimum(log_sigma, zero))  # sigma where sigma <= 1
    inv = xp.exp(-xp.maximum(log_sigma, zero))  # 1 / sigma where sigma > 1
    alpha, beta, kappa, root = k["alpha"], k["beta"], k["kappa"], k["root"]
    near = alpha + small * (2.0 * beta + kappa * small)
    near = xp.maximum(root, xp.sqrt(xp.maximum(near, zero))) + k["dy"] + small * k["ev"]
    far = kappa + inv * (2.0 * beta + alpha * inv)
    far = xp.maximum(root * inv, xp.sqrt(xp.maximum(far, zero))) + k["dy"] * inv + k["ev"]
    log_n = xp.where(log_sigma <= 0.0, xp.log(near), log_sigma + xp.log(far))
    log_q = 2.0 * log_n  # log Q(t) / S_y^2
    q = xp.exp(log_q)
    ratio = xp.where(q > 0.0, k["dist2"] / xp.where(q > 0.0, q, xp.ones_like(q)), zero)
    fac = (2.0 * p - 1.0) - (2.0 * (p - 1.0)) * xp.minimum(ratio, xp.ones_like(ratio))
    log_fac = xp.log(fac)
    log_c = k["base"] + (p - 1.0) * log_q + log_fac
    finite = xp.isfinite(log_c)
    # (log t enters through sigma: |log t| <= _LOG_SPAN for every float t > 0)
    size = (
        k["size"]
        + xp.abs(log_fac)
        + (2.0 * (p - 1.0)) * (_LOG_SPAN + xp.abs(xp.where(finite, log_n, zero)))
    )
    return log_c + (16.0 * _EPS64) * xp.where(finite, size, zero)


def _host_path_constants(
    p: float,
    k: float,
    gamma: float,
    zeta: float,
    a: float,
    b: float,
    c: float,
    ymax: float,
    vmax: float,
    delta: float,
    eps: float,
) -> dict[str, float]:
    """:func:`_path_constants` on Python floats: the same operations in the same order as
    with :class:`_HostFloats` (so the same values, bit for bit), written out for the host,
    which computes them once per segment."""
    hf = _HostFloats
    if p == 1.0:
        return {"quad": _host_quad(k, gamma, zeta, c, vmax, eps)}
    sv = hf.maximum(vmax, eps)
    sv = sv if sv > 0.0 else 1.0
    sy = hf.maximum(ymax, delta)
    sy = sy if sy > 0.0 else sv
    ry, rv = ymax / sy, vmax / sv
    a, b, c = a * (ry * ry), b * (ry * rv), c * (rv * rv)
    zy, zv, zyv = zeta * (ry * ry), zeta * (rv * rv), zeta * (ry * rv)
    dy, ev = delta / sy, eps / sv
    alpha, beta, kappa, c_bound, dist = _host_unit_terms(gamma, a, b, c, zy, zv, zyv, dy, ev)
    log_sv, log_sy = hf.log(sv), hf.log(sy)
    log_c = hf.log(c_bound * c_bound)
    base = math.log(2.0 * p * k) + 2.0 * log_sv + log_c
    size = abs(math.log(2.0 * p * k)) + 2.0 * abs(log_sv) + abs(log_c) + 8.0
    base = base + (2.0 * (p - 1.0)) * log_sy
    size = size + (2.0 * (p - 1.0)) * (2.0 * abs(log_sy) + abs(log_sv) + 4.0)
    root_c = sv * c_bound
    return {
        "quad": (2.0 * k) * (root_c * root_c) * (1.0 + 4.0 * _EPS64),
        "alpha": alpha,
        "beta": beta,
        "kappa": kappa,
        "root": hf.sqrt(alpha),
        "dy": dy,
        "ev": ev,
        "dist2": dist * dist,
        "log_ratio": log_sv - log_sy,
        "base": base,
        "size": size,
    }


def _host_quad(k: float, gamma: float, zeta: float, c: float, vmax: float, eps: float) -> float:
    """``quad = 2k c^+ S_v^2``, padded, of :func:`_host_path_constants` for ``p = 1`` (all
    the bound needs there): :func:`_path_constants`' operations in their order."""
    sv = vmax if vmax >= eps or vmax != vmax else eps  # (_HostFloats.maximum)
    sv = sv if sv > 0.0 else 1.0
    rv = vmax / sv
    c_up = (c * (rv * rv) + zeta * (rv * rv)) / _sum_floor(gamma)
    root_c = sv * ((math.sqrt(c_up) if c_up >= 0.0 else math.nan) + eps / sv)
    return (2.0 * k) * (root_c * root_c) * (1.0 + 4.0 * _EPS64)


def _path_pad(p: float, scale: float) -> float:
    """``4 max(1, 2pk)`` units in the last place of 0: the pad of :func:`_path_curvature`
    against the rounding of a subnormal result."""
    return 4.0 * _SMALLEST * max(1.0, 2.0 * p * scale)


def _host_unit_terms(
    gamma: float,
    a: float,
    b: float,
    c: float,
    zy: float,
    zv: float,
    zyv: float,
    dy: float,
    ev: float,
) -> tuple[float, float, float, float, float]:
    """``(alpha, beta, kappa, c_bound, dist)`` of :func:`_host_path_constants` from the sums
    in units of ``S_y`` and ``S_v`` (``a, b, c``), their rounding terms (``zy, zv, zyv``)
    and the slacks in those units (``dy, ev``): the part both it and
    :func:`_host_unit_constants` compute, the same operations in the same order.
    (:class:`_HostFloats`' ``maximum``, ``minimum`` and ``sqrt`` are written out as
    conditional expressions: the same values, NaN included, without a call each.)"""
    floor = _sum_floor(gamma)
    a_up, c_up = (a + zy) / floor, (c + zv) / floor
    a_gap, c_gap = a - zy, c - zv
    a_lo = (a_gap if a_gap >= 0.0 or a_gap != a_gap else 0.0) / (1.0 + gamma)
    c_lo = (c_gap if c_gap >= 0.0 or c_gap != c_gap else 0.0) / (1.0 + gamma)
    ac = a_up * c_up
    b_err = gamma * (math.sqrt(ac) if ac >= 0.0 else math.nan) + zyv
    host = 8.0 * _EPS64
    alpha = (a + gamma * a_up + zy) * (1.0 + host)
    beta = b + b_err
    beta = beta + host * abs(beta)
    kappa = (c + gamma * c_up + zv) * (1.0 + host)
    c_bound = (math.sqrt(c_up) if c_up >= 0.0 else math.nan) + ev
    safe_lo = c_lo if c_lo > 0.0 else 1.0
    b_up = abs(b) + b_err
    dist2 = a_lo - b_up * (b_up / safe_lo) - host * a_up
    sine = ev / (math.sqrt(safe_lo) if safe_lo >= 0.0 else math.nan)
    sine = sine if sine <= 1.0 or sine != sine else 1.0
    root = math.sqrt(dist2) if dist2 >= 0.0 else (dist2 if dist2 != dist2 else 0.0)
    dist = root - dy - (math.sqrt(a_up) if a_up >= 0.0 else math.nan) * sine
    dist = (dist if dist >= 0.0 or dist != dist else 0.0) if c_lo > 0.0 else 0.0
    return alpha, beta, kappa, c_bound, dist


def _host_unit_constants(
    k: float,
    gamma: float,
    zeta: float,
    a: float,
    b: float,
    c: float,
    delta: float,
    eps: float,
) -> tuple[float, tuple[float, ...]]:
    """``quad`` and the constants :func:`_host_path_direct` reads (:data:`_DIRECT_KEYS`) of
    :func:`_host_path_constants` for sums taken in the units ``S_y = S_v = 1`` (``ymax =
    vmax = 1``, ``0 <= delta, eps <= 1``: then ``sv = sy = 1`` and ``ry = rv = 1``), with
    the operations that are exact there left out (products and quotients by 1): the same
    values, bit for bit."""
    alpha, beta, kappa, c_bound, dist = _host_unit_terms(
        gamma, a, b, c, zeta, zeta, zeta, delta, eps
    )
    quad = (2.0 * k) * (c_bound * c_bound) * (1.0 + 4.0 * _EPS64)
    root = math.sqrt(alpha) if alpha >= 0.0 else math.nan  # (_HostFloats.sqrt, written out)
    return quad, (alpha, beta, kappa, root, delta, eps, dist * dist)


def _host_path_curvature(p: float, scale: float, k: dict[str, float], t: float) -> float:
    """:func:`_path_curvature` at one step ``t >= 0`` on Python floats: the same operations
    in the same order as with :class:`_HostFloats` (so the same value, bit for bit), written
    out for the host solve, which evaluates it a few times per iteration."""
    pad = _path_pad(p, scale)
    if p == 1.0:
        value = k["quad"] + 0.0
        return value + pad if value < math.inf else math.inf
    if t > 0.0:
        log_sigma = math.log(t) + k["log_ratio"]
        small = math.exp(min(log_sigma, 0.0)) if log_sigma == log_sigma else log_sigma
        inv = _HostFloats.exp(-max(log_sigma, 0.0)) if log_sigma == log_sigma else log_sigma
    else:
        log_sigma, small, inv = -math.inf, 0.0, 1.0  # (sigma = 0: exp(-inf), exp(-0))
    alpha, beta, kappa, root = k["alpha"], k["beta"], k["kappa"], k["root"]
    dy, ev = k["dy"], k["ev"]
    hf = _HostFloats
    if log_sigma <= 0.0:
        near = alpha + small * (2.0 * beta + kappa * small)
        root_near = math.sqrt(near) if near >= 0.0 else (near if near != near else 0.0)
        near = (root if root >= root_near or root != root else root_near) + dy + small * ev
        log_n = hf.log(near)
    else:
        far = kappa + inv * (2.0 * beta + alpha * inv)
        root_far = math.sqrt(far) if far >= 0.0 else (far if far != far else 0.0)
        top = root * inv
        far = (top if top >= root_far or top != top else root_far) + dy * inv + ev
        log_n = log_sigma + hf.log(far)
    log_q = 2.0 * log_n
    q = hf.exp(log_q)
    ratio = k["dist2"] / q if q > 0.0 else 0.0
    fac = (2.0 * p - 1.0) - (2.0 * (p - 1.0)) * (ratio if ratio <= 1.0 or ratio != ratio else 1.0)
    log_fac = hf.log(fac)
    log_c = k["base"] + (p - 1.0) * log_q + log_fac
    finite = math.isfinite(log_c)
    size = (
        k["size"] + abs(log_fac) + (2.0 * (p - 1.0)) * (_LOG_SPAN + abs(log_n if finite else 0.0))
    )
    log_c = log_c + (16.0 * _EPS64) * (size if finite else 0.0)
    if not log_c < _LOG_MAX:
        return math.inf
    return hf.exp(log_c) + pad


#: The most elements of each temporary array that a batch of trial steps makes with the
#: array operations (the rows' elements times the trials: ``n k``, ``K n k`` for rows of
#: ``K`` classes): a larger batch is summed in chunks of trials
#: (:meth:`RowSegment._device_values`). 256 MB in float32, so that softmax regression's
#: first batch of 13 trials over a large ``K x n`` fits an accelerator's memory.
_BATCH_ELEMENTS = 1 << 26

#: Trial steps of the second, refining batch of a device step (:func:`_grid_step`).
_REFINE = 6
#: Where they lie between the first batch's bracket's ends, in logarithms.
_FRACTIONS = tuple(j / (_REFINE + 1) for j in range(1, _REFINE + 1))


def _bounds(
    xp: Any,
    sums: Any,
    pad: float,
    underflow: Any,
    scale: float,
    offset: Any,
    floor: float,
    magnitude: Any,
    inf: Any,
) -> Any:
    """:class:`RowSegment`'s ``C(t_j) = max(scale (sum_j + pad size + underflow) + offset,
    floor)`` from its sums, in float64 (``size``: the sum itself, or ``magnitude``), NaN
    (``inf / inf`` far out: no finite bound there) as ``inf`` (a 1-vector of it)."""
    sums = xp.astype(sums, xp.float64, copy=False)
    size = sums if magnitude is None else magnitude
    total = sums + pad * size + underflow
    bound = xp.clip(scale * total + offset, min=floor)
    return xp.where(xp.isnan(bound), inf, bound)


def _finished(xp: Any, sums: Any, finish: tuple[Callable[..., Any], tuple[Any, ...]] | None) -> Any:
    """``sums``, or ``function(xp, sums, *arguments)`` for ``finish = (function, arguments)``
    (:meth:`RowSegment._device_values`)."""
    return sums if finish is None else finish[0](xp, sums, *finish[1])


def _finished_then(
    xp: Any,
    sums: Any,
    finish: tuple[Callable[..., Any], tuple[Any, ...]] | None,
    then: tuple[Callable[..., Any], tuple[Any, ...]],
) -> Any:
    """:func:`_finished` of the sums, then ``then`` of that (one finishing function for a
    compiled pass: :meth:`RowSegment._device_values`)."""
    return _finished(xp, _finished(xp, sums, finish), then)


def _grid_step(
    xp: Any,
    target: Any,
    trials: Any,
    curvature: Callable[[Any, Any], Any],
    t_max: float,
    *,
    finite: bool = False,
) -> tuple[Any, Any]:
    """The longest certified step over trial steps, chosen on the device: ``(tau, C)``.

    Every trial ``t`` with its bound ``C(t)`` on ``[0, t]`` certifies a step on its own:
    ``min(t, target / C(t))`` with the bound ``max(C(t), target / t)`` (feasible: ``t C(t)
    >= target``, the step ``target / C(t) <= t``; infeasible: the step ``t`` with the valid,
    inflated ``target / t > C(t)``), and ``step * bound = target`` in both cases. So any set
    of trials gives a certified ``(tau, C)``; the set only decides how close ``tau`` is to
    the largest certified step. The first batch ``trials`` brackets it (between its largest
    infeasible and smallest feasible trials, or beyond the batch's ends: a factor 4 past
    them); a second batch of :data:`_REFINE` points spaced geometrically inside that
    bracket refines it, with no host round trip (the bracket is computed on the device).
    Where no trial of the first batch is feasible, the second batch also tries ``U =
    target / max_j C(t_j)`` (at most ``t_max``): each infeasible trial bounds the largest
    certified step by ``target / C(t_j)`` (see :meth:`RowSegment.radius_for`), so it lies
    between the batch and ``U`` (and is ``U`` where ``C`` is flat), however far beyond the
    batch; elsewhere that trial is not counted. ``tau = 0`` when ``target <= 0`` (``d``
    does not descend). ``finite``: ``curvature`` gives no NaN (it makes it ``inf`` itself).

    ``curvature(trials, then)``, ``then = (function, arguments)``, gives ``function(xp,
    C(trials), *arguments)``: the arithmetic on each batch's bounds (:func:`_bracket`,
    :func:`_choose`, about twenty operations on a few numbers), which a segment may make in
    the compiled pass that makes the bounds (:meth:`RowSegment._device_values`: one pass a
    batch on an accelerator; the same operations, a power of the bracket's ratio by another
    implementation, so trials of the second batch may move by an ulp: any trials certify
    their steps).
    """

    where = device(trials)

    def filled(value: float, dtype: Any) -> Any:  # (made once per process, as a 1-vector)
        return constant(xp, (value,), dtype, where)

    # (the constants made on the device once per process: no copy from the host per step)
    kind, f64 = trials.dtype, xp.float64
    tiny = float(xp.finfo(kind).smallest_normal)  # (a positive trial, always)
    fractions = constant(xp, _FRACTIONS, kind, where)
    ends = (filled(0.0, kind), filled(math.inf, kind))
    bracket = (trials, target, fractions, *ends, t_max, tiny, finite)
    first, refined, beyond = curvature(trials, (_bracket, bracket))
    size = trials.shape[0] + refined.shape[0]
    counted = constant(xp, (True,) * (size - 1) + (False,), xp.bool, where)
    lows = (filled(-math.inf, f64), filled(0.0, f64), ends[1])
    choice = (trials, refined, first, target, beyond, counted, *lows, finite)
    return curvature(refined, (_choose, choice))


def _bracket(
    xp: Any,
    first: Any,
    trials: Any,
    target: Any,
    fractions: Any,
    zero: Any,
    inf: Any,
    t_max: float,
    tiny: float,
    finite: bool,
) -> tuple[Any, Any, Any]:
    """:func:`_grid_step`'s second batch from the first: ``(first, trials, beyond)``, the
    first batch's bounds ``first`` (NaN, ``inf / inf`` far out, as ``inf`` unless
    ``finite``), the :data:`_FRACTIONS` of the bracket the first batch ``trials`` finds
    and ``U = target / max_j C(t_j)``, and whether no trial of the first batch was
    feasible (``zero``, ``inf``: 1-vectors of the trials' dtype)."""
    if not finite:  # (no finite bound there)
        first = xp.where(xp.isnan(first), inf, first)
    feasible = trials * first >= target
    lo = xp.max(xp.where(feasible, zero, trials))
    hi = xp.min(xp.where(feasible, trials, inf))
    beyond = hi == math.inf  # no feasible trial: the root lies past the batch
    reach = xp.clip(target / xp.max(first), min=tiny, max=t_max)
    reach = xp.astype(reach, trials.dtype, copy=False)
    lo = xp.where(lo > 0.0, lo, xp.min(trials) * 0.25)
    hi = xp.where(hi < math.inf, hi, xp.clip(lo * 4.0, max=t_max))
    return first, xp.concat([lo * (hi / lo) ** fractions, xp.reshape(reach, (1,))]), beyond


def _choose(
    xp: Any,
    second: Any,
    trials: Any,
    refined: Any,
    first: Any,
    target: Any,
    beyond: Any,
    counted: Any,
    minus_inf: Any,
    zero: Any,
    inf: Any,
    finite: bool,
) -> tuple[Any, Any]:
    """:func:`_grid_step`'s ``(tau, C)`` from both batches and their bounds (the second's,
    ``second``, NaN as ``inf`` unless ``finite``): each trial's certified step and bound,
    the longest step (``U``, the second batch's last trial, counted only ``beyond`` the
    first batch; ``counted`` marks the others), ``tau = 0`` where ``target <= 0``
    (``minus_inf``, ``zero``: float64 1-vectors)."""
    if not finite:
        second = xp.where(xp.isnan(second), inf, second)
    grid = xp.concat([trials, refined])
    bounds_c = xp.concat([first, second])
    steps = xp.minimum(grid, target / bounds_c)
    bounds = xp.maximum(bounds_c, target / grid)
    steps = xp.where(counted | beyond, steps, minus_inf)  # (U: see _grid_step)
    tau = xp.max(steps)
    bound = xp.min(xp.where(steps == tau, bounds, xp.max(bounds)))
    return xp.where(target > 0.0, tau, xp.reshape(zero, ())), bound


def _trials_along(
    xp: Any, center: float, factors: tuple[float, ...], unit: Any, t_max: float, like: Any
) -> Any:
    """The trial steps ``center f`` for ``f`` in ``factors`` (host floats, in units of ``d
    / unit``) in units of the segment's own ``d``, at most ``t_max``, as an array of
    ``like``'s dtype and device: ``center f / unit`` in float64 before the cast (``unit`` a
    float, or a 0-d array on the device), so that a step past the dtype's range in units of
    ``d / unit`` (a float32 ``d / unit`` of size 1e-36 takes steps of 1e38 and beyond) is
    held in the segment's units, where it is of the size of the step's length. Where
    ``center f / unit`` is a normal number of the dtype this is ``fl(center f) / unit``
    (``unit`` a power of two: an exact division), bit for bit. The factors are made on the
    device once per process (:func:`lfso._arrays.constant`), the rest computed there: no
    copy from the host per step."""
    wide = constant(xp, factors, xp.float64, device(like)) * center
    wide = wide / (unit if isinstance(unit, float) else xp.astype(unit, xp.float64, copy=False))
    return xp.astype(xp.clip(wide, max=t_max), like.dtype, copy=False)


# Row segments -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def power_kernel(m: float, coef: float) -> Callable[..., Any]:
    """``sup_s coef |r + s u|^m`` on ``[r, e]``: the larger endpoint (``|r + s u|`` is convex),
    widened by ``widen = (delta, delta + t eps)`` (the rows' rounding: ``|r| + delta``,
    ``|e| + delta + t eps``).

    Rounding: the computed ``e = fl(r + fl(t u))`` is within ``2.01 u (|r| + |t u|) <= 6.1 u
    max(|r|, |e|)`` of ``r + t u`` (``|t u| <= |r| + |r + t u|``), so the exact base is at
    most the computed ``max(|r| + delta, |e| + delta + t eps)`` times ``1 + 8 u`` (the
    additions of the slack included), and its power within ``(8 m + 1) u`` (``(8 m + 3)
    u`` for ``m = 3`` and ``4``, taken by two multiplications: ``b^2 b`` and ``(b^2)^2``);
    with the product by ``coef`` and the weight's three roundings each term is within ``(8
    m + 8) u``, below :attr:`term_ulps` ``= 4.5 m + 4`` units of ``eps = 2 u`` for every
    ``m >= 0``.

    The integer powers ``m = 0, 1, 2, 3, 4`` are taken as products (``base^0 = 1`` and
    ``base^1 = base`` as IEEE's ``pow`` gives them, NaN and infinities included), so their
    terms are made of correctly rounded operations only, on every backend, and compile
    (:mod:`lfso.models._fused`: ``fused_ulps`` is their ``term_ulps``); other powers take
    the library's ``pow``.
    """

    def kernel(xp: Any, start: Any, end: Any, u: Any, widen: Any = None) -> Any:
        if widen is None:
            top = xp.maximum(xp.abs(start), xp.abs(end))
        else:
            top = xp.maximum(xp.abs(start) + widen[0], xp.abs(end) + widen[1])
        if m == 0.0:
            return coef * xp.ones_like(top)
        if m == 1.0:
            return coef * top
        if m == 2.0:
            return coef * (top * top)
        if m == 3.0:
            return coef * ((top * top) * top)
        if m == 4.0:
            square = top * top
            return coef * (square * square)
        return coef * top**m

    def fused(end: np.ndarray, top: np.ndarray, scratch: np.ndarray, widen: Any = None) -> None:
        # The same values in place, from top = |r| (+ delta), computed once per segment;
        # `**=` takes `**`'s fast paths.
        np.abs(end, out=end)
        if widen is not None:
            end += widen[1]
        np.maximum(end, top, out=end)
        if m == 2.0:
            np.multiply(end, end, out=end)
        elif m == 3.0:
            np.multiply(end, end, out=scratch)
            end *= scratch
        elif m == 4.0:
            np.multiply(end, end, out=end)
            np.multiply(end, end, out=end)
        else:
            end **= m
        end *= coef

    def compiled(
        r: np.ndarray,
        u: np.ndarray,
        weight: np.ndarray,
        trials: np.ndarray,
        slack: tuple[float, np.ndarray] | None,
    ) -> np.ndarray:
        # The same terms in one pass (_compiled.power_sums), top = |r| + delta in it.
        return _compiled.power_sums(r, u, weight, trials, coef, m, slack)

    kernel.fused = fused  # type: ignore[attr-defined]
    kernel.compiled = compiled  # type: ignore[attr-defined]
    kernel.term_ulps = 4.5 * m + 4.0  # type: ignore[attr-defined]
    kernel.peak = coef  # type: ignore[attr-defined]
    if m in (0.0, 1.0, 2.0, 3.0, 4.0):  # additions, multiplications, abs, max: as here
        kernel.fused_ulps = kernel.term_ulps  # type: ignore[attr-defined]
    rebuilt_by(kernel, power_kernel, m, coef)  # (a model holding it pickles)
    return kernel


def _kernel_terms(
    kernel: Callable[..., Any], xp: Any, start: Any, end: Any, step: Any, widen: tuple[Any, ...]
) -> Any:
    """``kernel(xp, start, end, step, widen)`` (``widen`` left out where empty): on Dask,
    chunk by chunk (:func:`_quiet_kernel_chunk`), where each task sets the ``np.errstate``
    that the caller sets for NumPy rows (:meth:`RowSegment.values`): a worker's thread
    runs in a state of its own, and would warn of the overflows that the bounds take as
    ``inf`` (a trial far along the segment, whose ``(r + t u)^2`` overflows). Rows of
    ``K`` classes (``n x K x k`` ends, whose terms are ``n x k``) in one chunk of classes."""
    if not array_api_compat.is_dask_array(end):
        return kernel(xp, start, end, step, *((widen,) if widen else ()))
    import dask.array as da

    if end.ndim == 2:
        return da.map_blocks(_quiet_kernel_chunk, kernel, start, end, step, *widen, dtype=end.dtype)
    whole = [a.rechunk({1: -1}) if getattr(a, "ndim", 0) == 3 else a for a in (start, end, step)]
    return da.map_blocks(_quiet_kernel_chunk, kernel, *whole, *widen, dtype=end.dtype, drop_axis=1)


def _quiet_kernel_chunk(kernel: Callable[..., Any], *blocks: Any) -> Any:
    """One chunk of :func:`_kernel_terms` on NumPy blocks ``(start, end, step, *widen)``,
    under ``np.errstate(over="ignore")``, as the rows on the host are."""
    start, end, step, *widen = blocks
    with np.errstate(over="ignore"):
        return kernel(namespace(end), start, end, step, *((tuple(widen),) if widen else ()))


def _distance_to_zero(xp: Any, start: Any, end: Any) -> Any:
    """Distance from 0 to the interval between ``start`` and ``end`` (elementwise)."""
    crossed = (start <= 0.0) != (end <= 0.0)
    return xp.where(crossed, 0.0, xp.minimum(xp.abs(start), xp.abs(end)))


def logistic_kernel(xp: Any, start: Any, end: Any, u: Any, widen: Any = None) -> Any:
    """``sup_s sigma'(m + s v)`` = ``sigma'`` at the interval's distance to 0 (even, peaked)."""
    distance = _distance_to_zero(xp, start, end)
    e = xp.exp(-(distance if widen is None else xp.maximum(distance - widen[1], 0.0)))
    q = 1.0 + e
    return e / (q * q)


def approach_kernel(xp: Any, start: Any, end: Any, u: Any, widen: Any = None) -> Any:
    """``sigma'(max(end, 0))`` for rows given as ``(|m|, -approach speed)``: the same supremum
    as :func:`logistic_kernel` (the distance from 0 to ``[m, m + t v]`` is ``|m|`` for a
    margin moving away from 0 and ``max(|m| - t |v|, 0)`` for one moving towards it), in
    fewer passes per trial step. The rows' rounding is folded into them beforehand
    (:func:`approach`), so ``end`` is lowered only by a ``widen`` given."""
    if widen is not None:
        end = end - widen[1]
    e = xp.exp(-xp.clip(end, min=0.0))
    q = 1.0 + e
    return e / (q * q)


def _approach_fused(end: np.ndarray, top: Any, scratch: np.ndarray, widen: Any = None) -> None:
    """:func:`approach_kernel` in place on NumPy arrays, given the ends negated,
    ``-(start + t rate)`` (:meth:`RowSegment._fused_values` computes them so, exactly:
    rounding to nearest is symmetric, ``fl(-a - b) = -fl(a + b)``), which saves the
    negation before the exponential: ``exp(min(-e, 0)) = exp(-max(e, 0))``, and a
    widening ``w`` is ``-(e - w) = -e + w``. ``top`` is not read. The minimum with 0 reads
    a zero array (:func:`host_zeros`: the same values, faster; a zero of either sign
    enters ``exp`` alike). So the terms are the generic kernel's bit for bit."""
    if widen is not None:
        end += widen[1]
    np.minimum(end, host_zeros(end.shape[-1], end.dtype), out=end)
    np.exp(end, out=end)
    q = np.add(end, 1.0, out=scratch)
    np.multiply(q, q, out=q)
    np.divide(end, q, out=end)


def _approach_compiled(
    start: np.ndarray,
    rate: np.ndarray,
    weight: np.ndarray,
    trials: np.ndarray,
    slack: tuple[float, np.ndarray] | None,
) -> np.ndarray:
    """:func:`approach_kernel`'s weighted sums, the rows read once
    (:func:`lfso.models._compiled.approach_sums`: the same terms, NumPy's exponential)."""
    return _compiled.approach_sums(start, rate, weight, trials, None if slack is None else slack[1])


approach_kernel.fused = _approach_fused  # type: ignore[attr-defined]
approach_kernel.compiled = _approach_compiled  # type: ignore[attr-defined]
approach_kernel.reads_top = False  # type: ignore[attr-defined]
approach_kernel.negated_ends = True  # type: ignore[attr-defined]
approach_kernel.term_ulps = 12.0  # type: ignore[attr-defined]
# Compiled (lfso.models._fused): the exponential within 2 + 1.173 |x| <= 105 ulps where it
# does not underflow (CUDA's __expf, the least accurate a backend takes; underflow is the
# underflow pad's) and the quotient within 2 (div.full.f32), in place of an ulp each.
approach_kernel.fused_ulps = 128.0  # type: ignore[attr-defined]
approach_kernel.peak = 0.25  # type: ignore[attr-defined]
logistic_kernel.term_ulps = 12.0  # type: ignore[attr-defined]
logistic_kernel.peak = 0.25  # type: ignore[attr-defined]


def approach(
    xp: Any,
    m: Any,
    v: Any,
    delta: Any = 0.0,
    eps: Any = 0.0,
    unit: float = 0.0,
    size: Any = None,
) -> tuple[Any, Any]:
    """``(|m|, -speed)`` with ``speed = |v|`` where ``m`` moves towards 0 along ``v``, else 0:
    ``min(sign(m) v, 0)`` (``m = 0`` is at 0 already: no approach); for :func:`approach_kernel`.

    With the rows' rounding, ``|m - m_exact| <= delta`` and ``|v - v_exact| <= eps``, and
    the unit roundoff ``unit``: ``(|m| (1 - 4.1 unit) - delta, (min(sign(m) v, 0) - eps)
    (1 + 4.1 unit))``. Then the kernel's computed ``fl(start + fl(t rate))`` is never above
    the exact distance from 0 to the exact margins' interval ``[m, m + t v]``: the exact
    distance is at least ``|m| - delta - t (approach speed + eps)`` (each endpoint moves by
    at most ``delta + t eps``), and the two roundings of ``start + t rate`` add at most
    ``2.01 unit (|start| + t |rate|)``, which the ``4.1 unit`` terms cover where that
    distance is positive (where it is not, the kernel's ``max(., 0)`` gives the peak,
    always valid). A margin whose sign is unsure (``|m| <= delta``) starts at distance 0.
    ``size``: ``|m|`` where the caller has it already (not recomputed).
    """
    if type(m) is not np.ndarray:
        views = _cpu_views(m, v)
        if views is not None and all(_is_scalar(a) for a in (delta, eps)):
            # PyTorch CPU tensors, host path: the same operations on NumPy views, bit for
            # bit (sign, abs, min and the products by +-1 are exact; the pads round once
            # in the rows' dtype in both libraries), as tensors sharing the results' memory
            import torch

            start, rate = approach(np, views[0], views[1], float(delta), float(eps), unit)
            return torch.from_numpy(start), torch.from_numpy(rate)
    exact = unit == 0.0 and isinstance(delta, float) and delta == 0.0
    exact = exact and isinstance(eps, float) and eps == 0.0
    if type(m) is np.ndarray and type(v) is np.ndarray and not exact:
        same = m.ndim == 1 and m.shape == v.shape and m.dtype == v.dtype
        if same and isinstance(delta, float) and isinstance(eps, float):
            return _host_approach(m, v, delta, eps, unit, size)
    sign = np.sign if type(m) is np.ndarray else xp.sign  # (skips the wrapper's dtype checks)
    start = xp.abs(m) if size is None else size
    rate = xp.clip(sign(m) * v, max=0.0)
    if exact:
        return start, rate
    return start * (1.0 - 4.1 * unit) - delta, (rate - eps) * (1.0 + 4.1 * unit)


def _host_approach(
    m: np.ndarray, v: np.ndarray, delta: float, eps: float, unit: float, size: Any
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`approach` with its pads on NumPy rows: the generic code's operations in the
    same order, in place in two new arrays, the minimum with 0 against a zero array
    (:func:`host_zeros`). The same values bit for bit, but for the sign of a zero rate
    (the minimum's operands come in another order), which does not survive the ``- eps``
    and, where ``eps = 0``, does not reach the kernel's ``exp``: the kernel's values are
    the generic ones bit for bit."""
    rate = np.sign(m)
    rate *= v
    np.minimum(rate, host_zeros(rate.shape[0], rate.dtype), out=rate)
    rate -= eps
    rate *= 1.0 + 4.1 * unit
    start = np.abs(m) if size is None else np.multiply(size, 1.0 - 4.1 * unit)
    if size is None:
        start *= 1.0 - 4.1 * unit
    start -= delta
    return start, rate


#: Half the square root of float32's largest number: a NumPy weight ``(|u| + eps)^2`` with
#: ``max |u| + eps`` below it is finite in float32 and float64, rounding included.
_SQUARE_SAFE = 0.5 * math.sqrt(float(np.finfo(np.float32).max))


def squared_slack(xp: Any, u: Any, eps: Any, top: float | None = None) -> Any:
    """``(|u| + eps)^2``, the row weights of a segment whose ``u`` is within ``eps`` of the
    exact one; in place in one buffer for NumPy (the same operations, bit for bit).
    ``top``, where the caller has one, bounds ``max |u|``: past :data:`_SQUARE_SAFE` the
    weights (``inf`` past the float range) come without NumPy's overflow warning, which
    costs a microsecond, paid by no ordinary run."""
    if type(u) is np.ndarray and isinstance(eps, float):
        weight = np.abs(u)
        weight += eps
        if top is not None and top + eps >= _SQUARE_SAFE:
            with np.errstate(over="ignore"):
                return np.multiply(weight, weight, out=weight)
        return np.multiply(weight, weight, out=weight)
    weight = xp.abs(u) + eps
    return weight * weight


def row_slope(grad: Any, direction: Any) -> tuple[Any, tuple[Any, Any] | None]:
    """``(slope, pair)`` for a :class:`RowSegment` (``slope=slope``, then
    ``.lazy_slope(pair)``): off the host ``g . d`` at once, a 0-d array that rides the
    first round trip; for NumPy vectors ``None`` and ``(g, d)``, whose dot product the
    segment sums only when asked for (a host solve takes the direction's own ``g . d``)."""
    if type(grad) is np.ndarray and type(direction) is np.ndarray:
        return None, (grad, direction)
    return grad @ direction, None


def weight_floor(xp: Any, dtype: Any) -> float:
    """``2 sqrt(tiny)`` of a dtype (``tiny``: its smallest normal number), a float: added to
    a row's slack, it keeps the weight ``(|u| + slack)^2 >= 4 tiny (1 - u)^3 > tiny`` a
    normal number, whose rounding is then relative (within the kernel's ``term_ulps``) and
    loses no absolute amount to underflow. A kernel whose values are not bounded by its
    ``peak`` (:func:`power_kernel`: ``coef |r|^m``) needs it, as :class:`RowSegment`'s
    underflow pad multiplies an absolute loss of the weight by ``max(1, peak)`` only: a
    weight ``(1e-163)^2`` rounded to 0 beside a residual of ``1e10`` would otherwise drop a
    term of ``12e20 (1e-163)^2 = 1.2e-305`` from a float64 bound of ``1e-321``. Where the
    slack is a normal number larger than ``2^p`` times the floor (``p`` the dtype's
    precision) the addition rounds back to it: the weights are unchanged. Computed once
    per dtype."""
    return _weight_floor(xp, dtype)


@functools.lru_cache(maxsize=32)
def _weight_floor(xp: Any, dtype: Any) -> float:
    """:func:`weight_floor` of ``dtype``, once per dtype."""
    return 2.0 * math.sqrt(float(xp.finfo(dtype).smallest_normal))


def slack_weights(xp: Any, u: Any, eps: Any, top: float | None = None) -> tuple[Any, Any]:
    """``(weights, their sum)``: :func:`squared_slack`'s weights with their sum from the
    same pass where the compiled kernels run (:mod:`lfso.models._compiled`; the sum in
    float64, which :class:`RowSegment`'s underflow pad reads) or, on an accelerator, where
    PyTorch compiles (:func:`lfso.models._fused.one_pass`: the same weights, their sum in
    float64), else with ``None`` (the segment sums them)."""
    if isinstance(eps, float) and _compiled.usable(u):
        return _compiled.slack_weights(u, eps)
    if type(u) is not np.ndarray and _fused.usable(u):
        made = _fused.one_pass(_weights_and_sum, u, _fused._filled(eps, u))
        if made is not None:
            return made
    return squared_slack(xp, u, eps, top), None


def _weights_and_sum(xp: Any, u: Any, eps: Any) -> tuple[Any, Any]:
    """:func:`squared_slack`'s weights and their sum in float64 (:func:`slack_weights`'
    compiled pass)."""
    weight = squared_slack(xp, u, eps)
    return weight, xp.sum(xp.astype(weight, xp.float64))


def approach_rows(
    xp: Any,
    m: Any,
    v: Any,
    delta: Any,
    eps: Any,
    unit: float,
    size: Any = None,
    top: float | None = None,
) -> tuple[Any, Any, Any, Any]:
    """``(start, rate, weights, their sum)``: :func:`approach` and :func:`squared_slack`
    (``(|v| + eps)^2``, ``top`` a bound on ``max |v|`` where the caller has one) of the
    same rows, in one pass where the compiled kernels run
    (:func:`lfso.models._compiled.approach_rows`: the same values; the sum in float64) or,
    on an accelerator, where PyTorch compiles (:func:`lfso.models._fused.approach_rows`),
    else as those functions compute them, with ``None`` for the sum (the segment sums the
    weights)."""
    scalars = isinstance(delta, float) and isinstance(eps, float)
    if scalars and _compiled.usable(m, v, *(() if size is None else (size,))):
        return _compiled.approach_rows(m, v, delta, eps, unit, size)
    if type(m) is not np.ndarray and _fused.usable(m):  # one compiled pass (accelerators)
        fused = _fused.approach_rows(m, v, delta, eps, unit, size)
        if fused is not None:
            return fused
    start, rate = approach(xp, m, v, delta, eps, unit, size)
    return start, rate, squared_slack(xp, v, eps, top), None


def _is_scalar(value: Any) -> bool:
    """Whether ``value`` is a Python number or a 0-d array."""
    return isinstance(value, (int, float)) or getattr(value, "ndim", None) == 0


def cauchy_kernel(inv_c2: float, unit: float = 0.0) -> Callable[..., Any]:
    """``sup_s rho''(r + s u)``: ``rho''`` as a function of ``|r|`` decreases then increases
    (its derivative in ``w = r^2/c^2`` is ``(w - 3) / (1 + w)^3``), so the supremum over an
    interval of ``|r|`` is at its ends: the distance to 0 and the farther endpoint.

    Rounding (``unit``: the unit roundoff): the exact ``|r + t u|`` of the exact rows lies
    within ``6.1 unit max(|r|, |e|) + slack`` of the computed ``|e|`` (see
    :func:`power_kernel`), so the interval of ``|r|`` is widened to ``[near - 6.1 unit far -
    slack, far (1 + 8 unit) + slack]``, and ``rho''`` taken at its ends (each within 8 ulps,
    and ``|rho''| <= 1``: the rounding of a term is absolute, see
    :class:`RowSegment`'s ``magnitude``).

    Compiled (:mod:`lfso.models._fused`; ``fused_ulps = 18``). The same operations, with
    three differences. (1) The quotient ``a = 1 / (1 + w)``, ``w = r^2 / c^2``, is within 2
    ulps (``div.full.f32`` on an NVIDIA GPU) where the argument above counts half of one:
    ``a`` is then within ``3 unit a`` more of its value, which ``rho'' = a (2a - 1)``
    (derivative ``4a - 1`` in ``a``, in ``[-1, 3]`` for ``a`` in ``(0, 1]``) turns into at
    most ``9 unit`` = 4.5 ulps more. (2) A product fused into the sum that takes it (``1 +
    w``, ``near - 6.1 unit far``) is rounded once, inside the two roundings counted. (3) A
    backend may flush subnormal results to zero, losing up to the smallest normal number
    ``tiny`` per operation: ``r^2`` flushed moves ``w``, hence ``a``, by at most ``tiny /
    c^2`` and ``rho''`` by at most ``3 tiny / c^2``, at most one ulp where ``3 tiny / c^2 <=
    eps``, the only case that compiles (``c`` above about ``5.4e-16`` in float32 and
    ``1.7e-146`` in float64); any other flushed result moves ``w``, ``a`` or ``rho''`` by at
    most ``3 tiny``, which the segment's underflow pad holds. So each end is within ``8 +
    4.5 + 1`` ulps, and the term within the 4 ulps more that ``term_ulps`` allows beside its
    ends: 17.5, below ``fused_ulps``."""

    def rho2(xp: Any, r: Any) -> Any:
        a = 1.0 / (1.0 + inv_c2 * (r * r))  # (1 - w) / (1 + w)^2 = 2 a^2 - a: no inf / inf
        return a * (2.0 * a - 1.0)

    def kernel(xp: Any, start: Any, end: Any, u: Any, widen: Any = None) -> Any:
        near = _distance_to_zero(xp, start, end)
        far = xp.maximum(xp.abs(start), xp.abs(end))
        if unit > 0.0 or widen is not None:
            slack = 0.0 if widen is None else widen[1]
            near = xp.clip(near - (6.1 * unit) * far - slack, min=0.0)
            far = far * (1.0 + 8.0 * unit) + slack
        return xp.maximum(rho2(xp, near), rho2(xp, far))

    def start(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What :func:`fused` reads of the rows, made once per segment: ``(|r|, r <= 0)``."""
        return np.abs(r), r <= 0.0

    def fused(
        end: np.ndarray,
        top: tuple[np.ndarray, np.ndarray],
        scratch: np.ndarray,
        widen: Any = None,
    ) -> None:
        # kernel's values in place, operation for operation in the rows' dtype (the
        # constants rounded to it first, as NumPy rounds a Python float operand): `near`
        # in scratch, `far` in end, rho'' of each through a third buffer.
        size, sign = top
        dtype = end.dtype.type
        other, crossed = _cauchy_buffers(end.shape, end.dtype)
        np.less_equal(end, 0.0, out=crossed)
        np.not_equal(crossed, sign, out=crossed)  # (r <= 0) != (r + t u <= 0)
        np.abs(end, out=end)
        np.minimum(size, end, out=scratch)
        np.copyto(scratch, dtype(0.0), where=crossed)  # the distance from 0 to [r, e]
        np.maximum(size, end, out=end)
        if unit > 0.0 or widen is not None:
            slack = 0.0 if widen is None else widen[1]
            np.multiply(end, dtype(6.1 * unit), out=other)
            np.subtract(scratch, other, out=scratch)
            scratch -= slack
            np.maximum(scratch, dtype(0.0), out=scratch)
            end *= dtype(1.0 + 8.0 * unit)
            end += slack
        for values in (scratch, end):  # rho'' = a (2 a - 1), a = 1 / (1 + r^2 / c^2)
            np.multiply(values, values, out=other)
            other *= dtype(inv_c2)
            other += dtype(1.0)
            np.divide(dtype(1.0), other, out=other)
            np.multiply(other, dtype(2.0), out=values)
            values -= dtype(1.0)
            values *= other
        np.maximum(scratch, end, out=end)

    def compiled(
        r: np.ndarray,
        u: np.ndarray,
        weight: np.ndarray,
        trials: np.ndarray,
        slack: tuple[float, np.ndarray] | None,
    ) -> np.ndarray:
        # The same terms in one pass (_compiled.cauchy_sums).
        return _compiled.cauchy_sums(r, u, weight, trials, inv_c2, unit, slack)

    kernel.start = start  # type: ignore[attr-defined]
    kernel.fused = fused  # type: ignore[attr-defined]
    kernel.compiled = compiled  # type: ignore[attr-defined]
    kernel.term_ulps = 12.0  # type: ignore[attr-defined]
    kernel.peak = 1.0  # type: ignore[attr-defined]
    tiny = _SMALLEST_NORMAL.get(unit)
    if tiny is not None and 3.0 * tiny * inv_c2 <= 2.0 * unit:  # (see Compiled)
        kernel.fused_ulps = 18.0  # type: ignore[attr-defined]
    rebuilt_by(kernel, cauchy_kernel, inv_c2, unit)  # (a model holding it pickles)
    return kernel


#: The smallest normal number of float32 and float64, by their unit roundoff.
_SMALLEST_NORMAL = {2.0**-24: 2.0**-126, 2.0**-53: 2.0**-1022}


def _cauchy_buffers(shape: tuple[int, ...], dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """A float buffer of ``shape`` and ``dtype`` and a boolean one, for
    :func:`cauchy_kernel`'s fused kernel, kept per thread (the last shape asked for) up to
    :data:`_KEEP` elements; larger ones are allocated per call."""
    held = getattr(_WORKSPACE, "cauchy", None)
    if held is None or held[0].shape != shape or held[0].dtype != dtype:
        held = (np.empty(shape, dtype=dtype), np.empty(shape, dtype=bool))
        if int(np.prod(shape)) <= _KEEP:
            _WORKSPACE.cauchy = held
    return held


_WORKSPACE = threading.local()


def host_zeros(n: int, dtype: Any) -> np.ndarray:
    """A read-only NumPy array of ``n`` zeros of ``dtype``, kept per thread (the last size
    asked for): the second operand of a maximum or minimum with 0 in the host kernels.
    NumPy's ``maximum`` and ``minimum`` of two arrays take a vectorised loop where those
    against a scalar take a slower one (``docs/results.md``, "PyTorch CPU tensors: the
    logistic rows in fewer passes"), for the same values. The zeros are never written:
    ``calloc``'s untouched pages, which all read the system's one zero page (no memory
    committed, and it stays in cache)."""
    held = getattr(_WORKSPACE, "zeros", None)
    if held is None or held.shape[0] != n or held.dtype != dtype:
        held = np.zeros(n, dtype=dtype)
        held.flags.writeable = False
        _WORKSPACE.zeros = held
    return held


#: Largest buffer :func:`_workspace` keeps between calls (elements; 64 MiB in float64).
_KEEP = 1 << 23


def _workspace(k: int, n: int, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """Two buffers of ``k n`` elements for :meth:`RowSegment._fused_values`: a (k, n) one
    and a flat one, kept per thread (one pair, the last size asked for, grown as needed)
    up to :data:`_KEEP` elements each; larger ones are allocated per call."""
    if max(k, 8) * n > _KEEP:
        return np.empty((k, n), dtype=dtype), np.empty(k * n, dtype=dtype)
    held = getattr(_WORKSPACE, "buffers", None)
    if held is None or held[0].dtype != dtype or held[0].shape[1] != n or held[0].shape[0] < k:
        rows = max(k, 8)
        held = (np.empty((rows, n), dtype=dtype), np.empty(rows * n, dtype=dtype))
        _WORKSPACE.buffers = held
    return held[0][:k], held[1][: k * n]


def _single_workspace(n: int, dtype: Any) -> tuple[np.ndarray, ...]:
    """``(row, end, sup, scratch, step, grown)`` for :meth:`RowSegment._single_trial`:
    :func:`_workspace`'s buffers for one trial with the views that reads, ``end[0]``,
    ``end`` as ``(n, 1)`` and ``scratch`` as ``(1, n)``, and two 0-d arrays of ``dtype``
    (a trial's ``t`` and ``delta + t eps``, each set before it is read), kept per thread
    (the last size asked for; every segment of a run asks for the same) where
    :func:`_workspace` keeps its buffers."""
    held = getattr(_WORKSPACE, "single", None)
    if held is None or held[0].shape[0] != n or held[0].dtype != dtype:
        end, scratch = _workspace(1, n, dtype)
        step, grown = np.empty((), dtype), np.empty((), dtype)
        held = (end[0], end, end.reshape(n, 1), scratch.reshape(1, n), step, grown)
        if 8 * n <= _KEEP:  # (larger ones are not kept: _workspace allocates them per call)
            _WORKSPACE.single = held
    return held


def _secant(
    target: float, lo_t: float, lo_c: float, hi: tuple[float, float] | None, default: float
) -> float:
    """The root of ``g(u) = log(t C(t) / target)``, linear in ``u = log t`` through the
    infeasible point ``(lo_t, lo_c)`` and the feasible ``hi``; ``default`` without both (or
    where ``g`` does not increase between them). In logs: ``t C`` may overflow far out."""
    if hi is None or not (lo_t > 0.0 and lo_c > 0.0):
        return default
    log = math.log
    u0, u1 = log(lo_t), log(hi[0])
    g0 = u0 + log(lo_c) - log(target)
    g1 = u1 + log(hi[1]) - log(target)
    return math.exp(u0 - g0 * (u1 - u0) / (g1 - g0)) if g1 > g0 else default


def _in_host_memory(array: Any) -> bool:
    """Whether ``array`` is in host memory (a device with a ``type``, as PyTorch's, says so
    itself; CuPy's arrays are on a GPU; every other library here computes on the host)."""
    if type(array) is np.ndarray:
        return True
    kind = getattr(getattr(array, "device", None), "type", None)
    if isinstance(kind, str):
        return kind == "cpu"
    return type(array).__module__.partition(".")[0] != "cupy"


def _wide(n: int, eps: float) -> bool:
    """Whether a row segment sums its ``n`` terms of a dtype of ``eps`` in float64
    (:data:`_WIDE_SUMS`)."""
    return eps > _EPS_64 and n * eps >= _WIDE_SUMS


_EPS_64 = 2.0**-52


def _wide_sums(xp: Any, weight: Any, sup: Any) -> Any:
    """``sum_i w_i sup_ij`` (``sum_i sup_ij`` without ``weight``) over the first axis,
    accumulated in float64 (the product of two numbers of a narrower dtype is exact
    there): a float64 array. NumPy takes blocks of :data:`_WIDE_BLOCK` rows to float64 one
    at a time (no float64 copy of the ``n x k`` terms); another library casts the terms,
    which its callers hold to :data:`_BATCH_ELEMENTS` elements."""
    f64 = xp.float64
    if type(sup) is not np.ndarray:
        wide = xp.astype(sup, f64)
        return xp.sum(wide, axis=0) if weight is None else xp.astype(weight, f64) @ wide
    n, total = int(sup.shape[0]), None
    for lo in range(0, n, _WIDE_BLOCK):
        hi = min(lo + _WIDE_BLOCK, n)
        block = sup[lo:hi].astype(np.float64)
        part = np.add.reduce(block, axis=0) if weight is None else weight[lo:hi] @ block
        total = part if total is None else total + part
    return total


@functools.lru_cache(maxsize=64)
def _row_constants(
    xp: Any, dtype: Any, n: int, term_ulps: float, peak: float
) -> tuple[float, float, float, float, float]:
    """:class:`RowSegment`'s constants for ``n`` terms of a dtype: ``t_max``, the relative
    pad of the sum (:func:`rounding_pad`; summed in float64 where :func:`_wide`), ``16 eta
    max(1, peak)`` (``eta = tiny eps``), the monotonicity tolerance and ``tiny``; computed
    once per (dtype, n, kernel constants)."""
    finfo = xp.finfo(dtype)
    eps, tiny = float(finfo.eps), float(finfo.smallest_normal)
    wide = _EPS_64 if _wide(n, eps) else None
    return (
        float(finfo.max) ** 0.75,  # keeps t u finite or +-inf, never NaN
        rounding_pad(n, eps, term_ulps, wide),
        16.0 * tiny * eps * peak,
        max(1e-12, math.sqrt(eps)),
        tiny,
    )


class RowSegment(SegmentBound):
    """``C(t) = scale sum_i sup_{s in [0, t]} l_i''(r_i + s u_i) u_i^2 + offset`` for
    ``f(x) = scale sum_i l_i(a_i^T x) + (offset's quadratic)``, from ``u = A d``.

    Along the segment, ``grad f(x + s d) . d = scale sum_i l_i'(r_i + s u_i) u_i +
    (ridge)``, whose slope is ``scale sum_i l_i''(r_i + s u_i) u_i^2 + l2 ||d||^2``; each
    row's term is at most its own supremum over ``[0, t]`` (the kernel, proven for each loss
    where it is defined), so the sum of suprema bounds the supremum of the sum. Each kernel
    is a supremum over a growing interval, hence non-decreasing in ``t``. The sum is padded
    for rounding (:func:`rounding_pad`) in the data's precision.

    Cost: O(n) per ``t`` and no product with ``A``. The radius solve evaluates a batch of
    trial ``t`` in one pass and one host round trip (:meth:`values`), and the first batch
    also brings ``g . d`` (``slope``) and the ridge term. Matrix statistics (softmax
    logits, ``(n, K)``) use a kernel that reduces each row's classes itself to ``(n, k)``.

    Parameters
    ----------
    r, u : arrays, shape (n,) (or two axes, a row's classes along one of them: then the
        kernel reduces each row's classes itself, to one value per row and trial)
        The statistic at ``x`` and its change along ``d``.
    kernel : callable ``kernel(xp, start, end, u) -> sup`` elementwise
    weight : array or None
        Per-row weight of the kernel (``u^2``); ``None`` for kernels that include it.
    scale : float
    offset : 0-d array or float
        Curvature added everywhere (``l2 ||d||^2`` for a ridge), fetched with the first batch:
        an upper bound, its own rounding included (a ridge's factor ``l2 pad`` enters a
        product with the data's dtype, which holds it only to an absolute ``eta / 2`` below
        that dtype's normal range: :func:`~lfso.models._ridge.held_up` rounds it up first).
    slope : 0-d array
        ``g . d`` (fetched with the first batch).
    product : callable ``t -> array`` or None
    terms : int
        Number of terms summed per value (for the rounding pad; the rows by default).
    magnitude : 0-d array, optional
        For kernels that can be negative (Cauchy): a bound on ``sum_i |kernel_i| w_i``, which
        scales the rounding pad (an absolute error, fetched with the first batch); by
        default the pad is relative to the (non-negative) sum itself.
    floor : float
        A positive lower cap on ``C`` (a segment bound must be positive; where the sum of
        suprema is negative, any positive value bounds the curvature from above).
    slack : (delta, eps), optional
        The rows' own rounding: ``|r_i - r_i^exact| <= delta`` and ``|u_i - u_i^exact| <=
        eps`` (floats or 0-d arrays; a carried product's drift is part of ``delta``). The
        kernel widens each row's interval by ``delta + t eps`` (``None``: the rows are exact,
        or the model folded their rounding into them, as :func:`approach` does).
    weight_sum : 0-d array or float, optional
        ``sum_i w_i`` (the underflow pad's), for a kernel without ``weight``, or for one
        with ``weight`` where the caller summed it already (else computed here).

    Rounding. The sum is padded relatively (:func:`rounding_pad`, with the kernel's
    ``term_ulps``) and absolutely against underflow: every elementwise operation of a
    term may lose up to the dtype's smallest subnormal number ``eta`` (gradual underflow,
    Higham, Section 2.1), later multiplied by at most ``max(1, peak)`` (``peak``: the
    kernel's largest coefficient) and the weight, so the computed sum is within
    ``16 eta max(1, peak) (n + sum_i w_i)`` of the exact one on top of the relative pad
    (a weight's own loss is multiplied by the kernel's value, which the power kernel does
    not keep below ``peak``: its models keep every weight a normal number instead,
    :func:`weight_floor`):
    :attr:`underflow` (host floats are float64: the sum itself is exact to a relative
    ``eps_64`` there, inside the pad). From ``n eps >= 1`` (:data:`_WIDE_SUMS`: 2^23
    float32 rows) the terms are summed in float64 (:func:`_wide_sums`, and in the
    compiled pass on an accelerator; softmax's own pass is not taken there), with
    :func:`rounding_pad`'s float64 form, and a ``magnitude`` and a weights' sum, summed in
    the rows' dtype, are taken times their own pad there. Where batches of trials run
    compiled on an accelerator (:mod:`lfso.models._fused`), the kernel's ``fused_ulps``
    takes the place of ``term_ulps``, and the dtype's smallest normal number that of
    ``eta``. A trial
    ``t`` given as a float is evaluated in the rows' dtype: rounded there within a
    relative ``u``, inside the rows' slack ``t eps``, except below the dtype's smallest
    normal number, where the rounding is absolute (to 0 or a subnormal number); such a
    ``t`` is rounded up into the dtype first (:meth:`_held`), so ``C(t)`` bounds a segment
    at least as long.
    """

    proven = True  # (a built-in model's: 0 or inf is the float range's edge)
    #: Trial steps of the first round, as multiples of ``guess`` (the last step: L-BFGS's
    #: ratio t*/guess stays near 1; ``docs/results.md``, "One trial step at a time"). Every
    #: trial costs an O(n) pass (an exponential per row for logistic rows): a few suffice,
    #: as each certifies a step (see :meth:`radius_for`).
    first_round: tuple[float, ...] = (0.25, 0.7, 1.0, 1.4, 4.0)
    #: The first round without a guess: ``t = 1`` (the natural quasi-Newton step) and a wide
    #: geometric bracket around it.
    wide_round: tuple[float, ...] = (1 / 64, 1 / 8, 0.5, 1.0, 2.0, 8.0, 64.0)
    #: Points per later round (a cluster at the predicted root plus a geometric grid).
    round_size = 5
    #: Whether the solve evaluates one trial step at a time (see :meth:`radius_for`): by
    #: default where the rows live in host memory (NumPy, Dask, PyTorch on the CPU), where
    #: a round costs no device round trip but each trial a pass over the rows; batches on
    #: an accelerator (:func:`_in_host_memory`).
    sequential: bool
    # What a segment fills in as it goes, unset until then (class defaults: a segment is
    # made every iteration, and most of these stay as they are on the way)
    _columns: tuple[Any, Any] | None = None  # r and u with a trailing axis
    #: ``(s, eta) -> s_eff``: the computed slope checked against a bound on the exact one
    #: on the device (:class:`lfso.models._device_slope.DeviceSlope`), where the model
    #: states one; :meth:`device_step` sizes the step from ``s_eff``.
    device_check: Any = None
    _start_top: Any = None  # |r| + delta (_top)
    #: The rows (r, u, weight, slack, slack as floats) the fused kernels read: the arrays
    #: themselves (NumPy), or zero-copy NumPy views of PyTorch CPU tensors (see
    #: :meth:`_fused_values`), made on first use; ``None`` until then.
    _rows: tuple[Any, Any, Any, Any, bool] | None = None
    round_trips = 0
    _magnitude_value: float | None = None
    _host_scalars = False  # (whether _fetch_host_scalars has run)
    #: One trial's sum on NumPy rows (:meth:`_single_trial`), ``False`` where that path
    #: does not apply; ``None`` until the first single trial.
    _single: Callable[[float], float] | bool | None = None

    def __init__(
        self,
        r: Any,
        u: Any,
        kernel: Callable[[Any, Any, Any, Any], Any],
        *,
        weight: Any,
        scale: float,
        offset: Any = 0.0,
        slope: Any = None,
        product: Callable[[float], Any] | None = None,
        terms: int | None = None,
        magnitude: Any = None,
        floor: float = _FLOOR,
        slack: tuple[Any, Any] | None = None,
        weight_sum: Any = None,
    ) -> None:
        host = type(r) is np.ndarray
        self.xp = _NUMPY if host else namespace(r)
        # What every round reads, evaluated once (Dask: persisted together, so that a round
        # submits only its own work, not these arrays' graphs again)
        if host:  # (NumPy: nothing to evaluate; scalar slack as host floats)
            if slack is not None and type(slack[0]) is not np.ndarray:
                slack = (float(slack[0]), float(slack[1]))
        elif slack is not None:
            weight, delta, eps = materialize_all(weight, *slack)
            slack = (delta, eps)
        else:
            weight = materialize(weight)
        self.r, self.u, self.kernel, self.weight = r, u, kernel, weight
        self.scale, self._offset, self._slope_array = float(scale), offset, slope
        self._product, self._magnitude = product, magnitude
        self.has_product = product is not None
        self._slack = slack
        self._host_slack = (
            slack is not None and isinstance(slack[0], float) and isinstance(slack[1], float)
        )
        n = int(r.shape[0]) if terms is None else terms
        peak = getattr(kernel, "peak", 1.0)
        peak = peak if peak > 1.0 else 1.0  # (max(1.0, peak), written out)
        #: Whether batches of trials run compiled (:mod:`lfso.models._fused`): their terms
        #: are then within the kernel's ``fused_ulps``, and as the backend may flush
        #: subnormal results to zero, each operation may lose up to the smallest normal
        #: number, which the underflow pad counts in place of ``eta``.
        self._fused = not host and _fused.applies(kernel, r)
        ulps = getattr(kernel, "fused_ulps" if self._fused else "term_ulps", 8.0)
        self.t_max, self._pad, self._eta, self.monotone_rtol, self._tiny = _row_constants(
            self.xp, r.dtype, n, ulps, peak
        )
        #: Whether the trials' sums are accumulated in float64 (:func:`_wide`), also in
        #: the compiled passes on an accelerator (softmax's own, whose sums are the rows'
        #: dtype's, is not taken).
        eps = float(self.xp.finfo(r.dtype).eps)
        self._wide = _wide(n, eps)
        if self._wide:  # (a magnitude and a weights' sum given summed in the rows' dtype)
            narrow = rounding_pad(n, eps)
            self._eta *= narrow
            if magnitude is not None:
                self._pad = 1.0 + (self._pad - 1.0) * narrow * (1.0 + 2.0**-30)
        if self._fused:
            self._eta /= eps
        self._views = (
            not host
            and getattr(kernel, "fused", None) is not None
            and r.ndim == 1
            and _viewable(r, u)
        )
        if weight is not None and weight_sum is None:
            if host:
                weight_sum = np.add.reduce(weight, axis=None)
            elif self._views:  # NumPy's sum of the view (the underflow pad's; any order)
                weight_sum = float(self._host_rows()[2].sum())
            else:
                weight_sum = self.xp.sum(weight)
        self._terms, self._weight_sum = n, weight_sum
        #: The absolute pad against underflow (see Rounding), once the weights' sum is known.
        self.underflow: float | None = None if weight_sum is not None else self._eta * n
        self.floor = floor
        self._cache: dict[float, float] = {}
        self._offset_value: float | None = (
            float(offset) if isinstance(offset, (int, float)) else None
        )
        self.sequential = host or _in_host_memory(r)

    def _fetch_slope(self) -> float:
        if self._slope_array is None:
            raise ValueError("this segment bound was built without the gradient: no slope")
        self.values([0.0])
        assert self._slope is not None
        return self._slope

    def _widen(self, trials: Any) -> tuple[Any, Any] | None:
        """``(delta, delta + t eps)`` for the trials (``None`` without slack; floats for one
        trial given as a float)."""
        if self._slack is None:
            return None
        delta, eps = self._slack
        return delta, delta + trials * eps

    def _top(self) -> Any:
        """``|r| + delta`` (``|r|`` without slack), once: the fused kernels' start (or what
        the kernel's own ``start`` makes of the rows, where it has one)."""
        if self._start_top is None:
            rows = self._rows  # (made already where a single trial asks)
            r, _, _, slack, _ = self._host_rows() if rows is None else rows
            start = getattr(self.kernel, "start", None)
            if start is not None:
                self._start_top = start(r)
                return self._start_top
            top = np.abs(r)
            if slack is not None:
                top += slack[0]
            self._start_top = top
        return self._start_top

    def _host_rows(self) -> tuple[Any, Any, Any, Any, bool]:
        """``(r, u, weight, slack, slack_is_float)`` as NumPy for the fused kernels: the
        rows themselves, or for PyTorch CPU tensors zero-copy views (``Tensor.numpy``
        shares the memory) and a 0-d slack as floats, as the NumPy rows' (once)."""
        if self._rows is None:
            if type(self.r) is np.ndarray:
                self._rows = (self.r, self.u, self.weight, self._slack, self._host_slack)
            else:

                def view(a: Any) -> Any:
                    if a is None or isinstance(a, (int, float)):
                        return a
                    if a.ndim == 0:
                        return float(a)
                    return _numpy_view(a)

                slack = self._slack
                if slack is not None:
                    slack = (view(slack[0]), view(slack[1]))
                floats = slack is not None and all(isinstance(v, float) for v in slack)
                self._rows = (view(self.r), view(self.u), view(self.weight), slack, floats)
        return self._rows

    def _device_values(
        self,
        ts: Any,
        finish: tuple[Callable[..., Any], tuple[Any, ...]] | None = None,
        then: tuple[Callable[..., Any], tuple[Any, ...]] | None = None,
    ) -> Any:
        """``sum_i kernel_i(t_j) w_i`` for the trials (a list, or a 1-d array on the data's
        device): a length-k array on the data's device. ``finish = (function,
        arguments)``: ``function(xp, sums, *arguments)`` of those sums instead (on an
        accelerator in the compiled pass that sums them, where one runs); ``then``, likewise
        of what ``finish`` made, over the whole batch (in the same pass where the batch is
        one chunk, else in a compiled pass of its own)."""
        xp, r = self.xp, self.r
        fused = getattr(self.kernel, "fused", None)
        host = r.ndim == 1 and type(r) is np.ndarray
        if fused is not None and (host or (self._views and isinstance(ts, list))):
            # (NumPy rows, or CPU tensors' zero-copy views on the host path)
            values = self._fused_values(fused, ts)
            return _finished(xp, _finished(xp, values, finish), then)
        trials = xp.asarray(ts, dtype=r.dtype, device=device(r)) if isinstance(ts, list) else ts
        k, size = int(trials.shape[0]), math.prod(int(n) for n in r.shape)
        compiled = self._fused and k > 1  # (one compiled pass a chunk: accelerators)
        # (a batch's arrays held to _BATCH_ELEMENTS elements each: in chunks of trials; so
        # are the compiled passes, whose CPU code stores n x k terms for some kernels and
        # softmax's K x n x k exponentials)
        per = max(1, _BATCH_ELEMENTS // max(size, 1))
        count = max(1, -(-k // per))  # (chunks of nearly equal sizes: no lone trial)
        bounds = [k * i // count for i in range(count + 1)]
        chunks = [trials[lo:hi] for lo, hi in itertools.pairwise(bounds)]
        if compiled and count == 1 and then is not None:  # (one pass for it all)
            made = self._compiled_sums(trials, (_finished_then, (finish, then)))
            if made is not None:
                return made
            compiled = False
        sums = []
        for chunk in chunks:
            made = self._compiled_sums(chunk, finish) if compiled else None
            compiled = made is not None  # (a pass that did not compile: no second try)
            sums.append(_finished(xp, self._batch_sums(chunk), finish) if made is None else made)
        values = sums[0] if len(sums) == 1 else xp.concat(sums)
        if then is None:
            return values
        made = _fused.one_pass(then[0], values, *then[1]) if compiled else None
        return _finished(xp, values, then) if made is None else made

    def _compiled_sums(
        self, trials: Any, finish: tuple[Callable[..., Any], tuple[Any, ...]] | None
    ) -> Any:
        """The sums of a chunk of trials by a compiled pass, finished there (see
        :meth:`_device_values`; the kernel's own pass, ``fused_sums``, for rows of ``K``
        classes, finished after it), or ``None`` where it did not compile."""
        own = getattr(self.kernel, "fused_sums", None)  # (rows of K classes: softmax)
        if own is None:  # (the widening made in the pass)
            rows = (self.kernel, self.r, self.u, self.weight, trials, self._slack, finish)
            if self._wide:  # (summed in float64 in the pass)
                return _fused.trial_sums(*rows, wide=True)
            return _fused.trial_sums(*rows)
        if self._wide:  # (its pass sums in the rows' dtype: the array operations instead)
            return None
        pair = self._widen(trials)
        sums = own(self.r, self.u, trials, None if pair is None else pair[1])
        return None if sums is None else _finished(self.xp, sums, finish)

    def _batch_sums(self, trials: Any) -> Any:
        """:meth:`_device_values` of the trials (a 1-d array) as array operations on
        ``rows x k`` arrays (``K x n x k`` for rows of ``K`` classes)."""
        xp, r, u = self.xp, self.r, self.u
        pair = self._widen(trials)
        if self._columns is None:
            columns = (r[:, None], u[:, None]) if r.ndim == 1 else (r[:, :, None], u[:, :, None])
            start, step = materialize_all(*columns)
            self._columns = (start, step)
        start, step = self._columns
        if r.ndim == 1:
            end = start + step * trials[None, :]
            widen = () if pair is None else (pair[0], pair[1][None, :])
            sup = _kernel_terms(self.kernel, xp, start, end, step, widen)
        else:  # (n, K) rows: trials along a new last axis
            if type(step) is np.ndarray:  # (NumPy: r + t u in one temporary, the same sums)
                end = np.multiply(step, trials[None, None, :])
                np.add(end, start, out=end)
            else:
                end = start + step * trials[None, None, :]
            widen = () if pair is None else (pair[0], pair[1][None, None, :])
            sup = _kernel_terms(self.kernel, xp, start, end, step, widen)  # over classes: (n, k)
        if self._wide:
            return _wide_sums(xp, self.weight, sup)
        if self.weight is None:
            return xp.sum(sup, axis=0)
        return self.weight @ sup

    def _fused_values(self, fused: Callable[[Any, Any, Any], None], ts: Any) -> Any:
        """:meth:`_device_values` on NumPy rows, bit for bit: the trials along the first
        axis (contiguous passes over the rows, not an inner loop of length k), the kernel
        in place in a (k, n) buffer kept between calls (:func:`_workspace`: no k n
        temporaries, whose allocation and page faults cost more than the arithmetic), and
        the reduction over the (n, k) layout the generic path reduces. A kernel marked
        ``negated_ends`` is given the ends negated, ``-(r + t u)``, computed as ``fl(fl(-t
        u) - r)``: exactly the negated ``fl(fl(t u) + r)``.

        On PyTorch CPU tensors (the host solve, outside
        :func:`lfso.bench.cpu_as_accelerator`) the same kernels run on zero-copy NumPy
        views of the rows (:meth:`_host_rows`), and the sums come back as NumPy floats.
        Against PyTorch's own arithmetic on the tensors (the generic path, which the
        accelerator's path keeps): the elementwise additions, multiplications, divisions,
        ``abs`` and ``max`` are correctly rounded in both libraries, so bit for bit (the
        power kernel's terms for ``m = 2, 3, 4`` included). Not bit for bit, but covered
        by the same rounding argument: ``exp`` (logistic rows) and non-integer powers,
        which the two libraries implement differently, are within the kernel's
        ``term_ulps`` either way; the sums run in another order, and
        :func:`rounding_pad` bounds every order (the recursive one is the worst); a 0-d
        slack enters as a float, ``delta + t eps`` rounded once to the rows' dtype where
        PyTorch rounds twice, inside the ulps the kernel allows for the slack's
        additions.

        Where the compiled kernels run (:mod:`lfso.models._compiled`) and the kernel has a
        compiled twin (``kernel.compiled``: the same terms, all trials' sums in one pass
        over the rows), that twin computes the sums instead, in float64, rounded once to
        the rows' dtype (that module says why :func:`rounding_pad` still covers them)."""
        r, u, weight, slack, host_slack = self._host_rows()
        trials = np.asarray(ts, dtype=r.dtype)
        compiled = getattr(self.kernel, "compiled", None)
        if compiled is not None and weight is not None and _compiled.usable(r, u, weight):
            # (the float64 sums rounded to the rows' dtype, as NumPy's are: see _compiled)
            if slack is None:
                return compiled(r, u, weight, trials, None).astype(r.dtype)
            if host_slack:  # (delta + t eps rounded as below, then read in the pass)
                delta, eps = slack
                if trials.shape[0] == 1:
                    grown = np.asarray([delta + float(ts[0]) * eps], dtype=r.dtype)
                else:
                    grown = delta + trials * eps
                return compiled(r, u, weight, trials, (delta, grown)).astype(r.dtype)
        k, n = int(trials.shape[0]), int(r.shape[0])
        end, scratch = _workspace(k, n, r.dtype)
        if getattr(self.kernel, "negated_ends", False):  # -(r + t u), exactly (the kernel's)
            np.multiply(np.negative(trials)[:, None], u[None, :], out=end)
            end -= r
        else:
            np.multiply(trials[:, None], u[None, :], out=end)
            end += r
        widen: tuple[Any, ...] = ()
        if slack is not None:  # one trial (the sequential solve): a scalar slack
            delta, eps = slack
            step = float(ts[0]) if k == 1 and host_slack else trials
            grown = delta + step * eps
            widen = ((delta, grown if isinstance(grown, float) else grown[:, None]),)
        top = self._top() if getattr(self.kernel, "reads_top", True) else None
        fused(end, top, scratch.reshape(k, n), *widen)
        if k == 1:  # (1, n) -> (n, 1) is a view: the same contiguous layout
            sup = end.reshape(n, 1)
        else:
            sup = scratch.reshape(n, k)
            sup[...] = end.T
        if self._wide:
            return _wide_sums(_NUMPY, weight, sup)
        if weight is None:
            return np.add.reduce(sup, axis=0)
        return weight @ sup

    def values(self, ts: list[float]) -> list[float]:
        """``C(t)`` at every trial ``t``: one pass over the rows and one host round trip."""
        with np.errstate(over="ignore"):  # exp past the float range: +inf, capped after
            return self._values(ts)

    def _values(self, ts: list[float]) -> list[float]:
        """:meth:`values`, inside the caller's ``np.errstate(over="ignore")``."""
        cache = self._cache
        if len(ts) == 1 and self._single is not False:  # (the sequential solve's trial)
            value = self._one_value(ts[0])
            if value is not None:
                return [value]
        for t in ts:
            if t > self.t_max:  # t u may overflow to NaN: no finite bound claimed that far
                cache[t] = math.inf
        todo = [t for t in ts if t not in cache]
        if todo:
            single = self._single
            if len(todo) == 1 and single is None:  # (the sequential solve's trial)
                single = self._single = self._single_trial() or False
            if len(todo) == 1 and callable(single):
                host = [single(self._held(todo[0]))]
                if not self._host_scalars:  # (once: they are floats from then on)
                    self._fetch_host_scalars()
            else:
                host = self._trial_sums([self._held(t) for t in todo])
            self.round_trips += 1
            for t, value in zip(todo, host, strict=True):
                cache[t] = self._bound_of(value)
        return [cache[t] for t in ts]

    def _held(self, t: float) -> float:
        """The trial the rows' dtype evaluates for ``t``: ``t`` itself (rounded to the dtype
        by the pass, within a relative ``u``, inside the rows' slack ``t eps``), or, where
        ``0 < t`` is below the dtype's smallest normal number and would round to a
        subnormal or to 0 (an absolute loss: a float32 ``t = 1e-46`` was taken as ``t =
        0``, and ``C`` bounded only the curvature at ``x``), ``t`` rounded up into the
        dtype: a bound on a longer segment (:func:`~lfso.models._ridge.held_up`)."""
        if t >= self._tiny or t <= 0.0:
            return t
        return held_up(t, self.xp, self.r.dtype)

    def _bound_of(self, value: float) -> float:
        """``C(t)`` from its trial's sum ``value``: padded for rounding and underflow
        (Rounding, the class docstring), scaled, offset and floored; NaN as ``inf``, as
        :func:`_bounds` takes it on a device: a term past the float range (a weight
        ``u^2`` or a softmax row's ``v^2`` that overflows, an exponent's slack factor
        ``e^{2 g}`` that does, times a factor that underflowed to 0) is ``inf * 0``, and
        no finite bound is claimed there."""
        underflow, offset = self.underflow, self._offset_value
        assert underflow is not None and offset is not None
        magnitude = self._magnitude_value
        size = value if magnitude is None else magnitude
        total = self.scale * (value + (self._pad - 1.0) * size + underflow) + offset
        if total != total:  # (NaN)
            return math.inf
        floor = self.floor
        return floor if floor > total else total  # (max(total, floor))

    def _one_value(self, t: float) -> float | None:
        """:meth:`_values` of ``[t]`` for one trial not seen yet on NumPy rows (the same
        floats, without the lists of a batch); ``None`` where that path does not apply (a
        trial seen or past :attr:`t_max`, or no :meth:`_single_trial`)."""
        cache = self._cache
        if t > self.t_max or t in cache:
            return None
        single = self._single
        if single is None:
            single = self._single = self._single_trial() or False
        if single is False:
            return None
        value = single(self._held(t))  # type: ignore[operator]
        if not self._host_scalars:  # (once: they are floats from then on)
            self._fetch_host_scalars()
        self.round_trips += 1
        cache[t] = total = self._bound_of(value)
        return total

    def _trial_sums(self, todo: list[float]) -> list[float]:
        """The trials' sums (:meth:`_device_values`) as floats, with the scalars fetched
        (in the same round trip off the host)."""
        sums = self._device_values(todo)
        if type(sums) is np.ndarray:  # host memory: the scalars need no round trip
            self._fetch_host_scalars()
            return sums.tolist()  # type: ignore[no-any-return]
        return self._fetch_with_scalars(sums)

    def _single_trial(self) -> Callable[[float], float] | None:
        """``t -> sum_i kernel_i(t) w_i`` as a float for one trial on NumPy rows: what
        :meth:`_fused_values` computes for ``[t]`` (the same calls on the same buffers, so
        bit for bit), with what it decides per call (the rows, the buffers and their views,
        the kernel's form, the slack as floats) settled once per segment; ``None`` where
        that path does not apply (other arrays, a 0-d array slack, the compiled kernels)."""
        fused = getattr(self.kernel, "fused", None)
        r = self.r
        if fused is None or r.ndim != 1 or not (type(r) is np.ndarray or self._views):
            return None
        if type(self)._device_values is not RowSegment._device_values:
            return None  # (a subclass that makes its rows otherwise: ApproachSegment)
        r, u, weight, slack, host_slack = self._host_rows()
        if slack is not None and not host_slack:
            return None
        n = int(r.shape[0])
        compiled = getattr(self.kernel, "compiled", None)
        # (below MIN_ROWS usable says no: asked only from there, the usual answer first)
        if (
            compiled is not None
            and weight is not None
            and n >= _compiled.MIN_ROWS
            and _compiled.usable(r, u, weight)
        ):
            return None
        row, end, sup, scratch, step, grown = _single_workspace(n, r.dtype)
        negated = getattr(self.kernel, "negated_ends", False)
        top = self._top() if getattr(self.kernel, "reads_top", True) else None
        multiply = np.multiply
        # t and delta + t eps enter as 0-d arrays of the rows' dtype, set per trial: the
        # values a scalar of that dtype or a Python float gives (each rounded once to the
        # dtype), which NumPy's ufuncs take without wrapping a scalar on every call.
        widen = None if slack is None else (slack[0], grown)
        wide = self._wide

        def single(t: float) -> float:
            if negated:  # -(r + t u) as fl(fl(-t u) - r), as _fused_values forms it
                step[()] = -t
                np.subtract(multiply(u, step, out=row), r, out=row)
            else:
                step[()] = t
                np.add(multiply(u, step, out=row), r, out=row)
            if widen is None:
                fused(end, top, scratch)
            else:
                delta, eps = slack
                grown[()] = delta + t * eps
                fused(end, top, scratch, widen)
            if wide:
                return float(_wide_sums(_NUMPY, weight, sup)[0])
            total = np.add.reduce(sup, axis=0) if weight is None else weight @ sup
            return float(total[0])

        return single

    def _fetch_host_scalars(self) -> None:
        """The slope, offset, magnitude and weights' sum as floats, the first time (NumPy)."""
        if self._slope is None and self._slope_array is not None:
            self._slope = float(self._slope_array)
        if self._offset_value is None:
            self._offset_value = float(self._offset)
        if self._magnitude is not None and self._magnitude_value is None:
            self._magnitude_value = float(self._magnitude)
        if self.underflow is None:
            self.underflow = self._eta * (self._terms + float(self._weight_sum))
        self._host_scalars = True

    def _fetch_with_scalars(self, sums: Any) -> list[float]:
        """The trial sums as floats, with the scalars not yet on the host in the same round
        trip (the slope, offset, magnitude and the weights' sum, the first time)."""
        extra = []
        if self._slope is None and self._slope_array is not None:
            extra.append(self._slope_array)
        if self._offset_value is None:
            extra.append(self._offset)
        if self._magnitude is not None and self._magnitude_value is None:
            extra.append(self._magnitude)
        if self.underflow is None:
            extra.append(self._weight_sum)
        if extra:
            xp = self.xp
            sums = xp.concat([sums, xp.stack([xp.reshape(e, ()) for e in extra])])
        host = to_numpy(sums).tolist()  # one round trip
        if self.underflow is None:
            self.underflow = self._eta * (self._terms + float(host.pop()))
        if self._magnitude is not None and self._magnitude_value is None:
            self._magnitude_value = float(host.pop())
        if self._offset_value is None:
            self._offset_value = float(host.pop())
        if self._slope is None and self._slope_array is not None:
            self._slope = float(host.pop())
        return host

    def __call__(self, radius: float) -> float:
        return self.values([radius])[0]

    def product(self, t: float) -> Any:
        return None if self._product is None else self._product(t)

    @property
    def on_device(self) -> bool:
        return self._slope_array is not None or self._slope_of is not None

    #: Trial steps of :meth:`device_step` (multiples of ``guess``): denser, as nothing refines.
    device_round: tuple[float, ...] = (
        1 / 16,
        0.25,
        0.5,
        0.7,
        0.8,
        0.9,
        1.0,
        1.1,
        1.25,
        1.4,
        2.0,
        4.0,
        16.0,
    )
    #: Trial steps of :meth:`device_step` without a guess (the first step of a run): every
    #: power of 4 from ``2^-40`` to ``2^40``, then the refinement; O(n) each, once a run.
    device_wide: tuple[float, ...] = tuple(2.0**k for k in range(-40, 41, 2))

    def device_step(
        self, eta: float, *, rtol: float = 1e-3, guess: Any = None, unit: Any = 1.0
    ) -> tuple[Any, Any]:
        """The certified step and its curvature bound as 0-d arrays on the data's device, with
        no host round trip (``rtol`` is not used: the grid decides the quality; ``guess`` in
        units of ``d / unit``, see :meth:`SegmentBound.device_step`).

        Two batches of trial steps ``t_j`` (:attr:`device_round` times ``guess``, or
        :attr:`device_wide` without one; a ``guess`` that is a 0-d array, the last step
        still on the device, centres :attr:`device_round` on itself, or on 1 where it is
        0 or not finite; then :data:`_REFINE` points spaced geometrically
        between the first batch's largest infeasible and smallest feasible trials, chosen
        on the device); each certifies the step ``sigma_j = min(t_j, target / C(t_j))``
        with the bound ``max(C(t_j), target / t_j)`` (see :meth:`radius_for`),
        ``target = eta (-g . d)`` computed on the device, and the longest is taken there
        (:func:`_grid_step`). When the first batch brackets the largest certified step
        ``t*``, the step is within ``(spacing)^(1/7)`` of it (about 2% near ``guess``);
        ``tau = 0`` when ``g . d >= 0``. Where no trial of the first batch is feasible the
        second also tries ``target / max_j C(t_j)``, an upper bound on ``t*`` however far
        past the batch (:func:`_grid_step`). The first step of a run, without a guess,
        centres its batch (``2^-40`` to ``2^40`` times the centre) on ``target / C(0)``,
        an upper bound on ``t*`` as ``C`` does not decrease (one pass more, once a run; 1
        in units of ``d / unit`` where it is not a positive finite number): a batch
        centred on 1 missed a ``t*`` far below it, where the float32 row sums at every
        trial were past the range, the bound ``inf`` and the step 0. For a step rule that
        defers its scalars to the next evaluation's round trip (``x + tau d`` and
        ``product(tau)`` take the 0-d ``tau``).

        Units and rounding. ``tau`` and the trials are in units of this segment's ``d``
        (of norm about 1 where the caller scales its direction by ``unit``, a power of
        two): a trial ``t`` of the caller's is ``t / unit``, divided in float64 before it
        is rounded to the rows' dtype (:func:`_trials_along`), so that a step past that
        dtype's range in the caller's units (a float32 ``d / unit`` of size 1e-36 takes
        steps of 1e38 and beyond) is held as the step along ``d``, of the size of its
        length. The sums ``sum_i kernel_i(t_j) w_i`` are the rows' dtype's, padded as in
        Rounding (the class docstring); the rest of ``C(t_j) = max(scale (sum + (pad - 1)
        size + underflow) + offset, floor)``, ``target`` and the choice of ``tau`` are
        taken in float64 on the device, as :meth:`values` takes them on the host (float64
        roundings, inside the pad; the floor is the host's, float64's smallest normal
        number). So ``C`` may lie below the rows' dtype's normal range, as the host's
        does (a float32 bound of 1e-40 per unit length: a step ``1e40 / ||d / unit||``),
        and ``tau`` is a float64 0-d array; each ``t_j`` is a number of the rows' dtype,
        so ``tau`` rounded toward zero to that dtype is at most the trial that certifies
        it.
        """
        if self._slope_array is None and self._slope_of is not None:  # (left to be summed)
            self._slope_array = self._slope_of[0] @ self._slope_of[1]
        if self._slope_array is None:
            raise ValueError("this segment bound was built without the gradient: no slope")
        xp, r = self.xp, self.r
        f64 = xp.float64
        center, factors = 1.0, self.device_wide
        if guess is not None and not isinstance(guess, (int, float)):
            # (a 0-d array: the last step, on the device; 1 where it is 0 or not finite)
            center, factors = xp.astype(guess, f64, copy=False), self.device_round
            center = xp.where((center > 0.0) & (center < math.inf), center, 1.0)
        elif guess is not None and 0.0 < guess < math.inf:
            center, factors = guess, self.device_round

        def wide(value: Any) -> Any:  # (a float stays one: float64 already)
            return value if isinstance(value, (int, float)) else xp.astype(value, f64, copy=False)

        floor = self.floor
        underflow = self.underflow
        if underflow is None:
            underflow = self._eta * (self._terms + wide(self._weight_sum))
        offset = wide(self._offset)
        magnitude = None if self._magnitude is None else wide(self._magnitude)

        # C(t_j) from the sums, NaN (inf / inf far out) as inf: in the pass that makes the
        # sums where it is compiled (accelerators), else by PyTorch's operations
        inf = constant(xp, (math.inf,), f64, device(r))
        finish = (_bounds, (self._pad - 1.0, underflow, self.scale, offset, floor, magnitude, inf))

        def curvature(trials: Any, then: Any) -> Any:
            with np.errstate(over="ignore"):
                return self._device_values(trials, finish, then)

        slope = self._slope_array
        if self.device_check is not None:  # (the exact slope's bound: models._device_slope)
            slope = self.device_check(slope, eta)
        target = (-eta) * wide(slope)
        if guess is None:  # (the first step: the grid about target / C(0), which is >= t*)
            start = curvature(xp.zeros(1, dtype=r.dtype, device=device(r)), None)[0]
            top = target / start * wide(unit)  # (in units of d / unit, as the trials)
            center = xp.where((top > 0.0) & (top < math.inf), top, 1.0)
        trials = _trials_along(xp, center, factors, unit, self.t_max, r)
        return _grid_step(xp, target, trials, curvature, self.t_max, finite=True)

    def step_for(
        self, eta: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        tried = 0
        if self._slope is None:  # g . d with the first batch of trial steps
            first = self._first_trials(guess)
            self.values(first)
            tried = len(set(first))
        t, curvature, evals = super().step_for(eta, rtol=rtol, guess=guess)
        return t, curvature, evals + tried

    def _first_trials(self, guess: float | None) -> list[float]:
        if self.sequential:
            if guess is None or not 0.0 < guess:
                return [0.0]
            t_max = self.t_max
            return [t_max if t_max < guess else guess]  # (min(guess, t_max), written out)
        if guess is not None and 0.0 < guess < math.inf:
            center, factors = guess, self.first_round
        else:
            center, factors = 1.0, self.wide_round
        return [0.0] + [min(center * f, self.t_max) for f in factors]

    def radius_for(
        self, target: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        """A feasible ``t`` and a curvature bound ``C >= C(t)`` on ``[0, t]`` with
        ``t C >= target``, whose step ``target / C`` is within ``1 + rtol`` of the largest
        certified step ``t*`` (``t* C(t*) = target``), in rounds of trial steps.

        A :attr:`sequential` solve tries one step per round: ``guess`` (or ``0``), then
        ``target / C`` from there (the root, were ``C`` flat: two trials where ``C`` barely
        changes over the step), then secant steps (:meth:`_next_point`). Otherwise each
        round evaluates a batch in one pass and one host round trip. Every point seen
        certifies a step: a feasible ``t`` (``t C(t) >= target``) the step ``target / C(t)``
        with ``C(t)``, an infeasible one the step ``t`` itself with ``C = target / t >
        C(t)`` (a valid, inflated bound on ``[0, t]``, feasible by construction). And every
        point bounds the root: ``t* <= t`` for a feasible ``t``, ``t* <= target / C(t)`` for an
        infeasible one (``C`` is non-decreasing). The solve returns the best step as soon as
        it is within ``1 + rtol`` of the smallest such upper bound. The next batch clusters
        around the root predicted by interpolating ``log(t C(t))`` in ``log t`` between the
        closest infeasible and feasible points, plus a geometric grid of the bracket.

        ``target = inf`` raises :class:`~lfso.oracles.PrecisionLimitError`, as the norm
        models' segments do: no step ``target / C`` is representable.
        """
        target = check_target(target)
        if not 0.0 < target < math.inf:
            if target > 0.0:  # (as NormPathSegment's: no step target / C in float range)
                raise PrecisionLimitError(
                    f"the target is {target!r} (past the float range: a gradient that "
                    "overflowed?): no certified step target / C is representable"
                )
            return 0.0, check_value(self(0.0), 0.0), 1
        return self._solve(target, rtol, guess)

    @np.errstate(over="ignore")  # (for every round: see values)
    def _solve(self, target: float, rtol: float, guess: float | None) -> tuple[float, float, int]:
        """:meth:`radius_for` for ``target > 0``."""
        trials = [t for t in self._first_trials(guess) if t not in self._cache]
        evals = 0
        last_span = math.inf  # the bracket's width in log t after the last round
        climb = 0  # sequential rounds in a row whose trial was infeasible (see _next_point)
        for _ in range(_MAX_ROUNDS):
            if trials:
                self._values(trials)
                evals += len(trials)
            seen = sorted(self._cache.items())
            if len(seen) > 1:  # (one point: nothing to compare)
                self._check(seen)
            upper = math.inf  # t* <= upper
            best, best_t, best_c = 0.0, 0.0, seen[0][1]  # step, t, C certifying it
            # largest infeasible point; C(0) > 0 is unknown until t = 0 is tried
            lo_t, lo_c = 0.0, (seen[0][1] if seen[0][0] == 0.0 else 0.0)
            hi: tuple[float, float] | None = None  # smallest feasible point
            for t, c in seen:
                if t * c >= target:
                    if t < upper:  # (min, written out)
                        upper = t
                    if hi is None:
                        hi = (t, c)
                    step, cert = target / c, c
                else:
                    lo_t, lo_c = t, c
                    if c > 0.0 and target / c < upper:
                        upper = target / c
                    step, cert = t, (target / t if t > 0.0 else c)
                if step > best:
                    best, best_t, best_c = step, t, cert
            if best * (1.0 + rtol) >= upper and best > 0.0:
                return best_t, best_c, evals
            if hi is None and not lo_c > 0.0:
                raise OracleError("segment bound is zero along the whole segment")
            if hi is not None:
                low = max(lo_t, target / hi[1])
                high = min(hi[0], target / lo_c) if lo_c > 0.0 else hi[0]
            else:
                low, high = lo_t, target / lo_c  # feasible: C(high) >= C(lo)
            if self.sequential:
                span = math.log(high / low) if low > 0.0 else math.inf
                # the last step kept over 0.6 of the bracket (a midpoint keeps exactly half:
                # 0.5 would leave that decision to rounding)
                stalled = span > 0.6 * last_span
                last_span = span
                climb = climb + 1 if trials and trials[-1] == lo_t else 0
                reach = _WIDEST ** min(2**climb, 256)  # 8, 64, 8^4, ...: galloping
                trials = self._next_point(target, low, high, lo_t, lo_c, hi, stalled, reach)
            else:
                trials = self._next_trials(target, low, high, lo_t, lo_c, hi, rtol)
            if not trials:  # bracket below rounding: the best step seen is the answer
                return best_t, best_c, evals
        raise OracleError("segment step solve did not converge")  # pragma: no cover

    def _next_point(
        self,
        target: float,
        low: float,
        high: float,
        lo_t: float,
        lo_c: float,
        hi: tuple[float, float] | None,
        stalled: bool,
        reach: float = _WIDEST,
    ) -> list[float]:
        """The next single trial of a :attr:`sequential` solve: the root of the secant of
        ``log(t C(t) / target)`` in ``log t`` through the closest infeasible and feasible
        points; with points on one side only, the root were ``C`` flat from there
        (``target / C``: from a feasible point, the bracket's low end, a certified step;
        from an infeasible one, its high end); the bracket's geometric middle when the last
        round kept over 0.6 of the bracket (``stalled``), so that a one-sided secant cannot
        stall; at most ``reach`` times the bracket's low end (:data:`_WIDEST`, squared after
        each infeasible trial in a row: a root far up is found in O(log log) rounds). Where
        every trial so far had ``C = inf`` (a first guess far beyond where the bound leaves
        the float range) and ``t = 0`` has not been tried, ``0``: ``C(0)`` bounds the root,
        ``t* <= target / C(0)``, where halving from the guess could take hundreds of
        rounds."""
        if low == 0.0 and hi is not None and 0.0 not in self._cache:
            return [0.0]
        pred = _secant(target, lo_t, lo_c, hi, high if hi is None else low)
        middle = math.sqrt(low) * math.sqrt(high) if low > 0.0 else 0.5 * high
        if (stalled and hi is not None and lo_t > 0.0) or not low <= pred <= high:
            pred = middle
        if hi is not None and low > 0.0:
            # A wide bracket comes from a C(lo) far below C(hi) (at the floor, where the
            # curvature is negative): the root lies where C rises, near the low end.
            pred = min(pred, reach * low)
            middle = min(middle, reach * low)
        for point in (min(pred, self.t_max), min(middle, self.t_max)):
            if point > 0.0 and point not in self._cache:
                return [point]
        return []

    def _next_trials(
        self,
        target: float,
        low: float,
        high: float,
        lo_t: float,
        lo_c: float,
        hi: tuple[float, float] | None,
        rtol: float,
    ) -> list[float]:
        k = self.round_size
        pred = _secant(target, lo_t, lo_c, hi, high)
        pred = min(max(pred, low), high)
        points = {high}
        for f in (1.0 - 0.5 * rtol, 1.0, 1.0 + 0.5 * rtol, 1.0 + rtol):
            points.add(min(max(pred * f, low), high))
        if low > 0.0 and high > low:
            span = high / low
            n_grid = max(k - len(points), 2)
            for j in range(1, n_grid + 1):
                points.add(low * span ** (j / (n_grid + 1)))
        return sorted({min(p, self.t_max) for p in points if p > 0.0} - self._cache.keys())

    def _check(self, seen: list[tuple[float, float]]) -> None:
        keep = 1.0 - self.monotone_rtol
        for (t0, c0), (t1, c1) in itertools.pairwise(seen):
            # (the two checks' tests, inline, for t0 < t1; they raise with the message)
            if not (type(c1) is float and 0.0 < c1 <= math.inf and c1 >= c0 * keep):
                check_value(c1, t1, allow_inf=True)  # +inf: no finite bound that far
                check_monotone(t0, c0, t1, c1, self.monotone_rtol)


class ApproachSegment(RowSegment):
    """:class:`RowSegment` of :func:`approach_kernel` whose rows, :func:`approach_rows`'s
    ``(start, rate, weights)`` of the margins' products ``z`` and their change ``u``, are
    made row by row inside each trial step's compiled pass
    (:func:`lfso.models._compiled.approach_direct_sums`) and never stored: the segment
    writes nothing, and a trial reads two arrays, not three. For NumPy rows where the
    compiled kernels run (the caller checks :func:`lfso.models._compiled.usable`).

    ``pads = (delta, eps, unit)``: :func:`approach`'s pads. The weights' sum, which the
    underflow pad reads (:class:`RowSegment`, Rounding), comes from the first trial's pass.
    The values are :class:`RowSegment`'s of those rows: the same terms bit for bit, the
    sums in float64 in another order, within the same pad (:mod:`lfso.models._compiled`).
    """

    def __init__(
        self,
        z: np.ndarray,
        u: np.ndarray,
        pads: tuple[float, float, float],
        *,
        scale: float,
        offset: Any = 0.0,
        slope: Any = None,
        product: Callable[[float], Any] | None = None,
    ) -> None:
        super().__init__(
            z,
            u,
            approach_kernel,
            weight=None,
            scale=scale,
            offset=offset,
            slope=slope,
            product=product,
        )
        self._pads = pads
        self._weight_sum = None
        self.underflow = None  # (the weights' sum comes with the first trial)

    def _device_values(
        self,
        ts: Any,
        finish: tuple[Callable[..., Any], tuple[Any, ...]] | None = None,
        then: tuple[Callable[..., Any], tuple[Any, ...]] | None = None,
    ) -> Any:
        trials = np.asarray(ts, dtype=self.r.dtype)
        sums, total = _compiled.approach_direct_sums(
            self.r, self.u, trials, self._pads, self._weight_sum is None
        )
        if total is not None:
            self._weight_sum = total
        sums = sums.astype(self.r.dtype)  # (float64 sums rounded to the rows' dtype)
        return _finished(self.xp, _finished(self.xp, sums, finish), then)

    def device_step(
        self, eta: float, *, rtol: float = 1e-3, guess: Any = None, unit: Any = 1.0
    ) -> tuple[Any, Any]:
        if self._weight_sum is None:  # (the underflow pad reads the weights' sum first)
            self._device_values([0.0])
        return super().device_step(eta, rtol=rtol, guess=guess, unit=unit)


class CarriedProduct:
    """A model's linear image ``z`` of a point (``A x``, logits), carried from the last
    iteration as ``z_prev + t A d`` instead of recomputed, with ``drift``: a bound on
    ``max_i |z_i - (A x)_i|`` against the exact image of the stored iterate ``x`` (``0``
    for a fresh product, whose own rounding the model bounds itself).

    A model that takes it (``"product"`` in ``Model.extras``) widens every statistic it derives from
    ``z`` by ``drift`` on top of a fresh product's own rounding error, so its bounds hold
    for the exact ``A x`` whatever the carried rounding (see
    :class:`lfso.models._rows.ProductDrift`). ``drift`` is a float, or a 0-d array on the
    data's device when the step was sized there (fetched with the next evaluation).
    """

    __slots__ = ("drift", "factor", "rows", "source", "total", "value", "xmax")

    def __init__(self, value: Any, drift: Any = 0.0, xmax: Any = None) -> None:
        self.value, self.drift = value, drift
        #: ``||x||_inf`` of the point, once its evaluation brought it to the host (a 0-d
        #: array on the device until then, for an evaluation made ahead of its fetch).
        self.xmax = xmax
        #: What the evaluation at the point derived from ``value`` row by row and the
        #: segment there reads again (the residual ``z - b``, the margins' sizes ``|z|``),
        #: so that it is not recomputed; ``None`` otherwise.
        self.rows: Any = None
        #: The evaluation's row factor ``l'(z_i)`` of its gradient ``A^T l'(z)`` (NumPy
        #: logistic rows), which the slope bound reads (:class:`lfso.models._slope.RowSlope`);
        #: ``None`` otherwise.
        self.factor: Any = None
        #: The evaluation's computed ``f`` at the point, a 0-d array on the device (the
        #: a-priori bound of an ``l_2p`` model's slope check there reads it: no round
        #: trip); ``None`` otherwise.
        self.total: Any = None
        #: For an evaluation made ahead, until its fetch arrives: the product of the point
        #: before, whose fetch has (:meth:`arrived`).
        self.source: CarriedProduct | None = None

    def arrived(self) -> tuple[float, float] | None:
        """``(drift, ||x||_inf)`` on the host: this product's, or while they are on their
        way from the device, those of the point before (:attr:`source`); ``None`` where
        neither is known."""
        product: CarriedProduct | None = self
        for _ in range(2):
            if product is None:
                return None
            drift, xmax = product.drift, product.xmax
            if isinstance(drift, float) and isinstance(xmax, float):
                return drift, xmax
            product = product.source
        return None


def materialized_product(
    base: Any, step: Any, drift: Callable[[Any], Any] | None = None
) -> Callable[[Any], CarriedProduct | None]:
    """``t -> base + t step`` (evaluated; Dask: persisted, so the next pass reads no graph)
    as a :class:`CarriedProduct` whose drift is ``drift(t)``; ``None`` (the next evaluation
    recomputes the product) where ``drift(t)`` is ``None``: the drift has grown past what
    the model lets its bounds absorb."""

    views = None if type(base) is np.ndarray else _cpu_views(base, step)
    # (which path a float t takes depends on the arrays alone: decided once, here)
    compiled = _compiled.usable(base, step)
    host = type(base) is type(step) is np.ndarray and base.dtype == step.dtype

    def product(t: Any) -> CarriedProduct | None:
        bound = 0.0 if drift is None else drift(t)
        if bound is None:
            return None
        if views is not None and isinstance(t, float):
            return CarriedProduct(_host_axpy(views[0], views[1], t), bound)
        if type(t) is float and compiled:  # (the same values, one pass)
            return CarriedProduct(_compiled.axpy(base, step, t), bound)
        if type(t) is float and host:
            out = np.multiply(step, t)  # (base + t step with one temporary: the same values)
            out += base
            return CarriedProduct(out, bound)
        return CarriedProduct(materialize(base + t * step), bound)

    return product


def _viewable(*arrays: Any) -> bool:
    """Whether the arrays are PyTorch CPU tensors of one dtype, float32 or float64, on the
    host path (not inside :func:`lfso.bench.cpu_as_accelerator`)."""
    if not all(array_api_compat.is_torch_array(a) and not accelerated(a) for a in arrays):
        return False
    return len({a.dtype for a in arrays}) == 1 and str(arrays[0].dtype) in _VIEWABLE


#: The PyTorch dtypes viewed as NumPy arrays on the host path.
_VIEWABLE = ("torch.float32", "torch.float64")


def _cpu_views(*arrays: Any) -> tuple[Any, ...] | None:
    """Zero-copy NumPy views of the arrays where :func:`_viewable`, else ``None``."""
    if not _viewable(*arrays):
        return None
    return tuple(_numpy_view(a) for a in arrays)


def _numpy_view(tensor: Any) -> np.ndarray:
    """A PyTorch CPU tensor's memory as a NumPy array (no copy; no autograd graph)."""
    return tensor.detach().resolve_conj().resolve_neg().numpy()


def _host_axpy(base: np.ndarray, step: np.ndarray, t: float) -> Any:
    """``base + t step`` on NumPy views, as a PyTorch tensor sharing the result's memory:
    bit for bit PyTorch's ``base + t * step`` on the tensors (both round ``t`` to the
    dtype, then one correctly rounded product and one sum per element)."""
    import torch

    if _compiled.usable(base, step):  # (the same values, one pass)
        return torch.from_numpy(_compiled.axpy(base, step, float(t)))
    out = np.multiply(step, t)
    out += base
    return torch.from_numpy(out)
