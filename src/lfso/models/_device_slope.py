"""The exact-slope check of :mod:`lfso.models._slope` on the data's device (PyTorch tensors
on the device path), with no host round trip.

On the device path the step is sized on the device from the computed slope ``s = g . v``
(:meth:`lfso.oracles.SegmentBound.device_step`); :class:`DeviceSlope` takes the place of
``s`` there by a 0-d float64 array ``s_eff`` chosen on the device, as
:func:`lfso.steps._certificates._checked_slope` chooses on the host:

* ``s`` where the a-priori bound ``e_0 >= |s* - s|`` (:func:`lfso.models._slope.
  gradient_prior`, here from 0-d arrays) is at most an eighth of ``(1 - eta/2) |s|``, or
  where the held rows' bound ``s_up >= s*`` (:class:`lfso.models._slope.RowSlope`'s
  theorem) gives ``s_up - s < (1 - eta/2) |s|``, or where ``s_up`` is not finite (it
  states nothing, as on the host);
* else ``s_up`` where it is negative (the step ``tau = eta (-s_up) / C`` descends in
  exact arithmetic: ``_checked_slope``'s docstring);
* else 0: the step is 0, and :attr:`swamped` (a 0-d array, 1 there) tells the loop, which
  stops with :attr:`lfso.Status.PRECISION_LIMIT` and :func:`swamped_message`'s message
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

Cost. One pass of about twenty float64 operations over the rows and four sums per
iteration, all on the device; nothing is fetched (the choice is ``where``). Where the
a-priori bound suffices the result is ``s`` itself, bit for bit: the run's iterates are
those of the unchecked step.
"""

from __future__ import annotations

import math
from typing import Any

from ._slope import _ETA64, _QUARTER, _U64, gamma64

__all__ = ["DeviceSlope", "swamped_message"]

#: Rows per block of :meth:`DeviceSlope.bound_refined` (a float64 copy of that many rows).
_BLOCK = 1 << 15
#: A relative round-up of one float64 operation (above ``u_64 / (1 - u_64)``).
_UP = 2.0**-50


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
    prior : (constants, vmax, row_error, grad_norm, xmax)
        :func:`lfso.models._slope.gradient_prior`'s arguments (floats or 0-d arrays).
    ridge : (lam, x, v) or None
        ``lam`` a float or an array of the ridge's weights, ``x`` the point, ``v`` the
        direction; its slope ``sum_j lam_j x_j v_j`` is added.
    refine : (A, x, v, alpha, xmax, vmax) or None
        The data (``alpha >= max_i ||a_i||_1``), the point and the direction and their
        largest entries: the rows are made again in float64 (:meth:`bound_refined`, one
        more pass over ``A``), taken where the model asks for it (after a step the held
        rows could not certify: :attr:`swamped` is then 2 where no bound is negative, 1
        without ``refine``).
    """

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
    ) -> None:
        self.xp, self.z, self.u, self.signs = xp, z, u, signs
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
        (lead, dot, ridge), vmax, row_error, grad_norm, xmax = self.prior
        vmax, row_error, xmax = (self._wide(v) for v in (vmax, row_error, xmax))
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
        delta = _up(xp, grow * self._wide(xmax) + (dim + 2) * _ETA64)
        eps = _up(xp, grow * self._wide(vmax) + (dim + 2) * _ETA64)
        return self._upper(rows[:, 0], rows[:, 1], delta, eps)

    def _upper(self, z: Any, u: Any, delta: Any, eps: Any) -> Any:
        xp, f64 = self.xp, self.xp.float64
        z, u = xp.astype(z, f64), xp.astype(u, f64)
        s64 = xp.astype(self.signs, f64)
        n = int(z.shape[0])
        # logistic_derivative, elementwise on the device
        m = s64 * z
        e = xp.exp(-xp.abs(m))
        sigma = xp.where(m >= 0.0, e, 1.0) / (1.0 + e)
        w = -s64 * sigma
        growth = xp.exp(delta) * (1.0 + 2.0**-40)
        kappa = xp.minimum((e * (1.0 + 16.0 * _U64) + 2.0 * _ETA64) * growth, _QUARTER)
        kappa = xp.where((growth < 1e300) & (delta < 690.0), kappa, _QUARTER)
        omega = 32.0 * _U64 * sigma + 8.0 * _ETA64
        au, aw = xp.abs(u), xp.abs(w)
        total = xp.sum(w * u)
        wu = xp.sum(aw * au)
        terms = xp.sum((kappa * delta + omega) * (au + eps)) + eps * xp.sum(aw)
        terms = _up(xp, terms)  # (the sum of the two sums, the product by eps)
        pad = _up(xp, _up(xp, gamma64(n + 1) * wu) + _up(xp, terms * (1.0 + gamma64(n + 10))))
        pad = pad + 32.0 * (n + 1) * _ETA64
        rows = _up(xp, _up(xp, total + pad) / float(self.divisor))
        if self.ridge is None:
            return rows
        lam, x, v = self.ridge
        ridge = self._wide(lam) * xp.astype(x, f64) * xp.astype(v, f64)
        dim = int(ridge.shape[0]) if ridge.ndim else 1
        spread = _up(xp, gamma64(dim + 4) * xp.sum(xp.abs(ridge)) + 8.0 * (dim + 1) * _ETA64)
        return _up(xp, rows + _up(xp, xp.sum(ridge) + spread))

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
        keep = (self.bound_prior() <= 0.125 * margin) | ~finite | (error < margin) | ~(s < 0.0)
        negative = upper < 0.0
        self.along, self.upper = s, upper
        swamped = xp.astype(~keep & ~negative, xp.float64)
        self.swamped = swamped if self.refine is None else 2.0 * swamped
        return xp.where(keep, s, xp.where(negative, upper, 0.0))
