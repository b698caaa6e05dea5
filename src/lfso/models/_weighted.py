"""Logistic and softmax regression with one weight per row (NumPy data only).

The weighted mean loss ``(1/n) sum_i s_i loss_i`` plus the models' ridge, with weights
``0 < s_i <= 1`` (:func:`check_row_weights`). A row's weight cannot be folded into its
row, as least power regression's can (the margin would change), so it multiplies the
row's loss, its gradient coefficient and its curvature bound:

.. math::
    L(w, R) = \\frac1n \\min\\Big(\\|X\\|^2 \\max_i s_i d_i(R),\\;
              \\sum_i \\|\\tilde x_i\\|^2 s_i d_i(R)\\Big) + l_2,

the unweighted models' bound (their class docstrings) with ``h`` replaced by ``s_i h``:
the Hessian is ``X^T diag(s_i phi_i'') X / n`` (at most), and ``s_i phi_i'' <= s_i
d_i(R)`` on the ball. It is :class:`~lfso.models._rows.RowCurvatureBound` with the peak
``h_i(u) = fl(fl(s_i^+ h(u)) + tiny)``, ``s_i^+ = fl(s_i (1 + 4 u))`` (``u`` the unit
roundoff, ``tiny`` the smallest normal number). Rounding: ``s_i^+ >= s_i (1 + 2 u)``, so
where ``s_i^+ h`` is a normal number ``fl(s_i^+ h) >= s_i h`` and adding ``tiny`` only
raises it; where it is below ``tiny`` it is within ``eta / 2`` (half the smallest
subnormal) of ``s_i^+ h``, and ``fl(fl(s_i^+ h) + tiny) >= (s_i h + tiny - eta / 2) (1 -
u) >= s_i h``. So ``h_i >= s_i h`` with ``h`` as computed, and the bound's pads for
``h``'s own rounding and underflow (``h`` to 8 ulps, ``+ tiny``) cover ``s_i h`` as they
cover ``h``, since ``s_i <= 1``; the added ``tiny`` per row is inside its ``||A||_F^2
tiny`` term's second copy (``tiny`` is float64's ``2.2e-308``).

Segment bound (logistic rows): the unweighted model's
(:meth:`LogisticRegression.segment`), each row's term weighed by its own weight,

.. math::
    C(t) = \\frac1n \\sum_i s_i \\sup_{s \\in [0, t]} \\sigma''(m_i + s v_i)\\, v_i^2
           + l_2 \\|d_{1:d}\\|^2,

the curvature of ``f`` along ``[w, w + t d]`` being that sum with each supremum replaced by
its value at the point (a row's loss times ``s_i >= 0`` has ``s_i`` times its
curvature). It is :class:`~lfso.models._segments.RowSegment` with the row weights
``W_i = (|v_i| + eps)^2`` of the unweighted segment replaced by ``W'_i = fl(fl(s_i^+ W_i)
+ tiny)``: by the argument above (``W_i`` in place of ``h``), ``W'_i >= s_i W_i`` with
``W_i`` as computed, so each term ``k_i W'_i`` is at least ``s_i k_i W_i``; the segment's
pads, relative to its terms and (against underflow) to ``sum_i W'_i``, which it sums from
``W'`` itself, cover ``W'`` as they cover ``W``, and the exact weighted curvature is
``s_i`` times the unweighted rows' (``s_i <= 1``: the unweighted argument's absolute
losses shrink). The margins and ``X d`` are the unweighted model's, and so is the
product ``X (w + t d)`` handed to the next evaluation (``"product"`` in ``extras``),
with its drift; the trial steps' sums run in NumPy (not the compiled row passes, which
read no row weights).

Segment bound (softmax rows): the unweighted model's (:meth:`SoftmaxRegression.segment`),
each row's term ``k_i`` (the minimum of the Popoviciu and the ``T / S`` bounds on the
variance, per trial) replaced by ``fl(fl(s_i^+ k_i) + tiny)``, at least ``s_i k_i`` by
the argument above (``k_i`` in place of ``h``): the row's curvature ``s_i Var(v_i)`` is
at most ``s_i`` times the unweighted bound on ``Var(v_i)``, and the segment's pads,
relative to the terms and (against underflow) to ``sum v2``, hold as for the unweighted
rows (``s_i <= 1``). The logits at the point are formed afresh for the segment (no
carried product). Only the NumPy path of the
unweighted models is taken. Used by :class:`lfso.sklearn.LFSOLogisticRegression` for
``sample_weight``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._base import Evaluation, Model
from ._logistic import LogisticRegression, _host_losses, _paper_radius
from ._rows import (
    RowCurvatureBound,
    fetch_evaluation,
    point_inf_norm,
    statistic_margin,
    taken_product,
)
from ._softmax import SoftmaxRegression

__all__ = ["WeightedLogistic", "WeightedSoftmax", "check_row_weights"]


def check_row_weights(weights: Any, n: int) -> np.ndarray:
    """``weights`` as a float64 vector of ``n`` entries in ``(0, 1]``, or a ``ValueError``
    naming ``sample_weight``."""
    s = np.asarray(weights, dtype=np.float64)
    if s.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), got {s.shape}")
    if not np.all((s > 0.0) & (s <= 1.0)):  # (NaN fails both)
        bad = s[~((s > 0.0) & (s <= 1.0))][0]
        raise ValueError(f"sample_weight must lie in (0, 1] here, got {bad!r}")
    return s


def _weighted_peak(peak: Any, weights: np.ndarray) -> Any:
    """``u -> fl(fl(s^+ h(u)) + tiny)``, ``s^+ = fl(s (1 + 4 u))`` (module docstring)."""
    up = _raised(weights)
    tiny = float(np.finfo(weights.dtype).smallest_normal)

    def weighted(u: Any) -> Any:
        d = np.multiply(up, peak(u))
        d += tiny
        return d

    return weighted


def _raised(weights: np.ndarray) -> np.ndarray:
    """``s^+ = fl(s (1 + 4 u))``, ``u`` the unit roundoff (module docstring)."""
    return weights * (1.0 + 4.0 * float(np.finfo(weights.dtype).eps) / 2.0)


def _numpy_only(X: Any, name: str) -> None:
    if type(X) is not np.ndarray or X.dtype != np.float64:
        raise TypeError(f"{name} takes float64 NumPy rows, got {type(X).__name__}")


class WeightedLogistic(LogisticRegression):
    """:class:`LogisticRegression` with the loss ``(1/n) sum_i s_i log(1 + e^{-m_i})``
    (module docstring); ``weights``: ``s``, ``n`` entries in ``(0, 1]``."""

    # (a line search's trial value is this model's own, with no product to hand on)
    _value_product = Model._value_product
    row_arrays = ("X", "signs", "weights")

    def __init__(self, X: Any, y: Any, weights: Any, **kwargs: Any) -> None:
        _numpy_only(X, "WeightedLogistic")
        super().__init__(X, y, **kwargs)
        self.weights = check_row_weights(weights, self.n)

    def _weighed_slack(self, weight: np.ndarray) -> np.ndarray:
        """The segment's row weights ``W`` as ``fl(fl(s^+ W) + tiny)`` (module
        docstring); an infinite ``W`` (past the float range) stays infinite."""
        with np.errstate(over="ignore"):
            weighed = np.multiply(_raised(self.weights), weight)
        weighed += float(np.finfo(weighed.dtype).smallest_normal)
        return weighed

    def _rows_of(self, z: Any, factor: bool) -> tuple[Any, Any, Any]:
        losses, slope, distance = _host_losses(z, self._negated_signs(), factor)
        loss = np.mean(self.weights * losses)
        return loss, None if slope is None else slope * self.weights, distance

    def value(self, x: Any) -> float:
        self._check_point(x)
        return float(self._penalised(self._rows_of(self.X @ x, False)[0], x))

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
        x_inf = point_inf_norm(x, product)  # (as LogisticRegression.evaluate)
        z, drift = taken_product(product, lambda: self.X @ x, x_inf, self.geometry.drift)
        loss, factor, distance = self._rows_of(z, True)
        grad = self._adjoint(factor) / self.n
        w = self._penalised_part(x)
        loss = self._penalised(loss, x, w)
        if self._ridge is not None:
            grad = grad + self._ridge.grad(x)
        elif self.l2:
            grad = grad + self.l2 * w
        local = None
        if bound:
            stats = distance - (statistic_margin(self.geometry, x, distance) + drift)
            local = RowCurvatureBound(
                self.geometry,
                stats,
                _weighted_peak(self._peak, self.weights),
                1.0 / self.n,
                self._ridge_top,
                frobenius=self.oracle == "paper",
            )
        return fetch_evaluation(
            grad, loss, local, hint, probe, (z, drift, x_inf), distance, _paper_radius(local)
        )


class WeightedSoftmax(SoftmaxRegression):
    """:class:`SoftmaxRegression` with the loss ``(1/n) sum_i s_i (logsumexp(z_i) -
    z_{i y_i})`` (module docstring); ``weights``: ``s``, ``n`` entries in ``(0, 1]``."""

    extras = frozenset({"hint", "probe"})  # (no carried logits: the segment forms them)
    _value_product = Model._value_product  # (as WeightedLogistic's)
    row_arrays = ("X", "onehot", "weights")

    def __init__(self, X: Any, y: Any, n_classes: int, weights: Any, **kwargs: Any) -> None:
        _numpy_only(X, "WeightedSoftmax")
        super().__init__(X, y, n_classes, **kwargs)
        self.weights = check_row_weights(weights, self.n)

    def _weighed_kernel(self, kernel: Any) -> Any:
        """The segment's kernel with each row's term ``k_i`` (one per row and trial) as
        ``fl(fl(s_i^+ k_i) + tiny)`` (module docstring); its ``term_ulps`` as the
        kernel's."""
        up = _raised(self.weights)[:, None]
        tiny = float(np.finfo(self.weights.dtype).smallest_normal)

        def weighed(xp: Any, start: Any, end: Any, u: Any, widen: Any = None) -> Any:
            with np.errstate(over="ignore"):
                terms = np.multiply(up, kernel(xp, start, end, u, widen))
            terms += tiny
            return terms

        weighed.term_ulps = kernel.term_ulps  # type: ignore[attr-defined]
        return weighed

    def value_error(self, x: Any, evaluation: Evaluation) -> float:
        """:meth:`SoftmaxRegression.value_error`'s bound, which holds for the weighted
        mean (its terms relative to each row's loss are weighed by ``s_i <= 1``, as the
        loss is; its absolute terms per row shrink), plus the weights' products: each
        ``fl(s_i l_i)`` within ``u s_i l_i`` and half the smallest subnormal number,
        ``2 u |F| + tiny`` in all."""
        g = self.geometry
        stated = super().value_error(x, evaluation)
        return stated + 2.0 * g.unit * abs(float(evaluation.value)) + g.tiny

    def _weighted_parts(self, x: Any, logits: Any, grad: bool) -> tuple[Any, Any, Any]:
        """``(Z, G, value)`` as :meth:`_host_parts` makes them from the logits at ``x``,
        each row's loss and gradient coefficients times its weight."""
        Z = logits - np.max(logits, axis=0, keepdims=True)
        E = np.exp(Z)
        buffer = E - self._onehot_t  # the label's e^{Z_y} - 1 (SoftmaxRegression._parts)
        rest = np.sum(buffer, axis=0)
        labels = self._label_index
        value = np.mean(self.weights * (np.log1p(rest) - Z.reshape(-1)[labels]))
        if self._ridge is not None:
            value = value + self._ridge.value(x)
        elif self.l2:
            w = x * self._mask
            value = value + (0.5 * self.l2) * np.sum(w * w)
        coef = None
        if grad:
            buffer.reshape(-1)[labels] -= rest
            coef = buffer * (self.weights / np.sum(E, axis=0))[None, :]
        return Z, coef, value

    def value(self, x: Any) -> float:
        self._check_point(x)
        return float(self._weighted_parts(x, self._logits(x), False)[2])

    def evaluate(
        self,
        x: Any,
        *,
        bound: bool = True,
        hint: float | None = None,
        probe: Any = None,
        product: Any = None,  # (not declared in extras: never given)
    ) -> Evaluation:
        self._check_point(x)
        Z, coef, value = self._weighted_parts(x, self._logits(x), True)
        data = (coef @ self.X).T  # (centred class by class: SoftmaxRegression.evaluate)
        grad = np.reshape(data - np.mean(data, axis=1, keepdims=True), (-1,)) / self.n
        if self._ridge is not None:
            grad = grad + self._ridge.grad(x)
        elif self.l2:
            grad = grad + self.l2 * (x * self._mask)
        local = None
        if bound:
            odds = self._half_log_odds(Z, x)
            local = RowCurvatureBound(
                self.geometry,
                odds,
                _weighted_peak(self._peak, self.weights),
                1.0 / self.n,
                self._ridge_top,
            )
        return fetch_evaluation(grad, value, local, hint, probe)
