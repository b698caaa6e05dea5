"""lfso.cli._demo: the cells, their legend, the notes and the summary, on outcomes made by hand."""

from __future__ import annotations

import pytest

from lfso import METHODS
from lfso.bench import get_problem
from lfso.cli._demo import DemoRow, Outcome, certified_methods, render, run_demo, summary

OUTCOMES = {
    "converged": Outcome("converged", 123, 1e-9),
    "capped": Outcome("capped", 10_000, 3e-4),
    "stalled": Outcome("stalled", 451, 1e-7),
    "failed": Outcome("failed", 5, float("inf")),
    "n/a": Outcome("n/a", reason="no oracle"),
    "lucky": Outcome("converged", 2, 0.0, step=1e-5, grid_njev=20, lucky_njev=-1),
    "risky": Outcome("converged", 586, 1e-9, risks={"descent": {"count": 1, "first": 1}}),
}


def _rows(cells: dict[str, Outcome]) -> list[DemoRow]:
    return [DemoRow(get_problem("power_sum-p2"), cells)]


def test_certified_methods_come_from_the_registry():
    methods = certified_methods()
    assert methods and set(methods) <= set(METHODS) and "lfso" in methods
    assert all(m.startswith("lfso") for m in methods)


@pytest.mark.parametrize("kind", list(OUTCOMES))
def test_every_cell_has_its_legend_line(kind):
    out = OUTCOMES[kind]
    text = render(_rows({"lfso": out, "gd": OUTCOMES["converged"]}), cap=10_000)
    row = next(ln for ln in text.splitlines() if ln.startswith("power_sum-p2 "))
    legend = text[text.index("Marks:") : text.index("Summary")]
    marks = {
        "converged": "123",
        "capped": "cap 3e-04",
        "stalled": "stop 1e-07",
        "failed": "failed",
        "n/a": "n/a",
        "lucky": "2 lucky",
        "risky": "586 !",
    }
    assert marks[kind] in row
    assert marks[kind].split()[-1] in legend  # each mark is explained
    if kind in ("n/a", "lucky", "risky"):  # ... and its note names the problem and method
        assert "power_sum-p2 / lfso:" in text[text.index("Notes, by problem:") :]


def test_summary_counts_wins_and_losses_and_ignores_lucky_landings():
    rows = [
        DemoRow(
            get_problem("power_sum-p2"),
            {"lfso": Outcome("converged", 40), "gd": OUTCOMES["capped"]},
        ),
        DemoRow(
            get_problem("power_sum-p3"), {"lfso": Outcome("converged", 50), "gd": OUTCOMES["lucky"]}
        ),
        DemoRow(
            get_problem("power_sum-p4"),
            {"lfso": Outcome("converged", 900), "gd": Outcome("converged", 80, grid_njev=5000)},
        ),
    ]
    text = "\n".join(summary(rows))
    assert "cost 5,020 gradient evaluations over 3 problems" in text
    assert "on 2 of 3 (1 by a lucky landing)" in text
    assert "wins on 2 (power_sum-p2, power_sum-p3), loses on 1 (power_sum-p4)" in text
    assert "lfso bench" in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cap": 0}, "cap must be an integer >= 2"),
        ({"cap": True}, "cap"),
        ({"tol": 2.0}, "tol must be in"),
    ],
)
def test_run_demo_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_demo(["power_sum-p1"], **kwargs)


def test_the_cap_counts_gradient_evaluations_as_the_table_says(capsys):
    from lfso.cli import main

    cap = 5
    [row] = run_demo(["power_sum-p3"], cap=cap, tol=1e-12)
    assert {out.status for out in row.outcomes.values()} == {"capped"}
    assert max(out.njev for out in row.outcomes.values()) == cap
    text = render([row], cap=cap, tol=1e-12)
    assert f"each run capped at {cap} gradient evaluations" in text
    assert f"stopped at the cap ({cap} gradient evaluations)" in text
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "gradient evaluations allowed per run" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_quiet_monitor_records_risks_without_warning(recwarn):
    import numpy as np

    import lfso
    from lfso.monitor import RiskWarning

    args = (lfso.models.PowerSum(2), np.ones(3))
    quiet = lfso.minimize(*args, method="gd", step=0.7, max_iter=40, monitor="quiet")
    assert "descent" in quiet.risks and np.any(quiet.history.risk > 0)
    assert not [w for w in recwarn if issubclass(w.category, RiskWarning)]
    with pytest.warns(RiskWarning, match="descent"):
        loud = lfso.minimize(*args, method="gd", step=0.7, max_iter=40)
    assert loud.risks == quiet.risks
    with pytest.raises(ValueError, match="'quiet'"):
        lfso.minimize(*args, monitor="silent")


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
def test_a_run_that_stops_by_itself_short_of_tol_is_stalled_not_capped():
    import numpy as np

    import lfso
    from lfso.cli._demo import _outcome

    res = lfso.minimize(
        lambda x: float(((x - 1) ** 2).sum() + (x**4).sum()),
        np.zeros(3, np.float32),
        grad=lambda x: 2 * (x - 1) + 4 * x**3,
    )
    assert res.status is lfso.Status.STALLED
    out = _outcome(res)
    assert out.status == "stalled" and out.accuracy < 1e-6
