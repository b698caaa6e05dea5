"""The benchmark suite as data: problems and methods, each one registry entry.

Adding a problem touches :data:`lfso.bench.PROBLEMS`; a method of the registry
(:data:`lfso.METHODS`) is listed here by name with its defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._registry import METHODS
from ._problems import PROBLEMS, Problem

__all__ = ["BENCH_METHODS", "BENCH_PROBLEMS", "SUITES", "BenchMethod"]


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
        Run over :data:`lfso.bench.DEFAULT_STEP_GRID` (``step=``) and report the best and
        the grid's cost.
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


def _registered(name: str, description: str | None = None, **options: Any) -> BenchMethod:
    """A registry method run with its defaults (plus ``options``)."""
    entry = METHODS[name]
    opts = {"method": name, **options}
    build = _needs_oracle(opts) if entry.needs_oracle else (lambda p: dict(opts))
    return BenchMethod(name, build, description or entry.description, family=entry.family)


BENCH_METHODS: dict[str, BenchMethod] = {
    m.name: m
    for m in (
        _registered("lfso", "LFSO-GD, certified step (segment bound where the model has one)"),
        _registered("lfso-lbfgs"),
        BenchMethod(
            "lfso-auto",
            lambda p: {"method": "lfso", "smoothness": "auto"},
            "LFSO-GD with the automatic oracle (black box, safeguarded)",
            family="lfso",
        ),
        BenchMethod(
            "lfso-lbfgs-auto",
            lambda p: {"method": "lfso-lbfgs", "smoothness": "auto"},
            "lfso-lbfgs with the automatic oracle along d (black box, safeguarded)",
            family="lfso",
        ),
        BenchMethod(
            "lfso-paper", _paper_rule, "LFSO-GD, the authors' oracle and radius rule", family="lfso"
        ),
        _registered("lfso-accel"),
        BenchMethod(
            "gd-tuned", lambda p: {"method": "gd"}, "fixed step, best of the grid", tuned=True
        ),
        BenchMethod(
            "nesterov-tuned",
            lambda p: {"method": "nesterov"},
            "Nesterov, fixed step, best of the grid",
            tuned=True,
        ),
        _registered("armijo"),
        _registered("bb"),
        _registered("adgd"),
        BenchMethod(
            "adgd-2020",
            lambda p: {"method": "adgd", "variant": 2020},
            "AdGD (Malitsky-Mishchenko 2020)",
        ),
        BenchMethod("polyak", _polyak, "Polyak step with the exact f*"),
        _registered("dog"),
        BenchMethod(
            "lbfgs", lambda p: {"method": "scipy-lbfgs"}, "scipy L-BFGS-B (outside reference)"
        ),
        BenchMethod(
            "lfso-ball",
            _needs_oracle({"method": "lfso", "certificate": "ball"}),
            "LFSO-GD with the ball certificate (the paper's step)",
            family="lfso",
        ),
    )
}

#: The problems the suites draw from: the registry :data:`lfso.bench.PROBLEMS`.
BENCH_PROBLEMS: dict[str, Problem] = PROBLEMS
SUITES: dict[str, list[str]] = {
    "paper": [n for n, p in BENCH_PROBLEMS.items() if "paper" in p.tags],
    "full": list(BENCH_PROBLEMS),
    "quick": [n for n, p in BENCH_PROBLEMS.items() if "quick" in p.tags],
}
