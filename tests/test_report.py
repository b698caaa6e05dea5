"""Plots, the self-contained HTML report (rendered in headless Chromium), compare, saving."""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings

import numpy as np
import pytest

import lfso
from lfso import History, Result
from lfso.cli import main
from lfso.models import LpRegression, PowerSum

pytest.importorskip("matplotlib")


def _runs():
    model = PowerSum(3)
    x0 = np.linspace(0.5, 1.5, 5)
    return {
        "lfso": lfso.minimize(model, x0),
        "gd": lfso.minimize(model, x0, method="gd", step=1e-2, max_iter=500),
    }


def test_plot_runs_draws_every_panel(tmp_path):
    from lfso.report import plot_runs

    fig = plot_runs(_runs(), tmp_path / "runs.png")
    assert len(fig.axes) == 8
    titles = [ax.get_title() for ax in fig.axes]
    assert "f vs iteration" in titles and "||g|| vs gradient evaluations" in titles
    assert "L(x, R) vs iteration" in titles and "R vs iteration" in titles
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == ["lfso", "gd"]
    assert (tmp_path / "runs.png").stat().st_size > 10_000


def test_html_report_is_self_contained(tmp_path):
    from lfso.report import html_report

    path = html_report(_runs(), tmp_path / "r.html", settings={"problem": "sum x^6"})
    page = path.read_text()
    assert "<table id='summary'>" in page and "data:image/png;base64," in page
    assert "CONVERGED" in page and "MAX_ITER" in page and "sum x^6" in page
    # No network and no scripts: nothing is fetched when the page opens.
    assert not re.search(r"(src|href)=[\"']https?:", page) and "<script" not in page


def test_compare_runs_the_baseline_and_lfso_from_the_same_start(tmp_path):
    A = np.diag(np.linspace(1, 10, 6))
    model = LpRegression(A, np.ones(6), 2)
    x0 = np.zeros(6)
    comp = lfso.compare(
        model,
        x0,
        baseline={"method": "gd", "step": 1e-4},
        output=tmp_path / "c.html",
        max_iter=2000,
    )
    (base_label, base), (ours_label, ours) = comp.results.items()
    assert "step=0.0001" in base_label and base.method == "gd" and ours.method == "lfso-lbfgs"
    assert base.history.f[0] == ours.history.f[0] and ours_label.startswith("lfso")
    assert comp.path.exists() and "lfso" in comp.path.read_text()


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_result_and_history_round_trip(tmp_path):
    res = lfso.minimize(lfso.models.PowerSum(2), np.ones(3), method="gd", step=0.7, max_iter=40)
    assert res.risks  # the step is too large: the risks round-trip too
    path = res.save(tmp_path / "run.npz")
    assert path == tmp_path / "run.npz"
    back = Result.load(path)
    assert back.status is res.status and back.nit == res.nit and back.risks == res.risks
    np.testing.assert_array_equal(back.x, res.x)
    for column in History.columns:
        np.testing.assert_array_equal(back.history[column], res.history[column])
    hpath = res.history.save(tmp_path / "hist.npz")
    np.testing.assert_array_equal(History.load(hpath).f, res.history.f)
    with np.load(path, allow_pickle=False) as data:  # plain arrays: no pickle needed
        assert "meta" in data.files


def test_runs_at_both_ends_of_the_float_range_are_drawn_without_a_numpy_warning(tmp_path):
    """``f = 1e308`` beside ``f = -1e308``: ``f - best f`` is past the float range, drawn
    as an infinite value at the top of the scale; the figure, the report and the live
    page are made without NumPy's "overflow encountered" (which a run under
    ``-W error`` turned into an error of the live report, its callback)."""
    runs = {
        label: lfso.minimize(
            lambda x, s=sign: s * 1e308 * float(x[0]),
            np.array([1.0]),
            grad=lambda x, s=sign: np.array([s * 1e308]),
            method="gd",
            step=1e-320,
            max_iter=2,
            monitor="quiet",
        )
        for label, sign in (("up", 1.0), ("down", -1.0))
    }
    assert runs["up"].history.f.min() > 1e307 and runs["down"].history.f.max() < -1e307
    from lfso.report import LiveReport, html_report, plot_runs

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_runs(runs)
        html_report(runs, tmp_path / "r.html")
        live = LiveReport(tmp_path / "live.html")
        for label, res in runs.items():
            live.set_run(label, res.history, result=res)
        live.finish()
    assert "Drawn at 1e+100, the top of the scale" in " ".join(t.get_text() for t in fig.texts)
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_compare_command(tmp_path, capsys):
    out = tmp_path / "report.html"
    code = main(
        [
            "compare",
            "power_sum-p3-lin",
            "--baseline-step",
            "1e-3",
            "--max-iter",
            "500",
            "--output",
            str(out),
        ]
    )
    assert code == 0 and out.exists()
    assert "report:" in capsys.readouterr().out


def test_compare_command_takes_scipys_lbfgs_as_the_baseline(tmp_path, capsys):
    """``--baseline-method scipy:L-BFGS-B`` was an unknown method, while ``lfso rollout``
    takes ``--current scipy:L-BFGS-B``."""
    out = tmp_path / "report.html"
    args = ["compare", "power_sum-p3-lin", "--baseline-method", "scipy:L-BFGS-B"]
    code = main([*args, "--max-iter", "200", "--output", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and out.exists() and "baseline: method=scipy:L-BFGS-B" in printed
    assert main([*args, "--baseline-step", "1e-3"]) == 2
    assert "takes no --baseline-step" in capsys.readouterr().err
    assert main(["compare", "power_sum-p3-lin", "--baseline-method", "scipy"]) == 2
    assert "choose from adgd, " in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_a_diverging_baseline_still_gets_its_report(tmp_path, capsys):
    out = tmp_path / "diverged.html"
    assert main(["compare", "power_sum-p3", "--baseline-step", "0.5", "--output", str(out)]) == 0
    assert "NON_FINITE" in capsys.readouterr().out
    page = out.read_text()
    assert "NON_FINITE" in page and "data:image/png;base64," in page


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_non_finite_values_are_drawn_at_the_top_of_the_scale():
    from lfso.report import _CEILING, plot_runs

    res = lfso.minimize(PowerSum(3), np.ones(10), method="gd", step=0.5)
    assert res.status.name == "NON_FINITE" and not np.isfinite(res.history.f[-1])
    fig = plot_runs({"diverged": res})
    fig.canvas.draw()  # matplotlib raised OverflowError here on 1e262
    f_axis = fig.axes[0]
    tops = [ln for ln in f_axis.lines if ln.get_marker() == "^"]
    assert tops and np.all(tops[0].get_ydata() == _CEILING)
    assert tops[0].get_xdata()[-1] == len(res.history) - 1  # the infinite f, where it happened
    assert any("infinite" in t.get_text() for t in fig.texts)


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_risk_panel_draws_each_risk_on_its_own_row():
    from lfso.monitor import RISKS
    from lfso.report import plot_runs

    res = lfso.minimize(PowerSum(3), np.ones(10), method="gd", step=0.5)
    flags = res.history.risk.astype(int)
    fired = [row for row, (bit, _) in enumerate(RISKS.values()) if np.any(flags & bit)]
    assert len(fired) >= 2  # descent, then non_finite
    ax = plot_runs({"diverged": res}).axes[-1]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(RISKS)
    rows = sorted({round(float(y)) for ln in ax.lines for y in ln.get_ydata()})
    assert rows == fired
    assert not any("no risk fired" in t.get_text() for t in ax.texts)


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_the_risk_legend_says_an_unbounded_run_s_objective_appears_unbounded(tmp_path):
    from lfso.monitor import RISKS
    from lfso.report import html_report

    def legend(runs):
        page = html_report(runs, tmp_path / "r.html").read_text()
        return page[page.index("What the risk indicators mean") :].split("</ul>")[0]

    unbounded = lfso.minimize(
        lambda x: -np.inf if x[0] > 1.5 else -float(x @ x),
        np.ones(3),
        grad=lambda x: -2 * x,
        method="gd",
        step=1.0,
    )
    assert unbounded.status.name == "UNBOUNDED" and "non_finite" in unbounded.risks
    alone = legend({"neg": unbounded})
    assert "appears unbounded below" in alone and RISKS["non_finite"][1] not in alone
    diverged = lfso.minimize(PowerSum(3), np.ones(10), method="gd", step=0.5)
    assert diverged.status.name == "NON_FINITE"
    both = legend({"neg": unbounded, "diverged": diverged})
    assert RISKS["non_finite"][1] in both and "in neg (stopped UNBOUNDED)" in both
    assert "appears unbounded below" not in legend({"diverged": diverged})


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_the_risk_legend_advises_a_guarded_run_as_its_warning_did(tmp_path):
    # A stated norm= just below ||A||_2: the oracle under-estimates the smoothness, and a
    # guarded run's warning says so without advising the safeguard it already had.
    from lfso.monitor import RISKS
    from lfso.report import html_report

    rng = np.random.default_rng(0)
    A = np.tile(rng.standard_normal(16), (400, 1)) + 1e-3 * rng.standard_normal((400, 16))
    b = rng.standard_normal(400)
    low = max(np.linalg.norm(A, axis=1).max(), np.linalg.norm(A) / 4)

    def run(**options):
        model = LpRegression(A, b, p=1, norm=low * 1.0001)
        return lfso.minimize(
            model, np.ones(16), method="lfso", certificate="ball", max_iter=200, **options
        )

    guarded, bare = run(), run(safeguard=False)
    assert guarded.rollbacks > 0 and "oracle" in guarded.risks and "oracle" in bare.risks
    guarded = Result.load(guarded.save(tmp_path / "guarded.npz"))  # (as saved, too)

    def legend(runs):
        page = html_report(runs, tmp_path / "r.html").read_text()
        return page[page.index("What the risk indicators mean") :].split("</ul>")[0]

    alone = legend({"guarded": guarded})
    assert "safeguard=True" not in alone and "The safeguard was on" in alone
    assert "leave norm=None" in alone  # (the model's own cure)
    both = legend({"guarded": guarded, "bare": bare})
    assert RISKS["oracle"][1].replace("'", "&#x27;") in both
    assert "in guarded: the observed gradient change" in both


def test_risk_panel_says_so_when_no_risk_fired():
    from lfso.report import plot_runs

    res = lfso.minimize(PowerSum(2), np.linspace(0.5, 1.5, 4))
    assert not res.risks
    ax = plot_runs([res]).axes[-1]
    assert [t.get_text() for t in ax.texts] == ["no risk fired"] and not ax.lines


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_report_renders_in_headless_chromium(tmp_path):
    from lfso.report import html_report

    path = html_report(_runs(), tmp_path / "r.html", title="browser check")
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run(
        [*flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert "browser check" in dom and '<table id="summary">' in dom
    assert dom.count("<tr>") >= 3 and 'id="curves"' in dom
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*flags, "--window-size=1400,1600", f"--screenshot={shot}", path.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


@pytest.mark.parametrize("which", ["baseline", "lfso"])
def test_compare_stops_at_an_interrupted_run(which, tmp_path):
    """Ctrl-C in a run stops the comparison there: no later run, no report."""
    seen = []

    def callback(intermediate_result):
        seen.append(intermediate_result.method)
        if intermediate_result.nit == 3 and (intermediate_result.method == "gd") == (
            which == "baseline"
        ):
            raise KeyboardInterrupt

    out = tmp_path / "r.html"
    with pytest.raises(KeyboardInterrupt, match=f"the {which} run was interrupted") as caught:
        lfso.compare(PowerSum(2), np.ones(3), output=out, callback=callback, max_iter=50)
    assert caught.value.result.status is lfso.Status.INTERRUPTED
    assert caught.value.result.nit == 3
    assert set(seen) == ({"gd"} if which == "baseline" else {"gd", "lfso-lbfgs"})
    assert not out.exists()


@pytest.mark.parametrize(
    "baseline, error, message",
    [
        ("gd", TypeError, r"baseline must be a mapping .* got baseline='gd' \(str\)"),
        ({"step": 1e-3}, ValueError, r"baseline must name the rule .* got baseline=\{'step'"),
        ({"method": None}, ValueError, r"baseline must name the rule .* got baseline=\{'method'"),
        ({"method": "gd", 1: 2}, TypeError, r"baseline's keys must be .* got baseline keys"),
        (
            {"method": "gdd", "step": 1e-3},
            ValueError,
            r"baseline=\{'method': 'gdd', 'step': 0.001\}: unknown method 'gdd'",
        ),
        (
            {"method": "gd", "stepp": 1e-3},
            TypeError,
            r"baseline=\{'method': 'gd', 'stepp': 0.001\}: unknown option\(s\) .*\['stepp'\]",
        ),
        ({"method": "gd", "step": -1.0}, ValueError, r"baseline=\{.*\}: step must be finite"),
    ],
)
def test_compare_names_a_bad_baseline_before_running(baseline, error, message):
    calls = []
    with pytest.raises(error, match=message):
        lfso.compare(PowerSum(2), np.ones(3), baseline=baseline, output=None, callback=calls.append)
    assert calls == []


@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"etaa": 0.5}, TypeError, r"unknown option\(s\) for method='lfso-lbfgs': \['etaa'\]"),
        ({"eta": 5.0}, ValueError, r"eta must be in \(0, 2\), got eta=5"),
        ({"method": "lfso-accel", "eta": 1.5}, ValueError, r"eta must be in \(0, 1\]"),
    ],
)
def test_compare_names_a_bad_lfso_option_before_the_baseline_runs(options, error, message):
    calls = []
    with pytest.raises(error, match=message):
        lfso.compare(PowerSum(2), np.ones(3), output=None, callback=calls.append, **options)
    assert calls == []  # neither run started


def test_compare_runs_lfso_on_minibatches_beside_the_baseline():
    model = LpRegression(np.random.default_rng(0).standard_normal((40, 3)), np.ones(40), p=1)
    comparison = lfso.compare(model, np.zeros(3), output=None, batch_size=10, epochs=2)
    baseline, ours = comparison.results.values()
    assert baseline.method == "gd" and len(ours.history) == 3  # (the start and two epochs)


def test_the_summary_of_a_diverged_run_shows_the_point_it_returned(tmp_path):
    """A fixed step that blows up: the run returns its best point (x0), and the table says
    the f it shows is the result's, not the last iterate's (infinite)."""
    from lfso.report import html_report

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(PowerSum(2), np.ones(3), method="gd", step=10.0)
    assert res.status is lfso.Status.NON_FINITE and not np.isfinite(res.history.f[-1])
    page = html_report({"gd": res}, tmp_path / "r.html").read_text()
    assert "<th>f at the result</th><th>||g|| at the result</th>" in page
    assert f"<td>{res.fun:.6e}</td>" in page and "NON_FINITE" in page


def test_compare_checks_its_output_folder_before_running(tmp_path):
    calls = []
    missing = tmp_path / "missing" / "c.html"
    with pytest.raises(ValueError, match=r"output: the report's folder .*missing.* does not exist"):
        lfso.compare(PowerSum(2), np.ones(3), output=missing, callback=calls.append)
    assert calls == []  # neither run started
    with pytest.raises(ValueError, match=r"path: the report's folder .*missing"):
        from lfso.report import html_report

        html_report(_runs(), missing)
    with pytest.raises(ValueError, match="output must be the path of a file to write"):
        lfso.compare(PowerSum(2), np.ones(3), output=tmp_path, callback=calls.append)
    assert calls == []
    link = tmp_path / "link.html"  # (a symbolic link into a folder that does not exist)
    link.symlink_to(missing)
    with pytest.raises(ValueError, match=r"output: .*link.html' is a symbolic link to .*missing"):
        lfso.compare(PowerSum(2), np.ones(3), output=link, callback=calls.append)
    assert calls == []


def test_html_report_replaces_the_page_whole(tmp_path):
    from lfso.report import html_report

    path = tmp_path / "r.html"
    path.write_text("the old page")
    with path.open() as reader:  # (a browser that opened the page before the rewrite)
        html_report(_runs(), path)
        assert reader.read() == "the old page"
    assert "<table id='summary'>" in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temporary file left


@pytest.mark.parametrize("title", [3, None, b"bytes"])
def test_html_report_names_a_title_that_is_no_str(title, tmp_path):
    with pytest.raises(TypeError, match=r"title must be a str \(the page's title\), got title="):
        lfso.report.html_report(_runs(), tmp_path / "r.html", title=title)
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("settings", [[("problem", "sum x^4")], "problem", 3])
def test_html_report_names_settings_that_are_no_mapping(settings, tmp_path):
    with pytest.raises(TypeError, match=r"settings must be a mapping .*got settings="):
        lfso.report.html_report(_runs(), tmp_path / "r.html", settings=settings)
    assert not (tmp_path / "r.html").exists()


def test_html_report_of_runs_labelled_by_their_step_sizes(tmp_path):
    model, x0 = PowerSum(2), np.ones(3)
    runs = {
        step: lfso.minimize(model, x0, method="gd", step=step, max_iter=50) for step in (1e-3, 0.1)
    }
    page = lfso.report.html_report(runs, tmp_path / "r.html").read_text()
    rows = re.findall(r"<tr><td>([^<]*)</td><td>(\d+)</td>", page)
    assert rows == [("0.001", "50"), ("0.1", "50")]


def test_html_report_of_a_run_that_starts_at_a_minimiser(tmp_path):
    from lfso.report import html_report

    res = lfso.minimize(PowerSum(2), np.zeros(3))
    assert res.nit == 0 and res.grad_norm == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        page = html_report([res], tmp_path / "r.html").read_text()
    assert "nan" not in page and "CONVERGED" in page


def test_plot_runs_draws_a_run_that_took_no_step_as_dots():
    import matplotlib.pyplot as plt

    from lfso.report import plot_runs

    res = lfso.minimize(PowerSum(2), np.ones(3), max_iter=0)
    fig = plot_runs({"start": res, "run": lfso.minimize(PowerSum(2), np.ones(3))})
    try:
        for ax in fig.axes[:4]:  # f and ||g||, against iterations and gradients
            lines = {line.get_label(): line for line in ax.get_lines()}
            assert len(lines["start"].get_xdata()) == 1
            assert lines["start"].get_marker() not in ("None", "", None)  # (a dot)
            assert lines["run"].get_marker() in ("None", "", None)  # (a line)
    finally:
        plt.close(fig)


def test_html_report_of_a_result_with_an_empty_history(tmp_path):
    from lfso.report import html_report

    res = lfso.minimize(PowerSum(2), np.ones(3), max_iter=2)
    res.history = History()  # (as a saved result whose history has no rows loads)
    back = Result.load(res.save(tmp_path / "empty.npz"))
    assert len(back.history) == 0
    page = html_report([back], tmp_path / "r.html").read_text()
    assert "MAX_ITER" in page


def test_plot_runs_draws_the_curves_of_an_objective_below_zero():
    from lfso.report import plot_runs

    res = lfso.minimize(
        lambda x: float(np.sum(x**4)) - 10.0, np.ones(3), grad=lambda x: 4 * x**3, max_iter=50
    )
    assert res.history.f.max() < 0
    fig = plot_runs([res])
    ax = fig.axes[0]
    assert ax.get_title().startswith("f - best f") and len(ax.get_lines()) == 1
    above = res.history.f - res.history.f.min()
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), above[above > 0])


def test_plot_runs_writes_exactly_its_path_atomically(tmp_path, monkeypatch):
    """The figure goes to exactly ``path``, in the format its suffix names (PNG where none
    is known), and a write that fails leaves the previous file whole."""
    from lfso.report import plot_runs

    runs = _runs()
    plain = tmp_path / "runs"
    plot_runs(runs, plain)
    assert plain.read_bytes().startswith(b"\x89PNG") and not (tmp_path / "runs.png").exists()
    vector = tmp_path / "runs.svg"
    plot_runs(runs, vector)
    assert b"<svg" in vector.read_bytes()[:500]

    import lfso._atomic as atomic

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    before = plain.read_bytes()
    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(OSError, match="No space"):
        plot_runs(runs, plain)
    assert plain.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs", "runs.svg"]
    with pytest.raises(ValueError, match="path"):
        plot_runs(runs, tmp_path / "missing" / "runs.png")
    import matplotlib.pyplot as plt

    plt.close("all")


def test_a_write_that_fails_names_the_page_once(tmp_path, monkeypatch):
    """The error of a failed write names the page, as ``open`` would, not the temporary
    file nor ``-> None``."""
    import errno

    import lfso._atomic as atomic
    from lfso.report import html_report

    def full(source, target):  # (os.replace's own error names both files)
        raise OSError(errno.ENOSPC, "No space left on device", source, target)

    monkeypatch.setattr(atomic.os, "replace", full)
    path = tmp_path / "r.html"
    with pytest.raises(OSError) as caught:
        html_report(_runs(), path)
    assert str(caught.value) == f"[Errno {errno.ENOSPC}] No space left on device: {str(path)!r}"
    assert caught.value.filename == str(path) and caught.value.filename2 is None
    assert list(tmp_path.iterdir()) == []


# -- plot_runs / html_report name what they were given ---------------------------------------


@pytest.mark.parametrize("bad", [[1, 2], 5, {"a": 3}, "single"])
def test_plot_runs_refuses_what_is_not_a_list_of_results(bad):
    from lfso.report import plot_runs

    if bad == "single":
        bad = lfso.minimize(lfso.models.PowerSum(2), np.ones(3))
    with pytest.raises(TypeError, match="results must"):
        plot_runs(bad)


@pytest.mark.parametrize("empty", [[], {}, ()])
def test_plot_runs_and_html_report_refuse_no_results(tmp_path, empty):
    from lfso.report import html_report, plot_runs

    with pytest.raises(ValueError, match="results is empty"):
        plot_runs(empty)
    with pytest.raises(ValueError, match="results is empty"):
        html_report(empty, tmp_path / "r.html")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("monitor", ["quiet", False])
def test_compare_passes_monitor_to_both_runs(monitor):
    """A baseline whose fixed step is far too large fires the 'descent' risk indicator."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", lfso.monitor.RiskWarning)
        comparison = lfso.compare(
            PowerSum(2),
            np.ones(3),
            baseline={"method": "gd", "step": 1.5},
            output=None,
            max_iter=20,
            monitor=monitor,
        )
    baseline = next(iter(comparison.results.values()))
    assert baseline.method == "gd" and bool(baseline.risks) is (monitor == "quiet")


def test_compare_reports_a_torch_start_that_requires_grad(tmp_path):
    torch = pytest.importorskip("torch")
    x0 = torch.linspace(0.5, 1.5, 5, dtype=torch.float64, requires_grad=True)
    out = lfso.compare(
        PowerSum(3), x0, baseline={"method": "gd", "step": 1e-2}, output=tmp_path / "r.html"
    )
    assert set(out.results) == {"baseline: method=gd, step=0.01", "lfso: defaults"}
    page = (tmp_path / "r.html").read_text()
    assert "<td>x0 size</td><td>5</td>" in page


def test_html_report_of_scipy_face_results(tmp_path):
    import scipy.optimize

    import lfso.scipy

    def stop_at_third(intermediate_result):
        if intermediate_result.nit == 3:
            raise StopIteration

    runs = [
        scipy.optimize.minimize(
            scipy.optimize.rosen,
            np.zeros(3),
            jac=scipy.optimize.rosen_der,
            method=method,
            callback=callback,
            options=options,
        )
        for method, callback, options in (
            (lfso.scipy.lfso_lbfgs, None, {}),
            (lfso.scipy.gd, stop_at_third, {"step": 1e-3}),
        )
    ]
    page = lfso.report.html_report(runs, tmp_path / "r.html").read_text()
    table = re.search(r"<table id='summary'>.*?</table>", page, re.S).group(0)
    assert f"{runs[0].grad_norm:.3e}" in table and "<td class='ok'>CONVERGED</td>" in table
    assert "<td class='bad'>CALLBACK_STOP</td>" in table


def test_plot_runs_marks_an_f_of_minus_inf_and_keeps_a_label_starting_with_underscore():
    """An unbounded run's ``f = -inf`` was neither drawn nor marked, and matplotlib left a
    label starting with ``_`` out of the legend."""
    from lfso.report import plot_runs

    res = lfso.minimize(PowerSum(2), np.ones(3), max_iter=3)
    f = np.array(res.history.f, dtype=float)
    f[-1] = -np.inf
    res.history = History.from_dict({**res.history.as_dict(), "f": f})
    fig = plot_runs({"_a": res, "b": lfso.minimize(PowerSum(2), np.ones(3))})
    fig.canvas.draw()
    ax = fig.axes[0]
    downs = [ln for ln in ax.lines if ln.get_marker() == "v"]
    assert len(downs) == 1 and list(downs[0].get_xdata()) == [len(f) - 1]
    assert list(downs[0].get_ydata()) == [0.0]  # the bottom edge (axes coordinates)
    assert any("-inf" in t.get_text() for t in fig.texts)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["_a", "b"]
    import matplotlib.pyplot as plt

    plt.close(fig)


LBFGS_RULE = {"method": "scipy:L-BFGS-B"}


def test_compare_takes_scipys_lbfgs_as_the_baseline_as_pilot_takes_it(tmp_path):
    """``baseline={"method": "scipy:L-BFGS-B"}`` was an unknown method, while
    :func:`lfso.rollout.pilot` and ``rollout`` take it as the current rule."""
    from lfso.rollout import pilot

    seen = []
    comparison = lfso.compare(
        PowerSum(2),
        np.ones(3),
        baseline={"method": "scipy:L-BFGS-B"},
        output=tmp_path / "c.html",
        tol=1e-6,
        max_iter=50,
        callback=[seen.append],
    )
    (label, base), (_, ours) = comparison.results.items()
    assert label == "baseline: method=scipy:L-BFGS-B" and base.method == "scipy:L-BFGS-B"
    assert base.success and ours.success and base.history.f[0] == ours.history.f[0]
    # the same run as pilot's current rule: same stopping test, same runner
    current = pilot(PowerSum(2), np.ones(3), {"method": "scipy:L-BFGS-B"}, tol=1e-6, max_iter=50)
    assert (base.nit, base.njev, base.fun) == (
        current.current.nit,
        current.current.njev,
        current.current.fun,
    )
    assert [r.method for r in seen].count(base.method) == base.nit  # (the callback too)
    assert comparison.path.exists() and "scipy:L-BFGS-B" in comparison.path.read_text()
    seen.clear()
    with pytest.raises(ValueError, match=r"max_iter must be an integer >= 0, got max_iter=-1"):
        lfso.compare(PowerSum(2), np.ones(3), baseline=LBFGS_RULE, output=None, max_iter=-1)
    for bad, message in [
        ({"method": "scipy:L-BFGS-B", "maxcor": 3}, "takes no options"),
        ({"method": "scipy:L-BFGS-B", "max_iter": 3}, "'max_iter' is the run's"),
        ({"method": "gdd"}, "unknown method 'gdd'; choose from .*, scipy:L-BFGS-B"),
    ]:
        with pytest.raises(ValueError, match=message):
            lfso.compare(PowerSum(2), np.ones(3), baseline=bad, output=None, callback=seen.append)
    assert seen == []  # (before either run)
