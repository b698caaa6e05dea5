"""Host-device round trips per iteration of every built-in model, by method.

Usage::

    python benchmarks/host_syncs.py              # n = 1000 rows, d = 20 (seconds, CPU only)

Each conversion of a tensor to a Python number synchronises a GPU with the host, and so
does each tensor made from host data (a number or a list: a copy that PyTorch follows by
a wait for the device's queue); their number per iteration does not depend on the
device, so this counts them on CPU tensors (:mod:`lfso.bench`). A second line gives the
host time of one iteration on tiny tensors: what a GPU cannot overlap after each
synchronisation. A last table counts the round trips per ``step()`` of the PyTorch
optimiser :class:`lfso.torch.LFSO` (logistic regression as a closure, with the automatic
oracle and a user oracle). Needs PyTorch.
"""

from __future__ import annotations

import argparse
import warnings

from lfso.bench import host_time, optimizer_syncs, sync_table


def _print_table(title: str, first: str, table: dict[str, dict[str, float]]) -> list[str]:
    """``table`` (``{row: {column: value}}``) under ``title``; returns the columns."""
    columns = list(next(iter(table.values())))
    print(title)
    print(f"{first:>22} " + " ".join(f"{m:>11}" for m in columns))
    for name, row in table.items():
        print(f"{name:>22} " + " ".join(f"{row[m]:>11.2f}" for m in columns))
    return columns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--d", type=int, default=20)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # tol=0 runs to rounding: risk warnings are expected
    sizes = f"n = {args.n}, d = {args.d}"
    methods = _print_table(
        f"host round trips per iteration ({sizes})", "model", sync_table(args.n, args.d)
    )
    times = host_time(tuple(methods))
    print("\nhost time per iteration, l_4 regression on 50 x 5 CPU tensors (the loop itself)")
    print(f"{'':>22} " + " ".join(f"{1e6 * times[m]:>9.1f}us" for m in methods))
    _print_table(
        f"\nhost round trips per step of lfso.torch.LFSO, logistic ({sizes})",
        "oracle",
        optimizer_syncs(args.n, args.d),
    )


if __name__ == "__main__":
    main()
