"""The README's Python examples run as written (the cluster one needs a real scheduler)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index):
    code = BLOCKS[index]
    if "scheduler-address" in code:
        pytest.skip("needs a running dask scheduler")
    namespace: dict = {}
    for earlier in BLOCKS[:index]:  # later blocks reuse names from earlier ones
        if "scheduler-address" not in earlier:
            exec(compile(earlier, "README.md", "exec"), namespace)
    exec(compile(code, "README.md", "exec"), namespace)
