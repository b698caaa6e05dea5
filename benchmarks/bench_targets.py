"""The certified-direction targets, read from a benchmark table (no run of its own).

    python3 benchmarks/bench_targets.py [docs/bench/results.csv]

Prints, from the CSV that ``lfso bench --suite full --out docs/bench`` writes:

* how often ``lfso-lbfgs`` (``lfso-lbfgs-auto`` on problems without an oracle) needs fewer
  gradients than SciPy's L-BFGS-B to ``||g|| <= 1e-8 ||g0||``, and its worst ratio;
* how often the best LFSO-family method needs fewer gradient-plus-function evaluations than
  every peer (Armijo, BB, AdGD, Polyak, L-BFGS-B);
* how often ``lfso`` needs fewer gradients than the best grid-tuned fixed step.

A run that did not reach the tolerance (capped or stalled) counts as infinitely many.
"""

from __future__ import annotations

import csv
import math
import sys
from collections import defaultdict

PEERS = ("armijo", "bb", "adgd", "adgd-2020", "polyak", "lbfgs")
FAMILY = ("lfso", "lfso-lbfgs", "lfso-auto", "lfso-lbfgs-auto", "lfso-paper", "lfso-accel")


def _cost(row: dict[str, str] | None, key: str) -> float:
    """Gradients (``"njev"``) or gradients plus function values (``"fg"``) to tolerance."""
    if row is None or row["status"] != "converged":
        return math.inf
    if key == "fg":
        return float(row["njev"]) + float(row["nfev"])
    return float(row[key])


def main(path: str = "docs/bench/results.csv") -> None:
    table: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            table[row["problem"]][row["method"]] = row
    n = len(table)
    wins, ratios = 0, []
    family_wins, lfso_wins, lost = 0, 0, []
    for problem, runs in table.items():
        ours = runs.get("lfso-lbfgs")
        if ours is None or ours["status"] == "n/a":
            ours = runs.get("lfso-lbfgs-auto")
        a, b = _cost(ours, "njev"), _cost(runs.get("lbfgs"), "njev")
        wins += a < b
        if b < math.inf:
            ratios.append((a / b, problem))
        fam = min(_cost(runs.get(m), "fg") for m in FAMILY)
        peer = min(_cost(runs.get(m), "fg") for m in PEERS)
        family_wins += fam < peer
        lf, gd = _cost(runs.get("lfso"), "njev"), _cost(runs.get("gd-tuned"), "njev")
        if runs.get("lfso", {}).get("status") != "n/a":
            lfso_wins += lf < gd
            if not lf < gd:
                lost.append(problem)
    worst = max(ratios)
    print(f"problems: {n}")
    print(f"lfso-lbfgs fewer gradients than L-BFGS-B: {wins}/{n} ({100 * wins / n:.0f}%)")
    print(f"worst ratio lfso-lbfgs / L-BFGS-B: {worst[0]:.2f} ({worst[1]})")
    print(
        f"LFSO family fewer f+g evaluations than every peer: {family_wins}/{n} "
        f"({100 * family_wins / n:.0f}%)"
    )
    with_oracle = n - sum(runs.get("lfso", {}).get("status") == "n/a" for runs in table.values())
    print(f"lfso fewer gradients than grid-tuned GD: {lfso_wins}/{with_oracle}; not on: {lost}")


if __name__ == "__main__":
    main(*sys.argv[1:])
