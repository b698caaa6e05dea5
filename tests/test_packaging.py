"""The bare-machine promise: ``pip install -e '.[test]' && pytest`` collects no module that
imports a package the ``test`` extra does not install (PyTorch, tensorboardX)."""

import ast
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOT_IN_TEST_EXTRA = {"torch", "tensorboardX"}


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in tree.body:  # module level only: imports inside functions are lazy
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_modules_importing_optional_packages_are_skipped_without_them():
    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    listed = set(conftest._NEEDS)
    for path in sorted((ROOT / "src" / "lfso").rglob("*.py")):
        optional = _top_level_imports(path) & NOT_IN_TEST_EXTRA
        relative = path.relative_to(ROOT).as_posix()
        covered = relative in listed or any(relative.startswith(f"{f}/") for f in listed)
        assert not optional or covered, (
            f"{relative} imports {sorted(optional)} at module level: list it in conftest.py"
        )
