"""The compiled row kernels themselves (numba: imported with this module, which
:func:`lfso.models._compiled.kernels` imports on first use). Module-level functions, so
that numba's cache (``cache=True``) finds them again in a new process: each is compiled
once per machine and signature, then loaded; but for the three that take a function
(:data:`POWERS`), which the cache does not find again and which are compiled once per
process.

Every elementwise operation is compiled without ``fastmath`` (:data:`exact`, also the
passes that write arrays), and with NumPy's error model (``error_model="numpy"``): a
division is the IEEE one (``x / 0`` is an infinity or NaN, as NumPy's, where Python's
model raises), so the loops that divide carry no branch and run in vector lanes; the
kernels' divisors are at least 1, so no value changes. The loops that sum terms carry
one flag, ``reassoc`` (:data:`summing`), which lets the compiler reorder their additions
of terms (into vector lanes, added at the end): another order of the same terms, which
:func:`lfso.models._segments.rounding_pad` covers (:mod:`lfso.models._compiled`). The
flag is on the sum's additions alone: the terms come from functions compiled without it,
whose operations keep their own (IEEE) semantics when inlined.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

#: Elementwise operations and the passes that write arrays: IEEE semantics throughout.
exact = numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy")
#: The loops that add terms: their additions may be reordered (``reassoc`` alone).
summing = numba.njit(cache=True, fastmath={"reassoc"}, nogil=True, error_model="numpy")
#: The same, for the kernels that take a function (:data:`POWERS`): not cached.
exact_once = numba.njit(fastmath=False, nogil=True, error_model="numpy")
summing_once = numba.njit(fastmath={"reassoc"}, nogil=True, error_model="numpy")


@exact
def maximum(a: Any, b: Any) -> Any:  # np.maximum: NaN from either operand
    return a if (a >= b or a != a) else b


@exact
def minimum(a: Any, b: Any) -> Any:  # np.minimum
    return a if (a <= b or a != a) else b


@exact
def square(base: Any, m: Any) -> Any:
    return base * base


@exact
def cube(base: Any, m: Any) -> Any:
    return (base * base) * base


@exact
def fourth(base: Any, m: Any) -> Any:
    square = base * base
    return square * square


@exact
def root(base: Any, m: Any) -> Any:
    return np.sqrt(base)


@exact
def general(base: Any, m: Any) -> Any:
    return base**m


#: ``base^m`` as :func:`lfso.models._segments.power_kernel` takes it, by ``m``: products
#: for 2, 3 and 4, ``sqrt`` for 0.5 (NumPy's ``**`` does), :func:`general` (``pow``) for
#: the others. A function argument: each kernel that takes it is
#: compiled for that function, inlined (a branch on a code instead keeps the loops from
#: running in vector lanes). numba's cache does not find such a kernel again in a new
#: process, so those (:data:`exact_once`, :data:`summing_once`) are compiled once per
#: process instead of cached.
POWERS = {2.0: square, 3.0: cube, 4.0: fourth, 0.5: root}


@exact_once
def power_term(
    ri: Any, ui: Any, wi: Any, t: Any, g: Any, delta: Any, coef: Any, m: Any, power: Any
) -> Any:
    # w coef max(|r| + delta, |r + t u| + g)^m; delta = g = 0: no widening (x + 0 = x
    # for every x that abs gives)
    top = abs(ri) + delta
    end = abs(t * ui + ri) + g
    return wi * (power(maximum(end, top), m) * coef)


@exact
def approach_term(e: Any, wi: Any, one: Any) -> Any:
    q = one + e
    return wi * (e / (q * q))


@exact
def slack_weight(ui: Any, eps: Any) -> Any:
    w = abs(ui) + eps
    return w * w


@exact
def residual_term(axi: Any, bi: Any, cube: bool, residual: Any, weighted: Any, i: int) -> Any:
    r = axi - bi
    r2 = r * r
    w = r2 * r2 if cube else r2
    residual[i] = r
    weighted[i] = w * r
    return w * r2


@summing_once
def power_sum(
    r: Any, u: Any, weight: Any, t: Any, g: Any, delta: Any, coef: Any, m: Any, power: Any
) -> float:
    total = 0.0
    for i in range(r.shape[0]):
        total += power_term(r[i], u[i], weight[i], t, g, delta, coef, m, power)
    return total


@exact_once
def power_sums(
    r: Any,
    u: Any,
    weight: Any,
    trials: Any,
    grown: Any,
    delta: Any,
    coef: Any,
    m: Any,
    power: Any,
    out: Any,
) -> Any:
    n, k = r.shape[0], trials.shape[0]
    for j in range(k):
        out[j] = 0.0
    block = max(n, 1) if k == 1 else 2048  # a block of rows, in cache for every trial
    for c in range(0, n, block):
        e = min(n, c + block)
        rc, uc, wc = r[c:e], u[c:e], weight[c:e]
        for j in range(k):
            out[j] += power_sum(rc, uc, wc, trials[j], grown[j], delta, coef, m, power)
    return out


@exact
def approach_arguments(start: Any, rate: Any, trials: Any, grown: Any, zero: Any, buf: Any) -> None:
    # buf[j, i] = -max(start_i + t_j rate_i - g_j, 0): the exponential's argument
    n = start.shape[0]
    for j in range(trials.shape[0]):
        t, g = trials[j], grown[j]
        for i in range(n):
            buf[j, i] = -maximum((t * rate[i] + start[i]) - g, zero)


@summing
def approach_sum(e: Any, weight: Any, one: Any) -> float:
    total = 0.0
    for i in range(weight.shape[0]):
        total += approach_term(e[i], weight[i], one)
    return total


@exact
def approach_finish(buf: Any, weight: Any, one: Any, out: Any) -> None:
    # out[j] += sum_i w_i e / (1 + e)^2, e = buf[j, i] (the exponentials)
    for j in range(buf.shape[0]):
        out[j] += approach_sum(buf[j], weight, one)


@exact
def approach_start(zi: Any, low: Any, delta: Any) -> Any:
    # approach's start |m| (1 - 4.1 unit) - delta, |m| = |z|
    return abs(zi) * low - delta


@exact
def approach_rate(zi: Any, vi: Any, eps: Any, high: Any, zero: Any, one: Any) -> Any:
    # approach's rate (min(sign(m) v, 0) - eps) (1 + 4.1 unit); np.sign: +-1, +0 for a
    # zero of either sign, NaN for NaN
    sign = one if zi > zero else (-one if zi < zero else (zero if zi == zero else zi))
    return (minimum(sign * vi, zero) - eps) * high


@exact
def direct_arguments(
    z: Any,
    u: Any,
    trials: Any,
    delta: Any,
    eps: Any,
    low: Any,
    high: Any,
    zero: Any,
    one: Any,
    buf: Any,
) -> None:
    # buf[j, i] = -max(start_i + t_j rate_i, 0), start and rate made from z and u in the
    # pass (approach_fill's values, not stored)
    n = z.shape[0]
    for j in range(trials.shape[0]):
        t = trials[j]
        for i in range(n):
            start = approach_start(z[i], low, delta)
            rate = approach_rate(z[i], u[i], eps, high, zero, one)
            buf[j, i] = -maximum(t * rate + start, zero)


@summing
def direct_sum(e: Any, u: Any, eps: Any, one: Any) -> float:
    total = 0.0
    for i in range(u.shape[0]):
        total += approach_term(e[i], slack_weight(u[i], eps), one)
    return total


@summing
def slack_total(u: Any, eps: Any) -> float:
    total = 0.0
    for i in range(u.shape[0]):
        total += slack_weight(u[i], eps)
    return total


@exact
def direct_finish(buf: Any, u: Any, eps: Any, one: Any, out: Any) -> None:
    # out[j] += sum_i (|u_i| + eps)^2 e / (1 + e)^2, e = buf[j, i] (the exponentials)
    for j in range(buf.shape[0]):
        out[j] += direct_sum(buf[j], u, eps, one)


@exact
def slack_fill(u: Any, eps: Any, out: Any) -> None:
    for i in range(u.shape[0]):
        out[i] = slack_weight(u[i], eps)


@summing
def total_of(values: Any) -> float:
    total = 0.0
    for i in range(values.shape[0]):
        total += values[i]
    return total


@exact
def approach_fill(
    m: Any,
    size: Any,
    given: bool,
    v: Any,
    delta: Any,
    eps: Any,
    low: Any,
    high: Any,
    zero: Any,
    one: Any,
    start: Any,
    rate: Any,
    weight: Any,
) -> None:
    for i in range(m.shape[0]):
        mi, vi = m[i], v[i]
        rate[i] = approach_rate(mi, vi, eps, high, zero, one)
        top = size[i] if given else abs(mi)
        start[i] = top * low - delta
        weight[i] = slack_weight(vi, eps)


@exact
def sign_of(code: Any, one: Any) -> Any:
    # a label's sign +-1 (given as +-1 of any type) in the rows' dtype
    return one if code > 0 else -one


@exact
def logistic_arguments(z: Any, negated: Any, one: Any, distance: Any, buf: Any) -> None:
    # |m| = |(-s) z| and the exponential's argument -|m|
    for i in range(z.shape[0]):
        size = abs(sign_of(negated[i], one) * z[i])
        distance[i] = size
        buf[i] = -size


@exact
def logistic_exponents(z: Any, buf: Any) -> None:
    # the exponential's argument -|m| = -|z| alone
    for i in range(z.shape[0]):
        buf[i] = -abs(z[i])


@exact
def logistic_fill(
    z: Any, negated: Any, e: Any, logs: Any, zero: Any, one: Any, factor: Any
) -> None:
    # the losses log1p(e) + max(-m, 0) in logs, and -s sigma(-m) = |e / (1 + e) -
    # [m < 0]| (-s) in factor
    for i in range(z.shape[0]):
        ns = sign_of(negated[i], one)
        tail = maximum(ns * z[i], zero)
        ei = e[i]
        ratio = ei / (ei + one)
        c = one if tail > zero else zero
        factor[i] = abs(ratio - c) * ns
        logs[i] = logs[i] + tail


@exact
def loss_fill(z: Any, negated: Any, logs: Any, zero: Any, one: Any) -> None:
    for i in range(z.shape[0]):
        logs[i] = logs[i] + maximum(sign_of(negated[i], one) * z[i], zero)


@summing
def residual_powers(ax: Any, b: Any, cube: bool, residual: Any, weighted: Any) -> float:
    total = 0.0
    for i in range(ax.shape[0]):
        total += residual_term(ax[i], b[i], cube, residual, weighted, i)
    return total


@exact
def axpy(base: Any, step: Any, t: Any, out: Any) -> Any:
    for i in range(base.shape[0]):
        out[i] = t * step[i] + base[i]
    return out


@exact
def cauchy_rho2(v: Any, inv_c2: Any, one: Any, two: Any) -> Any:
    # rho'' = a (2 a - 1), a = 1 / (1 + v^2 / c^2), as the NumPy kernel forms them
    a = one / ((v * v) * inv_c2 + one)
    return (a * two - one) * a


@exact
def cauchy_term(
    ri: Any,
    ui: Any,
    wi: Any,
    t: Any,
    g: Any,
    inv_c2: Any,
    near_pad: Any,
    far_pad: Any,
    widened: bool,
    zero: Any,
    one: Any,
    two: Any,
) -> Any:
    # w max(rho''(near), rho''(far)), [near, far] the interval of |r + s u| on [0, t],
    # widened by the rows' rounding (g = 0 without the rows' slack: x - 0 = x + 0 = x)
    e = t * ui + ri
    size, end = abs(ri), abs(e)
    near = zero if (ri <= zero) != (e <= zero) else minimum(size, end)
    far = maximum(size, end)
    if widened:
        near = maximum((near - far * near_pad) - g, zero)
        far = far * far_pad + g
    return wi * maximum(cauchy_rho2(near, inv_c2, one, two), cauchy_rho2(far, inv_c2, one, two))


@summing
def cauchy_sum(
    r: Any,
    u: Any,
    weight: Any,
    t: Any,
    g: Any,
    inv_c2: Any,
    near_pad: Any,
    far_pad: Any,
    widened: bool,
    zero: Any,
    one: Any,
    two: Any,
) -> float:
    total = 0.0
    for i in range(r.shape[0]):
        total += cauchy_term(
            r[i], u[i], weight[i], t, g, inv_c2, near_pad, far_pad, widened, zero, one, two
        )
    return total


@exact
def cauchy_sums(
    r: Any,
    u: Any,
    weight: Any,
    trials: Any,
    grown: Any,
    inv_c2: Any,
    near_pad: Any,
    far_pad: Any,
    widened: bool,
    zero: Any,
    one: Any,
    two: Any,
    out: Any,
) -> Any:
    n, k = r.shape[0], trials.shape[0]
    for j in range(k):
        out[j] = 0.0
    block = max(n, 1) if k == 1 else 2048  # a block of rows, in cache for every trial
    for c in range(0, n, block):
        e = min(n, c + block)
        rc, uc, wc = r[c:e], u[c:e], weight[c:e]
        for j in range(k):
            out[j] += cauchy_sum(
                rc,
                uc,
                wc,
                trials[j],
                grown[j],
                inv_c2,
                near_pad,
                far_pad,
                widened,
                zero,
                one,
                two,
            )
    return out


@exact
def logistic_slope_term(
    zi: float, ui: float, si: float, delta: float, eps: float, growth: float
) -> tuple[float, float, float]:
    """One row of :func:`lfso.models._slope.logistic_derivative`'s bound, in float64:
    ``(w u, |w| |u|, (kappa delta + omega) (|u| + eps) + eps |w|)``."""
    m = si * zi
    e = np.exp(-abs(m))
    sigma = (e if m >= 0.0 else 1.0) / (1.0 + e)
    if growth < 1e300:
        kappa = minimum((e * (1.0 + 16.0 * 2.0**-53) + 2.0 * 5e-324) * growth, 0.25)
    else:  # (e^delta out of range: e^{-(|m| - delta)}, its exponent rounded down)
        t = (abs(m) - delta) * (1.0 - 2.0**-50)
        far = np.exp(-t) * (1.0 + 16.0 * 2.0**-53) + 2.0 * 5e-324 if t > 0.0 else 0.25
        kappa = minimum(far, 0.25)
    omega = 32.0 * 2.0**-53 * sigma + 8.0 * 5e-324
    au = abs(ui)
    return -si * sigma * ui, sigma * au, (kappa * delta + omega) * (au + eps) + eps * sigma


@summing
def logistic_slope_sums(
    z: Any, u: Any, signs: Any, delta: float, eps: float, growth: float
) -> tuple[float, float, float]:
    """The three sums of :func:`logistic_slope_term` over the rows, in one pass."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    for i in range(z.shape[0]):
        a, b, c = logistic_slope_term(
            np.float64(z[i]), np.float64(u[i]), np.float64(signs[i]), delta, eps, growth
        )
        s0 += a
        s1 += b
        s2 += c
    return s0, s1, s2


@exact
def slope_power(base: float, m: float) -> float:
    """``base^m`` by products for ``m = 0, 1, 2, 4`` (least squares, ``l_3`` ... ``l_6``:
    a few ulps, as ``pow``'s), else ``pow``."""
    if m == 0.0:
        return 1.0
    if m == 1.0:
        return base
    if m == 2.0:
        return base * base
    if m == 4.0:
        square = base * base
        return square * square
    return base**m


@exact
def power_slope_term(
    ri: float, ui: float, p: float, delta: float, eps: float
) -> tuple[float, float, float]:
    """One row of :func:`lfso.models._slope.power_derivative`'s bound, in float64 (as
    :func:`logistic_slope_term`)."""
    m, q = 2.0 * p - 2.0, 2.0 * p
    a = abs(ri)
    w = (q * slope_power(a, m)) * ri
    pad = 16.0 if m <= 8.0 else m + 16.0  # (the power of the rounded a + delta: _slope)
    kappa = (q * (q - 1.0) * (1.0 + pad * 2.0**-53)) * (slope_power(a + delta, m) + 1e-323)
    aw = abs(w)
    omega = 16.0 * 2.0**-53 * aw + 4.0 * q * 5e-324
    au = abs(ui)
    return w * ui, aw * au, (kappa * delta + omega) * (au + eps) + eps * aw


@summing
def power_slope_sums(
    r: Any, u: Any, p: float, delta: float, eps: float
) -> tuple[float, float, float]:
    """The three sums of :func:`power_slope_term` over the rows, in one pass."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    for i in range(r.shape[0]):
        a, b, c = power_slope_term(np.float64(r[i]), np.float64(u[i]), p, delta, eps)
        s0 += a
        s1 += b
        s2 += c
    return s0, s1, s2


@summing
def power_row_slope_sums(
    r: Any, u: Any, p: float, delta: Any, eps: Any
) -> tuple[float, float, float]:
    """:func:`power_slope_sums` with per-row bounds ``delta_i``, ``eps_i`` (float64)."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    for i in range(r.shape[0]):
        a, b, c = power_slope_term(np.float64(r[i]), np.float64(u[i]), p, delta[i], eps[i])
        s0 += a
        s1 += b
        s2 += c
    return s0, s1, s2


@summing
def logistic_row_slope_sums(
    z: Any, u: Any, signs: Any, delta: Any, eps: Any
) -> tuple[float, float, float]:
    """:func:`logistic_slope_sums` with per-row bounds ``delta_i``, ``eps_i`` (float64):
    each row's ``kappa`` over its own interval (``growth = inf``: ``e^{-(|m| -
    delta_i)}``)."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    for i in range(z.shape[0]):
        a, b, c = logistic_slope_term(
            np.float64(z[i]), np.float64(u[i]), np.float64(signs[i]), delta[i], eps[i], np.inf
        )
        s0 += a
        s1 += b
        s2 += c
    return s0, s1, s2


@summing
def factor_slope_sums(f: Any, u: Any) -> tuple[float, float, float, float]:
    """``(sum f u, sum |f u|, sum |u|, sum |f|)`` in float64 (every product of two float32
    or float64 numbers in float64), in one pass (:class:`lfso.models._slope.RowSlope`'s
    first tier)."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for i in range(f.shape[0]):
        fi = np.float64(f[i])
        ui = np.float64(u[i])
        s0 += fi * ui
        s1 += abs(fi) * abs(ui)
        s2 += abs(ui)
        s3 += abs(fi)
    return s0, s1, s2, s3


@exact
def cauchy_slope_term(
    ri: float, ui: float, c: float, delta: float, eps: float
) -> tuple[float, float, float]:
    """One row of :func:`lfso.models._slope.cauchy_derivative`'s bound, in float64 (the
    same operations on the same values, row by row: as :func:`logistic_slope_term`)."""
    a = abs(ri)
    q = ri / c
    if a <= c:
        w = ri / (1.0 + q * q)
    else:
        w = c / (q + 1.0 / q)
    s = maximum(a - delta, 0.0)
    if s > c:
        h = c / s
        kappa = (1.0 + 16.0 * 2.0**-53) * (h * h) / (1.0 + h * h) + 2.0 * 5e-324
    else:
        kappa = (1.0 + 16.0 * 2.0**-53) / (1.0 + (s / c) * (s / c))
    kappa = minimum(kappa, 1.0)
    aw = abs(w)
    omega = 16.0 * 2.0**-53 * aw + 8.0 * 5e-324
    if abs(q) == np.inf:
        omega += 1e-308
    au = abs(ui)
    return w * ui, aw * au, (kappa * delta + omega) * (au + eps) + eps * aw


@summing
def cauchy_slope_sums(
    r: Any, u: Any, c: float, delta: float, eps: float
) -> tuple[float, float, float]:
    """The three sums of :func:`cauchy_slope_term` over the rows, in one pass."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    for i in range(r.shape[0]):
        a, b, d = cauchy_slope_term(np.float64(r[i]), np.float64(u[i]), c, delta, eps)
        s0 += a
        s1 += b
        s2 += d
    return s0, s1, s2


@summing
def cauchy_row_slope_sums(
    r: Any, u: Any, c: float, delta: Any, eps: Any
) -> tuple[float, float, float]:
    """:func:`cauchy_slope_sums` with per-row bounds ``delta_i``, ``eps_i`` (float64)."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    for i in range(r.shape[0]):
        a, b, d = cauchy_slope_term(np.float64(r[i]), np.float64(u[i]), c, delta[i], eps[i])
        s0 += a
        s1 += b
        s2 += d
    return s0, s1, s2


@exact
def softmax_slope_parts(z: Any, labels: Any, classes: int) -> tuple[Any, Any, Any]:
    """``(e, total, others)`` of :func:`lfso.models._slope.softmax_derivative` in float64,
    class by class over the ``K x n`` logits ``z`` (flattened; ``labels`` the flat indices
    of the labels' entries): ``e = exp(z - max_k z_k)`` (``K x n``), ``total = sum_k e_k``
    and ``others`` the same sum without the label's, each row's (the sums over the classes
    in class order, within the same ``gamma_K``)."""
    n = z.shape[0] // classes
    peak = np.empty(n)
    for i in range(n):
        peak[i] = np.float64(z[i])
    for k in range(1, classes):
        for i in range(n):
            peak[i] = maximum(peak[i], np.float64(z[k * n + i]))
    e = np.empty(classes * n)
    total = np.zeros(n)
    for k in range(classes):
        for i in range(n):
            ek = np.exp(np.float64(z[k * n + i]) - peak[i])
            e[k * n + i] = ek
            total[i] += ek
    others = np.zeros(n)
    for k in range(classes):
        for i in range(n):
            j = k * n + i
            others[i] += 0.0 if j == labels[i] else e[j]
    return e, total, others


@summing
def softmax_slope_sums(
    z: Any, u: Any, labels: Any, classes: int, delta: float, eps: float
) -> tuple[float, float, float]:
    """The three sums of :func:`lfso.models._slope.softmax_derivative`'s bound over the
    ``n K`` logits, in float64: the same operations on the same values
    (:func:`softmax_slope_parts`), the sums in another order."""
    n = z.shape[0] // classes
    e, total, others = softmax_slope_parts(z, labels, classes)
    pad = (1600.0 + 2.0 * classes) * 2.0**-53
    lost = 4.0 * (classes + 2) * 5e-324
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    for k in range(classes):
        for i in range(n):
            j = k * n + i
            w = -others[i] / total[i] if j == labels[i] else e[j] / total[i]
            uj = np.float64(u[j])
            aw = abs(w)
            au = abs(uj)
            s0 += w * uj
            s1 += aw * au
            s2 += (0.5 * delta + (pad * aw + lost)) * (au + eps) + eps * aw
    return s0, s1, s2
