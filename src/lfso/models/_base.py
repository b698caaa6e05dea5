"""The model contract: value, gradient and the oracle's per-point statistics, computed once."""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from array_api_compat import is_torch_array

from .._arrays import (
    Fetched,
    device_norm,
    error_gamma,
    fetch_ahead,
    fetch_with_norm,
    namespace,
    norm_from_square,
    to_floats,
)
from .._later import is_ahead, start_fetch
from .._validate import _show, real
from ..oracles._ball import CheckedOracle
from ..oracles._bounds import LocalBound
from ..oracles._segment import SegmentBound, WrappedSegment
from ._portable import Portable

__all__ = [
    "EXTRAS",
    "Evaluation",
    "Model",
    "PendingEvaluation",
    "fetched_evaluation",
    "fetched_scalars",
]

#: The optional inputs of :meth:`Model.evaluate` beyond ``bound``; a model declares the
#: ones it uses in :attr:`Model.extras`.
EXTRAS = frozenset({"hint", "probe", "product"})

#: Flags of an earlier contract, now spelt as members of :attr:`Model.extras`.
_FLAGS = {"takes_radius_hint": "hint", "takes_probe": "probe", "takes_product": "product"}


@dataclass(slots=True)
class Evaluation:
    """Everything one pass over the data gives at a point.

    Attributes
    ----------
    value : float
        ``f(x)``.
    grad : array, shape (d,)
        ``grad f(x)``.
    grad_norm : float
        ``||grad f(x)||_2`` (brought to the host once).
    bound : LocalBound or None
        ``R -> L(x, R)``, bound from the statistics of this pass; ``None`` when not asked for.
    probe_dot : float or None
        ``grad f(x) @ probe`` when the caller passed a ``probe`` vector (models with
        ``"probe"`` in :attr:`Model.extras`), brought back in the same round trip.
    product : array or None
        The model's own linear image of ``x`` (e.g. ``A x``, margins, logits) kept from this
        pass, for :meth:`Model.segment` of models with ``"product"`` in
        :attr:`Model.extras`; opaque to callers.
    carried : bool
        Whether the evaluation read a product carried from the last step rather than
        computing it (its value and gradient then carry that product's bounded drift); the
        loop re-evaluates the point it returns afresh, so that ``Result.fun`` is ``f(x)``.
    """

    value: float
    grad: Any
    grad_norm: float
    bound: LocalBound | None = None
    probe_dot: float | None = None
    product: Any = None
    carried: bool = False


#: The fields of an :class:`Evaluation` that come from its host fetch (its product comes
#: at once, its drift and ``||x||_inf`` filled in by the fetch: see PendingEvaluation).
_FETCHED = ("value", "grad_norm", "bound", "probe_dot", "carried")


def _norm_and_slope(xp: Any, grad: Any, sq: Any) -> tuple[Any, Any]:
    """``(||g||, -||g||^2)`` from ``g`` and ``sq = g @ g`` (:func:`lfso._arrays.device_norm`),
    PyTorch's operations (``xp`` is not used)."""
    norm = device_norm(xp, grad, sq)
    return norm, -(norm * norm)


#: The slot of :attr:`Evaluation.product` (a pending evaluation's is there at once).
_PRODUCT = Evaluation.__dict__["product"]


def _fetched_field(name: str) -> property:
    """A field of :class:`PendingEvaluation`: the slot of :class:`Evaluation`, read once
    the fetch has arrived."""
    slot = Evaluation.__dict__[name]  # (the slot's member descriptor)

    def get(self: PendingEvaluation) -> Any:
        if self._finish is not None:
            self.settle()
        return slot.__get__(self)

    def put(self: PendingEvaluation, value: Any) -> None:
        slot.__set__(self, value)

    return property(get, put, doc=f"As :attr:`Evaluation.{name}` (waits for the fetch).")


class PendingEvaluation(Evaluation):
    """An :class:`Evaluation` whose host scalars are still on their way from the device
    (:func:`lfso._later.ahead`): ``grad`` is there at once, and so is ``product`` (the
    model's carried product, or ``None`` for a model without one; its drift and
    ``||x||_inf`` are 0-d device arrays until the fetch arrives, host floats after); the
    first read of any other field waits for the fetch (:meth:`settle`, by ``finish()``,
    which returns the evaluation the model would have returned after a fetch that waited:
    the same fields, bit for bit, and the same product)."""

    __slots__ = ("_finish", "_norm", "_sq")

    def __init__(
        self,
        grad: Any,
        finish: Callable[[], Evaluation],
        sq: Any = None,
        product: Any = None,
    ) -> None:
        self._finish: Callable[[], Evaluation] | None = None
        Evaluation.__init__(self, math.nan, grad, math.nan)
        _PRODUCT.__set__(self, product)
        self._finish = finish
        self._sq = sq  # grad @ grad on the device, as fetched (None: not known there)
        self._norm: Any = None

    def follow(self, before: Evaluation) -> None:
        """``before`` is the evaluation of the point before, arrived: until this one's fetch
        arrives, its product's drift budget is tested on ``before``'s
        (:meth:`lfso.models._segments.CarriedProduct.arrived`)."""
        product = _PRODUCT.__get__(self)
        if self._finish is not None and product is not None:
            product.source = before.product

    def device_grad_norm(self) -> tuple[Any, Any] | None:
        """``(||g||, -||g||^2)``, ``grad_norm`` and steepest descent's slope, as 0-d float64
        arrays on the gradient's device (:func:`lfso._arrays.device_norm` of the fetched
        ``grad @ grad``: the same float, up to the square root's rounding), one compiled
        pass where the iteration's arithmetic compiles; ``None`` where the model did not
        fetch that product with the gradient."""
        if self._norm is None and self._sq is not None:
            from . import _fused

            arrays = (self.grad, self._sq)
            compiled = _fused.iteration_compiles(self)
            norm = _fused.one_pass(_norm_and_slope, *arrays) if compiled else None
            self._norm = _norm_and_slope(None, *arrays) if norm is None else norm
        return self._norm

    @property
    def pending(self) -> bool:
        """Whether the fetch has not been read yet."""
        return self._finish is not None

    def settle(self) -> None:
        """Wait for the fetch and take its fields (nothing if they arrived)."""
        finish, self._finish = self._finish, None
        if finish is None:
            return
        done = finish()
        for name in _FETCHED:
            Evaluation.__dict__[name].__set__(self, getattr(done, name))
        _PRODUCT.__set__(self, done.product)


for _name in _FETCHED:
    setattr(PendingEvaluation, _name, _fetched_field(_name))


def fetched_evaluation(
    grad: Any,
    scalars: list[Any],
    probe: Any,
    make: Callable[[Fetched], Evaluation],
    measured: Any = None,
    product: Any = None,
) -> Evaluation:
    """``make(fetch_with_norm(measured, *scalars, probe=probe))``: a model's evaluation
    from its one fetch (``measured``: the array whose norm and probe dot it brings, by
    default the gradient ``grad``). Inside :func:`lfso._later.ahead` on an accelerator the
    fetch is started (:func:`lfso._arrays.fetch_ahead`) and a :class:`PendingEvaluation`
    with the gradient ``grad`` and the carried ``product`` (its drift and ``||x||_inf``
    0-d arrays on the device; ``make`` gives them their host values) returned at once,
    which calls ``make`` when first read."""
    measured = grad if measured is None else measured
    # (on its way where the loop reads it later; a NumPy array never is, as is_ahead says)
    if type(grad) is not np.ndarray and is_ahead(grad):
        finish, sq = fetch_ahead(measured, *scalars, probe=probe)
        norm_sq = sq if measured is grad else None
        return PendingEvaluation(grad, lambda: make(finish()), norm_sq, product)
    return make(fetch_with_norm(measured, *scalars, probe=probe))


def fetched_scalars(
    grad: Any, scalars: list[Any], make: Callable[[list[float]], Evaluation]
) -> Evaluation:
    """``make(to_floats(*scalars))``, or inside :func:`lfso._later.ahead` on an
    accelerator (where ``grad`` is) the :class:`PendingEvaluation` that calls it when
    first read, its fetch started (:func:`lfso._later.start_fetch`)."""
    if is_ahead(grad):
        fetch = start_fetch(scalars)
        return PendingEvaluation(grad, lambda: make(list(fetch.values())))
    return make(to_floats(*scalars))


class Model(Portable, CheckedOracle):
    """A differentiable objective that carries its own LFSO.

    Subclasses implement :meth:`evaluate`, which returns the value, the gradient and (when
    ``bound=True``) the local bound from one pass over the data; :meth:`value`,
    :meth:`grad`, :meth:`at` and :meth:`segment` are derived from it.

    The contract
    ------------
    Everything the loop and the step rules use is declared here; nothing is found by
    probing a model's attribute names.

    * :meth:`evaluate` ``(x, *, bound, hint, probe, product)``. ``bound`` is always passed.
      The optional inputs (:data:`EXTRAS`) reach a model only through
      :meth:`evaluate_with`, the one place that filters them: a model gets those it
      declares in :attr:`extras` (and ``hint`` only with ``bound=True``), so it may leave
      the others out of its signature (the built-in models accept all three and ignore
      the ones they do not declare).
    * :meth:`segment`: a bound along a direction. The default is the ball bound stretched
      along ``d``; a model that overrides it with a sharper, proven bound declares
      ``has_segment = True``, and only then does ``certificate="auto"`` take it.
    * :attr:`data` and :attr:`xp`: the model's row data (``None`` without one) and its array
      namespace; ``x0`` is brought to the data's library and device (and to PyTorch
      data's dtype; with NumPy it keeps its own: :func:`lfso._validate.start_point`).

    Attributes
    ----------
    dim : int or None
        Length of ``x`` the model expects (``None``: any).
    xp : module or None
        The array namespace of the model's data (``None``: the model has no data; ``x0``'s
        own library is used).
    has_oracle : bool
        ``False`` for a model without an LFSO (LFSO methods then estimate one).
    audit_oracle : bool
        Whether the loop should audit the oracle against observed gradient changes (the
        ``oracle`` risk indicator), and the safeguard guard the steps it sizes; true for
        user-supplied oracles and for a built-in model whose bound rests on a constant the
        user stated (``norm=``), false for the built-in models otherwise, whose bounds are
        proven.
    has_segment : bool
        Whether :meth:`segment` is the model's own proven bound along ``d`` (sharper than the
        ball's): ``certificate="auto"`` then certifies with it, unless ``audit_oracle``
        (and the segment reads the audited constant).
    segment_uses_ball : bool
        Whether :meth:`segment` reads the ball bound ``evaluation.bound`` (the default
        segment does): a segment certificate then asks every evaluation for the bound.
    unit_roundoff : float or None
        The unit roundoff of the arithmetic the value is computed in, where it is coarser
        than that of ``x``'s dtype (a PyTorch loss over parameters of several dtypes: ``x``
        holds them in the widest, part of the loss rounds in the narrowest); ``None`` (the
        default): ``x``'s dtype's. The safeguard's descent test and its gradient check
        allow for rounding at this level. A :class:`FunctionModel` (a plain ``fun`` passed
        to :func:`lfso.minimize`) takes it from the values ``fun`` returns: an
        ``np.float32`` (or a float32 array or tensor) at a float64 ``x`` sets float32's.
    extras : frozenset of str
        The optional inputs of :meth:`evaluate` the model uses, a subset of
        :data:`EXTRAS` (default: none):

        * ``"hint"``: ``hint=R``, a radius at which the bound will probably be asked,
          evaluated in the same round trip as the gradient (the models whose bound costs a
          pass over the data per radius);
        * ``"probe"``: ``probe=v``, returned as ``Evaluation.probe_dot = grad f(x) @ v``
          from the same round trip (the built-in models);
        * ``"product"``: ``product=P``, the model's linear image of ``x`` (``A x`` for a
          linear model), already known, so that the evaluation skips that pass over the
          data. A segment bound of such a model provides it for ``x + t d`` as
          ``segment.product(t)`` (``A x + t A d``; the ``A d`` came with the segment).

    Examples
    --------
    >>> import numpy as np
    >>> from lfso.models import LpRegression
    >>> model = LpRegression(np.eye(2), np.ones(2), p=2)
    >>> ev = model.evaluate(np.zeros(2))
    >>> ev.value, ev.grad.tolist()
    (2.0, [-4.0, -4.0])
    >>> model.data is model.A, model.has_segment, sorted(model.extras)
    (True, True, ['probe', 'product'])
    """

    dim: int | None = None
    xp: Any = None
    has_oracle: bool = True
    audit_oracle: bool = False
    has_segment: bool = False
    #: Whether :meth:`segment` is proven even where ``audit_oracle`` is true: it reads none
    #: of the constants the user stated (``norm=``), so a segment certificate needs neither
    #: the audit nor the safeguard, and ``certificate="auto"`` keeps it.
    _segment_proven: bool = False
    #: Whether the bounds may carry the paper's radius ``R0`` (``radius="paper"``): false
    #: for the models known to define none, which ``lfso.minimize`` refuses before a call.
    _has_paper_radius: bool = True
    #: What to do where the oracle under-estimates the smoothness (the ``oracle`` and
    #: ``descent`` risk warnings, a guarded run's message): the claim to check, fix or drop.
    _oracle_advice: str = "check it with lfso.check_oracle, or pass smoothness='auto'"
    unit_roundoff: float | None = None
    extras: frozenset[str] = frozenset()
    #: Caches left out of a pickle or a deep copy (:class:`~lfso.models._portable.Portable`).
    _transient: ClassVar[frozenset[str]] = frozenset({"_host_twin"})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Check the declared contract when a model class is defined: ``extras`` is a
        subset of :data:`EXTRAS`, and the earlier ``takes_*`` flags are refused (with the
        ``extras`` that replaces them)."""
        super().__init_subclass__(**kwargs)
        for flag, extra in _FLAGS.items():
            if flag in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} sets {flag}, which lfso no longer reads: declare "
                    f"extras = frozenset({{{extra!r}}}) (the optional inputs of evaluate() "
                    "the model uses)"
                )
        declared = cls.__dict__.get("extras")
        if isinstance(declared, (set, frozenset)) and not declared <= EXTRAS:
            raise ValueError(
                f"{cls.__name__}.extras must be a subset of {sorted(EXTRAS)}, "
                f"got extras={set(declared)!r}"
            )

    @property
    def segment_uses_ball(self) -> bool:
        """Whether :meth:`segment` needs ``evaluation.bound`` (true for the default)."""
        return type(self).segment is Model.segment

    @property
    def data(self) -> Any:
        """The row data matrix (``n x d``; ``A`` or ``X`` of the built-in models), or ``None``."""
        return None

    def _product(self, v: Any) -> Any:
        """``data @ v``, the row models' product with their data (PyTorch's, on the tensors,
        for the NumPy twin of a model on CPU tensors: :mod:`lfso.models._host`)."""
        return self.data @ v

    def _adjoint(self, v: Any) -> Any:
        """``data^T @ v`` (as :meth:`_product`)."""
        return self.data.T @ v

    def value_error(self, x: Any, evaluation: Evaluation) -> float | None:
        """An upper bound on ``|evaluation.value - f(x)|``, the rounding of the computed
        value at ``x``, or ``None`` where the model states none (the default).

        The risk monitor's ``descent`` indicator reads it (only where ``f`` rose by more
        than a few ulps): a rise within the two values' rounding is not one of the exact
        ``f``. It is called rarely and may cost a pass over ``x``.
        """
        return None

    @abstractmethod
    def evaluate(
        self,
        x: Any,
        *,
        bound: bool = True,
        hint: float | None = None,
        probe: Any = None,
        product: Any = None,
    ) -> Evaluation:
        """Value, gradient and (if ``bound``) the local bound at ``x``, computed together.

        Parameters
        ----------
        x : array, shape (d,)
        bound : bool
            Whether to compute ``Evaluation.bound``.
        hint : float or None
            A radius at which the bound will probably be asked (``"hint"`` in
            :attr:`extras`).
        probe : array like ``x``, or None
            Return ``grad f(x) @ probe`` as ``Evaluation.probe_dot`` (``"probe"``).
        product : array or None
            The model's linear image of ``x`` from a segment bound (``"product"``).
        """

    def evaluate_with(
        self,
        x: Any,
        *,
        bound: bool = True,
        hint: float | None = None,
        probe: Any = None,
        product: Any = None,
    ) -> Evaluation:
        """:meth:`evaluate` with the optional inputs the model declares in :attr:`extras`.

        The one place that filters them: callers (the loop, the safeguard) offer every
        input they have; ``None`` is never passed on, and ``hint`` only with
        ``bound=True`` (it is a radius for the bound).
        """
        if hint is None and probe is None:  # (the loop's usual call: no dict of extras)
            if product is None or "product" not in self.extras:
                return self.evaluate(x, bound=bound)
            return self.evaluate(x, bound=bound, product=product)
        extras = self.extras
        offered: dict[str, Any] = {}
        if hint is not None and bound and "hint" in extras:
            offered["hint"] = hint
        if probe is not None and "probe" in extras:
            offered["probe"] = probe
        if product is not None and "product" in extras:
            offered["product"] = product
        return self.evaluate(x, bound=bound, **offered)

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
        """:meth:`evaluate_with` at a point where ``f(x)`` is known to be ``value`` (this
        model's :meth:`value` there: a line search's accepted trial), and whether ``f``
        was computed again (the run then counts it in ``nfev``).

        By default the model's own evaluation, which computes ``f`` with the gradient
        (its value is :meth:`value`'s, bit for bit); ``product``, what the pass that
        computed ``value`` formed (:meth:`_value_product`: a row model's ``A x``), spares
        it that pass, and ``f`` is then not counted again. A plain function with its own
        gradient (:class:`FunctionModel`) calls only the gradient.
        """
        ev = self.evaluate_with(x, bound=bound, hint=hint, probe=probe, product=product)
        return ev, product is None or "product" not in self.extras

    def _value_product(self, x: Any) -> tuple[float, Any]:
        """``f(x)``, :meth:`value`'s bit for bit, and what its pass formed that the
        evaluation at ``x`` takes instead of forming it again (``product`` of
        :meth:`evaluate_valued`: a row model's fresh ``A x``, a
        :class:`~lfso.models._segments.CarriedProduct` of drift 0), or ``None`` (the
        default: nothing to hand on). Callers go through :func:`value_product`."""
        return self.value(x), None

    def _point(self, x: Any) -> Any:
        """``x`` checked for :meth:`at` and :meth:`along`: of length :attr:`dim` where
        that is known, then finite and 1-d (each a ``ValueError`` naming ``x``)."""
        if self.dim is not None:
            self._check_point(x)
        return super()._point(x)

    def _check_point(self, x: Any) -> None:
        """Raise a ``ValueError`` naming ``x`` unless it is a vector of length :attr:`dim`
        (a model of data, whose products with ``x`` would fail deep inside otherwise), a
        ``TypeError`` where it is no array (a list: ``lfso.minimize`` converts its ``x0``,
        a model's methods take the arrays of its runs), and a ``TypeError`` naming its dtype
        where it is not real (complex, object, text: NumPy would drop an imaginary part
        with a mere warning), or a PyTorch tensor the data cannot meet (NumPy or Dask data,
        another dtype: :meth:`_check_library`)."""
        shape = getattr(x, "shape", None)
        if shape == (self.dim,):
            dtype = x.dtype  # (NumPy's floats, then the data's own dtype: the usual, read)
            if getattr(dtype, "kind", None) != "f" and dtype is not getattr(self.data, "dtype", 0):
                self._check_library(x)
                if not getattr(dtype, "is_floating_point", 0):
                    self._check_real(x)
            return
        if shape is None:
            raise TypeError(
                f"x must be an array of shape ({self.dim},) for this {type(self).__name__}, "
                f"got x={_show(x)} ({type(x).__name__})"
            )
        if shape is not None and (len(shape) != 1 or shape[0] != self.dim):
            raise ValueError(
                f"x must have shape ({self.dim},) for this {type(self).__name__}, "
                f"got x of shape {tuple(shape)}"
            )

    def _check_library(self, x: Any) -> None:
        """Raise a ``TypeError`` naming ``x``, its type and dtype where the model's data
        cannot take it: a PyTorch tensor with data of another library (NumPy, Dask), a
        tensor of another dtype than the data's, or with tensor data an array that is
        neither a tensor nor NumPy's (NumPy points, of any real dtype, are left to the
        model: NumPy and Dask data take NumPy's promotion of the two dtypes)."""
        data = self.data
        if data is None or isinstance(x, np.ndarray):
            return
        x_torch, data_torch = is_torch_array(x), is_torch_array(data)
        if x_torch == data_torch and (not x_torch or x.dtype == data.dtype):
            return
        what = f"{type(x).__module__}.{type(x).__name__} of dtype {x.dtype}"
        if data_torch:
            need = f"a PyTorch tensor of dtype {data.dtype} (its data's)"
        else:
            need = f"an array of its data's library ({type(data).__module__}.{type(data).__name__})"
        raise TypeError(f"x must be {need} for this {type(self).__name__}, got x, a {what}")

    def _check_real(self, x: Any) -> None:
        """Raise a ``TypeError`` naming ``x`` and its dtype unless it is real (floating,
        integral or bool, as :func:`lfso.minimize` takes ``x0``)."""
        try:
            real = namespace(x).isdtype(x.dtype, ("real floating", "integral", "bool"))
        except (TypeError, ValueError):  # (a dtype the array API does not know: object, text)
            real = False
        if not real:
            raise TypeError(
                f"x must be a real array of shape ({self.dim},) for this "
                f"{type(self).__name__}, got x of dtype {x.dtype}"
            )

    def value(self, x: Any) -> float:
        """``f(x)``."""
        return self.evaluate(x, bound=False).value

    def grad(self, x: Any) -> Any:
        """``grad f(x)``."""
        return self.evaluate(x, bound=False).grad

    def _at(self, x: Any) -> LocalBound:
        """``R -> L(x, R)`` (:meth:`at`, for a checked ``x``); a radius that is negative,
        NaN or infinite raises a ``ValueError`` naming it."""
        bound = self.evaluate(x, bound=True).bound
        assert bound is not None
        return _RadiusChecked(bound)

    def segment(self, x: Any, evaluation: Evaluation, direction: Any) -> SegmentBound:
        """``t -> C(x, d, t)``: a bound on the curvature of ``f`` along ``[x, x + t d]``.

        ``C(x, d, t)`` bounds the slope of ``s -> grad f(x + s d) . d`` from above on ``[0,
        t]`` (for ``C^2`` ``f``: ``sup_s d^T H(x + s d) d``; see
        :mod:`lfso.models._segments`), is positive and non-decreasing in ``t``, so it is a
        :class:`~lfso.oracles.LocalBound` in the variable ``t`` and ``radius_for(eta * (-g .
        d))`` returns ``(t, C, calls)`` with ``t C >= eta (-g . d)`` and ``C >= C(x, d,
        t)``, ``t`` about the smallest such (to ``rtol`` on the step); then, with the step
        ``tau = eta (-g . d) / C <= t``,

        .. math::  f(x + \\tau d) \\le f(x) - \\eta (1 - \\eta/2) (g \\cdot d)^2 / C.

        The returned :class:`~lfso.oracles.SegmentBound` also has ``slope`` (``g . d``,
        fetched with the bound's own statistics), ``step_for(eta)`` (the solve with that
        slope, one round trip less) and ``product(t)``: for a model with ``"product"`` in
        :attr:`extras`, its linear image of ``x + t d`` to pass to the next
        :meth:`evaluate` (``None`` otherwise).

        Default, from the ball bound ``evaluation.bound``: the segment lies in
        ``B(x, t ||d||)``, so ``C(x, d, t) = L(x, t ||d||) ||d||^2``. With ``d = -g`` its
        root is the tight-radius LFSO step. The built-in models override this with sharper
        bounds; ``||d||^2`` and ``g . d`` come back in one round trip.
        """
        ball = evaluation.bound
        if ball is None:
            raise ValueError("segment() needs an evaluation made with bound=True")
        sq, slope = to_floats(direction @ direction, evaluation.grad @ direction)
        length = norm_from_square(sq, direction)
        # ||d|| from a sum of its squares in d's dtype: padded by that sum's rounding
        length *= 1.0 + error_gamma(int(direction.shape[0]) + 4, direction.dtype)
        return WrappedSegment(ball.stretched(length) * (length * length), slope=slope)

    def _along(self, x: Any, direction: Any) -> LocalBound:
        """The segment bound at ``x`` along ``direction`` (:meth:`along`, for a checked
        pair: the oracle calculus)."""
        return self.segment(x, self.evaluate(x), direction)


def value_product(model: Model, x: Any) -> tuple[float, Any]:
    """``model._value_product(x)`` where that is ``model.value``'s pair (defined at or below
    the class that defines :meth:`Model.value`); else ``(model.value(x), None)``: a
    subclass that overrides ``value`` alone (a user's, below a row model) has its own
    value read, nothing handed on."""
    kind = type(model)
    paired = _PAIRED.get(kind)
    if paired is None:
        paired = _PAIRED[kind] = issubclass(_owner(kind, "_value_product"), _owner(kind, "value"))
    return model._value_product(x) if paired else (model.value(x), None)


#: Whether a model class's ``_value_product`` pairs with its ``value`` (:func:`value_product`).
_PAIRED: dict[type, bool] = {}


def _owner(cls: type, name: str) -> type:
    """The class in ``cls``'s method resolution order that defines ``name`` (one does)."""
    return next(k for k in cls.__mro__ if name in vars(k))


class _RadiusChecked(LocalBound):
    """A bound handed out by :meth:`Model.at`: every radius it is called at is checked to
    be finite and ``>= 0``; everything else is the bound's own."""

    def __init__(self, bound: LocalBound) -> None:
        self.bound = bound
        self.convex, self.paper_radius = bound.convex, bound.paper_radius
        self.hint, self.monotone_rtol = bound.hint, bound.monotone_rtol
        self.proven = bound.proven

    def __call__(self, radius: float) -> float:
        return self.bound(real(radius, "radius", low=0.0))

    def derivative(self, radius: float) -> float:
        return self.bound.derivative(radius)

    def _limit(self) -> float:
        return self.bound._limit()

    def start(self, target: float) -> float | None:
        return self.bound.start(target)

    def radius_for(
        self, target: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        return self.bound.radius_for(target, rtol=rtol, guess=guess)

    def __add__(self, other: LocalBound) -> LocalBound:
        return self.bound + other

    def __mul__(self, factor: float) -> LocalBound:
        return self.bound * factor

    __rmul__ = __mul__

    def stretched(self, factor: float) -> LocalBound:
        return self.bound.stretched(factor)
