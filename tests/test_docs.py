"""The README's API-reference command builds (skipped where pdoc is not installed)."""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_command() -> list[str]:
    lines = re.findall(r"^python3 -m pdoc .*$", (ROOT / "README.md").read_text(), flags=re.M)
    assert len(lines) == 1, "the README gives one pdoc command"
    return shlex.split(lines[0])


def test_the_readme_names_every_public_module_it_documents():
    modules = [w for w in _readme_command()[3:] if w.startswith("lfso")]
    for name in modules:
        assert importlib.util.find_spec(name.split(".")[0]) is not None
        path = ROOT / "src" / Path(*name.split("."))
        assert path.with_suffix(".py").exists() or (path / "__init__.py").exists(), name


@pytest.mark.skipif(importlib.util.find_spec("pdoc") is None, reason="pdoc is not installed")
def test_the_api_reference_builds_offline(tmp_path):
    argv = _readme_command()
    out = argv.index("-o") + 1
    argv[out] = str(tmp_path / "api")
    argv[0] = sys.executable
    env_path = str(ROOT / "src")
    done = subprocess.run(
        argv, capture_output=True, text=True, env={"PYTHONPATH": env_path, "PATH": ""}
    )
    assert done.returncode == 0, done.stderr
    minimize = (tmp_path / "api" / "lfso" / "minimize.html").read_text()
    assert "def minimize" in re.sub(r"<[^>]+>", "", minimize)
    models = re.sub(r"<[^>]+>", "", (tmp_path / "api" / "lfso" / "models.html").read_text())
    assert "has_segment" in models  # the Model contract is in the reference
    # Internals left out of __all__ are not documented.
    bounds = (tmp_path / "api" / "lfso" / "bounds.html").read_text()
    assert 'id="LocalBound"' in bounds and 'id="PowerBound"' not in bounds
    # lfso.scipy's methods, made from the registry at import, are in the reference.
    import lfso.registry

    scipy = (tmp_path / "api" / "lfso" / "scipy.html").read_text()
    for method in lfso.registry.METHODS:
        assert f'id="{method.replace("-", "_")}"' in scipy, method
