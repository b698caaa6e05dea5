"""Oracles: bounds on the smoothness of ``f`` on a ball or along a segment, and their calculus.

Ball oracles
------------
An LFSO for ``f`` is a map ``(x, R) -> L(x, R) > 0`` such that

.. math::  \\|\\nabla f(y) - \\nabla f(z)\\| \\le L(x, R) \\, \\|y - z\\|
           \\quad \\text{for all } y, z \\in B(x, R),

and ``R -> L(x, R)`` is non-decreasing (Berahas, Roberts & Roosta, "Non-Uniform
Smoothness for Gradient Descent", TMLR 2024, Definition 2.1). For twice-differentiable
``f`` on a convex ball, the smallest such constant is ``sup_{y in B(x,R)} ||Hess f(y)||``,
which every bound below over-estimates.

An oracle binds a point once with :meth:`LocalSmoothnessOracle.at`, which returns a
:class:`LocalBound` that is cheap to evaluate at any radius. Calling the
oracle ``oracle(x, R)`` is shorthand for ``oracle.at(x)(R)``.

The calculus (each rule's proof is one line):

* :class:`ConstantOracle` -- a global Lipschitz constant is an LFSO.
* ``o1 + o2`` (:class:`SumOracle`) -- ``grad (f1 + f2)`` is ``(L1 + L2)``-Lipschitz on the ball.
* ``c * o`` (:class:`ScaledOracle`) -- ``grad (c f) = c grad f``.
* :class:`AffineOracle` -- for ``g(x) = f(Ax + b)``, ``y in B(x, R)`` maps into
  ``B(Ax + b, ||A|| R)`` and ``grad g(y) = A^T grad f(Ay + b)``, so
  ``L_g(x, R) = ||A||^2 L_f(Ax + b, ||A|| R)``.
* :func:`ridge` -- adds ``lam ||x||^2 / 2``, whose gradient is ``lam``-Lipschitz.

Segment bounds (:meth:`LocalSmoothnessOracle.along`, ``t -> C(x, d, t)``, see
below) follow the same calculus: a constant ``L`` gives ``L ||d||^2``; a sum
the sum (the slopes of the directional derivatives add); ``c f`` gives ``c C``; and for
``g(x) = f(Ax + b)``, ``grad g(x + s d) . d = grad f(Ax + b + s A d) . (A d)``, so ``g``'s
segment bound along ``d`` is ``f``'s along ``u = A d`` at ``Ax + b`` -- exact, no ``||A||``.
In floating point ``Ax + b`` and ``A d`` are computed, within a bound of their rounding:
``f``'s segment is then that of a line known up to those bounds
(:meth:`LocalSmoothnessOracle.along_within`: exact for ``PowerNorm``, padded for a
constant, passed on by sums, scalings and affine maps, the ball widened by both for any
other oracle). An oracle without a segment rule (a plain callable) gives the ball's
``L(x, t ||d||) ||d||^2`` (the segment lies in that ball; ``||d||`` padded by its
rounding).

Bounds at one point
-------------------
:class:`LocalBound` is ``R -> L(x, R)`` at a bound point (:class:`ConstantBound`,
:class:`FunctionBound`), with the radius solve ``R L(x, R) = target`` that sizes a step;
a bound that breaks its contract raises :class:`OracleError`, and one whose value leaves
the float range :class:`PrecisionLimitError`.

Segment bounds
--------------
A segment bound at a point ``x`` and a direction ``d`` is a map ``t -> C(t)``, positive and
non-decreasing in ``t >= 0``, with

.. math::  \\varphi(s') - \\varphi(s) \\le C(t) \\, (s' - s)
           \\quad \\text{for } 0 \\le s \\le s' \\le t, \\qquad
           \\varphi(s) = \\nabla f(x + s d) \\cdot d,

i.e. an upper bound on the slope of the directional derivative along the segment (for
``C^2`` ``f``: ``C(t) >= sup_{s in [0, t]} d^T H(x + s d) d``; negative curvature needs no
bound). Integrating twice gives the descent lemma along ``d``,

.. math::  f(x + t d) \\le f(x) + t \\, g \\cdot d + \\tfrac{t^2}{2} C(t),

so the step ``t C(t) = eta (-g . d)`` is certified:
``f(x + t d) <= f(x) - eta (1 - eta/2) (g . d)^2 / C(t)``. A segment bound is a
:class:`LocalBound` in the variable ``t``: ``radius_for(eta * (-g . d))``
returns ``(t, C, evaluations)`` with ``t C >= target`` and ``C >= C(t)`` (``C = C(t)`` from
the generic solves; a row segment may return an infeasible trial ``t`` with the inflated
``C = target / t``, equally valid), and the step rule moves by ``tau = eta (-g . d) / C <=
t``, inside the certified segment, with the guarantee above for ``C``.

Any ball oracle gives one (:class:`WrappedSegment` of ``L(x, t ||d||) ||d||^2``, the
default of :meth:`lfso.models.Model.segment`); the built-in models give sharp ones
(a row segment: ``C(t) = sum_i sup_{s <= t} l_i''(r_i + s u_i) u_i^2`` from
``u = A d``, O(n) per ``t``, several ``t`` per host round trip; a norm-path segment:
``||y||^(2p)`` along a line, O(1) per ``t`` after one round trip).

Every segment bound also has ``slope`` (``g . d``, fetched together with the bound's own
statistics) and ``product(t)`` (the model's linear image of ``x + t d`` for the next
evaluation, ``None`` when the model has none).
"""

from ._ball import (
    AffineOracle,
    ConstantOracle,
    FunctionOracle,
    LocalSmoothnessOracle,
    ScaledOracle,
    SumOracle,
    ridge,
)
from ._bounds import ConstantBound, FunctionBound, LocalBound, OracleError, PrecisionLimitError
from ._segment import SegmentBound, WrappedSegment

__all__ = [
    "AffineOracle",
    "ConstantBound",
    "ConstantOracle",
    "FunctionBound",
    "FunctionOracle",
    "LocalBound",
    "LocalSmoothnessOracle",
    "OracleError",
    "PrecisionLimitError",
    "ScaledOracle",
    "SegmentBound",
    "SumOracle",
    "WrappedSegment",
    "ridge",
]
