"""SHA-256 of the final iterate of a table of runs: do two checkouts take the same steps?

Usage::

    python benchmarks/iterate_fingerprint.py
    PYTHONPATH=/path/to/other/checkout/src python benchmarks/iterate_fingerprint.py  # compare

Runs the certified methods (``lfso``, ``lfso-lbfgs``, ``lfso-accel`` with each certificate
choice, ``gd``, the safeguard, the automatic oracle as ``lfso-auto`` and
``lfso-lbfgs-auto``, and rule instances passed as ``method=``) on l_2 and l_4 regression,
logistic regression and a power sum in float64 and float32, plus Cauchy regression and a
black box (``sum cosh x_i``) in float64, 200 iterations at most each. Prints one line per
run (iterations, function evaluations, the first 16 hex digits of the SHA-256 of ``x``'s
bytes) and the SHA-256 over all of them: equal totals mean bit-identical iterates.
"""

from __future__ import annotations

import argparse
import hashlib
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

import lfso
from lfso.bench import get_problem
from lfso.models import LogisticRegression, LpRegression, PowerSum
from lfso.steps import (
    CertifiedStep,
    LBFGSDirection,
    LFSOAccelStep,
    LFSOStep,
    Safeguarded,
    SegmentCertificate,
)

METHODS: list[tuple[str, dict[str, Any]]] = [
    ("lfso", {}),
    ("lfso-lbfgs", {}),
    ("lfso-accel", {}),
    ("lfso", {"certificate": "ball"}),
    ("lfso-accel", {"certificate": "auto"}),
    ("gd", {"step": 1e-3}),
    ("lfso", {"safeguard": True}),
    ("lfso-lbfgs", {"certificate": "ball"}),
]


def _rules() -> list[tuple[str, Any]]:
    return [
        ("LFSOStep()", LFSOStep()),
        ("Safeguarded(LFSOStep())", Safeguarded(LFSOStep())),
        ("LFSOAccelStep()", LFSOAccelStep()),
        ("CertifiedStep(L-BFGS, segment)", CertifiedStep(LBFGSDirection(), SegmentCertificate())),
    ]


def _models(dtype: Any) -> Iterator[tuple[str, Any, Any]]:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 6)).astype(dtype)
    b = rng.standard_normal(40).astype(dtype)
    y = np.sign(rng.standard_normal(40)).astype(dtype)
    yield "lp2", LpRegression(A, b, 2), np.zeros(6, dtype)
    yield "lp1", LpRegression(A, b, 1), np.zeros(6, dtype)
    yield "logistic", LogisticRegression(A, (y > 0).astype(dtype)), np.zeros(6, dtype)
    yield "powersum", PowerSum(3), np.linspace(-1, 1, 6).astype(dtype)
    if dtype == np.float64:
        model, x0 = get_problem("robust-cauchy").make()
        yield "robust", model, x0


def _run(objective: Any, x0: Any, **options: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lfso.minimize(objective, x0, max_iter=200, monitor=False, **options)


def runs() -> Iterator[tuple[str, Any]]:
    """``(label, result)`` of every run of the table."""
    for dtype in (np.float64, np.float32):
        kind = np.dtype(dtype).name
        for name, model, x0 in _models(dtype):
            for method, options in METHODS:
                yield f"{name}/{kind}/{method}{options}", _run(model, x0, method=method, **options)
            for label, rule in _rules():
                yield f"{name}/{kind}/{label}", _run(model, x0, method=rule)
            for method in ("lfso", "lfso-lbfgs"):  # the automatic oracle
                res = _run(model.value, x0, grad=model.grad, smoothness="auto", method=method)
                yield f"{name}/{kind}/{method}-auto", res
    x0 = np.linspace(-1.0, 2.0, 5)
    for method in ("lfso", "lfso-lbfgs"):
        res = _run(
            lambda x: float(np.sum(np.cosh(x))), x0, grad=np.sinh, smoothness="auto", method=method
        )
        yield f"cosh/float64/{method}-auto", res


def main() -> None:
    print(f"lfso from {lfso.__file__}")
    print(f"{'run':52s} {'nit':>5s} {'nfev':>5s} {'sha256(x)[:16]':>16s}")
    total, count = hashlib.sha256(), 0
    for label, res in runs():
        digest = hashlib.sha256(np.ascontiguousarray(res.x).tobytes()).hexdigest()[:16]
        total.update(digest.encode())
        count += 1
        print(f"{label.replace(' ', ''):52s} {res.nit:5d} {res.nfev:5d} {digest}")
    print(f"runs {count} total {total.hexdigest()}")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args()
    main()
