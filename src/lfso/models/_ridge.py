"""A ridge term with one weight per coefficient: ``(1/2) sum_j l2_j w_j^2``.

The classifiers take ``l2`` as one float (the ridge ``(l2 / 2) ||w||^2`` over the
penalised coefficients, computed as before) or as one weight per feature; the latter is
this term, with the weights spread over the model's coefficients (zero at the intercepts,
repeated over the classes of a softmax model). Its Hessian is ``diag(l2_j)``, so:

* a ball oracle adds ``max_j l2_j`` (:attr:`VectorRidge.top`), the Hessian's norm;
* a segment along ``d`` adds ``d^T diag(l2) d = sum_j l2_j d_j^2``
  (:meth:`VectorRidge.curvature`), exactly, not ``max_j l2_j ||d||^2``.

Rounding. The weights are held in the data's dtype rounded *up* (never below the given
``l2_j``; exactly the given values for float64 data), so a term computed from them is an
upper bound before its arithmetic's rounding. ``sum_j l2_j d_j^2`` is computed as
``sum_j r_j fl(d_j^2)`` where ``r_j > 0`` (0 elsewhere: no ``0 inf``): each term is within
``gamma_2`` of ``r_j d_j^2`` relatively, and the sum of ``m`` terms within ``gamma_{m -
1}`` (Higham, Lemma 3.1), plus what underflow loses: a square below the smallest normal
number ``tiny`` loses up to half the smallest subnormal ``eta = tiny eps``, magnified by
``r_j <= top`` at most, and the product loses up to ``eta / 2`` more: per term
``(1 + top) eta / 2 (1 + u)``. So ``pad (S + m (1 + top) eta)``, with ``S`` the computed
sum and ``pad = 1 + gamma_{m + 6}`` (the sum's ``m + 1`` roundings, the addition and the
product by the pad, and the pad's own rounding to the dtype), bounds ``sum_j l2_j d_j^2``
from above; a square that overflows makes it ``inf`` (certifying nothing).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._arrays import device, error_gamma, namespace, reduce_sum, to_numpy
from ._portable import Portable

__all__ = ["VectorRidge", "held_up", "spread"]


def held_up(value: float, xp: Any, dtype: Any) -> float:
    """A float ``>= value >= 0`` that the array library takes in ``dtype`` (as the factor
    of a product with a 0-d array of it: NumPy and PyTorch round a Python float to the
    array's dtype) within a relative unit roundoff above ``value`` or exactly: ``value``
    itself where it is 0 or at least the dtype's smallest normal number ``tiny``, else
    the next multiple of the smallest subnormal ``eta = tiny eps`` up. Below ``tiny``
    the rounding to the dtype is absolute, up to ``eta / 2``, not relative: a float32
    ridge ``l2 = 1e-46`` rounded to 0 dropped ``l2 ||d||^2 = 1e-10`` from a segment's
    curvature bound, which the relative pad of its product does not cover."""
    finfo = xp.finfo(dtype)
    tiny = float(finfo.smallest_normal)
    if value == 0.0 or value >= tiny:
        return value
    eta = tiny * float(finfo.eps)  # (a power of two: the quotient and product are exact)
    return math.ceil(value / eta) * eta


class VectorRidge(Portable):
    """``(1/2) sum_j r_j w_j^2`` over a model's coefficients (see the module docstring).

    Parameters
    ----------
    weights : NumPy float64 array, shape (dim,)
        The weight of each coefficient (0 at the unpenalised ones), finite and ``>= 0``.
    data : array
        The model's data: the weights are held in its library, dtype and device.

    Attributes
    ----------
    r : array, shape (dim,)
        The weights in the data's dtype, each rounded up.
    top : float
        ``max_j r_j``: the ridge Hessian's norm (``>= max_j l2_j``).
    """

    def __init__(self, weights: np.ndarray, data: Any) -> None:
        xp = namespace(data)
        dtype, where = data.dtype, device(data)
        with np.errstate(over="ignore"):  # (past the dtype's range: refused below)
            r = xp.asarray(weights, dtype=dtype, device=where)
            held = to_numpy(r).astype(np.float64)
            if np.any(held < weights):  # (rounded down: raised past the next value up)
                finfo = xp.finfo(dtype)
                eps = float(finfo.eps)
                eta = float(finfo.smallest_normal) * eps
                bumped = np.where(held < weights, weights + 1.5 * eps * weights + eta, weights)
                r = xp.asarray(bumped, dtype=dtype, device=where)
                held = to_numpy(r).astype(np.float64)
        if not np.all(np.isfinite(held)):
            raise ValueError(
                f"l2 must fit the data's dtype {dtype}, got l2 up to {float(np.max(weights))!r}"
            )
        self.xp, self.r = xp, r
        self.top = float(np.max(held)) if held.size else 0.0
        m = int(held.size)
        self.pad = 1.0 + error_gamma(m + 6, dtype)
        finfo = xp.finfo(dtype)
        self.lost = m * (1.0 + self.top) * float(finfo.smallest_normal) * float(finfo.eps)

    def _terms(self, v: Any) -> Any:
        """``r_j v_j^2`` where ``r_j > 0``, 0 elsewhere (an overflowing ``v_j^2`` beside a
        zero weight adds nothing, not NaN)."""
        xp, r = self.xp, self.r
        return xp.where(r > 0.0, r * (v * v), 0.0)

    def value(self, x: Any) -> Any:
        """``(1/2) sum_j r_j x_j^2``, a 0-d array of ``x``'s library."""
        return 0.5 * reduce_sum(self.xp, self._terms(x))

    def grad(self, x: Any) -> Any:
        """``r_j x_j``, the term's gradient."""
        return self.r * x

    def curvature(self, d: Any) -> Any:
        """An upper bound on ``sum_j l2_j d_j^2`` (module docstring), a 0-d array."""
        return self.pad * (reduce_sum(self.xp, self._terms(d)) + self.lost)


def spread(l2: float | np.ndarray, rows: int, columns: int, intercept: bool) -> np.ndarray | None:
    """The per-coefficient weights of a model with ``rows`` rows of coefficients (features,
    then the intercept's when ``intercept``) and ``columns`` columns (1, or the classes),
    flattened by rows, from one weight per feature; ``None`` for one float ``l2``."""
    if not isinstance(l2, np.ndarray):
        return None
    full = np.zeros((rows, columns))
    full[: l2.size, :] = l2[:, None]
    if intercept:
        full[-1, :] = 0.0
    return full.reshape(-1)
