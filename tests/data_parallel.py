"""The data-parallel checks of several test modules, run by one pair of gloo processes.

Starting two processes that import PyTorch and join a gloo process group takes seconds.
A test module that checks data-parallel training registers a *job* with :func:`register`
when it is imported: a function of ``(rank, world)``, run on every rank inside the one
process group, whose return value (tensors, numbers, lists, dicts) comes back to the test
process. The ``data_parallel_ranks`` fixture (``tests/conftest.py``) spawns the processes
once, for every job registered by the modules of the test run, and gives each rank's
results by job name. The jobs run one after the other, each after a barrier, in a process
that starts as a fresh interpreter does (PyTorch's default dtype float32); a job sets the
seeds and dtypes it relies on itself.
"""

from __future__ import annotations

import datetime
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: job name -> (module, function name), in the order the modules registered them.
JOBS: dict[str, tuple[str, str]] = {}

#: How long a rank waits for the other before it fails instead of hanging.
TIMEOUT = datetime.timedelta(seconds=60)


def register(name: str, job: Callable[[int, int], Any]) -> None:
    """Run ``job(rank, world)`` on every rank of the shared process group."""
    JOBS[name] = (job.__module__, job.__qualname__)


def _worker(rank: int, world: int, store: str, out: str, jobs: dict[str, tuple[str, str]]):
    import torch
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"file://{store}", rank=rank, world_size=world, timeout=TIMEOUT
    )
    try:
        results = {}
        for name, (module, function) in jobs.items():
            dist.barrier()  # each job starts on both ranks after the last one ended on both
            results[name] = getattr(importlib.import_module(module), function)(rank, world)
        torch.save(results, Path(out) / f"{rank}.pt")
        dist.barrier()  # no rank exits while gloo still talks to it
    finally:
        dist.destroy_process_group()


def run(out: Path, world: int = 2) -> list[dict[str, Any]]:
    """Every registered job on ``world`` ranks: each rank's results, by job name."""
    import torch

    torch.multiprocessing.spawn(
        _worker, args=(world, str(out / "store"), str(out), dict(JOBS)), nprocs=world
    )
    return [torch.load(out / f"{rank}.pt") for rank in range(world)]
