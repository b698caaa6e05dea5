"""Test configuration: property-based tests draw the same examples on every run (CI too).

Set ``LFSO_EXPLORE=N`` to draw N fresh random examples per property instead. Expensive
counts that several test files read are fixtures shared by the whole test run here.
"""

import functools
import inspect
import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

if os.environ.get("LFSO_EXPLORE"):
    settings.register_profile(
        "explore", max_examples=int(os.environ["LFSO_EXPLORE"]), database=None, deadline=None
    )
    settings.load_profile("explore")
else:
    settings.register_profile("lfso", derandomize=True, database=None, deadline=None)
    settings.load_profile("lfso")


@pytest.fixture(scope="session")
def sync_table_of():
    """:func:`lfso.bench.sync_table`, each ``(n, d, method)`` column counted once per test run.

    The round trips of a method do not depend on the columns counted beside it, so the
    tests that read the same sizes (the host round-trip tests, the script that prints them)
    share one count.
    """
    import warnings

    from lfso.bench import sync_table

    columns: dict[tuple[int, int, str, bool], dict[str, float]] = {}
    default = inspect.signature(sync_table).parameters["methods"].default

    def counted(
        n: int = 1000, d: int = 20, methods: tuple[str, ...] = default, ahead: bool = False
    ):
        missing = tuple(m for m in methods if (n, d, m, ahead) not in columns)
        if missing:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tol=0 runs to rounding
                table = sync_table(n, d, methods=missing, ahead=ahead)
            for method in missing:
                columns[n, d, method, ahead] = {name: row[method] for name, row in table.items()}
        names = columns[n, d, methods[0], ahead]
        return {name: {m: columns[n, d, m, ahead][name] for m in methods} for name in names}

    return counted


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Test modules that set PyTorch's default dtype to float64 when imported leave it so for
    the rest of the run; after the last test of ``tests/`` it is torch's own float32 again,
    so that the doctests, which run next, see the default a user's code sees."""
    here = Path(__file__).parent
    if nextitem is not None and here not in nextitem.path.parents:
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.set_default_dtype(torch.float32)


@pytest.fixture(scope="session", autouse=True)
def _lls_data_drawn_once():
    """The problems of :mod:`lfso.bench` draw their systems with ``lls_data``, two QR
    factorisations each (a second for 1000 rows); the same draw is made once per test run, and
    each problem built gets its own copy. (``lfso.bench.lls_data`` itself is not wrapped:
    ``tests/test_problems.py`` checks it draw for draw.)"""
    from lfso.bench import _problems

    original = _problems.lls_data
    drawn: dict[tuple, tuple] = {}

    @functools.wraps(original)
    def once(*args, **kwargs):
        key = (args, tuple(sorted(kwargs.items())))
        if key not in drawn:
            drawn[key] = original(*args, **kwargs)
        return tuple(a.copy() for a in drawn[key])

    _problems.lls_data = once
    yield
    _problems.lls_data = original


@pytest.fixture(scope="session")
def data_parallel_ranks(tmp_path_factory):
    """Each of two gloo ranks' results of every data-parallel job the test modules registered
    (``tests/data_parallel.py``), by job name: the two processes are spawned once per run."""
    torch = pytest.importorskip("torch")
    dist = torch.distributed
    if not (dist.is_available() and dist.is_gloo_available()):
        pytest.skip("torch.distributed with the gloo backend is not available")
    import data_parallel

    return data_parallel.run(tmp_path_factory.mktemp("ddp"))
