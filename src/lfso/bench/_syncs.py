"""Counting host-device round trips: the cost a GPU pays beyond bandwidth.

On a GPU every conversion of a tensor to a Python number (``float(t)``, ``t.item()``,
``t.tolist()``, ``bool(t)``, ``t.numpy()``) waits for the device queue to drain and copies
the result back: a synchronisation. Their number per iteration is the same on the CPU as on
CUDA, so it is counted here on CPU tensors (no GPU needed), by wrapping those methods of
``torch.Tensor`` for the duration of a ``with`` block, inside which CPU tensors take the
accelerator's path (:func:`lfso.bench.cpu_as_accelerator`): outside it they take the
host's, which views them as NumPy arrays and defers nothing, as a round trip costs nothing
there.
"""

from __future__ import annotations

import contextlib
import functools
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from .._later import cpu_as_accelerator, in_wait, watch_waits
from .._result import Result, stop_if_interrupted
from .._validate import integer

__all__ = [
    "count_host_syncs",
    "host_time",
    "optimizer_syncs",
    "sync_table",
    "syncs_per_iteration",
]

_CONVERSIONS = ("__float__", "__int__", "__bool__", "__index__", "item", "tolist", "numpy")
#: Tensors made from host data (a number, a list, a NumPy array): on a GPU a copy from the
#: host, which PyTorch follows by a wait for the device queue (``non_blocking=False``).
_UPLOADS = ("asarray", "tensor", "as_tensor")
#: The key of :func:`count_host_syncs` for reads of a fetch that do not drain the device's
#: queue (not round trips a GPU waits for; left out of :func:`syncs_per_iteration`).
OVERLAPPED = "overlapped wait"


@contextlib.contextmanager
def count_host_syncs() -> Iterator[Counter[str]]:
    """Count ``torch.Tensor`` to host conversions inside the block, by method name, and
    tensors made from host data (``torch.asarray``, ``torch.tensor``, ``torch.as_tensor``
    of anything but a tensor: a copy to the device that waits for the device's queue, by
    the function's name).

    A fetch the loop started ahead (:class:`lfso._later.Fetch`) is counted when it is
    read: as ``"wait"`` where the read drains the device's queue (no later fetch was
    started), as :data:`OVERLAPPED` (``"overlapped wait"``) where the device has work
    queued after it; its own conversion is the wait, not counted again.

    Inside the block PyTorch CPU tensors take the path of tensors on an accelerator
    (:func:`lfso.bench.cpu_as_accelerator`), so that what is counted is what a GPU pays.

    Examples
    --------
    >>> import torch
    >>> with count_host_syncs() as counts:
    ...     _ = float(torch.ones(3).sum())
    >>> counts["__float__"]
    1
    """
    import torch

    counts: Counter[str] = Counter()
    originals = {name: getattr(torch.Tensor, name) for name in _CONVERSIONS}
    makers = {name: getattr(torch, name) for name in _UPLOADS}

    def wrap(name: str, method: Any) -> Any:
        def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not in_wait():
                counts[name] += 1
            return method(self, *args, **kwargs)

        return counted

    def upload(name: str, make: Any) -> Any:
        def counted(data: Any, *args: Any, **kwargs: Any) -> Any:
            if not isinstance(data, torch.Tensor):
                counts[name] += 1
            return make(data, *args, **kwargs)

        return counted

    try:
        for name, method in originals.items():
            setattr(torch.Tensor, name, wrap(name, method))
        for name, make in makers.items():
            setattr(torch, name, upload(name, make))

        def waited(drains: bool) -> None:
            counts["wait" if drains else OVERLAPPED] += 1

        with cpu_as_accelerator(), watch_waits(waited):
            yield counts
    finally:
        for name, method in originals.items():
            setattr(torch.Tensor, name, method)
        for name, make in makers.items():
            setattr(torch, name, make)


def _window(value: Any, name: str) -> tuple[int, int]:
    """Two different counts ``>= 0`` (the ends of a slope), checked: a ``TypeError`` or
    ``ValueError`` naming ``name`` and the value."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise TypeError(f"{name} must be a pair of counts (k0, k1), got {name}={value!r}")
    pair = (integer(value[0], f"{name}[0]", low=0), integer(value[1], f"{name}[1]", low=0))
    if pair[0] == pair[1]:
        raise ValueError(f"{name} must be two different counts (a slope), got {name}={value!r}")
    return pair


def _names(value: Any, name: str) -> tuple[str, ...]:
    """A sequence of method names, checked (a single ``str`` is a ``TypeError``: its
    characters are not names)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a sequence of method names, got {name}={value!r}")
    return tuple(value)


def syncs_per_iteration(run: Any, iterations: tuple[int, int] = (10, 60)) -> float:
    """Round trips per iteration of ``run(max_iter)``, net of set-up.

    ``run`` is called with each count in ``iterations`` (two different counts ``>= 0``; it
    must run exactly that many iterations, e.g. ``tol=0``); the slope between the two
    counts excludes the one-off cost of the start (validating ``x0``, the first
    evaluation), and a first run, not counted, what a process makes once (the device's
    constants, :func:`lfso._arrays.constant`).
    """
    if not callable(run):
        raise TypeError(f"run must be callable as run(max_iter), got run={run!r}")
    iterations = _window(iterations, "iterations")
    with cpu_as_accelerator():
        _finished(run(iterations[0]))
    totals = []
    for max_iter in iterations:
        with count_host_syncs() as counts:
            _finished(run(max_iter))
        totals.append(sum(counts.values()) - counts[OVERLAPPED])
    return (totals[1] - totals[0]) / (iterations[1] - iterations[0])


def _data(n: int, d: int, seed: int = 0) -> tuple[Any, Any, Any]:
    """Generated ``(A, b, labels)``: ``n`` rows, ``d`` columns, labels ``b > median(b)``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, d)) / np.sqrt(d)
    b = A @ np.ones(d) + 0.1 * rng.standard_normal(n)
    return A, b, (b > np.median(b)).astype(float)


def _models(n: int, d: int, seed: int = 0) -> dict[str, Any]:
    """Every built-in model on float64 CPU tensors of generated data (``n`` rows, ``d`` columns)."""
    import numpy as np
    import torch

    from .. import models

    A, b, labels = _data(n, d, seed)
    classes = np.digitize(b, np.quantile(b, [1 / 3, 2 / 3])).astype(np.int64)
    At, bt = torch.tensor(A), torch.tensor(b)
    lipschitz = float(np.linalg.norm(A, 2) ** 2)

    def least_squares(x: Any) -> tuple[Any, Any]:  # a user function on tensors
        r = At @ x - bt
        return 0.5 * (r @ r), At.T @ r

    return {
        "power_norm p=2": models.PowerNorm(2),
        "power_sum p=2": models.PowerSum(2),
        "lp_regression p=1": models.LpRegression(At, bt, 1),
        "lp_regression p=2": models.LpRegression(At, bt, 2),
        "lp_regression p=2.5": models.LpRegression(At, bt, 2.5),
        "composite p=2": models.CompositeLeastSquares(At, bt, 2),
        "logistic": models.LogisticRegression(At, torch.tensor(labels), l2=1.0 / n),
        "softmax (3 classes)": models.SoftmaxRegression(At, torch.tensor(classes), 3),
        "cauchy": models.CauchyRegression(At, bt),
        # A black box with a user oracle (audited by the risk monitor: one dot product)
        "function + oracle": models.FunctionModel(least_squares, True, lambda x, radius: lipschitz),
    }


def _method(method: str, step: float) -> tuple[str, dict[str, Any]]:
    """``"name"`` or ``"name:certificate"`` as the method and its options (gd: ``step``)."""
    name, _, certificate = method.partition(":")
    options: dict[str, Any] = {"step": step} if name == "gd" else {}
    if certificate:
        options["certificate"] = certificate
    return name, options


def _finished(result: Any) -> None:
    """A run's result, unless it was interrupted: then its ``KeyboardInterrupt`` again
    (a count from a run cut short is no count of its iterations)."""
    if isinstance(result, Result):
        stop_if_interrupted(result, "a counted run")


def sync_table(
    n: int = 1000,
    d: int = 20,
    methods: tuple[str, ...] = ("gd", "lfso:ball", "lfso", "lfso-lbfgs", "lfso-accel"),
    *,
    ahead: bool = False,
) -> dict[str, dict[str, float]]:
    """Host round trips per iteration, ``{model: {method: syncs}}``, on CPU tensors.

    ``"name:certificate"`` runs ``name`` with that certificate (``"lfso:ball"``: the paper's
    ball certificate with the tight radius, where ``"lfso"`` takes the model's segment).
    ``ahead=True``: as for a model of :data:`lfso._stepper.AHEAD_ROWS` rows or more, where
    the loop runs a point ahead of its evaluations' scalars (the threshold lowered to 0
    for the count; the passes stay PyTorch's operations).
    """
    import torch

    from .._minimize import minimize

    n, d = integer(n, "n", low=1), integer(d, "d", low=1)
    methods = _names(methods, "methods")
    table: dict[str, dict[str, float]] = {}
    with _ahead_from(0 if ahead else None):
        for name, model in _models(n, d).items():
            dim = model.dim if model.dim is not None else d
            x0 = torch.full((dim,), 0.1, dtype=torch.float64)
            step = 0.5 / model.at(x0)(0.0)  # a stable fixed step for "gd"
            row = table[name] = {}
            for method in methods:
                name, options = _method(method, step)
                run = functools.partial(minimize, model, x0, method=name, tol=0.0, **options)
                row[method] = syncs_per_iteration(lambda max_iter, run=run: run(max_iter=max_iter))
    return table


@contextlib.contextmanager
def _ahead_from(rows: int | None) -> Iterator[None]:
    """Inside the block the loop runs ahead from ``rows`` rows (``None``: unchanged)."""
    from .. import _stepper

    threshold = _stepper.AHEAD_ROWS
    if rows is not None:
        _stepper.AHEAD_ROWS = rows
    try:
        yield
    finally:
        _stepper.AHEAD_ROWS = threshold


def optimizer_syncs(
    n: int = 1000,
    d: int = 20,
    methods: tuple[str, ...] = ("lfso", "lfso-lbfgs"),
    steps: tuple[int, int] = (4, 12),
) -> dict[str, dict[str, float]]:
    """Host round trips per ``step()`` of :class:`lfso.torch.LFSO`, ``{row: {method: value}}``.

    L2-regularised logistic regression (the data of :func:`sync_table`, float64 CPU
    tensors) as a closure over one parameter vector, with the automatic oracle
    (``"auto"``) and with a user oracle (``"user"``: the global bound
    ``||A||_2^2 / (4 n) + l2``, a constant, so that it makes no round trip of its own).
    Counted as :func:`syncs_per_iteration` does: the slope between two run lengths, steps 4
    to 12. The rows ``"<oracle>: closure calls"`` give the closure calls per step over the
    same steps, so that what a step adds to one round trip per call shows.

    The window ends before the run reaches rounding. With the automatic oracle
    ``lfso-lbfgs`` converges superlinearly here, and later steps lower ``f`` by a few ulps,
    where rounding decides the safeguard's test (``f`` must not rise), and reach pairs whose
    ``s . y`` is rounding noise, which L-BFGS skips at the cost of more round trips. Which
    of these happen depends on the CPU: ``optimizer_syncs(steps=(5, 30))`` counted 2.20
    for ``lfso-lbfgs`` on one CPU and 2.08 on another.
    """
    import numpy as np
    import torch

    from ..torch import LFSO

    n, d = integer(n, "n", low=1), integer(d, "d", low=1)
    methods, steps = _names(methods, "methods"), _window(steps, "steps")
    A, _, signs = _data(n, d)
    At, labels = torch.tensor(A), torch.tensor(signs)
    l2 = 1.0 / n
    bound = float(np.linalg.norm(A, 2) ** 2) / (4 * n) + l2
    oracles: dict[str, Any] = {"auto": None, "user": lambda params, radius: bound}
    table: dict[str, dict[str, float]] = {}
    per_call: dict[str, dict[str, float]] = {}
    for name, oracle in oracles.items():
        row = table[name] = {}
        calls = per_call[f"{name}: closure calls"] = {}
        for method in methods:
            nfev: list[int] = []

            def run(
                k: int, method: str = method, oracle: Any = oracle, nfev: list[int] = nfev
            ) -> None:
                w = torch.nn.Parameter(torch.zeros(d, dtype=torch.float64))
                opt = LFSO([w], method=method, smoothness=oracle)

                def closure() -> Any:
                    opt.zero_grad()
                    logits = At @ w
                    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
                    loss = loss + 0.5 * l2 * (w @ w)
                    loss.backward()
                    return loss

                for _ in range(k):
                    opt.step(closure)
                nfev.append(opt.nfev)

            row[method] = syncs_per_iteration(run, steps)
            calls[method] = (nfev[-1] - nfev[-2]) / (steps[1] - steps[0])  # (after a warm-up)
    return {**table, **per_call}


def host_time(
    methods: tuple[str, ...] = ("gd", "lfso:ball", "lfso", "lfso-accel"),
    iters: int = 1000,
    repeats: int = 5,
    *,
    compiled: bool = False,
) -> dict[str, float]:
    """Seconds of host time per ``lfso.minimize`` iteration on tiny CPU tensors, by method.

    l_4 regression on 50 x 5 float64 tensors, so that the arithmetic is negligible and what
    is timed is the Python loop, the step rule and PyTorch's dispatch: on a GPU, the part of
    an iteration that the device cannot overlap after a synchronisation. Median of
    ``repeats`` runs of ``iters`` iterations (no history monitor), on the accelerator's
    path (:func:`lfso.bench.cpu_as_accelerator`). ``compiled``: as for a model of
    :data:`lfso.models._fused.MIN_ROWS` rows or more, with the passes that compile there
    compiled here too and the loop a point ahead of its evaluations' scalars
    (:data:`lfso._stepper.AHEAD_ROWS`; both thresholds lowered to these 50 rows for the
    call, an untimed run of each method first, which compiles them): what the host pays
    per iteration for those calls in place
    of PyTorch's operations.
    """
    import statistics
    import time

    import numpy as np
    import torch

    from .._minimize import minimize
    from ..models import LpRegression, _fused

    methods = _names(methods, "methods")
    iters, repeats = integer(iters, "iters", low=1), integer(repeats, "repeats", low=1)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((50, 5))
    model = LpRegression(torch.tensor(A), torch.tensor(A @ np.ones(5)), 2)
    x0 = torch.zeros(5, dtype=torch.float64)
    step = 0.5 / model.at(x0)(0.0)
    out = {}
    threshold = _fused.MIN_ROWS
    try:
        if compiled:
            _fused.MIN_ROWS = 1
        with _ahead_from(0 if compiled else None):
            for method in methods:
                name, options = _method(method, step)
                times = []
                for timed in [False] * compiled + [True] * repeats:
                    start = time.perf_counter()
                    with cpu_as_accelerator():
                        res = minimize(
                            model,
                            x0,
                            method=name,
                            tol=0.0,
                            max_iter=iters,
                            monitor=False,
                            **options,
                        )
                    # (a run cut short would be timed as if it had run iters iterations)
                    stop_if_interrupted(res, f"host_time's run of {method}")
                    if timed:
                        times.append((time.perf_counter() - start) / iters)
                out[method] = statistics.median(times)
    finally:
        _fused.MIN_ROWS = threshold
    return out
