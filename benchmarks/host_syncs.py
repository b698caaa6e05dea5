"""Host-device round trips per iteration of every built-in model, by method.

Usage::

    python benchmarks/host_syncs.py              # n = 1000 rows, d = 20 (seconds, CPU only)

Each conversion of a tensor to a Python number synchronises a GPU with the host, and so
does each tensor made from host data (a number or a list: a copy that PyTorch follows by
a wait for the device's queue); their number per iteration does not depend on the
device, so this counts them on CPU tensors (:mod:`lfso.bench`). From 2^18 rows
(``lfso._stepper.AHEAD_ROWS``) the loop runs a point ahead of its evaluations' scalars
where the rule's move reads no host value: each evaluation's fetch is read after the next
evaluation's work is queued, a read that waits for the fetch alone, not for the device's
queue, and is not counted (the last table: the first one's runs with that threshold
lowered to their rows). A second line gives the
host time of one iteration on tiny tensors: what a GPU cannot overlap after each
synchronisation; a third, the same with the passes compiled that compile from
``lfso.models._fused.MIN_ROWS`` rows (each a call of TorchInductor's in place of several
PyTorch operations). A third table counts the round trips per ``step()`` of the PyTorch
optimiser :class:`lfso.torch.LFSO` (logistic regression as a closure, with the automatic
oracle and a user oracle), and the last one the PyTorch operations per iteration on the
accelerator's path, views aside (each one a kernel launch on a GPU, where a small one
costs its launch), for l_4 and logistic regression. Needs PyTorch.
"""

from __future__ import annotations

import argparse
import warnings
from typing import Any

from lfso.bench import cpu_as_accelerator, host_time, optimizer_syncs, sync_table


def _print_table(title: str, first: str, table: dict[str, dict[str, float]]) -> list[str]:
    """``table`` (``{row: {column: value}}``) under ``title``; returns the columns."""
    columns = list(next(iter(table.values())))
    print(title)
    print(f"{first:>22} " + " ".join(f"{m:>11}" for m in columns))
    for name, row in table.items():
        print(f"{name:>22} " + " ".join(f"{row[m]:>11.2f}" for m in columns))
    return columns


def kernels_per_iteration(
    n: int, d: int, methods: tuple[str, ...], iterations: tuple[int, int] = (20, 60)
) -> dict[str, dict[str, float]]:
    """PyTorch operations other than views per ``lfso.minimize`` iteration on the
    accelerator's path, ``{model: {method: kernels}}``: the slope between two run lengths
    (``tol=0``), after a first run that makes the device's constants. A pass compiled by
    :mod:`lfso.models._fused` (from its ``MIN_ROWS`` rows) counts as one call, which
    TorchInductor launches as one kernel or a few."""
    import numpy as np
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes

    import lfso
    from lfso.models import _fused

    class Count(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.kernels = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            self.kernels += not func.is_view
            return func(*args, **(kwargs or {}))

    passes = ("trial_sums", "approach_rows", "one_pass", "softmax_sums")
    originals = {name: getattr(_fused, name) for name in passes if hasattr(_fused, name)}
    counting: list[Count] = []

    def one_call(original: Any) -> Any:
        def call(*args: Any) -> Any:  # (under a dispatch mode it would run op by op)
            with _disable_current_modes():
                out = original(*args)
            if counting:
                counting[-1].kernels += 1
            return out

        return call

    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, d)) / np.sqrt(d)
    b = A @ np.ones(d)  # (consistent: l_4 flat at its minimum, far from the rounding)
    At, bt = torch.tensor(A), torch.tensor(b)
    models = {
        "l_4 regression": lfso.models.LpRegression(At, bt, 2),
        "logistic": lfso.models.LogisticRegression(At, torch.tensor((b > 0).astype(float))),
    }
    table: dict[str, dict[str, float]] = {}
    for name, original in originals.items():
        setattr(_fused, name, one_call(original))
    try:
        for name, model in models.items():
            x0 = torch.zeros(d, dtype=torch.float64)
            row = table[name] = {}
            for method in methods:
                # (gd: a stable fixed step)
                options = {"step": 0.5 / model.at(x0)(0.0)} if method == "gd" else {}
                counts = []
                for max_iter in (iterations[0], *iterations):
                    count = Count()
                    counting.append(count)
                    with cpu_as_accelerator(), count:
                        res = lfso.minimize(
                            model, x0, method=method, tol=0.0, max_iter=max_iter, **options
                        )
                    assert res.nit == max_iter, (name, method, res.message)
                    counts.append(count.kernels)
                row[method] = (counts[2] - counts[1]) / (iterations[1] - iterations[0])
    finally:
        for name, original in originals.items():
            setattr(_fused, name, original)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--d", type=int, default=20)
    parser.add_argument(
        "--kernels-only",
        action="store_true",
        help="only the kernels per iteration (e.g. at --n 262144, where passes compile)",
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # tol=0 runs to rounding: risk warnings are expected
    sizes = f"n = {args.n}, d = {args.d}"
    if args.kernels_only:
        _print_table(
            f"kernels per iteration on the accelerator's path ({sizes})",
            "model",
            kernels_per_iteration(args.n, args.d, ("gd", "lfso", "lfso-lbfgs")),
        )
        return
    methods = _print_table(
        f"host round trips per iteration ({sizes})", "model", sync_table(args.n, args.d)
    )
    times = host_time(tuple(methods))
    print("\nhost time per iteration, l_4 regression on 50 x 5 CPU tensors (the loop itself)")
    print(f"{'':>22} " + " ".join(f"{1e6 * times[m]:>9.1f}us" for m in methods))
    times = host_time(tuple(methods), compiled=True)
    print("the same with the passes compiled, as from 2^18 rows (after a run that compiles)")
    print(f"{'':>22} " + " ".join(f"{1e6 * times[m]:>9.1f}us" for m in methods))
    _print_table(
        f"\nhost round trips per step of lfso.torch.LFSO, logistic ({sizes})",
        "oracle",
        optimizer_syncs(args.n, args.d),
    )
    _print_table(
        f"\nkernels per iteration on the accelerator's path ({sizes})",
        "model",
        kernels_per_iteration(args.n, args.d, ("gd", "lfso", "lfso-lbfgs")),
    )
    _print_table(
        f"\nthe first table from 2^18 rows, where the loop runs ahead ({sizes})",
        "model",
        sync_table(args.n, args.d, ahead=True),
    )


if __name__ == "__main__":
    main()
