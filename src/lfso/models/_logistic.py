"""Binary logistic regression with an optional ridge term and intercept."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._arrays import (
    device,
    error_gamma,
    like,
    materialize,
    namespace,
    reduce_sum,
    to_float,
    to_numpy,
)
from .._validate import data_matrix, data_vector, flag, ridge_weights, text_labels
from ..oracles._segment import SegmentBound
from . import _compiled, _fused
from ._base import Evaluation, Model
from ._device_slope import DeviceSlope, refine_from_now, refining
from ._host import device_product, host_twin
from ._ridge import VectorRidge, held_up, spread
from ._rows import (
    RowCurvatureBound,
    RowGeometry,
    fetch_evaluation,
    inf_norm,
    point_inf_norm,
    point_product,
    statistic_margin,
    taken_product,
)
from ._segments import (
    ApproachSegment,
    CarriedProduct,
    RowSegment,
    approach_kernel,
    approach_rows,
    host_zeros,
    materialized_product,
    row_slope,
)
from ._slope import (
    RowSlope,
    fresh_pads,
    gradient_prior,
    logistic_derivative,
    on_host,
    prior_constants,
    row_norms_of,
    wide_products,
    wide_row_pads,
)

__all__ = ["LogisticRegression"]


def _sigmoid_slope(xp: Any, u: Any) -> Any:
    """``sigma'(u) = e^{-u} / (1 + e^{-u})^2`` for ``u >= 0`` (no overflow there).

    ``sigma'`` is even, so the bound calls it on ``|t|``, already clipped at zero.
    """
    e = xp.exp(-u)
    q = 1.0 + e
    return e / (q * q)


def _losses(xp: Any, margins: Any, distance: Any) -> tuple[Any, Any]:
    """``log(1 + e^{-m})`` and ``sigma(-m)`` from ``e = e^{-|m|}``: one exponential, stable.

    ``log(1 + e^{-m}) = log1p(e) + max(-m, 0)`` and ``sigma(-m) = e / (1 + e)`` for
    ``m >= 0``, ``1 - e / (1 + e)`` otherwise; nothing overflows. (NumPy's ``logaddexp``
    has no vectorised loop, so it is not used here.)
    """
    e = xp.exp(-distance)
    losses = xp.log1p(e) + xp.clip(-margins, min=0.0)
    ratio = e / (1.0 + e)
    return losses, xp.where(margins >= 0.0, ratio, 1.0 - ratio)


def _rows(xp: Any, z: Any, signs: Any) -> tuple[Any, Any, Any]:
    """``(mean loss, -s sigma(-m), |m|)`` of the margins ``m = s z``: the generic
    evaluation's row work (:func:`_losses`), one compiled pass on an accelerator
    (:func:`lfso.models._fused.one_pass`; the mean summed in float64, as the NumPy
    compiled pass sums it, then rounded to the rows' dtype)."""
    margins = signs * z
    distance = xp.abs(margins)
    losses, slope = _losses(xp, margins, distance)
    loss = xp.astype(xp.mean(xp.astype(losses, xp.float64)), z.dtype)
    return loss, -signs * slope, distance


def _host_mean(losses: np.ndarray) -> Any:
    """``np.mean(losses)`` of a NumPy vector, bit for bit, for float32 and float64: the
    same sum (``np.add.reduce``) divided by the count as an ``intp``, cast to the dtype as
    ``np.mean`` does, without its dispatch and argument checks (a few microseconds, as
    much as the sum of a thousand rows); ``np.mean`` itself for other dtypes (float16,
    summed in float32 there)."""
    if losses.dtype not in _MEAN_DTYPES:
        return np.mean(losses)
    return losses.dtype.type(np.add.reduce(losses, axis=None) / np.intp(losses.shape[0]))


#: The dtypes :func:`_host_mean` sums itself.
_MEAN_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def _host_losses(
    z: np.ndarray, negated_signs: np.ndarray, factor: bool = True
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """``(losses, -s sigma(-m), |m|)`` for the margins ``m = s z`` on NumPy rows, given
    ``-s``: :func:`_losses`'s values, the gradient's row factor ``-signs * slope`` (not
    computed, ``None``, without ``factor``) and the margins' sizes, bit for bit the
    generic code's, in four buffers and no select.

    The margins enter negated, ``-m = (-s) z`` (exact: ``s = +-1``), the operand of
    ``max(-m, 0)``; ``|m| = |-m|``. The generic code's ``where(m >= 0, ratio, 1 - ratio)``
    is a branch per row, which NumPy takes slowly where the margins' signs are mixed (more
    than the exponential and the ``log1p`` together: ``docs/results.md``, "PyTorch CPU
    tensors: the logistic rows in fewer passes"); here
    ``sigma(-m) = |ratio - c|`` with ``c = 1`` where ``m < 0`` and ``0`` elsewhere,
    exactly: ``ratio - 0 = ratio >= 0``, and ``fl(ratio - 1) = -fl(1 - ratio)`` (rounding
    to nearest is symmetric), whose absolute value is the generic ``fl(1 - ratio)`` since
    ``ratio <= 1/2``. ``c`` is read from ``max(-m, 0) > 0``, true exactly where ``m < 0``
    (not for ``m = -0``, nor for a NaN margin, whose row is NaN both ways). ``max(-m,
    0)`` is taken against a zero array (:func:`host_zeros`: the same values, faster), and
    ``log1p(e) + max(-m, 0)`` is the same sum in place (addition commutes in floating
    point). The products by ``-s = -+1`` are exact either way.
    """
    tail = np.multiply(negated_signs, z)  # -m
    distance = np.abs(tail)  # |m|
    e = np.negative(distance)
    np.exp(e, out=e)
    ratio = None
    if factor:
        ratio = np.add(e, 1.0)
        np.divide(e, ratio, out=ratio)  # e / (1 + e)
    np.log1p(e, out=e)
    np.maximum(tail, host_zeros(tail.shape[0], tail.dtype), out=tail)
    e += tail  # the losses
    if ratio is None:
        return e, None, distance
    np.greater(tail, 0.0, out=tail, casting="unsafe")  # c = [m < 0], as 0.0 or 1.0
    np.subtract(ratio, tail, out=ratio)
    np.abs(ratio, out=ratio)  # sigma(-m)
    ratio *= negated_signs
    return e, ratio, distance


def _paper_radius(local: Any) -> Callable[[Evaluation], None] | None:
    """Where the evaluation has a bound, the step that sets its paper radius to
    ``||grad f(x)||`` once that is on the host."""
    if local is None:
        return None

    def set_radius(evaluation: Evaluation) -> None:
        local.paper_radius = evaluation.grad_norm

    return set_radius


class LogisticRegression(Model):
    """Mean logistic loss with a ridge term.

    .. math::
        f(w) = \\frac1n \\sum_i \\log(1 + e^{-s_i \\tilde x_i^T w})
               + \\frac{l_2}{2} \\|w_{1:d}\\|^2,

    with labels ``s_i in {-1, +1}`` (0/1 labels are mapped to -1/+1) and
    ``tilde x_i = (x_i, 1)`` when ``fit_intercept`` (the intercept, the last entry of ``w``,
    is not penalised). ``l2`` may also be one weight per feature, for the ridge
    ``(1/2) sum_j l2_j w_j^2`` (features of different scales, solved on rescaled columns
    with the penalty of the original coefficients); its Hessian is ``diag(l2_j)``, so below
    the ball bound adds ``max_j l2_j`` and the segment bound ``sum_j l2_j d_j^2`` in place
    of ``l2`` and ``l2 ||d_{1:d}||^2`` (:mod:`lfso.models._ridge`, with their rounding).

    Oracle (``oracle="sharp"``): the Hessian is ``X^T D X / n + l2 I`` (at most) with
    ``D_ii = sigma'(m_i)`` at margins ``m_i = s_i tilde x_i^T w``. On ``B(w, R)`` a margin
    moves by at most ``||tilde x_i|| R``, and ``sigma'`` is even and decreasing in ``|t|``,
    so ``D_ii <= d_i(R) = sigma'(max(0, |m_i| - ||tilde x_i|| R))``. Hence

    .. math::
        L(w, R) = \\frac1n \\min\\Big(\\|X\\|^2 \\max_i d_i(R),\\;
                  \\sum_i \\|\\tilde x_i\\|^2 d_i(R)\\Big) + l_2,

    non-decreasing in ``R`` because each ``d_i`` is. The margins come from the gradient's
    pass, so each radius costs O(n) and no product with ``X``.

    This is :class:`~lfso.models._rows.RowCurvatureBound` with ``h = sigma'`` (whose
    docstring gives the padding for rounding that keeps it sound in float32 too).
    ``oracle="paper"`` is the authors' bound (their code, ``logistic_regression.py``):
    ``||X||_F^2 max_i d_i(R) / n + l2`` with radius ``R0(w) = ||grad f(w)||``.

    Segment bound (:meth:`segment`), with ``v_i = s_i tilde x_i^T d`` (the margins move
    along ``m_i + s v_i``): ``d^T H(w + s d) d = (1/n) sum_i sigma'(m_i + s v_i) v_i^2 +
    l2 ||d_{1:d}||^2``, and ``sigma'`` is even and decreasing in ``|m|``, so each term's
    supremum over ``[0, t]`` is ``sigma'`` at the distance from 0 to the margin interval
    ``[m_i, m_i + t v_i]`` (0 if it crosses the decision boundary):

    .. math::  C(t) = \\frac1n \\sum_i \\sigma'(\\mathrm{dist}(0, [m_i, m_i + t v_i]))
               \\, v_i^2 + l_2 \\|d_{1:d}\\|^2,

    non-decreasing in ``t``; never above the sharp ball bound at radius ``t ||d||`` (each
    margin interval lies within ``||tilde x_i|| t ||d||`` of ``m_i`` and ``v_i^2 <=
    ||tilde x_i||^2 ||d||^2``, and ``sum_i c_i v_i^2 <= ||X||^2 max_i c_i ||d||^2``). O(n)
    per ``t``, a batch of ``t`` per round trip (:class:`~lfso.models._segments.RowSegment`).
    ``tilde X w + t tilde X d`` is the next evaluation's product (``extras``).

    Parameters
    ----------
    X : array, shape (n, d)
    y : array, shape (n,)
        Two classes, as 0/1, -1/+1 or False/True (numbers: text labels are refused).
        Labels of one class are taken (the rows of a batch, or of a pilot's subsample, of
        a two-class problem), though unless every coefficient is penalised (``l2 > 0`` and
        ``fit_intercept=False``) the loss of such labels falls towards 0 with no
        minimiser, so a run on them alone ends on ``tol`` or ``max_iter``
        (:class:`lfso.sklearn.LFSOLogisticRegression` refuses one class, as scikit-learn's
        estimators do).
    l2 : float >= 0, or array of shape (d,) with entries >= 0
        The ridge's weight, or one weight per feature (the intercept is not penalised).
    fit_intercept : bool
        Append a constant feature; then ``w`` has ``d + 1`` entries.
    oracle : {"sharp", "paper"}

    Examples
    --------
    >>> import numpy as np, lfso
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> model = lfso.models.LogisticRegression(X, np.array([0, 0, 1, 1]), l2=0.1)
    >>> res = lfso.minimize(model, np.zeros(model.dim))
    >>> res.success, round(res.fun, 4)
    (True, 0.5547)
    """

    dim: int
    has_segment = True
    extras = frozenset({"hint", "probe", "product"})
    _transient = Model._transient | {
        "_negated",
        "_codes",
        "_slope_constants",
        "_slope_norms",
        "_slope_history",
    }

    #: The arrays indexed by the data's rows (what a subset of the rows takes:
    #: :func:`lfso.models._rows.take_rows`).
    row_arrays: tuple[str, ...] = ("X", "signs")
    #: ``None``, or (a model of weighted rows, :mod:`lfso.models._weighted`) the map from
    #: the segment's row weights ``(|v_i| + eps)^2`` to the same times each row's weight.
    _weighed_slack: Callable[[Any], Any] | None = None

    def __init__(
        self,
        X: Any,
        y: Any,
        *,
        l2: Any = 0.0,
        fit_intercept: bool = False,
        oracle: str = "sharp",
    ) -> None:
        xp, X = data_matrix(X, "X")
        y = data_vector(y, "y", xp, int(X.shape[0]), real_only=False, rows_of=X)
        if namespace(y).isdtype(y.dtype, "complex floating"):  # (0j == 0: a set takes it)
            raise TypeError(
                f"y must hold two classes as 0/1 or -1/+1, real labels, got dtype {y.dtype}"
            )
        try:
            values = set(to_numpy(namespace(y).unique_values(y)).tolist())
        except TypeError as exc:  # (labels that do not compare: None beside numbers)
            raise TypeError(
                f"y must hold two classes as 0/1 or -1/+1, got an array of dtype {y.dtype} "
                f"whose labels do not compare ({exc})"
            ) from None
        if any(isinstance(v, (str, bytes)) for v in values):
            raise TypeError(
                f"y must hold two classes as 0/1 or -1/+1, numbers; got "
                f"{text_labels(v for v in values if isinstance(v, (str, bytes)))} (dtype "
                f"{y.dtype}): convert them, e.g. y.astype(float)"
            )
        l2 = ridge_weights(l2, "l2", int(X.shape[1]))
        fit_intercept = bool(flag(fit_intercept, "fit_intercept"))
        if values <= {0.0, 1.0}:
            signs = 2.0 * xp.astype(like(y, X), X.dtype) - 1.0
        elif values <= {-1.0, 1.0}:
            signs = xp.astype(like(y, X), X.dtype)
        else:
            shown = sorted(values)
            listed = ", ".join(map(repr, shown[:6])) + (", ..." if len(shown) > 6 else "")
            raise ValueError(
                f"y must hold two classes as 0/1 or -1/+1, got {len(shown)} distinct "
                f"value{'s' * (len(shown) > 1)} [{listed}]"
                + (f": map them to 0/1, e.g. y == {shown[1]!r}" if len(shown) == 2 else "")
            )
        if oracle not in ("sharp", "paper"):
            raise ValueError(f"oracle must be 'sharp' or 'paper', got {oracle!r}")
        if fit_intercept:
            ones = xp.ones((X.shape[0], 1), dtype=X.dtype, device=device(X))
            X = materialize(xp.concat([X, ones], axis=1))
        self.xp, self.X, self.signs, self.l2 = xp, X, signs, l2
        self.fit_intercept, self.oracle = bool(fit_intercept), oracle
        self.n, self.dim = int(X.shape[0]), int(X.shape[1])
        self.geometry = RowGeometry(X, "X")
        self.norm = self.geometry.norm
        if fit_intercept:
            mask = xp.ones(self.dim, dtype=X.dtype, device=device(X))
            zero = xp.zeros(1, dtype=X.dtype, device=device(X))
            self._penalty_mask = xp.concat([mask[:-1], zero])
        else:
            self._penalty_mask = None
        weights = spread(l2, self.dim, 1, fit_intercept)
        #: The ridge with one weight per feature (``None`` for one float ``l2``).
        self._ridge = None if weights is None else VectorRidge(weights, X)
        #: The ridge Hessian's norm: ``l2``, or its largest weight.
        self._ridge_top = float(l2) if self._ridge is None else self._ridge.top

    def _host_rows(self, z: Any) -> bool:
        """Whether the products ``z`` and the labels are NumPy rows of one dtype (then
        :func:`_host_losses` computes the losses)."""
        signs = self.signs
        return (
            type(z) is np.ndarray
            and type(signs) is np.ndarray
            and z.shape == signs.shape
            and z.dtype == signs.dtype
        )

    def _negated_signs(self) -> np.ndarray:
        """``-signs`` (NumPy labels), made once per ``signs`` array and kept beside it (a
        copy of the model given other rows makes its own)."""
        held = self.__dict__.get("_negated")
        if held is None or held[0] is not self.signs:
            held = (self.signs, np.negative(self.signs))
            self.__dict__["_negated"] = held
        return held[1]

    def _negated_codes(self) -> np.ndarray:
        """``-signs`` as int8 (``+-1``), for the compiled kernels: an eighth of the float64
        labels' bytes to read per pass (made once per ``signs`` array, as
        :meth:`_negated_signs`)."""
        held = self.__dict__.get("_codes")
        if held is None or held[0] is not self.signs:
            held = (self.signs, np.where(self.signs > 0.0, -1, 1).astype(np.int8))
            self.__dict__["_codes"] = held
        return held[1]

    def _peak(self, u: Any) -> Any:
        """``sigma'(u)`` for ``u >= 0`` in the model's namespace (the bound's ``h``)."""
        return _sigmoid_slope(self.xp, u)

    @property
    def data(self) -> Any:
        """``X`` (with the intercept column when ``fit_intercept``)."""
        return self.X

    def value(self, x: Any) -> float:
        return self._value_product(x)[0]

    def _value_product(self, x: Any) -> tuple[float, Any]:
        self._check_point(x)
        host = None if type(x) is np.ndarray else host_twin(self, x)
        if host is not None:  # a CPU tensor: the NumPy code on views (models._host)
            return host.value_product(x)
        # (evaluate's value, bit for bit: the same rows and sums, no gradient)
        xp = self.xp
        z = materialize(self._product(x))
        loss: Any
        if self._host_rows(z) and _compiled.usable(z):  # (the losses' sum in one pass)
            total = _compiled.logistic_loss_sum(z, self._negated_codes())
            loss = z.dtype.type(total / z.shape[0])  # (the mean in the rows' dtype)
        elif self._host_rows(z):
            loss = _host_mean(_host_losses(z, self._negated_signs(), False)[0])
        else:
            rows = _fused.one_pass(_rows, z, self.signs) if _fused.usable(z) else None
            if rows is not None:  # (one compiled pass on an accelerator)
                loss = rows[0]
            else:
                margins = materialize(self.signs * z)
                loss = xp.mean(_losses(xp, margins, materialize(xp.abs(margins)))[0])
        return to_float(self._penalised(loss, x)), CarriedProduct(z)

    def _penalised_part(self, x: Any) -> Any:
        """The coefficients one ``l2`` penalises (``x`` less the intercept), or ``None``
        where there is no such ridge (none, or one weight per feature)."""
        if self._ridge is not None or not self.l2:
            return None
        return x if self._penalty_mask is None else x * self._penalty_mask

    def _penalised(self, loss: Any, x: Any, w: Any = None) -> Any:
        """``loss`` plus the ridge at ``x``, in the data's dtype (as :meth:`evaluate` and
        :meth:`value` both add it); ``w``: :meth:`_penalised_part` where at hand."""
        if self._ridge is not None:
            return loss + self._ridge.value(x)
        if self.l2:
            w = self._penalised_part(x) if w is None else w
            # (a sum, not w @ w: Dask's 1-D matmul reuses keys across graphs)
            return loss + (0.5 * self.l2) * reduce_sum(self.xp, w * w)
        return loss

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
        # (Dask: margins and gradient stay on the workers, so that neither the radius solve
        # nor the next step re-reads X; no pass at all when the segment gave X w.)
        x_inf = point_inf_norm(x, product)  # (the drift budget's scale)
        z, drift = taken_product(product, lambda: self._product(x), x_inf, self.geometry.drift)
        # d/dm log(1 + e^{-m}) = -sigma(-m); |m|: also the oracle's statistic
        loss: Any
        factor: Any
        if self._host_rows(z) and _compiled.usable(z):
            # The same rows in one pass, the losses summed in float64 (their mean); |m|
            # only for the ball bound (the segment there makes it from z in its passes).
            total, factor, distance = _compiled.logistic_rows(z, self._negated_codes(), bound)
            loss = z.dtype.type(total / z.shape[0])
        elif self._host_rows(z):
            losses, host_factor, distance = _host_losses(z, self._negated_signs())
            assert host_factor is not None
            factor, loss = host_factor, _host_mean(losses)
        else:
            rows = _fused.one_pass(_rows, z, self.signs) if _fused.usable(z) else None
            if rows is not None:  # (one compiled pass on an accelerator)
                loss, factor, distance = rows
            else:
                margins = materialize(self.signs * z)
                distance = materialize(xp.abs(margins))
                losses, slope = _losses(xp, margins, distance)
                factor = -self.signs * slope
                loss = xp.mean(losses)
        grad = self._adjoint(factor)
        if type(grad) is np.ndarray:  # (a fresh array: divided in place, the same quotients)
            grad /= self.n
        else:
            grad = grad / self.n
        w = self._penalised_part(x)
        loss = self._penalised(loss, x, w)
        if self._ridge is not None:
            grad = grad + self._ridge.grad(x)
        elif self.l2:
            grad = grad + self.l2 * w
        grad = materialize(grad)
        local = None
        if bound:
            # |m_i| lowered by its rounding error (float32 included) and a carried
            # product's drift: see _rows.
            margin = statistic_margin(self.geometry, x, distance) + drift
            stats = materialize(distance - margin)
            local = RowCurvatureBound(
                self.geometry,
                stats,
                self._peak,
                1.0 / self.n,
                self._ridge_top,
                frobenius=self.oracle == "paper",
            )
        # (|m| = |z|: the segment at x reads it again)
        return fetch_evaluation(
            grad,
            loss,
            local,
            hint,
            probe,
            (z, drift, x_inf),
            distance,
            _paper_radius(local),
            factor if type(factor) is np.ndarray else None,  # (the slope bound's first tier)
        )

    def segment(self, x: Any, evaluation: Evaluation, direction: Any) -> SegmentBound:
        """Margin intervals' distance to the decision boundary (see the class docstring)."""
        host = None if type(x) is np.ndarray else host_twin(self, x)
        if host is not None:  # a CPU tensor: the NumPy code on views (models._host)
            return host.segment(x, evaluation, direction)
        xp, g = self.xp, self.geometry
        z, drift, xmax = point_product(evaluation.product, x, lambda: self._product(x))
        u = materialize(self._product(direction))
        dmax = inf_norm(direction)
        offset: Any = 0.0
        if self._ridge is not None:
            offset = self._ridge.curvature(direction)
        elif self.l2:
            w = direction if self._penalty_mask is None else direction * self._penalty_mask
            lost = math.prod(w.shape) * g.square_lost  # (the squares' underflow)
            factor = held_up(self.l2 * g.offset_pad, xp, w.dtype)  # (a float32 l2 = 1e-46 too)
            offset = factor * (reduce_sum(xp, w * w) + lost)
        # The margin m = s z moves at v = s u, s = +-1 exactly: |m| = |z|, v^2 = u^2, and m
        # moves towards 0 where z and u differ in sign, so the labels drop out. Rounding:
        # |z_i - exact| <= gamma_d alpha ||x||_inf + drift, |u_i - exact| <= gamma_d alpha
        # ||d||_inf, folded into the rows (approach) and the weights (|u| + eps)^2.
        delta = g.gamma_d * g.alpha * xmax + drift
        eps = g.gamma_d * g.alpha * dmax
        product = materialized_product(z, u, g.drift.carry(drift, xmax, dmax, evaluation.product))
        slope, pair = row_slope(evaluation.grad, direction)
        weighed = self._weighed_slack  # (rows of their own weights: lfso.models._weighted)
        # (the slope bound reads the unweighted rows: weighted rows go without it)
        check = None
        if weighed is None:
            check = self._slope_check(x, z, u, direction, (delta, eps, dmax, xmax), evaluation)
        if (
            weighed is None
            and isinstance(delta, float)
            and isinstance(eps, float)
            and (_compiled.usable(z, u))
        ):
            pads = (float(delta), float(eps), g.unit)  # (the rows made in each trial's pass)
            approach = ApproachSegment(
                z, u, pads, scale=1.0 / self.n, offset=offset, slope=slope, product=product
            ).lazy_slope(pair)
            approach.slope_check = check
            return approach
        size = getattr(evaluation.product, "rows", None)  # (the evaluation's |m| = |z|)
        # (|u_i| <= ||a_i||_1 ||d||_inf <= alpha ||d||_inf: the weights' overflow, quietly)
        distance, rate, weight, weight_sum = approach_rows(
            xp, z, u, delta, eps, g.unit, size, g.alpha * dmax
        )
        if weighed is not None:
            weight, weight_sum = weighed(weight), None
        segment = RowSegment(
            materialize(distance),
            materialize(rate),
            approach_kernel,
            weight=weight,
            weight_sum=weight_sum,
            scale=1.0 / self.n,
            offset=offset,
            slope=slope,
            product=product,
        ).lazy_slope(pair)
        segment.slope_check = check
        if weighed is None and check is None:
            segment.device_check = self._device_check(
                x, z, u, direction, delta, eps, dmax, xmax, evaluation
            )
        return segment

    def _device_check(
        self,
        x: Any,
        z: Any,
        u: Any,
        direction: Any,
        delta: Any,
        eps: Any,
        dmax: Any,
        xmax: Any,
        evaluation: Evaluation,
    ) -> DeviceSlope | None:
        """The exact slope along ``direction`` bounded on the data's device
        (:mod:`lfso.models._device_slope`), for a step sized there: the a-priori bound and
        the held rows' of :meth:`_slope_check`. ``None`` for NumPy rows (the host's check)
        and for a ridge of per-feature weights."""
        if type(z) is np.ndarray or self._ridge is not None:
            return None
        g, n = self.geometry, self.n
        rounding, constants = self._prior_constants(z)
        ridge = None
        if self.l2:
            lam: Any = float(self.l2)  # (f's weights: l2 itself, not its float32 rounding)
            if self._penalty_mask is not None:
                lam = lam * self.xp.astype(self._penalty_mask, self.xp.float64)
            ridge = (lam, x, direction)
        refine = None
        if refining(self):  # (a step of this run the held rows could not certify)
            refine = (self.X, x, direction, g.alpha, xmax, dmax)
        check = DeviceSlope(
            self.xp,
            z,
            u,
            self.signs,
            delta=delta,
            eps=eps,
            divisor=n,
            prior=(constants, dmax, rounding + n * delta / 4, evaluation.grad, xmax),
            ridge=ridge,
            refine=refine,
        )
        check.escalate = self._refine_on_device
        return check

    def _refine_on_device(self) -> None:
        """From now on in this run the device's slope check also makes the rows again in
        float64 (:meth:`lfso.models._device_slope.DeviceSlope.bound_refined`): a step the
        held rows' bound could not certify was taken as 0."""
        refine_from_now(self)

    def _slope_check(
        self,
        x: Any,
        z: Any,
        u: Any,
        direction: Any,
        pads: tuple[Any, Any, Any, Any],
        evaluation: Evaluation,
    ) -> RowSlope | None:
        """The exact slope along ``direction`` bounded from the segment's rows
        (:mod:`lfso.models._slope`), on NumPy rows with host pads; ``None`` elsewhere.

        A priori (:func:`lfso.models._slope.gradient_prior`): the gradient's row factor
        ``f_i`` (``-s sigma(-m)``, ``|f_i| <= 1``, in the data's dtype) is within ``16 u +
        4 eta`` of ``l'(z_i)`` (an exponential, a sum, a quotient and a difference, each a
        few ulps of a number at most 1; ``eta`` the smallest subnormal, for underflow),
        and ``l'(z_i)`` within ``delta / 4`` of ``l'(z*_i)`` (``|l''| <= 1/4``); ``A^T f``
        sums ``n`` products: ``row_error = n (gamma_n + 16 u + 4 eta + delta / 4)``.
        """
        delta, eps, dmax, xmax = pads
        if not on_host(pads, z, u, x, self.signs):
            return None
        prior = self._prior(z, delta, dmax, xmax, evaluation)
        return RowSlope(
            z,
            u,
            delta=delta,
            eps=eps,
            derivative=(logistic_derivative, (self.signs,)),
            divisor=self.n,
            prior=prior,
            ridge=(self._slope_ridge, x, direction),  # (the weights read only if asked)
            factor=self._slope_factor(evaluation, z),
            refine=(self._wide_rows, (x, direction, xmax, dmax)),
            fresh=(self._fresh_rows, (x, u, xmax, dmax)),
            history=self.__dict__.setdefault("_slope_history", {}),
        )

    def _prior(
        self, z: Any, delta: float, dmax: float, xmax: float, evaluation: Evaluation
    ) -> float:
        """:meth:`_slope_check`'s a-priori bound on ``|s* - fl(g . d)|`` (no row read)."""
        rounding, constants = self._prior_constants(z)
        row_error = rounding + self.n * delta / 4
        return gradient_prior(constants, dmax, row_error, evaluation.grad_norm, xmax)

    def _prior_constants(self, z: Any) -> tuple[float, Any]:
        """The a-priori bound's constants (:meth:`_slope_check`), kept with the geometry
        they were made from: the factors' and the sum's rounding over the rows, ``n
        (gamma_n + 16 u + 4 eta)``, and :func:`lfso.models._slope.prior_constants`."""
        held = self.__dict__.get("_slope_constants")
        if held is None or held[0] is not self.geometry:
            g, n = self.geometry, self.n
            rounding = n * (error_gamma(n, z.dtype) + 16.0 * g.unit + 4.0 * g.square_lost)
            constants = prior_constants(g.unit, self.dim, g.alpha, n, self._ridge_top)
            held = (g, rounding, constants)
            self.__dict__["_slope_constants"] = held
        return held[1], held[2]

    def _slope_prior(self, x: Any, evaluation: Evaluation, direction: Any) -> float | None:
        """The a-priori bound on ``|s* - fl(g . d)|`` that :meth:`segment`'s slope check
        along ``direction`` states (:mod:`lfso.models._slope`), with no pass over the
        rows; ``None`` where the segment states no slope check (rows not NumPy arrays,
        weighted rows). For certificates that do not take the segment otherwise (the
        ball's), which then take it only where this bound does not settle the step.
        PyTorch CPU tensors: the NumPy twin's, on views (:mod:`lfso.models._host`)."""
        if type(x) is not np.ndarray:
            host = host_twin(self, x)
            return None if host is None else host.slope_prior(x, evaluation, direction)
        if self._weighed_slack is not None:
            return None
        z, drift, xmax = point_product(evaluation.product, x, lambda: self._product(x))
        g = self.geometry
        dmax = inf_norm(direction)
        delta = g.gamma_d * g.alpha * xmax + drift
        eps = g.gamma_d * g.alpha * dmax
        if not on_host((delta, eps, dmax, xmax), z, x, self.signs):
            return None
        return self._prior(z, delta, dmax, xmax, evaluation)

    def _slope_factor(self, evaluation: Evaluation, z: Any) -> tuple[Any, float] | None:
        """The evaluation's gradient factor ``f_i`` (``l'(z_i)`` in the data's dtype, of the
        same ``z``) and its rounding, ``16 u + 4 eta`` (see :meth:`_slope_check`), for
        :class:`~lfso.models._slope.RowSlope`'s first tier; ``None`` where not kept."""
        product = evaluation.product
        factor = getattr(product, "factor", None)
        if factor is None or product.value is not z or factor.shape != z.shape:
            return None
        g = self.geometry
        return factor, 16.0 * g.unit + 4.0 * g.square_lost

    def _slope_ridge(self) -> Any:
        """The ridge's weights ``lambda_j`` as the slope bound reads them: the held
        weights (one per feature), ``l2`` times the penalty mask, or 0."""
        if self._ridge is not None:
            return to_numpy(self._ridge.r)
        if not self.l2 or self._penalty_mask is None:
            return float(self.l2)
        return self.l2 * to_numpy(self._penalty_mask).astype(np.float64)

    def _fresh_rows(
        self, x: np.ndarray, u: np.ndarray, xmax: float, vmax: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(z, u, delta, eps)``: ``X x`` made again in the data's dtype (no carried
        drift) and the held ``u = X v``, with per-row rounding bounds from the rows'
        1-norms (:func:`lfso.models._slope.fresh_pads`; the norms made once, in float64)."""
        norms = row_norms_of(self, self.X)
        g = self.geometry
        lost = self.X.shape[1] * g.square_lost
        z = np.asarray(self._product(x))
        return (
            z,
            u,
            fresh_pads(norms, g.gamma_d, xmax, lost),
            fresh_pads(norms, g.gamma_d, vmax, lost),
        )

    def _wide_rows(
        self, x: np.ndarray, v: np.ndarray, xmax: float, vmax: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(z, u, delta, eps)``: ``X x`` and ``X v`` made again in float64, with per-row
        rounding bounds from the rows' 1-norms (:func:`lfso.models._slope.wide_products`,
        ``wide_row_pads``)."""
        norms, alpha, d = row_norms_of(self, self.X), self.geometry.alpha, self.dim
        z, u = wide_products(self.X, x, v)
        return z, u, wide_row_pads(norms, alpha, xmax, d), wide_row_pads(norms, alpha, vmax, d)
