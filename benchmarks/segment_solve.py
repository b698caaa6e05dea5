"""Cost of the segment certificate along L-BFGS directions: solve rounds and iterations.

Usage::

    python benchmarks/segment_solve.py                       # a few problems of lfso.bench
    python benchmarks/segment_solve.py logistic-digits01 --rtol 0.001 0.1

A minimal driver, independent of the library's step rules, that measures the oracle side
(:mod:`lfso.models._segments`) alone: L-BFGS directions (memory 10, pairs with ``s . y <= 0``
skipped, ``-g`` when ``g . d >= 0``), the certified step ``eta (-g . d) / C`` with
``eta = 1`` from the model's segment bound (``step_for``, the last ``t`` as the guess), and
the product ``A x + t A d`` passed to the next evaluation. It prints the iterations to
``||g|| <= 1e-8 ||g0||``, the rounds of the segment solve per iteration (NumPy row models
try one step per round, a pass over the rows; on an accelerator a round is a batch of
steps and one host round trip; the evaluation's own round trip is not counted), and the
same run with ``device_step`` (no round trip: the step is picked on the
device from one batch). ``f`` never rises: every step is certified.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from lfso.bench import get_problem

PROBLEMS = (
    "logistic-breast_cancer",
    "logistic-digits01",
    "lp_regression-p2-n100",
    "lp_regression-p1-n100",
    "lp_regression-p2-diabetes",
    "composite_ls-p2-n100",
    "power_sum-p3-lin",
    "robust-cauchy",
)


def _direction(grad: np.ndarray, pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """``-H grad`` by the L-BFGS two-loop recursion."""
    q, alphas = grad.copy(), []
    for s, y in reversed(pairs):
        a = (s @ q) / (s @ y)
        alphas.append(a)
        q = q - a * y
    if pairs:
        s, y = pairs[-1]
        q = q * (s @ y) / (y @ y)
    for (s, y), a in zip(pairs, reversed(alphas), strict=True):
        q = q + (a - (y @ q) / (s @ y)) * s
    return -q


def run(name: str, rtol: float | None, max_iter: int = 5000) -> tuple[int, float, float]:
    """Iterations, segment solve rounds per iteration, final ``||g|| / ||g0||``.

    ``rtol=None``: the step from ``device_step`` instead of the host solve.
    """
    model, x = get_problem(name).make()
    ev = model.evaluate(x)
    g0, pairs, trips, it, guess = ev.grad_norm, [], 0, 0, None
    while ev.grad_norm > 1e-8 * g0 and it < max_iter:
        d = _direction(ev.grad, pairs)
        if ev.grad @ d >= 0.0:
            d = -ev.grad
        seg = model.segment(x, ev, d)
        if rtol is None:
            tau, _ = seg.device_step(1.0, guess=guess)
            tau = guess = float(tau)
        else:
            t, curvature, _ = seg.step_for(1.0, rtol=rtol, guess=guess)
            tau, guess = -seg.slope / curvature, t
            trips += getattr(seg, "round_trips", 1)
        x_new = x + tau * d
        product = seg.product(tau)
        new = (
            model.evaluate(x_new, product=product) if product is not None else model.evaluate(x_new)
        )
        if new.value > ev.value + 1e-12 * abs(ev.value):
            raise AssertionError(f"{name}: f rose at iteration {it}")
        s, y = x_new - x, new.grad - ev.grad
        if s @ y > 0.0:
            pairs = [*pairs, (s, y)][-10:]
        x, ev, it = x_new, new, it + 1
    return it, trips / max(it, 1), ev.grad_norm / g0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problems", nargs="*", default=list(PROBLEMS))
    parser.add_argument("--rtol", type=float, nargs="+", default=[1e-3, 0.1])
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    heads = [f"rtol {r:g}" for r in args.rtol] + ["device_step"]
    print("iterations to ||g|| <= 1e-8 ||g0|| (segment solve rounds per iteration)")
    print(f"{'problem':>28} " + " ".join(f"{h:>16}" for h in heads))
    for name in args.problems:
        cells = []
        for rtol in [*args.rtol, None]:
            it, trips, _ = run(name, rtol)
            cells.append(f"{it:>8} ({trips:.2f})" if rtol is not None else f"{it:>16}")
        print(f"{name:>28} " + " ".join(f"{c:>16}" for c in cells))


if __name__ == "__main__":
    main()
