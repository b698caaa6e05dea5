"""The local bound shared by row-separable models ``f(x) = (1/n) sum_i phi_i(a_i^T x) + ...``.

If ``|phi_i''(t)| <= h(|t - c_i|)`` with ``h`` non-increasing (logistic loss: ``h = sigma'``
around the decision boundary; Cauchy loss: ``h(u) = 1 / (1 + u^2/c^2)`` around the fit),
then on ``B(x, R)`` each statistic ``s_i = |a_i^T x - c_i|`` moves by at most
``||a_i|| R``, so ``|phi_i''| <= d_i(R) = h(max(0, s_i - ||a_i|| R))`` and

.. math::
    \\|\\nabla^2 f(y)\\| \\le \\frac1n \\min\\Big(\\|A\\|^2 \\max_i d_i(R),\\;
                         \\sum_i \\|a_i\\|^2 d_i(R)\\Big) + l_2,

the first from ``||A^T D A|| <= ||A||^2 max |D_ii|``, the second from
``||A^T D A|| <= sum_i |D_ii| ||a_i||^2``. Each ``d_i`` is non-decreasing in ``R``, hence so
is the bound. The statistics come from the gradient's pass: each radius costs O(n), no
product with ``A`` and one host round trip (both reductions travel together); the radius
solve (:func:`lfso.oracles._solve.solve_radius`) needs about one radius per iteration.

Rounding (any dtype, float32 included): each model lowers its statistics by their
rounding error (:func:`statistic_margin`: a dot product of length ``d`` is within
``gamma_d ||a_i||_1 ||x||_inf`` of the exact one, Higham, Lemma 3.1), the row norms and
``||A||_F^2`` are padded by their ``gamma_k`` (:class:`RowGeometry`, and ``||A||`` by
:func:`lfso._arrays.operator_norm`), the radius is stretched by ``1 + gamma_4`` against the
rounding of ``||a_i|| R``, the reductions are padded (``h`` by 8 ulps, the sum by
``gamma_{n+4}``), and ``h`` is floored at the dtype's smallest normal number (below which
it underflows): ``norm^2 (max_i d_i pad + tiny)`` and
``sum_i ||a_i||^2 d_i pad + ||A||_F^2 tiny + n eta`` (``eta``: the smallest subnormal
number, what each product ``||a_i||^2 d_i`` may lose to underflow). The bound is at least
float64's smallest normal number, above the exact value wherever the float64 operations
that form it underflow.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._arrays import (
    Fetched,
    device,
    error_gamma,
    materialize,
    namespace,
    operator_norm,
    reduce_max,
    to_float,
    to_floats,
)
from ..oracles._bounds import LocalBound, rounded_up
from ._base import Evaluation, fetched_evaluation
from ._portable import Portable
from ._segments import CarriedProduct, host_max_abs

__all__ = [
    "DRIFT_BUDGET",
    "ProductDrift",
    "RowCurvatureBound",
    "RowGeometry",
    "fetch_evaluation",
    "inf_norm",
    "point_inf_norm",
    "point_product",
    "rounding_scale",
    "statistic_margin",
    "take_rows",
    "taken_product",
]

#: How far a carried product may drift, in units of a fresh product's own rounding error
#: bound at the current point, before the next evaluation recomputes it (one extra pass
#: over the data). The bounds absorb any drift (:class:`ProductDrift`); the budget only
#: keeps them, and ``f``, about as sharp as from a fresh product.
DRIFT_BUDGET = 64.0

#: The smallest normal float64: the ball bounds' floor.
_TINY64 = float(np.finfo(np.float64).smallest_normal)


class RowGeometry(Portable):
    """Norms of a data matrix computed once: ``||A||``, row norms, ``||A||_F^2``.

    Each is an upper bound on the exact value despite rounding in ``A``'s dtype: a row
    norm (``d`` squares summed, a square root) is padded by ``1 + gamma_{d+4}``, the sum
    of squares by ``1 + gamma_{n+4}`` (:func:`lfso._arrays.error_gamma`).

    Underflow: a square below the dtype's smallest normal number ``tiny`` loses up to half
    its smallest subnormal number ``eta = tiny eps`` (gradual underflow; the additions lose
    nothing more, Higham, Section 2.1): ``d eta / 2 <= u s`` in a row's sum of squares
    ``s >= d tiny``, inside the pad. A row below that (``1e-30`` in float32, whose norm
    would round to 0, and every bound and the rounding slack of its products with it) is
    scaled by ``2^k`` first (exact), with ``k`` such that ``(2^k eta)^2 >= tiny``: no
    square underflows, and ``2^-k`` times the padded norm, plus ``eta`` (that product may
    underflow), bounds the row's norm. ``eta`` is added to each squared row norm (which
    underflows below ``sqrt(tiny)``), and the products ``||a_i||^2 d_i`` of the sharp
    bound lose up to ``eta / 2`` each: :attr:`lost`.
    """

    def __init__(self, A: Any, name: str = "A") -> None:
        self.xp = xp = namespace(A)
        n, d = int(A.shape[0]), int(A.shape[1])
        self.norm = operator_norm(A, name)
        finfo = xp.finfo(A.dtype)
        self.tiny = float(finfo.smallest_normal)
        self.unit = 0.5 * float(finfo.eps)
        #: What one square may lose to gradual underflow, absolutely: at most ``eta``, the
        #: smallest subnormal number ``tiny eps`` (half of it, rounded to nearest). In a
        #: ridge term ``l2 pad (||d||^2 + n_d square_lost)`` bounds it also where
        #: ``||d||^2`` underflows beside a large ``l2``.
        self.square_lost = self.tiny * float(finfo.eps)
        self.row_norms = materialize(_row_norm_bounds(xp, A, self.tiny, self.square_lost))
        self.row_norms_sq = materialize(self.squared(self.row_norms))
        #: What ``sum_i ||a_i||^2 d_i`` may lose to underflow, absolutely: ``n eta``.
        self.lost = n * self.square_lost
        self.sum_pad = 1.0 + error_gamma(n + 4, A.dtype)
        self.frobenius_sq = to_float(self.xp.sum(self.row_norms_sq)) * self.sum_pad
        self.sqrt_d = float(d) ** 0.5
        self.gamma_d = error_gamma(d + 4, A.dtype)  # a dot product of length d, rounded
        self.gamma_4 = error_gamma(4, A.dtype)
        self.peak_pad = 1.0 + error_gamma(16, A.dtype)  # h (exp, +, *, /): 8 ulps
        #: ``alpha >= max_i ||a_i||_1``: a statistic ``a_i^T v`` computed in the data's dtype
        #: is within ``gamma_d alpha ||v||_inf`` of the exact one.
        self.alpha = self.sqrt_d * (to_float(reduce_max(self.xp, self.row_norms)) if n else 0.0)
        self.drift = ProductDrift(self.alpha, d, A.dtype)
        self.offset_pad = 1.0 + error_gamma(d + 4, A.dtype)  # l2 ||d||^2: a sum of d squares

    def squared(self, norms: Any) -> Any:
        """``||a_i||^2 + eta`` from the padded row norms: above the exact squares also where
        they underflow (``inf`` past the dtype's range: a bound with it certifies nothing)."""
        with np.errstate(over="ignore"):
            return norms * norms + self.square_lost


def _row_norm_bounds(xp: Any, A: Any, tiny: float, eta: float) -> Any:
    """Upper bounds on the rows' norms (:class:`RowGeometry`: padding, and the rows whose
    squares underflow scaled by ``2^k`` first; those whose squares overflow, by ``2^-k``
    with ``2^k >= max |a_ij|``, exactly: no scaled square overflows, and one that
    underflows loses half the smallest subnormal number, far inside the pad beside the
    row's largest scaled square, at least 1/4)."""
    d = int(A.shape[1])
    pad = 1.0 + error_gamma(d + 4, A.dtype)
    with np.errstate(over="ignore"):  # (rows whose squares overflow: below)
        squares = xp.sum(A * A, axis=1)
    norms = xp.sqrt(squares) * pad
    if not (A.shape[0] and d):
        return norms
    if not to_float(xp.max(squares)) < math.inf:  # (finite data: checked on the way in)
        k = math.frexp(to_float(xp.max(xp.abs(A))))[1]
        scaled = A * 2.0**-k
        big = xp.sqrt(xp.sum(scaled * scaled, axis=1)) * pad * 2.0**k
        norms = xp.where(xp.isinf(squares), big, norms)
    low = d * tiny
    if not to_float(xp.min(squares)) < low:
        return norms
    k = math.ceil(-math.log2(eta) + 0.5 * math.log2(tiny)) + 2  # (2^k eta)^2 >= tiny
    with np.errstate(over="ignore"):  # (the other rows' may overflow: not taken below)
        scaled = A * 2.0**k
        small = xp.sqrt(xp.sum(scaled * scaled, axis=1)) * pad * 2.0**-k + eta
    return xp.where(squares < low, small, norms)


class ProductDrift:
    """The rounding drift of a carried product ``z ~ A x`` (:class:`._segments.CarriedProduct`).

    With ``alpha >= max_i ||a_i||_1`` and ``u`` the unit roundoff of the data's dtype, a
    fresh product is within ``F(x) = gamma_{d+4} alpha ||x||_inf`` of the exact ``A x``
    entrywise (Higham, Lemma 3.1). One carried update ``z' = fl(z + fl(t fl(A d)))``, with
    the iterate ``x' = fl(x + fl(t d))``, gives, entrywise with ``|z - A x| <= D``,

    .. math::  |z' - A x'| \\le |z - A x| + |fl(t u) - t A d| + u (|z| + |t u|)
               + |A| \\, |x + t d - x'|
               \\le D (1 + u) + \\gamma_{d+8} \\, \\alpha (\\|x\\|_\\infty + |t| \\|d\\|_\\infty),

    from ``|fl(A d) - A d| <= gamma_d alpha ||d||_inf``, ``|z| <= alpha ||x||_inf + D``
    and ``|x + t d - x'| <= (2u + u^2) (|x| + |t| |d|)``; every ``u`` term is folded into
    ``gamma_{d+8}`` (:func:`lfso._arrays.error_gamma`). :meth:`carry` is that recursion
    (``D = F(x)`` for a fresh product), on host floats or 0-d device arrays alike (no
    round trip); :meth:`stale` says when ``D`` has passed :data:`DRIFT_BUDGET` times
    ``F(x)``, so that the next evaluation recomputes ``A x``. A model adds ``D`` to the
    rounding error of every statistic it derives from a carried ``z``.

    Parameters
    ----------
    alpha : float
        An upper bound on ``max_i ||a_i||_1`` (``sqrt(d) max_i ||a_i||`` padded).
    d : int
        Columns of ``A`` (the length of each dot product).
    dtype : the data's dtype
    """

    def __init__(self, alpha: float, d: int, dtype: Any) -> None:
        self.fresh_rate = error_gamma(d + 4, dtype) * alpha
        self.rate = error_gamma(d + 8, dtype) * alpha
        self.grow = 1.0 + error_gamma(1, dtype)

    def fresh(self, xmax: float) -> float:
        """``F(x)``, a bound on a fresh product's error, from ``||x||_inf``."""
        return self.fresh_rate * xmax

    def stale(self, drift: float, xmax: float) -> bool:
        """Whether a product with this ``drift`` at a point with ``||x||_inf = xmax`` should
        not be carried further (its drift is over budget, or not a finite number)."""
        return not drift <= DRIFT_BUDGET * self.fresh(xmax)

    def carry(
        self, drift: Any, xmax: Any, dmax: Any, carried: CarriedProduct | None = None
    ) -> Callable[[Any], Any]:
        """``t -> D'``, the drift after the update along ``d`` (``||d||_inf = dmax``) from a
        product with drift ``drift`` at ``x`` (``0``: fresh, then ``F(x)`` is used); ``t ->
        None`` when the product is :meth:`stale` (the next evaluation recomputes it).

        ``drift`` and ``xmax`` are 0-d device arrays where the evaluation at ``x`` was made
        ahead of its fetch (:func:`lfso._later.ahead`; ``carried``: its product): the
        budget is then tested on the newest drift on the host, the point before's
        (:meth:`CarriedProduct.arrived`): the test comes one step late, the drift added to
        every bound is this one. On the device ``D'`` is computed in float64, as on the
        host, whatever the dtype of ``dmax`` and ``t``."""
        if isinstance(xmax, float):
            if self.stale(drift, xmax):
                return lambda t: None
            base = (drift if drift > 0.0 else self.fresh(xmax)) * self.grow + self.rate * xmax
        else:
            arrived = None if carried is None else carried.arrived()
            if arrived is not None and self.stale(*arrived):
                return lambda t: None
            from . import _fused  # (an evaluation made ahead: PyTorch's, on an accelerator)

            rows = None if carried is None else carried.value
            compiled = rows is not None and _fused.usable(rows, classes=rows.ndim == 2)
            if isinstance(drift, float):  # (0: a fresh product; else made on the device)
                drift = None if drift == 0.0 else xmax.new_full((), drift, dtype=_f64(xmax))
            arrays = (drift, xmax, dmax, self.fresh_rate, self.grow, self.rate)

            def after(t: Any) -> Any:  # (one compiled pass where the rows' passes are)
                out = _fused.one_pass(_drift_after, *arrays, t) if compiled else None
                return _drift_after(None, *arrays, t) if out is None else out

            return after
        if isinstance(dmax, float):
            rate = self.rate * dmax
        else:  # (in float64 on the device, as on the host: D' from a 0-d step t alike)
            xp = namespace(dmax)
            rate = self.rate * xp.astype(dmax, xp.float64)
        return lambda t: base + rate * abs(t)


def _f64(like: Any) -> Any:
    """The float64 dtype of ``like``'s library (PyTorch's, where the loop runs ahead)."""
    return namespace(like).float64


def _drift_after(
    xp: Any, drift: Any, xmax: Any, dmax: Any, fresh: float, grow: float, rate: float, t: Any
) -> Any:
    """:meth:`ProductDrift.carry`'s ``D'`` on the device from a product made ahead of its
    fetch (``drift`` a 0-d array, or ``None`` for a fresh product; ``xmax``, ``dmax`` and
    the step ``t`` 0-d arrays), in float64: the host's operations in the host's order.
    PyTorch's operations (``xp`` is not used), one compiled pass where the rows' passes
    compile."""
    import torch

    f64 = torch.float64
    xmax = xmax.to(f64)
    start: Any
    if drift is None:
        start = fresh * xmax
    else:  # (a drift that is not a number stays one: the step certifies nothing)
        drift = drift.to(f64)
        start = torch.where(drift == 0.0, fresh * xmax, drift)
    base = start * grow + rate * xmax
    return base + (rate * dmax.to(f64)) * abs(t)


def inf_norm(x: Any) -> Any:
    """``||x||_inf``: a float for a NumPy array (no round trip to save; exactly
    ``float(np.abs(x).max())``, by :func:`host_max_abs`), else a 0-d array of ``x``'s
    library (left on its device)."""
    if type(x) is np.ndarray:
        return host_max_abs(x)
    xp = namespace(x)
    return reduce_max(xp, xp.abs(x))


def point_inf_norm(x: Any, product: CarriedProduct | None, needed: bool = False) -> Any:
    """``||x||_inf`` for an evaluation (:func:`inf_norm`), or ``None`` where it can wait: on
    NumPy without a carried product to check and not ``needed`` by the bound (a segment at
    ``x`` computes it then, at no round trip: :func:`point_product`). Elsewhere it rides
    the evaluation's one fetch."""
    if type(x) is np.ndarray:  # (host_max_abs directly: one call less per evaluation)
        return None if product is None and not needed else host_max_abs(x)
    return inf_norm(x)


def taken_product(
    product: CarriedProduct | None, compute: Callable[[], Any], x_inf: Any, tracker: ProductDrift
) -> tuple[Any, Any]:
    """``(z, drift)`` for an evaluation at a point ``x`` with ``||x||_inf = x_inf``
    (:func:`inf_norm`): a carried product's, or ``compute()`` fresh (drift 0). A carried
    product whose drift is a host float (host memory: no round trip to read it) is also
    checked against ``x`` itself, so that a step that shrank ``x`` by orders does not keep
    the earlier, larger rounding for one more evaluation."""
    if product is not None:
        drift = product.drift
        if isinstance(drift, float) and drift != 0.0:  # (a fresh product: A x itself)
            xmax = x_inf if type(x_inf) is float else to_float(x_inf)
            if tracker.stale(drift, xmax):
                return materialize(compute()), 0.0
        return product.value, drift
    return materialize(compute()), 0.0


def point_product(
    carried: CarriedProduct | None, x: Any, compute: Callable[[], Any]
) -> tuple[Any, Any, Any]:
    """``(z, drift, ||x||_inf)`` for a segment at ``x``: the evaluation's product with its
    host scalars (0-d device arrays where the evaluation was made ahead of its fetch and
    it has not arrived), or ``compute()`` fresh (an evaluation made without one)."""
    if carried is None or carried.xmax is None:
        z = materialize(compute()) if carried is None else carried.value
        drift = 0.0 if carried is None else to_float(carried.drift)
        return z, drift, to_float(inf_norm(x))
    if not isinstance(carried.xmax, float):  # (made ahead of its fetch: on the device)
        return carried.value, carried.drift, carried.xmax
    return carried.value, float(carried.drift), carried.xmax


def rounding_scale(evaluation: Any, x: Any) -> tuple[float, float]:
    """``(drift, ||x||_inf)`` on the host for a bound on the rounding of an evaluation's
    value at ``x`` (``Model.value_error``): its carried product's, or no drift and
    ``||x||_inf`` computed (an evaluation made without a product computed it fresh)."""
    carried = evaluation.product
    drift = getattr(carried, "drift", 0.0)
    xmax = getattr(carried, "xmax", None)
    return float(to_float(drift)), float(to_float(inf_norm(x) if xmax is None else xmax))


def statistic_margin(geometry: RowGeometry, x: Any, stats: Any, offset: Any = None) -> Any:
    """The rounding error of ``s_i = |a_i^T x - c_i|`` computed in the data's dtype, bounded.

    ``gamma_d (sqrt(d) ||a_i|| ||x||_inf + |c_i|) + gamma_4 s_i``: the dot product and the
    offset (Higham, Lemma 3.1, with ``||a_i||_1 <= sqrt(d) ||a_i||``), and the rounding of
    ``s_i - ||a_i|| R`` in :meth:`RowCurvatureBound.reductions`. ``||x||_inf`` stays a 0-d
    array (no round trip). Models subtract it from their statistics.
    """
    g = geometry
    xmax = reduce_max(g.xp, g.xp.abs(x)) * g.sqrt_d
    margin = g.gamma_d * (g.row_norms * xmax) + g.gamma_4 * stats
    return margin if offset is None else margin + g.gamma_d * offset


class RowCurvatureBound(LocalBound):
    """``R -> L(x, R)`` for a row-separable model (see the module docstring).

    Parameters
    ----------
    geometry : RowGeometry
    stats : array
        ``s_i = |a_i^T x - c_i|`` at the bound point.
    peak : callable ``h(u)`` on arrays
        Non-increasing bound on ``|phi''|`` at distance ``u`` from its peak.
    scale : float
        ``1/n`` for a mean.
    offset : float
        Curvature added everywhere (a ridge ``l2``; the largest weight of one per
        feature, the norm of its Hessian ``diag(l2_j)``).
    frobenius : bool
        Use the authors' ``||A||_F^2 max_i d_i`` instead of the sharp minimum.

    Attributes
    ----------
    hint : float or None
        A radius whose bound was computed with the gradient (:meth:`hinted`), so that
        asking for it costs no pass over the data and no round trip.
    """

    hint: float | None = None
    proven = True  # (a built-in model's: 0 or inf is the float range's edge)

    def __init__(
        self,
        geometry: RowGeometry,
        stats: Any,
        peak: Callable[[Any], Any],
        scale: float,
        offset: float = 0.0,
        frobenius: bool = False,
    ) -> None:
        self.geometry, self.stats, self.peak = geometry, stats, peak
        self.scale, self.offset, self.frobenius = scale, offset, frobenius
        # Proven non-decreasing: a decrease can only be the reductions' rounding, which in
        # float32 over many rows reaches 1e-6 and more; sqrt(eps) keeps the check for bugs.
        self.monotone_rtol = math.sqrt(float(geometry.xp.finfo(stats.dtype).eps))

    def reductions(self, radius: float) -> list[Any]:
        """The bound's reductions at ``radius`` as 0-d arrays, left where the data lives:
        ``max_i d_i(R)`` and (sharp bound) ``sum_i ||a_i||^2 d_i(R)``."""
        g = self.geometry
        xp = g.xp
        stretched = radius * (1.0 + g.gamma_4)  # against the rounding of ||a_i|| R
        d = self.peak(xp.clip(self.stats - g.row_norms * stretched, 0.0, None))
        if self.frobenius:
            return [reduce_max(xp, d)]
        return [reduce_max(xp, d), g.row_norms_sq @ d]

    def combine(self, values: list[float]) -> float:
        """``L(x, R)`` from :meth:`reductions` brought to the host."""
        g = self.geometry
        top = values[0] * g.peak_pad + g.tiny  # h to 8 ulps; underflow below tiny
        if self.frobenius:
            curv = g.frobenius_sq * top
        else:
            curv = min(
                g.norm**2 * top,
                values[1] * g.peak_pad * g.sum_pad + g.frobenius_sq * g.tiny + g.lost,
            )
        # The host's own roundings (float64, at most 10 above, the ridge term's sum
        # included: where scale curv is below half an ulp of l2 the sum drops it) are
        # rounded up past; below float64's smallest normal number the products above may
        # underflow: the floor is above the exact value there.
        return max(rounded_up(self.scale * curv + self.offset, 10.0), _TINY64)

    def hinted(self, radius: float, values: list[float]) -> RowCurvatureBound:
        """Record ``L(x, radius)`` from reductions fetched with the gradient; returns self."""
        self.hint, self._hint_value = radius, self.combine(values)
        return self

    def __call__(self, radius: float) -> float:
        if radius == self.hint:
            return self._hint_value
        return self.combine(to_floats(*self.reductions(radius)))  # one host round trip


def fetch_evaluation(
    grad: Any,
    value: Any,
    bound: RowCurvatureBound | None,
    hint: float | None,
    probe: Any,
    product: tuple[Any, Any, Any] | None = None,
    rows: Any = None,
    then: Callable[[Evaluation], None] | None = None,
    factor: Any = None,
) -> Evaluation:
    """The evaluation with ``f(x)``, ``||grad f(x)||``, ``grad @ probe`` and (given a
    ``hint``) ``L(x, hint)`` brought back in one round trip; with ``product = (z, drift,
    ||x||_inf)``, also the last two, kept as the evaluation's :class:`CarriedProduct`
    (with ``rows``, what the segment at ``x`` reads again: :attr:`CarriedProduct.rows`).
    ``then(evaluation)`` runs once the scalars are on the host; ``factor``, the gradient's
    row factor, is kept on the product too (:attr:`CarriedProduct.factor`).

    Inside :func:`lfso._later.ahead` on an accelerator the fetch is started and a
    :class:`PendingEvaluation` returned at once; the rest waits for its first read.

    The bound's value at the hinted radius is recorded in ``bound`` (:meth:`hinted`), so
    that a radius solve that asks for it costs nothing more. How often LFSO's hint lands in
    the tolerance window: the ``noracle`` against ``nit`` columns of the logistic rows of
    ``lfso bench --suite paper --out DIR`` (read in ``docs/results.md``).
    """
    extra = bound.reductions(hint) if bound is not None and hint is not None else []
    scalars = [] if product is None else [product[1]]
    if product is not None and product[2] is not None:
        scalars.append(product[2])

    carried = None
    if product is not None:
        carried = CarriedProduct(*product)  # (0-d device arrays until the fetch arrives)
        carried.rows, carried.factor = rows, factor

    def make(fetched: Fetched) -> Evaluation:
        evaluation = _row_evaluation(fetched, grad, bound, hint, carried, len(scalars))
        if then is not None:
            then(evaluation)
        return evaluation

    return fetched_evaluation(grad, [value, *scalars, *extra], probe, make, product=carried)


def _row_evaluation(
    fetched: Fetched,
    grad: Any,
    bound: RowCurvatureBound | None,
    hint: float | None,
    product: CarriedProduct | None,
    scalars: int,
) -> Evaluation:
    """:func:`fetch_evaluation`'s evaluation from its fetch (``scalars``: how many of the
    product's scalars it holds after ``f``); the product takes its host scalars."""
    values, grad_norm, probe_dot = fetched
    if len(values) > 1 + scalars:
        assert bound is not None and hint is not None
        bound.hinted(hint, values[1 + scalars :])
    evaluation = Evaluation(values[0], grad, grad_norm, bound, probe_dot)
    if product is not None:
        drift = product.drift = values[1]
        product.xmax = values[2] if product.xmax is not None else None
        product.source = None
        evaluation.product = product
        evaluation.carried = drift > 0.0
    return evaluation


def take_rows(model: Any, idx: Any, **more: Any) -> dict[str, Any]:
    """Rows ``idx`` of a row model's row-indexed arrays, by name.

    The arrays are those the model's class names in ``row_arrays`` (``("A", "b")`` for the
    regressions, ``("X", "signs")`` for logistic regression, ``("X", "onehot")`` for softmax
    regression), and any more given by keyword (arrays indexed by the same rows, such as
    the row norms of the model's geometry). The index is made once, in the arrays' library
    and on their device, and the rows are taken there: the data do not move.

    Parameters
    ----------
    model : a row model (its class has ``row_arrays``)
    idx : 1-D array of int
        Row indices, in ``[0, n)``, checked by the caller.

    Raises
    ------
    TypeError
        ``model`` has no rows to take (its class has no ``row_arrays``).
    """
    names = getattr(type(model), "row_arrays", None)
    if not names:
        raise TypeError(
            f"model must be a row model (LpRegression, CompositeLeastSquares, "
            f"CauchyRegression, LogisticRegression, SoftmaxRegression), got "
            f"{type(model).__name__}, which has no rows to take"
        )
    arrays = {name: getattr(model, name) for name in names} | more
    first = arrays[names[0]]
    xp = model.xp
    index = xp.asarray(idx, device=device(first))
    return {name: xp.take(a, index, axis=0) for name, a in arrays.items()}
