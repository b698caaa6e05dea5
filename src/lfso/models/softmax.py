"""Multinomial (softmax) logistic regression with a ridge term and intercepts."""

from __future__ import annotations

from typing import Any

from .._arrays import device, like, materialize, namespace, to_float
from ..segments import RowSegment, SegmentBound, materialized_product
from ._base import Evaluation, Model
from ._rows import RowCurvatureBound, RowGeometry, fetch_evaluation

__all__ = ["SoftmaxRegression"]


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

    Segment bound (:meth:`segment`): along ``D`` (``d`` as a matrix) row ``i``'s logits move
    along ``z_i + s v_i`` with ``v_i = D^T tilde x_i``, and ``d^T H d = (1/n) sum_i
    Var_{pi_i(s)}(v_i) + l2 ||D_{1:d}||_F^2`` (``v^T A_i v`` is the variance of ``v``'s
    entries under the class probabilities). Fix a reference class ``j`` (the top class at
    ``x``) and write ``Delta_k = z_ik - z_ij <= 0``, ``delta_k = v_ik - v_ij``. Then

    * ``Var(v) <= E_pi (v - v_j)^2 = T(s) / S(s)`` with ``T(s) = sum_k delta_k^2
      e^{Delta_k + s delta_k}`` and ``S(s) = sum_k e^{Delta_k + s delta_k} >= 1`` (the
      softmax is shift-invariant, so ``pi_k = e^{Delta_k + s delta_k} / S(s)``);
      ``T`` is convex (a positive sum of exponentials), so ``T(s) <= max(T(0), T(t))``,
      and each term of ``S`` is monotone, so ``S(s) >= sum_k min(e^{Delta_k},
      e^{Delta_k + t delta_k})``;
    * ``Var(v) <= (max_k v_ik - min_k v_ik)^2 / 4`` (Popoviciu), for rows that change class.

    .. math::  C(t) = \\frac1n \\sum_i \\min\\Big(\\frac{(\\max_k \\delta_k -
               \\min_k \\delta_k)^2}{4}, \\frac{\\max(T_i(0), T_i(t))}{\\sum_k
               \\min(e^{\\Delta_k}, e^{\\Delta_k + t \\delta_k})}\\Big)
               + l_2 \\|D_{1:d}\\|_F^2,

    non-decreasing in ``t`` (the numerator's maximum grows, the denominator's minimum
    shrinks). A confident row (``1 - max_k pi_k`` small) contributes about its own
    curvature, not the ball's worst case. O(nK) per ``t``, a batch of ``t`` per round trip;
    ``tilde X W + t tilde X D`` is the next evaluation's product (``takes_product``).

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
    takes_product = True

    def __init__(
        self, X: Any, y: Any, n_classes: int, *, l2: float = 0.0, fit_intercept: bool = True
    ) -> None:
        xp = namespace(X, y)
        if X.ndim != 2 or y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"X must be (n, d) and y (n,), got {tuple(X.shape)}, {tuple(y.shape)}")
        if int(n_classes) < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes!r}")
        l2 = float(l2)
        if not l2 >= 0.0:
            raise ValueError(f"l2 must be non-negative, got {l2!r}")
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
        mask = xp.ones((self.p, self.K), dtype=X.dtype, device=device(X))
        if fit_intercept:
            zero = xp.zeros((1, self.K), dtype=X.dtype, device=device(X))
            mask = xp.concat([mask[:-1, :], zero], axis=0)
        self._mask = xp.reshape(mask, (-1,))
        self._peak = lambda v: xp.minimum(0.5, 2.0 / (1.0 + xp.exp(2.0 * v)))

    def _logits(self, x: Any) -> Any:
        """``tilde X W``, the model's product (Dask: X read once)."""
        return materialize(self.X @ self.xp.reshape(x, (self.p, self.K)))

    def _parts(self, x: Any, logits: Any = None) -> tuple[Any, Any, Any]:
        xp = self.xp
        Z = self._logits(x) if logits is None else logits
        Z = materialize(Z - xp.max(Z, axis=1, keepdims=True))
        lse = xp.log(xp.sum(xp.exp(Z), axis=1))
        value = xp.mean(lse - xp.sum(Z * self.onehot, axis=1))
        if self.l2:
            w = x * self._mask
            value = value + (0.5 * self.l2) * xp.sum(w * w)
        return Z, lse, value  # the value as a 0-d array: fetched with the gradient's norm

    def value(self, x: Any) -> float:
        return to_float(self._parts(x)[2])

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
        logits = self._logits(x) if product is None else product
        Z, lse, value = self._parts(x, logits)
        P = xp.exp(Z - lse[:, None])
        grad = xp.reshape(self.X.T @ (P - self.onehot), (-1,)) / self.n
        if self.l2:
            grad = grad + self.l2 * (x * self._mask)
        grad = materialize(grad)
        local = None
        if bound:
            top = xp.clip(xp.max(P, axis=1), 1e-300, 1.0)
            rest = xp.clip(1.0 - top, 1e-300, 1.0)
            half_log_odds = 0.5 * (xp.log(top) - xp.log(rest))
            local = RowCurvatureBound(
                self.geometry, materialize(half_log_odds), self._peak, 1.0 / self.n, self.l2
            )
        evaluation = fetch_evaluation(grad, value, local, hint, probe)
        evaluation.product = logits
        return evaluation

    def segment(self, x: Any, evaluation: Evaluation, direction: Any) -> SegmentBound:
        """Variance bounds along the logits' segment (see the class docstring)."""
        xp = self.xp
        logits = evaluation.product if evaluation.product is not None else self._logits(x)
        V = self._logits(direction)
        top = xp.argmax(logits, axis=1)
        classes = xp.arange(self.K, device=device(logits))
        ref = xp.astype(top[:, None] == classes[None, :], logits.dtype)
        delta_z = materialize(logits - xp.sum(logits * ref, axis=1, keepdims=True))
        delta_v = materialize(V - xp.sum(V * ref, axis=1, keepdims=True))
        spread = xp.max(delta_v, axis=1) - xp.min(delta_v, axis=1)  # (delta_j = 0 included)
        popoviciu = materialize(0.25 * spread * spread)[:, None]

        e0 = materialize(xp.exp(delta_z))[:, :, None]  # the trial-free parts, once
        v2 = materialize(delta_v * delta_v)[:, :, None]
        t0 = materialize(xp.sum(v2 * e0, axis=1))

        def kernel(xp: Any, start: Any, end: Any, u: Any) -> Any:
            e1 = xp.exp(end)
            t1 = xp.sum(xp.where(v2 > 0.0, v2 * e1, 0.0), axis=1)  # (0 * inf: no NaN)
            low = xp.sum(xp.minimum(e0, e1), axis=1)  # >= 1: the reference class's e^0
            return xp.minimum(popoviciu, xp.maximum(t0, t1) / low)

        offset: Any = 0.0
        if self.l2:
            w = direction * self._mask
            offset = self.l2 * xp.sum(w * w)
        return RowSegment(
            delta_z,
            delta_v,
            kernel,
            weight=None,
            scale=1.0 / self.n,
            offset=offset,
            slope=evaluation.grad @ direction,
            product=materialized_product(logits, V),
            terms=self.n + 2 * self.K,
        )
