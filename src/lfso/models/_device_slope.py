"""The exact-slope check of :mod:`lfso.models._slope` on the data's device (PyTorch tensors
on the device path), with no host round trip.

On the device path the step is sized on the device from the computed slope ``s = g . v``
(:meth:`lfso.oracles.SegmentBound.device_step`); :class:`DeviceSlope` takes the place of
``s`` there by a 0-d float64 array ``s_eff`` chosen on the device, as
:func:`lfso.steps._certificates._checked_slope` chooses on the host:

* ``s`` where the a-priori bound ``e_0 >= |s* - s|`` (:func:`lfso.models._slope.
  gradient_prior`, here from 0-d arrays) is at most an eighth of ``(1 - eta/2) |s|``, or
  where the held rows' bound ``s_up >= s*`` (:class:`lfso.models._slope.RowSlope`'s
  theorem) gives ``s_up - s < (1 - eta/2) |s|``;
* else ``s_up`` where it is negative and finite (the step ``tau = eta (-s_up) / C``
  descends in exact arithmetic: ``_checked_slope``'s docstring);
* else 0 (also where ``s_up`` is not finite: past float64's range it states nothing,
  so no step is certain to descend, as on the host): the step is 0, and
  :attr:`swamped` (a 0-d array, 1 there) tells the loop, which stops with
  :attr:`lfso.Status.PRECISION_LIMIT` and :func:`swamped_message`'s message
  when it reads the step (the next fetch).

The held rows' bound is computed as :func:`lfso.models._slope.logistic_derivative` and
``RowSlope._finish`` compute it on the host, in float64 from the held float32 (or float64)
rows ``z`` and ``u = A v``: ``w_i = l'(z_i)``, ``kappa_i``, ``omega_i``, and the three sums
``sum w u``, ``sum |w u|`` and ``sum (kappa delta + omega) (|u| + eps) + eps sum |w|``.
Rounding: PyTorch's float64 sums are taken in an order it does not state (a tree, blocks,
threads); Higham's bound ``|fl(sum x_i) - sum x_i| <= gamma_{n-1} sum |x_i|`` (*Accuracy and
Stability of Numerical Algorithms*, 2002, Lemma 3.1 and Section 4.2) holds for every
order of the pairwise additions, so the pads of the host bound (``gamma_{n+1}`` and
``gamma_{n+10}``) cover these sums as they cover NumPy's. The few operations after the
sums (their sum, the pad, the division by ``N``, the ridge term) are each rounded up by a
relative ``2^-50`` and ``2 eta_64`` (``eta_64`` float64's smallest subnormal): a correctly
rounded result is within ``2^-53`` of the exact one relatively, or ``eta_64 / 2``
absolutely, so the padded float is above it.

Cost. One pass over the rows ``z``, ``u`` and the labels (an exponential and a few float64
operations per row, six sums; one compiled pass where :func:`lfso.models._fused.usable`)
per iteration, all on the device; nothing is fetched (the choice is ``where``), so the
pass runs also where the a-priori bound alone would settle the step (skipping it would
take a round trip). Where that bound or the held rows' suffices the result is ``s``
itself, bit for bit: the run's iterates are those of the unchecked step. After a step of
0 from the held rows the model's checks make the rows again (one more pass over ``A`` in
float64, every iteration from then on in the run).
"""

from __future__ import annotations

import functools
import math
from typing import Any

from . import _fused
from ._slope import _ETA64, _QUARTER, _U64, gamma64

__all__ = [
    "DeviceSlope",
    "PowerSlope",
    "refine_from_now",
    "refining",
    "run_key",
    "swamped_message",
]

#: Rows per block of :meth:`DeviceSlope.bound_refined` (a float64 copy of that many rows).
_BLOCK = 1 << 15
#: A relative round-up of one float64 operation (above ``u_64 / (1 - u_64)``).
_UP = 2.0**-50


def _row_sums(xp: Any, z: Any, u: Any, signs: Any, grow: Any) -> Any:
    """``[sum w u, sum |w u|, sum sigma, sum kappa' |u|, sum kappa', sum |u|]`` in float64
    (:meth:`DeviceSlope._upper`; ``grow = G``): one compiled pass where the rows are
    long enough (:func:`lfso.models._fused.one_pass`: the same operations, the sums in
    another order, within the same ``gamma_n``), else PyTorch's operations."""
    f64 = xp.float64
    m = xp.astype(signs * z, f64)  # (exact: a sign)
    e = xp.exp(-xp.abs(m))
    sigma = xp.where(m >= 0.0, e, 1.0) / (1.0 + e)  # |w| (w = -s sigma)
    su = xp.astype(signs * u, f64)
    au = xp.abs(xp.astype(u, f64))
    kappa = e * grow
    kappa = xp.where(kappa < _QUARTER, kappa, _QUARTER)  # (NaN, 0 * inf: 1/4; no upload)
    sums = (-(sigma * su), sigma * au, sigma, kappa * au, kappa, au)
    return xp.stack([xp.sum(v) for v in sums])


def run_key() -> Any:
    """The current run's rider list (:func:`lfso._later.riding`: one per run, or one per
    optimiser of ``lfso.torch``), ``None`` outside one."""
    from .._later import _PENDING

    return _PENDING.get()


def refine_from_now(model: Any) -> None:
    """Mark ``model``'s device checks to make the rows again (``refine``) for the rest of
    the current run (a model shared by runs keeps its steps in the next)."""
    model.__dict__["_device_refine"] = run_key()


def refining(model: Any) -> bool:
    """Whether ``model``'s device checks make the rows again in the current run."""
    key = model.__dict__.get("_device_refine")
    return key is not None and key is run_key()


def swamped_message(along: float, upper: float) -> str:
    """The message of a step that no bound on the exact slope lets descend (the host's
    :class:`lfso.steps._certificates._SlopeSwampedError` and the device path's)."""
    return (
        f"the gradient's rounding swamps its slope here: the computed slope g . d = "
        f"{along:.6g} along the step, but the exact slope may be as large as {upper:.6g} "
        "(a proven bound from the rows), so no step along it is certain to descend"
    )


def _up(xp: Any, value: Any) -> Any:
    """``>=`` the exact result of the correctly rounded float64 operation that gave
    ``value`` (0-d arrays)."""
    return value + xp.abs(value) * _UP + 2.0 * _ETA64


class DeviceSlope:
    """The exact slope along a logistic segment's direction bounded on the device (module
    docstring): ``__call__(s, eta)`` returns ``s_eff`` and keeps :attr:`swamped`,
    :attr:`along` (``s``) and :attr:`upper` (``s_up``), 0-d float64 arrays, for the loop.

    Parameters
    ----------
    xp : namespace
        The rows' array namespace (PyTorch's).
    z, u : arrays, shape (n,)
        The held rows (margins' products ``X x`` and ``X v``), in the data's dtype.
    signs : array, shape (n,)
        The labels as ``+-1``.
    delta, eps : float or 0-d arrays
        The rows' rounding bounds (the segment's).
    divisor : int
        ``N``.
    prior : (constants, vmax, row_error, grad, xmax)
        :func:`lfso.models._slope.gradient_prior`'s arguments (floats or 0-d arrays), the
        gradient itself in place of its norm (taken on the device).
    ridge : (lam, x, v) or None
        ``lam`` a float or an array of the ridge's weights, ``x`` the point, ``v`` the
        direction; its slope ``sum_j lam_j x_j v_j`` is added.
    refine : (A, x, v, alpha, xmax, vmax) or None
        The data (``alpha >= max_i ||a_i||_1``), the point and the direction and their
        largest entries: the rows are made again in float64 (:meth:`bound_refined`, one
        more pass over ``A``), taken where the model asks for it (after a step the held
        rows could not certify: :attr:`swamped` is then 2 where no bound is negative, 1
        without ``refine``).
    offset : (b, b_max) or None
        Rows ``z = A x - b`` (residuals, ``b_max >= max_i |b_i|``): ``refine`` subtracts
        ``b`` in float64, its rounding within the pad (``b_max`` added to the scale).
    """

    #: Whether a step the held rows' bound does not settle is 0 (and the rows made again
    #: from the next check on) even where that bound is negative, in place of a step
    #: sized from it: where the held rows' bound is far above the refined one
    #: (:class:`PowerSlope`), the step from it is far shorter than the computed slope's.
    refine_first = False

    def __init__(
        self,
        xp: Any,
        z: Any,
        u: Any,
        signs: Any,
        *,
        delta: Any,
        eps: Any,
        divisor: int,
        prior: tuple[Any, ...],
        ridge: tuple[Any, Any, Any] | None,
        refine: tuple[Any, Any, Any, float, Any, Any] | None = None,
        offset: tuple[Any, float] | None = None,
    ) -> None:
        self.xp, self.z, self.u, self.signs = xp, z, u, signs
        self.offset = offset
        self.delta, self.eps, self.divisor = delta, eps, divisor
        self.prior, self.ridge, self.refine = prior, ridge, refine
        self.swamped: Any = None
        #: Called by the loop where :attr:`swamped` is 1: the model's next checks make
        #: the rows again (``refine``).
        self.escalate: Any = None
        self.along: Any = None
        self.upper: Any = None

    def _wide(self, value: Any) -> Any:
        xp = self.xp
        if isinstance(value, (int, float)):
            return xp.full((), float(value), dtype=xp.float64, device=self.z.device)
        return xp.astype(value, xp.float64, copy=False)

    def bound_prior(self) -> Any:
        """:func:`lfso.models._slope.gradient_prior` on the device (a 0-d float64 array;
        ``inf`` where NaN)."""
        xp = self.xp
        (lead, dot, ridge), vmax, row_error, grad, xmax = self.prior
        vmax, row_error, xmax = (self._wide(v) for v in (vmax, row_error, xmax))
        wide = xp.astype(grad, xp.float64)  # (||g|| on the device: the host's may be on
        # its way; float64's sum of d squares within (d + 2) u_64 / 2 of it, padded)
        grad_norm = xp.sqrt(xp.sum(wide * wide)) * (1.0 + 2.0**-30)
        value = vmax * (lead * row_error + dot * (grad_norm + ridge * xmax)) * (1.0 + 2.0**-40)
        return xp.where(xp.isnan(value), math.inf, value)

    def bound_upper(self) -> Any:
        """``s_up >= s*`` from the held rows (module docstring), a 0-d float64 array."""
        return self._upper(self.z, self.u, self._wide(self.delta), self._wide(self.eps))

    def bound_refined(self) -> Any:
        """``s_up >= s*`` from the rows made again in float64 on the device
        (:func:`lfso.models._slope.wide_products`' blocks and pads: of float32 data each
        product exact, each row within ``gamma_{d+4}^{64} alpha ||x||_inf + (d + 2)
        eta_64``), a 0-d float64 array: one more pass over ``A``."""
        assert self.refine is not None
        xp, f64 = self.xp, self.xp.float64
        A, x, v, alpha, xmax, vmax = self.refine
        both = xp.stack([xp.astype(x, f64), xp.astype(v, f64)])
        n, dim = int(A.shape[0]), int(A.shape[1])
        blocks = [
            xp.astype(A[start : start + _BLOCK], f64) @ both.T for start in range(0, n, _BLOCK)
        ]
        rows = xp.concat(blocks) if blocks else xp.zeros((0, 2), dtype=f64)
        grow = gamma64(dim + 4) * alpha * (1.0 + 2.0**-40)
        z, scale = rows[:, 0], grow * self._wide(xmax)
        if self.offset is not None:  # (z - b: one more rounding, b_max in the scale)
            b, b_max = self.offset
            z = z - xp.astype(b, f64)
            scale = gamma64(dim + 4) * (1.0 + 2.0**-40) * (alpha * self._wide(xmax) + b_max)
        delta = _up(xp, scale + (dim + 2) * _ETA64)
        eps = _up(xp, grow * self._wide(vmax) + (dim + 2) * _ETA64)
        return self._upper(z, rows[:, 1], delta, eps)

    def _upper(self, z: Any, u: Any, delta: Any, eps: Any) -> Any:
        """The bound from rows ``z``, ``u`` within ``delta``, ``eps`` (0-d float64): the
        three sums of :meth:`_sums`, padded, divided by ``N``, the ridge's slope added,
        each operation rounded up (module docstring). Past float64's range the bound is
        ``inf`` or NaN: it states nothing."""
        xp = self.xp
        n = int(z.shape[0])
        total, wu, terms = self._sums(z, u, delta, eps)
        pad = _up(xp, _up(xp, gamma64(n + 1) * wu) + _up(xp, terms * (1.0 + gamma64(n + 10))))
        pad = pad + 32.0 * (n + 1) * _ETA64
        rows = _up(xp, _up(xp, total + pad) / float(self.divisor))
        if self.ridge is None:
            return rows
        lam, x, v = self.ridge
        f64 = xp.float64
        ridge = self._wide(lam) * xp.astype(x, f64) * xp.astype(v, f64)
        dim = int(ridge.shape[0]) if ridge.ndim else 1
        spread = _up(xp, gamma64(dim + 4) * xp.sum(xp.abs(ridge)) + 8.0 * (dim + 1) * _ETA64)
        return _up(xp, rows + _up(xp, xp.sum(ridge) + spread))

    def _sums(self, z: Any, u: Any, delta: Any, eps: Any) -> tuple[Any, Any, Any]:
        """``(sum w u, sum |w u|, T)``, 0-d float64, ``T`` the error terms ``sum (kappa
        delta + omega) (|u| + eps) + eps sum |w|`` of the logistic rows.

        As :func:`lfso.models._slope.logistic_derivative`, in fewer passes: ``m = s z``
        and ``s u`` are exact (``s = +-1``), ``|w_i| = sigma_i``, and ``kappa_i <=
        kappa'_i + k_0`` with ``kappa'_i = min(e_i G, 1/4)``, ``G = e^delta (1 + 2^-40)
        (1 + 32 u_64)`` and ``k_0 = 2 eta_64 e^delta (1 + 2^-40)`` (``min(a + b, c) <=
        min(a, c) + b``), so that the error terms are six sums: ``T = delta (sum kappa'
        |u| + eps sum kappa') + k_0 delta (sum |u| + n eps) + 32 u_64 (sum sigma |u| + eps
        sum sigma) + 8 eta_64 (sum |u| + n eps) + eps sum sigma``. Past float64's range
        (``e^delta`` overflows) the bound is ``inf`` or NaN: it states nothing."""
        xp = self.xp
        n = int(z.shape[0])
        growth = xp.exp(delta) * (1.0 + 2.0**-40)
        grow = growth * (1.0 + 32.0 * _U64)
        arrays = (z, u, self.signs, grow)
        sums = _fused.one_pass(_row_sums, *arrays) if _fused.usable(z) else None
        sums = _row_sums(xp, *arrays) if sums is None else sums
        total, wu, s_sigma, s_kappa_u, s_kappa, s_u = (sums[k] for k in range(6))
        spread = s_u + n * eps
        terms = (
            delta * (s_kappa_u + eps * s_kappa)
            + (2.0 * _ETA64) * growth * delta * spread
            + (32.0 * _U64) * (wu + eps * s_sigma)
            + (8.0 * _ETA64) * spread
            + eps * s_sigma
        )
        return total, wu, terms

    def __call__(self, slope: Any, eta: float) -> Any:
        """``s_eff`` in place of the computed slope ``slope`` (0-d, on the device), and
        :attr:`swamped` where it is 0 for want of a negative bound."""
        xp = self.xp
        s = xp.astype(slope, xp.float64)
        margin = (1.0 - 0.5 * eta) * -s
        upper = self.bound_upper()
        if self.refine is not None:  # (the least of both; NaN from one: the other)
            refined = self.bound_refined()
            upper = xp.where(upper <= refined, upper, refined)
        error = _up(xp, upper - s)
        finite = xp.isfinite(upper)
        keep = (self.bound_prior() <= 0.125 * margin) | (finite & (error < margin)) | ~(s < 0.0)
        negative = finite & (upper < 0.0)
        if self.refine_first and self.refine is None and self.escalate is not None:
            # (the held rows alone: a step of 0, and the rows made again from the next
            # check on, as the host tries them before sizing a step from s_up)
            negative = xp.zeros_like(keep)
        self.along, self.upper = s, upper
        swamped = xp.astype(~keep & ~negative, xp.float64)
        self.swamped = swamped if self.refine is None else 2.0 * swamped
        return xp.where(keep, s, xp.where(negative, upper, 0.0))


@functools.lru_cache(maxsize=16)
def _power_row_sums(p: float) -> Any:
    """``[sum w u, sum |w u|, sum |w|, sum kappa |u|, sum kappa, sum |u|]`` in float64 of
    the rows ``l(r) = |r|^(2p)`` (:meth:`PowerSlope._sums`), as a function ``(xp, r, u,
    delta)`` (one per ``p``: a compiled pass takes the exponent as a constant)."""
    m, q = 2.0 * p - 2.0, 2.0 * p
    # (the curvature's constant, past the roundings of a + delta, the power and the product)
    curv = math.nextafter(q * (q - 1.0) * (1.0 + (m + 32.0) * _U64), math.inf)

    def sums(xp: Any, r: Any, u: Any, delta: Any) -> Any:
        f64 = xp.float64
        wide = xp.astype(r, f64)
        a = xp.abs(wide)
        u64 = xp.astype(u, f64)
        au = xp.abs(u64)
        w = (q * a**m) * wide
        aw = xp.abs(w)
        kappa = curv * ((a + delta) ** m + 2.0 * _ETA64)  # (and its underflow)
        terms = (w * u64, aw * au, aw, kappa * au, kappa, au)
        return xp.stack([xp.sum(v) for v in terms])

    return sums


class PowerSlope(DeviceSlope):
    """:class:`DeviceSlope` for the rows ``l(r) = |r|^(2p)``, ``p >= 1``, of
    :class:`lfso.models.LpRegression` (``z`` the residuals ``r = A x - b``, ``N = 1``, no
    labels), the theorem of :mod:`lfso.models._slope` with
    :func:`lfso.models._slope.power_derivative`'s terms: ``w_i = 2p |r_i|^m r_i`` (``m =
    2p - 2``) within ``omega_i = 16 u_64 |w_i| + 4 (2p) eta_64`` of ``l'(r_i)``, and ``|l''|
    = 2p (2p - 1) |t|^m`` non-decreasing in ``|t|``, so at most ``kappa_i = 2p (2p - 1) (|r_i|
    + delta)^m`` on ``[r_i - delta, r_i + delta]``; here ``kappa_i`` is rounded up past the
    roundings of ``|r_i| + delta`` (``m`` ulps after the power) and of the power and
    product (a few ulps), by a relative ``(m + 32) u_64``, and ``2 eta_64`` is added to
    the power for its underflow. The error terms are six sums: ``T = delta (sum kappa |u| +
    eps sum kappa) + 16 u_64 (sum |w u| + eps sum |w|) + 4 (2p) eta_64 (sum |u| + n eps) +
    eps sum |w|``.

    ``p`` : the model's ``p``; the other parameters are :class:`DeviceSlope`'s (``signs``
    not read).
    """

    # (the held rows' kappa does not decay with |r| as the logistic rows' does: their
    # uniform pad delta, times 2p (2p - 1) sum |u|, is the bound's error, far above the
    # refined rows' near a fit; the host tries those before sizing a step from s_up)
    refine_first = True

    def __init__(self, xp: Any, z: Any, u: Any, *, p: float, **options: Any) -> None:
        super().__init__(xp, z, u, None, **options)
        self.p = float(p)

    def _sums(self, z: Any, u: Any, delta: Any, eps: Any) -> tuple[Any, Any, Any]:
        n, q = int(z.shape[0]), 2.0 * self.p
        function = _power_row_sums(self.p)
        sums = _fused.one_pass(function, z, u, delta) if _fused.usable(z) else None
        sums = function(self.xp, z, u, delta) if sums is None else sums
        total, wu, s_w, s_kappa_u, s_kappa, s_u = (sums[k] for k in range(6))
        terms = (
            delta * (s_kappa_u + eps * s_kappa)
            + (16.0 * _U64) * (wu + eps * s_w)
            + (4.0 * q * _ETA64) * (s_u + n * eps)
            + eps * s_w
        )
        return total, wu, terms
