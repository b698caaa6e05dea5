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
from ._problems import PROBLEMS as _PROBLEMS
from ._problems import Problem, get_problem, lls_data, logistic_data
from ._suite import BENCH_METHODS as _BENCH_METHODS
from ._suite import BENCH_PROBLEMS as _BENCH_PROBLEMS
from ._suite import SUITES as _SUITES
from ._suite import BenchMethod
from ._syncs import count_host_syncs, host_time, optimizer_syncs, sync_table, syncs_per_iteration
from ._tuning import DEFAULT_STEP_GRID as _DEFAULT_STEP_GRID
from ._tuning import TunedStep, tune_step

# (assigned here, each with its docstring, so that the API reference documents them)
PROBLEMS = _PROBLEMS
"""Every built-in problem by name (:class:`Problem`; ``lfso problems`` lists them)."""
BENCH_PROBLEMS = _BENCH_PROBLEMS
"""The problems the suites draw from: the registry :data:`PROBLEMS`."""
BENCH_METHODS = _BENCH_METHODS
"""The methods of ``lfso bench`` by name (:class:`BenchMethod`): the registry's methods
(some under the automatic oracle), the paper's LFSO-GD, the grid-tuned peers and SciPy's
L-BFGS-B."""
SUITES = _SUITES
"""``lfso bench --suite`` name (``"paper"``, ``"full"``, ``"quick"``) -> its problems."""
DEFAULT_STEP_GRID = _DEFAULT_STEP_GRID
"""The one grid of fixed steps: decades from 1e-8 to 10, :func:`tune_step`'s default,
``lfso bench``'s tuned methods' and ``lfso demo``'s grid-tuned GD's."""

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
