"""A live HTML report: one self-contained page, rewritten during a run, that refreshes itself.

:class:`LiveReport` is a callback for :func:`lfso.minimize` (and the writer behind
:func:`lfso.rollout.rollout`): every ``every`` seconds it rewrites the page atomically (a
temporary file in the same folder, then ``os.replace``, so a browser never reads half a
page), and while the run goes the page carries ``<meta http-equiv="refresh">`` so a browser
reloads it on its own. The finished page has no refresh. The page shows the return on
investment first, then the stages, the pilot's go / no-go evidence, any hand-over, the
curves and the risk indicators. The curves follow :func:`lfso.report.plot_runs`: f - best f
and ||g|| against gradient evaluations, the step and L(x, R) against iterations, as inline
SVG on log scales labelled in powers of ten, each run in one colour in every chart and in
the table; each risk indicator that fired is explained beside the table. The page gets the
file mode of any new file of the user's (``0o666`` less the umask). No server, no network,
no scripts.

>>> import numpy as np, lfso, tempfile, pathlib
>>> from lfso.report import LiveReport
>>> path = pathlib.Path(tempfile.mkdtemp()) / "run.html"
>>> live = LiveReport(path, title="sum x^4")
>>> res = lfso.minimize(lfso.models.PowerSum(2), np.ones(3), callback=live)
>>> _ = live.finish(res)
>>> "Finished" in path.read_text() and "http-equiv" not in path.read_text()
True
"""

from __future__ import annotations

import html
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import _svg_chart
from ._atomic import _target, write_atomically
from ._result import History, Result, Status, status_of
from ._validate import positive
from .monitor import RISKS

__all__ = ["LiveReport"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:4px 10px;text-align:left;font-size:14px}
th{background:#f0f0f0}
.ok,.done,.pass{color:#116611;font-weight:600}
.bad,.fail,.failed,.interrupted{color:#aa2222;font-weight:600}
.running{color:#8a5a00;font-weight:600} .pending,.skipped{color:#777}
#state{padding:.5em 1em;border-radius:4px;display:inline-block}
#state.running{background:#fff4dd} #state.finished{background:#e6f4e6}
#roi li:first-child{font-size:1.15em;font-weight:600}
svg{border:1px solid #ddd;background:#fff}
.charts{display:flex;flex-wrap:wrap;gap:8px} .legend .run{margin-right:1.5em;font-weight:600}
.note{color:#555;font-size:13px} .risk{border-bottom:1px dotted #aa2222;cursor:help}
#risk-notes dt{font-weight:600;color:#aa2222} #risk-notes dd{margin:0 0 .5em 1.5em}
"""

#: One colour per run, the same in every chart and the table (matplotlib's ``C0`` ... ``C9``,
#: as in :func:`lfso.report.plot_runs`).
_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


#: The state of a plain run's stage on the finished page, where it is not ``done``.
_ENDED = {Status.INTERRUPTED: "interrupted", Status.RAISED: "failed"}


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=False)


def _joined(runs: dict[str, tuple[list[History], int | None]]) -> dict[str, tuple[History, Any]]:
    """Each run as one history (stages joined, counters continued) and its hand-over row."""
    from .rollout._guard import concat_histories

    out = {}
    for label, (parts, mark) in runs.items():
        h = parts[0]
        for later in parts[1:]:
            if len(later):
                mark = len(h)
                h = concat_histories(h, later)
        out[label] = (h, mark)
    return out


def _charts(
    runs: dict[str, tuple[History, Any]], colors: dict[str, str], finished: bool = False
) -> str:
    """f - best f and ||g|| against gradient evaluations, the step and L against iterations.

    The best f is the least finite f of the runs drawn together; a hand-over is marked. A
    chart with nothing to draw says so ("none yet" while the runs go, "none" once
    ``finished``).
    """
    shown = {label: (h, mark) for label, (h, mark) in runs.items() if len(h)}
    if not shown:
        return "<p>No iterations yet.</p>"
    finite = [h.f[np.isfinite(h.f)] for h, _ in shown.values()]
    best = min((float(f.min()) for f in finite if f.size), default=math.nan)
    panels = (
        ("f", f"f - best f of the runs shown ({best:.6e})", "gradient evaluations"),
        ("grad_norm", "||g||", "gradient evaluations"),
        ("step", "step", "iteration"),
        ("L", "L(x, R)", "iteration"),
    )
    out = []
    for column, title, xlabel in panels:
        series = []
        for label, (h, mark) in shown.items():
            keep = np.unique(np.linspace(0, len(h) - 1, min(len(h), 400)).astype(int))
            rows = np.arange(len(h), dtype=float)
            x = h.njev if xlabel == "gradient evaluations" else rows
            with np.errstate(over="ignore"):  # (f - best f past the float range: inf)
                y = h[column] - best if column == "f" else h[column]
            at = None if mark is None else float(x[min(mark, len(h) - 1)])
            series.append(_svg_chart.Series(label, colors[label], x[keep], y[keep], at))
        empty = "none" if finished else "none yet"
        if column == "L":  # (the first row, x0's, has no step and no L)
            stepped = any(len(h) > 1 for h, _ in shown.values())
            empty += " (a rule without an oracle has none)" if stepped else " (no step taken)"
        out.append(_svg_chart.log_chart(series, title=title, xlabel=xlabel, empty=empty))
    legend = "".join(
        f'<span class="run" style="color:{colors[label]}">&#9632; {_esc(label)}</span>'
        for label in shown
    )
    return (
        f'<p class="legend">{legend}</p><div class="charts">{"".join(out)}</div>'
        "<p class='note'>Log scales; points at or below zero (the best f itself, a zero "
        "gradient) and non-finite values are not drawn.</p>"
    )


class LiveReport:
    """A self-contained HTML page of a run, rewritten as it goes (see the module docstring).

    Use it as a ``callback`` of :func:`lfso.minimize` and call :meth:`finish` with the
    result, or drive it stage by stage (:meth:`stage`, :meth:`watch`, :meth:`set_pilot`,
    :meth:`set_handover`, :meth:`set_roi`, :meth:`set_run`) as :func:`lfso.rollout.rollout`
    does.

    A report is for one run (or one workflow): once :meth:`finish` has written the
    finished page, using it as the callback of another run, or finishing it with another
    result, is a ``RuntimeError`` (make a new ``LiveReport`` for that run). Finished runs
    may still be added to the finished page with :meth:`set_run` and :meth:`write`.

    Parameters
    ----------
    path : str or Path
        The page; its folder must exist.
    title : str
    every : float > 0
        Seconds between rewrites during a run (and the page's reload interval, rounded up).
    """

    def __init__(self, path: str | Path, *, title: str = "lfso run", every: float = 2.0) -> None:
        every = positive(every, "every")
        self.path = check_page_path(path, "path")
        check_title(title)
        self.title, self.every = title, every
        self.finished = False
        self.stages: dict[str, tuple[str, str]] = {}
        self.runs: dict[str, tuple[list[History], int | None]] = {}
        self.pilot_runs: dict[str, tuple[list[History], int | None]] = {}
        self.pilot: Any = None
        self.handover: Any = None
        self.roi: Any = None
        self.results: dict[str, Result] = {}  # (by label: the table's counts come from these)
        self.writes = 0
        self._last = -math.inf
        self._parts: dict[str, list[History]] = {}
        self._colors: dict[str, str] = {}

    # -- what the page shows --------------------------------------------------------------

    def stage(self, name: str, state: str, detail: str = "") -> None:
        """Set a stage's state (``pending``, ``running``, ``done``, ``skipped``;
        ``interrupted`` or ``failed`` for one cut short) and write."""
        self.stages[name] = (state, detail)
        self.write()

    def set_pilot(self, evidence: Any) -> None:
        """The pilot's :class:`~lfso.rollout.PilotEvidence` (decision, checks, its runs)."""
        self.pilot = evidence
        self.pilot_runs = {
            "pilot: current rule": ([evidence.current.history], None),
            "pilot: lfso": ([evidence.candidate.history], None),
        }
        self.results["pilot: current rule"] = evidence.current
        self.results["pilot: lfso"] = evidence.candidate
        self.write()

    def set_handover(self, handover: Any) -> None:
        """A :class:`~lfso.rollout.Handover`: shown at once, marked on the curve."""
        self.handover = handover
        self.write()

    def set_roi(self, roi: Any) -> None:
        """A :class:`~lfso.rollout.ReturnOnInvestment`: its lines head the page."""
        self.roi = roi
        self.write()

    def set_run(
        self, label: str, history: History, *, handover: Any = None, result: Any = None
    ) -> None:
        """Show ``history`` under ``label`` (a hand-over marks its row); ``result``, the
        finished run's :class:`~lfso.Result`, gives the table its iterations and
        gradients (the history's last row leaves out the returned point's fresh
        evaluation)."""
        self.runs[label] = ([history], None if handover is None else handover.row)
        if result is not None:
            self.results[label] = result

    def watch(self, label: str, *, pilot: bool = False) -> Any:
        """A callback that shows the running history under ``label`` (in the pilot's chart
        with ``pilot=True``).

        A run that starts again under the same label is drawn after the previous one, the
        boundary marked as a hand-over; a guarded run's fallback stage, whose history holds
        both stages (its ``handover_row`` the boundary), is drawn in place of the first.
        """
        shown = self.pilot_runs if pilot else self.runs

        def callback(intermediate_result: Result) -> None:
            self._unfinished()
            h = intermediate_result.history
            if h._source is not None:  # (a snapshot of the run's history: the run's own)
                h = h._source
            parts = self._parts.setdefault(label, [])
            joined = getattr(h, "handover_row", None)  # (both stages of a guarded run)
            if joined is not None:
                parts[:] = [h]
            elif not parts or parts[-1] is not h:
                parts.append(h)
            shown[label] = (parts, joined)
            self.tick()

        return callback

    def __call__(self, intermediate_result: Result) -> None:
        """Callback for :func:`lfso.minimize`: show the run, rewrite every ``every`` s."""
        self._unfinished()
        if "run" not in self.stages:
            self.stages["run"] = ("running", intermediate_result.method)
        h = intermediate_result.history
        self.runs[intermediate_result.method] = ([h if h._source is None else h._source], None)
        self.tick()

    def tick(self) -> None:
        """Rewrite the page if ``every`` seconds have passed since the last write."""
        now = time.monotonic()
        if now - self._last >= self.every:
            self.write()

    def finish(self, result: Result | None = None) -> Path:
        """Write the finished page (no refresh); ``result`` (an :class:`~lfso.Result`, or
        the ``OptimizeResult`` of an :mod:`lfso.scipy` method) adds its summary row; that
        of a guarded run handed over (:func:`lfso.rollout.guarded_minimize`'s) shows its
        two stages as one run, in place of the stages shown under their methods as it went.
        Finishing again writes the page again; with another result, a ``RuntimeError``
        (a report is for one run)."""
        if self.finished and result is not None and result is not self.results.get(result.method):
            self._unfinished()
        if result is not None:
            self.results[result.method] = result
            # A plain run's page (no stages of a workflow): its status, even where the run
            # took no step and the callback never ran (a stationary start, max_iter=0).
            plain = "run" in self.stages or not self.stages
            if result.method not in self.runs or plain:
                mark = getattr(getattr(result, "handover", None), "row", None)
                self.runs[result.method] = ([result.history], mark)
            stages = getattr(result, "stages", None) or ()
            if plain and len(stages) > 1:  # (a guarded run handed over: its stages, joined)
                for stage in stages:
                    if stage.method != result.method:
                        self.runs.pop(stage.method, None)
            if plain:  # (a run cut short is no run done: interrupted, or failed if it raised)
                status = status_of(result)  # (a SciPy-face result's is an integer)
                state = _ENDED.get(status, "done")
                self.stages["run"] = (state, f"{status.name}: {result.message}")
        self.finished = True
        self.write()
        return self.path

    def _unfinished(self) -> None:
        """Raise the ``RuntimeError`` of a run shown on a page already finished."""
        if self.finished:
            raise RuntimeError(
                f"this LiveReport ({str(self.path)!r}) is finished: finish() wrote its run's "
                "finished page, and a report is for one run; make a new "
                "lfso.report.LiveReport for another run"
            )

    # -- writing ---------------------------------------------------------------------------

    def write(self) -> Path:
        """Render the page and replace the file atomically."""
        write_atomically(self.path, self.render(), sync=False)
        self._last = time.monotonic()
        self.writes += 1
        return self.path

    def render(self) -> str:
        """The page as a string."""
        stamp = time.strftime("%H:%M:%S UTC", time.gmtime())
        if self.finished:
            head_refresh = ""
            state = f'<p id="state" class="finished">Finished at {stamp}.</p>'
        else:
            seconds = max(1, math.ceil(self.every))
            head_refresh = f'<meta http-equiv="refresh" content="{seconds}">'
            state = (
                f'<p id="state" class="running">Run in progress: updated {stamp}; this page '
                f"reloads every {seconds} s.</p>"
            )
        body = [f"<h1>{_esc(self.title)}</h1>", state]
        if self.roi is not None:
            items = "".join(f"<li>{_esc(line.strip())}</li>" for line in self.roi.lines())
            body.append(
                f'<section id="roi"><h2>Return on investment</h2><ul>{items}</ul></section>'
            )
        if self.stages:
            rows = "".join(
                f"<tr><td>{_esc(name)}</td><td class='{html.escape(st)}'>{_esc(st)}</td>"
                f"<td>{_esc(detail)}</td></tr>"
                for name, (st, detail) in self.stages.items()
            )
            body.append(
                '<section id="stages"><h2>Stages</h2><table><tr><th>stage</th><th>state</th>'
                f"<th>detail</th></tr>{rows}</table></section>"
            )
        if self.pilot is not None:
            ev = self.pilot
            rows = "".join(
                f"<tr><td>{_esc(c.name)}</td><td>{_esc(c.required)}</td>"
                f"<td>{_esc(c.observed)}</td><td class='{'pass' if c.passed else 'fail'}'>"
                f"{'pass' if c.passed else 'FAIL'}</td></tr>"
                for c in ev.checks
            )
            decision = "GO" if ev.go else "NO-GO"
            body.append(
                f'<section id="pilot"><h2>Pilot: go / no-go</h2><p>Decision: '
                f"<span id='decision' class='{'ok' if ev.go else 'bad'}'>{decision}</span> "
                f"(pilot on {_esc(ev.task)}: current rule {_esc(ev.current.method)}, lfso "
                f"{_esc(ev.candidate.method)}; target f &lt;= {ev.target:.6e})</p>"
                "<table id='criteria'><tr><th>criterion</th><th>required</th><th>observed</th>"
                f"<th>result</th></tr>{rows}</table></section>"
            )
        if self.handover is not None:
            items = "".join(f"<li>{_esc(line.strip())}</li>" for line in self.handover.lines())
            body.append(f'<section id="handover"><h2>Hand-over</h2><ul>{items}</ul></section>')
        if self.runs or self.pilot_runs:
            colors = self._run_colors()
            charts = []
            if self.runs:
                charts.append("<h3>Task</h3>" + _charts(_joined(self.runs), colors, self.finished))
            if self.pilot_runs:
                charts.append(
                    "<h3>Pilot</h3>" + _charts(_joined(self.pilot_runs), colors, self.finished)
                )
            body.append('<section id="curves"><h2>Learning curves</h2>' + "".join(charts))
            body.append("</section>")
            body.append(self._table(colors))
        body.append("<p>Generated by lfso; a self-contained page (no scripts, no network).</p>")
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"{head_refresh}<title>{_esc(self.title)}</title><style>{_STYLE}</style></head>"
            f"<body>{''.join(body)}</body></html>\n"
        )

    def _run_colors(self) -> dict[str, str]:
        """Each run's colour, fixed when the run first shows (so it stays across rewrites)."""
        for label in [*self.runs, *self.pilot_runs]:
            if label not in self._colors:
                self._colors[label] = _COLORS[len(self._colors) % len(_COLORS)]
        return self._colors

    def _table(self, colors: dict[str, str]) -> str:
        rows, seen = [], set()
        for label, (h, _) in _joined({**self.runs, **self.pilot_runs}).items():
            if len(h) == 0:
                continue
            risk = np.nan_to_num(h.risk).astype(int)  # (NaN: a column a history lacks)
            done = self.results.get(label)  # (a finished run: its own counts)
            iterations = done.nit if done is not None else len(h) - 1
            last = h.njev[-1]
            gradients = done.njev if done is not None else int(last) if last == last else "-"
            fired = []
            for name, (bit, advice) in RISKS.items():
                hits = np.nonzero(risk & bit)[0]
                if hits.size:
                    seen.add(name)
                    fired.append(
                        f'<span class="risk" title="{html.escape(advice)}">{_esc(name)} '
                        f"({hits.size}x, first at row {hits[0]})</span>"
                    )
            rows.append(
                f'<tr><td><span style="color:{colors[label]}">&#9632;</span> {_esc(label)}</td>'
                f"<td>{iterations}</td><td>{gradients}</td>"
                f"<td>{h.time[-1]:.3f}</td><td>{h.f[-1]:.6e}</td>"
                f"<td>{_least(h.f):.6e}</td><td>{h.grad_norm[-1]:.3e}</td>"
                f"<td class='{'bad' if fired else 'ok'}'>{', '.join(fired) or 'none'}</td>"
                "</tr>"
            )
        notes = "".join(
            f"<dt>{_esc(name)}</dt><dd>{_esc(advice)}</dd>"
            for name, (_, advice) in RISKS.items()
            if name in seen
        )
        if notes:
            notes = f'<h3>What the risk indicators mean</h3><dl id="risk-notes">{notes}</dl>'
        return (
            '<section id="runs"><h2>Runs and risk indicators</h2><table><tr><th>run</th>'
            "<th>iterations</th><th>gradients</th><th>time (s)</th><th>last f</th><th>best f</th>"
            f"<th>last ||g||</th><th>risk indicators</th></tr>{''.join(rows)}</table>{notes}"
            "</section>"
        )


def _least(values: np.ndarray) -> float:
    """The least value that is not NaN (NaN where every one is)."""
    known = values[~np.isnan(values)]
    return float(known.min()) if known.size else math.nan


def check_title(title: Any) -> None:
    """A ``TypeError`` naming ``title`` unless it is a str (a page's title and heading)."""
    if not isinstance(title, str):
        raise TypeError(f"title must be a str (the page's title), got title={title!r}")


def check_page_path(path: str | Path, name: str) -> Path:
    """``path`` as a ``Path`` once its folder exists (and that of the file a symbolic link
    at ``path`` leads to) and it is not itself a folder (a ``ValueError`` naming the
    argument ``name`` otherwise), so that a page can be written
    there after the work it shows is done; a ``TypeError`` naming it for what is no path."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"{name} must be a str or os.PathLike (the file to write), got {name}={path!r} "
            f"({type(path).__name__})"
        )
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(
            f"{name}: the report's folder {str(path.parent)!r} does not exist "
            f"(got {name}={str(path)!r}); create it first"
        )
    if path.is_dir():
        raise ValueError(
            f"{name} must be the path of a file to write, got the folder {name}={str(path)!r}"
        )
    target = _target(path)
    if not target.parent.is_dir():
        raise ValueError(
            f"{name}: {str(path)!r} is a symbolic link to {str(target)!r}, whose folder does "
            "not exist; create it first"
        )
    return path
