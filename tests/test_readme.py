"""The README's Python examples run as written (the cluster one needs a real scheduler; an
example that imports an optional package skips where that package is not installed)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def _cannot_run(code: str) -> str | None:
    """Why this example cannot run here, or None."""
    if "scheduler-address" in code:
        return "needs a running dask scheduler"
    for package in re.findall(r"^(?:import|from) (\w+)", code, flags=re.M):
        if importlib.util.find_spec(package) is None:
            return f"needs {package}, which is not installed"
    return None


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index):
    code = BLOCKS[index]
    reason = _cannot_run(code)
    if reason:
        pytest.skip(reason)
    namespace: dict = {}
    for earlier in BLOCKS[:index]:  # later blocks reuse names from earlier ones
        if _cannot_run(earlier) is None:
            exec(compile(earlier, "README.md", "exec"), namespace)
    exec(compile(code, "README.md", "exec"), namespace)
