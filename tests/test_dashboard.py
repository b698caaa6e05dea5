"""The live HTML report: atomic rewrites, self-refresh while running, the finished page, and
the page as headless Chromium renders it while a run is going."""

from __future__ import annotations

import html
import math
import os
import re
import shutil
import stat
import subprocess
import threading
import types
import warnings

import numpy as np
import pytest

import lfso
from lfso import _atomic as atomic
from lfso._svg_chart import decades, round_ticks
from lfso.models import PowerSum
from lfso.monitor import RISKS
from lfso.report import LiveReport


def test_the_page_refreshes_while_running_and_not_when_finished(tmp_path):
    live = LiveReport(tmp_path / "run.html", title="live check", every=3600)
    pages = []

    def grab(r):
        live(r)
        if r.nit == 3:
            pages.append(live.path.read_text())

    res = lfso.minimize(PowerSum(2), np.linspace(0.5, 1.5, 4), callback=grab)
    running = pages[0]
    assert '<meta http-equiv="refresh" content="3600">' in running
    assert 'class="running"' in running and "Run in progress" in running
    # every=3600: written at the first iteration and at the end, not in between
    assert live.writes == 1
    final = live.finish(res).read_text()
    assert live.writes == 2 and "http-equiv" not in final and "Finished" in final
    assert "CONVERGED" in final and "<script" not in final and "http://www.w3.org" in final
    # one run: f - best f, ||g||, the step and L, each one polyline
    assert final.count("<polyline") == 4 and final.count('data-run="lfso-lbfgs"') == 4
    assert [p.name for p in tmp_path.iterdir()] == ["run.html"]  # no temporary files left


@pytest.mark.parametrize(
    ("x0", "options", "status"),
    [(np.ones(3), {"max_iter": 0}, "MAX_ITER"), (np.zeros(3), {}, "CONVERGED")],
)
def test_the_finished_page_shows_the_status_of_a_run_that_took_no_step(
    x0, options, status, tmp_path
):
    live = LiveReport(tmp_path / "run.html")
    res = lfso.minimize(PowerSum(2), x0, callback=live, **options)
    assert res.nit == 0 and res.status.name == status
    final = live.finish(res).read_text()
    assert re.search(rf"<td>run</td><td class='done'>done</td><td>{status}: ", final)


def test_a_run_that_took_no_step_is_a_dot_in_its_chart(tmp_path):
    live = LiveReport(tmp_path / "run.html")
    res = lfso.minimize(PowerSum(2), np.ones(3), callback=live, max_iter=0)
    page = live.finish(res).read_text()
    [chart] = [c for c in page.split("<svg")[1:] if 'font-weight="600">||g||<' in c]
    dots = re.findall(r'<circle data-run="lfso-lbfgs" cx="([\d.]+)" cy="([\d.]+)"', chart)
    assert len(dots) == 1  # (its one point; a polyline of one point draws nothing)


@pytest.mark.parametrize(
    ("error", "state", "status"),
    [(KeyboardInterrupt, "interrupted", "INTERRUPTED"), (RuntimeError, "failed", "RAISED")],
)
def test_the_finished_page_marks_a_run_cut_short(error, state, status, tmp_path):
    live = LiveReport(tmp_path / "run.html")

    def callback(intermediate_result):
        live(intermediate_result)
        if intermediate_result.nit == 2:
            raise error("stop")

    try:
        res = lfso.minimize(PowerSum(2), np.ones(3), callback=callback)
    except RuntimeError as exc:
        res = exc.result
    assert res.status.name == status
    final = live.finish(res).read_text()
    assert re.search(rf"<td>run</td><td class='{state}'>{state}</td><td>{status}: ", final)


def test_the_table_of_a_history_without_a_number_warns_nothing(tmp_path):
    history = lfso.History()
    history.append(math.nan, math.nan, math.nan, math.nan, math.nan, 1, 1, 0, 0.0, 16)
    live = LiveReport(tmp_path / "run.html")
    live.set_run("broken", history)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        page = live.finish().read_text()
    assert "non_finite (1x, first at row 0)" in page


def test_the_table_of_a_history_built_from_some_columns(tmp_path):
    # History.from_dict fills the columns it is not given with NaN: njev and risk here.
    history = lfso.History.from_dict({"f": [4.0, 1.0, 0.25], "grad_norm": [8.0, 2.0, 0.5]})
    live = LiveReport(tmp_path / "run.html")
    live.set_run("from f", history)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        page = live.finish().read_text()
    cells = _table_row(page, "from f")
    assert cells[:2] == ["2", "-"] and cells[-1] == "none"


def _table_row(page, label):
    """The cells of ``label``'s row in the runs table."""
    row = re.search(rf"&#9632;</span> {re.escape(label)}</td>(.*?)</tr>", page).group(1)
    return re.findall(r"<td[^>]*>(.*?)</td>", row)


def test_the_table_counts_a_finished_run_as_its_result_does(tmp_path):
    """The returned point's fresh evaluation is in the result's counts, not in the
    history's last row: the finished table shows the result's."""
    from lfso.bench import BENCH_PROBLEMS

    model, x0 = BENCH_PROBLEMS["lp_regression-p2-n100"].build("sharp")
    live = LiveReport(tmp_path / "run.html", every=3600)
    res = lfso.minimize(model, x0, method="lfso", max_iter=60, callback=live)
    assert res.njev == res.history.njev[-1] + 1  # (the case this test is about)
    page = live.finish(res).read_text()
    assert "<th>iterations</th><th>gradients</th>" in page
    assert _table_row(page, "lfso")[:2] == [str(res.nit), str(res.njev)]


def test_a_guarded_run_handed_over_is_one_run_on_its_finished_page(tmp_path):
    """As the callback of a guarded run, the report shows each stage under its method as
    it goes; the finished page shows the run once, as the result returned it (both stages
    joined, its counts), not its stages beside it as two more runs."""
    from lfso.rollout import guarded_minimize

    live = LiveReport(tmp_path / "run.html", every=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = guarded_minimize(
            lambda x: float(np.sum(x**4)),
            np.ones(3),
            grad=lambda x: 4 * x**3,
            smoothness=lambda x, R: 1e-3,  # (far too small: the first stage fails)
            fallback={"method": "gd", "step": 1e-2},
            safeguard=False,
            callback=live,
            max_iter=100,
        )
    assert res.handover is not None and [s.method for s in res.stages] == ["lfso", "gd"]
    page = live.finish(res).read_text()
    labels = re.findall(r"&#9632;</span> ([^<]*)</td>", page)
    assert labels == [html.escape(res.method, quote=False)]
    assert _table_row(page, html.escape(res.method, quote=False))[:2] == [
        str(res.nit),
        str(res.njev),
    ]


def test_the_rollout_table_counts_the_guarded_run_as_its_result_does(tmp_path):
    from lfso.bench import BENCH_PROBLEMS
    from lfso.rollout import rollout

    model, x0 = BENCH_PROBLEMS["lp_regression-p2-n100"].build("sharp")
    out = rollout(
        model,
        x0,
        current={"method": "gd", "step": 1e-4},
        max_iter=60,
        pilot_iter=50,
        report=tmp_path / "r.html",
        tuning=(1e-4, 1e-3),
    )
    page = (tmp_path / "r.html").read_text()
    guarded = out.result
    assert _table_row(page, "guarded run")[:2] == [str(guarded.nit), str(guarded.njev)]
    pilot = out.pilot.candidate
    assert _table_row(page, "pilot: lfso")[:2] == [str(pilot.nit), str(pilot.njev)]


def test_a_finished_page_says_none_where_a_rule_has_no_oracle(tmp_path):
    """A fixed step has no L: "none yet" while the run goes, "none" once it has finished."""
    live = LiveReport(tmp_path / "run.html", every=3600)
    pages = []

    def callback(r):
        live(r)
        live.write()
        pages.append(live.path.read_text())

    res = lfso.minimize(
        PowerSum(2), np.ones(3), method="gd", step=1e-2, max_iter=3, callback=callback
    )
    assert "none yet (a rule without an oracle has none)" in pages[-1]
    final = live.finish(res).read_text()
    assert "none (a rule without an oracle has none)" in final and "none yet" not in final


def test_live_report_rejects_bad_settings(tmp_path):
    with pytest.raises(ValueError, match="every must be finite and positive, got every="):
        LiveReport(tmp_path / "r.html", every=0)
    with pytest.raises(ValueError, match="does not exist"):
        LiveReport(tmp_path / "missing" / "r.html")
    for title in (None, 3, b"run"):
        with pytest.raises(TypeError, match=r"title must be a str \(the page's title\), got"):
            LiveReport(tmp_path / "r.html", title=title)


def _two_runs(tmp_path):
    """LFSO and a fixed step too large for the problem (f rises, then overflows)."""
    live = LiveReport(tmp_path / "run.html", every=3600)
    ours = lfso.minimize(PowerSum(2), np.ones(3), callback=live)
    live.finish(ours)
    with np.errstate(over="ignore", invalid="ignore"):
        big = lfso.minimize(
            PowerSum(2), np.ones(3), method="gd", step=0.7, max_iter=40, monitor="quiet"
        )
    live.set_run("gd, step 0.7", big.history)
    return live, ours, big, live.write().read_text()


def _polylines(page):
    """(run, colour, chart title) of every curve on the page."""
    out = []
    for chart in re.findall(r"<svg .*?</svg>", page):
        title = re.search(r'font-weight="600">(.*?)</text>', chart).group(1)
        for run, color in re.findall(
            r'<polyline data-run="(.*?)" fill="none" stroke="(.*?)"', chart
        ):
            out.append((html.unescape(run), color, html.unescape(title)))
    return out


def test_the_page_plots_f_minus_best_f_the_gradient_norm_the_step_and_the_oracle(tmp_path):
    _, ours, big, page = _two_runs(tmp_path)
    best = min(np.nanmin(ours.history.f), np.nanmin(big.history.f[np.isfinite(big.history.f)]))
    titles = {title for _, _, title in _polylines(page)}
    assert titles == {f"f - best f of the runs shown ({best:.6e})", "||g||", "step", "L(x, R)"}
    drawn = {(run, title.split(" ")[0]) for run, _, title in _polylines(page)}
    assert ("lfso-lbfgs", "L(x,") in drawn and ("gd, step 0.7", "L(x,") not in drawn  # no oracle
    assert ("gd, step 0.7", "step") in drawn and ("gd, step 0.7", "||g||") in drawn
    # f - best f: the row at the best f (here LFSO's) has nothing to draw on a log scale
    chart = next(c for c in re.findall(r"<svg .*?</svg>", page) if "f - best f" in c)
    points = re.search(r'data-run="lfso-lbfgs"[^>]*points="(.*?)"', chart).group(1).split()
    assert len(points) == np.count_nonzero(ours.history.f > best) == len(ours.history) - 1


def test_each_run_has_one_colour_in_every_chart_and_in_the_table(tmp_path):
    _, _, _, page = _two_runs(tmp_path)
    colors: dict[str, set[str]] = {}
    for run, color, _ in _polylines(page):
        colors.setdefault(run, set()).add(color)
    assert set(colors) == {"lfso-lbfgs", "gd, step 0.7"}
    assert all(len(c) == 1 for c in colors.values())
    (ours,), (gd,) = colors["lfso-lbfgs"], colors["gd, step 0.7"]
    assert ours != gd
    assert f'<span class="run" style="color:{ours}">&#9632; lfso-lbfgs</span>' in page
    assert f'<td><span style="color:{gd}">&#9632;</span> gd, step 0.7</td>' in page


def test_a_run_keeps_its_colour_when_runs_are_added_before_it(tmp_path):
    live = LiveReport(tmp_path / "run.html", every=3600)
    res = lfso.minimize(PowerSum(2), np.ones(3), max_iter=5)
    live.pilot_runs["pilot: lfso"] = ([res.history], None)
    first = dict((run, color) for run, color, _ in _polylines(live.write().read_text()))
    live.set_run("guarded", res.history)  # the task's runs are drawn above the pilot's
    then = dict((run, color) for run, color, _ in _polylines(live.write().read_text()))
    assert then["pilot: lfso"] == first["pilot: lfso"] != then["guarded"]


def test_a_hand_over_is_marked_in_every_chart(tmp_path):
    live = LiveReport(tmp_path / "run.html", every=3600)
    res = lfso.minimize(PowerSum(2), np.ones(3), max_iter=8)
    live.set_run("guarded", res.history, handover=types.SimpleNamespace(row=5))
    page = live.write().read_text()
    assert page.count("<svg ") == page.count(">hand-over</text>") == 4


def test_fired_risk_indicators_are_explained_beside_the_table(tmp_path):
    _, _, big, page = _two_runs(tmp_path)
    fired = set(big.risks)
    assert {"descent", "non_finite"} <= fired
    notes = re.search(r'<dl id="risk-notes">(.*?)</dl>', page).group(1)
    assert re.findall(r"<dt>(.*?)</dt>", notes) == [k for k in RISKS if k in fired]
    for name in fired:
        advice = RISKS[name][1]
        assert f"<dd>{html.escape(advice, quote=False)}</dd>" in notes
        assert f'<span class="risk" title="{html.escape(advice)}">{name} (' in page


def test_a_page_without_risks_has_no_explanations(tmp_path):
    live = LiveReport(tmp_path / "run.html", every=3600)
    live.finish(lfso.minimize(PowerSum(2), np.ones(3)))
    page = live.path.read_text()
    assert 'id="risk-notes"' not in page and 'class="risk"' not in page


def test_log_axes_are_labelled_in_whole_powers_of_ten(tmp_path):
    _, _, _, page = _two_runs(tmp_path)
    labels = re.findall(r'class="ytick"[^>]*>(.*?)</text>', page)
    assert len(labels) >= 4 * 3
    power = "1|10⁻?[¹²³⁴⁵⁶⁷⁸⁹][⁰¹²³⁴⁵⁶⁷⁸⁹]*"  # 1, 10, 10⁻³, 10⁵⁰: no fractional powers
    assert all(re.fullmatch(power, label) for label in labels), labels
    assert "1e" not in "".join(labels)


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (-0.5, 0.3, [-1, 0, 1]),  # less than a decade: the decades either side
        (0.0, 0.0, [-1, 0, 1]),  # one value
        (-17.9, -17.1, [-18, -17]),
        (-3.2, 1.1, [-4, -2, 0, 2]),  # every second decade
        (-32.0, 160.0, [-50, 0, 50, 100, 150, 200]),  # 1, 2 or 5 x 10^n decades apart
    ],
)
def test_decades_span_the_values_on_round_powers(lo, hi, expected):
    assert decades(lo, hi) == expected


@pytest.mark.parametrize(
    ("hi", "expected"),
    [(17.0, [0, 5, 10, 15, 20]), (123.0, [0, 50, 100, 150]), (1.0, [0, 0.2, 0.4, 0.6, 0.8, 1])],
)
def test_round_ticks_step_by_one_two_or_five(hi, expected):
    np.testing.assert_allclose(round_ticks(hi), expected)


@pytest.mark.skipif(os.name != "posix", reason="file modes and the umask are POSIX")
@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002, 0o027])
@pytest.mark.parametrize("proc", [True, False], ids=["from /proc", "from os.umask"])
def test_the_page_gets_the_mode_of_a_new_file_under_the_umask(tmp_path, monkeypatch, mask, proc):
    asked = []
    if not proc:  # a system without /proc/self/status

        def no_proc(*args, **kwargs):
            asked.append(args[0])
            raise FileNotFoundError(args[0])

        monkeypatch.setattr(atomic, "open", no_proc, raising=False)
    old = os.umask(mask)
    try:
        live = LiveReport(tmp_path / "run.html", every=3600)
        live.stage("run", "running")
        first = stat.S_IMODE(live.path.stat().st_mode)
        live.finish()  # a rewrite keeps it
        again = stat.S_IMODE(live.path.stat().st_mode)
    finally:
        os.umask(old)
    assert first == again == 0o666 & ~mask
    assert asked == ([] if proc else ["/proc/self/status"])  # (a rewrite keeps the mode)
    assert [p.name for p in tmp_path.iterdir()] == ["run.html"]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _dom(path):
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    return subprocess.run(
        [*flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_live_page_in_headless_chromium_during_and_after_a_run(tmp_path):
    path = tmp_path / "live.html"
    live = LiveReport(path, title="browser live check", every=0.05)
    paused, resume = threading.Event(), threading.Event()
    box = {}

    def callback(r):
        live(r)
        if r.nit == 20:  # hold the run here while the browser looks at the page
            live.write()
            paused.set()
            resume.wait(timeout=300)

    def work():
        box["res"] = lfso.minimize(  # (the paper's LFSO-GD: about 40 iterations here)
            PowerSum(2),
            np.linspace(0.5, 1.5, 6),
            method="lfso",
            certificate="ball",
            callback=callback,
        )

    thread = threading.Thread(target=work)
    thread.start()
    try:
        assert paused.wait(timeout=120)
        during = _dom(path)
    finally:
        resume.set()
        thread.join(timeout=300)
    assert "browser live check" in during and 'id="state" class="running"' in during
    assert "Run in progress" in during and 'http-equiv="refresh"' in during
    assert "<polyline" in during and "<td>20</td>" in during  # 20 rows after x0, as drawn
    live.finish(box["res"])
    after = _dom(path)
    assert 'id="state" class="finished"' in after and "Finished" in after
    assert "CONVERGED" in after and "http-equiv" not in after


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_rollout_page_in_headless_chromium_shows_stages_evidence_handover_and_roi(tmp_path):
    from test_rollout import FALLBACK, X0, TurnsWrong, f, g

    from lfso.rollout import GoCriteria, Guard, TuningBudget, rollout

    path = tmp_path / "rollout.html"
    paused, resume = threading.Event(), threading.Event()
    box = {}

    def hold(r):
        if r.nit == 3 and not paused.is_set():
            box["live"] = True
            paused.set()
            resume.wait(timeout=300)

    def work():
        box["ro"] = rollout(
            f,
            X0,
            FALLBACK,
            grad=g,
            smoothness=TurnsWrong(5),
            safeguard=False,  # (the bare rule, which the guard watches)
            pilot_iter=3,
            criteria=GoCriteria(target_rtol=0.5),
            guard=Guard(callback=hold),
            tuning=TuningBudget(1000, seconds=30.0),
            report=path,
            every=0.05,
            title="browser rollout check",
        )

    thread = threading.Thread(target=work)
    thread.start()
    try:
        assert paused.wait(timeout=120)
        during = _dom(path)
    finally:
        resume.set()
        thread.join(timeout=300)
    assert "browser rollout check" in during and "Run in progress" in during
    assert "Decision: " in during and ">GO<" in during and 'id="criteria"' in during
    assert '<td>guarded</td><td class="running">running</td>' in during
    assert 'id="roi"' not in during  # not measured yet
    after = _dom(path)
    assert "Finished" in after and "http-equiv" not in after
    assert after.index('id="roi"') < after.index('id="stages"')
    assert "time to target:" in after and "stated" in after
    assert 'id="handover"' in after and "restored the best point" in after
    assert box["ro"].result.handover is not None


def test_a_watched_run_is_one_part_of_its_chart(tmp_path):
    """A callback gets a snapshot of the history at each iteration: the report still takes
    the run's own history, one part per run (a part per snapshot would draw every
    iteration as a stage with a hand-over mark)."""
    from lfso.report import LiveReport

    report = LiveReport(tmp_path / "run.html", every=3600)
    res = lfso.minimize(PowerSum(2), np.linspace(0.5, 1.5, 5), callback=report.watch("run"))
    (history,) = report._parts["run"]
    assert res.nit > 2 and len(history) == res.nit + 1


def test_a_finished_report_refuses_a_second_run(tmp_path):
    """A second run with a finished report as its callback was drawn under "Finished"
    (no refresh) while it went, and its entry replaced the first run's."""
    live = LiveReport(tmp_path / "run.html", every=1e-9)
    first = lfso.minimize(PowerSum(2), np.ones(3), callback=live)
    page = live.finish(first).read_text()
    assert live.finish(first).read_text().count("CONVERGED") == page.count("CONVERGED")
    with pytest.raises(RuntimeError, match=r"LiveReport .*run\.html.* is finished.* new"):
        lfso.minimize(PowerSum(2), 2 * np.ones(3), callback=live)
    with pytest.raises(RuntimeError, match="is finished"):
        live.watch("again")(first)
    with pytest.raises(RuntimeError, match="is finished"):
        live.finish(lfso.minimize(PowerSum(2), 2 * np.ones(3)))
    assert live.results == {first.method: first}


def test_the_l_chart_of_a_run_that_took_no_step_says_so(tmp_path):
    """An lfso run with 0 steps has an oracle: its empty L chart said "a rule without an
    oracle has none"."""
    live = LiveReport(tmp_path / "run.html")
    page = live.finish(lfso.minimize(PowerSum(2), np.ones(3), max_iter=0)).read_text()
    assert "none (no step taken)" in page and "without an oracle" not in page
