"""Running a script of ``benchmarks/`` (or ``examples/``) inside the test process.

A script run as ``python script.py ARGS`` and one run by :func:`run_script` execute the
same code: the file as ``__main__`` with ``sys.argv = [script, *ARGS]`` and its own folder
first on ``sys.path``; only the interpreter's start and the imports are not paid again.
PyTorch's default dtype is float32, as in a fresh interpreter, and what a script changes in
the process (``sys.argv``, ``sys.path``, the environment, the warning filters, PyTorch's
thread count, default dtype and generator) is put back afterwards.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import os
import runpy
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


@dataclass
class Finished:
    """What a script run left: its exit status (0 when it returned) and its output."""

    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _fresh_torch(torch: Any) -> Iterator[None]:
    """PyTorch's default dtype float32, as in a fresh interpreter; the dtype and the state
    of the default generator put back afterwards."""
    if torch is None:
        yield
        return
    dtype = torch.get_default_dtype()
    with torch.random.fork_rng(devices=[]):
        torch.set_default_dtype(torch.float32)
        try:
            yield
        finally:
            torch.set_default_dtype(dtype)


@contextlib.contextmanager
def _put_back(path: Path, args: tuple[str, ...]) -> Iterator[None]:
    """``sys.argv = [path, *args]`` and ``path``'s folder first on ``sys.path`` inside; what
    a script changes in the process (those two, the environment, the warning filters,
    PyTorch's thread count, default dtype and generator) put back afterwards."""
    argv, syspath, environ = sys.argv[:], sys.path[:], dict(os.environ)
    torch = importlib.import_module("torch") if importlib.util.find_spec("torch") else None
    threads = torch.get_num_threads() if torch is not None else 0
    try:
        sys.argv = [str(path), *args]
        sys.path.insert(0, str(path.parent))
        with warnings.catch_warnings(), _fresh_torch(torch):
            yield
    finally:
        sys.argv, sys.path[:] = argv, syspath
        os.environ.clear()
        os.environ.update(environ)
        if torch is not None:
            torch.set_num_threads(threads)


def run_script(path: Path, *args: str, check: bool = True) -> Finished:
    """Run ``path`` as ``__main__`` with ``args``; raises if it fails and ``check``."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with (
        _put_back(path, args),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            runpy.run_path(str(path), run_name="__main__")
        except SystemExit as exc:  # what the interpreter would make of it
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                code = 1
                print(exc.code, file=sys.stderr)
    if check and code != 0:
        raise AssertionError(f"{path.name} {' '.join(args)} exited with {code}:\n{err.getvalue()}")
    return Finished(code, out.getvalue(), err.getvalue())


def script_namespace(path: Path) -> dict[str, Any]:
    """The definitions of the script ``path`` (run as a module, not as ``__main__``), with
    what its top level changes in the process put back afterwards (as :func:`run_script`:
    a benchmark that sets PyTorch's thread count at import leaves the test process's)."""
    with _put_back(path, ()):
        return runpy.run_path(str(path))


def script_rows(script: str, *args: str) -> list[list[str]]:
    """The lines that ``benchmarks/<script> args`` prints, split into words."""
    out = run_script(BENCHMARKS / script, *args).stdout
    return [line.split() for line in out.splitlines()]
