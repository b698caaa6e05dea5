"""lfso-lbfgs on black boxes with a ball oracle: gradients against L-BFGS-B.

Usage::

    python benchmarks/ball_oracle.py
    python benchmarks/ball_oracle.py --problems power_sum-p3 logistic-breast_cancer

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
"""

from __future__ import annotations

import argparse
import warnings

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=None)
    args = parser.parse_args()
    names = args.problems or SUITES["full"]
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
