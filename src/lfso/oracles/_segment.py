"""The segment bound ``t -> C(x, d, t)`` and its generic form (the contract:
:mod:`lfso.oracles`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

from .._arrays import to_floats
from ._bounds import LocalBound, PrecisionLimitError

__all__ = ["SegmentBound", "WrappedSegment"]

_Segment = TypeVar("_Segment", bound="SegmentBound")


class SegmentBound(LocalBound):
    """``t -> C(x, d, t)`` (see the module docstring) with ``slope`` and ``product(t)``.

    Subclasses implement :meth:`__call__` and :meth:`_fetch_slope`, or set ``_slope``
    (or leave it to be summed: :meth:`lazy_slope`).
    """

    _slope: float | None = None
    #: A proven bound on the exact slope along the segment's direction
    #: (:class:`lfso.models._slope.RowSlope`: ``prior`` and ``upper()``), where the model
    #: states one; ``None`` otherwise.
    slope_check: Any = None
    #: ``(g, d)`` whose ``g . d`` is the slope, summed when first asked for.
    _slope_of: tuple[Any, Any] | None = None

    @property
    def slope(self) -> float:
        """``g . d`` at the segment's start (fetched with the bound's statistics when it can)."""
        if self._slope is None:
            pair = self._slope_of
            self._slope = float(pair[0] @ pair[1]) if pair is not None else self._fetch_slope()
        return self._slope

    def lazy_slope(self: _Segment, pair: tuple[Any, Any] | None) -> _Segment:
        """Self, with the slope ``g . d`` summed from ``pair = (g, d)`` (host vectors) only
        when it is asked for (a host solve does not read it); ``None`` changes nothing."""
        if pair is not None:
            self._slope_of = pair
        return self

    def _fetch_slope(self) -> float:
        raise NotImplementedError

    #: Whether :meth:`product` may give an image (``False``: it gives ``None`` for every
    #: ``t``, and a step sized along the segment carries no product).
    has_product = True

    def product(self, t: float) -> Any:
        """The model's linear image of ``x + t d`` (``A x + t A d``), or ``None``."""
        return None

    @property
    def on_device(self) -> bool:
        """Whether :meth:`device_step` sizes the step on the data's device (0-d arrays, no
        host round trip) rather than by the host solve."""
        return False

    def step_for(
        self, eta: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        """``radius_for(eta * (-g . d))`` with ``g . d`` from the same round trip when possible.

        Returns ``(t, C, evaluations)`` as :meth:`radius_for` does (``t C >= target`` and
        ``C >= C(t)``: the step ``eta (-g . d) / C <= t`` is certified); ``(0.0, C(0), 1)``
        when ``d`` is not a descent direction (``g . d >= 0``). A ``g . d`` of ``-inf`` or
        NaN (a gradient past the float range) raises
        :class:`~lfso.oracles.PrecisionLimitError`: no step can be certified from it.
        """
        target = -eta * self.slope
        if not 0.0 < target < math.inf:
            if not target <= 0.0:  # (inf or NaN)
                raise PrecisionLimitError(
                    f"the slope g . d = {self.slope!r} along the segment is not finite (a "
                    "gradient past the float range): no step can be certified from it"
                )
            return 0.0, self(0.0), 1
        return self.radius_for(target, rtol=rtol, guess=guess)

    def device_step(
        self, eta: float, *, rtol: float = 1e-3, guess: Any = None, unit: Any = 1.0
    ) -> tuple[Any, Any]:
        """The certified step ``tau`` and the curvature bound ``C`` behind it, ``tau C <=
        eta (-g . d)`` and ``C`` bounding the curvature on ``[0, tau]``; ``tau = 0`` when
        ``g . d >= 0``. ``guess`` is in units of ``d / unit`` (the caller's own direction,
        of which this segment's ``d`` is ``unit`` times: a 0-d array allowed, and so is
        ``guess``, the last step still on the device); ``tau`` is in units of this
        segment's ``d``, so the move is ``x + tau d`` (the caller's step ``tau unit``,
        which may lie past the data's dtype's range where ``unit`` is large).

        Here from the host solve (:meth:`step_for`), as floats. :class:`RowSegment` picks
        them on the data's device as 0-d arrays, with no host round trip at all.
        """
        if guess is not None:
            if not isinstance(guess, (int, float)):
                guess = to_floats(guess)[0]
            guess = guess / to_floats(unit)[0]
        t, curvature, _ = self.step_for(eta, rtol=rtol, guess=guess)
        # (at most t: the quotient can round past the end of the segment C bounds)
        return (min(-eta * self.slope / curvature, t) if t > 0.0 else 0.0), curvature


class WrappedSegment(SegmentBound):
    """A segment bound given as any :class:`~lfso.oracles.LocalBound` in ``t``.

    The default segment of a model (``inner = L(x, t ||d||) ||d||^2``, the ball around ``x``
    contains the segment) and of the oracle calculus. Evaluation, Newton data and the radius
    solve are the inner bound's, so with ``d = -g`` the solve is the LFSO tight radius's.
    """

    def __init__(
        self,
        inner: LocalBound,
        *,
        grad: Any = None,
        direction: Any = None,
        slope: float | None = None,
        product: Callable[[float], Any] | None = None,
    ) -> None:
        self.inner = inner
        self.convex, self.proven = inner.convex, inner.proven
        self.monotone_rtol = inner.monotone_rtol
        self._grad, self._direction, self._slope = grad, direction, slope
        self._product = product

    def _fetch_slope(self) -> float:
        if self._grad is None:
            raise ValueError("this segment bound was built without the gradient: no slope")
        return to_floats(self._grad @ self._direction)[0]

    def __call__(self, radius: float) -> float:
        return self.inner(radius)

    def derivative(self, radius: float) -> float:
        return self.inner.derivative(radius)

    def _limit(self) -> float:
        return self.inner._limit()

    def start(self, target: float) -> float | None:
        return self.inner.start(target)

    def radius_for(
        self, target: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        return self.inner.radius_for(target, rtol=rtol, guess=guess)

    def product(self, t: float) -> Any:
        return None if self._product is None else self._product(t)
