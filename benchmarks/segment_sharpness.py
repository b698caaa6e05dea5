"""How much longer the sharp segment step is than the ball fallback's, along -g and L-BFGS-like d.

Usage::

    python benchmarks/segment_sharpness.py            # a few problems of lfso.bench

At the start and a few LFSO-GD iterations in (``method="lfso"``: the segment certificate), for
``d = -g`` it solves both certificates to ``rtol = 1e-6`` and prints the ratio of the
certified steps ``tau = eta (-g . d) / C(t)`` (sharp / ball; >= 1 means the sharp bound
certifies a longer step), and how many rounds the sharp solve takes to ``rtol = 1e-3``
from no guess, ``g . d`` included (NumPy row models try one step per round, a pass over
the rows each; on an accelerator a round is a batch and one host round trip; the closed
forms take one).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from lfso import minimize
from lfso.bench import get_problem
from lfso.models import Model

PROBLEMS = (
    "logistic-breast_cancer",
    "logistic-digits01",
    "lp_regression-p2-n100",
    "lp_regression-p1-n100",
    "lp_regression-p2-diabetes",
    "composite_ls-p2-n100",
    "power_norm-p2",
    "power_sum-p3-lin",
    "robust-cauchy",
)


def _ratio(model: Model, x: np.ndarray) -> tuple[float, int]:
    ev = model.evaluate(x)
    d = -ev.grad
    sharp = model.segment(x, ev, d)
    ball = Model.segment(model, x, ev, d)
    target = ev.grad_norm**2
    _, c_sharp, _ = sharp.radius_for(target, rtol=1e-6)
    _, c_ball, _ = ball.radius_for(target, rtol=1e-6)
    fresh = model.segment(x, ev, d)  # the solve as a step rule runs it: rtol 1e-3, no guess
    fresh.step_for(1.0, rtol=1e-3)
    return c_ball / c_sharp, getattr(fresh, "round_trips", 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--at", type=int, nargs="+", default=[0, 10, 100, 1000])
    parser.add_argument("problems", nargs="*", default=list(PROBLEMS))
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print("sharp / ball certified step along -g (rounds of the sharp solve, no guess)")
    print("at LFSO-GD iterates (method='lfso', segment certificate)")
    print(f"{'problem':>28} " + " ".join(f"{'it ' + str(k):>13}" for k in args.at))
    for name in args.problems:
        model, x0 = get_problem(name).make()
        cells = []
        for k in args.at:
            try:
                x = x0 if k == 0 else minimize(model, x0, method="lfso", max_iter=k).x
                ratio, trips = _ratio(model, x)
            except (ValueError, ArithmeticError) as err:  # a run that reached the optimum
                cells.append(f"{type(err).__name__[:13]:>13}")
                continue
            cells.append(f"{ratio:>9.3g} ({trips})")
        print(f"{name:>28} " + " ".join(cells))


if __name__ == "__main__":
    main()
