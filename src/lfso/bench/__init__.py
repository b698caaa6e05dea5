"""Benchmarks: the suite (problems and methods as data), the harness and the report.

``lfso bench`` runs them; see :func:`lfso.bench.harness.run_suite`.
"""

from .harness import Record, run_case, run_suite
from .suite import BENCH_METHODS, BENCH_PROBLEMS, SUITES, BenchMethod

__all__ = [
    "BENCH_METHODS",
    "BENCH_PROBLEMS",
    "SUITES",
    "BenchMethod",
    "Record",
    "run_case",
    "run_suite",
]
