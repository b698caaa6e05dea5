"""The floor of a certified L-BFGS run on the suite's power problems, against L-BFGS-B.

Usage::

    python benchmarks/lbfgs_floor.py                       # p = 2 to 5, both families
    python benchmarks/lbfgs_floor.py --problems power_norm-p3 --repeats 20

On the benchmark suite's power problems (``||x||^(2p)`` and ``sum_i x_i^(2p)``, d = 10, from
their own ``x0``; ``-lin`` for the generic start) three runs to ``||g|| <= tol ||g0||``
(``--tol``, default 1e-8), each timed as a whole call, best of ``--repeats`` interleaved:

* ``floor``: certified L-BFGS written out by hand in NumPy with only the arithmetic it needs:
  the value and the gradient, the two-loop recursion (memory 10, a pair kept where
  ``s . y > 1e-10 ||s|| ||y||``, ``-g`` where ``d`` does not descend), one or two trial
  steps of the segment bound per iteration (the first at the last step, 1 at the start;
  :func:`certified_step`) and the certified step. ``C(t)`` is the models' segment bound in
  real arithmetic, without the rounding terms with which ``lfso.models`` covers it: for
  ``||x||^(2p)``, ``2p(2p-1) max(||x||, ||x + t d||)^(2p-2) ||d||^2``; for ``sum_i
  x_i^(2p)``, ``2p(2p-1) sum_i max(x_i^2, (x_i + t d_i)^2)^(p-1) d_i^2``. No history,
  risk monitor, result object or checks beyond the stopping test;
* ``lfso-lbfgs``: ``lfso.minimize(model, x0, method="lfso-lbfgs", tol=tol)``;
* ``L-BFGS-B``: SciPy's, on the model's value and gradient, stopped by the same test
  (``lfso.bench.scipy_lbfgs``).

The table gives each run's milliseconds and gradients (SciPy: evaluations) and the ratios
to L-BFGS-B's time. What separates ``floor`` from ``L-BFGS-B`` is the certified step's own
arithmetic in Python and NumPy against SciPy's compiled line search; what separates
``lfso-lbfgs`` from ``floor`` is what the library adds (rounding terms, the step's solve to
within ``radius_rtol`` of the largest certified step, objects, checks, the loop's
bookkeeping). Set ``OMP_NUM_THREADS=1`` for stable times.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from collections.abc import Callable

import numpy as np

import lfso
from lfso.bench import get_problem, scipy_lbfgs

CLOCK = time.perf_counter
MEMORY = 10

Oracle = Callable[[np.ndarray], tuple[float, np.ndarray]]
Bound = Callable[[np.ndarray, np.ndarray, float], float]


def power_norm(p: float) -> tuple[Oracle, Bound]:
    """``(f and g, C(x, d, t))`` of ``||x||^(2p)``."""
    k = 2.0 * p * (2.0 * p - 1.0)

    def oracle(x: np.ndarray) -> tuple[float, np.ndarray]:
        sq = float(x @ x)
        return sq**p, (2.0 * p * sq ** (p - 1.0)) * x

    def bound(x: np.ndarray, d: np.ndarray, t: float) -> float:
        end = x + t * d
        top = max(float(x @ x), float(end @ end))
        return k * top ** (p - 1.0) * float(d @ d)

    return oracle, bound


def power_sum(p: float) -> tuple[Oracle, Bound]:
    """``(f and g, C(x, d, t))`` of ``sum_i x_i^(2p)``."""
    k = 2.0 * p * (2.0 * p - 1.0)

    def oracle(x: np.ndarray) -> tuple[float, np.ndarray]:
        powers = x ** (2.0 * p - 1.0)
        return float(powers @ x), 2.0 * p * powers

    def bound(x: np.ndarray, d: np.ndarray, t: float) -> float:
        end = x + t * d
        top = np.maximum(x * x, end * end)
        return k * float(top ** (p - 1.0) @ (d * d))

    return oracle, bound


def certified_step(bound: Bound, x: np.ndarray, d: np.ndarray, target: float, t: float) -> float:
    """A step ``s`` with ``s C(s) <= target`` (``target = -g . d``; so ``f(x + s d) <= f(x) +
    s g . d / 2``), from a first trial at ``t``: where ``t C(t) > target``, ``target / C(t)``
    (certified, as ``C`` grows with the step: no second trial); else the longer ``target /
    C(t)`` where its own trial certifies it, and where not the largest certified step to
    within 10% by bisection (in logarithms) between the two, as the library's solve."""
    c = bound(x, d, t)
    longer = target / c
    if longer <= t:
        return longer
    low, high = t, longer
    while high > 1.1 * low:
        if high * bound(x, d, high) <= target:
            return high
        mid = math.sqrt(low * high)
        if mid * bound(x, d, mid) <= target:
            low = mid
        else:
            high = mid
    return low


def floor(
    oracle: Oracle, bound: Bound, x0: np.ndarray, tol: float, cap: int
) -> tuple[float, int, list[float]]:
    """Seconds to ``||g|| <= tol ||g0||`` of hand-written certified L-BFGS, its gradients,
    and the values it met (one per point, from ``x0``)."""
    start = CLOCK()
    x = x0.copy()
    f, g = oracle(x)
    values, evals = [f], 1
    threshold = tol * math.sqrt(float(g @ g))
    pairs: list[tuple[np.ndarray, np.ndarray, float]] = []  # (s, y, 1 / s.y), oldest first
    trial = 1.0
    while math.sqrt(float(g @ g)) > threshold and evals < cap:
        q, alphas = g.copy(), []
        for s, y, rho in reversed(pairs):
            alpha = rho * float(s @ q)
            alphas.append(alpha)
            q -= alpha * y
        if pairs:
            s, y, rho = pairs[-1]
            q *= 1.0 / (rho * float(y @ y))
        for (s, y, rho), alpha in zip(pairs, reversed(alphas), strict=True):
            q += (alpha - rho * float(y @ q)) * s
        d = -q
        slope = float(g @ d)
        if not slope < 0.0:
            d, slope, pairs = -g, -float(g @ g), []
        step = certified_step(bound, x, d, -slope, trial)
        trial = step
        x_new = x + step * d
        f, g_new = oracle(x_new)
        values.append(f)
        evals += 1
        s, y = x_new - x, g_new - g
        sy = float(s @ y)
        if sy > 1e-10 * math.sqrt(float(s @ s) * float(y @ y)):
            pairs = [*pairs[-(MEMORY - 1) :], (s, y, 1.0 / sy)]
        x, g = x_new, g_new
    return CLOCK() - start, evals, values


def family(name: str) -> tuple[Oracle, Bound]:
    """The hand-written oracle and bound of a suite problem named ``power_*-pK[-lin]``."""
    kind, power = name.split("-")[0], float(name.split("-")[1][1:])
    return power_norm(power) if kind == "power_norm" else power_sum(power)


def run(name: str, tol: float, cap: int, repeats: int) -> dict[str, tuple[float, int]]:
    """Best seconds and gradients (evaluations) of the three runs on problem ``name``."""
    model, x0 = get_problem(name).make()
    oracle, bound = family(name)
    best = {"floor": (math.inf, 0), "lfso-lbfgs": (math.inf, 0), "L-BFGS-B": (math.inf, 0)}
    for _ in range(repeats):
        seconds, evals, _ = floor(oracle, bound, x0, tol, cap)
        best["floor"] = min(best["floor"], (seconds, evals))
        start = CLOCK()
        res = lfso.minimize(model, x0, method="lfso-lbfgs", tol=tol, max_iter=cap, monitor=False)
        best["lfso-lbfgs"] = min(best["lfso-lbfgs"], (CLOCK() - start, res.njev))
        scipy = scipy_lbfgs(model, x0, cap=cap, tol=tol)
        best["L-BFGS-B"] = min(best["L-BFGS-B"], (scipy.seconds, len(scipy.calls) + 1))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = [
        f"{f}-p{p}{lin}"
        for lin in ("", "-lin")
        for f in ("power_norm", "power_sum")
        for p in range(2, 6)
    ]
    parser.add_argument("--problems", nargs="+", default=default)
    parser.add_argument("--tol", type=float, default=1e-8)
    parser.add_argument("--cap", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    bad = [n for n in args.problems if not n.startswith(("power_norm-p", "power_sum-p"))]
    if bad:
        parser.error(f"--problems: {bad!r} are not power problems (power_norm-pK, power_sum-pK)")
    print(f"time to ||g|| <= {args.tol:g} ||g0||, best of {args.repeats}; ms (gradients)")
    print(
        f"{'problem':>20} {'floor':>14} {'lfso-lbfgs':>14} {'L-BFGS-B':>14} "
        f"{'floor/B':>8} {'lfso/B':>8}"
    )
    for name in args.problems:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            best = run(name, args.tol, args.cap, args.repeats)
        cells = [f"{s * 1e3:.3f} ({n})" for s, n in best.values()]
        ratios = [best[k][0] / best["L-BFGS-B"][0] for k in ("floor", "lfso-lbfgs")]
        print(
            f"{name:>20} {cells[0]:>14} {cells[1]:>14} {cells[2]:>14} "
            f"{ratios[0]:>8.2f} {ratios[1]:>8.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
