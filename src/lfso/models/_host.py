"""PyTorch CPU tensors on the host: a row model's NumPy twin over zero-copy views.

A tensor in host memory needs no PyTorch arithmetic: NumPy's fused kernels read the same
memory (``Tensor.numpy()`` shares it). So a row model built on CPU tensors keeps a *twin*,
the same model whose arrays are NumPy views of its own (the data and every array it
computed at construction, as the same bits) and whose namespace is NumPy's, made once on
first use (:func:`host_twin`). Outside :func:`lfso.bench.cpu_as_accelerator`, the model's
:meth:`~lfso.models.Model.evaluate`, :meth:`~lfso.models.Model.segment` and
:meth:`~lfso.models.Model.value` at a CPU tensor convert at the boundary and run the twin's,
that is exactly the NumPy code (:class:`HostTwin`): the point, the probe and the direction
go in as views, the gradient comes out as a tensor sharing the NumPy result's memory
(``torch.from_numpy``, the data's dtype), and what stays inside the model (the carried
product, the bounds' statistics, the segment's rows) stays NumPy. The bounds are then the
NumPy arrays' bounds, with their rounding arguments, in the data's dtype.

The twin's products with the data (``A v``, ``A^T v``) are PyTorch's, on the tensors
themselves (:class:`_TorchProduct`), whose matrix-vector kernels were measured faster
than NumPy's BLAS on tall, narrow data (``docs/results.md``). They sum each row's
``d`` products in another order, so iterates on CPU tensors agree with those on NumPy
arrays to rounding, not bit for bit (with NumPy's products they are NumPy's bit for bit:
``tests/test_torch_host.py``). The bounds do not depend on that order: a dot product of
length ``d`` computed in any order is within ``gamma_d sum_j |a_ij v_j|`` of the exact one
(Higham, *Accuracy and Stability of Numerical Algorithms*, Lemma 3.1 and Section 3.1),
the error every model's rounding pads already cover. Softmax regression's products are
matrix products (the logits of every class, and the gradient's), which its twin takes in
NumPy, as the NumPy model does: its iterates on CPU tensors are NumPy's bit for bit.

Tensors on an accelerator, tensors inside :func:`lfso.bench.cpu_as_accelerator`, tensors
that require a gradient or whose dtype is not the data's take the model's PyTorch code.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import array_api_compat
import numpy as np

from .._arrays import namespace
from .._later import accelerated
from ..oracles._segment import SegmentBound
from ._base import Evaluation, Model
from ._segments import CarriedProduct, _numpy_view, _viewable

__all__ = ["HostTwin", "device_product", "host_twin"]

#: array-api-compat's NumPy namespace (the twin's ``xp``).
_NUMPY = namespace(np.empty(0))
#: The attribute a model keeps its twin in.
_SLOT = "_host_twin"


def host_twin(model: Model, x: Any) -> HostTwin | None:
    """The model's :class:`HostTwin` where ``x`` is a PyTorch CPU tensor on the host path
    (not inside :func:`lfso.bench.cpu_as_accelerator`, no autograd, the data's dtype, float32
    or float64), else ``None`` (the model's own code runs).

    The twin is made on the first such call and kept in the model, and made again where
    the model's attributes changed since (:meth:`HostTwin.made_from`); a model whose data
    are not viewable (NumPy, Dask, tensors on an accelerator, other dtypes) keeps an empty
    one, and this returns ``None``.
    """
    if type(x) is np.ndarray or not array_api_compat.is_torch_array(x):
        return None
    if x.requires_grad or accelerated(x):
        return None
    state = model.__dict__
    twin = state.get(_SLOT)
    if twin is None or not twin.made_from(state):
        twin = _make_twin(model)
        state[_SLOT] = twin
    if twin.model is None or x.dtype != twin.dtype:
        return None
    return twin


def _make_twin(model: Model) -> HostTwin:
    """The twin of ``model`` (empty where its data are not viewable CPU tensors)."""
    # (one copy of the attributes, taken at once: another thread running the same model
    # may store its twin meanwhile, and a dict must not change size while it is iterated)
    state = {k: v for k, v in dict(vars(model)).items() if k != _SLOT}
    source = tuple(state.items())
    data = model.data
    if data is None or not _viewable(data) or data.ndim != 2:
        return HostTwin(None, None, source)
    twin = _host_copy(model, state)
    # The products with the data stay PyTorch's (its matrix-vector kernels outrun NumPy's
    # BLAS on these shapes), on the tensors themselves, as views both ways.
    twin._product = _TorchProduct(data)
    twin._adjoint = _TorchProduct(data.T)
    return HostTwin(twin, data.dtype, source)


class _TorchProduct:
    """``v -> M v`` for a NumPy ``v``, computed by PyTorch on the tensor ``M``, returned as
    a NumPy view of the result (no copy either way)."""

    __slots__ = ("matrix",)

    def __init__(self, matrix: Any) -> None:
        self.matrix = matrix

    def __call__(self, v: np.ndarray) -> np.ndarray:
        import torch

        return torch.mv(self.matrix, torch.from_numpy(v)).numpy()


def _host_copy(obj: Any, source: dict[str, Any] | None = None) -> Any:
    """A shallow copy of ``obj`` (of its attributes ``source``, default all) whose PyTorch
    CPU tensors are NumPy views, whose array namespace is NumPy's, and whose row geometry
    (the model's nested objects that hold arrays) is converted alike; scalars, kernels and
    other objects are shared."""
    source = dict(vars(obj)) if source is None else source
    twin = object.__new__(type(obj))
    state = vars(twin)
    for name, value in source.items():
        if name == _SLOT:
            continue
        if callable(value) and callable(getattr(type(obj), name, None)):
            continue  # (a method wrapped on the instance: the twin's is the class's)
        state[name] = _host_value(value)
    return twin


def _host_value(value: Any) -> Any:
    if array_api_compat.is_torch_array(value):
        return _numpy_view(value)
    if getattr(value, "__name__", None) == "array_api_compat.torch":  # the namespace
        return _NUMPY
    if type(value).__module__.startswith("lfso.models") and hasattr(value, "__dict__"):
        if any(array_api_compat.is_torch_array(v) for v in vars(value).values()):
            return _host_copy(value)  # (a RowGeometry: row norms and the namespace)
    return value


def _view(value: Any) -> Any:
    """A tensor as its NumPy view; anything else unchanged."""
    if value is None or type(value) is np.ndarray:
        return value
    return _numpy_view(value)


def _host_product(product: Any) -> Any:
    """A carried product with its value as NumPy (a tensor's view; what PyTorch's code
    derived from it is left behind, and recomputed)."""
    if product is None or type(product.value) is np.ndarray:
        return product
    drift, xmax = product.drift, product.xmax  # (0-d tensors where the step was sized there)
    return CarriedProduct(
        _numpy_view(product.value),
        float(drift),
        None if xmax is None else float(xmax),
    )


class HostTwin:
    """A model over NumPy views of its CPU tensors, called with tensors (see the module
    docstring): each method takes the tensors the model's own takes, runs the NumPy
    model's, and returns what the model's own returns, the gradient as a tensor.

    Attributes
    ----------
    model : Model or None
        The NumPy twin (the model's class, its arrays NumPy views of the model's); ``None``
        where the model's data are not viewable (its own code runs).
    dtype : torch.dtype or None
        The data's dtype (the tensors it is called with have it).
    source : tuple of (str, object)
        The model's attributes the twin was made from: a model copied or given another
        attribute since (a minibatch's rows, :mod:`lfso.stochastic`) gets a new twin.
    """

    __slots__ = ("dtype", "model", "source")

    def __init__(
        self, model: Model | None, dtype: Any, source: tuple[tuple[str, Any], ...]
    ) -> None:
        self.model: Any = model
        self.dtype, self.source = dtype, source

    def made_from(self, state: dict[str, Any]) -> bool:
        """Whether the model's attributes ``state`` are still those the twin was made from."""
        if len(state) != len(self.source) + 1:
            return False
        return all(state.get(name, self) is value for name, value in self.source)

    def evaluate(
        self,
        x: Any,
        *,
        bound: bool = True,
        hint: float | None = None,
        probe: Any = None,
        product: Any = None,
    ) -> Evaluation:
        """:meth:`Model.evaluate` on the views; the gradient as a tensor sharing its memory."""
        import torch

        ev = self.model.evaluate(
            _numpy_view(x),
            bound=bound,
            hint=hint,
            probe=_view(probe),
            product=_host_product(product),
        )
        ev.grad = torch.from_numpy(ev.grad)
        return ev

    def segment(self, x: Any, evaluation: Evaluation, direction: Any) -> SegmentBound:
        """:meth:`Model.segment` on the views (a NumPy segment: its products stay NumPy,
        as the twin's evaluation takes them)."""
        host = dataclasses.replace(
            evaluation, grad=_view(evaluation.grad), product=_host_product(evaluation.product)
        )
        return self.model.segment(_numpy_view(x), host, _numpy_view(direction))

    def slope_prior(self, x: Any, evaluation: Evaluation, direction: Any) -> float | None:
        """The model's ``_slope_prior`` (its a-priori bound on the computed slope's error,
        :mod:`lfso.models._slope`) on the views, as :meth:`segment` takes them."""
        host = dataclasses.replace(
            evaluation, grad=_view(evaluation.grad), product=_host_product(evaluation.product)
        )
        return self.model._slope_prior(_numpy_view(x), host, _view(direction))  # type: ignore[no-any-return]

    def value(self, x: Any) -> float:
        """``f(x)`` on the views."""
        return self.model.value(_numpy_view(x))

    def value_product(self, x: Any) -> tuple[float, Any]:
        """``f(x)`` on the views, and the NumPy product its pass formed
        (:meth:`Model._value_product`), which :meth:`evaluate` takes as it is."""
        value, product = self.model._value_product(_numpy_view(x))
        return value, product


def device_product(product: Any, data: Any) -> Any:
    """A carried product as the model's own PyTorch code takes it: a NumPy value (carried
    by the twin, before :func:`lfso.bench.cpu_as_accelerator` was entered) as a tensor
    sharing its memory, where the model's ``data`` are tensors; otherwise unchanged."""
    if not isinstance(product, CarriedProduct) or type(product.value) is not np.ndarray:
        return product
    if type(data) is np.ndarray or not array_api_compat.is_torch_array(data):
        return product
    import torch

    return CarriedProduct(torch.from_numpy(product.value), product.drift, product.xmax)
