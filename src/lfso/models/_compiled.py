"""Compiled row kernels: one pass over the rows where the NumPy kernels make several.

Where numba is installed (the ``fast`` extra) and the environment variable
``LFSO_NO_COMPILED`` is unset when :mod:`lfso` is imported, the row models' host work
(NumPy rows, and PyTorch CPU tensors, which run it on zero-copy NumPy views) takes these
kernels: a trial step of a row segment (all the trial steps of a batch in one pass over the
rows; the logistic rows' trial makes its rows from the margins' products and their change
in the pass, :func:`approach_direct_sums`, so that segment stores none), the segment's row
preparation (the logistic rows' approach rates and pads, the
weights ``(|u| + eps)^2`` and their sum), the evaluation's row work (the logistic losses,
gradient factors and margins' sizes; ``l_4`` and ``l_6`` regression's residual, its
weighted residual and the loss) and the carried product ``z + t u``. Elsewhere the NumPy
kernels run (:data:`ENABLED` is ``False``, or :func:`usable` says no: fewer than
:data:`MIN_ROWS` rows, where numba's one-off import and compilation would cost a short run
more than the kernels save). The choice is made once, at import; each kernel
(:mod:`lfso.models._compiled_kernels`, module-level functions) is compiled at its first
use, for float32 and float64 rows, and kept in numba's cache (compiled once per machine
and signature, then loaded), but for the ``l_2p`` trial kernels, which take the power as
a function and are compiled once per process. No ``parallel``.

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

#: The fewest rows the kernels take: below, the NumPy kernels run. A process's first
#: compiled calls import numba, load most kernels from its cache and compile the ``l_2p``
#: trial kernel (about a second, once per process; ``docs/results.md``, "Compiled row
#: kernels"); from a quarter of a million rows a typical run's passes over the rows save
#: more than that, and a short run on fewer rows would pay it in full.
MIN_ROWS = 250_000


def usable(*arrays: Any) -> bool:
    """Whether the compiled kernels run on these NumPy arrays: :data:`ENABLED`, and all
    one-dimensional, of one dtype, float32 or float64, with at least :data:`MIN_ROWS`
    rows."""
    first = arrays[0]
    if not ENABLED or type(first) is not np.ndarray or first.ndim != 1:
        return False
    if first.shape[0] < MIN_ROWS or first.dtype not in _DTYPES:  # (the usual answer first)
        return False
    return all(type(a) is np.ndarray and a.ndim == 1 and a.dtype == first.dtype for a in arrays)


#: Rows per block of the kernels that call NumPy's exponential and ``log1p`` between two
#: compiled passes (the block stays in cache between them).
BLOCK = 65536


@functools.cache
def kernels() -> Any:
    """The compiled kernels (:mod:`lfso.models._compiled_kernels`, which imports numba: on
    first call; each kernel is compiled for a dtype at its first call with it, or loaded
    from numba's cache)."""
    from . import _compiled_kernels

    return _compiled_kernels


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
    args = (
        dtype(delta),
        dtype(coef),
        dtype(m),
        compiled.POWERS.get(float(m), compiled.general),
        out,
    )
    return compiled.power_sums(r, u, weight, trials, grown, *args)  # type: ignore[no-any-return]


def cauchy_sums(
    r: np.ndarray,
    u: np.ndarray,
    weight: np.ndarray,
    trials: np.ndarray,
    inv_c2: float,
    unit: float,
    slack: tuple[float, np.ndarray] | None,
) -> np.ndarray:
    """``sum_i w_i max(rho''(near_ij), rho''(far_ij))`` for every trial ``t_j`` (an array
    of the rows' dtype) in one pass over the rows: the terms of
    :func:`lfso.models._segments.cauchy_kernel`'s fused kernel, operation for operation
    in the rows' dtype (the constants ``1 / c^2``, ``6.1 unit`` and ``1 + 8 unit`` rounded
    to it first, as NumPy rounds a Python float operand), with ``slack = (delta, g)``
    (``g_j = delta + t_j eps`` in the rows' dtype, as the NumPy kernel rounds it) or
    without (``None``: ``g = 0``); a float64 array of ``k`` sums.

    Rounding: each term is the NumPy kernel's bit for bit (additions, multiplications, one
    division, comparisons, ``abs``, maxima and minima, all correctly rounded or exact), and
    the float64 sum is within the pad of every order (module docstring), so
    :class:`~lfso.models._segments.RowSegment`'s bound holds as for the NumPy kernel."""
    dtype = r.dtype.type
    compiled = kernels()
    out = np.empty(trials.shape[0], dtype=np.float64)
    grown = np.zeros_like(trials) if slack is None else slack[1]
    widened = unit > 0.0 or slack is not None
    pads = dtype(inv_c2), dtype(6.1 * unit), dtype(1.0 + 8.0 * unit)
    constants = dtype(0.0), dtype(1.0), dtype(2.0)
    return compiled.cauchy_sums(  # type: ignore[no-any-return]
        r, u, weight, trials, grown, *pads, widened, *constants, out
    )


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


def approach_direct_sums(
    z: np.ndarray,
    u: np.ndarray,
    trials: np.ndarray,
    pads: tuple[float, float, float],
    weight_sum: bool,
) -> tuple[np.ndarray, float | None]:
    """:func:`approach_sums` of :func:`approach_rows`'s rows without those rows: for every
    trial ``t_j``, ``sum_i w_i sigma'(max(start_i + t_j rate_i, 0))`` with ``start``,
    ``rate`` (:func:`lfso.models._segments.approach` of ``m = z`` and ``v = u`` with its
    pads, ``pads = (delta, eps, unit)``) and ``w = (|u| + eps)^2`` made row by row inside
    the pass, from ``z`` and ``u`` alone; a float64 array of ``k`` sums, and the weights'
    sum (float64) where ``weight_sum`` (else ``None``). Two arrays read per trial where
    :func:`approach_sums` reads three, and no preparation pass writing them.

    Rounding: each row's start, rate and weight are :func:`approach_rows`'s operations in
    the same order, so every term is the NumPy kernel's bit for bit (its ``term_ulps =
    12`` argument unchanged); the float64 sums are within the pad of every order (module
    docstring)."""
    k, n = int(trials.shape[0]), int(z.shape[0])
    dtype = z.dtype.type
    delta, eps, unit = pads
    zero, one = dtype(0.0), dtype(1.0)
    low, high = dtype(1.0 - 4.1 * unit), dtype(1.0 + 4.1 * unit)
    small, grown = dtype(delta), dtype(eps)
    out = np.zeros(k, dtype=np.float64)
    flat = _buffer(k * min(n, BLOCK), z.dtype)
    compiled = kernels()
    total = 0.0
    for c in range(0, n, BLOCK):
        e = min(n, c + BLOCK)
        buf = flat[: k * (e - c)].reshape(k, e - c)
        zc, uc = z[c:e], u[c:e]
        compiled.direct_arguments(zc, uc, trials, small, grown, low, high, zero, one, buf)
        np.exp(buf, out=buf)
        compiled.direct_finish(buf, uc, grown, one, out)
        if weight_sum:
            total += compiled.slack_total(uc, grown)
    return out, (total if weight_sum else None)


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


def logistic_rows(
    z: np.ndarray, negated: np.ndarray, sizes: bool = True
) -> tuple[float, np.ndarray, np.ndarray | None]:
    """``(sum of the losses, -s sigma(-m), |m|)``: :func:`lfso.models._logistic._host_losses`'s
    values (its losses summed in float64, not returned), reading the rows once in blocks
    of :data:`BLOCK`: a compiled pass (``|m|`` and ``-|m|``), NumPy's ``exp`` and ``log1p``
    on the block (the NumPy kernel's, bit for bit), a compiled pass for the rest. Without
    ``sizes``, ``|m|`` is not stored (``None``: one array fewer written). ``negated``:
    ``-s`` as ``+-1`` of any dtype (int8: the fewest bytes to read), taken in the rows'
    dtype (exactly)."""
    factor = np.empty_like(z)
    distance = np.empty_like(z) if sizes else None
    return _logistic_blocks(z, negated, (factor, distance)), factor, distance


def logistic_loss_sum(z: np.ndarray, negated: np.ndarray) -> float:
    """The sum of :func:`lfso.models._logistic._host_losses`'s losses, as
    :func:`logistic_rows` computes it (without the gradient's factor)."""
    return _logistic_blocks(z, negated, None)


def _logistic_blocks(
    z: np.ndarray, negated: np.ndarray, out: tuple[np.ndarray, np.ndarray | None] | None
) -> float:
    """The losses' sum by blocks of :data:`BLOCK` rows (:func:`logistic_rows`), writing
    ``-s sigma(-m)`` and ``|m|`` into ``out = (factor, distance)`` where given (``|m|``
    not at all where ``distance`` is ``None``: ``-|m| = -|z|`` from ``z`` alone)."""
    dtype = z.dtype.type
    zero, one = dtype(0.0), dtype(1.0)
    n = int(z.shape[0])
    half = min(n, BLOCK)
    flat = _buffer(2 * half, z.dtype)
    compiled = kernels()
    total = 0.0
    for c in range(0, n, BLOCK):
        e = min(n, c + BLOCK)
        exps, rest = flat[: e - c], flat[half : half + e - c]
        zc, nc = z[c:e], negated[c:e]
        if out is None or out[1] is None:
            compiled.logistic_exponents(zc, exps)
        else:
            compiled.logistic_arguments(zc, nc, one, out[1][c:e], exps)
        np.exp(exps, out=exps)
        if out is None:  # (the losses in place of the exponentials)
            np.log1p(exps, out=exps)
            compiled.loss_fill(zc, nc, exps, zero, one)
            total += compiled.total_of(exps)
        else:
            np.log1p(exps, out=rest)
            compiled.logistic_fill(zc, nc, exps, rest, zero, one, out[0][c:e])
            total += compiled.total_of(rest)
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
