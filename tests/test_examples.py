"""The examples run as documented (with few steps) and say what they compare."""

from __future__ import annotations

from pathlib import Path

import pytest
from scripts import run_script

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_torch_digits_compares_with_tuned_sgd_and_adam():
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    argv = ["--steps", "3", "--sgd-grid", "0.1", "1", "--adam-grid", "0.01"]
    out = run_script(EXAMPLES / "torch_digits.py", *argv).stdout  # in this process
    lines = out.splitlines()
    assert lines[1].startswith("lfso (no learning rate)")
    sgd = next(ln for ln in lines if ln.startswith("sgd (best lr="))
    adam = next(ln for ln in lines if ln.startswith("adam (best lr=0.01)"))
    assert "grid 0.1, 1: 6 gradients in all" in sgd  # two learning rates x 3 steps
    assert "grid 0.01: 3 gradients in all" in adam


def test_the_package_ships_its_type_marker():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    root = EXAMPLES.parent
    config = tomllib.loads((root / "pyproject.toml").read_text())
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["lfso"]
    assert (root / "src" / "lfso" / "py.typed").is_file()
