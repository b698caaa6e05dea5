"""pytest at the repository root: the doctests of a module whose optional dependency is not
installed are not collected (``--doctest-modules`` imports every module under ``src/lfso``),
so ``pip install -e '.[test]' && pytest`` passes on a bare machine and the tests of that
dependency skip themselves."""

import importlib.util

#: Module (relative to this folder) -> the optional package its doctests import.
_NEEDS = {
    "src/lfso/torch": "torch",
    "src/lfso/bench/_syncs.py": "torch",
    "src/lfso/_later.py": "torch",
    "src/lfso/sklearn.py": "sklearn",
    "src/lfso/models/_compiled_kernels.py": "numba",
}

collect_ignore = [
    path for path, package in _NEEDS.items() if importlib.util.find_spec(package) is None
]
