"""Multinomial (softmax) logistic regression with a ridge term and intercepts."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from array_api_compat import is_torch_array

from .._arrays import (
    device,
    error_gamma,
    like,
    materialize,
    namespace,
    reduce_max,
    sum_bounds,
    to_float,
    to_numpy,
)
from .._validate import data_matrix, data_vector, flag, integer, ridge_weights, text_labels
from ..oracles._segment import SegmentBound
from . import _fused
from ._base import Evaluation, Model
from ._host import device_product, host_twin
from ._ridge import VectorRidge, held_up, spread
from ._rows import (
    RowCurvatureBound,
    RowGeometry,
    fetch_evaluation,
    inf_norm,
    point_inf_norm,
    point_product,
    taken_product,
)
from ._segments import (
    _SQUARE_SAFE,
    CarriedProduct,
    RowSegment,
    materialized_product,
    row_slope,
)
from ._slope import (
    RowSlope,
    gradient_prior,
    on_host,
    prior_constants,
    softmax_derivative,
    wide_class_products,
    wide_pads,
)

__all__ = ["SoftmaxRegression"]


class _Shifted(NamedTuple):
    """What an evaluation on NumPy logits ``z`` (``K x n``) derives from them class by
    class and the segment at the point reads again: the rows' largest logits ``peak``
    (``1 x n``), the shifted logits ``Z = z - peak`` and their exponentials ``E = e^Z``."""

    peak: np.ndarray
    Z: np.ndarray
    E: np.ndarray


def _ratio(e: Any) -> Any:
    """``e / (1 + e)``."""
    return e / (1.0 + e)


class SoftmaxRegression(Model):
    """Mean cross-entropy of a linear softmax classifier, ``K`` classes, with a ridge term.

    .. math::
        f(W) = \\frac1n \\sum_i \\Big(\\log \\sum_k e^{z_{ik}} - z_{i y_i}\\Big)
               + \\frac{l_2}{2} \\|W_{1:d}\\|_F^2, \\qquad z_{ik} = \\tilde x_i^T w_k,

    with ``x`` the flattened ``(d + intercept) x K`` matrix ``W`` (row-major, so
    ``W = x.reshape(-1, K)``); intercepts are not penalised. ``l2`` may also be one weight
    per feature, for the ridge ``(1/2) sum_j l2_j ||W_j||^2`` over the rows ``W_j`` of
    ``W`` (every class's coefficient of feature ``j``); its Hessian is ``diag(l2_j)``
    (each repeated over the classes), so below the ball bound adds ``max_j l2_j`` and the
    segment bound ``sum_j l2_j ||D_j||^2`` in place of ``l2`` and ``l2 ||D_{1:d}||_F^2``
    (:mod:`lfso.models._ridge`, with their rounding).

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
               \\min(e^{\\Delta_k}, e^{\\Delta_k + t \\delta_k})}\\Big) +
               l_2 \\|D_{1:d}\\|_F^2,

    non-decreasing in ``t`` (the numerator's maximum grows, the denominator's minimum
    shrinks). A confident row (``1 - max_k pi_k`` small) contributes about its own
    curvature, not the ball's worst case. O(nK) per ``t``, a batch of ``t`` per round trip;
    ``tilde X W + t tilde X D`` is the next evaluation's product (``extras``).

    Gradient: ``(1/n) tilde X^T (P - Y)`` plus the ridge term, its data part centred
    class by class (each row of the ``(d + intercept) x K`` matrix less its mean over the
    classes). The exact data part's rows sum to 0 over the classes (``sum_k (pi_ik -
    y_ik) = 0`` for every row ``i``), so the centring ``Q`` (the orthogonal projection onto
    matrices whose rows sum to 0) leaves it unchanged, and on the computed data part
    ``||Q g_hat - g|| = ||Q (g_hat - g)|| <= ||g_hat - g||``: it removes the error's part
    along the class sums and adds only its own rounding (a mean of ``K`` entries and a
    subtraction, a few units in the last place of each row's largest entry). That part
    matters: ``f`` is flat along adding one vector to every class's weights (every row at
    ``l2 = 0``, the intercepts' otherwise), where no curvature limits a step, and
    uncentred, the computed class sums are the rounding of ``sum_k (pi_ik - y_ik)``
    accumulated over the rows, which does not shrink with the gradient (near the minimiser
    about 1e7 float32 ulps of the rows' largest entry). An L-BFGS direction then moved far
    along that flat direction, where the computed slope ``g . d`` is rounding alone, and
    the exact ``f`` rose (float32 rows of size 1e-12, ``benchmarks/float_soundness.py
    --data-scale 1e-12``).

    Parameters
    ----------
    X : array, shape (n, d)
    y : array of int or bool, shape (n,)
        Class indices ``0..K-1``, or booleans (``False`` is 0, ``True`` 1).
        Classes with no samples (all but one among them) are taken (a batch, or a
        subset, of a larger problem's rows); their logits are pushed down without bound
        where nothing penalises them (an intercept, ``l2 = 0``), as separable data's are,
        so a run then ends on ``tol``.
    n_classes : int >= 2
        ``K``; the model holds ``2 n K`` one-hot entries, so a ``K`` whose labels would
        not fit in the machine's memory is refused (a ``ValueError``) before any is made.
    l2 : float >= 0, or array of shape (d,) with entries >= 0
        The ridge's weight, or one weight per feature (intercepts are not penalised).
    fit_intercept : bool

    Attributes
    ----------
    n_features : int
        Columns of ``X`` (with the intercept's when ``fit_intercept``); ``x`` has
        ``n_features * n_classes`` entries, the matrix ``W`` flattened by rows.

    Examples
    --------
    >>> import numpy as np, lfso
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> model = lfso.models.SoftmaxRegression(X, np.array([0, 1, 2, 2]), 3, l2=0.1)
    >>> model.n_features, model.dim  # (with the intercept column)
    (2, 6)
    >>> lfso.minimize(model, np.zeros(model.dim)).success
    True
    """

    dim: int
    has_segment = True
    #: ``None``, or (a model of weighted rows, :mod:`lfso.models._weighted`) the map from
    #: the segment's kernel to one whose row terms are times each row's weight.
    _weighed_kernel: Callable[[Any], Any] | None = None
    extras = frozenset({"hint", "probe", "product"})
    _has_paper_radius = False
    _transient = Model._transient | {
        "_held_onehot",
        "_held_labels",
        "_weights",
        "_slope_constants",
    }

    #: The arrays indexed by the data's rows (what a subset of the rows takes:
    #: :func:`lfso.models._rows.take_rows`).
    row_arrays: tuple[str, ...] = ("X", "onehot")

    def __init__(
        self, X: Any, y: Any, n_classes: int, *, l2: Any = 0.0, fit_intercept: bool = True
    ) -> None:
        xp, X = data_matrix(X, "X")
        n_classes = integer(n_classes, "n_classes", low=2)
        fit_intercept = bool(flag(fit_intercept, "fit_intercept"))
        _check_size(int(X.shape[0]), int(X.shape[1]) + fit_intercept, n_classes, X.dtype)
        y = _check_labels(
            data_vector(y, "y", xp, int(X.shape[0]), real_only=False, rows_of=X), n_classes
        )
        l2 = ridge_weights(l2, "l2", int(X.shape[1]))
        if fit_intercept:
            ones = xp.ones((X.shape[0], 1), dtype=X.dtype, device=device(X))
            X = materialize(xp.concat([X, ones], axis=1))
        self.xp, self.X, self.K, self.l2 = xp, X, int(n_classes), l2
        self.fit_intercept = bool(fit_intercept)
        self.n, self.n_features = int(X.shape[0]), int(X.shape[1])
        self.dim = self.n_features * self.K
        # (compared as int64 on X's device: integral float and unsigned labels alike, on
        # every library; in X's dtype, bfloat16's 300 and 301 would both be 300)
        classes = xp.arange(self.K, dtype=xp.int64, device=device(X))
        labels = xp.astype(y, xp.int64)
        labels = labels.to(device=X.device) if is_torch_array(X) else like(labels, X)
        self.onehot = xp.astype(labels[:, None] == classes[None, :], X.dtype)
        # (onehot, the same class by class: _onehot_t)
        self._held_onehot = (self.onehot, xp.astype(classes[:, None] == labels[None, :], X.dtype))
        self.geometry = RowGeometry(X, "X")
        self._lse_gamma = error_gamma(self.K + 8, X.dtype)
        #: ``l2 ||D_{1:d}||_F^2``'s rounding: a sum of ``dim`` squares (the geometry's
        #: ``offset_pad`` counts a row's ``d``), times ``l2`` and this pad.
        self._ridge_pad = 1.0 + error_gamma(self.dim + 4, X.dtype)
        mask = xp.ones((self.n_features, self.K), dtype=X.dtype, device=device(X))
        if fit_intercept:
            zero = xp.zeros((1, self.K), dtype=X.dtype, device=device(X))
            mask = xp.concat([mask[:-1, :], zero], axis=0)
        self._mask = xp.reshape(mask, (-1,))
        weights = spread(l2, self.n_features, self.K, fit_intercept)
        #: The ridge with one weight per feature (``None`` for one float ``l2``).
        self._ridge = None if weights is None else VectorRidge(weights, X)
        #: The ridge Hessian's norm: ``l2``, or its largest weight.
        self._ridge_top = float(l2) if self._ridge is None else self._ridge.top

    def _peak(self, v: Any) -> Any:
        """``h(v) = min(1/2, 2 sigma(-2v))`` for ``v >= 0`` (clipped there), as ``2 e / (1 +
        e)`` with ``e = exp(-2v)``: underflows to 0 where the other form overflowed (and
        warned). In the model's namespace (the bound's ``h``)."""
        xp = self.xp
        return xp.clip(2.0 * _ratio(xp.exp(-2.0 * v)), max=0.5)

    @property
    def _onehot_t(self) -> Any:
        """:attr:`onehot` class by class (``K x n``, as the logits: :meth:`_logits`), made
        once per ``onehot`` (a model of a batch of rows, :mod:`lfso.stochastic`, is given
        its own)."""
        held = self.__dict__.get("_held_onehot")
        if held is None or held[0] is not self.onehot:
            xp, onehot = self.xp, self.onehot
            classes = xp.arange(self.K, device=device(onehot))
            labels = xp.argmax(onehot, axis=1)
            by_class = xp.astype(classes[:, None] == labels[None, :], onehot.dtype)
            held = self._held_onehot = (onehot, materialize(by_class))
        return held[1]

    @property
    def data(self) -> Any:
        """``X`` (with the intercept column when ``fit_intercept``)."""
        return self.X

    def _logits(self, x: Any) -> Any:
        """``(tilde X W)^T = W^T tilde X^T``, the model's product, class by class (``K x n``:
        a row's logits are a column, so that every reduction over the classes runs along the
        first axis, elementwise over rows of ``n`` entries, where along the second it would
        loop over ``K`` entries per row; Dask: X read once)."""
        W = self.xp.reshape(x, (self.n_features, self.K))
        return materialize(W.T @ self.X.T)

    def _parts(self, x: Any, logits: Any = None, *, grad: bool = True) -> tuple[Any, Any, Any]:
        """``(Z, G, value)``: the shifted logits ``Z = z - max_k z_k`` (``K x n``), the
        gradient's coefficients ``G = P - Y`` (``P`` the class probabilities ``e^Z / sum_k
        e^Z``) and the loss (a 0-d array).

        Each row's loss is ``log1p(s) - Z_y`` with ``s = sum_k (e^{Z_k} - [k = y])``: the
        sum of the exponentials less the label's ``1``, which is never added. In floating
        point (``u`` the unit roundoff, the loss taken at the computed ``Z``):

        * the label a top class (``Z_y = 0``): its term ``e^0 - 1`` is exactly 0, so ``s``
          is a sum of the other classes' nonnegative exponentials, within ``gamma_{K+1}``
          of itself (each ``e^{Z_k}`` within ``u``, ``K - 1`` additions), and ``log1p``,
          whose relative condition number is at most 1 on ``s >= 0``, keeps that: the loss
          is within ``gamma_{K+3}`` of itself, however small. (``log(sum_k e^{Z_k})``
          rounds ``1 + s`` first, an absolute error of up to ``u`` where the loss itself is
          about ``s``: float32 runs to losses of 1e-7 a row reported ``f`` 0.4% high.)
        * ``Z_y < 0``: another class has ``e^0 = 1``, so ``s >= e^{Z_y}`` and the loss is
          at least ``log(1 + e^{-Z_y}) >= log 2``; the terms' magnitudes sum to at most
          ``s + 2``, so ``s`` is within ``gamma_{K+1} (s + 2)`` and ``log1p(s)`` within
          ``2 gamma_{K+1} + u log1p(s)``; with ``-Z_y >= 0`` added, the loss is within
          ``(2 gamma_{K+1} / log 2 + 2 u)`` of itself.

        The mean of the nonnegative losses adds ``gamma_n`` relative.

        The label's coefficient ``P_y - 1 = -sum_{k != y} P_k`` is made from the same
        ``s`` as ``((e^{Z_y} - 1) - s) / sum_k e^{Z_k}`` (exactly so: ``s = sum_k e^{Z_k}
        - 1``), never as ``P_y - 1``, which rounds to 0 where ``P_y`` is within ``u`` of 1
        and left the other classes' coefficients, after the centring (the class
        docstring's "Gradient"), with the wrong sign (float32 logits ``(0, -20, -21)``,
        label 0: ``(-9.4e-10, 1.1e-9, -1.8e-10)`` for the exact ``(-2.8e-9, 2.1e-9,
        7.6e-10)``). Both parts are ``<= 0``, so nothing cancels: where the label is a top
        class ``e^0 - 1`` is exactly 0 and ``s`` is within ``gamma_{K+1}`` of itself;
        elsewhere ``s >= e^{Z_y}`` and the magnitudes ``(1 - e^{Z_y}) + s`` sum to ``sum_{k
        != y} e^{Z_k}``, so the numerator is within ``gamma_{K+3}`` of ``sum_{k != y}
        e^{Z_k}`` times 2; the division adds ``gamma_{K+1}`` (the total) and ``u``: every
        coefficient is within ``gamma_{3K+6}`` of its value at the computed ``Z``, relative
        to itself.

        ``G`` is not made without ``grad``."""
        xp = self.xp
        Z = self._logits(x) if logits is None else logits
        Z = materialize(Z - xp.max(Z, axis=0, keepdims=True))
        E = xp.exp(Z)
        onehot = self._onehot_t
        shifted = E - onehot  # the label's e^{Z_y} - 1, exactly 0 where it is a top class
        rest = xp.sum(shifted, axis=0)  # sum_k e^{Z_k} - 1, the label's 1 not added
        value = xp.mean(xp.log1p(rest) - xp.sum(Z * onehot, axis=0))
        if self._ridge is not None:
            value = value + self._ridge.value(x)
        elif self.l2:
            w = x * self._mask
            value = value + (0.5 * self.l2) * xp.sum(w * w)
        coef = None
        if grad:
            total = xp.sum(E, axis=0)  # >= 1: the top class's e^0
            coef = (shifted - onehot * rest[None, :]) / total[None, :]
        return Z, coef, value  # (the value: fetched with the gradient's norm)

    def _host_parts(
        self, x: np.ndarray, logits: np.ndarray, *, grad: bool = True
    ) -> tuple[_Shifted, np.ndarray, Any]:
        """:meth:`_parts` on NumPy logits, the same values (so bit for bit) in fewer passes
        over ``K x n`` arrays: ``(shifted, G, value)``, the shifted logits and their
        exponentials kept (:class:`_Shifted`: the segment at the point reads them again)
        and ``G = P - Y``, the gradient's coefficients, made in place in one buffer (not
        made without ``grad``). The label's entries are read and written through their flat
        indices (:attr:`_label_index`): ``Z_y`` is the one-hot sum ``sum_k Z_k [k = y]``
        exactly, and ``(e^{Z_y} - 1) - s`` is :meth:`_parts`' ``(e^Z - Y) - Y s`` at the
        label (elsewhere ``e^{Z_k} - 0`` is ``e^{Z_k}``)."""
        xp = self.xp
        peak = xp.max(logits, axis=0, keepdims=True)
        Z = np.subtract(logits, peak)
        E = np.exp(Z)
        buffer = np.subtract(E, self._onehot_t)  # the label's e^{Z_y} - 1
        rest = xp.sum(buffer, axis=0)  # sum_k e^{Z_k} - 1, the label's 1 not added (_parts)
        labels = self._label_index
        value = xp.mean(xp.log1p(rest) - Z.reshape(-1)[labels])
        if self._ridge is not None:
            value = value + self._ridge.value(x)
        elif self.l2:
            w = x * self._mask
            value = value + (0.5 * self.l2) * xp.sum(w * w)
        if grad:
            flat = buffer.reshape(-1)
            flat[labels] -= rest  # (e^{Z_y} - 1) - s = -sum_{k != y} e^{Z_k}
            np.divide(buffer, xp.sum(E, axis=0)[None, :], out=buffer)  # P - Y
        return _Shifted(peak, Z, E), buffer, value

    @property
    def _label_index(self) -> np.ndarray:
        """The flat indices of the labels' entries in a ``K x n`` NumPy array (C order),
        made once per ``onehot``, as :attr:`_onehot_t`."""
        held = self.__dict__.get("_held_labels")
        if held is None or held[0] is not self.onehot:
            onehot = self.onehot
            n = onehot.shape[0]
            index = np.argmax(onehot, axis=1) * n + np.arange(n)
            held = self.__dict__["_held_labels"] = (onehot, index)
        return held[1]

    def value(self, x: Any) -> float:
        return self._value_product(x)[0]

    def _value_product(self, x: Any) -> tuple[float, Any]:
        self._check_point(x)
        host = None if type(x) is np.ndarray else host_twin(self, x)
        if host is not None:  # a CPU tensor: the NumPy code on views (models._host)
            return host.value_product(x)
        logits = self._logits(x)
        if type(logits) is np.ndarray:
            value = self._host_parts(x, logits, grad=False)[2]
        else:
            value = self._parts(x, logits, grad=False)[2]
        return to_float(value), CarriedProduct(logits)

    def value_error(self, x: Any, evaluation: Evaluation) -> float:
        """A bound on the rounding of ``evaluation.value``, the computed ``f(x)``.

        Three steps lead from the exact ``f`` to the computed ``F`` (``u`` the unit
        roundoff, ``tiny`` the smallest normal number, ``l(z) = logsumexp(z) - z_y`` a
        row's loss, shift-invariant and ``>= 0``):

        1. The logits: each computed one is within ``dz = gamma_{d+4} alpha ||x||_inf`` of
           the exact (plus a carried product's drift), as for :meth:`segment`; ``l`` is
           2-Lipschitz in the largest change of ``z`` (``logsumexp`` moves by at most it,
           and so does ``z_y``), so each row moves by at most ``2 dz``.
        2. The shift ``Z_k = fl(z_k - max_j z_j)``: ``Z_k`` is within ``u |Z_k|`` of the
           exact difference, and the top class's is exactly 0. With ``S`` the largest
           spread ``max_k z_k - min_k z_k`` of a row, capped at ``s = -log(tiny)`` (an
           exponent below ``-s`` leaves a term under ``tiny`` either way: at most ``2 K
           tiny`` in all), and ``eta = e^{u S} - 1``: where the label is a top class the
           loss is ``log1p`` of a sum of exponentials each multiplied by at most ``1 +
           eta``, and ``|log((1 + c s') / (1 + s'))| <= eta s' / ((1 + s') (1 - eta)) <=
           eta / (1 - eta) l`` (``log1p(s') >= s' / (1 + s')``); elsewhere ``l >= log 2``
           and ``l >= -Z_y``, and ``logsumexp`` moves by at most ``u S``, ``Z_y`` by
           ``u |Z_y| <= u l``. So ``|l(Z) - l(z - max z)| <= kappa l + 2 K tiny`` with
           ``kappa = eta / (1 - eta) + u S / log 2 + u``, and ``l(z - max z) <= (l(Z) + 2 K
           tiny) / (1 - kappa)``.
        3. The arithmetic at the computed ``Z`` (:meth:`_parts`): each loss within
           ``rho = 2 gamma_{K+1} / log 2 + 2 u`` of itself (the larger of its two cases),
           the ridge's squares within ``gamma_2``; the mean, the sum of squares and the last
           addition within ``gamma_{n + dim + 8}``; with ``P = (1 + rho) (1 +
           gamma_{n+dim+8})``, ``|F - E| <= (P - 1) E`` and ``E <= F / (2 - P)`` for the
           exact value ``E`` of the computed terms; each of the ``n + dim`` terms may lose
           a smallest normal number to underflow (scaled by ``max(1, l2)``). With one
           weight per feature, each ridge term ``r_j x_j^2`` is within ``gamma_4`` of
           ``l2_j x_j^2`` (two products, and ``r_j`` the weight rounded up to the dtype, by
           at most ``2 u``): ``gamma_{n+dim+10}``, and ``max_j l2_j`` for ``l2``.

        So ``|F - f(x)| <= (P - 1) / (2 - P) F + kappa / (1 - kappa) (F / (2 - P) + 2 K
        tiny) + 2 K tiny + 2 dz + (n + dim) tiny max(1, l2)`` (where ``P >= 2``, the
        factors of :func:`lfso._arrays.sum_bounds` for ``(P - 1) / (2 - P)`` and ``1 / (2
        - P)``, and ``inf`` where ``rho >= 1``), computed on the host in
        float64 and padded by ``1e-9`` (relative) for its own roundings; ``inf`` where
        ``u S >= log 2 / 2`` or ``kappa >= 1/2``. The spread ``S`` is read from the logits
        the value was computed from (the evaluation's product, or the product made again
        where it kept none).
        """
        g = self.geometry
        logits, drift, xmax = point_product(evaluation.product, x, lambda: self._logits(x))
        xp = namespace(logits)  # (NumPy views where a CPU tensor took the host path)
        dz = g.gamma_d * g.alpha * to_float(xmax) + to_float(drift)
        spread = to_float(reduce_max(xp, xp.max(logits, axis=0) - xp.min(logits, axis=0)))
        span = -math.log(g.tiny)
        spread = min(spread, span)
        if not g.unit * spread < 0.5 * math.log(2.0):
            return math.inf
        eta = math.expm1(g.unit * spread)
        kappa = eta / (1.0 - eta) + g.unit * spread / math.log(2.0) + g.unit
        if not kappa < 0.5:
            return math.inf
        lost = 2.0 * self.K * g.tiny
        rho = 2.0 * error_gamma(self.K + 1, self.X.dtype) / math.log(2.0) + 2.0 * g.unit
        terms = self.n + self.dim + (8 if self._ridge is None else 10)  # (r_j: rounded up)
        pad = (1.0 + rho) * (1.0 + error_gamma(terms, self.X.dtype))
        value = abs(float(evaluation.value))
        spread, floor = sum_bounds(pad, rho)  # ((P - 1) / (2 - P), 2 - P) below P = 2
        if not floor > 0.0:
            return math.inf
        computed = spread * value
        shifted = kappa / (1.0 - kappa) * (value / floor + lost) + lost
        underflow = (self.n + self.dim) * g.tiny * max(1.0, self._ridge_top)
        return (computed + shifted + 2.0 * dz + underflow) * (1.0 + 1e-9)

    def _top(self, Z: Any, peak: Any = None) -> Any:
        """The first class of each row's largest logit, one-hot (``K x n``, ``Z``'s dtype);
        ``peak``: the rows' largest logits (``K``-axis kept), when at hand. As ``argmax``
        chooses, from reductions along the classes' axis (``argmax`` along it takes several
        times as long): the classes at the peak weighed ``K, K - 1, ..., 1``, the heaviest."""
        xp = self.xp
        if peak is None:
            peak = xp.max(Z, axis=0, keepdims=True)
        weights = xp.astype(xp.arange(self.K, 0, -1, device=device(Z)), Z.dtype)[:, None]
        ranked = xp.where(Z == peak, weights, 0.0)
        return xp.astype(ranked == xp.max(ranked, axis=0, keepdims=True), Z.dtype)

    def _host_top(self, Z: np.ndarray, peak: np.ndarray) -> np.ndarray:
        """:meth:`_top` on NumPy logits as booleans (``True`` at the reference class): the
        same choice, in fewer passes. ``(Z == peak) * w`` is ``w`` or ``+0``, as the
        ``where`` is, and a product with the booleans is one with their ``1.0`` and
        ``0.0``."""
        weights = self._class_weights(Z.dtype)
        ranked = np.multiply(np.equal(Z, peak), weights)
        return np.equal(ranked, np.max(ranked, axis=0, keepdims=True))

    def _class_weights(self, dtype: Any) -> np.ndarray:
        """``K, K - 1, ..., 1`` as a ``K x 1`` NumPy column of ``dtype`` (made once)."""
        held = self.__dict__.get("_weights")
        if held is None or held.dtype != dtype:
            held = np.arange(self.K, 0, -1).astype(dtype)[:, None]
            self.__dict__["_weights"] = held
        return held

    def _half_log_odds(self, Z: Any, x: Any) -> Any:
        """``u_i = (z_t - logsumexp_{k != t} z_k) / 2`` from shifted logits (``max_k Z = 0``,
        ``K x n``), lowered by its rounding error (class docstring)."""
        xp = self.xp
        others = xp.where(self._top(Z) > 0.0, -math.inf, Z)
        second = xp.max(others, axis=0)
        lse = second + xp.log(xp.sum(xp.exp(others - second[None, :]), axis=0))
        log_odds = -lse  # z_t = 0 after the shift
        g = self.geometry
        wmax = reduce_max(xp, xp.abs(x)) * g.sqrt_d
        margin = (g.gamma_d * g.row_norms) * wmax + self._lse_gamma * (2.0 + xp.abs(log_odds))
        return materialize(0.5 * (log_odds - margin))

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
            product = device_product(product, self.X)
        x_inf = point_inf_norm(x, product)  # (the drift budget's scale)
        logits, drift = taken_product(product, lambda: self._logits(x), x_inf, self.geometry.drift)
        shifted = None
        if type(logits) is np.ndarray:
            shifted, coef, value = self._host_parts(x, logits)
            Z = shifted.Z
        else:
            Z, coef, value = self._parts(x, logits)
        # ((P - Y) X)^T = tilde X^T (P^T - Y^T): W's layout, d x K, flattened by rows,
        # centred class by class (the class docstring's "Gradient")
        data = (coef @ self.X).T
        grad = xp.reshape(data - xp.mean(data, axis=1, keepdims=True), (-1,)) / self.n
        if self._ridge is not None:
            grad = grad + self._ridge.grad(x)
        elif self.l2:
            grad = grad + self.l2 * (x * self._mask)
        grad = materialize(grad)
        local = None
        if bound:
            odds = self._half_log_odds(Z, x)
            if not (isinstance(drift, float) and drift == 0.0):
                odds = materialize(odds - drift)  # each logit off by the drift: z_t - z_k by 2x
            local = RowCurvatureBound(
                self.geometry, odds, self._peak, 1.0 / self.n, self._ridge_top
            )
        # (the segment at x reads the shifted logits again)
        return fetch_evaluation(grad, value, local, hint, probe, (logits, drift, x_inf), shifted)

    def segment(self, x: Any, evaluation: Evaluation, direction: Any) -> SegmentBound:
        """Variance bounds along the logits' segment (see the class docstring)."""
        host_model = None if type(x) is np.ndarray else host_twin(self, x)
        if host_model is not None:  # a CPU tensor: the NumPy code on views (models._host)
            return host_model.segment(x, evaluation, direction)
        xp, g = self.xp, self.geometry
        logits, drift, xmax = point_product(evaluation.product, x, lambda: self._logits(x))
        V = self._logits(direction)
        dmax = inf_norm(direction)
        # (K x n, as the logits: see _logits; the reductions over classes along axis 0)
        host = type(logits) is np.ndarray and type(V) is np.ndarray
        shifted = getattr(evaluation.product, "rows", None) if host else None
        if shifted is not None:  # (the evaluation's, of these logits: taken once)
            evaluation.product.rows = None
            peak, delta_z, e = shifted
        else:
            peak = xp.max(logits, axis=0, keepdims=True)  # the reference class's logit
            delta_z = materialize(logits - peak)
            e = None
        if host:  # (the same values with fewer K x n temporaries: _host_top)
            scratch = np.multiply(V, self._host_top(logits, peak))
        else:
            scratch = V * self._top(logits, peak)
        delta_v = materialize(V - xp.sum(scratch, axis=0, keepdims=True))
        # Rounding (class docstring): logits within dz, their changes within dv of the exact.
        unit = g.unit
        dz = g.gamma_d * g.alpha * xmax + drift
        dv = g.gamma_d * g.alpha * dmax
        carry = g.drift.carry(drift, xmax, dmax, evaluation.product)
        widen_v = 2.0 * (1.0 + unit) * dv
        # (|delta_v| <= 2 max |V| <= 2 alpha ||d||_inf: squares past the range are inf, an
        # upper bound, without NumPy's warning, which no ordinary run pays for)
        loud = host and not 4.0 * (g.alpha * dmax + widen_v) < _SQUARE_SAFE
        with np.errstate(over="ignore") if loud else contextlib.nullcontext():
            spread = xp.max(delta_v, axis=0) - xp.min(delta_v, axis=0)  # (delta_j = 0 in)
            spread = spread * (1.0 + 2.0 * unit) + 2.0 * widen_v
            popoviciu = materialize(0.25 * spread * spread)[:, None]
            if host:  # |delta_v|, then v_up and v_up^2 in its place
                v_abs = np.abs(delta_v, out=scratch)
                v_max = reduce_max(xp, v_abs)
                np.multiply(v_abs, 1.0 + unit, out=v_abs)
                np.add(v_abs, widen_v, out=v_abs)
                v2 = np.multiply(v_abs, v_abs, out=v_abs)[:, :, None]
                e0 = (np.exp(delta_z) if e is None else e)[:, :, None]
            else:
                v_abs = xp.abs(delta_v)
                v_max = reduce_max(xp, v_abs)
                v_up = v_abs * (1.0 + unit) + widen_v
                e0 = materialize(xp.exp(delta_z))[:, :, None]  # the trial-free parts, once
                v2 = materialize(v_up * v_up)[:, :, None]
        t0 = materialize(xp.sum(v2 * e0, axis=0))
        kernel = _variance_kernel(e0, v2, t0, popoviciu, host, self.K)
        if self._weighed_kernel is not None:  # (rows of their own weights: models._weighted)
            kernel = self._weighed_kernel(kernel)
        offset = self._ridge_curvature(direction)
        # The exponents Delta_k + t delta_k: 2 dz + 2 t dv from the rows, and the roundings
        # of the differences and of Delta + t delta, 4.1 unit (|Delta| + t |delta|) with
        # |Delta| capped by the dtype's underflow range (beyond it a term is below the
        # smallest normal number, inside the underflow pad).
        span = -math.log(float(xp.finfo(logits.dtype).smallest_normal))
        slack = (2.0 * dz + 8.2 * unit * span, 2.0 * dv + 8.2 * unit * v_max)
        slope, pair = row_slope(evaluation.grad, direction)
        segment = RowSegment(
            delta_z,
            delta_v,
            kernel,
            weight=None,
            scale=1.0 / self.n,
            offset=offset,
            slope=slope,
            product=materialized_product(logits, V, carry),
            terms=self.n + 2 * self.K,
            slack=slack,
            weight_sum=xp.sum(v2),
        ).lazy_slope(pair)
        if self._weighed_kernel is None:  # (weighted rows go without it)
            segment.slope_check = self._slope_check(
                x, logits, V, direction, (dz, dv, dmax, xmax), evaluation
            )
        return segment

    def _ridge_curvature(self, direction: Any) -> Any:
        """The ridge's curvature along ``direction`` (:meth:`segment`'s offset): its own
        (per-feature weights), or ``l2`` padded times ``||d||^2`` over the penalised
        entries plus their squares' underflow; 0 without a ridge."""
        if self._ridge is not None:
            return self._ridge.curvature(direction)
        if not self.l2:
            return 0.0
        xp, g = self.xp, self.geometry
        w = direction * self._mask
        lost = math.prod(w.shape) * g.square_lost  # (the squares' underflow)
        factor = held_up(self.l2 * self._ridge_pad, xp, w.dtype)  # (a float32 l2 = 1e-46 too)
        return factor * (xp.sum(w * w) + lost)

    def _slope_check(
        self,
        x: Any,
        logits: Any,
        V: Any,
        direction: Any,
        pads: tuple[Any, Any, Any, Any],
        evaluation: Evaluation,
    ) -> RowSlope | None:
        """The exact slope along ``direction`` bounded from the segment's logits
        (:mod:`lfso.models._slope`, :func:`~lfso.models._slope.softmax_derivative`: the
        ``n K`` logits as the rows, ``|l_m'(z*) - l_m'(z)| <= delta / 2`` each), on NumPy
        with host pads; ``None`` elsewhere.

        A priori (:func:`lfso.models._slope.gradient_prior`, the logits as rows of the
        ``nK x dK`` matrix whose row ``(i, k)`` holds ``tilde x_i`` in class ``k``'s
        columns, so ``||row||_1 <= alpha``): the coefficients ``G_ik`` are within
        ``gamma_{3K+6}`` of their values at the computed shifted logits (:meth:`_parts`),
        whose shift moves ``pi`` by at most ``K u`` a row, and within ``4 eta`` for
        underflow; ``sum_k |G_ik| <= 2`` (1.01 padded) and ``sum_k |pi_k(z) - pi_k(z*)| <=
        2 delta``: a row's ``sum_k (gamma_n |G_ik| + |G_ik - l_k'(z*_i)|) <= 2.01 (gamma_n +
        gamma_{3K+6}) + K u + 4 K eta + 2 delta``. The centring (the class docstring's
        "Gradient") at most doubles that error in ``sum_jk |v_jk| |e_jk|`` (``|(Q e)_jk|
        <= |e_jk| + mean_k |e_jk|``) and adds its own rounding, ``gamma_{K+2}`` of each
        feature's row sum ``sum_k |D_jk|``, whose total is at most ``2 n alpha``: ``K
        gamma_{K+2} 2.02 n`` in ``row_error``'s units.
        """
        delta, eps, dmax, xmax = pads
        if not on_host(pads, logits, V, x):
            return None
        prior = self._prior(delta, dmax, xmax, evaluation)
        return RowSlope(
            logits.reshape(-1),
            V.reshape(-1),
            delta=delta,
            eps=eps,
            derivative=(softmax_derivative, (self.K, self._label_index)),
            divisor=float(self.n),
            prior=prior,
            ridge=(self._slope_ridge, x, direction),
            refine=(self._wide_rows, (x, direction, xmax, dmax)),
        )

    def _prior(self, delta: float, dmax: float, xmax: float, evaluation: Evaluation) -> float:
        """:meth:`_slope_check`'s a-priori bound on ``|s* - fl(g . d)|`` (no logit read),
        for logits within ``delta`` of the exact ones."""
        g, n, k = self.geometry, self.n, self.K
        held = self.__dict__.get("_slope_constants")
        if held is None or held[0] is not g:
            dtype = self.X.dtype
            rounding = 2.01 * (error_gamma(n, dtype) + error_gamma(3 * k + 6, dtype))
            rounding += k * g.unit + 4.0 * k * g.square_lost
            centring = 2.02 * k * error_gamma(k + 2, dtype)
            constants = prior_constants(g.unit, self.dim, g.alpha, n, self._ridge_top)
            held = (g, rounding, centring, constants)
            self.__dict__["_slope_constants"] = held
        _, rounding, centring, constants = held
        row_error = n * (2.0 * (rounding + 2.0 * delta) + centring)
        return gradient_prior(constants, dmax, row_error, evaluation.grad_norm, xmax)

    def _slope_prior(self, x: Any, evaluation: Evaluation, direction: Any) -> float | None:
        """The a-priori bound on ``|s* - fl(g . d)|`` that :meth:`segment`'s slope check
        along ``direction`` states (:mod:`lfso.models._slope`), with no pass over the
        logits; ``None`` where the segment states no slope check (rows neither NumPy
        arrays nor PyTorch CPU tensors on the host path, weighted rows). For certificates
        that do not take the segment otherwise (the ball's), which then take it only where
        this bound does not settle the step. PyTorch CPU tensors: the NumPy twin's, on
        views (:mod:`lfso.models._host`), as its segment is."""
        if type(x) is not np.ndarray:
            host = host_twin(self, x)
            return None if host is None else host.slope_prior(x, evaluation, direction)
        if type(direction) is not np.ndarray or self._weighed_kernel is not None:
            return None
        logits, drift, xmax = point_product(evaluation.product, x, lambda: self._logits(x))
        g = self.geometry
        dmax = inf_norm(direction)
        delta = g.gamma_d * g.alpha * xmax + drift
        if not on_host((delta, dmax, xmax), logits, x):
            return None
        return self._prior(delta, dmax, xmax, evaluation)

    def _slope_ridge(self) -> Any:
        """The ridge's weights as the slope bound reads them, one per coefficient: the held
        weights, ``l2`` times the mask (intercepts unpenalised), or 0."""
        if self._ridge is not None:
            return to_numpy(self._ridge.r)
        if not self.l2:
            return 0.0
        return float(self.l2) * to_numpy(self._mask).astype(np.float64)

    def _wide_rows(
        self, x: np.ndarray, v: np.ndarray, xmax: float, vmax: float
    ) -> tuple[np.ndarray, np.ndarray, float, float]:
        """``(z, u, delta, eps)``: the logits and their change along ``v`` made again in
        float64 (class by class, flattened: :meth:`_logits`' layout), with their rounding
        bounds (:func:`lfso.models._slope.wide_class_products`, ``wide_pads``)."""
        g, shape = self.geometry, (self.n_features, self.K)
        z, u = wide_class_products(self.X, x.reshape(shape), v.reshape(shape))
        pads = (
            wide_pads(self.n_features, g.alpha * xmax),
            wide_pads(self.n_features, g.alpha * vmax),
        )
        return z.T.reshape(-1), u.T.reshape(-1), pads[0], pads[1]


def _variance_kernel(
    e0: Any, v2: Any, t0: Any, popoviciu: Any, host: bool, classes: int
) -> Callable[..., Any]:
    """The segment's kernel (class docstring): each row's ``min(popoviciu, max(T(0), T(t))
    / S_low(t))`` at the trials' ends ``Delta + t delta`` (``K x n x k``), given ``e0 =
    e^Delta`` and ``v2`` (the upper ``delta^2``) as ``K x n x 1``, ``t0 = T(0)`` and the
    Popoviciu bound (``n x 1``), for ``classes`` classes (its ``term_ulps = 2 K + 16``).
    The rows are the columns: each row's terms are summed over
    the classes (axis 0), and the segment sums the ``n x k`` result.

    ``host`` (NumPy): the same operations on the same values, so bit for bit, in buffers
    made once per segment and shape of ``end`` where the array expressions make seven
    ``K x n x k`` temporaries per call; ``v2 e1`` is taken only where ``v2 > 0``, into a
    buffer of zeros: the array form's ``where`` (``0 * inf``: no NaN), with no mask where
    every ``v2 > 0`` (the usual case: ``v2`` is at least the slack's ``widen_v^2``).

    Otherwise (PyTorch) the kernel carries ``fused_sums``: on an accelerator, from
    ``2^18`` logits, a batch of trials is one compiled pass
    (:func:`lfso.models._fused.softmax_sums`: the same operations, with at most one array
    of ``K x n x k`` elements, the exponentials, where PyTorch's make about ten). Rounding
    there (the segment takes ``fused_ulps = 2 K + 256`` for
    ``term_ulps = 2 K + 16``, and ``peak = max(1, K / 16)``): Triton's float32 exponential
    is within ``2 + floor(1.173 |x|)`` ulps, at most 105 where the result is a normal
    number (``|x| <= 88.8``; beyond, it underflows or overflows to ``inf``, which ``min``
    with the Popoviciu bound takes), float64's within 2 ulps. So each term of ``T`` is
    within 106 ulps (the exponential and a product, or one fused multiply-add), ``T``
    within ``106 + K``, ``S`` within ``105 + K`` (``min`` picks one of two values each
    within 105), their quotient within 2 (``div.full.f32``), the slack's factor ``e^{2
    g}`` within 3 (``|2 g|`` is far below 1) and its product within 1: ``2 K + 217`` in
    all, inside ``2 K + 256`` ulps of ``eps`` with the second-order terms. The terms may be
    summed over the classes and the rows in any order, which :func:`rounding_pad` bounds;
    a product ``t u`` and the sum taking it fused into one rounding is inside the slack's
    two roundings. Subnormal results flushed to zero lose at most the smallest normal
    number ``tiny`` each: in ``S`` that only raises the ratio; in ``T`` each flushed
    ``e1`` loses at most ``v2 tiny`` and each flushed product ``tiny``, per row at most
    ``tiny (K + sum_k v2_k) <= 16 tiny max(1, K / 16) (1 + sum_k v2_k)`` (``S >= 1``), which
    the segment's underflow pad counts (``16 tiny peak (n + sum v2)``: its weights' sum is
    ``sum v2``)."""
    held: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    mask: Any = True  # (where every v2 > 0: no mask to apply)
    if host:
        positive = np.greater(v2, 0.0)
        mask = True if positive.all() else positive

    def kernel(xp: Any, start: Any, end: Any, u: Any, widen: Any = None) -> Any:
        if host and type(end) is np.ndarray:
            buffers = held.get(end.shape)
            if buffers is None:
                buffers = held[end.shape] = (
                    np.empty(end.shape, dtype=end.dtype),
                    np.zeros(end.shape, dtype=np.result_type(v2, end)),
                    np.empty(end.shape, dtype=np.result_type(e0, end)),
                )
            e1 = np.exp(end, out=buffers[0])
            t1 = xp.sum(np.multiply(v2, e1, out=buffers[1], where=mask), axis=0)
            low = xp.sum(np.minimum(e0, e1, out=buffers[2]), axis=0)
        else:
            e1 = xp.exp(end)
            t1 = xp.sum(xp.where(v2 > 0.0, v2 * e1, 0.0), axis=0)  # (0 * inf: no NaN)
            low = xp.sum(xp.minimum(e0, e1), axis=0)  # >= 1: the reference class's e^0
        ratio = xp.maximum(t0, t1) / low
        if widen is not None:  # exponents off by at most the slack: T up, S down
            ratio = ratio * xp.exp(2.0 * widen[1][:, 0, :])
        return xp.minimum(popoviciu, ratio)

    kernel.term_ulps = 2.0 * classes + 16.0  # type: ignore[attr-defined]
    if not host:  # (a compiled pass on an accelerator: Rounding above)

        def fused_sums(r: Any, u: Any, trials: Any, grown: Any) -> Any:
            return _fused.softmax_sums(r, u, e0, v2, t0, popoviciu, trials, grown)

        kernel.fused_sums = fused_sums  # type: ignore[attr-defined]
        kernel.fused_ulps = 2.0 * classes + 256.0  # type: ignore[attr-defined]
        kernel.peak = max(1.0, classes / 16.0)  # type: ignore[attr-defined]
    return kernel


def _physical_memory() -> int | None:
    """The machine's memory in bytes, where the platform says (``None`` elsewhere)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):  # (no sysconf: Windows)
        return None


def _check_size(n: int, n_features: int, n_classes: int, dtype: Any) -> None:
    """A ``ValueError`` naming ``n_classes`` where the model's arrays could not be made:
    ``n x n_classes`` one-hot labels (held twice, by rows and by classes) and ``n_features
    x n_classes`` coefficients past what an array can index, or the labels alone past the
    machine's memory (checked before any is allocated, which failed with a bare
    ``MemoryError`` deep inside)."""
    itemsize = int(getattr(dtype, "itemsize", 8))  # (NumPy's and PyTorch's dtypes have it)
    elements = max(n, n_features) * n_classes
    need = 2 * n * n_classes * itemsize
    memory = _physical_memory()
    if elements > np.iinfo(np.intp).max or (memory is not None and need > memory):
        raise ValueError(
            f"n_classes={n_classes} is too many for n={n} rows of {n_features} features: "
            f"the one-hot labels alone need {need / 2**30:.3g} GiB (2 n n_classes = "
            f"{2 * n * n_classes} entries of {itemsize} bytes)"
            + ("" if memory is None else f", this machine has {memory / 2**30:.3g} GiB")
        )


def _check_labels(y: Any, n_classes: int) -> Any:
    """``y`` as class indices: integers (or integral floats) in ``0 .. n_classes - 1``, or
    booleans (``False`` is 0, ``True`` 1, as scikit-learn's classes sort them)."""
    labels = to_numpy(y)
    if labels.dtype.kind == "O":  # (Python objects: numbers are taken, as NumPy's would be)
        text = [v for v in labels.tolist() if isinstance(v, (str, bytes))]
        numbers = np.asarray(labels.tolist()) if not text else labels
        if numbers.dtype.kind in "biuf":
            y = labels = numbers
    else:
        text = np.unique(labels).tolist() if labels.dtype.kind in "US" else []
    if text:
        raise TypeError(
            f"y must hold class indices 0..{n_classes - 1}, numbers; got {text_labels(text)} "
            f"(dtype {labels.dtype}): convert them, e.g. y.astype(int)"
        )
    if labels.dtype.kind == "b":
        return y
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
