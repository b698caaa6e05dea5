"""The package's layout: a small public surface, and no import circles.

A module is public when no part of its name starts with ``_``; a public module's
``__all__`` lists public names only, each defined. Imports are read from the source (the
AST, every ``import`` statement at any depth, those under ``if TYPE_CHECKING:`` left out,
as they never run); a module importing its own parent package is no edge (the parent is
always imported first). An import circle is a strongly connected component of more than
one module in that graph.

A function's size is its body's lines, docstring excluded (``end_lineno - lineno + 1``
less the docstring's lines, from the AST; a nested function counts in its own right and in
the function around it); none may exceed :data:`MOST_BODY_LINES`.

The figures (public modules, ``__all__`` entries and the distinct objects they name,
import circles, the largest functions)::

    PYTHONPATH=src python tests/test_layout.py [path/to/src/lfso]
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "lfso"

#: The most public modules the package may have.
MOST_PUBLIC = 15

#: The most lines a function's body may have, its docstring excluded.
MOST_BODY_LINES = 85


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module and package under ``package``, by dotted name."""
    out = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def public(names: dict[str, Path]) -> list[str]:
    return sorted(m for m in names if not any(p.startswith("_") for p in m.split(".")))


def _imports(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found += _imports(node.orelse)
            continue
        for child in ast.walk(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append(child)
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """``module -> the modules of the package it imports``."""
    names = modules(package)
    graph: dict[str, set[str]] = {m: set() for m in names}
    for module, path in names.items():
        here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        for node in _imports(ast.parse(path.read_text()).body):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = ".".join(here[: len(here) - node.level + 1]) if node.level else ""
                target = ".".join(p for p in (base, node.module or "") if p)
                targets = [target] + [f"{target}.{alias.name}" for alias in node.names]
            for target in targets:
                if target in names and target != module and not module.startswith(target + "."):
                    graph[module].add(target)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    assert circles(import_graph()) == []


def test_circles_are_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(graph) == [["a", "b", "c"]]


def test_the_public_modules_are_few():
    names = public(modules())
    assert 1 < len(names) <= MOST_PUBLIC, names


@pytest.mark.parametrize("module", public(modules()))
def test_all_lists_defined_public_names(module):
    if module in ("lfso.torch", "lfso.sklearn"):
        pytest.importorskip(module.rpartition(".")[2])
    imported = importlib.import_module(module)
    names = imported.__all__
    assert names, f"{module} has an empty __all__"
    assert not [n for n in names if n.startswith("_")], names
    assert not [n for n in names if not hasattr(imported, n)], names


def function_sizes(package: Path = PACKAGE) -> list[tuple[int, str]]:
    """``(lines, qualified name)`` of every function and method under ``package``, largest
    first: the lines of its body, docstring excluded."""
    sizes: list[tuple[int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}.{child.name}"
                lines = (child.end_lineno or child.lineno) - child.lineno + 1
                first = child.body[0]
                if (
                    isinstance(first, ast.Expr)
                    and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)
                ):
                    lines -= (first.end_lineno or first.lineno) - first.lineno + 1
                sizes.append((lines, name))
                visit(child, f"{name}.<locals>")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}.{child.name}")
            else:
                visit(child, prefix)

    for module, path in sorted(modules(package).items()):
        visit(ast.parse(path.read_text()), module)
    return sorted(sizes, key=lambda size: (-size[0], size[1]))


def test_no_function_is_long():
    long = [
        f"{name} ({lines} lines)" for lines, name in function_sizes() if lines > MOST_BODY_LINES
    ]
    assert not long, f"bodies over {MOST_BODY_LINES} lines, docstring excluded: {long}"


SAMPLE = '''def f():
    """One

    docstring.
    """
    x = 1
    return x


class C:
    def m(self):
        def inner():
            return 0

        return inner


def g():
    'Text'
    return 2


async def h():
    return 3
'''


def test_function_sizes_leave_out_the_docstring(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text(SAMPLE)
    assert function_sizes(package) == [
        (5, "pkg.C.m"),  # (the def line counts; the nested function's lines too)
        (3, "pkg.f"),  # 7 lines less the docstring's 4
        (2, "pkg.C.m.<locals>.inner"),
        (2, "pkg.g"),
        (2, "pkg.h"),
    ]


def figures(package: Path = PACKAGE) -> tuple[list[str], int, int, list[list[str]]]:
    """The public modules, their ``__all__`` entries, the distinct objects those name, and
    the import circles."""
    names = public(modules(package))
    sys.path.insert(0, str(package.parent))
    entries, objects = 0, set()
    for name in names:
        module = importlib.import_module(name)
        listed = getattr(module, "__all__", [])
        entries += len(listed)
        objects |= {id(getattr(module, n)) for n in listed}
    return names, entries, len(objects), circles(import_graph(package))


def test_the_readme_states_the_layout_figures():
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    readme = (PACKAGE.parents[1] / "README.md").read_text()
    import re

    m = re.search(
        r"(\d+) public modules, (\d+) `__all__` entries naming (\d+) objects, (\d+) import "
        r"circles",
        " ".join(readme.split()),
    )
    assert m, "the README no longer states the layout's figures"
    names, entries, objects, found = figures()
    assert [int(v) for v in m.groups()] == [len(names), entries, objects, len(found)]


def main(package: Path = PACKAGE) -> None:
    names, entries, objects, found = figures(package)
    print(f"public modules  {len(names)}: {' '.join(names)}")
    print(f"__all__ entries {entries}, distinct objects {objects}")
    print(f"import circles  {len(found)}")
    for component in found:
        print("   ", " - ".join(component))
    print("largest functions (body lines, docstring excluded):")
    for lines, name in function_sizes(package)[:10]:
        print(f"    {lines:4d}  {name}")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else PACKAGE)
