"""Compiled row kernels: one pass over the rows where the NumPy kernels make several.

Where numba is installed (the ``fast`` extra) and the environment variable
``LFSO_NO_COMPILED`` is unset when :mod:`lfso` is imported, the row models' host work
(NumPy rows, and PyTorch CPU tensors, which run it on zero-copy NumPy views) takes these
kernels: a trial step of a row segment (all the trial steps of a batch in one pass over the
rows), the segment's row preparation (the logistic rows' approach rates and pads, the
weights ``(|u| + eps)^2`` and their sum), the evaluation's row work (the logistic losses,
gradient factors and margins' sizes; ``l_4`` and ``l_6`` regression's residual, its
weighted residual and the loss) and the carried product ``z + t u``. Elsewhere the NumPy
kernels run (:data:`ENABLED` is ``False``, or :func:`usable` says no). The choice is made
once, at import; each kernel is compiled at its first use (``cache=True``: once per
machine, then loaded from numba's cache), for float32 and float64 rows. No ``parallel``.

Rounding: the same values, so the same rounding arguments.

* Elementwise, the kernels make the NumPy kernels' operations, in the same order and in the
  rows' dtype, compiled without ``fastmath`` (IEEE semantics for NaN, infinities, signed
  zeros and subnormals; no reassociation, no contraction into fused multiply-adds; the
  maximum and minimum propagate NaN as NumPy's do; ``x + 0 = x - 0 = x`` for the values
  the kernels add a zero to). The exponential and ``log1p`` are NumPy's own, applied to
  a block of :data:`BLOCK` rows between two compiled passes (the block stays in cache).
  So every term is the NumPy kernel's bit for bit (``tests/test_compiled.py``), but a
  non-integer power, which the C library's ``pow`` takes here, within the power kernel's
  ``term_ulps`` (an ulp or two, as NumPy's).
* A sum of terms runs in float64, in any order (the loops that add the terms carry the
  one flag ``reassoc``, on those additions alone, so that they run in vector lanes). For
  ``n`` non-negative terms its error is at most ``(n - 1) eps_64 / 2`` relative (Higham,
  *Accuracy and Stability of Numerical Algorithms*, 2002, Section 4.2, any order), and a
  row segment rounds it once to the rows' dtype (``eps / 2`` more), together at most ``n
  eps / 2``: within the ``(n + 2 term_ulps + 1) eps`` of
  :func:`lfso.models._segments.rounding_pad`, which bounds every order of summation in
  the rows' dtype. The underflow pad (:attr:`~lfso.models._segments.RowSegment.underflow`)
  counts the elementwise operations, which are the same. A loss summed so is within the
  same bound of the exact sum of the losses.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from types import SimpleNamespace
from typing import Any

import numpy as np

__all__ = ["ENABLED", "kernels", "usable"]

#: Whether the compiled kernels are used: numba importable and ``LFSO_NO_COMPILED`` unset,
#: decided once, when this module is imported.
ENABLED: bool = "LFSO_NO_COMPILED" not in os.environ and (
    importlib.util.find_spec("numba") is not None
)

#: The dtypes the kernels are compiled for.
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def usable(*arrays: Any) -> bool:
    """Whether the compiled kernels run on these NumPy arrays: :data:`ENABLED`, and all
    one-dimensional, of one dtype, float32 or float64."""
    if not ENABLED:
        return False
    first = arrays[0]
    return all(
        type(a) is np.ndarray and a.ndim == 1 and a.dtype == first.dtype for a in arrays
    ) and (first.dtype in _DTYPES)


#: Rows per block of the kernels that call NumPy's exponential and ``log1p`` between two
#: compiled passes (the block stays in cache between them).
BLOCK = 32768


@functools.cache
def kernels() -> SimpleNamespace:
    """The compiled kernels (numba imported and the functions defined on first call;
    each compiled for a dtype at its first call with it).

    Every elementwise operation is compiled without ``fastmath`` (:func:`_elementwise`,
    and the passes that write arrays). The loops that sum terms carry one flag,
    ``reassoc``, which lets the compiler reorder their additions of terms (into vector
    lanes, added at the end): another order of the same terms, which
    :func:`lfso.models._segments.rounding_pad` covers (see the module docstring). The
    flag is on the sum's additions alone: the terms come from functions compiled
    without it, whose operations keep their own (IEEE) semantics when inlined."""
    import numba

    exact = numba.njit(cache=True, fastmath=False, nogil=True)
    summing = numba.njit(cache=True, fastmath={"reassoc"}, nogil=True)
    ops = _elementwise(exact)
    return SimpleNamespace(
        powers={2: ops.square, 3: ops.cube, 4: ops.fourth, 5: ops.root, 0: ops.general},
        **vars(_segment_passes(exact, summing, ops)),
        **vars(_evaluation_passes(exact, summing, ops)),
    )


def _elementwise(exact: Any) -> SimpleNamespace:
    """The kernels' elementwise operations, each the NumPy kernel's (without ``fastmath``)."""

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

    @exact
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

    return SimpleNamespace(
        maximum=maximum,
        minimum=minimum,
        square=square,
        cube=cube,
        fourth=fourth,
        root=root,
        general=general,
        power_term=power_term,
        approach_term=approach_term,
        slack_weight=slack_weight,
        residual_term=residual_term,
    )


def _segment_passes(exact: Any, summing: Any, ops: SimpleNamespace) -> SimpleNamespace:
    """A row segment's passes: the trial steps' sums and the weights."""
    maximum, power_term = ops.maximum, ops.power_term
    approach_term, slack_weight = ops.approach_term, ops.slack_weight

    @summing
    def power_sum(
        r: Any, u: Any, weight: Any, t: Any, g: Any, delta: Any, coef: Any, m: Any, power: Any
    ) -> float:
        total = 0.0
        for i in range(r.shape[0]):
            total += power_term(r[i], u[i], weight[i], t, g, delta, coef, m, power)
        return total

    @exact
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
    def approach_arguments(
        start: Any, rate: Any, trials: Any, grown: Any, zero: Any, buf: Any
    ) -> None:
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
    def slack_fill(u: Any, eps: Any, out: Any) -> None:
        for i in range(u.shape[0]):
            out[i] = slack_weight(u[i], eps)

    @summing
    def total_of(values: Any) -> float:
        total = 0.0
        for i in range(values.shape[0]):
            total += values[i]
        return total

    return SimpleNamespace(
        power_sum=power_sum,
        power_sums=power_sums,
        approach_arguments=approach_arguments,
        approach_sum=approach_sum,
        approach_finish=approach_finish,
        slack_fill=slack_fill,
        total_of=total_of,
    )


def _evaluation_passes(exact: Any, summing: Any, ops: SimpleNamespace) -> SimpleNamespace:
    """The segment's row preparation, the evaluations' rows and the carried product."""
    maximum, minimum = ops.maximum, ops.minimum
    slack_weight, residual_term = ops.slack_weight, ops.residual_term

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
            # np.sign: +-1, +0 for a zero of either sign, NaN for NaN
            sign = one if mi > zero else (-one if mi < zero else (zero if mi == zero else mi))
            rate[i] = (minimum(sign * vi, zero) - eps) * high
            top = size[i] if given else abs(mi)
            start[i] = top * low - delta
            weight[i] = slack_weight(vi, eps)

    @exact
    def logistic_arguments(z: Any, negated: Any, distance: Any, buf: Any) -> None:
        # |m| = |(-s) z| and the exponential's argument -|m|
        for i in range(z.shape[0]):
            size = abs(negated[i] * z[i])
            distance[i] = size
            buf[i] = -size

    @exact
    def logistic_fill(
        z: Any, negated: Any, e: Any, logs: Any, zero: Any, one: Any, factor: Any
    ) -> None:
        # the losses log1p(e) + max(-m, 0) in logs, and -s sigma(-m) = |e / (1 + e) -
        # [m < 0]| (-s) in factor
        for i in range(z.shape[0]):
            ns = negated[i]
            tail = maximum(ns * z[i], zero)
            ei = e[i]
            ratio = ei / (ei + one)
            c = one if tail > zero else zero
            factor[i] = abs(ratio - c) * ns
            logs[i] = logs[i] + tail

    @exact
    def loss_fill(z: Any, negated: Any, logs: Any, zero: Any) -> None:
        for i in range(z.shape[0]):
            logs[i] = logs[i] + maximum(negated[i] * z[i], zero)

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

    return SimpleNamespace(
        approach_fill=approach_fill,
        logistic_arguments=logistic_arguments,
        logistic_fill=logistic_fill,
        loss_fill=loss_fill,
        residual_powers=residual_powers,
        axpy=axpy,
    )


def _power(m: float) -> int:
    """How :func:`lfso.models._segments.power_kernel` takes ``base^m``: by products for
    ``m = 2, 3, 4``, ``sqrt`` for ``0.5`` (NumPy's ``**`` does), else ``pow`` (``0``)."""
    return {2.0: 2, 3.0: 3, 4.0: 4, 0.5: 5}.get(float(m), 0)


def power_sums(
    r: np.ndarray,
    u: np.ndarray,
    weight: np.ndarray,
    trials: np.ndarray,
    coef: float,
    m: float,
    slack: tuple[float, np.ndarray] | None,
) -> np.ndarray:
    """``sum_i w_i coef max(|r_i| + delta, |r_i + t_j u_i| + g_j)^m`` for every trial
    ``t_j`` (an array of the rows' dtype) in one pass over the rows: the terms of
    :func:`lfso.models._segments.power_kernel`'s fused kernel, operation for operation in
    the rows' dtype (``top = |r| + delta`` computed in the pass), with ``slack = (delta,
    g)`` (``g_j = delta + t_j eps`` in the rows' dtype, as the NumPy kernel rounds it) or
    without (``None``: ``delta = g = 0``, and ``x + 0 = x`` for every ``|.|``); a float64
    array of ``k`` sums.

    Rounding: each term is the NumPy kernel's (for ``m = 2, 3, 4, 0.5, 1`` bit for bit;
    otherwise ``pow``'s, within an ulp, inside the kernel's ``term_ulps = 4.5 m + 4``), and
    the float64 sum is within the pad of every order (module docstring), so
    :class:`~lfso.models._segments.RowSegment`'s bound holds as for the NumPy kernel."""
    dtype = r.dtype.type
    compiled = kernels()
    out = np.empty(trials.shape[0], dtype=np.float64)
    delta, grown = (0.0, np.zeros_like(trials)) if slack is None else slack
    power = compiled.powers[_power(m)]
    args = (dtype(delta), dtype(coef), dtype(m), power, out)
    return compiled.power_sums(r, u, weight, trials, grown, *args)  # type: ignore[no-any-return]


def approach_sums(
    start: np.ndarray,
    rate: np.ndarray,
    weight: np.ndarray,
    trials: np.ndarray,
    grown: np.ndarray | None,
) -> np.ndarray:
    """``sum_i w_i sigma'(max(start_i + t_j rate_i - g_j, 0))`` for every trial ``t_j``:
    :func:`lfso.models._segments.approach_kernel`'s terms, widened by ``g`` (``None``:
    ``g = 0``, and ``x - 0 = x`` for every ``x``); a float64 array of ``k`` sums. The rows
    are read once, in blocks of :data:`BLOCK`: a compiled pass writes the exponentials'
    arguments, NumPy's ``exp`` takes them in place (the NumPy kernel's exponential, bit
    for bit), and a second compiled pass over the block, still in cache, sums the terms.

    Rounding: every term is the NumPy kernel's bit for bit (its ``term_ulps = 12`` argument
    unchanged), and the float64 sum is within the pad of every order (module docstring)."""
    k, n = int(trials.shape[0]), int(start.shape[0])
    dtype = start.dtype.type
    zero, one = dtype(0.0), dtype(1.0)
    out = np.zeros(k, dtype=np.float64)
    grown = np.zeros_like(trials) if grown is None else grown
    flat = _buffer(k * min(n, BLOCK), start.dtype)
    compiled = kernels()
    for c in range(0, n, BLOCK):
        e = min(n, c + BLOCK)
        buf = flat[: k * (e - c)].reshape(k, e - c)
        compiled.approach_arguments(start[c:e], rate[c:e], trials, grown, zero, buf)
        np.exp(buf, out=buf)
        compiled.approach_finish(buf, weight[c:e], one, out)
    return out


def slack_weights(u: np.ndarray, eps: float) -> tuple[np.ndarray, float]:
    """``((|u| + eps)^2, its sum)``: :func:`lfso.models._segments.squared_slack`'s values,
    and their sum in float64."""
    out = np.empty_like(u)
    compiled = kernels()
    compiled.slack_fill(u, u.dtype.type(eps), out)
    return out, compiled.total_of(out)


def approach_rows(
    m: np.ndarray, v: np.ndarray, delta: float, eps: float, unit: float, size: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """:func:`lfso.models._segments.approach`'s ``(start, rate)`` with its pads and
    :func:`~lfso.models._segments.squared_slack`'s weights ``(|v| + eps)^2`` in one pass,
    and the weights' sum (float64): the same values (a zero rate's sign aside, as
    :func:`~lfso.models._segments._host_approach`'s)."""
    dtype = m.dtype.type
    start, rate, weight = np.empty_like(m), np.empty_like(m), np.empty_like(m)
    given = size is not None
    compiled = kernels()
    compiled.approach_fill(
        m,
        size if given else m,
        given,
        v,
        dtype(delta),
        dtype(eps),
        dtype(1.0 - 4.1 * unit),
        dtype(1.0 + 4.1 * unit),
        dtype(0.0),
        dtype(1.0),
        start,
        rate,
        weight,
    )
    return start, rate, weight, compiled.total_of(weight)


def logistic_rows(z: np.ndarray, negated: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """``(sum of the losses, -s sigma(-m), |m|)``: :func:`lfso.models._logistic._host_losses`'s
    values (its losses summed in float64, not returned), reading the rows once in blocks
    of :data:`BLOCK`: a compiled pass (``|m|`` and ``-|m|``), NumPy's ``exp`` and ``log1p``
    on the block (the NumPy kernel's, bit for bit), a compiled pass for the rest."""
    dtype = z.dtype.type
    zero, one = dtype(0.0), dtype(1.0)
    n = int(z.shape[0])
    factor, distance = np.empty_like(z), np.empty_like(z)
    half = min(n, BLOCK)
    flat = _buffer(2 * half, z.dtype)
    compiled = kernels()
    total = 0.0
    for c in range(0, n, BLOCK):
        e = min(n, c + BLOCK)
        exps, logs = flat[: e - c], flat[half : half + e - c]
        compiled.logistic_arguments(z[c:e], negated[c:e], distance[c:e], exps)
        np.exp(exps, out=exps)
        np.log1p(exps, out=logs)
        compiled.logistic_fill(z[c:e], negated[c:e], exps, logs, zero, one, factor[c:e])
        total += compiled.total_of(logs)
    return total, factor, distance


def logistic_loss_sum(z: np.ndarray, negated: np.ndarray) -> float:
    """The sum of :func:`lfso.models._logistic._host_losses`'s losses, as
    :func:`logistic_rows` computes it (without the gradient's factor)."""
    zero = z.dtype.type(0.0)
    n = int(z.shape[0])
    half = min(n, BLOCK)
    flat = _buffer(2 * half, z.dtype)
    compiled = kernels()
    total = 0.0
    for c in range(0, n, BLOCK):
        e = min(n, c + BLOCK)
        exps, sizes = flat[: e - c], flat[half : half + e - c]
        compiled.logistic_arguments(z[c:e], negated[c:e], sizes, exps)
        np.exp(exps, out=exps)
        np.log1p(exps, out=exps)
        compiled.loss_fill(z[c:e], negated[c:e], exps, zero)
        total += compiled.total_of(exps)
    return total


_WORKSPACE = threading.local()


def _buffer(size: int, dtype: Any) -> np.ndarray:
    """A flat buffer of ``size`` elements of ``dtype``, kept per thread (grown as needed):
    the blocks' scratch, reused so that no call pays for fresh pages."""
    held = getattr(_WORKSPACE, "buffer", None)
    if held is None or held.dtype != dtype or held.shape[0] < size:
        held = np.empty(max(size, 2 * BLOCK), dtype=dtype)
        _WORKSPACE.buffer = held
    return held[:size]


def residual_powers(
    ax: np.ndarray, b: np.ndarray, p: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """``(r, w r, sum_i w_i r_i^2)`` with ``r = ax - b`` and ``w = r^(2p-2)`` for ``p = 2``
    (``r^2``) or ``3`` (``(r^2)^2``: NumPy's ``**2``), in one pass (the sum in float64)."""
    residual, weighted = np.empty_like(ax), np.empty_like(ax)
    total = kernels().residual_powers(ax, b, p == 3.0, residual, weighted)
    return residual, weighted, total


def axpy(base: np.ndarray, step: np.ndarray, t: float) -> np.ndarray:
    """``base + t step`` (``t`` rounded to the rows' dtype, one product and one sum per
    row: NumPy's values) in one pass."""
    return kernels().axpy(base, step, base.dtype.type(t), np.empty_like(base))  # type: ignore[no-any-return]
