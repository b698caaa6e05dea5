"""Memory traffic over the rows per iteration on an accelerator's path, against a plain loop.

Usage::

    python benchmarks/device_traffic.py                  # 2^18 rows, d = 25 and 100
    python benchmarks/device_traffic.py --rows 300000 --d 100 --models l4

At large ``n`` a GPU iteration is bound by memory: each PyTorch operation over the rows
reads its operands and writes its result, so the iteration's time is about the bytes it
moves over the device's copy rate. This counts them exactly on CPU tensors inside
:func:`lfso.bench.cpu_as_accelerator` (the path a GPU takes), with a
``TorchDispatchMode``: every operation with an operand or result of ``n`` elements or more
counts the sizes of those (views, which move nothing, left out), in units of one
row-length vector of the data's dtype, per iteration (the slope between runs of 10 and 30
iterations, after an untimed run). A pass compiled into one (:mod:`lfso.models._fused`)
counts what it reads and writes once: a batch of trial steps, the rows, their change and
their weights; the logistic segment's rows, the margins, their change and sizes, and the
three rows it makes. Beside it the same count for the plain loop of
``gpu_iteration_cost.py`` (l_4: ``r = A x - b``, ``x -= t 4 A^T r^3``; logistic: ``x += t
A^T (s sigma(-s A x)) / n``; with ``--models``, l_3: ``x -= t 3 A^T (|r| r)``, and Cauchy,
``c`` the median ``|b_i|``: ``x -= t A^T (r / (1 + r^2 / c^2))``), whose two products with
``A`` move ``2 d + 2`` vectors. The
ratio is a GPU's time ratio at sizes where it is bound by memory; what it leaves out is
the host's time per iteration (``benchmarks/host_syncs.py``), which bounds a GPU iteration
from below at small sizes. Needs PyTorch.
"""

from __future__ import annotations

import argparse
import warnings
from typing import Any

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes

import lfso
from lfso.bench import cpu_as_accelerator
from lfso.models import _fused

#: Operators that move no data (views, metadata).
_VIEWS = {
    "view",
    "_unsafe_view",
    "as_strided",
    "select",
    "slice",
    "expand",
    "t",
    "transpose",
    "permute",
    "reshape",
    "unsqueeze",
    "squeeze",
    "detach",
    "alias",
    "lift_fresh",
    "empty",
    "empty_strided",
    "empty_like",
}


class RowTraffic(TorchDispatchMode):
    """Counts the elements moved by operations on arrays of ``rows`` elements or more (in
    ``moved``)."""

    def __init__(self, rows: int) -> None:
        super().__init__()
        self.rows, self.moved = rows, 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        if func.overloadpacket.__name__ not in _VIEWS:
            self.moved += sum(self._sizes(args)) + sum(self._sizes(out))
        return out

    def _sizes(self, value: Any) -> list[int]:
        if isinstance(value, torch.Tensor):
            return [value.numel()] if value.numel() >= self.rows else []
        if isinstance(value, (list, tuple)):
            return [s for v in value for s in self._sizes(v)]
        return []


def _counting_fused(counter: list[RowTraffic | None]) -> dict[str, Any]:
    """:mod:`lfso.models._fused`'s compiled passes, counting what each reads and writes
    (the trial sums: the rows, their change, the weights; the logistic segment's rows: the
    margins, their change and their sizes, and the three rows it makes; a model's rows
    pass: its rows and the rows it makes) and running them outside the count."""
    sums, rows, one_pass = _fused.trial_sums, _fused.approach_rows, _fused.one_pass

    def add(*arrays: Any) -> None:  # (arrays of the rows' length: as RowTraffic counts)
        mode = counter[0]
        if mode is not None:
            mode.moved += sum(mode._sizes(list(arrays)))

    def counted_pass(function: Any, *arrays: Any) -> Any:
        with _disable_current_modes():
            out = one_pass(function, *arrays)
        made = () if out is None else out if isinstance(out, tuple) else (out,)
        add(*arrays, *made)
        return out

    def trial_sums(kernel: Any, r: Any, u: Any, weight: Any, *rest: Any) -> Any:
        add(r, u, weight)
        with _disable_current_modes():
            return sums(kernel, r, u, weight, *rest)

    def approach_rows(m: Any, v: Any, delta: Any, eps: Any, unit: float, size: Any) -> Any:
        with _disable_current_modes():
            out = rows(m, v, delta, eps, unit, size)
        add(m, v, size, *(out[:3] if out is not None else ()))
        return out

    return {"trial_sums": trial_sums, "approach_rows": approach_rows, "one_pass": counted_pass}


def _data(n: int, d: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(A, b, noisy, s)``: ``b = A 1`` (consistent: l_4 and l_3 regression are flat at
    their minimum, so float32 runs stay far from the precision limit for the iterations
    counted; the labels ``s`` its signs), and ``noisy = b + 0.5 N(0, 1)`` for Cauchy
    regression (which on ``b`` converges to a zero gradient within a few iterations)."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, d)) / np.sqrt(d)
    b = A @ np.ones(d)
    noisy = b + 0.5 * rng.standard_normal(n)
    At, bt = torch.tensor(A, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)
    return At, bt, torch.tensor(noisy, dtype=torch.float32), torch.where(bt > 0, 1.0, -1.0)


def _plain(model: str, A: torch.Tensor, b: torch.Tensor, s: torch.Tensor, iters: int) -> None:
    x, inv_c2 = torch.zeros(A.shape[1]), 1.0 / _cauchy_scale(b) ** 2
    for _ in range(iters):
        if model == "logistic":
            x = x + 1e-3 * (A.T @ (s * torch.sigmoid(-s * (A @ x))))
            continue
        r = A @ x - b
        if model == "l4":
            x = x - 1e-6 * 4.0 * (A.T @ (r * r * r))
        elif model == "l3":
            x = x - 1e-6 * 3.0 * (A.T @ (r.abs() * r))
        else:  # (Cauchy: the mean of rho', its 1/n with the step)
            x = x - 1e-3 * (A.T @ (r / (1.0 + inv_c2 * (r * r))))


def _cauchy_scale(b: torch.Tensor) -> float:
    """Cauchy regression's ``c``: the median ``|b_i|``."""
    return float(b.abs().median())


def _model(name: str, A: torch.Tensor, b: torch.Tensor, s: torch.Tensor) -> Any:
    """The model ``name`` on the data."""
    if name in ("l4", "l3"):
        return lfso.models.LpRegression(A, b, 2 if name == "l4" else 1.5)
    if name == "cauchy":
        return lfso.models.CauchyRegression(A, b, _cauchy_scale(b))
    return lfso.models.LogisticRegression(A, s)  # (separable: no minimum to reach)


def per_iteration(run: Any, rows: int, counter: list[RowTraffic | None]) -> float:
    """Row-length vectors moved per iteration by ``run(iters)``: the slope between 10 and
    30 iterations, after an untimed run of 10 (what a process makes once, left out)."""
    run(10)
    moved = []
    for iters in (10, 30):
        counter[0] = mode = RowTraffic(rows)
        with mode:
            run(iters)
        counter[0] = None
        moved.append(mode.moved)
    return (moved[1] - moved[0]) / 20 / rows


def _row(
    name: str, d: int, data: tuple[Any, Any, Any, Any], methods: list[str], counter: Any
) -> str:
    """One line of the table: the plain loop's count and each method's, with its ratio."""
    A, b, noisy, s = data
    b = noisy if name == "cauchy" else b
    rows = A.shape[0]
    model = _model(name, A, b, s)
    plain = per_iteration(lambda k: _plain(name, A, b, s, k), rows, counter)
    cells = []
    for method in methods:

        def run(k: int, method: str = method) -> None:
            with cpu_as_accelerator():
                x0 = torch.zeros(d)
                res = lfso.minimize(model, x0, method=method, tol=0.0, max_iter=k, monitor=False)
            if res.nit != k:  # (a count per iteration of the iterations asked for)
                raise RuntimeError(
                    f"{method} on {name} ran {res.nit} of {k} iterations "
                    f"({res.status.name}: {res.message})"
                )

        moved = per_iteration(run, rows, counter)
        cells.append(f"{moved:>9.1f} ({moved / plain:.2f}x)")
    return f"{name:>9} {d:>4} {plain:>8.1f} " + " ".join(f"{c:>18}" for c in cells)


def table(rows: int, dims: list[int], models: list[str], methods: list[str]) -> list[str]:
    """The printed table: per model and ``d``, row-length vectors per iteration."""
    counter: list[RowTraffic | None] = [None]
    originals = {
        name: getattr(_fused, name) for name in ("trial_sums", "approach_rows", "one_pass")
    }
    for name, counted in _counting_fused(counter).items():
        setattr(_fused, name, counted)
    lines = [f"{'model':>9} {'d':>4} {'plain':>8} " + " ".join(f"{m:>18}" for m in methods)]
    try:
        for d in dims:
            data = _data(rows, d)
            lines += [_row(name, d, data, methods, counter) for name in models]
    finally:
        for name, original in originals.items():
            setattr(_fused, name, original)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=_fused.MIN_ROWS)
    parser.add_argument("--d", type=int, nargs="+", default=[25, 100])
    parser.add_argument(
        "--models",
        nargs="+",
        choices=["l4", "logistic", "l3", "cauchy"],
        default=["l4", "logistic"],
        help="l3: l_3 regression; cauchy: Cauchy regression, c the median |b_i|",
    )
    parser.add_argument("--methods", nargs="+", default=["lfso", "lfso-lbfgs"])
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    print(
        f"row-length vectors moved per iteration, {args.rows} rows, float32, an accelerator's "
        f"path (the trial steps compiled from {_fused.MIN_ROWS} rows)"
    )
    for line in table(args.rows, args.d, args.models, args.methods):
        print(line)


if __name__ == "__main__":
    main()
