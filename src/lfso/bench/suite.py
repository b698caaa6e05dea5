"""The benchmark suite as data: problems and methods, each one registry entry.

Adding a problem touches :data:`lfso.problems.PROBLEMS`; adding a method touches
:data:`BENCH_METHODS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..problems import PROBLEMS, Problem

__all__ = ["BENCH_METHODS", "BENCH_PROBLEMS", "STEP_GRID", "SUITES", "BenchMethod"]

#: Step sizes tried by the grid-tuned methods (decades; wide enough for every problem).
STEP_GRID: tuple[float, ...] = tuple(float(s) for s in np.logspace(-8, 1, 10))


@dataclass(frozen=True)
class BenchMethod:
    """A benchmark method: a ``lfso.minimize`` configuration, a grid, or an outside solver.

    Attributes
    ----------
    name : str
    options : callable ``(problem) -> dict or str``
        The ``minimize`` keyword arguments for a problem, or a string saying why the
        method does not apply.
    tuned : bool
        Run over :data:`STEP_GRID` (``step=``) and report the best and the grid's cost.
    family : str
        ``"lfso"`` for the LFSO methods, ``"peer"`` otherwise.
    """

    name: str
    options: Callable[[Problem], dict[str, Any] | str]
    description: str
    tuned: bool = False
    family: str = "peer"
    tags: tuple[str, ...] = field(default=())


def _needs_oracle(options: dict[str, Any]) -> Callable[[Problem], dict[str, Any] | str]:
    def build(problem: Problem) -> dict[str, Any] | str:
        return dict(options) if problem.has_oracle else "no hand-made oracle"

    return build


def _paper_rule(problem: Problem) -> dict[str, Any] | str:
    if not problem.has_oracle:
        return "no hand-made oracle"
    if problem.family == "robust":
        return "the paper has no oracle or radius rule for this model"
    return {"radius": "paper", "oracle": "paper"}


def _polyak(problem: Problem) -> dict[str, Any] | str:
    if problem.f_star is None:
        return "f* unknown"
    return {"method": "polyak", "f_star": problem.f_star()}


BENCH_METHODS: dict[str, BenchMethod] = {
    m.name: m
    for m in (
        BenchMethod("lfso", _needs_oracle({}), "LFSO-GD, tight radius (default)", family="lfso"),
        BenchMethod(
            "lfso-auto",
            lambda p: {"smoothness": "auto"},
            "LFSO-GD with the automatic oracle (black box, safeguarded)",
            family="lfso",
        ),
        BenchMethod(
            "lfso-paper", _paper_rule, "LFSO-GD, the authors' oracle and radius rule", family="lfso"
        ),
        BenchMethod(
            "lfso-accel",
            _needs_oracle({"method": "lfso-accel"}),
            "LFSO-accelerated (FISTA epochs, restarts)",
            family="lfso",
        ),
        BenchMethod(
            "gd-tuned", lambda p: {"method": "gd"}, "fixed step, best of the grid", tuned=True
        ),
        BenchMethod(
            "nesterov-tuned",
            lambda p: {"method": "nesterov"},
            "Nesterov, fixed step, best of the grid",
            tuned=True,
        ),
        BenchMethod("armijo", lambda p: {"method": "armijo"}, "Armijo backtracking, warm start"),
        BenchMethod("bb", lambda p: {"method": "bb"}, "Barzilai-Borwein (long), GLL safeguard"),
        BenchMethod("adgd", lambda p: {"method": "adgd"}, "AdGD (Malitsky-Mishchenko 2023)"),
        BenchMethod(
            "adgd-2020",
            lambda p: {"method": "adgd", "variant": 2020},
            "AdGD (Malitsky-Mishchenko 2020)",
        ),
        BenchMethod("polyak", _polyak, "Polyak step with the exact f*"),
        BenchMethod("dog", lambda p: {"method": "dog"}, "DoG (Ivgi-Hinder-Carmon 2023)"),
        BenchMethod(
            "lbfgs", lambda p: {"method": "scipy-lbfgs"}, "scipy L-BFGS-B (outside reference)"
        ),
    )
}

#: The problems the suites draw from: the registry :data:`lfso.problems.PROBLEMS`.
BENCH_PROBLEMS: dict[str, Problem] = PROBLEMS
SUITES: dict[str, list[str]] = {
    "paper": [n for n, p in BENCH_PROBLEMS.items() if "paper" in p.tags],
    "full": list(BENCH_PROBLEMS),
    "quick": [n for n, p in BENCH_PROBLEMS.items() if "quick" in p.tags],
}
