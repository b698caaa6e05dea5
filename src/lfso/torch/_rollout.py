"""PyTorch: LFSO in charge, the optimiser used today as the fallback, switched automatically.

:class:`GuardedOptimizer` holds an :class:`lfso.torch.LFSO` and the user's existing
optimiser (SGD, Adam, ...) over the same parameters. Each ``step(closure)`` goes to LFSO
until a risk indicator of its history (:mod:`lfso.monitor`; the thresholds of
:data:`lfso.rollout.DEFAULT_THRESHOLDS`) trips, the loss rises above the best by more
than ``divergence`` times the progress, the gradient is not finite, the smoothness oracle
breaks its contract (:class:`lfso.OracleError`, as in :func:`lfso.rollout.guarded_minimize`),
or LFSO's safeguard gives up on a step (every trial step rejected, the loss disagreeing
with its gradient, or no step the dtype can certify: LFSO would stay put); then the best
parameters seen are restored and every later step goes to the fallback. ``history`` is
one history of both stages, ``handover`` says when and why. The module imports torch;
``import lfso`` does not.

>>> import torch, lfso.torch, lfso.torch
>>> w = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
>>> opt = lfso.torch.GuardedOptimizer(
...     lfso.torch.LFSO([w]), torch.optim.SGD([w], lr=1e-2))
>>> def closure():
...     opt.zero_grad()
...     loss = (w ** 4).sum()
...     loss.backward()
...     return loss
>>> for _ in range(60):
...     _ = opt.step(closure)
>>> opt.handover is None and bool(w.abs().max() < 1e-2)
True
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._result import History, Result, Status
from .._stepper import Stepper
from .._validate import integer
from ..models import Evaluation
from ..monitor import RISKS
from ..oracles import OracleError
from ..rollout import GoCriteria, Guard, PilotEvidence
from ..rollout._pilot import _decide, check_criteria
from ._optimizer import LFSO

__all__ = ["GuardedOptimizer", "TorchHandover", "pilot"]


@dataclass(frozen=True)
class TorchHandover:
    """When and why :class:`GuardedOptimizer` switched to the fallback.

    ``reason`` is the risk indicator that tripped (or ``"divergence"``), ``"non_finite"``,
    ``"oracle_error"`` (the oracle broke its contract: :class:`lfso.OracleError`, its
    message the ``detail``), or, where LFSO's safeguard gave up, ``"step_failed"`` or
    ``"gradient_mismatch"``;
    ``detail`` says more. ``step`` counts the LFSO steps taken: the calls of its ``step``
    that returned, the one that tripped the guard among them (a call that raised, on an
    oracle error or a non-finite loss, is not; since the optimiser was built or its state
    loaded); ``row`` is the history row where the fallback starts; ``best_loss`` the loss
    of the restored parameters (``best_row`` its row).
    """

    reason: str
    detail: str
    step: int
    row: int
    best_row: int
    best_loss: float

    def lines(self) -> list[str]:
        return [
            f"hand-over after {self.step} lfso steps: risk '{self.reason}' {self.detail}",
            f"  restored the best parameters (row {self.best_row}, loss {self.best_loss:.6e}); "
            f"the fallback runs from row {self.row}",
        ]


def _check_same_parameters(primary: LFSO, fallback: torch.optim.Optimizer) -> None:
    """A ``ValueError`` where ``fallback`` does not step the very tensors ``primary`` does,
    naming those only one of them has (by position in its parameters, and shape)."""

    def tensors(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
        return [p for g in optimizer.param_groups for p in g["params"]]

    mine, theirs = tensors(primary), tensors(fallback)
    only = [
        [f"#{i} {tuple(p.shape)}" for i, p in enumerate(a) if all(p is not q for q in b)]
        for a, b in ((mine, theirs), (theirs, mine))
    ]
    if only[0] or only[1]:
        raise ValueError(
            "fallback must be over the same parameters as primary (the same tensors); "
            f"only primary has {', '.join(only[0]) or 'none'}, only fallback has "
            f"{', '.join(only[1]) or 'none'} (parameter #position (shape))"
        )


class GuardedOptimizer:
    """LFSO with an automatic fallback to the optimiser used today.

    Parameters
    ----------
    primary : lfso.torch.LFSO
        In charge until a trip (with ``monitor=True``, its default).
    fallback : torch.optim.Optimizer
        Over the same parameters (the same tensors, grouped as it likes; a ``ValueError``
        that names those only one of them has otherwise); takes every step after a trip.
    thresholds : mapping name -> int >= 0, optional
        Firings of each risk indicator that trip the guard (see
        :data:`lfso.rollout.DEFAULT_THRESHOLDS`; 0: not watched).
    divergence : float > 0 or None
        Trip when the loss exceeds the best by more than this times
        ``max(loss_0 - best, |loss_0|)``.

    Notes
    -----
    The switch comes right after the LFSO step on which a risk trips (below) or LFSO's
    safeguard gives up, where :func:`lfso.minimize`'s run would end with ``STEP_FAILED``
    (every trial step rejected), ``GRADIENT_MISMATCH`` (the loss disagrees with its
    gradient) or ``PRECISION_LIMIT`` (no step the dtype can certify there): LFSO would
    only stay put there, and :attr:`handover`'s ``reason`` is that status in lower case,
    its ``detail`` why (as LFSO's warning says).

    The check after each LFSO step is :meth:`lfso.rollout.Guard.check`, the one of
    :func:`lfso.rollout.guarded_minimize` (:attr:`guard`): ``stagnation`` where the step's
    certified decrease is below the rounding of the loss is convergence as far as the
    loss can show, not counted (:attr:`Guard.settled_at <lfso.rollout.Guard>` records it).
    Keeping the best parameters costs one copy of them (on their device), refreshed when
    the loss improves; the loss comes from LFSO's own round trip, so watching adds no host
    synchronisation while LFSO is in charge. After the switch each step records the loss
    and the gradient norm (one synchronisation).

    GuardedOptimizer is not a :class:`torch.optim.Optimizer` (it holds two), so a learning
    rate scheduler is refused (``StepLR(opt, 1)``: ``TypeError: GuardedOptimizer is not an
    Optimizer``): attach it to the fallback, the one optimiser with a learning rate, and
    step it as usual::

        scheduler = torch.optim.lr_scheduler.StepLR(opt.fallback, step_size=10)

    The schedule then runs from the first epoch, so the fallback takes over at the rate
    the schedule has reached; while LFSO is in charge the fallback takes no step, so
    torch warns once that ``lr_scheduler.step()`` came before ``optimizer.step()``
    (harmless here).
    """

    def __init__(
        self,
        primary: LFSO,
        fallback: torch.optim.Optimizer,
        *,
        thresholds: Mapping[str, int] | None = None,
        divergence: float | None = 10.0,
    ) -> None:
        if not isinstance(primary, LFSO):
            raise TypeError(f"primary must be an lfso.torch.LFSO, got {type(primary).__name__}")
        if not isinstance(fallback, torch.optim.Optimizer):
            raise TypeError(
                f"fallback must be a torch.optim.Optimizer, got {type(fallback).__name__}"
            )
        if primary._risk is None:
            raise ValueError("primary must keep its risk indicators (LFSO(..., monitor=True))")
        _check_same_parameters(primary, fallback)
        #: The check of every guarded run (lfso.rollout.Guard), on LFSO's history.
        self.guard = Guard(thresholds, divergence=divergence)
        self.thresholds, self.divergence = self.guard.thresholds, self.guard.divergence
        self.primary, self.fallback = primary, fallback
        self.params = [p for g in primary.param_groups for p in g["params"]]
        self.handover: TorchHandover | None = None
        self._best: list[torch.Tensor] | None = None
        self._best_loss, self._best_row = math.inf, 0
        # The fallback's rows (closure calls, loss, ||g||), kept as LFSO's are.
        self._calls = _Calls()
        self._rows = Stepper(self._calls, None, method=type(fallback).__name__, monitor=False)

    @property
    def active(self) -> torch.optim.Optimizer:
        """The optimiser that takes the next step."""
        return self.primary if self.handover is None else self.fallback

    @property
    def counts(self) -> dict[str, int]:
        """Firings of each watched indicator (and ``divergence``) so far."""
        return self.guard.counts

    @property
    def history(self) -> History:
        """LFSO's rows, then the fallback's (counters and time continued)."""
        if self.handover is None:
            return self.primary.history
        from ..rollout._guard import concat_histories

        return concat_histories(self.primary.history, self._rows.history)

    def state_dict(self) -> dict[str, Any]:
        """What resumes the guarded run (``torch.save`` it beside the model's, as for any
        optimiser; ``torch.load`` reads it with ``weights_only=True``): ``"primary"`` and
        ``"fallback"``, the two optimisers' state dicts; ``"handover"``, ``None`` before the
        switch, else :attr:`handover`'s fields (after it, every step goes to the fallback);
        ``"guard"``, the guard's counts of each indicator, the first loss and where it
        settled (:class:`lfso.rollout.Guard`); and the best loss seen, its row, and the
        best parameters (``"best"``, restored at a later switch; ``None`` before any
        step). As torch's optimisers, it holds the state's tensors, not copies."""
        guard = self.guard
        return {
            "primary": self.primary.state_dict(),
            "fallback": self.fallback.state_dict(),
            "handover": None if self.handover is None else dataclasses.asdict(self.handover),
            "guard": {
                "counts": dict(guard.counts),
                "f0": guard.f0,
                "settled_at": guard.settled_at,
                "tripped": guard.tripped,
                "tripped_at": guard.tripped_at,
                "detail": guard.detail,
            },
            "best_loss": self._best_loss,
            "best_row": self._best_row,
            "best": self._best,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict`: the two optimisers load their own (each refuses
        a state dict not its own), the guard goes on counting from the saved counts, and a
        run that had switched steps with the fallback. The histories start again (LFSO's
        does after its :meth:`~lfso.torch.LFSO.load_state_dict`), so a later hand-over's
        rows are of :attr:`history` since the load. The risk indicators that compare a
        step with the one before it (``descent``, ``oracle``) have no row before the first
        step after the load, so they can fire from the second step on (a saved run that
        would have tripped on the next step's ``descent`` trips a step later, if it fires
        again). A state dict that is not GuardedOptimizer's, or whose best parameters do
        not match these parameters, is a ``ValueError``, and the optimiser stays as it was."""
        keys = ("primary", "fallback", "handover", "guard", "best_loss", "best_row", "best")
        missing = [k for k in keys if k not in state_dict] if isinstance(state_dict, dict) else keys
        if missing:
            raise ValueError(
                f"not a GuardedOptimizer state dict: {type(state_dict).__name__} without "
                f"{list(missing)} (expected what GuardedOptimizer.state_dict() returns)"
            )
        best, saved = state_dict["best"], state_dict["handover"]
        shapes = [tuple(p.shape) for p in self.params]
        if best is not None and [tuple(getattr(b, "shape", ())) for b in best] != shapes:
            raise ValueError(
                "the state dict's best parameters do not match this optimiser's parameters "
                f"(shapes {[tuple(getattr(b, 'shape', ())) for b in best]}, here {shapes})"
            )
        try:
            handover = None if saved is None else TorchHandover(**saved)
            guard = dict(state_dict["guard"])
            counts = {str(k): int(v) for k, v in dict(guard["counts"]).items()}
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(
                f"not a GuardedOptimizer state dict: its handover or guard is not the one "
                f"GuardedOptimizer.state_dict() saves ({type(exc).__name__}: {exc})"
            ) from None
        before = copy.deepcopy(self.primary.state_dict())
        self.primary.load_state_dict(state_dict["primary"])
        try:
            self.fallback.load_state_dict(state_dict["fallback"])
        except Exception:
            self.primary.load_state_dict(before)
            raise
        g = self.guard
        g.counts, g.f0, g.settled_at = counts, float(guard["f0"]), guard["settled_at"]
        g.tripped, g.tripped_at, g.detail = guard["tripped"], guard["tripped_at"], guard["detail"]
        self.handover = handover
        self._best_loss, self._best_row = (
            float(state_dict["best_loss"]),
            int(state_dict["best_row"]),
        )
        self._best = None
        if best is not None:
            self._best = [
                b.to(device=p.device, dtype=p.dtype, copy=True)
                for b, p in zip(best, self.params, strict=True)
            ]

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.primary.zero_grad(set_to_none=set_to_none)
        self.fallback.zero_grad(set_to_none=set_to_none)

    @torch.no_grad()
    def _keep_best(self) -> None:
        """Copy the parameters LFSO's last step started from if their loss is the best."""
        h = self.primary.history
        loss = h.last("f")
        if not loss < self._best_loss:  # (False for NaN)
            return
        self._best_loss, self._best_row = loss, len(h) - 1
        sources = self.primary.start_point()
        if self._best is None:
            self._best = [s.detach().clone() for s in sources]
        else:
            for b, s in zip(self._best, sources, strict=True):
                b.copy_(s)

    def _check(self) -> tuple[str, str] | None:
        h = self.primary.history
        return self.guard.check(h, h.last("f"), len(h) - 1, self._best_loss)

    def _gave_up(self, before: tuple[Status, int, str] | None) -> tuple[str, str] | None:
        """``(reason, detail)`` where LFSO's safeguard gave up on the step just taken (its
        latest give-up is not ``before``): the status in lower case and why."""
        after = self.primary._last_give_up
        if after is None or after is before:
            return None
        status, _, why = after
        return status.name.lower(), why

    @torch.no_grad()
    def _switch(self, reason: str, detail: str, taken: int) -> None:
        """Restore the best parameters and hand over, after ``taken`` LFSO steps."""
        if self._best is not None:
            for p, b in zip(self.params, self._best, strict=True):
                p.copy_(b)
        self.handover = TorchHandover(
            reason=reason,
            detail=detail,
            step=taken,
            row=len(self.primary.history),
            best_row=self._best_row,
            best_loss=self._best_loss,
        )
        self.zero_grad()

    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        """One step of the active optimiser; switches when the guard trips."""
        if not callable(closure):  # (LFSO needs one, and the fallback's rows count its calls)
            raise RuntimeError(
                "GuardedOptimizer.step needs a closure that computes the loss and its "
                f"gradients (as LFSO's step does), got closure={closure!r}"
            )
        if self.handover is None:
            rows, given = len(self.primary.history), self.primary._last_give_up
            try:
                loss = self.primary.step(closure)
            except OracleError as exc:  # (a user's oracle that broke its contract)
                if len(self.primary.history) > rows:  # (the step's start point: a row)
                    self._keep_best()
                self._switch("oracle_error", str(exc), rows)  # (from a trial point, it may be)
                return self._fallback_step(closure)
            except ValueError:
                h = self.primary.history
                if len(h) > rows and int(h.last("risk")) & RISKS["non_finite"][0]:
                    self._switch("non_finite", "the loss or the gradient became NaN/inf", rows)
                    return self._fallback_step(closure)
                raise
            if len(self.primary.history) == rows:  # (stopped by its callback: no step, no row)
                return loss
            self._keep_best()
            trip = self._check() or self._gave_up(given)
            if trip is not None:  # (each step LFSO took records the row it started from)
                self._switch(*trip, len(self.primary.history))
            return loss
        return self._fallback_step(closure)

    def _fallback_step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        returned = self.fallback.step(self._calls.counting(closure))  # type: ignore[arg-type]
        loss: Any = self._calls.step_loss(returned, self.fallback)
        self._rows.record(_evaluation(loss, self.params), math.nan, math.nan, math.nan)
        return loss


class _Calls:
    """Counts the calls of closures handed to another optimiser (``nfev``), and keeps the
    loss of the first call since :meth:`step_loss` last read it (the loss at the point a
    step starts from, for an optimiser whose ``step`` returns no loss)."""

    def __init__(self) -> None:
        self.nfev = 0
        self.first: Any = None

    def counting(self, closure: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
        def counted() -> torch.Tensor:
            self.nfev += 1
            value = closure()
            if self.first is None:
                self.first = value
            return value

        return counted

    def step_loss(self, returned: Any, optimizer: Any) -> Any:
        """The loss of the step just taken: what ``optimizer.step`` ``returned``, or, where
        that is ``None``, the first closure value of the step; a ``TypeError`` naming the
        optimiser where it gave neither."""
        first, self.first = self.first, None
        if returned is None:
            returned = first
        if returned is None:
            raise TypeError(
                f"{type(optimizer).__name__}.step(closure) returned no loss and did not call "
                "the closure: the loss of its step is unknown (an optimiser's step(closure) "
                "returns the closure's loss, as torch.optim's do)"
            )
        return returned


def _evaluation(loss: Any, params: Sequence[torch.Tensor]) -> Evaluation:
    """The loss another optimiser's step returned and ``||g||`` of the gradients it left,
    brought to the host together (one synchronisation)."""
    grads = [p.grad for p in params if p.grad is not None]
    gsq = sum((g.detach() * g.detach()).sum() for g in grads) if grads else torch.zeros(())
    f, g2 = torch.stack(
        [torch.as_tensor(loss).detach().double().reshape(()), torch.as_tensor(gsq).double()]
    ).tolist()  # one sync
    return Evaluation(float(f), None, math.sqrt(float(g2)))


def _pilot_result(stepper: Stepper, gave_up: tuple[Status, int, str] | None = None) -> Result:
    """The result of a pilot run: its best row (the parameters are the module's); where
    LFSO's rule gave up on a step (``gave_up``: status, iteration, why), that status, as
    :func:`lfso.minimize`'s run ends, and a message that says where and why; where the
    loss or its gradient turned NaN or infinite, ``NON_FINITE`` and where (``MAX_ITER``
    otherwise: the run took its steps)."""
    history = stepper.history
    f = history.f
    best = int(np.argmin(np.where(np.isfinite(f), f, np.inf)))
    at = Evaluation(float(f[best]), None, float(history.grad_norm[best]))
    status, message = Status.MAX_ITER, "Pilot run."
    finite = np.isfinite(f) & np.isfinite(history.grad_norm)
    if gave_up is not None:
        status, iteration, why = gave_up
        message = (
            f"Pilot run. LFSO gave up at iteration {iteration}: {why}; its later steps from "
            "there were skipped."
        )
    elif not finite.all():  # (as lfso.minimize's run ends there)
        status = Status.NON_FINITE
        message = (
            f"Pilot run. The loss or its gradient became NaN or infinite at iteration "
            f"{int(np.argmin(finite))}; f is the best finite loss before it."
        )
    return stepper.build(None, at, status, message, jac=None)


def _pilot_loss(value: Any) -> torch.Tensor:
    """``loss(module)`` as :func:`pilot` takes it: a one-element tensor of a floating dtype
    with a graph, or a ``TypeError`` naming what it was (not torch's ``backward`` error)."""
    if not isinstance(value, torch.Tensor):
        got = f"got {value!r}"
    elif value.numel() != 1:
        got = f"got a tensor of shape {tuple(value.shape)}"
    elif not value.is_floating_point():
        got = f"got a {value.dtype} tensor"
    elif not value.requires_grad:
        got = (
            "got a tensor that does not require grad (computed under torch.no_grad(), or detached)"
        )
    else:
        return value
    raise TypeError(
        "loss(module) must return the pilot loss as a one-element tensor of a floating dtype "
        f"with its graph (e.g. a mean over the pilot data), {got}"
    )


def pilot(
    make: Callable[[], torch.nn.Module],
    loss: Callable[[torch.nn.Module], torch.Tensor],
    current: Callable[[Any], torch.optim.Optimizer],
    *,
    steps: int = 200,
    criteria: GoCriteria | None = None,
    task: str = "the pilot task",
    **lfso_options: Any,
) -> PilotEvidence:
    """Train two fresh models on the pilot task, one with the optimiser used today and one
    with :class:`lfso.torch.LFSO`, and decide go / no-go (:func:`lfso.rollout.decide`).

    Parameters
    ----------
    make : callable ``() -> torch.nn.Module``
        A fresh model, initialised the same way each call (seed inside it): the second
        call's parameters must equal the first's (a ``ValueError`` otherwise). The loss at
        the start is not compared, so a noisy loss (dropout, a sampled batch) is fine.
    loss : callable ``(module) -> scalar tensor``
        The pilot loss (e.g. the full loss on a small subset of the data).
    current : callable ``(parameters) -> torch.optim.Optimizer``
        The optimiser used today, e.g. ``lambda p: torch.optim.Adam(p, lr=1e-3)``.
    steps : int >= 1
        Optimiser steps of each run: its history holds ``steps + 1`` rows (``nit =
        steps``), the start and the parameters each step left, so the loss at the final
        parameters counts (where the last step did not evaluate them, as LFSO's accepted
        trial does, one more closure call, counted).
    criteria : GoCriteria, optional
    task : str
        The pilot task in words, as the evidence names it (the step count appended).
    lfso_options
        Options of :class:`lfso.torch.LFSO`, checked before the current rule's run (as
        ``steps``, an integer >= 1, and ``criteria``): a bad one is an error before any
        training.

    Returns
    -------
    PilotEvidence
        Its ``current`` and ``candidate`` carry the two histories (loss, ``||g||``,
        closure calls as gradients, time); the candidate's risk indicators are LFSO's. A
        loss or gradient that turns NaN or infinite ends LFSO's run there, with its risk
        ``non_finite`` fired (a no-go under the default criteria). A step LFSO's safeguard
        gave up on (every trial step rejected, or the loss disagreeing with its gradient:
        the parameters stay, with a ``RuntimeWarning``) gives the candidate the status
        :func:`lfso.minimize`'s run ends with there, ``STEP_FAILED`` or
        ``GRADIENT_MISMATCH``, a no-go (:func:`lfso.rollout.decide`), or
        ``PRECISION_LIMIT`` (no step the dtype can certify there), which
        :func:`lfso.rollout.decide` judges as it judges :func:`lfso.minimize`'s.
    """
    integer(steps, "steps", low=1)
    criteria = check_criteria(criteria)
    runs = []
    for which in ("current", "lfso"):
        module = make()  # (right before its run, as a make() that counts calls expects)
        params = list(module.parameters())
        if which == "current":
            start = [p.detach().clone() for p in params]
        else:  # (the same start whatever the loss says there: a noisy loss gives two f0)
            _check_same_start(start, params)
        opt: Any = current(params) if which == "current" else LFSO(params, **lfso_options)
        if which == "current":
            if not isinstance(opt, torch.optim.Optimizer):
                raise TypeError(
                    "current must be a callable (parameters) -> torch.optim.Optimizer, e.g. "
                    f"lambda p: torch.optim.Adam(p, lr=1e-3); current(parameters) gave {opt!r}"
                )
            LFSO(params, **lfso_options)  # (its options checked now, not after this run)
        calls = _Calls()
        rows = Stepper(calls, None, method=type(opt).__name__, monitor=False)
        rows.clock = time.perf_counter()

        def closure(module: torch.nn.Module = module, opt: Any = opt) -> Any:
            opt.zero_grad()
            value = _pilot_loss(loss(module))
            value.backward()
            return value

        counted = calls.counting(closure)
        for _ in range(steps):
            if which == "current":
                value = calls.step_loss(opt.step(counted), opt)
                rows.record(_evaluation(value, params), math.nan, math.nan, math.nan)
                continue
            recorded = len(opt.history)
            try:
                opt.step(counted)
            except ValueError:  # (LFSO refuses to step from a non-finite loss or gradient)
                h = opt.history
                if len(h) > recorded and int(h.last("risk")) & RISKS["non_finite"][0]:
                    break  # recorded as the risk 'non_finite': evidence, a no-go
                raise
        else:  # the parameters the last step left: their row (the loss there counts)
            if which == "current":
                value = calls.step_loss(counted(), opt)
                rows.record(_evaluation(value, params), math.nan, math.nan, math.nan)
            else:
                opt._arrive(counted)
        runs.append(
            _pilot_result(rows) if which == "current" else _pilot_result(opt._stepper, opt._gave_up)
        )
    return _decide(runs[0], runs[1], f"{task}, {steps} steps", criteria, same_x0=True)


def _same_values(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether ``a`` and ``b`` (one shape and dtype) hold the same values, a NaN equal to
    a NaN where both hold one (``torch.equal`` says NaN != NaN)."""
    if not (a.is_floating_point() or a.is_complex()):
        return torch.equal(a, b)
    return bool(((a == b) | (torch.isnan(a) & torch.isnan(b))).all())


def _check_same_start(start: Sequence[torch.Tensor], params: Sequence[torch.Tensor]) -> None:
    """A ``ValueError`` where the second model ``make()`` gave does not start from the
    parameters the first one did (``start``, copied before its run): the runs were not on
    the same task."""
    why = f"{len(start)} parameter tensors, then {len(params)}"
    if len(start) == len(params):
        why = ""
        for i, (a, b) in enumerate(zip(start, params, strict=True)):
            if (a.shape, a.dtype) != (b.shape, b.dtype):
                why = f"parameter {i}: {tuple(a.shape)} {a.dtype}, then {tuple(b.shape)} {b.dtype}"
            elif not _same_values(a, b.detach().to(a.device)):
                why = f"parameter {i} {tuple(a.shape)} holds other values"
            if why:
                break
    if why:
        raise ValueError(
            f"make() gave the two pilot runs different starting parameters ({why}): the "
            "runs must start from the same point to be compared; seed inside make() (e.g. "
            "torch.manual_seed(0) before building the model) so each call gives the same "
            "initial weights"
        )
