"""Multinomial (softmax) logistic regression with a ridge term and intercepts."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._arrays import (
    device,
    error_gamma,
    like,
    materialize,
    reduce_max,
    to_float,
    to_numpy,
)
from .._validate import data_matrix, data_vector, integer, nonnegative
from ._base import Evaluation, Model
from ._rows import RowCurvatureBound, RowGeometry, fetch_evaluation

__all__ = ["SoftmaxRegression"]


def _ratio(e: Any) -> Any:
    """``e / (1 + e)``."""
    return e / (1.0 + e)


class SoftmaxRegression(Model):
    """Mean cross-entropy of a linear softmax classifier, ``K`` classes, with a ridge term.

    .. math::
        f(W) = \\frac1n \\sum_i \\Big(\\log \\sum_k e^{z_{ik}} - z_{i y_i}\\Big)
               + \\frac{l_2}{2} \\|W_{1:d}\\|_F^2, \\qquad z_{ik} = \\tilde x_i^T w_k,

    with ``x`` the flattened ``(d + intercept) x K`` matrix ``W`` (row-major, so
    ``W = x.reshape(-1, K)``); intercepts are not penalised.

    Oracle: the Hessian is ``(1/n) sum_i A_i (x) x_i x_i^T + l2 I`` (at most) with
    ``A_i = diag(pi_i) - pi_i pi_i^T``. By Gershgorin, ``||A_i|| <= max_k 2 pi_ik (1 - pi_ik)
    <= min(1/2, 2 s_i)``, where ``s_i = 1 - max_k pi_ik``. On ``B(W, R)`` every logit moves by
    at most ``||x_i|| R``, so the odds ``s_i / (1 - s_i)`` grow by at most
    ``e^{2 ||x_i|| R}``; with the half log-odds ``u_i = log((1 - s_i) / s_i) / 2``,

    .. math::  ||A_i|| \\le h(\\max(0, u_i - \\|\\tilde x_i\\| R)),
               \\qquad h(v) = \\min(1/2,\\, 2 \\sigma(-2v)),

    and :class:`~lfso.models._rows.RowCurvatureBound` turns that into the spectral / trace
    minimum (``||sum_i c_i A_i (x) x_i x_i^T|| <= ||sum_i c_i x_i x_i^T||``).

    (The odds bound: with ``t`` the top class at ``W``, ``1 - max_k pi_k(V) <= 1 - pi_t(V)``
    on the ball, and ``log(pi_t / (1 - pi_t)) = z_t - logsumexp_{k != t} z_k`` moves by at
    most ``2 max_k |dz_k| <= 2 ||x_i|| R``.) The log-odds are computed from the logits,
    ``-logsumexp_{k != t}(z_k - z_t)``, never from ``1 - max_k pi_k``, which rounds to 0
    once the top class saturates (log-odds above about 17 in float32, 37 in float64), and made
    the bound vanish (``L = 7e-276`` against a Hessian of 0.5 at ``W = (20, -20)``). They
    are lowered by their rounding error, ``gamma_d sqrt(d) ||x_i|| ||W||_max`` for the
    logits plus ``gamma_{K+8} (2 + |log-odds|)`` for the log-sum-exp
    (:func:`lfso._arrays.error_gamma`), as the other row models' statistics are.

    Parameters
    ----------
    X : array, shape (n, d)
    y : array of int, shape (n,)
        Class indices ``0..K-1``.
    n_classes : int >= 2
    l2 : float >= 0
    fit_intercept : bool
    """

    takes_radius_hint = True
    takes_probe = True

    def __init__(
        self, X: Any, y: Any, n_classes: int, *, l2: float = 0.0, fit_intercept: bool = True
    ) -> None:
        xp, X = data_matrix(X, "X")
        n_classes = integer(n_classes, "n_classes", low=2)
        y = _check_labels(data_vector(y, "y", xp, int(X.shape[0]), real_only=False), n_classes)
        l2 = nonnegative(l2, "l2")
        if fit_intercept:
            ones = xp.ones((X.shape[0], 1), dtype=X.dtype, device=device(X))
            X = materialize(xp.concat([X, ones], axis=1))
        self.xp, self.X, self.K, self.l2 = xp, X, int(n_classes), l2
        self.fit_intercept = bool(fit_intercept)
        self.n, self.p = int(X.shape[0]), int(X.shape[1])
        self.dim = self.p * self.K
        classes = xp.arange(self.K, device=device(y))
        self.onehot = xp.astype(like(y, X)[:, None] == like(classes, X)[None, :], X.dtype)
        self.geometry = RowGeometry(X)
        self._lse_gamma = error_gamma(self.K + 8, X.dtype)
        mask = xp.ones((self.p, self.K), dtype=X.dtype, device=device(X))
        if fit_intercept:
            zero = xp.zeros((1, self.K), dtype=X.dtype, device=device(X))
            mask = xp.concat([mask[:-1, :], zero], axis=0)
        self._mask = xp.reshape(mask, (-1,))
        # h(v) = min(1/2, 2 sigma(-2v)) for v >= 0 (clipped there), as 2 e / (1 + e) with
        # e = exp(-2v): underflows to 0 where the other form overflowed (and warned).
        self._peak = lambda v: xp.minimum(0.5, 2.0 * _ratio(xp.exp(-2.0 * v)))

    def _parts(self, x: Any) -> tuple[Any, Any, Any]:
        xp = self.xp
        Z = self.X @ xp.reshape(x, (self.p, self.K))
        Z = materialize(Z - xp.max(Z, axis=1, keepdims=True))  # (Dask: X read once)
        lse = xp.log(xp.sum(xp.exp(Z), axis=1))
        value = xp.mean(lse - xp.sum(Z * self.onehot, axis=1))
        if self.l2:
            w = x * self._mask
            value = value + (0.5 * self.l2) * xp.sum(w * w)
        return Z, lse, value  # the value as a 0-d array: fetched with the gradient's norm

    def value(self, x: Any) -> float:
        return to_float(self._parts(x)[2])

    def _half_log_odds(self, Z: Any, x: Any) -> Any:
        """``u_i = (z_t - logsumexp_{k != t} z_k) / 2`` from shifted logits (``max_k Z = 0``),
        lowered by its rounding error (class docstring)."""
        xp = self.xp
        classes = xp.arange(self.K, device=device(Z))
        top = xp.argmax(Z, axis=1)
        others = xp.where(top[:, None] == classes[None, :], -math.inf, Z)
        second = xp.max(others, axis=1)
        lse = second + xp.log(xp.sum(xp.exp(others - second[:, None]), axis=1))
        log_odds = -lse  # z_t = 0 after the shift
        g = self.geometry
        wmax = reduce_max(xp, xp.abs(x)) * g.sqrt_d
        margin = (g.gamma_d * g.row_norms) * wmax + self._lse_gamma * (2.0 + xp.abs(log_odds))
        return materialize(0.5 * (log_odds - margin))

    def evaluate(
        self, x: Any, *, bound: bool = True, hint: float | None = None, probe: Any = None
    ) -> Evaluation:
        xp = self.xp
        Z, lse, value = self._parts(x)
        P = xp.exp(Z - lse[:, None])
        grad = xp.reshape(self.X.T @ (P - self.onehot), (-1,)) / self.n
        if self.l2:
            grad = grad + self.l2 * (x * self._mask)
        grad = materialize(grad)
        local = None
        if bound:
            local = RowCurvatureBound(
                self.geometry, self._half_log_odds(Z, x), self._peak, 1.0 / self.n, self.l2
            )
        return fetch_evaluation(grad, value, local, hint, probe)


def _check_labels(y: Any, n_classes: int) -> Any:
    """``y`` as class indices: integers (or integral floats) in ``0 .. n_classes - 1``."""
    labels = to_numpy(y)
    if labels.dtype.kind not in "iuf":
        raise TypeError(f"y must hold class indices 0..{n_classes - 1}, got dtype {labels.dtype}")
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)):
            raise ValueError("y must hold class indices, found a NaN or infinite label")
        odd = labels[labels != np.round(labels)]
        if odd.size:
            raise ValueError(f"y must hold integer class indices, got {odd[0].item()!r}")
    low, high = labels.min(), labels.max()
    if low < 0 or high >= n_classes:
        bad = low if low < 0 else high
        raise ValueError(
            f"y must hold class indices 0..{n_classes - 1} (n_classes={n_classes}), "
            f"got the label {bad.item()!r}"
        )
    return y
