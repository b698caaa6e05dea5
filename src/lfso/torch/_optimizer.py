"""PyTorch integration: :class:`LFSO`, a ``torch.optim.Optimizer`` with no learning rate.

>>> import torch, lfso.torch
>>> w = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
>>> opt = lfso.torch.LFSO([w])
>>> def closure():
...     opt.zero_grad()
...     loss = (w ** 4).sum()
...     loss.backward()
...     return loss
>>> for _ in range(60):
...     _ = opt.step(closure)
>>> bool(w.abs().max() < 1e-2)
True

:class:`LFSO` is a thin adapter over the library's step rules (the method registry,
:data:`lfso.METHODS`): the parameters are flattened into one vector, the closure
becomes the model (value and gradient; it zeroes the gradients, computes the loss, calls
``backward`` and returns the loss, a tensor or a number, as for ``torch.optim.LBFGS``), and
each :meth:`LFSO.step` is one step of the rule, so every method of :func:`lfso.minimize`
(``method=``), its certificates, the safeguard (:class:`lfso.steps.Safeguarded`) and the
risk indicators of :mod:`lfso.monitor` work here unchanged. The default, ``method="lfso"``,
is LFSO gradient descent, over all parameters ``p`` at once:

.. math::  p \\leftarrow p - \\frac{\\eta}{L} \\nabla f(p),

with ``L`` the tight-radius LFSO value from

* a user oracle ``smoothness(params, R) -> float`` (``params`` is the list of tensors), or
* the automatic oracle of :mod:`lfso._auto` (always safeguarded): secant ratios of the
  gradients between steps and, when the closure calls ``loss.backward(create_graph=True)``,
  a few warm-started power iterations of Hessian-vector products by double backward
  (``torch.autograd.grad`` over the gradients), times the safety factor.

With the safeguard (on with the automatic oracle, ``safeguard=True`` otherwise) a trial
step is accepted only if ``f`` decreases as the rule claims (for LFSO-GD
``f(p+) <= f(p) - eta (1 - eta/2) ||g||^2 / L``, up to the dtype's rounding); otherwise it
is rolled back and ``L`` enlarged; after ``max_rollbacks + 1`` rejected trials the
parameters are left unchanged, with a ``RuntimeWarning`` that names a gradient the loss
disagrees with (a central difference of the loss along ``-g`` there, the check
:func:`lfso.minimize`'s run makes before it ends ``STEP_FAILED``: ``GRADIENT_MISMATCH``
then, as the run's status and :class:`GuardedOptimizer`'s reason); so are they, with
one, where the loss and its gradient are both subnormal (``1e-310 * loss`` in float64:
they have no precision left, and ``1 / L`` overflows), which a rescaled loss avoids; a
first step from a gradient of exactly 0 where the loss is not 0 and below the smallest
normal number over the epsilon of the parameters' dtype (``1e-44 * loss`` in float32: the
gradient may have underflowed) stays with a warning that says so. The
last ``L``, radius and step are :attr:`LFSO.last_L`, :attr:`LFSO.last_radius` and
:attr:`LFSO.last_step`.

Like :func:`lfso.minimize`, the optimiser keeps a :class:`lfso.History` (one row per
``step``: the loss and ``||g||`` at the parameters the step started from, the step, ``L``
and ``R`` that led there, closure calls, time and the risk bits of :mod:`lfso.monitor`),
summarises the risk indicators in :attr:`LFSO.risks` and calls ``callback`` with an
intermediate :class:`lfso.Result` after each step.

**Host round trips** (GPU synchronisations): one per closure call. The loss, ``||g||``,
the oracle audit's dot product and, with the automatic oracle, its secant distances
``||x - x_prev||`` and ``||g - g_prev||`` (computed on the device before the fetch) come
back together; a step rides the deferral of :mod:`lfso._later` over a rider list the
optimiser keeps, so what one step defers rides the next step's fetch. ``method="lfso"``
makes one per closure call (below); ``"lfso-lbfgs"`` one more per step (``g . d`` and
``||d||``, which the radius solve needs on the host before the trial point exists).
With the automatic oracle the safeguard's accepted trial is cached as the next step's
start, and the misuse checks below re-evaluate it now and then, one closure call (and one
round trip) each. Past convergence L-BFGS skips pairs whose ``s . y`` is rounding noise, at
a cost of a few more round trips each. The counts per step: ``python
benchmarks/host_syncs.py``, third table (``docs/results.md``, "The PyTorch optimiser").

Under ``torch.distributed`` (DDP averages the gradients) the loss is averaged across ranks
and a user oracle's value is the maximum over ranks, so every rank takes the same step.

**Full batch only.** The rules remember the function (secant pairs, the curvature
estimate, the safeguard's decrease test), so a closure that draws a new minibatch per call
makes the steps collapse. :class:`LFSO` checks for it cheaply: when a step starts from a
point whose loss it already knows (the accepted trial of the safeguard) with a new closure,
and at steps 1, 2, 4, 8, ... with the same one, it calls the closure again and compares;
a loss or gradient norm that differs by more than ``sqrt(eps)`` of the dtype (relative) at
the same parameters, or the ``collapse`` risk indicator, raises one
:class:`MinibatchWarning` naming the stochastic optimiser to use (or, where the loss agrees
and ``||g||`` does not, the missing ``opt.zero_grad()`` of a closure whose gradients add up).

Closure calls per step: one (at the step's start; with the safeguard, at the trial that
becomes the next step's start), plus one per rollback (and 4 to 12, the gradient's check,
where the safeguard gives up, and up to 32 more where it finds a mismatch, at shorter
lengths that would show ``f`` bending far below the check's step), plus the checks above (about
``log2 k`` over ``k`` steps with one closure; one per step when each step brings a new
closure object); the automatic oracle's first step adds one probe (and, with
Hessian-vector products, one more call at the step's start point: the probe's write
leaves autograd no graph there). The module imports torch; ``import lfso`` does not.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from .._later import Known, Later, deferring, later, riding
from .._registry import METHODS, always_guarded, build_rule
from .._result import History, Result, Status
from .._stepper import Stepper, _gradient_mismatch, callbacks_of, underflow_note
from .._validate import caller_level, integer, is_real, monitor_mode, real
from ..models import Evaluation
from ..monitor import RISKS, RiskMonitor
from ..oracles._bounds import PrecisionLimitError
from ..steps import GradientMismatchError, Move, StepFailedError, StepRule
from ..steps._base import StepStalledError
from ..steps._safeguard import Safeguarded, trial_steps
from ._closure import ClosureModel, Layout, SavedState, decoded, encoded, moved
from ._stochastic import (  # the minibatch optimiser, re-exported here
    _FOREIGN_OPTIONS,
    SkippedBatchWarning,
    StochasticLFSO,
    _check_reals,
    _first_state,
    _loss,
    _once_each,
    _refuse_complex,
    _refuse_group_options,
    _refuse_scaler,
    _split_run,
    _with_run,
    _with_state,
    _without_torch_flags,
    refuse_bad_counters,
    refuse_foreign_state,
    state_dict_groups,
)

__all__ = ["LFSO", "MinibatchWarning", "SkippedBatchWarning", "StochasticLFSO"]

#: The default method of :class:`LFSO` (see its docstring for why not ``"lfso-lbfgs"``).
DEFAULT_METHOD = "lfso"

#: What :meth:`LFSO.state_dict` saves of the run besides the rule's state: the counters
#: (``steps``: the steps taken, which schedule the misuse check) and the last step's values.
#: ``stuck``: the loss and ``||g||`` where the rule could not step from ``z`` (see _stay).
#: ``shapes``: the parameters' shapes, in order (the rule's state is of their flat point).
_RUN = (
    "nfev",
    "rollbacks",
    "nhev",
    "noracle",
    "steps",
    "last_L",
    "last_radius",
    "last_step",
    "z",
    "stuck",
    "shapes",
)

#: What :meth:`LFSO.state_dict` saves of the rule its state is of (:meth:`LFSO._identity`),
#: which :meth:`LFSO.load_state_dict` compares with its own before it loads anything.
_IDENTITY = ("method", "oracle", "rule")

_ORACLES = {
    "automatic": "the automatic oracle (no smoothness=)",
    "given": "a smoothness oracle (smoothness=)",
}


class MinibatchWarning(RuntimeWarning):
    """A full-batch optimiser is fed minibatches (or a closure that is not deterministic)."""


_USE_INSTEAD = (
    "lfso.torch.LFSO is a full-batch optimiser (its rules remember the function); for "
    "minibatches use lfso.torch.StochasticLFSO, or give the closure the full batch"
)


class _Cache(NamedTuple):
    """The evaluation at the point the parameters hold, from the last step's trial."""

    z: torch.Tensor
    evaluation: Evaluation
    loss: torch.Tensor
    versions: tuple[tuple[int, int], ...]


@dataclass
class _Run:
    layout: Layout
    model: ClosureModel
    rule: StepRule
    audit: bool = False
    cache: _Cache | None = None
    closure: Callable[[], Any] | None = None
    probe: torch.Tensor | None = None  # a vector whose dot with the next gradient is asked
    hvp_decided: bool = False
    stuck: tuple[torch.Tensor, float, float] | None = None  # where the safeguard gave up
    secants: bool = False  # the rule estimates L from secants (lfso._auto)
    underflow: bool = False  # warned of a gradient that may have underflowed to 0


class _Group(dict):  # type: ignore[type-arg]
    """A parameter group of :class:`LFSO`: a ``dict`` whose missing ``"lr"`` says why it
    is missing (a ``torch.optim.lr_scheduler`` reads it when it is made)."""

    def __missing__(self, key: Any) -> Any:
        if key == "lr":
            raise KeyError(
                "'lr': LFSO has no learning rate (its steps are certified; eta, in (0, 2), "
                "scales them), so a torch.optim.lr_scheduler has nothing to schedule; "
                "lfso.torch.StochasticLFSO, for minibatches, takes a scheduler: its 'lr' "
                "multiplies the step it sizes"
            )
        raise KeyError(key)


#: Why LFSO takes no ``lr`` (its constructor's and its groups' message).
_NO_LR = "LFSO has no learning rate: its steps are certified; eta, in (0, 2), scales them"


def _own_options(options: dict[str, Any]) -> dict[str, Any]:
    """The constructor's ``options`` without torch.optim's that LFSO has not, which are taken
    at a value that changes nothing (``maximize=False``, ``foreach=None``,
    ``weight_decay=0.0``) and refused with a ``ValueError`` that says why at another (``lr``
    at any: LFSO has no learning rate)."""
    options = _without_torch_flags("LFSO", options, others=True)
    if "lr" in options:
        raise ValueError(f"Invalid lr: {options['lr']!r} ({_NO_LR})")
    foreign = {k: v for k, v in options.items() if k in _FOREIGN_OPTIONS}
    _refuse_group_options(foreign, "LFSO", {}, where="")
    return {k: v for k, v in options.items() if k not in foreign}


def _form(rule: Any) -> str:
    """The classes of a rule and of its parts, nested (``Safeguarded(LFSOStep(
    SteepestDescent, EstimateCertificate))``): the form of the state it keeps."""
    parts = [getattr(rule, name, None) for name in ("rule", "direction", "certificate")]
    inner = [_form(part) for part in parts if part is not None]
    return type(rule).__name__ + (f"({', '.join(inner)})" if inner else "")


def _group_eta(group: dict[str, Any]) -> Any:
    """A param group's ``eta``, checked: a real number in (0, 2)."""
    if "eta" not in group:
        raise KeyError("'eta': a param group of LFSO needs its eta, a real number in (0, 2)")
    eta = group["eta"]
    _check_reals(eta=eta)
    if not 0.0 < eta < 2.0:
        raise ValueError(f"Invalid eta: {eta} (must be in (0, 2))")
    return eta


def _checked_power(value: Any) -> int | None:
    """``power_iterations`` as given: ``None``, or an integer ``>= 0`` (0: no
    Hessian-vector products; a ``TypeError`` for a float, even ``2.0``)."""
    return None if value is None else integer(value, "power_iterations", low=0)


def _subnormal(ev: Evaluation, loss: torch.Tensor, z: torch.Tensor) -> str | None:
    """Why no step can be sized from a loss and a gradient norm that are both subnormal
    (nonzero, below their dtype's smallest normal number), or ``None``. Both have lost
    precision there, and a step sized from them rounds to no step or overflows; a run
    that converges to a minimum of 0 meets a subnormal loss with a normal gradient."""
    tiny_f, tiny_g = torch.finfo(loss.dtype).tiny, torch.finfo(z.dtype).tiny
    f, gnorm = abs(ev.value), ev.grad_norm
    if not (0.0 < f < tiny_f and 0.0 < gnorm < tiny_g):
        return None
    return (
        f"the loss {ev.value:.3g} and its gradient's norm {gnorm:.3g} are subnormal, below "
        f"{loss.dtype}'s smallest normal number {tiny_f:.3g}: multiply the loss by a "
        "constant (LFSO's steps do not depend on its scale)"
    )


def _refuse_bad_counters(run: dict[str, Any]) -> None:
    """A ``ValueError`` naming the entry where a saved run's counter is not an integer >= 0,
    or its last values (``last_L``, ..., the pair ``stuck``) not numbers: they were loaded
    after the groups, with a bare error from ``int`` or ``float``."""
    refuse_bad_counters(run, ("nfev", "rollbacks", "nhev", "noracle", "steps"))
    stuck = run.get("stuck", (0.0, 0.0))
    for name, values in [(n, [run.get(n, 0.0)]) for n in _LAST] + [("stuck", stuck)]:
        try:
            [float(v) for v in values]
        except (TypeError, ValueError):
            raise ValueError(
                f"the state dict's {name!r} entry must be "
                + ("a pair of numbers" if name == "stuck" else "a number")
                + f", got {name}={run.get(name)!r}"
            ) from None


def _refuse_not_floating(optimizer: torch.optim.Optimizer) -> None:
    """A ``TypeError`` naming the first parameter of the group just added (which is taken
    back out) that is not of a floating dtype (an integer or bool tensor): the rule's point
    is one floating vector of all parameters, and such a tensor has no gradient."""
    group = optimizer.param_groups[-1]
    for j, p in enumerate(group["params"]):
        if not p.is_floating_point():
            optimizer.param_groups.pop()
            index = j + sum(len(g["params"]) for g in optimizer.param_groups)
            raise TypeError(
                f"LFSO takes floating-point parameters; parameter {index} (shape "
                f"{tuple(p.shape)}) is {p.dtype} (it has no gradient: leave it out)"
            )


_LAST = ("last_L", "last_radius", "last_step")

#: The constructor's options, which hold for all parameters (a group's eta aside).
_OWN = {"method", "smoothness", "monitor", "callback", "safeguard", "safety", "growth"}
_OWN |= {"power_iterations", "backoff", "max_rollbacks"}


def _are_shapes(shapes: Any) -> bool:
    """Whether ``shapes`` is a list (or tuple) of shapes: lists (or tuples) of integers >= 0."""
    return isinstance(shapes, (list, tuple)) and all(
        isinstance(shape, (list, tuple))
        and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        for shape in shapes
    )


class LFSO(torch.optim.Optimizer):
    """Any method of :func:`lfso.minimize` as a full-batch ``torch.optim.Optimizer``.

    See the module docstring. The default method is LFSO gradient descent
    (``method="lfso"``), not :func:`lfso.minimize`'s ``"lfso-lbfgs"``: it is the
    optimiser's documented step (``last_step = eta / last_L``, each group's ``eta`` its
    step factor), it keeps two vectors of memory where L-BFGS keeps ``2 * memory`` more
    copies of the parameters (a network's parameters, on its device), and a step costs
    no more than the gradient; ``method="lfso-lbfgs"`` is one keyword away.

    Parameters
    ----------
    params : iterable of tensors or dicts
        Parameters or parameter groups. Groups may set their own ``eta``: the rule runs on
        the rescaled variables ``z = x / sqrt(eta_group / eta_max)`` with
        ``eta = eta_max``, so a steepest-descent step moves each group by
        ``eta_group / L`` times its gradient. A user's oracle ``L(x, R)`` stays an oracle
        for ``h(z) = f(S z)``, ``S = diag(sqrt(eta_group / eta_max)) <= I``: for ``z'`` in
        ``B(z, R)``, ``S z'`` lies in ``B(S z, R)``, so ``||grad h(z) - grad h(z')|| =
        ||S (grad f(S z) - grad f(S z'))|| <= L(S z, R) ||S (z - z')|| <= L(S z, R)
        ||z - z'||``. The history's ``||g||`` is then that of ``z``. The other options
        hold for all parameters: a group that sets ``lr``, one of LFSO's options at a
        value other than the one given here, or an option of torch.optim's that LFSO does
        not have (``weight_decay``, ...) at a value that would change a step raises a
        ``ValueError``, as does an edit of a group to one of them before the next step.
    eta : float, optional
        The step factor of the certified methods, in (0, 2) (``lfso-accel``: (0, 1]);
        default 1. Not an option of the peers (``gd``, ``armijo``, ...), nor of their
        groups (a group's ``eta`` other than 1 raises a ``ValueError``).
    method : str
        A method of :data:`lfso.METHODS`: ``"lfso"`` (default), ``"lfso-lbfgs"``,
        ``"lfso-accel"`` (needs ``smoothness``), ``"gd"`` (``step=``), ``"armijo"``,
        ``"bb"``, ``"adgd"``, ``"polyak"`` (``f_star=``), ``"nesterov"``, ``"dog"``.
    smoothness : callable ``(params, R) -> float`` or float, optional
        An LFSO for the loss (``params`` is the list of tensors shaped like the
        parameters), or a number: a global Lipschitz constant of the gradient; estimated
        when omitted (the certified methods).
    safeguard : bool, optional
        Re-evaluate the closure and roll back steps that break the claimed decrease.
        Default: off with an oracle (where :func:`lfso.minimize` turns it on for a user's
        oracle: here a safeguarded step costs two more host round trips, which a GPU
        waits for; pass ``safeguard=True`` for an oracle not proven); always on with the
        automatic oracle (an estimate proves nothing).
    safety : float >= 1, optional
        Safety factor of the automatic oracle (default 2).
    growth : float > 1, optional
        The automatic oracle lets the step grow by at most this factor per step (default 2).
    power_iterations : int >= 0, optional
        Hessian-vector products per step when the gradients carry a graph (default 2;
        0: none).
    backoff : float > 1, optional
        The safeguard's factor on ``L`` per rollback (default 4).
    max_rollbacks : int >= 0, optional
        Trial steps the safeguard may reject (each rolled back) in one step and still try
        again; at the next rejected trial it gives up on the step: ``max_rollbacks + 1``
        trials rejected, each counted in :attr:`rollbacks`, as :func:`lfso.minimize`
        counts them in ``Result.rollbacks`` (default 60, the library's).
    monitor : bool, "full" or "quiet"
        Keep :attr:`history` and the risk indicators (:attr:`risks`). A row costs about
        0.3 kB of host memory (a million steps: about 300 MB); ``False`` keeps no risk
        indicators, and no history unless a ``callback`` is given. ``"full"`` and
        ``"quiet"``, which :func:`lfso.minimize` also takes, are ``True`` here (a user's
        oracle is audited either way, and the optimiser issues no ``RiskWarning``: read
        :attr:`risks`); anything else raises a ``ValueError``.
    callback : callable, optional
        ``callback(intermediate_result)`` after each step, as in :func:`lfso.minimize`
        (``x`` is ``None``: the parameters are the model's). One that raises
        ``StopIteration`` stops the optimiser, as it stops :func:`lfso.minimize`'s run
        (``CALLBACK_STOP``): that :meth:`step` returns its loss as usual, :attr:`stopped`
        turns true, and later steps leave the parameters where they are (they call the
        closure once and return its loss, as ``torch.optim.LBFGS`` does once converged),
        until :attr:`stopped` is set back to ``False``.
    **options
        The method's other options, checked by the registry (``memory=``,
        ``certificate=``, ``radius_rtol=``, ``step=``, ...): one the method does not take
        raises. torch.optim's implementation options, which code that builds optimisers
        generically passes, are accepted where they change nothing (``maximize=False``,
        ``foreach`` any, ``fused`` ``None`` or ``False``, ``capturable=False``,
        ``differentiable=False``); another value (``maximize=True``: return ``-loss`` from
        the closure instead) raises a ``ValueError`` that says why.

    Attributes
    ----------
    last_L, last_radius, last_step : float
        Of the last step (NaN before the first; ``last_L`` is ``inf`` after a step the
        safeguard gave up on).
    history : lfso.History
    nfev, rollbacks, nhev, noracle : int
        Closure calls, trial steps the safeguard rejected (and rolled back: a step it gave
        up on counts ``max_rollbacks + 1``), Hessian-vector products, oracle calls; saved
        by :meth:`state_dict` and counted on from there after :meth:`load_state_dict`.
    stopped : bool
        Whether the callback stopped the optimiser (``StopIteration``); not saved by
        :meth:`state_dict`.

    Examples
    --------
    >>> import torch, lfso.torch
    >>> w = torch.nn.Parameter(torch.tensor([3.0, -2.0], dtype=torch.float64))
    >>> opt = lfso.torch.LFSO([w], method="lfso-lbfgs")
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = (w ** 4).sum() + (w ** 2).sum()
    ...     loss.backward()
    ...     return loss
    >>> for _ in range(40):
    ...     _ = opt.step(closure)
    >>> bool(w.abs().max() < 1e-6)
    True
    """

    # Device scalars deferred by one step ride the next step's fetch (lfso._later): the
    # optimiser's own rider list and known distances, set around each step().
    _riders: list[Later]
    _known: list[Known]
    #: A callback raised StopIteration: steps leave the parameters (until set to False).
    stopped: bool = False
    #: The last step's ``t ||d||`` (:attr:`lfso.steps.Move.length`; NaN: none, or along -g).
    _last_length: float = math.nan
    #: ``torch.amp.GradScaler.step`` sets ``found_inf`` before it calls :meth:`step`, which
    #: refuses it (:func:`lfso.torch._stochastic._refuse_scaler`).
    _step_supports_amp_scaling = True

    def __init__(
        self,
        params: Iterable[Any],
        eta: float | None = None,
        *,
        method: str = DEFAULT_METHOD,
        smoothness: Callable[[list[torch.Tensor], float], float] | float | None = None,
        safeguard: bool | None = None,
        safety: float | None = None,
        growth: float | None = None,
        power_iterations: int | None = None,
        backoff: float | None = None,
        max_rollbacks: int | None = None,
        monitor: bool | str = True,
        callback: Callable[[Result], Any] | None = None,
        **options: Any,
    ) -> None:
        entry = METHODS.get(method) if isinstance(method, str) else None
        if entry is None:
            raise ValueError(f"Invalid method: {method!r} (choose from {sorted(METHODS)})")
        checks = [
            ("eta", eta, lambda v: 0.0 < v < 2.0, "must be in (0, 2)"),
            ("safety", safety, lambda v: v >= 1.0, "must be >= 1"),
            ("growth", growth, lambda v: v > 1.0, "must be > 1"),
            ("backoff", backoff, lambda v: v > 1.0, "must be > 1"),
            ("power_iterations", power_iterations, lambda v: v >= 0, "must be >= 0"),
            ("max_rollbacks", max_rollbacks, lambda v: v >= 0, "must be >= 0"),
        ]
        for name, value, ok, expect in checks:
            if value is not None:
                _check_reals(**{name: value})
            if value is not None and not ok(value):
                raise ValueError(f"Invalid {name}: {value} ({expect})")
        if eta is not None and "eta" not in entry.options:
            raise TypeError(
                f"method={method!r} takes no eta (its options: {sorted(entry.options)})"
            )
        self._smoothness_given = smoothness  # (as given: a copy is built again from it)
        if is_real(smoothness):  # a global Lipschitz constant
            lipschitz = real(smoothness, "smoothness", low=0.0, low_open=True)
            smoothness = lambda params, radius: lipschitz  # noqa: E731
        elif smoothness is not None and not callable(smoothness):
            raise TypeError(
                "smoothness must be callable as smoothness(params, R) or a positive number (a "
                f"global Lipschitz constant), got {smoothness!r}"
            )
        if smoothness is not None and not entry.needs_oracle:
            raise TypeError(f"method={method!r} uses no smoothness oracle; drop smoothness=")
        if "hvp" in options:
            raise TypeError(
                "hvp= is not an option here: Hessian-vector products come from the closure "
                "(call loss.backward(create_graph=True)); power_iterations= sets how many"
            )
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        options = _own_options(options)
        given = {
            "safeguard": safeguard,
            "safety": safety,
            "growth": growth,
            "backoff": backoff,
            "max_rollbacks": max_rollbacks,
            "power_iterations": power_iterations or None,  # 0: no Hessian-vector products
        }
        self.method, self.smoothness = method, smoothness
        self._options = {k: v for k, v in given.items() if v is not None} | options
        super().__init__(params, {"eta": 1.0 if eta is None else float(eta)})
        self._power = _checked_power(power_iterations)
        self._monitor = monitor_mode(monitor)
        self.nfev = 0
        self.last_L = self.last_radius = self.last_step = math.nan
        self._run: _Run | None = None
        # The history, the risk indicators, the counters and the intermediate results: the
        # library's stepper (lfso._stepper), one row per step; the run's model and rule
        # are set in _new_run.
        self._stepper = Stepper(None, None, method=method, monitor=self._monitor)
        self.callback, self._warned = callback, False
        self._steps = 0  # steps taken (the misuse check's schedule)
        self._gave_up: tuple[Status, int, str] | None = None  # the first give-up (_stay)
        self._last_give_up: tuple[Status, int, str] | None = None  # the latest one
        self._riders, self._known = [], []
        # (_resume_z: the flat point a loaded state dict's run held, see state_dict)
        self._start_z: torch.Tensor | None = None
        self._resume_z: torch.Tensor | None = None
        self._new_run()  # builds the rule: bad options raise here, at construction

    # -- the run: layout, model, rule ------------------------------------------------------

    def _key(self) -> tuple[tuple[int, int, float], ...]:
        """``(id, numel, eta)`` per parameter: a change rebuilds the run (host-side only)."""
        key: list[tuple[int, int, float]] = []
        for group in self.param_groups:
            self._refuse_ignored(group)  # (also an edit made between steps)
            eta = _group_eta(group)
            key.extend((id(p), p.numel(), float(eta)) for p in group["params"])
        return tuple(key)

    def _layout(self) -> Layout:
        key = self._key()
        params = [p for group in self.param_groups for p in group["params"]]
        etas = [k[2] for k in key]
        top = max(etas)
        scale = None
        if min(etas) < top:
            scale = torch.cat(
                [
                    torch.full((p.numel(),), math.sqrt(e / top), dtype=p.dtype, device=p.device)
                    for p, e in zip(params, etas, strict=True)
                ]
            )
        return Layout(params, key, top, scale)

    def _rule(self, model: ClosureModel, layout: Layout, hvp: bool) -> StepRule:
        options = dict(self._options)
        if not hvp and self.smoothness is None and METHODS[self.method].estimates:
            # (the estimate's power iterations go along Hessian-vector products, which the
            # closure's graph decides at the first step: not before)
            options.pop("power_iterations", None)
        if "eta" in METHODS[self.method].options:
            options["eta"] = layout.eta
        if hvp:
            options["hvp"] = model.hvp
        if (
            self.smoothness is not None
            and "safeguard" in METHODS[self.method].options
            and not always_guarded(self.method, options, model)
        ):
            options.setdefault("safeguard", False)  # (off with an oracle: see the docstring)
        return build_rule(self.method, options, model=model, auto=self.smoothness is None)

    def _new_run(self) -> _Run:
        layout = self._layout()
        model = ClosureModel(layout, self.smoothness)
        model.nfev = self.nfev
        run = _Run(layout, model, self._rule(model, layout, False))
        # The rule estimates L from secants (smoothness="auto", or lfso-lbfgs's estimate
        # capped by a user's ball oracle): their dot products ride the evaluations' fetches.
        run.secants = run.rule.estimated
        model.sy = run.secants and not run.rule.gradient_step
        self._run = run
        stepper = self._stepper
        stepper.use(model, run.rule)
        if self._monitor:  # (the rule's flags are final once built: it resolved the model)
            # (the risk indicators' rounding: the coarsest dtype's among the parameters)
            coarsest = max(layout.params, key=lambda p: torch.finfo(p.dtype).eps)
            stepper.watch(coarsest.detach())
            run.audit = stepper.audit
        return run

    @property
    def _saved(self) -> Any:
        """The rule's state (``None`` before the first step), kept in ``self.state`` with
        the first parameter so that it round-trips through ``state_dict``."""
        holder = self.state[self._run.layout.params[0]].get("lfso") if self._run else None
        return holder.state if isinstance(holder, SavedState) else None

    def state_dict(self) -> dict[str, Any]:  # type: ignore[override]
        """As torch's, with the rule's state as tensors, numbers, strings, lists and dicts
        (under the first parameter's ``"lfso"``), so that ``torch.load`` reads a saved one
        with its default ``weights_only=True``; and the run's counters (:attr:`nfev`,
        :attr:`rollbacks`, :attr:`nhev`, :attr:`noracle`, the steps taken) and
        :attr:`last_L`, :attr:`last_radius`, :attr:`last_step`, as numbers in the first
        parameter's state, with the flat point the next step starts from (``"z"``, as the
        rule holds it: where the parameters still hold it after :meth:`load_state_dict`,
        the run goes on from it, so a resumed run takes the uninterrupted run's steps bit for
        bit also with groups of several ``eta`` or parameters of several dtypes, where the
        point read back from the parameters can differ from it in the last bit; where the rule
        could not step from it, its loss and ``||g||`` as ``"stuck"``, so that the resumed
        run skips the steps from there that the uninterrupted one skips), and what
        the rule's state is of, as strings: the method, the oracle (``"automatic"`` or
        ``"given"``) and the rule's form (its classes, nested)."""
        out = super().state_dict()
        key, entry = _first_state(out)
        if entry is not None and isinstance(entry.get("lfso"), SavedState):
            out = _with_state(out, key, {**entry, "lfso": encoded(entry["lfso"].state)})
        stepper = self._stepper
        run: dict[str, Any] = {
            "nfev": self.nfev,
            "rollbacks": stepper.rollbacks,
            "nhev": stepper.nhev,
            "noracle": stepper.noracle,
            "steps": self._steps,
            "last_L": float(self.last_L),
            "last_radius": float(self.last_radius),
            "last_step": float(self.last_step),
            "shapes": [list(p.shape) for group in self.param_groups for p in group["params"]],
            **self._identity(),
        }
        cache = self._run.cache if self._run is not None else None
        if (
            cache is not None
            and self._run is not None
            and cache.versions == self._run.layout.versions()
        ):
            run["z"] = cache.z  # (the point the next step starts from, as the rule has it)
            stuck = self._run.stuck
            if stuck is not None and stuck[0] is cache.z:  # (a step that failed there)
                run["stuck"] = [stuck[1], stuck[2]]
        # (a step that left no state, at a stationary point: the counters alone)
        return _with_run(out, run, bare=self.nfev > 0)

    def __getstate__(self) -> dict[str, Any]:
        """For ``copy.deepcopy`` and ``pickle``: the parameter groups, the options the
        optimiser was built with and its :meth:`state_dict` (the run's model and rule hold
        the closure and autograd graphs, which neither copies); :meth:`__setstate__` builds
        the optimiser again from them, which then goes on as after :meth:`load_state_dict`
        (the same steps). The history and the risk indicators start again."""
        options = {k: v for k, v in self._options.items() if k != "power_iterations"}
        eta = self.defaults["eta"] if "eta" in METHODS[self.method].options else None
        built = {
            "eta": eta,
            "method": self.method,
            "smoothness": self._smoothness_given,
            "power_iterations": self._power,
            "monitor": self._monitor,
            "callback": self.callback,
            **options,
        }
        groups = [dict(group) for group in self.param_groups]
        return {"lfso_groups": groups, "lfso_built": built, "lfso_saved": self.state_dict()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "lfso_built" not in state:  # (torch's load_state_dict sets its state this way)
            super().__setstate__(state)
            return
        LFSO.__init__(self, state["lfso_groups"], **state["lfso_built"])
        self.load_state_dict(state["lfso_saved"])

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """As :meth:`torch.optim.Optimizer.add_param_group`; the group's dict says, when
        its ``"lr"`` is asked for (a learning-rate scheduler does), that LFSO has none. A
        group that gives ``lr``, or an option of torch.optim's that LFSO does not have
        (``weight_decay``, ...) at a value that would change a step, is refused."""
        if isinstance(param_group, dict):
            self._refuse_ignored(param_group)
        super().add_param_group(_once_each(self, param_group, "LFSO"))
        _refuse_complex(self, "LFSO")
        _refuse_not_floating(self)
        try:
            _group_eta(self.param_groups[-1])  # (checked when given, not at the next step)
        except (TypeError, ValueError):
            self.param_groups.pop()
            raise
        self.param_groups[-1] = _Group(self.param_groups[-1])

    def __repr__(self) -> str:
        """As torch's (each group's options), after the options that hold for all
        groups: the method and those given to the optimiser (``LFSO (method='gd',
        step=0.1``)."""
        given = {"smoothness": self._smoothness_given} if self.smoothness is not None else {}
        options = {"method": self.method, **given, **self._options}
        shown = ", ".join(f"{k}={v!r}" for k, v in options.items())
        return super().__repr__().replace(" (", f" ({shown}", 1)

    def _refuse_ignored(self, group: dict[str, Any]) -> None:
        """A ``ValueError`` for a group option a step would ignore: ``lr``, one of
        torch.optim's that LFSO does not have at a value that would change a step, or one of
        LFSO's own options (``safety``, ``safeguard``, ``memory``, ...), which hold for all
        parameters, at a value other than the one given to the optimiser."""
        if "lr" in group:
            raise ValueError(f"Invalid lr in a param group: {group['lr']!r} ({_NO_LR})")
        _refuse_group_options(group, "LFSO", {})
        entry = METHODS[self.method]
        if "eta" not in entry.options and group.get("eta", 1.0) != 1.0:
            raise ValueError(
                f"Invalid eta in a param group: {group['eta']!r} (method={self.method!r} "
                f"takes no eta; its options: {sorted(entry.options)})"
            )
        names = {*_OWN, *entry.options} - {"eta", "hvp"}
        for key in sorted(names.intersection(group)):
            if key not in self._options or group[key] != self._options[key]:
                raise ValueError(
                    f"Invalid {key} in a param group: {group[key]!r} (LFSO takes one {key} "
                    "for all parameters: pass it to LFSO, not per group)"
                )

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load as torch does: the groups take the saved ``eta``, and the rule is rebuilt for
        them with the saved rule state, so that the resumed run takes the uninterrupted
        run's steps; the next step re-evaluates the closure at the parameters. The run's
        counters and :attr:`last_L`, :attr:`last_radius`, :attr:`last_step` go on from the
        saved ones; a state dict without them keeps the current ones. The other options
        (``method``, ``smoothness``, ``safeguard``, ...) are the constructor's. The
        :attr:`history` and the risk indicators start again: the first step after the load
        records the row of its start point, with no row before it, so ``descent`` and
        ``oracle`` (which compare a step with the one before it) can first fire on the
        second.

        A state dict that is not LFSO's (another optimiser's), or whose rule state is of
        another method, oracle or rule form (``safeguard=``, ``certificate=``, ...) than
        this optimiser's, or whose ``eta`` this method refuses, or that was saved for
        parameters of other shapes (another model's), raises a ``ValueError`` naming what
        differs, and the optimiser stays as it was."""
        self._refuse_foreign(state_dict)
        state_dict, run = _split_run(state_dict, (*_RUN, *_IDENTITY))
        self._refuse_other_shapes(run)
        key, entry = _first_state(state_dict)
        saved = None
        if entry is not None and not isinstance(entry.get("lfso"), (SavedState, type(None))):
            saved = entry["lfso"]  # encoded (state_dict)
            own = {name: value for name, value in entry.items() if name != "lfso"}
            state_dict = _with_state(state_dict, key, own)
        groups, state = self.param_groups[:], self.state
        super().load_state_dict(state_dict)
        self.param_groups[:] = [_Group(group) for group in self.param_groups]
        try:  # the loaded groups' eta: the rule is built for them (it may refuse them)
            if self._run is not None and self._run.layout.key != self._key():
                self._new_run()
        except (TypeError, ValueError):
            self.param_groups, self.state = groups, state
            raise
        if self._run is not None:
            self._run.cache = None
            first = self._run.layout.params[0]
            if saved is not None:
                self.state[first]["lfso"] = SavedState(decoded(saved))
            holder = self.state[first].get("lfso")
            if isinstance(holder, SavedState):
                holder.state = moved(holder.state, first)
        self._resume(run)

    def _identity(self) -> dict[str, str]:
        """What the rule's state is of: the method, the oracle and the rule's form."""
        assert self._run is not None
        oracle = "automatic" if self.smoothness is None else "given"
        return {"method": self.method, "oracle": oracle, "rule": _form(self._run.rule)}

    def _refuse_foreign(self, state_dict: Any) -> None:
        """A ``ValueError`` naming what makes ``state_dict`` another optimiser's, or its rule
        state another method's, oracle's or rule form's (before anything is loaded)."""
        for i, group in enumerate(state_dict_groups(state_dict, "LFSO", "an")):
            names = sorted(group) if isinstance(group, dict) else group
            if not isinstance(group, dict) or "eta" not in group or "lr" in group:
                raise ValueError(
                    f"not an LFSO state dict: its param_groups[{i}] holds {names} (LFSO's "
                    "groups hold 'eta' and no 'lr'): it was saved by another optimiser"
                )
            _group_eta(group)
        known = {"lfso", *_RUN, *_IDENTITY}
        refuse_foreign_state(
            state_dict, known, "LFSO", "LFSO keeps 'lfso' and its run's counters", "an"
        )
        entry = _first_state(state_dict)[1] or {}
        own = self._identity()
        for name in _IDENTITY:
            if name not in entry or entry[name] == own[name]:
                continue
            theirs, ours = entry[name], own[name]
            if name == "oracle":
                theirs, ours = _ORACLES.get(theirs, repr(theirs)), _ORACLES[ours]
            else:
                theirs, ours = f"{name}={theirs!r}", f"{name}={ours!r}"
            raise ValueError(
                f"the state dict's rule state is of {theirs}, this optimiser's of {ours}: it "
                "does not apply here (build LFSO with the options it was saved with"
                + (", safeguard= and certificate= among them" if name == "rule" else "")
                + ")"
            )

    def _refuse_other_shapes(self, run: dict[str, Any]) -> None:
        """A ``ValueError`` naming both where the saved run is of parameters of other shapes
        than these (its ``shapes``; a state dict without them: its point ``z`` of another
        size): torch matches parameters by position and checks only the groups' sizes, so
        such a state dict loaded, and the next step failed deep inside on the rule's state."""
        ours = [tuple(p.shape) for group in self.param_groups for p in group["params"]]
        n = sum(math.prod(shape) for shape in ours)
        _refuse_bad_counters(run)
        shapes, z = run.get("shapes"), run.get("z")
        if shapes is not None and not _are_shapes(shapes):
            raise ValueError(
                "the state dict's 'shapes' entry must be the parameters' shapes, a list of "
                f"lists of integers >= 0 (as state_dict saves them), got shapes={shapes!r}"
            )
        if shapes is not None and [tuple(s) for s in shapes] != ours:
            saved = f"parameters of shapes {[tuple(s) for s in shapes]}"
        elif shapes is None and isinstance(z, torch.Tensor) and z.numel() != n:
            saved = f"a point of {z.numel()} elements"
        else:
            return
        raise ValueError(
            f"the state dict does not fit these parameters: it was saved for {saved}, and "
            f"this optimiser's parameters have shapes {ours} ({n} elements; it was saved for "
            "another model, or for its parameters in another order)"
        )

    def _resume(self, run: dict[str, Any]) -> None:
        """The counters and last values of a loaded state dict (those it holds)."""
        if "nfev" in run:
            self.nfev = int(run["nfev"])
            if self._run is not None:  # (the closure's model counts on from there)
                self._run.model.nfev = self.nfev
        for name in ("rollbacks", "nhev", "noracle"):
            if name in run:
                setattr(self._stepper, name, int(run[name]))
        if "steps" in run:
            self._steps = int(run["steps"])
        for name in ("last_L", "last_radius", "last_step"):
            if name in run:
                setattr(self, name, float(run[name]))
        self._last_length = math.nan  # (the history starts again: no step to compare)
        z, held = run.get("z"), self._run
        self._resume_z = None
        if isinstance(z, torch.Tensor) and held is not None:
            self._resume_z = z.to(held.layout.params[0].device)
            stuck = run.get("stuck")  # (later steps from there are skipped, as they were)
            if isinstance(stuck, (list, tuple)) and len(stuck) == 2:
                held.stuck = (self._resume_z, float(stuck[0]), float(stuck[1]))

    @property
    def callback(self) -> Callable[[Result], Any] | None:
        """Called with an intermediate :class:`lfso.Result` after each step (or ``None``)."""
        calls = self._stepper.callbacks
        return calls[0][1] if calls else None

    @callback.setter
    def callback(self, callback: Callable[[Result], Any] | None) -> None:
        # (always with the intermediate result, as minimize passes it: positionally, or to
        # a keyword-only intermediate_result; x is None, the parameters are the model's)
        calls = [] if callback is None else callbacks_of([callback])  # (checks its signature)
        self._stepper.callbacks = [("keyword" if s == "keyword" else "result", c) for s, c in calls]

    @property
    def risks(self) -> dict[str, dict[str, int]]:
        """``{indicator: {"count": n, "first": step}}`` for the risk indicators that fired."""
        risk = self._stepper.risk
        return risk.summary() if risk is not None else {}

    @property
    def history(self) -> History:
        """One row per step: the loss and ``||g||`` at the parameters it started from, the
        step, ``L`` and ``R`` that led there, closure calls, time and the risk bits."""
        return self._stepper.history

    @property
    def rollbacks(self) -> int:
        """Trial steps the safeguard rejected."""
        return self._stepper.rollbacks

    @property
    def nhev(self) -> int:
        """Hessian-vector products."""
        return self._stepper.nhev

    @property
    def noracle(self) -> int:
        """Oracle calls."""
        return self._stepper.noracle

    @property
    def _risk(self) -> RiskMonitor | None:
        return self._stepper.risk

    def start_point(self) -> list[torch.Tensor]:
        """The parameters the last step started from (tensors shaped like them)."""
        run = self._run
        if run is None or self._start_z is None:
            return [p.detach() for p in self.param_groups[0]["params"]]
        return run.layout.shaped(self._start_z)

    # -- one step --------------------------------------------------------------------------

    @torch.no_grad()
    def step(  # type: ignore[override]
        self, closure: Callable[[], Any] | None = None
    ) -> torch.Tensor:
        """One step of the rule; returns the loss at the parameters it started from.

        ``closure`` zeroes the gradients, computes the loss, calls ``backward`` (with
        ``create_graph=True`` for Hessian-vector products) and returns the loss: a tensor
        with one element, or a number (``loss.item()``, a Python or NumPy real, as
        ``torch.optim.LBFGS`` takes it), with the same steps (the rules read the loss as a
        number); ``step`` returns the loss as a tensor either way. One that leaves every
        parameter's ``.grad`` ``None`` (no ``backward``) raises a ``RuntimeError``; one that
        returns anything else, a ``TypeError`` naming it. Without a closure, or with one that
        is not callable (``opt.step(loss)``), it raises a ``RuntimeError`` saying what the
        closure must do. Called by ``torch.amp.GradScaler.step``, it raises a
        ``RuntimeError``: the scaler unscales the gradient left before the step, not the
        closure's, which the step reads.
        """
        _refuse_scaler(self)
        if not callable(closure):
            raise RuntimeError(
                "LFSO.step needs a closure that zeroes the gradients, computes the loss, calls "
                "loss.backward() and returns the loss (as torch.optim.LBFGS's), got "
                f"closure={closure!r}"
            )
        if self.stopped:  # (by the callback: the loss, and no step)
            return self._stopped_loss(closure)
        with riding(self._riders, self._known):
            return self._step(closure)

    def _stopped_loss(self, closure: Callable[[], Any]) -> torch.Tensor:
        """The closure's loss at the parameters, which a stopped optimiser leaves."""
        first = self.param_groups[0]["params"][0]
        with torch.enable_grad():
            returned = closure()
        self.nfev += 1
        if self._run is not None:
            self._run.model.nfev = self.nfev
        return _loss(returned, first).detach().reshape(())  # (a TypeError naming another)

    @torch.no_grad()
    def _arrive(self, closure: Callable[[], Any]) -> None:
        """The row of the parameters the last step left, as the next step would record it,
        without a step (the history's last row is otherwise the last step's start): its
        evaluation from the step's accepted trial where the parameters still hold it, else
        from the closure (one call, counted). For :func:`lfso.torch.pilot`'s last step."""
        run = self._run
        if run is None or self.stopped or not len(self._stepper.history):
            return
        with riding(self._riders, self._known):
            cache = run.cache
            if cache is not None and cache.versions == run.layout.versions():
                z, ev = cache.z, cache.evaluation
            else:
                run.model.closure = closure
                z = run.layout.flatten()
                run.model.holds = z
                ev = run.model.evaluate(z, bound=run.rule.needs_bound, probe=run.probe)
                self.nfev = run.model.nfev
            dot = ev.probe_dot if run.audit and ev.probe_dot is not None else None
            step, lipschitz, radius = self.last_step, self.last_L, self.last_radius
            self._stepper.arrive(z, ev, step, lipschitz, radius, dot, length=self._last_length)

    def _step(self, closure: Callable[[], Any]) -> torch.Tensor:
        run = self._run
        if run is None or run.layout.key != self._key():  # groups or etas changed
            run = self._new_run()
            self.state[run.layout.params[0]].pop("lfso", None)
        model, rule = run.model, run.rule
        model.closure = closure
        z, ev, loss = self._start(run, closure)
        self.nfev = model.nfev
        self._start_z = z
        state = self._saved
        if not run.hvp_decided:  # the first evaluation tells whether gradients carry a graph
            run.hvp_decided = True
            if self._hvp_wanted(model):
                run.rule = rule = self._rule(model, run.layout, True)
                self._stepper.rule = rule
        stepper = self._stepper
        # The row of the point this step starts from (the last step's arrival: the
        # optimiser's loop is the caller's, so a step arrives where the next one starts).
        dot = ev.probe_dot if run.audit and ev.probe_dot is not None else None
        record = bool(self._monitor) or bool(stepper.callbacks)  # (no monitor: no rows to keep)
        step, lipschitz, radius = self.last_step, self.last_L, self.last_radius
        length = self._last_length
        if not stepper.arrive(z, ev, step, lipschitz, radius, dot, record=record, length=length):
            raise ValueError(
                f"LFSO: the loss or the gradient is not finite (loss {ev.value!r}, "
                f"||g|| {ev.grad_norm!r}) at the parameters this step starts from"
            )
        if stepper.flags & RISKS["collapse"][0]:
            self._warn_collapse()
        stuck = run.stuck
        if ev.grad_norm == 0.0 or (
            stuck is not None and stuck[0] is z and stuck[1:] == (ev.value, ev.grad_norm)
        ):  # a stationary point, or where the safeguard gave up with this same function
            if stuck is not None and stuck[0] is z:  # (the next step starts from z again)
                run.cache = _Cache(z, ev, loss, run.layout.versions())
            elif self._steps == 0 and not run.underflow:  # (at the start: lfso.minimize's)
                self._warn_underflow(run, ev, z)
            self.last_step, self._last_length = 0.0, math.nan
            self._report(ev)
            return loss
        subnormal = _subnormal(ev, loss, z)
        if subnormal is not None:  # (a loss scaled far below the dtype's normal range)
            self._stay(run, z, ev, loss, PrecisionLimitError(subnormal))
            return loss
        if state is None:
            state = rule.init(model, z, ev)
            self._save(run, state)
        if run.secants:  # the estimator's next secant is to (z, g): it rides the fetches
            model.anchor = (z, ev.grad)
        stepper.state = state
        try:
            move = stepper.move()
        except StepStalledError:  # (a batch's loss at f_star: Polyak's step is 0 here)
            move = Move(z, 0.0)
        except (StepFailedError, PrecisionLimitError) as error:  # never take a bad step
            self._stay(run, z, ev, loss, error)
            return loss
        self._take(run, move, stepper.state, z, ev)
        self._report(ev)
        return loss

    def _warn_underflow(self, run: _Run, ev: Evaluation, z: torch.Tensor) -> None:
        """A warning, once, where the first step starts from a gradient of exactly 0 with
        a loss that is not 0 and small enough for it to have underflowed there (the note
        of :func:`lfso.minimize`'s result: :func:`lfso._stepper.underflow_note`)."""
        note = underflow_note(ev.value, ev.grad_norm, z)
        if note:
            run.underflow = True
            warnings.warn(
                f"LFSO: {note}; the parameters are unchanged.",
                RuntimeWarning,
                stacklevel=caller_level(),  # (the frame that called step)
            )

    def _stay(
        self,
        run: _Run,
        z: torch.Tensor,
        ev: Evaluation,
        loss: torch.Tensor,
        error: StepFailedError | PrecisionLimitError,
    ) -> None:
        """A step the rule could not take: the parameters stay at ``z``, later steps from
        the same loss and gradient are skipped, and a warning says why (to the caller of
        :meth:`step`). The first step the rule gave up on is kept in ``_gave_up``, with
        the status :func:`lfso.minimize`'s run ends with there (``STEP_FAILED``,
        ``GRADIENT_MISMATCH``, ``PRECISION_LIMIT``: no step the dtype can certify, a
        subnormal loss included), its iteration and why: the
        evidence :func:`lfso.torch.pilot` reads; the latest, a new tuple each time, in
        ``_last_give_up``, which :class:`lfso.torch.GuardedOptimizer` watches."""
        model = run.model
        # (every trial rejected: the check of the gradient lfso.minimize's run makes at
        # its best point, here the parameters the step started from)
        mismatch = None
        if getattr(error, "rollbacks", 0) and not isinstance(error, GradientMismatchError):
            mismatch = _gradient_mismatch(model, z, ev)
        with torch.no_grad():
            run.layout.write(z)
        model.holds, run.probe = z, None
        run.cache = _Cache(z, ev, loss, run.layout.versions())
        run.stuck = (z, ev.value, ev.grad_norm)
        self.nfev = model.nfev
        self.last_L, self.last_step, self.last_radius = math.inf, 0.0, math.nan
        self._last_length = math.nan
        stepper = self._stepper
        if isinstance(error, PrecisionLimitError):
            stepper.rollbacks += getattr(error, "rollbacks", 0)  # (the safeguard's trials)
            why = f"no step can be certified in this dtype here ({error})"
        elif isinstance(error, GradientMismatchError):
            why = f"the loss disagrees with its gradient ({error})"
        else:
            stepper.rollbacks += error.rollbacks  # (each rejected trial was rolled back)
            why = f"the safeguard rejected {trial_steps(error.rollbacks)}"
        if mismatch is not None:  # (the status lfso.minimize's run ends with)
            why = f"the loss disagrees with its gradient ({why}; at the parameters, {mismatch})"
            error = GradientMismatchError(why)
        if isinstance(error, GradientMismatchError) and stepper.risk is not None:
            stepper.risk.note("gradient", len(stepper.history))  # (as lfso.minimize's run)
        if isinstance(error, PrecisionLimitError):
            status = Status.PRECISION_LIMIT
        elif isinstance(error, GradientMismatchError):
            status = Status.GRADIENT_MISMATCH
        else:
            status = Status.STEP_FAILED
        self._last_give_up = (status, len(stepper.history), why)
        if self._gave_up is None:
            self._gave_up = self._last_give_up
        warnings.warn(
            f"LFSO: {why}; the parameters are unchanged, and later steps from them "
            "with the same loss and gradient are skipped (the rule would only fail "
            "again). Check the gradients (or the oracle), or the loss has reached its "
            "dtype's rounding (float64 or rescaled parameters may go further).",
            RuntimeWarning,
            stacklevel=caller_level(),  # (the frame that called step)
        )
        self._report(ev)

    def _take(self, run: _Run, move: Move, state: Any, z: torch.Tensor, ev: Evaluation) -> None:
        """The rule's move written into the parameters, with what the next step reuses:
        the evaluation at the new point, the audit's probe, the rule's state."""
        model = run.model
        run.stuck = None
        if model.holds is not move.x:
            run.layout.write(move.x)
            model.holds = move.x
        run.cache = None
        if move.evaluation is not None:
            held = model.loss if model.evaluated is move.x else None
            if held is None:
                held = torch.tensor(move.evaluation.value, dtype=z.dtype, device=z.device)
            run.cache = _Cache(move.x, move.evaluation, held, run.layout.versions())
        run.probe = move.probe
        if run.probe is None and run.audit and move.evaluation is None:
            run.probe = ev.grad  # the audit's dot product rides with the next evaluation
        self._save(run, state)
        self.nfev = model.nfev
        self.last_step, self.last_L, self.last_radius = move.step, move.L, move.R
        self._last_length = move.length
        self._steps += 1

    def _hvp_wanted(self, model: ClosureModel) -> bool:
        entry = METHODS[self.method]
        return (
            self.smoothness is None
            and entry.estimates
            and self._power != 0
            and model.graph is not None
        )

    def _save(self, run: _Run, state: Any) -> None:
        self.state[run.layout.params[0]]["lfso"] = SavedState(state)

    def _start(
        self, run: _Run, closure: Callable[[], Any]
    ) -> tuple[torch.Tensor, Evaluation, torch.Tensor]:
        """The point the step starts from, its evaluation and loss: from the last step's
        accepted trial when the parameters are untouched, else from the closure.

        Untouched: the parameters' version counters and data pointers are those the trial
        left (free to compare, on the host), which any change but an in-place one through
        ``.data`` alters (``p.data = t`` too). The misuse check re-evaluates the trial and
        compares; there the parameters are also compared with it, on the device (one pass,
        riding the evaluation's fetch), so that a change through ``.data`` is taken from
        there on, and not mistaken for a closure that draws minibatches. Comparing the
        values at every step would cost a pass and a host round trip per step: a change
        through ``.data`` between two checks is overwritten by the next step, as torch
        does not count it as a change (change parameters under ``torch.no_grad()``)."""
        cache = run.cache
        if cache is not None and cache.versions != run.layout.versions():
            cache = None  # the parameters were changed outside
        new_closure = run.closure is None or closure != run.closure
        run.closure = closure
        steps = self._steps
        check = cache is not None and (new_closure or (steps & (steps - 1)) == 0)
        if cache is not None and not check:
            return cache.z, cache.evaluation, cache.loss
        changed: Later | None = None  # (on an accelerator: known after the evaluation)
        if cache is not None:
            differs = run.layout.differs(cache.z)
            if deferring(differs):
                changed = later(differs)
            elif float(differs):  # changed through .data: read them
                cache = None
        if cache is not None:
            z = cache.z
            run.model.holds = z  # (they hold z, or are read again below: not written)
        else:  # read the parameters (they may have moved outside): they hold z already
            z = run.layout.flatten()
            resumed, self._resume_z = self._resume_z, None
            if resumed is not None and resumed.shape == z.shape and run.layout.holds(resumed):
                z = resumed  # (the loaded run's point, which the parameters hold)
            run.model.holds = z
        ev = run.model.evaluate(z, bound=run.rule.needs_bound, probe=run.probe)
        loss = run.model.loss
        assert loss is not None
        if changed is not None and changed.get():  # (through .data): start from them
            run.cache = None
            return self._start(run, closure)
        if cache is not None:
            self._compare(cache.evaluation, ev, z, run.model.unit_roundoff)
        return z, ev, loss

    def _compare(
        self, known: Evaluation, fresh: Evaluation, z: torch.Tensor, unit: float | None
    ) -> None:
        """Warn once if the closure gives another loss or gradient at the same point
        (beyond ``sqrt(eps)`` relative, ``eps`` the coarsest of ``z``'s dtype and the
        parameters' ``unit``: a float32 part of the loss may round differently per call)."""
        tol = math.sqrt(max(float(torch.finfo(z.dtype).eps), unit or 0.0))
        pairs = ((known.value, fresh.value), (known.grad_norm, fresh.grad_norm))
        for a, b in pairs:
            if not (math.isfinite(a) and math.isfinite(b)):
                return
        same = [abs(a - b) <= tol * max(abs(a), abs(b)) for a, b in pairs]
        for name, (a, b), ok in zip(("loss", "||g||"), pairs, same, strict=True):
            if ok:
                continue
            why = (
                "it does not zero the gradients, which loss.backward() adds to (call "
                "opt.zero_grad() in the closure before it), or its gradient is not "
                "deterministic"
                if same[0]  # (the same loss: a minibatch would change it too)
                else "it draws a new minibatch per call (or is not deterministic, e.g. "
                f"dropout). {_USE_INSTEAD}"
            )
            self._warn(
                f"LFSO: the closure returned {name} {a!r} and then {b!r} at the same "
                f"parameters: {why}."
            )
            return

    def _warn_collapse(self) -> None:
        """The ``collapse`` risk's warning: the safeguard is named where it is on."""
        guarded = isinstance(self._stepper.rule, Safeguarded)
        self._warn(
            "LFSO: the step collapsed by more than six orders of magnitude while the "
            "gradient did not shrink (risk 'collapse'). A closure that draws a new minibatch "
            f"per step fails this way: {_USE_INSTEAD}. With the full batch, the oracle "
            f"{'or the safeguard ' if guarded else ''}is too pessimistic here."
        )

    def _warn(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(MinibatchWarning(message), stacklevel=caller_level())

    # -- the callback ----------------------------------------------------------------------

    def _report(self, ev: Evaluation) -> None:
        """Call the callback; a ``StopIteration`` from it stops the optimiser."""
        if self._stepper.callbacks:
            try:
                self._stepper.report(None, ev, jac=None)
            except StopIteration:
                self.stopped = True
