"""Ball oracles ``L(x, R)`` and their calculus (the contract: :mod:`lfso.oracles`)."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from .._arrays import (
    as_vector,
    error_gamma,
    namespace,
    norm,
    norm_from_square,
    operator_norm,
    to_floats,
)
from .._arrays import norm as _norm  # (AffineOracle's own norm= argument shadows norm)
from .._validate import call_user, nonnegative, real, returned_scalar
from ._bounds import (
    ConstantBound,
    FunctionBound,
    LocalBound,
    check_value,
    proven_constant,
    rounded_up,
)

__all__ = [
    "AffineOracle",
    "ConstantOracle",
    "FunctionOracle",
    "LocalSmoothnessOracle",
    "ScaledOracle",
    "SumOracle",
    "ridge",
]


class LocalSmoothnessOracle(ABC):
    """Contract of an LFSO: ``at(x)`` returns the bound ``R -> L(x, R)``, a
    :class:`~lfso.oracles.LocalBound` (anything else raises a ``TypeError`` naming the
    oracle where the package uses it)."""

    @abstractmethod
    def at(self, x: Any) -> LocalBound:
        """Bind the point ``x`` and return ``R -> L(x, R)``."""

    def __call__(self, x: Any, radius: float) -> float:
        """Return ``L(x, radius)`` for a point ``x`` and a radius ``>= 0``."""
        radius = real(radius, "radius", low=0.0)
        bound = bound_at(self, as_vector(x, "x"))
        return check_value(bound(radius), radius, proven=bound.proven)

    def along(self, x: Any, direction: Any) -> LocalBound:
        """``t -> C(x, d, t)``: the curvature of ``f`` along ``[x, x + t d]`` (a segment bound).

        ``x`` and ``d`` must be finite 1-d arrays of one shape (a ``ValueError`` naming
        the argument otherwise). Default: the segment lies in ``B(x, t ||d||)``, so ``C =
        L(x, t ||d||) ||d||^2`` (``||d||`` padded by the rounding of its sum of squares).
        """
        x = self._point(x)
        direction = as_vector(direction, "direction")
        if tuple(direction.shape) != tuple(x.shape):
            raise ValueError(
                f"direction must have shape {tuple(x.shape)} (that of x), got shape "
                f"{tuple(direction.shape)}"
            )
        return self._along(x, direction)

    def _point(self, x: Any) -> Any:
        """``x`` checked: a finite 1-d array (a ``ValueError`` naming it otherwise)."""
        return as_vector(x, "x")

    def _along(self, x: Any, direction: Any) -> LocalBound:
        """:meth:`along` for a checked pair (a run's iterate and direction): no checks."""
        return self.along_within(x, direction, 0.0, 0.0)

    def along_within(self, x: Any, direction: Any, delta: float, eps: float) -> LocalBound:
        """``t -> C``: a bound on ``u^T Hess f(p + s u) u`` for ``s`` in ``[0, t]``, for every
        ``p`` within ``delta`` of ``x`` and ``u`` within ``eps`` of ``d`` (2-norms): the
        segment bound of a line known up to rounding (:class:`AffineOracle`'s inner line).

        Default: every such segment lies in ``B(x, delta + t (||d|| + eps))``, and ``||u||
        <= ||d|| + eps``, so ``C = L(x, delta + t (||d|| + eps)) (||d|| + eps)^2``.
        """
        length = rounded_up(_length(direction) + eps, 1.0)
        # (shifted, then stretched: t -> L(length t + delta); the other order shifts by
        # length * delta, short of delta for a direction shorter than 1)
        ball = bound_at(self, x).shifted(delta).stretched(length)
        return ball * rounded_up(length * length, 1.0)

    def __add__(self, other: LocalSmoothnessOracle) -> LocalSmoothnessOracle:
        """``o1 + o2``: the oracle of ``f1 + f2``; adding anything but an oracle raises."""
        return SumOracle(self, other)

    def __radd__(self, other: Any) -> LocalSmoothnessOracle:
        """``0 + o`` is ``o``, so that ``sum([o1, o2, ...])`` (which starts from the int 0)
        is the oracle of ``f1 + f2 + ...``; any other left operand that is no oracle raises
        a ``TypeError`` naming it."""
        if type(other) is int and other == 0:
            return self
        return SumOracle(other, self)  # (reached only for a left operand that is no oracle)

    def __mul__(self, factor: float) -> LocalSmoothnessOracle:
        return ScaledOracle(factor, self)

    __rmul__ = __mul__


class CheckedOracle(LocalSmoothnessOracle):
    """An oracle of this package: :meth:`at` checks ``x`` (a finite 1-d array, a
    ``ValueError`` naming it otherwise) and binds it with :meth:`_at`, which the calculus
    and the run call directly on points already checked (:func:`bound_at`)."""

    def at(self, x: Any) -> LocalBound:
        """Bind the point ``x`` (a finite 1-d array) and return ``R -> L(x, R)``."""
        return self._at(self._point(x))

    @abstractmethod
    def _at(self, x: Any) -> LocalBound:
        """:meth:`at` for a checked ``x``."""


def bound_at(oracle: LocalSmoothnessOracle, x: Any) -> LocalBound:
    """``oracle.at(x)`` for an ``x`` already checked (a run's iterate, the calculus's
    inner point): no second check of ``x`` for this package's oracles; a user's ``at``
    that returns no :class:`LocalBound` raises a ``TypeError`` naming the oracle."""
    if type(oracle).at is CheckedOracle.at:
        return oracle._at(x)  # type: ignore[attr-defined]
    return _returned_bound(oracle.at(x), oracle, "at(x)")


def along_of(oracle: LocalSmoothnessOracle, x: Any, direction: Any) -> LocalBound:
    """``oracle.along(x, d)`` for a pair already checked (as :func:`bound_at`)."""
    if type(oracle).along is LocalSmoothnessOracle.along:
        return oracle._along(x, direction)
    return _returned_bound(oracle.along(x, direction), oracle, "along(x, d)")


def _returned_bound(bound: Any, oracle: LocalSmoothnessOracle, call: str) -> LocalBound:
    """``bound`` if it is a :class:`LocalBound`, else a ``TypeError`` naming the oracle."""
    if not isinstance(bound, LocalBound):
        raise TypeError(
            f"{type(oracle).__name__}.{call} must return a lfso.oracles.LocalBound (the "
            "bound R -> L; wrap a function of R as lfso.oracles.FunctionBound(function)), "
            f"got {bound!r:.60} ({type(bound).__name__})"
        )
    return bound


class ConstantOracle(CheckedOracle):
    """``L(x, R) = L``: a global Lipschitz constant of the gradient (classical GD's 1/L)."""

    def __init__(self, lipschitz: float) -> None:
        self.lipschitz = real(lipschitz, "lipschitz", low=0.0, low_open=True)

    def _at(self, x: Any) -> LocalBound:
        return ConstantBound(self.lipschitz)

    def along_within(self, x: Any, direction: Any, delta: float, eps: float) -> LocalBound:
        length = rounded_up(_length(direction) + eps, 1.0)  # (||u||; the point is free)
        return ConstantBound(rounded_up(self.lipschitz * length * length, 2.0))


class SumOracle(CheckedOracle):
    """``L(x, R) = L_1(x, R) + L_2(x, R)`` for ``f = f_1 + f_2`` (triangle inequality)."""

    def __init__(self, *terms: LocalSmoothnessOracle) -> None:
        if not terms:
            raise TypeError("SumOracle needs at least one term (the oracles of f1, f2, ...)")
        for term in terms:
            if not isinstance(term, LocalSmoothnessOracle):
                raise TypeError(
                    "each term of an oracle sum must be a LocalSmoothnessOracle (o1 + o2 is "
                    "the oracle of f1 + f2; for L(x, R) + c add lfso.oracles.ConstantOracle(c)), "
                    f"got {term!r} ({type(term).__name__})"
                )
        self.terms = terms

    def _at(self, x: Any) -> LocalBound:
        bound = bound_at(self.terms[0], x)
        for term in self.terms[1:]:
            bound = bound + bound_at(term, x)
        return bound

    def along_within(self, x: Any, direction: Any, delta: float, eps: float) -> LocalBound:
        bound = self.terms[0].along_within(x, direction, delta, eps)
        for term in self.terms[1:]:
            bound = bound + term.along_within(x, direction, delta, eps)
        return bound


class ScaledOracle(CheckedOracle):
    """``L(x, R) = c L_f(x, R)`` for ``c f`` with ``c > 0``."""

    def __init__(self, factor: float, oracle: LocalSmoothnessOracle) -> None:
        factor = real(factor, "scaling factor", low=0.0, low_open=True)
        self.factor, self.oracle = factor, _check_oracle(oracle, "oracle")

    def _at(self, x: Any) -> LocalBound:
        return bound_at(self.oracle, x) * self.factor

    def along_within(self, x: Any, direction: Any, delta: float, eps: float) -> LocalBound:
        return self.oracle.along_within(x, direction, delta, eps) * self.factor


class AffineOracle(CheckedOracle):
    """LFSO of ``g(x) = f(A x + b)`` from an LFSO of ``f``.

    .. math::  L_g(x, R) = \\|A\\|^2 \\, L_f(z, \\|A\\| R + \\delta),

    since ``||A(y - x)|| <= ||A|| R`` keeps ``Ay + b`` in ``B(Ax + b, ||A|| R)`` and
    ``||A^T (u - v)|| <= ||A|| ||u - v||``. Rounding: ``f``'s bound is taken at the computed
    ``z = fl(Ax + b)``, within ``delta`` of the exact ``Ax + b`` (so ``B(Ax + b, ||A|| R)``
    lies in ``B(z, ||A|| R + delta)``): entrywise ``|z_i - (a_i^T x + b_i)| <= gamma_{d+1}
    (|a_i|^T |x| + |b_i|)`` plus ``(d + 1)`` smallest subnormals for gradual underflow
    (Higham, Lemma 3.1), hence ``delta = gamma_{d+4} ||w|| + sqrt(m) (d + 2) eta`` with
    ``w = |A| |x| + |b|``, whose norm is at most ``sqrt(min(m, d)) ||A|| ||x|| + ||b||``
    (``|| |A| || <= ||A||_F``; each norm padded by its own rounding and underflow, ``||b||``
    once, at construction, in float64). Where ``delta`` is past the float range (``A x``
    overflows, or ``||A||_F ||x||`` does), the bound is ``inf``: a
    :class:`~lfso.oracles.PrecisionLimitError` where a step is sized from it.

    Parameters
    ----------
    oracle : LocalSmoothnessOracle
        Oracle of the outer function ``f``.
    A : array, shape (m, d)
    b : array, shape (m,), optional
    norm : float, optional
        An upper bound on ``||A||_2`` if already known; computed otherwise. A value below
        ``max_i ||a_i||`` or ``||A||_F / sqrt(min(n, d))`` raises, and so does one whose
        square overflows float64 (above ``1.34e154``).
    """

    def __init__(
        self, oracle: LocalSmoothnessOracle, A: Any, b: Any = None, *, norm: float | None = None
    ) -> None:
        from .._validate import data_matrix, data_vector, matrix_norm

        xp, A = data_matrix(A, "A")
        if b is not None:
            b = data_vector(b, "b", xp, int(A.shape[0]), rows_of=A)
        self.oracle, self.A, self.b = _check_oracle(oracle, "oracle"), A, b
        dim = getattr(oracle, "dim", None)  # (a model of known dimension: its input)
        if isinstance(dim, int) and dim != int(A.shape[0]):
            raise ValueError(
                f"A must have {dim} rows (the dimension of the outer model "
                f"{type(oracle).__name__}, which it maps into), got shape {tuple(A.shape)}"
            )
        self.norm = matrix_norm(norm, A) if norm is not None else operator_norm(A)
        # || |A| ||_2 <= ||A||_F <= sqrt(min(m, d)) ||A||_2, and ||b|| summed in float64
        # and padded by that sum's rounding: the inner point's error bound (class
        # docstring) with no pass over |A| at each point
        m, d = int(A.shape[0]), int(A.shape[1])
        wide = None if b is None else xp.astype(b, xp.float64)
        b_norm = 0.0 if wide is None else _norm(wide) * (1.0 + error_gamma(m + 4, wide.dtype))
        self._sizes = (math.sqrt(min(m, d)) * self.norm, b_norm)

    def _at(self, x: Any) -> LocalBound:
        inner = self._inner(x)
        delta = self._inner_error(x, inner)
        if not delta < math.inf:  # (A x + b, or its error bound, past the float range:
            return proven_constant(math.inf)  # the bound inf, a precision limit)
        # (shifted, then stretched: R -> L_f(||A|| R + delta); the other order shifts by
        # ||A|| delta, short of delta where ||A|| < 1)
        bound = bound_at(self.oracle, inner).shifted(delta).stretched(self.norm)
        return bound * (self.norm**2)

    def _inner_error(self, x: Any, inner: Any, b_norm: float | None = None) -> float:
        """``delta >= ||fl(Ax + b) - (Ax + b)||`` for the computed ``inner`` (class
        docstring), with ``||w|| <= ||A||_F ||x|| + ||b||``, each norm padded by its own
        rounding and underflow (``b_norm=0``: of the product ``A x`` alone)."""
        xp = namespace(inner)
        m, d = int(self.A.shape[0]), int(self.A.shape[1])
        finfo = xp.finfo(inner.dtype)
        tiny, eta = float(finfo.smallest_normal), float(finfo.smallest_normal * finfo.eps)
        frobenius = self._sizes[0]
        b_norm = self._sizes[1] if b_norm is None else b_norm
        x_norm = float(norm(x)) * (1.0 + error_gamma(d + 4, inner.dtype))
        x_norm += math.sqrt(2.0 * d * tiny)  # (the squares' underflow)
        size = (frobenius * x_norm + b_norm) * (1.0 + 2.0**-50) + math.sqrt(2.0 * m * tiny)
        return error_gamma(d + 4, inner.dtype) * size + math.sqrt(m) * (d + 2) * eta

    def along_within(self, x: Any, direction: Any, delta: float, eps: float) -> LocalBound:
        """``g``'s curvature along ``u`` at ``p`` is ``f``'s along ``A u`` at ``A p + b``:
        ``f``'s segment bound (:meth:`LocalSmoothnessOracle.along_within`) along the
        computed ``fl(A d)`` from the computed ``fl(A x + b)``, within their rounding
        (:meth:`_inner_error`, of ``A d`` without ``b``) plus ``||A|| delta`` and ``||A||
        eps`` (``||A (p - x)|| <= ||A|| ||p - x||``), each sum rounded up."""
        inner = self._inner(x)
        _check_length(direction, "direction", int(self.A.shape[1]))
        with np.errstate(over="ignore", invalid="ignore"):  # (past the range: the bound inf)
            image = self.A @ direction
        point = rounded_up(self._inner_error(x, inner) + self.norm * delta, 2.0)
        line = rounded_up(self._inner_error(direction, image, 0.0) + self.norm * eps, 2.0)
        if not (point < math.inf and line < math.inf):  # (as at(x): the bound inf)
            return proven_constant(math.inf)
        return self.oracle.along_within(inner, image, point, line)

    def _inner(self, x: Any) -> Any:
        """``A x + b``, for an ``x`` of ``A``'s column count (checked: a bare NumPy
        error otherwise)."""
        _check_length(x, "x", int(self.A.shape[1]))
        # (A x + b past the float range is the bound inf, a PrecisionLimitError where a
        # step is sized from it: reported there, not as NumPy's overflow warning)
        with np.errstate(over="ignore", invalid="ignore"):
            inner = self.A @ x
            if self.b is not None:
                inner = inner + self.b
        return inner


class FunctionOracle(CheckedOracle):
    """Wrap a user's ``smoothness(x, R) -> float``; every value is checked when used."""

    def __init__(self, function: Callable[[Any, float], float]) -> None:
        if not callable(function):
            raise TypeError(f"smoothness must be callable as smoothness(x, R), got {function!r}")
        self.function = function

    def _at(self, x: Any) -> LocalBound:
        function = self.function
        xp = namespace(x)

        def bound(radius: float) -> Any:
            # (its own copy of x, as fun and grad get: see lfso.models.FunctionModel)
            value = call_user(function, "smoothness(x, R)", xp.asarray(x, copy=True), radius)
            return returned_scalar(value, "smoothness(x, R)")

        return FunctionBound(bound)


def _length(direction: Any) -> float:
    """An upper bound on ``||d||`` in one round trip (overflow-safe): the computed norm
    padded by its sum of squares' rounding, ``gamma_{n+4}`` (as :meth:`lfso.models.Model.
    segment` pads it; the square root's rounding is inside that margin)."""
    sq = to_floats(direction @ direction)[0]
    n = int(direction.shape[0])
    return norm_from_square(sq, direction) * (1.0 + error_gamma(n + 4, direction.dtype))


def ridge(oracle: LocalSmoothnessOracle, l2: float) -> LocalSmoothnessOracle:
    """Oracle of ``f(x) + (l2 / 2) ||x||^2``: adds ``l2`` (the ridge term's Hessian is ``l2 I``)."""
    l2 = nonnegative(l2, "l2")
    return oracle if l2 == 0.0 else oracle + ConstantOracle(l2)


def _check_length(x: Any, name: str, length: int) -> None:
    """A ``ValueError`` naming ``name`` unless ``x`` has shape ``(length,)``."""
    shape = tuple(getattr(x, "shape", ()))
    if shape != (length,):
        raise ValueError(
            f"{name} must have shape ({length},) (the columns of AffineOracle's A), "
            f"got shape {shape}"
        )


def _check_oracle(oracle: Any, name: str) -> LocalSmoothnessOracle:
    if not isinstance(oracle, LocalSmoothnessOracle):
        raise TypeError(f"{name} must be a LocalSmoothnessOracle, got {type(oracle).__name__}")
    return oracle
