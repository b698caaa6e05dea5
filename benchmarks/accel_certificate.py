"""LFSO-accelerated with the ball certificate (the default) against the segment certificate.

Usage::

    python benchmarks/accel_certificate.py                       # every problem with an oracle
    python benchmarks/accel_certificate.py --problems power_sum-p3 logistic-digits01

Gradient evaluations of ``lfso.minimize(..., method="lfso-accel", certificate=...)`` to
``||g|| <= 1e-8 ||g0||`` (capped at ``--cap`` iterations: ``>N``), with ``"ball"`` and with
``"segment"`` (the gradient step of each FISTA iteration sized by the model's bound along
``-g``), on the problems of :data:`lfso.bench.PROBLEMS` that have an oracle, built as
``lfso bench`` builds them. The last line counts the problems each certificate wins.
"""

from __future__ import annotations

import argparse
import warnings

import lfso
from lfso.bench import PROBLEMS


def gradients(name: str, certificate: str, cap: int) -> tuple[int, bool]:
    model, x0 = PROBLEMS[name].build("sharp")
    res = lfso.minimize(
        model, x0, tol=1e-8, max_iter=cap - 1, method="lfso-accel", certificate=certificate
    )
    return res.njev, res.success


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [n for n, p in PROBLEMS.items() if p.has_oracle]
    parser.add_argument("--problems", nargs="+", default=names, choices=names)
    parser.add_argument("--cap", type=int, default=50_000)
    args = parser.parse_args()
    warnings.simplefilter("ignore", lfso.monitor.RiskWarning)

    print(f"{'problem':>28} {'ball':>9} {'segment':>9}")
    wins = {"ball": 0, "segment": 0}
    for name in args.problems:
        cells, costs = [], {}
        for certificate in ("ball", "segment"):
            njev, ok = gradients(name, certificate, args.cap)
            cells.append(f"{njev}" if ok else f">{njev}")
            costs[certificate] = njev if ok else float("inf")
        if costs["ball"] != costs["segment"]:
            wins[min(costs, key=costs.__getitem__)] += 1
        print(f"{name:>28} {cells[0]:>9} {cells[1]:>9}", flush=True)
    print(f"fewer gradients: ball {wins['ball']}, segment {wins['segment']}")


if __name__ == "__main__":
    main()
