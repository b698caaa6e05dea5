"""Dask benchmark: LFSO against fixed-step GD on a row-chunked array on a dask cluster.

Usage::

    python benchmarks/dask_iteration_cost.py                      # local 2-worker cluster
    python benchmarks/dask_iteration_cost.py --scheduler tcp://host:8786 --sizes 10000000x100

The data is generated on the workers (``dask.array.random``) and persisted there; ``x`` is a
NumPy vector on the client. For l_4 and logistic regression, fixed-step GD and LFSO-GD run
``--iters`` iterations through ``lfso.minimize`` (interleaved ``--repeats`` times); the
table gives the median time per iteration and LFSO's ratio to GD. Every iteration of either
method reads A twice on the workers and brings its scalars back in one ``dask.compute``;
LFSO on logistic regression adds about one small compute (an O(n) pass over the margins)
per radius its solve tries.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np

import lfso


def per_iteration(model, x0, iters: int, **kwargs) -> float:
    start = time.perf_counter()
    res = lfso.minimize(model, x0, tol=0.0, max_iter=iters, monitor=False, **kwargs)
    assert res.nit == iters
    return (time.perf_counter() - start) / iters


def main() -> None:
    import dask.array as da
    from dask.distributed import Client, LocalCluster

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["100000x100", "1000000x100"])
    parser.add_argument("--chunk", type=int, default=100_000, help="rows per chunk")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scheduler", help="address of a running scheduler (default: local)")
    parser.add_argument("--workers", type=int, default=2, help="local cluster's workers")
    args = parser.parse_args()
    warnings.simplefilter("ignore", lfso.monitor.RiskWarning)  # tol=0 runs to rounding

    if args.scheduler:
        client = Client(args.scheduler)
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None)
        client = Client(cluster)
    workers = len(client.scheduler_info()["workers"])
    print(f"dask cluster with {workers} workers; {args.iters} iterations x {args.repeats} repeats")
    print(f"{'model':>9} {'n x d':>14} {'GD ms/it':>9} {'LFSO ms/it':>11} {'ratio':>6}")
    for size in args.sizes:
        n, d = (int(v) for v in size.lower().split("x"))
        rng = da.random.default_rng(0)
        chunks = (min(args.chunk, n), d)
        A = (rng.standard_normal((n, d), chunks=chunks) / np.sqrt(d)).persist()
        b = (A @ np.ones(d) + 0.1 * rng.standard_normal(n, chunks=chunks[0])).persist()
        labels = (b > 0).astype(float).persist()
        cases = [
            ("l4", lfso.models.LpRegression(A, b, 2), np.ones(d)),
            ("logistic", lfso.models.LogisticRegression(A, labels, l2=1.0 / n), np.zeros(d)),
        ]
        for label, model, x0 in cases:
            step = 0.5 / model.at(x0)(0.0)
            per_iteration(model, x0, 2, method="gd", step=step)  # warm up the workers
            gd, lf = [], []
            for _ in range(args.repeats):
                gd.append(per_iteration(model, x0, args.iters, method="gd", step=step))
                lf.append(per_iteration(model, x0, args.iters))
            g, t = (1e3 * statistics.median(v) for v in (gd, lf))
            print(f"{label:>9} {size:>14} {g:>9.2f} {t:>11.2f} {t / g:>6.3f}", flush=True)
    client.close()


if __name__ == "__main__":
    main()
