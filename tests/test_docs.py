"""The README's API-reference command builds (skipped where pdoc, or a library that an
integration module imports, is not installed), it names every public module, and the
package's page links each of them."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import itertools
import re
import shlex
from pathlib import Path
from types import ModuleType

import pytest

import lfso

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "lfso"


def _readme_command() -> list[str]:
    """The README's pdoc command, its continuation lines (a trailing backslash) joined."""
    text = (ROOT / "README.md").read_text()
    found = re.findall(r"^python3 -m pdoc (?:.*\\\n)*.*$", text, flags=re.M)
    assert len(found) == 1, "the README gives one pdoc command"
    return shlex.split(found[0].replace("\\\n", " "))


def _public_modules() -> list[str]:
    """``lfso.<name>`` for every module and package under src/lfso (at any depth) with no
    part of its name starting with ``_``."""
    names = []
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if len(parts) > 1 and not any(part.startswith("_") for part in parts):
            names.append(".".join(parts))
    return sorted(names)


def _named_modules() -> list[str]:
    return [w for w in _readme_command()[3:] if w.startswith("lfso")]


def _brought_by(package: str) -> set[str]:
    """The submodules pdoc documents with a package: those its ``__all__`` names (read from
    its ``__init__.py`` without importing it, so that a package of an optional library,
    ``lfso.torch``, is checked where that library is not installed)."""
    init = PACKAGE.parent / Path(*package.split(".")) / "__init__.py"
    if not init.exists():
        return set()
    names: list[str] = []
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            names = ast.literal_eval(node.value)
    return {f"{package}.{n}" for n in names if f"{package}.{n}" in _public_modules()}


def test_the_readme_names_every_public_module_it_documents():
    modules = _named_modules()
    for name in modules:
        assert importlib.util.find_spec(name.split(".")[0]) is not None
        path = ROOT / "src" / Path(*name.split("."))
        assert path.with_suffix(".py").exists() or (path / "__init__.py").exists(), name


def test_the_readme_command_documents_every_public_module_once():
    named = _named_modules()
    brought = set().union(*(_brought_by(m) for m in named))
    missing = [m for m in _public_modules() if m not in named and m not in brought]
    assert not missing, f"the README's pdoc command leaves out {missing}"
    twice = sorted({m for m in named if m in brought or named.count(m) > 1})
    assert not twice, f"pdoc warns on modules named twice (or brought by a package): {twice}"


def test_the_readme_command_typesets_the_formulas():
    assert "--math" in _readme_command()


def test_the_package_docstring_links_every_public_module():
    doc = lfso.__doc__ or ""
    # pdoc links a module name written in backticks.
    missing = [m for m in _public_modules() if f"`{m}`" not in doc]
    assert not missing, f"the lfso package docstring does not link {missing}"


#: A numpydoc section's heading: a title line underlined with dashes.
_SECTION = re.compile(r"^([A-Z][A-Za-z ]+)\n-+$", flags=re.M)
#: An entry of a Parameters or Attributes section: ``name``, ``a, b`` or ``name : type``.
_ENTRY = re.compile(r"^\*{0,2}[A-Za-z_]\w*(, \*{0,2}[A-Za-z_]\w*)*( : .*)?$")


def _documented(obj: object) -> list[tuple[str, object]]:
    """``(label, callable)`` for ``obj`` and, for a class, each public method it defines."""
    import inspect

    found = [("", obj)]
    if inspect.isclass(obj):
        for name, member in vars(obj).items():
            member = getattr(member, "__func__", member)
            if not name.startswith("_") and inspect.isfunction(member):
                found.append((f".{name}", member))
    return found


def _sections(doc: str) -> dict[str, list[str]]:
    """A numpydoc docstring's sections: heading -> its lines."""
    import inspect

    parts = _SECTION.split(inspect.cleandoc(doc))
    return {parts[i]: parts[i + 1].splitlines() for i in range(1, len(parts), 2)}


def _parameter_errors(label: str, obj: object) -> list[str]:
    """What the docstring of ``obj`` says wrong about its parameters: a line of text at an
    entry's indentation in a Parameters or Attributes section (pdoc renders each such line
    as a parameter of that name), a parameter of the signature the Parameters section does
    not name, or a name there that is no parameter."""
    import inspect

    sections = _sections(getattr(obj, "__doc__", None) or "")
    errors = []
    for heading in ("Parameters", "Other Parameters", "Attributes"):
        for line in sections.get(heading, []):
            if line.strip() and not line.startswith(" ") and not _ENTRY.match(line):
                errors.append(f"{label}: a line of text read as a {heading} entry: {line!r}")
    if "Parameters" not in sections:
        return errors
    named = {
        name.strip().lstrip("*")
        for heading in ("Parameters", "Other Parameters")
        for line in sections.get(heading, [])
        if line.strip() and not line.startswith(" ")
        for name in line.split(" : ")[0].split(",")
    }
    parameters = {
        name: p.kind
        for name, p in inspect.signature(obj).parameters.items()  # type: ignore[arg-type]
        if name not in ("self", "cls")
    }
    optional = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    missing = [n for n, kind in parameters.items() if n not in named and kind not in optional]
    unknown = sorted(named - set(parameters))
    if missing:
        errors.append(f"{label}: parameters not in its Parameters section: {missing}")
    if unknown:
        errors.append(f"{label}: documented parameters it does not take: {unknown}")
    return errors


@pytest.mark.parametrize("module", _named_modules())
def test_each_public_docstring_documents_the_parameters_it_takes(module):
    """The API reference's parameter lists are the code's: each public class, function and
    method of ``module`` whose docstring has a numpydoc Parameters section names there
    every parameter it takes and no other, and no paragraph sits at an entry's
    indentation (pdoc would list its lines as parameters)."""
    import inspect

    mod = pytest.importorskip(module)
    errors, seen = [], set()
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name)
        if inspect.ismodule(obj) or not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        for suffix, member in _documented(obj):
            if id(member) not in seen:
                seen.add(id(member))
                errors += _parameter_errors(f"{module}.{name}{suffix}", member)
    assert not errors, "\n".join(errors)


def _variable_docstrings(module: ModuleType) -> set[str]:
    """The names a public module's own source gives a docstring: a string literal right
    after their assignment, which is what pdoc shows (it reads no ``#:`` comment, nor a
    docstring in the private module a name is imported from)."""
    body = ast.parse(Path(module.__file__ or "").read_text()).body
    named = set()
    for node, after in itertools.pairwise(body):
        docstring = (
            isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        )
        if docstring and isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            named |= {t.id for t in targets if isinstance(t, ast.Name)}
    return named


@pytest.mark.parametrize("module", _named_modules())
def test_each_public_constant_has_a_docstring_in_the_reference(module):
    """Each name of ``module.__all__`` that is neither a class, a function nor a module
    (``METHODS``, ``RISKS``, ...) has a docstring where pdoc finds it."""
    import inspect

    mod = pytest.importorskip(module)
    constants = [
        name
        for name in getattr(mod, "__all__", [])
        if not any(
            test(getattr(mod, name))
            for test in (inspect.isclass, inspect.isroutine, inspect.ismodule)
        )
    ]
    missing = [name for name in constants if name not in _variable_docstrings(mod)]
    assert not missing, f"{module}: no docstring in the API reference for {missing}"


#: A value for each option a method's call line leaves as ``...`` (f = x . x, grad = 2 x).
_PLACEHOLDERS = {"step": 0.25, "f_star": 0.0, "smoothness": lambda x, R: 2.0}


@pytest.mark.parametrize("method", sorted(lfso.METHODS))
def test_each_scipy_method_says_how_to_call_it(method):
    import numpy as np
    import scipy.optimize

    import lfso.scipy

    doc = getattr(lfso.scipy, method.replace("-", "_")).__doc__ or ""
    found = re.search(r"^    (scipy\.optimize\.minimize\(.*\))$", doc, flags=re.M)
    assert found, f"lfso.scipy's {method} gives no call:\n{doc}"
    call = found[1]
    assert f"method=lfso.scipy.{method.replace('-', '_')}" in call
    for option in lfso.METHODS[method].options:
        if option != "hvp":  # (SciPy's hessp)
            assert f"``{option}``" in doc, option
    # The call runs as written, its placeholders filled in.
    code = re.sub(r'"(\w+)": \.\.\.', lambda m: f'"{m[1]}": PLACEHOLDERS["{m[1]}"]', call)
    names = {"fun": lambda x: x @ x, "grad": lambda x: 2 * x, "x0": np.ones(3)}
    res = eval(code, {"scipy": scipy, "lfso": lfso, "PLACEHOLDERS": _PLACEHOLDERS, **names})
    assert res.success and np.allclose(res.x, 0.0, atol=1e-6), (code, res.message)


def _tagless(path: Path) -> str:
    return re.sub(r"<[^>]+>", "", path.read_text())


#: The warnings a fresh interpreter does not show (Python's default filters).
_QUIET = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


@pytest.mark.skipif(
    any(importlib.util.find_spec(p) is None for p in ("pdoc", "torch", "sklearn")),
    reason="needs pdoc, and torch and scikit-learn for the integration modules",
)
def test_the_api_reference_builds_offline(tmp_path, capsys):
    """The README's command, run by pdoc's own command-line entry point in this process (its
    warnings shown as a fresh interpreter shows them; pdoc prints each as ``Warn: ...``)."""
    import warnings

    import pdoc.render
    from pdoc.__main__ import cli

    argv = _readme_command()
    assert argv[:3] == ["python3", "-m", "pdoc"], argv
    out = argv.index("-o") + 1
    argv[out] = str(tmp_path / "api")
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        for quiet in _QUIET:
            warnings.filterwarnings("ignore", category=quiet)
        try:
            cli(argv[3:])
        finally:
            pdoc.render.configure()  # pdoc's rendering options are process-wide
    stderr = capsys.readouterr().err
    assert "Warn" not in stderr, stderr
    api = tmp_path / "api"
    assert "def minimize" in _tagless(api / "lfso.html")
    models = _tagless(api / "lfso" / "models.html")
    assert "has_segment" in models  # the Model contract is in the reference
    # Internals left out of __all__ are not documented.
    oracles = (api / "lfso" / "oracles.html").read_text()
    assert 'id="LocalBound"' in oracles and 'id="PowerBound"' not in oracles
    # No private module has a page of its own.
    assert not [page for page in api.rglob("_*.html")], "a private module has a page"
    # lfso.scipy's methods, made from the registry at import, are in the reference.
    import lfso._registry

    scipy = (api / "lfso" / "scipy.html").read_text()
    for method in lfso.METHODS:
        assert f'id="{method.replace("-", "_")}"' in scipy, method
    # Every public module has a page, and the landing page links it.
    index = (api / "lfso.html").read_text()
    for module in _public_modules():
        page = Path(*module.split(".")).with_suffix(".html")
        assert (api / page).exists(), module
        assert f'href="{page.as_posix()}"' in index, module
    # The formulas are typeset: MathJax is loaded, and a ``.. math::`` block is TeX in $$.
    oracles = (api / "lfso" / "oracles.html").read_text()
    assert "MathJax" in oracles
    assert re.search(r"\$\$\\\|\\nabla f\(y\) - \\nabla f\(z\)\\\|", oracles)
    # Markdown leaves TeX's braces alone (an escaped brace would lose its backslash).
    assert r"\max\lbrace" in (api / "lfso" / "steps.html").read_text()
    # No formula was cut by Markdown (a line starting with "+" becomes a list item).
    for page in api.rglob("*.html"):
        for formula in re.findall(r"\$\$.*?\$\$", page.read_text(), flags=re.S):
            assert "<" not in formula, (page.name, formula)
