"""The automatic oracle and the safeguard, measured.

Usage::

    python benchmarks/auto_oracle.py

Table 1: functions treated as black boxes (no hand-made oracle), ``smoothness="auto"``
against Armijo backtracking: function-plus-gradient evaluations to ||g|| <= 1e-8 ||g0||,
the extra evaluations per iteration the estimate cost, and whether f was non-increasing
(to 1e-12 relative: the safeguard's allowance for rounding in f).
Table 2: a deliberately wrong oracle (the true one divided by 10, 100, 1000), passed as a
user's oracle to ``lfso`` with the safeguard off (``safeguard=False``) and to ``lfso`` and
``lfso-lbfgs`` (the default method) as the default leaves it (on, for a user's oracle;
``lfso-lbfgs``'s capped estimate on a ball oracle is always safeguarded: ``safeguard=False``
raises there).
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

import lfso
from lfso.bench import BENCH_PROBLEMS
from lfso.models import FunctionModel

CAP = 200_000


def black_box() -> None:
    print(
        "| problem | auto: f+g evals | rollbacks | extra evals / iteration | f monotone "
        "| armijo: f+g evals | ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in (
        "rosenbrock-d2",
        "rosenbrock-d5",
        "rosenbrock-d10",
        "robust-cauchy",
        "logistic-breast_cancer",
        "logistic-digits01",
        "lp_regression-p2-n100",
    ):
        model, x0 = BENCH_PROBLEMS[name].build("sharp")
        box = FunctionModel(model.value, model.grad)  # forget any oracle the model has
        auto = lfso.minimize(box, x0, max_iter=CAP)
        armijo = lfso.minimize(box, x0, method="armijo", max_iter=CAP)
        extra = (auto.njev - 1 - auto.nit) / max(auto.nit, 1)
        f = auto.history.f
        mono = bool(np.all(np.diff(f) <= 1e-12 * np.abs(f[:-1])))

        def cost(r: lfso.Result) -> str:
            return str(r.nfev + r.njev) if r.success else f">{r.nfev + r.njev}"

        ratio = (armijo.nfev + armijo.njev) / (auto.nfev + auto.njev)
        print(
            f"| {name} | {cost(auto)} | {auto.rollbacks} | {extra:.3f} | {mono} "
            f"| {cost(armijo)} | {ratio:.2f}x |"
        )


def wrong_oracle(cap: int = CAP) -> None:
    print(
        "\n| problem | oracle | method | safeguard | status | iterations | rollbacks | f monotone |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in ("lp_regression-p2-n100", "logistic-breast_cancer", "power_sum-p5-lin"):
        model, x0 = BENCH_PROBLEMS[name].build("sharp")
        for factor, method, guard in itertools.product(
            (10, 100, 1000), ("lfso", "lfso-lbfgs"), (False, None)
        ):
            if method == "lfso-lbfgs" and guard is False:
                continue  # (its capped estimate on a ball oracle: always safeguarded)
            wrong = FunctionModel(model.value, model.grad, (1.0 / factor) * model)
            res = lfso.minimize(wrong, x0, method=method, safeguard=guard, max_iter=cap)
            f = res.history.f
            finite = f[np.isfinite(f)]
            mono = bool(np.all(np.diff(finite) <= 1e-12 * np.abs(finite[:-1])))
            mono = mono and bool(np.isfinite(f[-1]))
            label = "off" if guard is False else "default (on)"
            print(
                f"| {name} | true / {factor} | {method} | {label} | {res.status.name} "
                f"| {res.nit} | {res.rollbacks} | {mono} |"
            )


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args()
    black_box()
    wrong_oracle()
