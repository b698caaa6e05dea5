"""lfso-lbfgs on black boxes with a ball oracle: gradients against L-BFGS-B.

Usage::

    python benchmarks/ball_oracle.py
    python benchmarks/ball_oracle.py --problems power_sum-p3 logistic-breast_cancer
    python benchmarks/ball_oracle.py --starts 5   # medians over perturbed starts

Each problem of ``lfso bench --suite full`` that has an oracle is handed to
``lfso.minimize`` as a black box, ``fun`` and ``grad`` with its ball oracle as
``smoothness=`` (so no segment bound: what a user with their own ``L(x, R)`` has), and run
to ``||g|| <= 1e-8 ||g0||`` (at most 50,000 gradients) by ``lfso-lbfgs`` as the default
builds it (``certificate="auto"``: the estimate along ``d``, never a shorter step than the
ball's, safeguarded), with ``certificate="ball"`` (the ball bound alone, certified), and
with ``smoothness="auto"`` (no oracle); SciPy's L-BFGS-B runs to the same test
(``lfso.bench.scipy_lbfgs``). The table gives gradient evaluations (L-BFGS-B:
function-and-gradient evaluations) and each lfso run's ratio to L-BFGS-B; a run that
does not converge shows ``cap``.

With ``--starts K`` (K >= 2) it compares instead the default and ``smoothness="auto"``
from K starts, ``x0`` and ``x0 + 1e-3 max(1, max_i |x0_i|) z`` with ``z`` standard
normal (seed 0): each start's gradients (a run that does not converge counts as
``cap``, above every count) and their medians. The counts of the ill-conditioned
regression problems move by tens of percent with the start, so that one start says little
about which of two runs is faster there.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

import lfso
from lfso.bench import SUITES, get_problem, scipy_lbfgs
from lfso.models import FunctionModel

TOL, CAP = 1e-8, 50_000


def black_box(model):
    """``model`` seen through ``fun``, ``grad`` and its ball oracle only."""
    return FunctionModel(model.value, model.grad, lambda x, radius: model(x, radius))


def gradients(model, x0, **options) -> int | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(model, x0, tol=TOL, max_iter=CAP, monitor=False, **options)
    return res.njev if res.success else None


def _starts(x0, count: int):
    """``x0`` and ``count - 1`` starts around it (see the module docstring)."""
    rng = np.random.default_rng(0)
    size = 1e-3 * max(1.0, float(np.max(np.abs(x0))))
    return [x0] + [x0 + size * rng.standard_normal(x0.shape) for _ in range(count - 1)]


def spread(names, count: int) -> None:
    """The ``--starts`` table: the default against no oracle, start by start."""
    print(
        f"{'problem':>26} {'default (per start)':>32} {'median':>7} {'auto (per start)':>32} "
        f"{'median':>7}"
    )
    for name in names:
        model, x0 = get_problem(name).make()
        if not model.has_oracle:
            continue
        cells = []
        for box in (black_box(model), FunctionModel(model.value, model.grad)):
            runs = [gradients(box, x, method="lfso-lbfgs") for x in _starts(x0, count)]
            counts = [CAP + 1 if n is None else n for n in runs]
            shown = " ".join("cap" if n is None else str(n) for n in runs)
            median = float(np.median(counts))
            cells += [shown, "cap" if median > CAP else f"{median:g}"]
        print(f"{name:>26} {cells[0]:>32} {cells[1]:>7} {cells[2]:>32} {cells[3]:>7}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=None)
    parser.add_argument("--starts", type=int, default=1, help="see the module docstring")
    args = parser.parse_args()
    names = args.problems or SUITES["full"]
    if args.starts < 1:
        parser.error(f"--starts {args.starts}: expected an integer >= 1")
    if args.starts > 1:
        spread(names, args.starts)
        return
    columns = ("default", "ball", "auto", "L-BFGS-B", "default/B", "ball/B", "auto/B")
    print(f"{'problem':>26} " + " ".join(f"{c:>9}" for c in columns))
    for name in names:
        problem = get_problem(name)
        model, x0 = problem.make()
        if not model.has_oracle:
            continue
        box = black_box(model)
        runs = [
            gradients(box, x0, method="lfso-lbfgs"),
            gradients(box, x0, method="lfso-lbfgs", certificate="ball"),
            gradients(FunctionModel(model.value, model.grad), x0, method="lfso-lbfgs"),
        ]
        scipy = scipy_lbfgs(model, x0, cap=CAP, tol=TOL)
        ref = len(scipy.calls) if scipy.converged else None
        cells = [("cap" if n is None else str(n)) for n in (*runs, ref)]
        ratios = [f"{n / ref:.2f}" if n is not None and ref is not None else "-" for n in runs]
        print(f"{name:>26} " + " ".join(f"{c:>9}" for c in (*cells, *ratios)), flush=True)


if __name__ == "__main__":
    main()
