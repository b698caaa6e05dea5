"""Scalars computed on the data's device and brought to the host with the next fetch.

A step sized on the device (:meth:`lfso.oracles.SegmentBound.device_step`) and an L-BFGS
direction whose dot products stay there produce 0-d arrays that the step itself does not
need on the host: only the history, the progress bar and the next iteration's control
flow read them. Fetching each would cost a host round trip (a GPU synchronisation). So
inside :func:`riding` (the loop), :func:`later` wraps such a 0-d array in a :class:`Later`
registered as a *rider*: the next :func:`lfso._arrays.to_floats` (the next evaluation's
single fetch of ``f``, ``||g||`` and the oracle's statistics) stacks the riders with its own
scalars, so they reach the host in the same round trip. A rider read before that
(:meth:`Later.get`) fetches every pending rider at once.

Outside :func:`riding` nothing is deferred (:func:`deferring` is false), so a step rule
driven directly computes its scalars on the host as before. Nor on PyTorch CPU tensors,
where a round trip costs nothing: there the step is solved on the host, one trial step at
a time (batches of trial steps would cost a pass over the rows each). Inside
:func:`cpu_as_accelerator` CPU tensors are treated as an accelerator's instead (deferred
scalars, steps sized on the device): how the device path is counted and timed without a
GPU (:func:`lfso.bench.count_host_syncs` enters it). ``lfso.torch.LFSO`` rides
over a rider list of its own, set around each ``step()`` (:func:`riding` with ``riders``),
so that what one step leaves pending rides the next step's first fetch.

Distances ride too: a model that knows which distance a rule will ask for next (the
PyTorch closure model: the automatic oracle's secant ``||x_new - x||`` and
``||g_new - g||``) computes ``||a - b||^2`` on the device before its evaluation's fetch and
registers it with :func:`remember_dot`; :func:`lfso._arrays.distance` then returns
``sqrt`` of the fetched value, the same float that :func:`lfso._arrays.norm` computes
(``sqrt(float(v @ v))``), with no round trip of its own (:func:`known_dot` likewise for
the L-BFGS estimate's ``s . y``).

An evaluation can also be *ahead* of the host: inside :func:`ahead` (the loop, around an
evaluation it makes before it has read the last one's scalars) a model on an accelerator
starts its one fetch (:func:`start_fetch`) and returns at once; its scalars arrive when
first read (:meth:`Fetch.values`). On a CUDA device the fetch is a copy into pinned host
memory that does not wait, and reading waits for that copy alone: work queued after it
keeps the device busy meanwhile, so such a wait does not drain the device's queue.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

import array_api_compat
import numpy as np

__all__ = [
    "Fetch",
    "Later",
    "accelerated",
    "ahead",
    "cpu_as_accelerator",
    "deferring",
    "has_riders",
    "host_value",
    "in_wait",
    "is_ahead",
    "known_dot",
    "later",
    "remember_dot",
    "riding",
    "settle_riders",
    "start_fetch",
    "take_riders",
    "watch_waits",
]

_PENDING: ContextVar[list[Later] | None] = ContextVar("lfso_riders", default=None)
#: Dot products of differences known on the device, ``((a, b), (c, e), (a - b) @ (c - e)
#: as a rider)``, newest last.
_KNOWN: ContextVar[list[Known] | None] = ContextVar("lfso_known", default=None)
#: Products kept: a rule asks for those of the last evaluation (at most three), and no
#: more are kept, since each holds its arrays (vectors of the problem's size) alive.
_KEEP = 3
#: Whether PyTorch CPU tensors take the accelerator's path (see :func:`cpu_as_accelerator`).
_CPU_AS_ACCELERATOR: ContextVar[bool] = ContextVar("lfso_cpu_as_accelerator", default=False)
#: Whether an evaluation may leave its scalars on their way (see :func:`ahead`).
_AHEAD: ContextVar[bool] = ContextVar("lfso_ahead", default=False)
#: Fetches started so far: a fetch read after a later one started does not drain the queue.
_STARTED = [0]
#: Told of each wait for a fetch, ``True`` where it drains the device's queue (see
#: :func:`watch_waits`).
_WAITS: ContextVar[Callable[[bool], None] | None] = ContextVar("lfso_waits", default=None)
#: Inside a wait for a fetch (its own conversions are the wait, not more round trips).
_IN_WAIT: ContextVar[bool] = ContextVar("lfso_in_wait", default=False)


class Later:
    """A 0-d array whose host value arrives with the next fetch (see the module docstring).

    ``value`` is ``None`` until then; :meth:`get` returns the float, fetching every pending
    rider in one round trip if the value has not arrived yet.
    """

    __slots__ = ("array", "fetch", "value")

    def __init__(self, array: Any) -> None:
        self.array = array
        self.value: float | None = None
        self.fetch: Fetch | None = None  # the fetch that took it, until it arrives

    def get(self) -> float:
        """The value as a Python float (a round trip only if no fetch brought it yet)."""
        if self.value is None and self.fetch is not None:
            self.fetch.values()  # (on its way: wait for it)
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


#: A remembered product: the two pairs of arrays and the value (see :func:`remember_dot`).
Known = tuple[tuple[Any, Any], tuple[Any, Any], Later]


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
def riding(riders: list[Later] | None = None, known: list[Known] | None = None) -> Iterator[None]:
    """Inside the block, :func:`later` defers device scalars to the next fetch.

    ``riders`` and ``known``: lists that outlive the block (an optimiser's, set around each
    ``step()``): what is pending or remembered at its end stays for the next block.
    """
    token = _PENDING.set([] if riders is None else riders)
    known_token = _KNOWN.set([] if known is None else known)
    try:
        yield
    finally:
        _KNOWN.reset(known_token)
        _PENDING.reset(token)


@contextlib.contextmanager
def cpu_as_accelerator(enabled: bool = True) -> Iterator[None]:
    """Inside the block, PyTorch CPU tensors take the path of tensors on an accelerator.

    By default a CPU tensor is host memory: nothing is deferred (:func:`deferring` is
    false), the certified step is solved on the host one trial step at a time, and the row
    kernels run on zero-copy NumPy views of the tensors (:class:`lfso.models._segments.
    RowSegment`). Inside this block (``enabled=True``) CPU tensors stand in for a GPU's:
    the loop defers its scalars and sizes the step on the device
    (:meth:`~lfso.oracles.SegmentBound.device_step`), and nothing is viewed as NumPy, so
    that host round trips are counted (:func:`lfso.bench.count_host_syncs`, which enters
    this block) and the device path is timed and tested as it runs on a GPU.
    ``enabled=False`` restores the default inside the block. Tensors on an accelerator
    take the device path either way.

    Examples
    --------
    >>> import torch
    >>> x = torch.zeros(3)
    >>> with riding():
    ...     on_host = deferring(x)
    ...     with cpu_as_accelerator():
    ...         as_on_a_gpu = deferring(x)
    >>> on_host, as_on_a_gpu
    (False, True)
    """
    token = _CPU_AS_ACCELERATOR.set(bool(enabled))
    try:
        yield
    finally:
        _CPU_AS_ACCELERATOR.reset(token)


_NDARRAY = np.ndarray


def accelerated(array: Any) -> bool:
    """Whether ``array`` is a PyTorch tensor on an accelerator (any device but the CPU),
    or on the CPU inside :func:`cpu_as_accelerator`."""
    if type(array) is _NDARRAY or not array_api_compat.is_torch_array(array):
        return False
    return array.device.type != "cpu" or _CPU_AS_ACCELERATOR.get()


def deferring(array: Any) -> bool:
    """Whether scalars computed from ``array`` should be deferred: inside :func:`riding`,
    on PyTorch tensors on an accelerator (:func:`accelerated`; NumPy and CPU tensors have
    no round trip to save, Dask computes per fetch)."""
    if type(array) is _NDARRAY:  # (the common case, without the context lookup)
        return False
    return _PENDING.get() is not None and accelerated(array)


def later(array: Any) -> Later:
    """``array`` (0-d, PyTorch) as a :class:`Later` rider on the next fetch."""
    rider = Later(array)
    pending = _PENDING.get()
    if pending is None:  # not riding: fetch now
        rider.get()
    else:
        pending.append(rider)
    return rider


def remember_dot(first: tuple[Any, Any], second: tuple[Any, Any], value: Any) -> None:
    """Inside :func:`riding`: ``(a - b) @ (c - e)`` is ``value`` (a 0-d PyTorch array
    computed that way) for ``first = (a, b)``, ``second = (c, e)``; it rides the next fetch
    and :func:`known_dot` (so :func:`lfso._arrays.distance`) will use it."""
    known = _KNOWN.get()
    if known is None:
        return
    known.append((first, second, later(value)))
    del known[:-_KEEP]


def known_dot(first: tuple[Any, Any], second: tuple[Any, Any]) -> float | None:
    """The remembered ``(a - b) @ (c - e)`` of these very arrays as a float, or ``None``."""
    for one, two, value in reversed(_KNOWN.get() or ()):
        if one[0] is first[0] and one[1] is first[1] and two[0] is second[0]:
            if two[1] is second[1]:
                return value.get()
    return None


def has_riders() -> bool:
    """Whether some deferred scalars wait for the next fetch."""
    return bool(_PENDING.get())


def take_riders(first: Any) -> list[Later]:
    """The pending riders on ``first``'s device, removed from the queue (for a fetch
    that stacks them with its own scalars and then calls :func:`settle_riders`)."""
    pending = _PENDING.get()
    if not pending:
        return []
    where = getattr(first, "device", None)
    taken = [r for r in pending if r.value is None and r.array.device == where]
    pending[:] = [r for r in pending if r.value is None and r.array.device != where]
    return taken


def settle_riders(riders: list[Later], values: list[float]) -> None:
    """Record the fetched ``values`` of ``riders``."""
    for rider, value in zip(riders, values, strict=True):
        rider.value = float(value)


class Fetch:
    """0-d PyTorch arrays of one device, with the riders pending there, on their way to
    the host (:func:`start_fetch`; numbers among them are kept as they are).

    They are stacked into one array on the device; on a CUDA device that array is copied
    into pinned host memory without waiting (``non_blocking=True``) and an event is
    recorded after the copy, so that :meth:`values` waits for the copy alone, not for the
    work queued after it. Elsewhere (CPU tensors, where the values exist already; other
    accelerators, where the read is one synchronising copy) the copy is made when the
    values are first read. Whether a read drains the device's queue is told to
    :func:`watch_waits`: it does not where another fetch was started since (the device
    then holds the work that fetch follows).
    """

    __slots__ = ("_count", "_event", "_host", "_known", "_riders", "_serial", "_values")

    def __init__(self, arrays: list[Any]) -> None:
        import torch

        # (numbers already on the host stay there, in their places)
        self._known = [None if isinstance(a, torch.Tensor) else float(a) for a in arrays]
        tensors = [a.reshape(()) for a in arrays if isinstance(a, torch.Tensor)]
        riders = take_riders(tensors[0])
        stacked = torch.stack(tensors + [r.array.reshape(()) for r in riders])
        for rider in riders:
            rider.fetch = self
        self._riders, self._count = riders, len(tensors)
        self._values: list[float] | None = None
        self._host: Any = stacked
        self._event: Any = None
        if stacked.device.type == "cuda":
            with torch.cuda.device(stacked.device):
                host = torch.empty(stacked.shape, dtype=stacked.dtype, pin_memory=True)
                host.copy_(stacked, non_blocking=True)
                self._event = torch.cuda.Event()
                self._event.record()
            self._host = host
        _STARTED[0] += 1
        self._serial = _STARTED[0]

    def values(self) -> list[float]:
        """The arrays' values as floats, in order (the riders' are recorded on them); the
        first call waits for them."""
        values = self._values
        if values is None:
            watch = _WAITS.get()
            if watch is not None:
                watch(_STARTED[0] == self._serial)  # (no fetch started since: a drain)
            token = _IN_WAIT.set(True)
            try:
                if self._event is not None:
                    self._event.synchronize()
                host = self._host.tolist()
            finally:
                _IN_WAIT.reset(token)
            self._host = self._event = None
            riders = self._riders
            if riders:
                settle_riders(riders, host[self._count :])
                for rider in riders:
                    rider.fetch = None
            fetched = iter(host)
            values = [next(fetched) if v is None else v for v in self._known]
            self._values = values
        return values


def start_fetch(arrays: list[Any]) -> Fetch:
    """Start bringing ``arrays`` (0-d PyTorch arrays of one device, at least one, or
    numbers already on the host) and the riders pending on that device to the host; see
    :class:`Fetch`."""
    return Fetch(arrays)


@contextlib.contextmanager
def ahead() -> Iterator[None]:
    """Inside the block an evaluation on an accelerator may start its fetch and return
    before its scalars arrive (:func:`is_ahead`): the loop's evaluation of a point it
    reached before reading the last point's scalars."""
    token = _AHEAD.set(True)
    try:
        yield
    finally:
        _AHEAD.reset(token)


def is_ahead(array: Any) -> bool:
    """Whether an evaluation whose gradient is ``array`` may leave its scalars on their
    way: inside :func:`ahead`, on an accelerator (:func:`accelerated`)."""
    return _AHEAD.get() and accelerated(array)


@contextlib.contextmanager
def watch_waits(watch: Callable[[bool], None]) -> Iterator[None]:
    """Inside the block, ``watch(drains)`` is called at each first read of a
    :class:`Fetch` (``drains``: no fetch was started after it, so the read waits for the
    device's whole queue); the read's own conversion to host values is inside the wait
    (:func:`in_wait` is true there)."""
    token = _WAITS.set(watch)
    try:
        yield
    finally:
        _WAITS.reset(token)


def in_wait() -> bool:
    """Whether a :class:`Fetch` is being read (see :func:`watch_waits`)."""
    return _IN_WAIT.get()


def host_value(value: Any) -> float:
    """A float from a float or a :class:`Later` (NaN for ``None``)."""
    if type(value) is float:  # (the common case first)
        return value
    if value is None:
        return math.nan
    if isinstance(value, Later):
        return value.get()
    return float(value)
