"""The README's Python examples run as written and print what their comments say (the
cluster one needs a real scheduler; an example that imports an optional package skips
where that package is not installed), and the counts the README quotes are the ones the
code produces now: each test below reads its figure from README.md and measures it."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text()
PROSE = " ".join(TEXT.split())  # the README's words, line breaks and indents undone
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)

#: ``print(...)  # OUTPUT``: the comment is what the line prints (``...`` stands for the rest).
PRINT_LINE = re.compile(r"^(\s*)print\((.*)\)\s+#\s*(.+)$")
#: ``res = ...  # ...: N steps``: the run takes N iterations.
STEPS_LINE = re.compile(r"^(\s*)(res = .*?)\s+#.*?((?:about )?[\d,]+) steps$")


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _printed(expected: str, *args: object) -> None:
    """Print ``args`` as ``print`` does, and check that it printed ``expected``."""
    out = " ".join(str(a) for a in args)
    print(out)
    head, dots, _ = expected.partition("...")
    assert out.startswith(head.rstrip()) if dots else out == expected, (out, expected)


def _steps(expected: str, res: object) -> None:
    """``N steps`` exactly; ``about N steps`` within 10%: a count that moves with the
    rounding of the CPU's BLAS kernels (docs/results.md, "The counts depend on the CPU")."""
    nit = res.nit  # type: ignore[attr-defined]
    if expected.startswith("about "):
        assert abs(nit - _number(expected[6:])) <= 0.1 * _number(expected[6:]), (nit, expected)
    else:
        assert nit == _number(expected), (nit, expected)


def _checked(code: str) -> str:
    """``code`` with its ``print(...)  # OUTPUT`` and ``# N steps`` comments made checks."""
    lines = []
    for line in code.splitlines():
        if m := PRINT_LINE.match(line):
            line = f"{m[1]}_printed({m[3]!r}, {m[2]})"
        elif m := STEPS_LINE.match(line):
            line = f"{m[1]}{m[2]}; _steps({m[3]!r}, res)"
        lines.append(line)
    return "\n".join(lines)


def _cannot_run(code: str) -> str | None:
    """Why this example cannot run here, or None."""
    if "scheduler-address" in code:
        return "needs a running dask scheduler"
    for package in re.findall(r"^(?:import|from) (\w+)", code, flags=re.M):
        if importlib.util.find_spec(package) is None:
            return f"needs {package}, which is not installed"
    return None


@pytest.fixture(autouse=True)
def _numpy_kernels(monkeypatch):
    """The README's step counts are the NumPy kernels' (with numba, the compiled kernels'
    sums round differently: a run may take a few steps more or fewer)."""
    from lfso.models import _compiled

    monkeypatch.setattr(_compiled, "ENABLED", False)


@pytest.fixture(scope="module")
def readme_session() -> dict:
    """The names the README's blocks define, as a reader who runs them in order has them:
    ``{"namespace": ..., "done": index of the last block run in it}``."""
    return {"namespace": {}, "done": None}


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, readme_session):
    """Block ``index`` runs after the blocks before it (later blocks reuse names from earlier
    ones): in the namespace they left when the test of block ``index - 1`` ran to its end,
    else in a fresh one where they run first."""
    code = BLOCKS[index]
    if readme_session["done"] != index - 1:
        namespace: dict = {"_printed": _printed, "_steps": _steps}
        for earlier in BLOCKS[:index]:
            if _cannot_run(earlier) is None:
                exec(compile(earlier, "README.md", "exec"), namespace)
        readme_session["namespace"] = namespace
    readme_session["done"] = None  # (until this block has run to its end)
    reason = _cannot_run(code)
    if reason is None:
        exec(compile(_checked(code), "README.md", "exec"), readme_session["namespace"])
    readme_session["done"] = index
    if reason:
        pytest.skip(reason)


def test_the_api_example_states_its_step_counts_and_prints_the_status_name():
    """The first example's counts are checked by the example itself (``# N steps``), and
    its status prints as a name: ``Status`` is an ``IntEnum``, so ``print(res.status)``
    would print ``0``."""
    code = _checked(BLOCKS[0])
    assert code.count("_steps(") == 4 and "_printed('CONVERGED 131 ...'" in code
    for block in BLOCKS:
        assert not re.search(r"print\(res\.status[,)]", block)


def _rollout_figures(problem: str) -> tuple[str, list[int]]:
    """The README's sentence on ``lfso rollout PROBLEM ...``: its command and figures."""
    m = re.search(
        rf"`(lfso rollout {problem} [^`]*)` measures ([\d,]+)(?: gradients of tuning)? plus "
        rf"([\d,]+)(?: for the tuned step)? against ([\d,]+)",
        PROSE,
    )
    assert m, f"the README no longer quotes lfso rollout {problem}"
    return m[1], [_number(g) for g in m.groups()[1:]]


def _run_rollout(command: str, tmp_path, monkeypatch, capsys) -> str:
    from lfso.cli import main

    monkeypatch.chdir(tmp_path)  # the command as written writes rollout.html here
    assert main(shlex.split(command)[1:]) == 0
    return capsys.readouterr().out


def _near(measured: list[int], figures: list[int]) -> bool:
    """Each count within 1% of the README's: the counts move a little with the rounding
    of the CPU's BLAS kernels (docs/results.md, "The counts depend on the CPU")."""
    return len(measured) == len(figures) and all(
        abs(m - f) <= 0.01 * f for m, f in zip(measured, figures, strict=True)
    )


def _measured(out: str) -> list[int]:
    """Tuning gradients, the tuned rule's and LFSO's gradients to the target."""
    return [
        int(re.search(pattern, out)[1])  # type: ignore[index]
        for pattern in (
            r"tuning the current rule: (\d+) gradients",
            r"tuned rule to f <= \S+ (\d+) gradients",
            r"lfso to the same target: (\d+) gradients",
        )
    ]


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
def test_readme_rollout_figures_small(tmp_path, monkeypatch, capsys):
    command, figures = _rollout_figures("lp_regression-p3-n100")
    measured = _measured(_run_rollout(command, tmp_path, monkeypatch, capsys))
    assert _near(measured, figures), (measured, figures)


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
def test_readme_rollout_figures_large_and_where_its_guarded_run_stops(
    tmp_path, monkeypatch, capsys
):
    command, figures = _rollout_figures("lp_regression-p2-n1000")
    out = _run_rollout(command, tmp_path, monkeypatch, capsys)
    assert _near(_measured(out), figures), (_measured(out), figures)
    stop = re.search(r"guarded run, LFSO-GD, then stops at `MAX_ITER`, ([\d,]+) iterations", PROSE)
    assert stop and f"guarded stage (lfso): MAX_ITER, {_number(stop[1])} iterations" in out


def test_readme_oracle_evaluations_on_breast_cancer():
    pytest.importorskip("sklearn")
    import lfso
    from lfso.bench import get_problem

    m = re.search(
        r'on breast cancer with `method="lfso", certificate="ball"`: ([\d,]+) oracle '
        r"evaluations in ([\d,]+) iterations",
        PROSE,
    )
    assert m, "the README no longer quotes the oracle evaluations on breast cancer"
    model, x0 = get_problem("logistic-breast_cancer").make()
    res = lfso.minimize(model, x0, method="lfso", certificate="ball", monitor="quiet")
    assert (res.noracle, res.nit) == (_number(m[1]), _number(m[2]))


def test_readme_round_trips_per_certified_iteration(sync_table_of):
    pytest.importorskip("torch")
    m = re.search(r"\((-?[\d.]+) to (-?[\d.]+)\s+in `python3 benchmarks/host_syncs.py`", PROSE)
    assert m, "the README no longer quotes the round trips per iteration"
    low, high = float(m[1]), float(m[2])
    # (the script's sizes, its last table: from 2^18 rows, where the loop runs ahead)
    table = sync_table_of(1000, 20, methods=("gd", "lfso", "lfso-lbfgs"), ahead=True)
    # (the models whose ||g|| is on the host only, as the README names them)
    on_host = {"composite p=2": "CompositeLeastSquares", "power_norm p=2": "PowerNorm"}
    assert all(f"`{model}`" in PROSE for model in on_host.values())
    for name, row in table.items():
        assert row["gd"] == 0.0, name
        if name in on_host:
            assert row["lfso"] == row["lfso-lbfgs"] == 1.0, (name, row)
        elif name != "function + oracle":
            assert low <= min(row.values()) and max(row.values()) <= high, (name, row)


def test_readme_minibatch_step_cost_is_the_recorded_tables_range():
    """The README's range of StochasticLFSO's step cost (CPU time against an Adam step) is
    the least and the largest ratio of the step-time table the benchmark last wrote
    (``docs/stochastic/table.md``, ``python3 benchmarks/stochastic.py``)."""
    table = (README.parent / "docs" / "stochastic" / "table.md").read_text()
    section = table.split("Step time at batch 128 and 256", 1)[1]
    ratios = [float(m) for m in re.findall(r"^\|[^|]+\|[^|]+\|[^|]+\| ([\d.]+)x \|", section, re.M)]
    assert len(ratios) >= 16
    low, high = re.search(r"([\d.]+)x to ([\d.]+)x an Adam step in CPU time", PROSE).groups()
    assert (float(low), float(high)) == (min(ratios), max(ratios))


def test_readme_minibatch_held_out_claim_is_the_recorded_tables():
    """The README's claim for the benchmark's tasks that informed no choice of
    StochasticLFSO's defaults (how many, and within 1 point of the best tuned Adam or SGD on
    all of them) is the count the benchmark last wrote (``docs/stochastic/table.md``), and
    the number of tasks that did inform one is the script's."""
    import ast

    words = {"nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14}
    m = re.search(
        r"defaults were chosen on (\w+) of the\s+benchmark's tasks; on the other (\w+) it is "
        r"within 1 point of the best tuned",
        PROSE,
    )
    assert m, "the README no longer states the held-out tasks' result"
    informed, others = words[m[1]], words[m[2]]
    table = (README.parent / "docs" / "stochastic" / "table.md").read_text()
    counts = re.search(
        r"^tasks that informed no choice: within 1 point of the best tuned: (\d+)/(\d+);",
        table,
        re.M,
    )
    assert counts and int(counts[1]) == int(counts[2]) == others
    script = (README.parent / "benchmarks" / "stochastic.py").read_text()
    groups = {  # (the script's constant tuples, read without running it: it imports torch)
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse(script).body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id in ("TUNED_ON", "HELD_OUT", "DERIVED_ON")
    }
    assert len(groups["TUNED_ON"]) + len(groups["DERIVED_ON"]) == informed
    assert len(groups["TUNED_ON"]) + len(groups["HELD_OUT"]) == informed + others


def test_readme_stall_length_and_minibatch_multiple_are_the_code_defaults():
    """The README's ``STALLED`` length and StochasticLFSO's multiple (its upper end and
    window) are the constants the code uses."""
    import inspect

    from lfso._result import STALL_ITERATIONS

    m = re.search(r"reach a new low in ([\d,]+) iterations", PROSE)
    assert m and int(m[1].replace(",", "")) == STALL_ITERATIONS
    m = re.search(r"times a multiple between 1 and ([\d.]+) set every (\d+) steps", PROSE)
    assert m, "the README no longer states StochasticLFSO's multiple"
    torch = pytest.importorskip("torch")
    from lfso.torch import StochasticLFSO

    opt = StochasticLFSO([torch.nn.Parameter(torch.zeros(2))])
    assert (opt.eta_max, opt.window) == (float(m[1]), int(m[2]))
    assert inspect.signature(StochasticLFSO).parameters["eta"].default == 1.0


def test_readme_rows_from_which_trial_steps_are_compiled_are_the_codes():
    """The README's row count from which an accelerator's trial steps run compiled, and
    the kernels it names, are :mod:`lfso.models._fused`'s."""
    from lfso.models import _fused
    from lfso.models._segments import approach_kernel, cauchy_kernel, power_kernel

    m = re.search(r"From 2\^(\d+) rows, on an NVIDIA GPU", PROSE)
    assert m and 2 ** int(m[1]) == _fused.MIN_ROWS
    named = "l_2p regression with p = 1.5, 2, 2.5 or 3, of logistic regression and of Cauchy"
    assert named in PROSE
    powers = (1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5)
    covered = [p for p in powers if hasattr(power_kernel(2 * p - 2, 1.0), "fused_ulps")]
    assert covered == [1.5, 2.0, 2.5, 3.0] and hasattr(approach_kernel, "fused_ulps")
    assert hasattr(cauchy_kernel(1.0, 2.0**-24), "fused_ulps")
    assert "and so is softmax regression's from 2^18 logits" in PROSE
    assert _fused.softmax_sums.__name__ in _fused.__all__


def test_readme_layout_names_every_module():
    """The README's "Layout" names each module file of ``src/lfso`` (a package's
    ``__init__.py`` and ``__main__.py`` aside), and names no file that is not there."""
    layout = TEXT.split("## Layout", 1)[1]
    named = set(re.findall(r"`(_?\w+\.py)`", layout))
    package = README.parent / "src" / "lfso"
    files = {p.name for p in package.rglob("*.py")} - {"__init__.py", "__main__.py"}
    assert not files - named, f"the README's layout leaves out {sorted(files - named)}"
    assert not named - files - {"test_layout.py"}, sorted(named - files)
