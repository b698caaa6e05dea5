"""Benchmarks: the suite (problems and methods as data), the harness, grid tuning of a
fixed step, and host-synchronisation counts.

``lfso bench`` runs the suite (:func:`run_suite`); ``benchmarks/`` holds the scripts behind
the figures of ``docs/results.md``.

* Problems: the paper's test problems and their data (:data:`PROBLEMS`,
  :func:`get_problem`, :func:`lls_data`, :func:`logistic_data`).
* The suite and its harness: :data:`SUITES`, :data:`BENCH_METHODS`,
  :data:`BENCH_PROBLEMS`, :func:`run_suite`, :func:`run_case`, :func:`scipy_lbfgs`.
* Grid tuning: :func:`tune_step` grid-tunes a fixed step and says what the grid cost
  (:class:`TunedStep`; the default grid :data:`DEFAULT_STEP_GRID`).
* Host synchronisations: :func:`count_host_syncs`, :func:`syncs_per_iteration`,
  :func:`optimizer_syncs`, :func:`sync_table`, :func:`host_time`; and
  :func:`cpu_as_accelerator`, under which PyTorch CPU tensors take an accelerator's
  path (the step sized on the device), so that the device path is counted and timed
  without a GPU.
"""

from .._later import cpu_as_accelerator
from ._harness import Record, run_case, run_suite, scipy_lbfgs
from ._problems import PROBLEMS, Problem, get_problem, lls_data, logistic_data
from ._suite import BENCH_METHODS, BENCH_PROBLEMS, SUITES, BenchMethod
from ._syncs import count_host_syncs, host_time, optimizer_syncs, sync_table, syncs_per_iteration
from ._tuning import DEFAULT_STEP_GRID, TunedStep, tune_step

__all__ = [
    "BENCH_METHODS",
    "BENCH_PROBLEMS",
    "DEFAULT_STEP_GRID",
    "PROBLEMS",
    "SUITES",
    "BenchMethod",
    "Problem",
    "Record",
    "TunedStep",
    "count_host_syncs",
    "cpu_as_accelerator",
    "get_problem",
    "host_time",
    "lls_data",
    "logistic_data",
    "optimizer_syncs",
    "run_case",
    "run_suite",
    "scipy_lbfgs",
    "sync_table",
    "syncs_per_iteration",
    "tune_step",
]
