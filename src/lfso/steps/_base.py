"""The contracts of the step rules: a rule, a direction, a certificate.

What each can do is declared here, on its abstract base, as class attributes and methods
with defaults; the loop, the registry and the rules read these declarations and never
probe an object for a method or test it for a concrete class. A user's direction or
certificate subclasses :class:`Direction` or :class:`Certificate` and plugs into
:class:`lfso.steps.CertifiedStep` with no change elsewhere.
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._validate import open_interval
from ..models import Evaluation, Model
from ._records import SizedStep, SizeInputs

__all__ = [
    "Certificate",
    "Direction",
    "GradientMismatchError",
    "Move",
    "SizeInputs",
    "SizedStep",
    "StepFailedError",
    "StepRule",
]


class StepFailedError(RuntimeError):
    """Raised by a rule that cannot find an acceptable step; the loop stops with
    ``Status.STEP_FAILED`` and returns the best point.

    ``rollbacks``: the trial steps of the failed step that were rejected and rolled back
    (counted in ``Result.rollbacks`` with those of the steps taken; 0 unless set).
    """

    rollbacks: int = 0


class GradientMismatchError(StepFailedError):
    """The safeguard found ``f`` disagreeing with its gradient along the step's direction
    (a finite difference against ``g . d``): the loop stops with
    ``Status.GRADIENT_MISMATCH`` and returns the best point."""

    #: The jump in slope of ``f`` along that direction where its one-sided differences
    #: show one (``f`` is not differentiable there: the gradient need not be wrong), else 0.
    _kink: float = 0.0


class StepStalledError(StepFailedError):
    """The rule's step is 0 from a point whose gradient is above the tolerance, and would
    be 0 at every later iteration (Polyak's step where ``f`` equals ``f*`` to rounding):
    the loop stops with ``Status.STALLED`` and returns the best point."""


@dataclass(slots=True)
class Move:
    """One proposed move ``x -> x_new``, with what it was based on.

    What a rule's :meth:`StepRule.step` returns; the rules themselves are the ``*Step``
    classes (``FixedStep``, ``ArmijoStep``, ...), hence not ``Step``.

    Attributes
    ----------
    x : array
        The new iterate.
    step : float
        The scalar ``t`` of ``x_new = x - t g``, or of ``x_new = x + t d`` for a certified
        step along a direction ``d`` (NaN if the move is not of that form).
    L, R : float
        The oracle's bound and radius used (NaN for rules without an oracle); for a step
        along ``d``, the curvature bound per unit length ``C / ||d||^2`` and the length of
        the segment it covers.
    oracle_calls : int
        Evaluations of ``L(x, R)`` spent choosing the step.
    evaluation : Evaluation or None
        The evaluation at ``x_new`` if the rule already computed it (the loop then reuses it).
    rollbacks : int
        Trial steps the rule rejected (safeguard) before this one.
    hvp_calls : int
        Hessian-vector products spent choosing the step.
    hint : float or None
        A radius at which the next step will probably ask the oracle: models that can
        (``"hint"`` in ``Model.extras``) evaluate their bound there in the same pass and
        round trip as the gradient, so that a GPU or a Dask cluster is not asked a second
        time.
    probe : array or None
        A vector whose dot product with the next gradient the rule will need: models that
        can (``"probe"``) return it with the evaluation (``probe_dot``).
    product : array or None
        The model's linear image of ``x_new`` when the rule knows it (``segment.product(t)``
        of a model with ``"product"``): the next evaluation then skips that pass. A line
        search hands on what its accepted trial's pass formed (``Model._value_product``),
        with ``value``.
    value : float or None
        ``f(x_new)`` when the rule computed it (a line search's accepted trial): the next
        evaluation then does not ask for it again where the model can skip it
        (:meth:`lfso.models.Model.evaluate_valued`).
    length : float
        ``t ||d||``, the distance moved, for a step along a direction ``d`` other than
        ``-g`` (NaN otherwise): the risk indicators compare steps along directions of
        different lengths by it.
    swamped : tuple or None
        A step sized on the device from a bound on the exact slope: ``(flag, s, s_up,
        escalate)`` (deferred scalars and a callable; ``flag`` nonzero where the step is 0
        as no bound on the exact slope was negative: 1 from the held rows, where the loop
        calls ``escalate`` and the next checks make the rows again, 2 from those, where
        it stops with ``PRECISION_LIMIT``).
    fallback : callable or None
        With ``swamped``, for a step along a direction other than ``-g``: where its flag
        is 2, the loop calls it and the rule's next step is steepest descent (the host
        path's fall back, read with the step's scalars: no round trip of its own), in
        place of stopping.
    """

    x: Any
    step: float
    L: float = math.nan
    R: float = math.nan
    oracle_calls: int = 0
    evaluation: Evaluation | None = None
    rollbacks: int = 0
    hvp_calls: int = 0
    hint: float | None = None
    probe: Any = None
    product: Any = None
    value: float | None = None
    length: float = math.nan
    swamped: Any = None
    fallback: Any = None


_ZIGZAGS = (
    "StepRule.zigzags is deprecated and will be removed in the next release; use "
    "StepRule.oscillates"
)


class StepRule(ABC):
    """How a method chooses its step. The loop (:func:`lfso._loop.run`) owns everything else.

    A rule holds its hyperparameters (validated at construction) and keeps per-run state
    explicitly: :meth:`init` creates it from the first evaluation, :meth:`step` returns
    the move and the next state. Extra function or gradient evaluations go through the
    ``objective`` passed in, so the loop counts them.

    Attributes
    ----------
    name : str
        The ``method=`` string.
    needs_bound : bool
        Whether evaluations must carry the oracle's local bound.
    monotone : bool
        The rule promises that ``f`` decreases (a rise is a risk indicator).
    gradient_step : bool
        Each move is ``x+ = x - t g`` from the previous iterate; ``False`` for accelerated
        rules, whose iterates are extrapolated points.
    certified : bool
        The ``L`` a step reports is claimed to bound the curvature on its ball (a model's
        or user's oracle), so the loop audits it; ``False`` for estimates.
    oscillates : bool
        The step length is expected to oscillate: it follows the curvature along the
        direction taken (Barzilai-Borwein, the segment certificate: like an exact line
        search, it alternates long and short on ill-conditioned problems), so the
        ``oscillation`` risk indicator does not apply. (Formerly ``zigzags``, still read
        and written with a :class:`DeprecationWarning` until the next release.)
    estimated : bool
        The step is sized by the automatic estimate (:mod:`lfso._auto`: secants of the
        gradients the run computes), which proves nothing (a certificate with
        ``proven = False``).
    max_rollbacks : int
        Trial steps the rule may reject in one iteration and still try again (the
        safeguard's): it fails at the next rejected trial, ``max_rollbacks + 1`` rejected
        in all, each counted in ``Result.rollbacks``; 0 for a rule that takes every step
        it proposes.
    host_free : bool
        A move reads nothing of its evaluation on the host (not ``value``, ``grad_norm``,
        ``probe_dot``, ``product`` or ``carried``; the gradient, an array, is free), nor
        any other host value from the device. On an accelerator the loop then takes the
        move before the evaluation's scalars have arrived and reads them after the next
        evaluation has started (see :class:`lfso._stepper.Stepper`). A rule that declares
        it and reads one anyway still runs correctly: the read waits for the scalars.
    """

    name: str = "custom"
    needs_bound: bool = False
    monotone: bool = False
    gradient_step: bool = True
    certified: bool = False
    oscillates: bool = False
    estimated: bool = False
    max_rollbacks: int = 0
    host_free: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "zigzags" in cls.__dict__ and not isinstance(cls.__dict__["zigzags"], property):
            warnings.warn(_ZIGZAGS, DeprecationWarning, stacklevel=2)
            cls.oscillates = cls.__dict__["zigzags"]
            delattr(cls, "zigzags")

    @property
    def zigzags(self) -> bool:
        """Deprecated spelling of :attr:`oscillates`."""
        warnings.warn(_ZIGZAGS, DeprecationWarning, stacklevel=2)
        return self.oscillates

    @zigzags.setter
    def zigzags(self, value: bool) -> None:
        warnings.warn(_ZIGZAGS, DeprecationWarning, stacklevel=2)
        self.oscillates = value

    def resolve(self, model: Model, auto: AutoCertificate) -> StepRule:
        """The rule fitted to ``model``, called once per run, by the registry
        (:func:`lfso._registry.settle`) before the loop reads the rule's flags: a rule whose
        certificate was left to ``"auto"`` takes ``auto(radius_rtol)``, the registry's
        choice for the model. Default: nothing to settle, the rule itself."""
        return self

    def init(self, objective: Model, x: Any, evaluation: Evaluation) -> Any:
        """Create the rule's state at the starting point (default: none)."""
        return None

    @abstractmethod
    def step(
        self, objective: Model, x: Any, evaluation: Evaluation, state: Any
    ) -> tuple[Move, Any]:
        """Choose the move from ``x`` given the evaluation there; return it and the new state."""

    def _memory(self, state: Any) -> Any:
        """The quasi-Newton memory of the run at ``state`` (``None`` at the start), read
        once, after the run: the kept L-BFGS pairs ``((s_i, y_i), ...)``, oldest first
        (``()`` where none is kept), or ``None`` for a rule that keeps none (the default)."""
        return None

    def _flat_steps(self, state: Any) -> int:
        """The steps in a row, up to the current point, whose acceptance test ``f`` passed
        on its rounding alone (``f`` lowered by no more than that): a line search at the
        rounding floor of ``f``, which the loop stops ``STALLED`` after
        :data:`lfso._result.STALL_ITERATIONS` of them. Default: 0 (the rule tests no
        decrease)."""
        return 0


class Direction(ABC):
    """How a certified rule picks ``d``; the certificate then sizes ``t`` in ``x + t d``.

    Attributes
    ----------
    steepest : bool
        ``d = -g`` always (the loop may then audit the step as a gradient step).
    on_device : bool
        ``__call__`` honours ``defer=True``: the direction is computed on the data's device
        with no host round trip (its scalars ride the next evaluation, :mod:`lfso._later`).
        The rule passes ``defer=True`` only to a direction that declares it.
    quasi_newton : bool
        ``d = -H g`` from secant pairs, built so that the unit step ``t = 1`` minimises a
        quadratic model along ``d`` (L-BFGS): the registry then lets an estimate along
        ``d`` propose that step where the model has only a ball oracle.
    host_free : bool
        With ``defer=True`` the direction reads no host value of the evaluation or of
        earlier steps (its rule is then :attr:`StepRule.host_free` with a certificate that
        sizes the step on the device).
    """

    steepest: bool = False
    on_device: bool = False
    quasi_newton: bool = False
    host_free: bool = False

    def init(self, x: Any, evaluation: Evaluation) -> Any:
        """The direction's state at the starting point (default: none)."""
        return None

    def _memory(self, state: Any) -> Any:
        """:meth:`StepRule._memory` of a rule with this direction (default: ``None``)."""
        return None

    @abstractmethod
    def __call__(
        self, x: Any, evaluation: Evaluation, state: Any, *, defer: bool = False
    ) -> tuple[Any, Any, Any, Any]:
        """``(d, g . d, ||d||, state)`` at ``x``; ``d is None`` means ``-g``. With
        ``defer=True`` (only for a direction that declares :attr:`on_device`) the two
        scalars may be :class:`~lfso._later.Later` values."""


class Certificate(ABC):
    """Sizes the step along a direction; see :mod:`lfso.steps.certificates`.

    Attributes
    ----------
    needs_bound : bool
        Evaluations must carry the model's ball bound (:meth:`needs_bound_for` refines it
        per model).
    claims_ball : bool
        The reported ``L`` bounds the gradient's Lipschitz constant on ``B(x, R)`` (so the
        loop may audit ``||g+ - g|| <= L ||x+ - x||``); false for segment bounds (which
        bound the curvature along ``d`` only) and for estimates.
    proven : bool
        The decrease is a theorem given a valid oracle; false for estimates.
    along_segment : bool
        The step is sized by the model's own bound along ``d`` (:meth:`lfso.models.Model.segment`):
        it follows the curvature along the direction.
    on_device : bool
        :meth:`size` honours ``defer=True``: it can size the step on the data's device
        with no host round trip (the scalars ride the next evaluation, :mod:`lfso._later`).
        The rule passes ``defer=True`` only to a certificate that declares it.
    by_ball : bool
        Sizes from the evaluation's ball bound, so it can take the paper's step
        ``eta / L(x, 0)`` at a stationary point (others hand that step to the ball).
    sizes_steepest : bool
        :meth:`steepest_step` is implemented: the certified step along ``-g`` by itself,
        as LFSO-accelerated needs it.
    """

    needs_bound: bool = True
    claims_ball: bool = True
    proven: bool = True
    along_segment: bool = False
    on_device: bool = False
    by_ball: bool = False
    sizes_steepest: bool = False

    def __init__(self, radius_rtol: float = 1e-3) -> None:
        self.radius_rtol = open_interval(radius_rtol, "radius_rtol", 0.0, 1.0)

    def needs_bound_for(self, model: Model) -> bool:
        """Whether evaluations of ``model`` must carry the ball bound (default:
        :attr:`needs_bound`, whatever the model)."""
        return self.needs_bound

    def init(self, objective: Model, x: Any, evaluation: Evaluation) -> Any:
        """The certificate's state at the starting point."""
        return None

    @abstractmethod
    def size(self, inputs: SizeInputs, *, defer: bool = False) -> tuple[SizedStep, Any]:
        """The certified step along ``inputs.direction`` and the next state.

        ``defer=True`` is passed only to a certificate that declares :attr:`on_device`.
        """

    def learn(
        self,
        x: Any,
        evaluation: Evaluation,
        direction: Any,
        distance: float,
        new: Evaluation,
        state: Any,
    ) -> Any:
        """A state that knows more after a trial at ``distance`` along ``direction``
        (``None``: ``-g``) was rejected, or ``None``."""
        return None

    def commit(self, sized: SizedStep, state: Any, x: Any, evaluation: Evaluation) -> Any:
        """The state after the step ``sized`` was accepted."""
        return state

    def steepest_step(
        self, objective: Model, x: Any, evaluation: Evaluation, eta: float, guess: float
    ) -> tuple[float, float, int]:
        """``(R, L, calls)`` of the certified step ``t = eta / L`` along ``-g``, with
        ``R L >= eta ||g||`` (``R``: the length the bound covers); ``guess > 0`` is a
        likely step ``t`` (the last one). Only where :attr:`sizes_steepest` is declared."""
        raise TypeError(
            f"{type(self).__name__} does not size a step along -g by itself "
            "(sizes_steepest is false)"
        )


#: What :meth:`StepRule.resolve` is given to settle ``certificate="auto"``: the registry's
#: choice for the run's model, as a function of the rule's ``radius_rtol``.
AutoCertificate = Callable[[float], Certificate]
