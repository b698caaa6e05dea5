"""The records a certificate reads and returns (:class:`SizeInputs`, :class:`SizedStep`).

(Their annotations are evaluated, not postponed, so that the documentation tools can read
the generated constructors' signatures.)
"""

from collections.abc import Callable
from typing import Any, NamedTuple

from ..models import Evaluation

__all__ = ["SizeInputs", "SizedStep"]


class SizedStep(NamedTuple):
    """A certified step along ``d``: ``x + t d`` with ``C = curvature ||d||^2``."""

    t: float
    curvature: float  # C / ||d||^2, reported as L
    radius: float  # t_max ||d||: the segment the bound covers, reported as R
    calls: int  # bound evaluations spent
    hint: float | None = None  # a radius for the model to bound with the next gradient
    product: Callable[[float], Any] | None = None  # t -> the model's image of x + t d
    hvp_calls: int = 0
    #: Where ``t`` is not the root ``eta (-g . d) / C`` (an estimate's step along a
    #: quasi-Newton direction): the curvature per unit length ``c`` of the claimed
    #: decrease ``max(t (-g . d) - t^2 c ||d||^2 / 2, 0)``.
    claim: float | None = None
    #: A step sized on the device (``t`` a :class:`~lfso._later.Later`): ``(tau, v)`` with
    #: ``v = 2^k d`` (``d`` scaled by a power of two, the vector the bound was taken
    #: along) and ``tau`` the 0-d step along it, ``t = tau 2^k``; the move is ``x + tau v``
    #: and ``product`` takes ``tau``.
    along: tuple[Any, Any] | None = None
    #: A bound ``e >= s* - g . d`` on how far the exact slope ``s* = grad f(x) . d`` may
    #: exceed the computed one (:mod:`lfso.models._slope`): the claimed decrease is the
    #: descent lemma's less ``t e`` (0: none stated).
    slope_error: float = 0.0
    #: Where the step was sized from an upper bound on the exact slope in place of ``g .
    #: d`` (the gradient's rounding near its slope): that bound (``None``: ``g . d``).
    slope: float | None = None
    #: A step sized on the device from a bound on the exact slope
    #: (:class:`lfso.models._device_slope.DeviceSlope`): ``(swamped, s, s_up, escalate)``,
    #: riders and the check's ``escalate`` (``swamped`` nonzero where no bound was
    #: negative and the step is 0: 1 from the held rows, 2 from the rows made again).
    swamped: tuple[Any, Any, Any, Any] | None = None


class SizeInputs(NamedTuple):
    """Everything :meth:`Certificate.size` reads: one record, built once per sizing.

    Attributes
    ----------
    objective : Model or None
        The (counted) objective, for certificates that evaluate along ``d``; ``None`` when
        a rule re-sizes from what it already holds (after a rejected trial).
    x : array
        The iterate.
    evaluation : Evaluation
        The evaluation at ``x``.
    direction : array or None
        ``d`` (``None``: ``-g``).
    slope : float
        ``g . d`` (a :class:`~lfso._later.Later` when the direction deferred it).
    length : float
        ``||d||`` (likewise).
    eta : float
        The rule's ``eta``: the step solves ``t C(t) = eta (-g . d)``.
    state : object
        The certificate's state.
    """

    objective: Any
    x: Any
    evaluation: Evaluation
    direction: Any
    slope: Any
    length: Any
    eta: float
    state: Any
