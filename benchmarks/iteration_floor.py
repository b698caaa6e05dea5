"""The floor of a certified iteration: what LFSO-GD costs with nothing but its arithmetic.

Usage::

    python benchmarks/iteration_floor.py                          # l_4 regression, 1000 x 100
    python benchmarks/iteration_floor.py --model logistic --sizes 1000x100 1000000x25

Three loops over the same data, from the same start, the same number of iterations:

* ``plain``: a bare NumPy fixed-step GD loop (the gradient and the update:
  ``benchmarks/iteration_cost.py``'s);
* ``floor``: LFSO-GD written out by hand in NumPy with only the arithmetic a certified
  iteration needs: the value and the gradient at the carried product ``z = A x``, the
  product ``u = A d`` along ``d = -g``, **one** trial step ``t`` of the segment bound ``C(t)``
  per iteration (twice the last step), the certified step ``min(t, -g.d / C(t))`` and the
  update of ``x`` and ``z``. ``C(t)`` is the models' exact segment bound in real
  arithmetic, without the rounding terms with which ``lfso.models`` covers it in floating
  point: for ``l_4`` regression ``12 sum_i max(r_i^2, (r_i + t u_i)^2) u_i^2``, for
  logistic regression ``(1/n) sum_i sigma'(c_i) v_i^2 + l2 ||d||^2`` with ``c_i`` the point of
  the margin's segment ``[m_i, m_i + t v_i]`` nearest 0. No history, stopping test, risk
  monitor or checks;
* ``lfso``: ``lfso.minimize(..., method="lfso", tol=0)``, the library's LFSO-GD.

Each loop is timed ``--repeats`` times, interleaved; the table gives the best time per
iteration and the ratios to the plain loop. What separates ``lfso`` from ``floor`` is what the
library adds to the arithmetic (rounding terms, the step's solve to within ``1 + 1e-3`` of
the largest certified step, objects, checks, the loop's bookkeeping); what separates
``floor`` from ``plain`` is the certificate's own arithmetic (the value, ``A d`` in place of
``A x``, one pass over the rows per trial).
"""

from __future__ import annotations

import argparse
import time
import warnings

import iteration_cost  # (its problems and plain loop: this folder's)
import numpy as np

import lfso

CLOCK = time.perf_counter


def floor_l4(A, b, x0, iters: int) -> tuple[float, list[float]]:
    """Seconds per iteration of hand-written LFSO-GD on ``sum_i (A x - b)_i^4``, and the
    values it met (one per iteration, from ``x0``)."""
    x = x0.copy()
    z = A @ x - b  # the residual, carried: z + t u after each step
    t, values = 1e-12, []
    start = CLOCK()
    for _ in range(iters):
        w = z * z
        values.append(float(w @ w))
        g = 4.0 * (A.T @ (w * z))
        gg = float(g @ g)  # -g . d
        if gg == 0.0:
            break
        u = A @ g  # A d = -u
        moved = z - t * u
        c = 12.0 * float(np.maximum(w, moved * moved) @ (u * u))
        step = gg / c if t * c >= gg else t  # certified: f(x - step g) <= f - step gg / 2
        x -= step * g
        z -= step * u
        t = 2.0 * step
    return (CLOCK() - start) / iters, values


def floor_logistic(A, b, x0, iters: int) -> tuple[float, list[float]]:
    """As :func:`floor_l4` on ``(1/n) sum_i log(1 + exp(-s_i a_i . x)) + ||x||^2 / (2n)``,
    ``s_i`` the signs of ``b`` about its median (the plain loop's problem)."""
    x, n = x0.copy(), A.shape[0]
    signs = np.where(b > np.median(b), 1.0, -1.0)
    l2 = 1.0 / n
    z = A @ x  # carried
    t, values = 1e-12, []
    start = CLOCK()
    for _ in range(iters):
        m = signs * z
        e = np.exp(-np.abs(m))
        values.append(float(np.mean(np.log1p(e) - np.minimum(m, 0.0))) + 0.5 * l2 * (x @ x))
        p = 1.0 / (1.0 + e)
        wrong = np.where(m >= 0.0, e * p, p)  # sigma(-m)
        g = (A.T @ (signs * -wrong)) / n + l2 * x
        gg = float(g @ g)
        if gg == 0.0:
            break
        u = A @ g  # A d = -u
        v = signs * u  # the margins move by -t v
        end = m - t * v
        low, high = np.minimum(m, end), np.maximum(m, end)
        nearest = np.maximum(low, np.minimum(high, 0.0))  # where sigma' is largest
        q = np.exp(-np.abs(nearest))
        c = float((q / ((1.0 + q) * (1.0 + q))) @ (v * v)) / n + l2 * gg
        step = gg / c if t * c >= gg else t
        x -= step * g
        z -= step * u
        t = 2.0 * step
    return (CLOCK() - start) / iters, values


def library(model, x0, iters: int) -> float:
    start = CLOCK()
    res = lfso.minimize(model, x0, method="lfso", tol=0.0, max_iter=iters)
    elapsed = CLOCK() - start
    assert res.nit == iters
    return elapsed / iters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1000x100"], help="n x d values")
    parser.add_argument("--model", choices=["lp", "logistic"], default="lp")
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    iteration_cost.CLOCK = CLOCK
    warnings.simplefilter("ignore", lfso.monitor.RiskWarning)  # tol=0 runs to rounding
    what = "logistic regression" if args.model == "logistic" else "l_4 regression"
    print(f"{what}, best of {args.repeats} ({args.clock} clock), microseconds per iteration")
    print(
        f"{'n x d':>12} {'iters':>6} {'plain':>10} {'floor':>10} {'lfso':>10} "
        f"{'floor/plain':>12} {'lfso/plain':>11} {'lfso/floor':>11}"
    )
    for size in args.sizes:
        n, d = (int(v) for v in size.lower().split("x"))
        A, b, model, x0 = iteration_cost.problem(args.model, n, d, 2.0)
        hand = floor_logistic if args.model == "logistic" else floor_l4
        step = 0.5 / model.at(x0)(0.0)
        iters = max(60, min(args.iters, int(args.iters * 1000 * 100 / (n * d))))
        times: dict[str, list[float]] = {"plain": [], "floor": [], "lfso": []}
        for _ in range(args.repeats):
            plain = iteration_cost.plain_loop(A, b, x0, step, iters, args.model, 2.0)
            times["plain"].append(plain)
            times["floor"].append(hand(A, b, x0, iters)[0])
            times["lfso"].append(library(model, x0, iters))
        p, f, lib = (min(v) * 1e6 for v in times.values())
        print(
            f"{size:>12} {iters:>6} {p:>10.2f} {f:>10.2f} {lib:>10.2f} "
            f"{f / p:>12.2f} {lib / p:>11.2f} {lib / f:>11.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
