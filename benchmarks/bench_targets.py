"""The certified-direction targets, read from a benchmark table (no run of its own).

    python3 benchmarks/bench_targets.py [docs/bench/results.csv]

Prints, from the CSV that ``lfso bench --suite full --out docs/bench`` writes:

* how often ``lfso-lbfgs`` (``lfso-lbfgs-auto`` on problems without an oracle) needs fewer
  gradients than SciPy's L-BFGS-B to ``||g|| <= 1e-8 ||g0||``, and its worst ratio;
* how often the best LFSO-family method needs fewer gradient-plus-function evaluations than
  every peer (Armijo, BB, AdGD, Polyak, L-BFGS-B);
* how often ``lfso`` beats the best grid-tuned fixed step: fewer gradients to tolerance, or,
  where both are capped, a smaller best ``||g||/||g0||``; then the same counting the grid's
  own cost (every grid point's gradients), which is what a user who tunes pays;
* the problems where the grid's winner reached the tolerance in at most 2 gradients: its
  first step landed on the minimiser, a coincidence of the grid and ``x0``.

A run that did not reach the tolerance (capped or stalled) counts as infinitely many.
"""

from __future__ import annotations

import argparse
import csv
import math
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


def _beats(ours: dict[str, str] | None, theirs: dict[str, str] | None, extra: float = 0.0) -> bool:
    """Fewer gradients than ``theirs`` (plus ``extra``); both capped: the better accuracy."""
    a, b = _cost(ours, "njev"), _cost(theirs, "njev") + extra
    if a == b == math.inf and ours is not None and theirs is not None:
        return float(ours["accuracy"]) < float(theirs["accuracy"])
    return a < b


def main(path: str = "docs/bench/results.csv") -> None:
    table: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            table[row["problem"]][row["method"]] = row
    n = len(table)
    wins, ratios = 0, []
    family_wins, lfso_wins, lost, paid_wins, lucky, family_lost = 0, 0, [], 0, [], []
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
        if not fam < peer:
            family_lost.append(problem)
        lf, gd = runs.get("lfso"), runs.get("gd-tuned")
        if lf is not None and gd is not None and lf["status"] != "n/a":
            won = _beats(lf, gd)
            lfso_wins += won
            if not won:
                lost.append(problem)
            paid_wins += _beats(lf, gd, extra=float(gd["grid_njev"] or 0) - float(gd["njev"]))
            if gd["status"] == "converged" and float(gd["njev"]) <= 2:
                lucky.append(problem)
    worst = max(ratios)
    print(f"problems: {n}")
    print(f"lfso-lbfgs fewer gradients than L-BFGS-B: {wins}/{n} ({100 * wins / n:.0f}%)")
    print(f"worst ratio lfso-lbfgs / L-BFGS-B: {worst[0]:.2f} ({worst[1]})")
    print(
        f"LFSO family fewer f+g evaluations than every peer: {family_wins}/{n} "
        f"({100 * family_wins / n:.0f}%); not on: {family_lost}"
    )
    with_oracle = n - sum(runs.get("lfso", {}).get("status") == "n/a" for runs in table.values())
    print(f"lfso beats grid-tuned GD: {lfso_wins}/{with_oracle}; not on: {lost}")
    print(f"lfso beats grid-tuned GD counting the grid's cost: {paid_wins}/{with_oracle}")
    print(f"grid-tuned GD's first step landed on the minimiser: {lucky}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "csv",
        nargs="?",
        default="docs/bench/results.csv",
        help="the CSV that lfso bench writes (default: docs/bench/results.csv)",
    )
    main(parser.parse_args().csv)
