"""The pieces of :class:`lfso.torch.LFSO` that turn PyTorch parameters and a closure into
the library's model: the flat vector the rules see, the closure as a model (value,
gradient, a user's oracle, Hessian-vector products by double backward), the rule's state
kept where ``state_dict`` carries it, and the ``torch.distributed`` reductions. Imported by
:mod:`lfso.torch` only (it imports torch).
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch

from .._later import deferring, remember_dot
from ..models import FunctionModel
from ._stochastic import _is_number, _loss, _refuse_sparse

__all__ = [
    "ClosureModel",
    "Layout",
    "SavedState",
    "across_ranks",
    "decoded",
    "distributed",
    "encoded",
    "moved",
]


def distributed() -> bool:
    """Whether a torch.distributed process group is running."""
    dist = torch.distributed
    return bool(dist.is_available() and dist.is_initialized())


def across_ranks(value: torch.Tensor, op: str) -> torch.Tensor:
    """``value`` averaged (``"mean"``) or maximised (``"max"``) over the ranks."""
    dist = torch.distributed
    t = value.detach().clone()
    dist.all_reduce(t, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
    return t if op == "max" else t / dist.get_world_size()


class Layout(NamedTuple):
    """The flat vector ``z`` the rule sees: the parameters are ``x = scale * z``."""

    params: list[torch.Tensor]
    key: tuple[tuple[int, int, float], ...]  # (id, numel, eta) per parameter
    eta: float  # the rule's eta: the largest group eta
    scale: torch.Tensor | None  # sqrt(eta_group / eta), None when all groups agree

    def flatten(self) -> torch.Tensor:
        x = torch.cat([p.detach().reshape(-1) for p in self.params])
        return x if self.scale is None else x / self.scale

    def write(self, z: torch.Tensor) -> None:
        x = z if self.scale is None else z * self.scale
        start = 0
        for p in self.params:
            n = p.numel()
            p.copy_(x[start : start + n].view_as(p))
            start += n

    def holds(self, z: torch.Tensor) -> bool:
        """Whether the parameters hold exactly what :meth:`write` writes for ``z``."""
        x = z if self.scale is None else z * self.scale
        start = 0
        for p in self.params:
            n = p.numel()
            if not torch.equal(p.detach().reshape(-1), x[start : start + n].to(p.dtype)):
                return False
            start += n
        return True

    def differs(self, z: torch.Tensor) -> torch.Tensor:
        """Whether the parameters differ from what :meth:`write` writes for ``z``, as a
        0-d float tensor on the device (1: they do), for a fetch to bring (one pass over
        the parameters, no host round trip of its own)."""
        x = z if self.scale is None else z * self.scale
        parts, start = [], 0
        for p in self.params:
            n = p.numel()
            parts.append((p.detach().reshape(-1) != x[start : start + n].to(p.dtype)).any())
            start += n
        return torch.stack(parts).any().to(z.dtype)

    def shaped(self, z: torch.Tensor) -> list[torch.Tensor]:
        x = z if self.scale is None else z * self.scale
        out, start = [], 0
        for p in self.params:
            out.append(x[start : start + p.numel()].view_as(p))
            start += p.numel()
        return out

    def versions(self) -> tuple[tuple[int, int], ...]:
        """Each parameter's version counter and data pointer: an in-place change bumps the
        first (not one made through ``.data``), a tensor given as ``p.data = t`` changes the
        second."""
        return tuple((p._version, p.data_ptr()) for p in self.params)


class ClosureModel(FunctionModel):
    """The closure as a model of ``z`` (value and gradient; the user's oracle, if any).

    The closure returns the loss as a one-element tensor or as a number (a Python or NumPy
    real, as ``torch.optim.LBFGS`` takes it): the rules read the loss only as a number, so
    a number is that number as a float64 tensor on the parameters' device, fetched with
    the gradient's norm as a tensor's value is, and the steps are the same.

    Counts closure calls (``nfev``) and keeps the loss tensor and, when the gradients carry
    a graph (``backward(create_graph=True)``), the flat gradient with its graph, for
    Hessian-vector products at the point last evaluated.
    """

    def __init__(
        self,
        layout: Layout,
        smoothness: Callable[[list[torch.Tensor], float], float] | None,
    ) -> None:
        oracle = None
        if smoothness is not None:
            user = smoothness

            def oracle(z: torch.Tensor, radius: float) -> float:
                value = user(layout.shaped(z), radius)
                if distributed():  # the largest over the ranks bounds the averaged loss
                    t = torch.tensor(float(value), dtype=torch.float64, device=z.device)
                    return float(across_ranks(t, "max"))
                return value

        super().__init__(self._closure_pair, True, oracle)
        self.layout = layout
        # Parameters of several dtypes: the flat vector holds them in the widest, part of
        # the loss rounds in the narrowest, whose unit roundoff the safeguard allows for.
        eps = {float(torch.finfo(p.dtype).eps) for p in layout.params}
        self.unit_roundoff = max(eps) if len(eps) > 1 else None
        self.closure: Callable[[], Any] | None = None
        self.nfev = 0
        self.holds: torch.Tensor | None = None  # the z the parameters hold
        self.loss: torch.Tensor | None = None  # the last loss (detached, 0-d) ...
        self.evaluated: torch.Tensor | None = None  # ... and the z it was computed at
        self.graph: tuple[torch.Tensor, torch.Tensor] | None = None  # (z, flat gradient)
        self._graph_versions: tuple[tuple[int, int], ...] = ()  # (the versions it was made at)
        self._keep_graph = True
        #: The point a step starts from and its gradient, when the rule estimates ``L``
        #: from secants to it (:mod:`lfso._auto`): each evaluation then computes its
        #: distances to them on the device, to ride its own fetch (:mod:`lfso._later`).
        self.anchor: tuple[torch.Tensor, torch.Tensor] | None = None
        self.sy = False  # ... and ``(x - z) . (g - g_z)`` (a direction other than -g)

    def _closure_pair(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        layout, closure = self.layout, self.closure
        assert closure is not None
        if self.holds is not z:
            with torch.no_grad():
                layout.write(z)
            self.holds = z
        with torch.enable_grad():  # (the graph of gradients made with create_graph stays)
            returned = closure()
            self.nfev += 1
            if not (isinstance(returned, torch.Tensor) or _is_number(returned)):
                _loss(returned, layout.params[0])  # (a TypeError naming what it returned)
            if all(p.grad is None for p in layout.params):
                raise RuntimeError(
                    "the closure must call loss.backward(): after it, every parameter's "
                    ".grad is None (zero_grad() sets them so), so there is no gradient to "
                    "step with"
                )
            # One element (or a TypeError naming its shape); a number: a float64 tensor.
            loss = _loss(returned, layout.params[0])
            try:
                flat = torch.cat(
                    [
                        (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                        for p in layout.params
                    ]
                )
            except (NotImplementedError, RuntimeError):
                _refuse_sparse([p.grad for p in layout.params], "LFSO")
                raise
        if flat.requires_grad and self._keep_graph:
            self.graph = (z, flat)
            self._graph_versions = layout.versions()
        grad = flat.detach()
        if layout.scale is not None:
            grad = grad * layout.scale
        value = loss.detach().reshape(())
        if distributed():
            value = across_ranks(value, "mean")
        self.loss, self.evaluated = value, z
        return value, grad

    def _value_grad(self, x: Any) -> tuple[Any, Any]:
        """The checked value and gradient; with an :attr:`anchor`, ``||x - z||^2`` and
        ``||g - g_z||^2`` (and with :attr:`sy`, ``(x - z) . (g - g_z)``) computed on the
        device, to come back with this evaluation's fetch (the secant the automatic oracle
        asks for next: no round trip of its own)."""
        value, grad = super()._value_grad(x)
        anchor = self.anchor
        if anchor is not None and deferring(grad):
            z, g = anchor
            s, y = x - z, grad - g
            remember_dot((x, z), (x, z), s @ s)
            remember_dot((grad, g), (grad, g), y @ y)
            if self.sy:  # the L-BFGS estimate's curvature along the step, s . y
                remember_dot((x, z), (grad, g), s @ y)
        return value, grad

    def grad(self, x: Any) -> Any:
        """The gradient only (the automatic oracle's first probe): keeps the last graph."""
        self._keep_graph = False
        try:
            return super().grad(x)
        finally:
            self._keep_graph = True

    def hvp(self, z: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``Hess f(z) v`` by double backward through the gradient's graph at ``z``; the
        closure is called again at ``z`` when the parameters were written since the graph
        was made (the automatic oracle's first probe writes another point: the graph of a
        loss that is not quadratic holds the parameters, and autograd refuses it then).
        A parameter that does not require grad is held fixed, as the step holds it (its
        gradient is zero): its rows and columns of the Hessian are zero."""
        graph = self.graph
        if graph is None or graph[0] is not z or self._graph_versions != self.layout.versions():
            self.evaluate(z, bound=False)
        assert self.graph is not None
        scale = self.layout.scale
        flat = self.graph[1]
        params = self.layout.params
        free = [p for p in params if p.requires_grad]
        with torch.enable_grad():
            found = torch.autograd.grad(
                flat,
                free,
                grad_outputs=v if scale is None else v * scale,
                retain_graph=True,
                allow_unused=True,
            )
        parts = iter(found)
        pieces = []
        for p in params:
            h = next(parts) if p.requires_grad else None
            pieces.append((h if h is not None else torch.zeros_like(p)).reshape(-1))
        hv = torch.cat(pieces)
        return hv if scale is None else hv * scale


class SavedState:
    """The rule's state in ``optimizer.state``; not a tuple, so that torch's
    ``load_state_dict`` keeps it as it is (it rebuilds tuples element by element)."""

    def __init__(self, state: Any) -> None:
        self.state = state


def moved(tree: Any, like: torch.Tensor) -> Any:
    """``tree`` with its tensors on ``like``'s device (after ``load_state_dict``)."""
    if isinstance(tree, torch.Tensor):
        return tree.to(like.device)
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return type(tree)(*(moved(t, like) for t in tree))
    if isinstance(tree, (tuple, list)):
        return type(tree)(moved(t, like) for t in tree)
    return tree


#: The key that marks an encoded node of a rule's state (:func:`encoded`).
_TAG = "lfso"


def _name(kind: type) -> str:
    return f"{kind.__module__}:{kind.__qualname__}"


def _kind(name: str) -> Any:
    """The class ``module:qualname`` names, from lfso's own modules only."""
    module, _, qualname = name.partition(":")
    if not (module == "lfso" or module.startswith("lfso.")) or not qualname:
        raise ValueError(f"the saved LFSO state names {name!r}, not a class of lfso")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def encoded(tree: Any) -> Any:
    """A rule's state as tensors, numbers, strings, lists and dicts only, which
    ``torch.load(weights_only=True)`` reads (its default): lfso's named tuples, enums and
    objects become dicts naming their class, NumPy arrays tensors; :func:`decoded` rebuilds
    it exactly."""
    if isinstance(tree, (np.ndarray, np.generic)):  # (np.float64 is a float: first)
        return {_TAG: "numpy", "array": torch.from_numpy(np.array(tree, copy=True))}
    if tree is None or isinstance(tree, (bool, int, float, str, torch.Tensor)):
        return tree
    if isinstance(tree, list):
        return [encoded(t) for t in tree]
    if isinstance(tree, tuple) and not hasattr(tree, "_fields"):
        return {_TAG: "tuple", "items": [encoded(t) for t in tree]}
    if isinstance(tree, dict):
        return {_TAG: "dict", "items": [[encoded(k), encoded(v)] for k, v in tree.items()]}
    kind = type(tree)
    if not kind.__module__.startswith("lfso."):
        raise TypeError(f"LFSO cannot save a {_name(kind)} in its state")
    if isinstance(tree, tuple):  # a named tuple
        return {_TAG: _name(kind), "fields": [encoded(t) for t in tree]}
    if isinstance(tree, enum.Enum):
        return {_TAG: _name(kind), "value": encoded(tree.value)}
    slots = getattr(kind, "__slots__", None)
    if slots is not None:
        state = {name: getattr(tree, name) for name in slots}
    else:
        state = tree.__getstate__() if hasattr(tree, "__getstate__") else vars(tree)
    return {_TAG: _name(kind), "state": encoded(state)}


def decoded(tree: Any) -> Any:
    """The rule's state :func:`encoded` made."""
    if isinstance(tree, list):
        return [decoded(t) for t in tree]
    if not isinstance(tree, dict):
        return tree
    tag = tree[_TAG]
    if tag == "numpy":
        array = tree["array"].numpy().copy()
        return array[()] if array.ndim == 0 else array
    if tag == "tuple":
        return tuple(decoded(t) for t in tree["items"])
    if tag == "dict":
        return {decoded(k): decoded(v) for k, v in tree["items"]}
    kind = _kind(tag)
    if "fields" in tree:
        return kind(*(decoded(t) for t in tree["fields"]))
    if "value" in tree:
        return kind(decoded(tree["value"]))
    state = decoded(tree["state"])
    obj = kind.__new__(kind)
    if getattr(kind, "__slots__", None) is not None:
        for name, value in state.items():
            setattr(obj, name, value)
    elif hasattr(obj, "__setstate__"):
        obj.__setstate__(state)
    else:
        obj.__dict__.update(state)
    return obj
