"""A model from plain callables: ``fun(x)``, ``grad(x)`` and ``smoothness(x, R)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .._arrays import Fetched, namespace, to_float
from .._validate import call_user, returned_array, returned_scalar, spelt
from ..oracles._ball import FunctionOracle, LocalSmoothnessOracle, along_of, bound_at
from ..oracles._bounds import LocalBound
from ..oracles._segment import SegmentBound, WrappedSegment
from ._base import Evaluation, Model, fetched_evaluation
from ._power import checked_point

__all__ = ["FunctionModel"]


class FunctionModel(Model):
    """Adapt user callables to the model contract.

    The model has no dimension of its own (:attr:`dim` is ``None``): a run's is its
    ``x0``'s, and the callables are given points of that length.

    Parameters
    ----------
    fun : callable ``fun(x) -> float``, or ``fun(x) -> (float, array)`` when ``grad=True``
    grad : callable ``grad(x) -> array``, or ``True``
    smoothness : callable ``smoothness(x, R) -> float`` or LocalSmoothnessOracle, optional
        The LFSO. Each value it returns is checked (finite, positive, non-decreasing in R).

    Attributes
    ----------
    smoothness : LocalSmoothnessOracle or None
        The oracle (a plain callable wrapped in :class:`lfso.oracles.FunctionOracle`).
        (The built-in models' ``oracle`` attribute is the name of their bound instead:
        ``"sharp"`` or ``"paper"``.)

    Notes
    -----
    Rounding: a ``fun`` that returns a value of a float dtype coarser than ``x``'s (an
    ``np.float32``, a 0-d or 1-element NumPy array, or a 0-d tensor of ``torch.float32``
    computed from a float64 ``x``) declares that its values round at that dtype's level:
    the model takes its unit roundoff as :attr:`unit_roundoff` at the first such value, so
    that the safeguard, the gradient checks and the risk indicators allow for it. A
    Python float says nothing (it carries no dtype), nor does a float64 value: a value
    computed in float32 and returned as ``float(...)`` changes nothing, so return it
    as the float32 value itself, or set :attr:`unit_roundoff`.

    Segment bound (:meth:`segment`): an oracle built with the calculus of
    :mod:`lfso.oracles` (sums, scaling, affine maps, ridge, built-in models) gives its own
    segment bound (``oracle.along(x, d)``: e.g. exact along ``A d`` through an affine map);
    a plain callable ``smoothness(x, R)`` gives the ball's ``L(x, t ||d||) ||d||^2``.

    Examples
    --------
    >>> import numpy as np
    >>> from lfso.models import FunctionModel
    >>> model = FunctionModel(
    ...     lambda x: float(np.sum(x**4)),
    ...     lambda x: 4 * x**3,
    ...     lambda x, R: 12 * (np.max(np.abs(x)) + R) ** 2,  # sup of f'' on B(x, R)
    ... )
    >>> model.value(np.ones(2)), model(np.ones(2), 1.0)
    (2.0, 48.0)
    >>> model.audit_oracle  # a user's oracle: the loop audits it
    True
    """

    has_segment = True
    extras = frozenset({"probe"})

    def __init__(
        self,
        fun: Callable[[Any], Any],
        grad: Callable[[Any], Any] | bool | None,
        smoothness: Callable[[Any, float], float] | LocalSmoothnessOracle | None = None,
    ) -> None:
        if not callable(fun):
            raise TypeError(f"fun must be callable, got {fun!r}")
        if grad is None or grad is False:
            raise TypeError("a plain function needs its gradient: pass grad=callable or grad=True")
        if grad is not True and not callable(grad):
            raise TypeError(f"grad must be callable or True, got {grad!r}")
        self.fun, self.jac = fun, grad
        self._trusted = getattr(fun, "__self__", None) is self  # (see _argument)
        if smoothness is None or isinstance(smoothness, LocalSmoothnessOracle):
            self.smoothness = smoothness
        else:
            self.smoothness = FunctionOracle(smoothness)
        self.has_oracle = self.audit_oracle = self.smoothness is not None
        # (a plain callable's bounds carry no paper's radius; an oracle object's may)
        self._has_paper_radius = not isinstance(self.smoothness, FunctionOracle)

    def _argument(self, x: Any) -> Any:
        """The iterate as a user's callable gets it: a copy (as SciPy passes one), so that
        one that changes its argument in place changes neither the run nor its result, and
        a gradient returned as that argument is not the iterate itself. A model's own
        method (a subclass's, which may key its caches on the iterate) gets ``x``."""
        return x if self._trusted else namespace(x).asarray(x, copy=True)

    def _fun(self, x: Any) -> Any:
        """``fun(x)``, or ``fun(x) -> (value, gradient)`` with ``grad=True``, as returned."""
        out = call_user(self.fun, "fun(x)", self._argument(x))
        if self.jac is True:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise TypeError(
                    f"with {spelt('grad')}=True, fun must return a pair (value, gradient), got "
                    f"{type(out).__name__}"
                    + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else "")
                )
        return out

    def _value_grad(self, x: Any) -> tuple[Any, Any]:
        """``f(x)`` as a float or a 0-d array, and the gradient, both checked; the gradient
        is the run's own array (a copy of a user's, unless the check already made one)."""
        if self.jac is True:
            value, grad = self._fun(x)
            names = ("fun(x)[0]", "fun(x)[1] (the gradient)")
        else:
            called = f"{spelt('grad')}(x)"
            value, grad = self._fun(x), call_user(self.jac, called, self._argument(x))
            names = ("fun(x)", called)
        if getattr(value, "dtype", x.dtype) != x.dtype:
            self._note_rounding(value, x)
        return returned_scalar(value, names[0]), self._own_gradient(grad, names[1], x)

    def _own_gradient(self, grad: Any, name: str, x: Any) -> Any:
        """The gradient ``grad`` returned at ``x`` (``name``), checked, as the run's own
        array (a copy of a user's, unless the check already made one)."""
        xp = namespace(x)
        out = returned_array(grad, name, x, xp)
        if out is grad and not self._trusted:
            # (a copy: the user's array may be a buffer that grad overwrites at its next
            # call, as PyTorch's x.grad is, while the run keeps this one as the gradient at
            # x; a model's own method, as the PyTorch optimiser's, makes a new one)
            out = xp.asarray(out, copy=True)
        return out

    def _note_rounding(self, value: Any, x: Any) -> None:
        """Take the unit roundoff of ``value``'s dtype, a value ``fun`` returned (a NumPy
        float or array, a tensor: ``np.float32`` or a 0-d ``torch.float32`` from a float32
        computation at a float64 ``x``), as the model's :attr:`unit_roundoff` where it is
        coarser than ``x``'s dtype's and the one held. An integer dtype says nothing."""
        if isinstance(value, (np.generic, np.ndarray)):
            if value.dtype.kind != "f":
                return
            eps = float(np.finfo(value.dtype).eps)
        else:
            xp = namespace(value)
            if not xp.isdtype(value.dtype, "real floating"):
                return
            eps = float(xp.finfo(value.dtype).eps)
        if eps > float(namespace(x).finfo(x.dtype).eps) and eps > (self.unit_roundoff or 0.0):
            self.unit_roundoff = eps

    def evaluate(
        self,
        x: Any,
        *,
        bound: bool = True,
        hint: float | None = None,
        probe: Any = None,
        product: Any = None,
    ) -> Evaluation:
        x = self._checked(x)
        raw, grad = self._value_grad(x)
        return self._evaluation(x, raw, grad, bound, probe)

    def evaluate_valued(
        self,
        x: Any,
        value: float,
        *,
        bound: bool = True,
        hint: float | None = None,
        probe: Any = None,
        product: Any = None,
    ) -> tuple[Evaluation, bool]:
        """With a gradient of its own (``grad`` callable), only ``grad(x)`` is called and
        ``value`` taken as ``f(x)`` (as SciPy's line searches hand their accepted value on);
        with ``grad=True``, the pair ``fun(x)`` returned when it computed ``value``
        (``product``, from :meth:`_value_product`, as SciPy's ``MemoizeJac`` keeps it), or
        ``fun`` is called again."""
        if self.jac is True:
            if isinstance(product, _ValueGradient) and product.x is x:
                x = self._checked(x)
                return self._evaluation(x, product.value, product.grad, bound, probe), False
            return super().evaluate_valued(x, value, bound=bound, hint=hint, probe=probe)
        x = self._checked(x)
        called = f"{spelt('grad')}(x)"
        grad = self._own_gradient(call_user(self.jac, called, self._argument(x)), called, x)
        return self._evaluation(x, value, grad, bound, probe), False

    def _evaluation(self, x: Any, raw: Any, grad: Any, bound: bool, probe: Any) -> Evaluation:
        """The evaluation at ``x`` of value ``raw`` and gradient ``grad``."""
        local: LocalBound | None = None
        if bound:
            if self.smoothness is None:
                raise TypeError(
                    "this method needs a smoothness oracle: pass smoothness=callable(x, R) "
                    "or use a model from lfso.models"
                )
            local = bound_at(self.smoothness, x)

        def make(fetched: Fetched) -> Evaluation:
            (value,), gnorm, dot = fetched
            return Evaluation(value, grad, gnorm, local, dot)

        # (a 0-d array of the gradient's library: one round trip for all of it)
        return fetched_evaluation(grad, [raw], probe, make)

    def _checked(self, x: Any) -> Any:
        """``x`` checked to be a 1-D real array before a user's callable sees it (a list,
        a complex or text array: a ``TypeError`` naming ``x``, not the user's function's
        own error or its value with the imaginary part dropped); a float one, a run's
        iterate, as it is."""
        dtype = getattr(x, "dtype", None)
        if getattr(x, "ndim", None) == 1 and (
            getattr(dtype, "kind", None) == "f" or getattr(dtype, "is_floating_point", False)
        ):
            return x
        return checked_point(x, self)

    def _value_product(self, x: Any) -> tuple[float, Any]:
        """:meth:`value`, and with ``grad=True`` the pair ``fun(x)`` returned, checked
        (the gradient the run's own copy: ``fun`` may overwrite its buffer at its next
        call), for :meth:`evaluate_valued` at ``x``; ``None`` where the gradient is not
        one (its error is raised, naming it, where the point is evaluated)."""
        if self.jac is not True:
            return self.value(x), None
        x = self._checked(x)
        value, grad = self._fun(x)
        raw = returned_scalar(value, "fun(x)[0]")
        try:
            held = self._own_gradient(grad, "fun(x)[1] (the gradient)", x)
        except (TypeError, ValueError):
            return to_float(raw), None
        if getattr(value, "dtype", x.dtype) != x.dtype:
            self._note_rounding(value, x)
        return to_float(raw), _ValueGradient(x, raw, held)

    def value(self, x: Any) -> float:
        out = self._fun(self._checked(x))
        name = "fun(x)[0]" if self.jac is True else "fun(x)"
        return to_float(returned_scalar(out[0] if self.jac is True else out, name))

    @property
    def segment_uses_ball(self) -> bool:
        """A plain callable ``smoothness(x, R)`` (or none) has only the ball's segment."""
        return self.smoothness is None or isinstance(self.smoothness, FunctionOracle)

    def segment(self, x: Any, evaluation: Evaluation, direction: Any) -> SegmentBound:
        """The calculus's segment bound, or the ball fallback for a plain callable."""
        if self.smoothness is None or self.segment_uses_ball:
            return super().segment(x, evaluation, direction)
        # (g . d from this model's gradient: the oracle only bounds the curvature)
        inner = along_of(self.smoothness, x, direction)
        return WrappedSegment(inner, grad=evaluation.grad, direction=direction)


class _ValueGradient(NamedTuple):
    """What ``fun(x)`` returned with ``grad=True`` where a line search asked for ``f(x)``:
    the point, the value (checked) and the gradient (checked, the run's own array)."""

    x: Any
    value: Any
    grad: Any
