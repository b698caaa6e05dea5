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

One step, over all parameters ``p`` at once:

.. math::  p \\leftarrow p - \\frac{\\eta}{L} \\nabla f(p),

with ``L`` the tight-radius LFSO value from

* a user oracle ``smoothness(params, R) -> float`` (``params`` is the list of tensors), or
* the automatic oracle of :mod:`lfso.auto`: secant ratios of the gradients between steps
  and, when the closure calls ``loss.backward(create_graph=True)``, a few warm-started
  power iterations of Hessian-vector products by double backward
  (``torch.autograd.grad`` over the gradients), times the safety factor.

``step(closure)`` follows torch's closure convention (the closure zeroes the gradients,
computes the loss, calls ``backward`` and returns the loss), like ``torch.optim.LBFGS``.
With ``safeguard=True`` the closure is re-evaluated after the step; if the descent
inequality ``f(p+) <= f(p) - eta (1 - eta/2) ||g||^2 / L`` fails, the parameters are rolled
back and ``L`` is multiplied by ``backoff`` (after ``max_rollbacks`` the parameters are left
unchanged, with a ``RuntimeWarning``). Under ``torch.distributed`` the curvature
estimate is reduced (maximum) across ranks, so every rank takes the same step. The last
``L``, radius and step are exposed as :attr:`LFSO.last_L`, :attr:`LFSO.last_radius` and
:attr:`LFSO.last_step` for logging.

Like :func:`lfso.minimize`, the optimiser keeps a :class:`lfso.History` (one row per
``step``: the loss and ``||g||`` at the parameters the step started from, the step, ``L``
and ``R`` that led there, closure calls, time and the risk bits of :mod:`lfso.monitor`),
summarises the risk indicators in :attr:`LFSO.risks` and calls ``callback`` with an
intermediate :class:`lfso.Result` after each step, so the loggers of :mod:`lfso.monitor`
work unchanged. The loss rides along with the gradient norm in the step's one host
round trip. The module imports torch; ``import lfso`` does not.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any, cast

import torch

from .auto import SecantBound
from .bounds import FunctionBound, LocalBound, check_value
from .monitor import RiskMonitor
from .result import History, Result, Status
from .torch_stochastic import StochasticLFSO as StochasticLFSO  # re-exported

__all__ = ["LFSO", "Certified"]


def _sq(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    return cast(torch.Tensor, sum((t.detach() * t.detach()).sum() for t in tensors))


def _grad(p: torch.Tensor) -> torch.Tensor:
    """``p.grad`` of a parameter known to have one (:meth:`LFSO._params` keeps only those)."""
    grad = p.grad
    assert grad is not None
    return grad


class LFSO(torch.optim.Optimizer):
    """LFSO gradient descent as a ``torch.optim.Optimizer`` (see the module docstring).

    Parameters
    ----------
    params : iterable of tensors or dicts
        Parameters or parameter groups (each group may set its own ``eta``).
    eta : float in (0, 2)
    smoothness : callable ``(params, R) -> float``, optional
        An LFSO for the loss; estimated when omitted.
    safety : float >= 1
        Safety factor of the automatic oracle.
    growth : float > 1
        The automatic oracle lets the step grow by at most this factor per step.
    power_iterations : int >= 0
        Hessian-vector products per step when the gradients carry a graph (0: none).
    safeguard : bool
        Re-evaluate the closure and roll back steps that break the descent inequality.
    backoff : float > 1
    max_rollbacks : int >= 0
    monitor : bool
        Keep :attr:`history` and the risk indicators (:attr:`risks`). A row costs about
        0.3 kB of host memory (a million steps: about 300 MB); ``False`` keeps no risk
        indicators, and no history unless a ``callback`` is given.
    callback : callable, optional
        ``callback(intermediate_result)`` after each step, as in :func:`lfso.minimize`
        (``x`` is ``None``: the parameters are the model's).
    """

    def __init__(
        self,
        params: Iterable[Any],
        eta: float = 1.0,
        *,
        smoothness: Callable[[list[torch.Tensor], float], float] | None = None,
        safety: float = 2.0,
        growth: float = 2.0,
        power_iterations: int = 2,
        safeguard: bool = False,
        backoff: float = 4.0,
        max_rollbacks: int = 30,
        monitor: bool = True,
        callback: Callable[[Result], Any] | None = None,
    ) -> None:
        if not 0.0 < eta < 2.0:
            raise ValueError(f"Invalid eta: {eta} (must be in (0, 2))")
        if not safety >= 1.0:
            raise ValueError(f"Invalid safety: {safety} (must be >= 1)")
        if not growth > 1.0:
            raise ValueError(f"Invalid growth: {growth} (must be > 1)")
        if not backoff > 1.0:
            raise ValueError(f"Invalid backoff: {backoff} (must be > 1)")
        if power_iterations < 0:
            raise ValueError(f"Invalid power_iterations: {power_iterations} (must be >= 0)")
        if smoothness is not None and not callable(smoothness):
            raise TypeError(
                f"smoothness must be callable as smoothness(params, R), got {smoothness!r}"
            )
        super().__init__(params, {"eta": eta})
        self.smoothness = smoothness
        self.safety, self.growth = float(safety), float(growth)
        self.power_iterations, self.safeguard = int(power_iterations), bool(safeguard)
        self.backoff, self.max_rollbacks = float(backoff), int(max_rollbacks)
        self.last_L = self.last_radius = self.last_step = math.nan
        self.rollbacks = 0
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        self.callback, self.history, self.nfev = callback, History(), 0
        self._risk = (
            RiskMonitor(
                monotone=self.safeguard or smoothness is not None,
                gradient_step=smoothness is not None,
            )
            if monitor
            else None
        )
        self._last: tuple[float, float] | None = None  # loss and ||g|| of the last step
        self._start = math.nan

    @property
    def risks(self) -> dict[str, dict[str, int]]:
        """``{indicator: {"count": n, "first": step}}`` for the risk indicators that fired."""
        return self._risk.summary() if self._risk is not None else {}

    def _record(self, loss: float, gnorm: float, dot: float | None) -> int:
        """Append the history row of the parameters this step starts from; the risk bits."""
        now = time.perf_counter()
        if self._start != self._start:
            self._start = now
        k, flags = len(self.history), 0
        if self._risk is not None and self._last is not None:
            f_prev, g_prev = self._last
            L = self.last_L if dot is not None else math.nan  # no audit without the dot
            flags = self._risk.observe(
                k, f_prev, loss, None, None, g_prev, gnorm, self.last_step, L, dot
            )
        self._last = (loss, gnorm)
        self.history.append(
            loss,
            gnorm,
            self.last_step,
            self.last_L,
            self.last_radius,
            self.nfev,
            self.nfev,
            0,  # oracle calls are not counted here
            now - self._start,
            flags,
        )
        return flags

    def _report(self, loss: float, gnorm: float) -> None:
        if self.callback is None:
            return
        self.callback(
            Result(
                x=None,
                fun=loss,
                jac=None,
                nit=len(self.history) - 1,
                nfev=self.nfev,
                njev=self.nfev,
                noracle=0,
                status=Status.MAX_ITER,
                message="In progress.",
                method="lfso-torch",
                grad_norm=gnorm,
                history=self.history,
                risks=self.risks,
            )
        )

    def _counting(self, closure: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
        def counted() -> torch.Tensor:
            self.nfev += 1
            return closure()

        return counted

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"] if p.grad is not None]

    def _reduce_max(self, value: float, like: torch.Tensor) -> float:
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            t = torch.tensor([value], dtype=torch.float64, device=like.device)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            return float(t.item())
        return value

    def _hessian_norm(self, params: list[torch.Tensor], state: dict[str, Any]) -> float | None:
        grads = [_grad(p) for p in params]
        if self.power_iterations == 0 or not all(g.requires_grad for g in grads):
            return None
        v = [x.clone() for x in state["v"]] if "v" in state else [g.detach().clone() for g in grads]
        vn = torch.sqrt(_sq(v))
        if not vn > 0:
            return None
        v = [x / vn for x in v]
        rho = torch.zeros((), dtype=torch.float64)
        for _ in range(self.power_iterations):
            with torch.enable_grad():
                hv = torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True)
            rho = torch.sqrt(_sq(hv))
            if not rho > 0:
                break
            v = [h.detach() / rho for h in hv]
        state["v"] = v
        return float(rho)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        """One LFSO step; ``closure`` re-evaluates the loss and its gradients."""
        if closure is None:
            raise RuntimeError("LFSO needs a closure that computes the loss and its gradients")
        closure = self._counting(closure)
        with torch.enable_grad():
            loss = closure()
        params = self._params()
        if not params:
            return loss
        state = self.state[params[0]]  # run-wide state lives with the first parameter
        grads = [_grad(p).detach() for p in params]
        eta = max(group["eta"] for group in self.param_groups)
        stats = [_sq(grads)]
        if "prev" in state:
            prevs = [self.state[p]["prev"] for p in params]
            prev_grads = [self.state[p]["prev_grad"] for p in params]
            stats += [
                _sq(p.detach() - q for p, q in zip(params, prevs, strict=True)),
                _sq(g - q for g, q in zip(grads, prev_grads, strict=True)),
            ]
        scalar = isinstance(loss, torch.Tensor) and loss.numel() == 1
        if scalar:  # the loss rides along in the same round trip
            stats.append(loss.detach().reshape(()).to(stats[0].device))
        host = torch.stack([s.to(torch.float64) for s in stats]).tolist()  # one sync
        f = host.pop() if scalar else math.nan
        gnorm = math.sqrt(host[0])
        dot = (
            (host[0] + self._last[1] ** 2 - host[2]) / 2 if len(host) == 3 and self._last else None
        )
        if self._risk is not None or self.callback is not None:
            self._record(f, gnorm, dot)
        if not math.isfinite(gnorm):
            raise ValueError("the gradient is not finite")
        if gnorm == 0.0:
            self._report(f, gnorm)
            return loss

        bound: LocalBound
        if self.smoothness is not None:
            smoothness = self.smoothness
            bound = FunctionBound(lambda radius: smoothness(params, radius))
        else:
            samples = []
            if len(host) == 3 and host[1] > 0.0:
                samples.append((math.sqrt(host[1]), math.sqrt(host[2] / host[1])))
            hess = self._hessian_norm(params, state)
            if hess is not None:
                samples.append((0.0, hess))
            floor = state.get("floor")
            if floor is None:  # first step, nothing observed: a secant over a tiny step
                floor = self._probe(closure, params, grads, gnorm)
            bound = SecantBound(floor, samples, self.safety)
        # Seed the radius solve with the last radius rescaled (R* ~ eta ||g|| when L is steady).
        target, guess = eta * gnorm, None
        if state.get("target", 0.0) > 0.0:
            guess = state["radius"] * target / state["target"]
        radius, lipschitz, _ = bound.radius_for(target, guess=guess)
        state["radius"], state["target"] = radius, target
        lipschitz = self._reduce_max(check_value(lipschitz, radius), grads[0])

        for p, g in zip(params, grads, strict=True):
            self.state[p]["prev"] = p.detach().clone()
            self.state[p]["prev_grad"] = g.clone()
        rollbacks = 0
        while True:
            for group in self.param_groups:
                t = group["eta"] / lipschitz
                for p in group["params"]:
                    if p.grad is not None:
                        p.add_(self.state[p]["prev_grad"], alpha=-t)
            if not self.safeguard:
                break
            with torch.enable_grad():
                new_loss = float(closure().detach())
            old_loss = float(loss.detach())
            decrease = eta * (1 - eta / 2) * gnorm**2 / lipschitz
            if math.isfinite(new_loss) and new_loss <= old_loss - decrease + 1e-12 * abs(old_loss):
                break
            for p in params:
                p.copy_(self.state[p]["prev"])
            if rollbacks >= self.max_rollbacks:  # keep the parameters: never take a bad step
                warnings.warn(
                    f"LFSO: the safeguard rejected {rollbacks + 1} trial steps; the parameters "
                    "are unchanged. Check the gradients (or the oracle).",
                    RuntimeWarning,
                    stacklevel=2,
                )
                lipschitz = math.inf
                break
            rollbacks += 1
            lipschitz *= self.backoff
        self.rollbacks += rollbacks
        if math.isfinite(lipschitz):
            state["floor"] = lipschitz / (self.safety * self.growth)
        self.last_L, self.last_radius, self.last_step = lipschitz, radius, eta / lipschitz
        self._report(f, gnorm)
        return loss

    def _probe(
        self,
        closure: Callable[[], torch.Tensor],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        gnorm: float,
    ) -> float:
        """Curvature along ``-g`` over a tiny step: one extra closure call, first step only."""
        scale = math.sqrt(float(_sq(params)))
        delta = 1e-4 * (1.0 + scale) / gnorm
        saved = [g.clone() for g in grads]
        for p, g in zip(params, saved, strict=True):
            p.add_(g, alpha=-delta)
        with torch.enable_grad():
            closure()
        diff = float(_sq(_grad(p).detach() - g for p, g in zip(params, saved, strict=True)))
        for p, g in zip(params, saved, strict=True):
            p.add_(g, alpha=delta)
            p.grad = g.clone()
        rho = math.sqrt(diff) / (delta * gnorm)
        return rho if rho > 0 and math.isfinite(rho) else 1.0


class Certified(torch.optim.Optimizer):
    """Any certified method of :func:`lfso.minimize` as a full-batch ``torch.optim.Optimizer``.

    A thin adapter over the same step rules (the method registry): the parameters are
    flattened into one vector, the closure becomes the model (value and gradient; the
    closure zeroes the gradients, computes the loss, calls ``backward`` and returns it),
    and each :meth:`step` is one step of the rule, e.g. ``method="lfso-lbfgs"`` (the
    default): L-BFGS directions with the certified step, no line search. Without
    ``smoothness`` the automatic oracle (along the direction) sizes the steps under the
    safeguard; with ``smoothness(params, R)`` (``params`` the list of tensors) the step is
    certified. Full-batch only: the rule's memory (L-BFGS pairs, the estimate) assumes the
    same function at every step.

    Parameters
    ----------
    params : iterable of tensors
    method : str
        A certified method of :data:`lfso.registry.METHODS` (``"lfso-lbfgs"``, ``"lfso"``).
    smoothness : callable ``(params, R) -> float``, optional
    **options
        The method's options, validated by the registry (``eta``, ``memory``, ...).

    Examples
    --------
    >>> import torch, lfso.torch
    >>> w = torch.nn.Parameter(torch.tensor([3.0, -2.0], dtype=torch.float64))
    >>> opt = lfso.torch.Certified([w])
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

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        method: str = "lfso-lbfgs",
        smoothness: Callable[[list[torch.Tensor], float], float] | None = None,
        **options: Any,
    ) -> None:
        from .registry import METHODS

        entry = METHODS.get(method)
        if entry is None or entry.family != "lfso":
            names = ", ".join(n for n, m in METHODS.items() if m.family == "lfso")
            raise ValueError(f"method must be a certified method ({names}), got {method!r}")
        super().__init__(params, {})
        self.method, self.smoothness, self.options = method, smoothness, dict(options)
        self._closure: Callable[[], torch.Tensor] | None = None
        self._run: dict[str, Any] = {}

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def _model(self) -> Any:
        from .models import FunctionModel

        params = self._params()

        def fun_and_grad(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            with torch.no_grad():
                torch.nn.utils.vector_to_parameters(x, params)
            assert self._closure is not None
            with torch.enable_grad():
                loss = self._closure()
            grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self._params()]
            return loss.detach(), torch.cat([g.detach().reshape(-1) for g in grads])

        oracle = None
        if self.smoothness is not None:
            user = self.smoothness

            def oracle(x: torch.Tensor, radius: float) -> float:
                shaped, start = [], 0
                for p in params:
                    shaped.append(x[start : start + p.numel()].view_as(p))
                    start += p.numel()
                return user(shaped, radius)

        return FunctionModel(fun_and_grad, True, oracle)

    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        """One step of the rule; returns the loss at the parameters it started from."""
        from .registry import build_rule

        self._closure = closure
        run = self._run
        x = torch.nn.utils.parameters_to_vector(self._params()).detach().clone()
        if not run:
            model = self._model()
            rule = build_rule(
                self.method, dict(self.options), model=model, auto=self.smoothness is None
            )
            ev = model.evaluate(x, bound=rule.needs_bound)
            run.update(model=model, rule=rule, state=rule.init(model, x, ev), ev=ev, x=x)
        model, rule = run["model"], run["rule"]
        ev = run["ev"]
        if ev is None or not torch.equal(run["x"], x):  # the parameters moved outside
            ev = model.evaluate(x, bound=rule.needs_bound)
        move, run["state"] = rule.step(model, x, ev, run["state"])
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(move.x, self._params())
        run.update(x=move.x.detach().clone(), ev=move.evaluation)
        self.last_step, self.last_L = move.step, move.L
        return torch.as_tensor(ev.value)
