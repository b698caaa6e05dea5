"""Wall time per iteration: LFSO-GD against fixed-step GD through the same loop.

Usage::

    python benchmarks/iteration_cost.py                 # l_4 regression, n = 1000, d = 100
    python benchmarks/iteration_cost.py --sizes 1000x100 10000x100 100000x100 1000000x100
    python benchmarks/iteration_cost.py --model logistic --sizes 1000x100 10000x100 100000x100
    python benchmarks/iteration_cost.py --model cauchy --sizes 1000000x25 --iters 20 --clock cpu

A bare NumPy fixed-step GD loop ("plain": the gradient and the update, nothing else), then
fixed-step GD, ``lfso`` (LFSO-GD with the model's segment certificate), LFSO-GD with the
ball certificate and the tight radius ("ball"), with the paper's radius ("paper-R"),
``lfso-lbfgs`` and LFSO-accelerated through ``lfso.minimize`` run ``--iters`` steps (fewer
on large problems) with ``tol=0`` from the same start, interleaved ``--repeats`` times;
the table reports the best time per iteration (every method evaluates one gradient per
iteration), ``lfso``'s ratio to GD through the same loop ("ratio") and to the plain loop
("vs plain"), and ``lfso-lbfgs``'s ratio to GD ("lbfgs/GD"). The data is the
paper's generator (condition number 100, noise 0.1) at the requested size; for
``--model logistic`` the labels are the signs of ``A 1 + noise`` (ridge ``1/n``), the model
whose oracle costs an O(n) pass per radius the solve tries; ``--model cauchy`` is Cauchy
regression (``c = 1``) on the same rows, from 0, which has no paper's radius (its
"paper-R" column is ``nan``). ``--clock cpu`` times with the
process's CPU time instead of the wall clock (steadier on a machine other jobs share).
``--breakdown`` then prints where an ``lfso`` and an ``lfso-lbfgs`` iteration's time goes, per
iteration of one run (over the iterations it made, where it ended sooner at
``PRECISION_LIMIT``): the model's evaluation (GD's includes the product with ``A``, lfso's takes
``A x`` from the last step), the segment bound (the product ``A d``), the L-BFGS direction,
the segment solve and its rounds of trial steps (``RowSegment.values``, one O(n) pass
each), and the trial steps per iteration (``Result.noracle / Result.nit``).
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np

import lfso
from lfso.bench import lls_data

CLOCK = time.perf_counter


def per_iteration(model, x0, iters: int, **kwargs) -> float:
    """Seconds per iteration of a run to ``iters`` iterations at ``tol=0``, or over the
    iterations it took where it ended sooner at ``PRECISION_LIMIT`` (where the float
    arithmetic can certify no further step)."""
    start = CLOCK()
    res = lfso.minimize(model, x0, tol=0.0, max_iter=iters, **kwargs)
    elapsed = CLOCK() - start
    ended = res.nit == iters or res.status is lfso.Status.PRECISION_LIMIT
    assert ended and res.nit > 0, (res.status, res.nit)
    return elapsed / res.nit


def problem(model: str, n: int, d: int, p: float) -> tuple:
    """``(A, b, model, x0)``: the paper's generated data at ``n x d`` and the l_2p,
    logistic (labels the signs of ``b`` about its median, ridge ``1/n``) or Cauchy (``c =
    1``) regression model on it, from ``x0 = 1`` (l_2p) or ``0``."""
    A, b = lls_data(n, d)
    if model == "logistic":
        labels = (b > np.median(b)).astype(float)
        return A, b, lfso.models.LogisticRegression(A, labels, l2=1.0 / n), np.zeros(d)
    if model == "cauchy":
        return A, b, lfso.models.CauchyRegression(A, b), np.zeros(d)
    return A, b, lfso.models.LpRegression(A, b, p), np.ones(d)


def plain_loop(A, b, x0, step: float, iters: int, model: str, p: float) -> float:
    """Seconds per iteration of a bare NumPy fixed-step GD loop (no lfso code at all)."""
    x, n = x0.copy(), A.shape[0]
    signs = np.where(b > np.median(b), 1.0, -1.0)
    start = CLOCK()
    for _ in range(iters):
        if model == "logistic":  # grad = -A^T (s sigma(-s Ax)) / n + l2 x, l2 = 1/n
            m = signs * (A @ x)
            x = x - step * ((A.T @ (-signs / (1.0 + np.exp(m)))) / n + x / n)
        elif model == "cauchy":  # grad = A^T (r / (1 + r^2)) / n
            r = A @ x - b
            x = x - step * ((A.T @ (r / (1.0 + r * r))) / n)
        else:  # grad = 2p A^T (|r|^(2p-2) r)
            r = A @ x - b
            w = r * r if p == 2.0 else np.abs(r) ** (2 * p - 2)
            x = x - step * (2 * p) * (A.T @ (w * r))
    return (CLOCK() - start) / iters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1000x100"], help="n x d values")
    parser.add_argument("--model", choices=["lp", "logistic", "cauchy"], default="lp")
    parser.add_argument("--p", type=float, default=2.0, help="l_2p regression power")
    parser.add_argument("--iters", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    parser.add_argument("--breakdown", action="store_true", help="where lfso's time goes")
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    warnings.simplefilter("ignore", lfso.monitor.RiskWarning)  # tol=0 runs to rounding

    what = {"logistic": "logistic regression", "cauchy": "Cauchy regression"}.get(
        args.model, f"l_{2 * args.p:g} regression"
    )
    print(f"{what}, {args.iters} iterations x {args.repeats} repeats (best, {args.clock} clock)")
    print(
        f"{'n x d':>12} {'plain us/it':>12} {'GD us/it':>10} {'lfso us/it':>11} {'ratio':>7} "
        f"{'vs plain':>9} {'ball us/it':>11} {'paper-R us/it':>14} {'accel us/it':>12} "
        f"{'lbfgs us/it':>12} {'lbfgs/GD':>9}"
    )
    for size in args.sizes:
        n, d = (int(v) for v in size.lower().split("x"))
        A, b, model, x0 = problem(args.model, n, d, args.p)
        step = 0.5 / model.at(x0)(0.0)  # a stable fixed step; its value does not change the cost
        iters = max(50, min(args.iters, int(args.iters * 1000 * 100 / (n * d))))
        pl, gd, lf, ba, pr, ac, lb = [], [], [], [], [], [], []
        for _ in range(args.repeats):
            pl.append(plain_loop(A, b, x0, step, iters, args.model, args.p))
            gd.append(per_iteration(model, x0, iters, method="gd", step=step))
            lf.append(per_iteration(model, x0, iters, method="lfso", certificate="segment"))
            ba.append(per_iteration(model, x0, iters, method="lfso", certificate="ball"))
            # (the paper's radius R0 is defined for the l_2p and logistic models only)
            paper = args.model != "cauchy"
            pr.append(per_iteration(model, x0, iters, radius="paper") if paper else math.nan)
            ac.append(per_iteration(model, x0, iters, method="lfso-accel"))
            lb.append(per_iteration(model, x0, iters, method="lfso-lbfgs"))
        # The best of the repeats: on a shared machine interference only ever slows a run.
        q, g, t, c, p, a, m = (min(v) * 1e6 for v in (pl, gd, lf, ba, pr, ac, lb))
        print(
            f"{size:>12} {q:>12.2f} {g:>10.2f} {t:>11.2f} {t / g:>7.3f} {t / q:>9.3f} "
            f"{c:>11.2f} {p:>14.2f} {a:>12.2f} {m:>12.2f} {m / g:>9.3f}",
            flush=True,
        )
        if args.breakdown:
            breakdown(model, x0, step, iters)


def breakdown(model, x0, step: float, iters: int) -> None:
    """Time per iteration spent in the pieces of an iteration (wrapped methods; a piece
    that calls another includes it: the solve includes its trial steps)."""
    from lfso.models._segments import RowSegment
    from lfso.steps import LBFGSDirection

    spent: dict[str, float] = {}
    calls: dict[str, int] = {}
    pieces = [
        (type(model), "evaluate", "evaluate"),
        (type(model), "segment", "segment"),
        (LBFGSDirection, "__call__", "direction"),
        (RowSegment, "radius_for", "solve"),
        (RowSegment, "values", "rounds"),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in pieces]

    def timed(func, label):
        def wrapper(*args, **kwargs):
            start = CLOCK()
            try:
                return func(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + CLOCK() - start
                calls[label] = calls.get(label, 0) + 1

        return wrapper

    try:
        for (owner, name, label), (_, _, func) in zip(pieces, originals, strict=True):
            setattr(owner, name, timed(func, label))
        runs = (("gd", {"step": step}), ("lfso", {"certificate": "segment"}), ("lfso-lbfgs", {}))
        for method, kwargs in runs:
            spent.clear()
            calls.clear()
            start = CLOCK()
            res = lfso.minimize(model, x0, tol=0.0, max_iter=iters, method=method, **kwargs)
            made = max(res.nit, 1)  # (a run may end sooner, at PRECISION_LIMIT)
            total = (CLOCK() - start) / made
            parts = ", ".join(
                f"{label} {spent[label] / made * 1e6:.0f} us ({calls[label] / made:.2f}/it)"
                for _, _, label in pieces
                if label in spent
            )
            trials = (
                f"; trial steps per iteration {res.noracle / res.nit:.2f}" if res.noracle else ""
            )
            print(f"{'':>12} {method}: {total * 1e6:.0f} us/it; {parts}{trials}", flush=True)
    finally:
        for owner, name, func in originals:
            setattr(owner, name, func)


if __name__ == "__main__":
    main()
