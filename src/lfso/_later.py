"""Scalars computed on the data's device and brought to the host with the next fetch.

A step sized on the device (:meth:`lfso.segments.SegmentBound.device_step`) and an L-BFGS
direction whose dot products stay there produce 0-d arrays that the step itself does not
need on the host: only the history, the progress bar and the next iteration's control
flow read them. Fetching each would cost a host round trip (a GPU synchronisation). So
inside :func:`riding` (the loop), :func:`later` wraps such a 0-d array in a :class:`Later`
registered as a *rider*: the next :func:`lfso._arrays.to_floats` (the next evaluation's
single fetch of ``f``, ``||g||`` and the oracle's statistics) stacks the riders with its own
scalars, so they reach the host in the same round trip. A rider read before that
(:meth:`Later.get`) fetches every pending rider at once.

Outside :func:`riding` nothing is deferred (:func:`deferring` is false), so a step rule
driven directly (``lfso.torch.LFSO``, the safeguard's trials) computes its scalars on
the host as before.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import array_api_compat

__all__ = ["Later", "deferring", "has_riders", "later", "resolve", "riding", "take_riders"]

_PENDING: ContextVar[list[Later] | None] = ContextVar("lfso_riders", default=None)


class Later:
    """A 0-d array whose host value arrives with the next fetch (see the module docstring).

    ``value`` is ``None`` until then; :meth:`get` returns the float, fetching every pending
    rider in one round trip if the value has not arrived yet.
    """

    __slots__ = ("array", "value")

    def __init__(self, array: Any) -> None:
        self.array = array
        self.value: float | None = None

    def get(self) -> float:
        """The value as a Python float (a round trip only if no fetch brought it yet)."""
        if self.value is None:
            pending = _PENDING.get()
            riders = [self] + [r for r in (pending or ()) if r is not self and r.value is None]
            if pending is not None:
                pending.clear()
            _fetch(riders)
        assert self.value is not None
        return self.value

    def __float__(self) -> float:
        return self.get()

    def __repr__(self) -> str:
        return f"Later({self.value if self.value is not None else '...'})"


def _fetch(riders: list[Later]) -> None:
    """One stacked transfer for ``riders`` (grouped by device: one per device)."""
    import torch

    groups: dict[Any, list[Later]] = {}
    for rider in riders:
        groups.setdefault(rider.array.device, []).append(rider)
    for group in groups.values():
        host = torch.stack([r.array.reshape(()) for r in group]).tolist()
        for rider, value in zip(group, host, strict=True):
            rider.value = float(value)


@contextlib.contextmanager
def riding() -> Iterator[None]:
    """Inside the block, :func:`later` defers device scalars to the next fetch."""
    token = _PENDING.set([])
    try:
        yield
    finally:
        _PENDING.reset(token)


def deferring(array: Any) -> bool:
    """Whether scalars computed from ``array`` should be deferred: inside :func:`riding`,
    on PyTorch tensors (NumPy has no round trip to save; Dask computes per fetch)."""
    return _PENDING.get() is not None and array_api_compat.is_torch_array(array)


def later(array: Any) -> Later:
    """``array`` (0-d, PyTorch) as a :class:`Later` rider on the next fetch."""
    rider = Later(array)
    pending = _PENDING.get()
    if pending is None:  # not riding: fetch now
        rider.get()
    else:
        pending.append(rider)
    return rider


def has_riders() -> bool:
    """Whether some deferred scalars wait for the next fetch."""
    return bool(_PENDING.get())


def take_riders(first: Any) -> list[Later]:
    """The pending riders on ``first``'s device, removed from the queue (for a fetch
    that stacks them with its own scalars and then calls :func:`settle`)."""
    pending = _PENDING.get()
    if not pending:
        return []
    where = getattr(first, "device", None)
    taken = [r for r in pending if r.value is None and r.array.device == where]
    pending[:] = [r for r in pending if r.value is None and r.array.device != where]
    return taken


def settle(riders: list[Later], values: list[float]) -> None:
    """Record the fetched ``values`` of ``riders``."""
    for rider, value in zip(riders, values, strict=True):
        rider.value = float(value)


def resolve(value: Any) -> float:
    """A float from a float or a :class:`Later` (NaN for ``None``)."""
    if value is None:
        return math.nan
    if isinstance(value, Later):
        return value.get()
    return float(value)
