"""Host-device round trips per iteration of every built-in model, by method.

Usage::

    python benchmarks/host_syncs.py              # n = 1000 rows, d = 20 (seconds, CPU only)

Each conversion of a tensor to a Python number synchronises a GPU with the host; their
number per iteration does not depend on the device, so this counts them on CPU tensors
(:mod:`lfso.bench.syncs`). A second line gives the host time of one iteration on tiny
tensors: what a GPU cannot overlap after each synchronisation. Needs PyTorch.
"""

from __future__ import annotations

import argparse
import warnings

from lfso.bench.syncs import host_time, sync_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--d", type=int, default=20)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # tol=0 runs to rounding: risk warnings are expected
    table = sync_table(args.n, args.d)
    methods = list(next(iter(table.values())))
    print(f"host round trips per iteration (n = {args.n}, d = {args.d})")
    print(f"{'model':>22} " + " ".join(f"{m:>11}" for m in methods))
    for name, row in table.items():
        print(f"{name:>22} " + " ".join(f"{row[m]:>11.2f}" for m in methods))
    times = host_time(tuple(methods))
    print("\nhost time per iteration, l_4 regression on 50 x 5 CPU tensors (the loop itself)")
    print(f"{'':>22} " + " ".join(f"{1e6 * times[m]:>9.1f}us" for m in methods))


if __name__ == "__main__":
    main()
