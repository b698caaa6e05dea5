"""Models that pickle and deep-copy: their array namespace by name, their caches left behind.

A model holds what no pickle takes: its array namespace (a module, ``array_api_compat.numpy``
or ``.torch``) and its segment kernels (functions made for its constants,
:func:`lfso.models._segments.power_kernel`). And it keeps caches made on first use, keyed
on the identity of the arrays they were made from (a PyTorch model's NumPy twin,
:func:`lfso.models._host.host_twin`; NumPy copies of its labels): a copy of them would
double the data a pickle carries, and a copy's arrays are new, so it makes its own anyway.
:class:`Portable` saves the namespace by its module's name, a kernel by the call that made
it (:func:`rebuilt_by`), and leaves the caches (:attr:`Portable._transient`) behind: a
model sent to a worker process (``joblib``, ``multiprocessing``) or deep-copied is the
model, and runs as it does, bit for bit. A shallow copy (``copy.copy``) shares everything,
caches included, as before.
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Callable
from typing import Any, ClassVar

__all__ = ["Portable", "rebuilt_by"]

#: The attribute a kernel keeps the call that made it in (:func:`rebuilt_by`).
_RECIPE = "_lfso_recipe"


def rebuilt_by(function: Callable[..., Any], factory: Callable[..., Any], *args: Any) -> None:
    """Record that ``function`` is ``factory(*args)``: a pickle of a :class:`Portable` that
    holds it calls that again (``factory`` is a module-level function, picklable by name)."""
    setattr(function, _RECIPE, (factory, args))


class _Module:
    """A module, pickled as the import of its name."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __reduce__(self) -> tuple[Any, ...]:
        return importlib.import_module, (self.name,)


class _Call:
    """A value pickled as the call that makes it (:func:`rebuilt_by`)."""

    __slots__ = ("args", "factory")

    def __init__(self, factory: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.factory, self.args = factory, args

    def __reduce__(self) -> tuple[Any, ...]:
        return self.factory, self.args


class Portable:
    """Pickled and deep-copied without modules, kernels and caches (see the module
    docstring); shallow-copied as a plain object."""

    #: Attributes that are caches, made again on first use (not pickled, not deep-copied).
    _transient: ClassVar[frozenset[str]] = frozenset()

    def __getstate__(self) -> dict[str, Any]:
        state = {}
        for name, value in vars(self).items():
            if name in self._transient:
                continue
            if isinstance(value, types.ModuleType):
                value = _Module(value.__name__)
            elif isinstance(value, types.FunctionType) and hasattr(value, _RECIPE):
                value = _Call(*getattr(value, _RECIPE))
            state[name] = value
        return state

    def __copy__(self) -> Any:
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        return twin
