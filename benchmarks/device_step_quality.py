"""Gradients to tolerance: the device-sized step (PyTorch) against the host solve (NumPy).

Usage::

    python benchmarks/device_step_quality.py                      # the full suite, no rosenbrock
    python benchmarks/device_step_quality.py logistic-digits01 lp_regression-p2-n100

On PyTorch tensors ``lfso.minimize`` sizes ``lfso`` and ``lfso-lbfgs`` steps on the device
(a grid of trial steps, :meth:`lfso.oracles.SegmentBound.device_step`), with one host
round trip per iteration; on NumPy the host solves the step to ``radius_rtol``. This prints
the gradient evaluations each needs to ``||g|| <= 1e-8 ||g0||`` on the suite's problems
(``*``: the 50,000-iteration cap), the same data as float64 NumPy arrays and CPU tensors.
Needs PyTorch (and scikit-learn for the logistic problems).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch

import lfso
import lfso.bench as problems
from lfso.bench import _problems as built

#: Problems whose data is built in NumPy directly (no tensor version here).
NUMPY_ONLY = ("lp_regression-p2-diabetes", "robust-cauchy")


def _torch_problem(name: str):
    """The problem built on float64 CPU tensors (the data generators its builder calls,
    those of :mod:`lfso.bench._problems`, patched)."""
    lls, logistic = built.lls_data, built.logistic_data
    built.lls_data = lambda *a, **k: tuple(torch.tensor(v) for v in lls(*a, **k))
    built.logistic_data = lambda *a, **k: tuple(torch.tensor(v) for v in logistic(*a, **k))
    try:
        model, x0 = problems.get_problem(name).make()
    finally:
        built.lls_data, built.logistic_data = lls, logistic
    return model, torch.tensor(np.asarray(x0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "problems",
        nargs="*",
        choices=list(problems.PROBLEMS),
        metavar="PROBLEM",
        help="problems of lfso.bench.PROBLEMS (default: every one with an oracle, "
        "but lp_regression-p2-diabetes)",
    )
    warnings.simplefilter("ignore")
    names = parser.parse_args().problems or [
        n for n, p in problems.PROBLEMS.items() if p.has_oracle and n not in NUMPY_ONLY
    ]
    header = ("problem", "lfso numpy", "lfso torch", "lbfgs numpy", "lbfgs torch")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (28, 11, 11, 12, 12), strict=True)))
    for name in names:
        cells = []
        for method in ("lfso", "lfso-lbfgs"):
            for build in (problems.get_problem(name).make, lambda name=name: _torch_problem(name)):
                model, x0 = build()
                res = lfso.minimize(model, x0, method=method, tol=1e-8, max_iter=50_000)
                cells.append(f"{res.njev}{'' if res.success else '*'}")
        print(f"{name:>28} {cells[0]:>11} {cells[1]:>11} {cells[2]:>12} {cells[3]:>12}", flush=True)


if __name__ == "__main__":
    main()
