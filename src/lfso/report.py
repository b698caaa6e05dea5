"""After a run: figures, a self-contained HTML report and a side-by-side comparison.

Plots read only the :class:`~lfso.History` (matplotlib, the ``plot`` extra, is
imported inside the functions that need it); nothing here re-runs an optimisation except
:func:`compare`, whose job is to run a user's current rule beside LFSO.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import write_atomically, write_figure
from ._dashboard import LiveReport, check_page_path, check_title
from ._result import Result, Status, status_of, stop_if_interrupted
from .monitor import _UNBOUNDED_ADVICE, RISKS

__all__ = ["Comparison", "LiveReport", "compare", "html_report", "plot_runs"]


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'lfso[plot]'") from exc
    return plt


def _as_mapping(results: Mapping[str, Result] | Sequence[Result]) -> dict[str, Result]:
    if hasattr(results, "history") or not hasattr(results, "__iter__"):
        raise TypeError(
            "results must be a list of lfso.Result or a mapping label -> lfso.Result, got "
            f"{type(results).__name__}"
            + (" (wrap one result in a list)" if hasattr(results, "history") else "")
        )
    if isinstance(results, Mapping):
        out = dict(results)
    else:
        out = {}
        for r in results:
            label = getattr(r, "method", None)
            label = label if isinstance(label, str) else repr(r)[:40]
            while label in out:
                label += "'"
            out[label] = r
    if not out:
        raise ValueError(
            f"results is empty, got results={results!r}: pass at least one lfso.Result (a "
            "list, or a mapping label -> Result)"
        )
    for label, r in out.items():
        if not hasattr(r, "history"):
            raise TypeError(
                f"results must hold lfso.Result objects (with a history), got {label!r}: "
                f"{type(r).__name__}"
            )
    return out


def plot_runs(
    results: Mapping[str, Result] | Sequence[Result], path: str | Path | None = None
) -> Any:
    """One figure for several runs: f and ||g|| against iterations and gradient evaluations,
    the step, L(x, R) and R against iterations, and where risk indicators fired.

    The scales are logarithmic; where some run's ``f`` is at or below zero, the f panels
    draw ``f - best f`` (the least finite ``f`` of the runs), and the best point itself,
    at zero, is not drawn. A curve of one point (a run that took no step) is a dot. Values
    off the scale are marked at its edge: an infinite or huge one as a triangle at the top,
    a NaN ``f`` or ``||g||`` as a cross there, an ``f`` of ``-inf`` (unbounded below) as a
    triangle pointing down at the bottom. The legend names every run by its label, one
    starting with ``_`` too.

    Parameters
    ----------
    results : mapping label -> Result, or a sequence of results (labelled by method)
    path : str or Path, optional
        Save the figure to exactly that file as well as returning it, atomically (the old
        file or the new one, never half of it): in the format its suffix names where
        matplotlib knows it (``.pdf``, ``.svg``, ...), PNG otherwise.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, lfso
    >>> from lfso.report import plot_runs
    >>> model, x0 = lfso.models.PowerSum(2), np.ones(3)
    >>> fig = plot_runs([lfso.minimize(model, x0), lfso.minimize(model, x0, method="armijo")])
    >>> len(fig.axes), fig.axes[0].get_title(), fig.axes[0].get_legend_handles_labels()[1]
    (8, 'f vs iteration', ['lfso-lbfgs', 'armijo'])
    >>> import matplotlib.pyplot as plt
    >>> plt.close(fig)
    """
    plt = _pyplot()
    runs = _as_mapping(results)
    fig, axes = plt.subplots(2, 4, figsize=(16, 7))
    panels = [
        ("f", "iteration", "f"),
        ("grad_norm", "iteration", "||g||"),
        ("f", "njev", "f"),
        ("grad_norm", "njev", "||g||"),
        ("step", "iteration", "step"),
        ("L", "iteration", "L(x, R)"),
        ("R", "iteration", "R"),
        ("risk", "iteration", "risk indicators"),
    ]
    # A log scale draws f > 0 only: where some f is at or below zero, f - best f (the least
    # finite f of the runs drawn together) instead, as the live report does.
    lows = [
        float(f[np.isfinite(f)].min())
        for f in (np.asarray(r.history.f, dtype=float) for r in runs.values())
        if np.isfinite(f).any()
    ]
    shift = min(lows) if lows and min(lows) <= 0.0 else 0.0
    f_label = f"f - best f ({shift:.6e})" if shift else "f"
    off_scale = False
    curves: list[list[tuple[Any, str]]] = []  # per panel: (curve, run name), for the legend
    for ax, (column, against, label) in zip(axes.flat, panels, strict=True):
        curves.append([])
        label = f_label if column == "f" else label
        for i, (name, res) in enumerate(runs.items()):
            color = f"C{i % 10}"  # one colour per run across every panel
            h = res.history
            x = np.arange(len(h)) if against == "iteration" else h.njev
            y = np.asarray(h[column], dtype=float)
            if column == "f" and shift:
                with np.errstate(over="ignore"):  # (past the float range: inf, marked)
                    y = y - shift
            if column == "risk":
                _plot_risks(ax, x, y, i, len(runs), name, color)
                continue
            line, off = _plot_column(ax, x, y, column in ("f", "grad_norm"), color)
            if line is not None:
                line.set_label(name)
                curves[-1].append((line, name))
            off_scale |= off
        ax.set_xlabel("gradient evaluations" if against == "njev" else "iteration")
        ax.set_title(
            f"{label} vs {'gradient evaluations' if against == 'njev' else 'iteration'}", fontsize=9
        )
        ax.grid(True, alpha=0.3)
    if off_scale:
        fig.text(
            0.5,
            0.005,
            f"Drawn at {_CEILING:.0e}, the top of the scale: ^ a value above it or infinite, "
            "x NaN (the run diverged); at the bottom edge: v an f of -inf (unbounded below).",
            ha="center",
            fontsize=9,
            color="#aa2222",
        )
    risk_ax = axes.flat[-1]
    risk_ax.set_yticks(range(len(RISKS)), list(RISKS), fontsize=7)
    risk_ax.set_ylim(-0.6, len(RISKS) - 0.4)
    if not any(np.any(np.asarray(r.history.risk) > 0) for r in runs.values()):
        risk_ax.text(
            0.5, 0.5, "no risk fired", transform=risk_ax.transAxes, ha="center", va="center"
        )
    # The legend on the first panel with a curve (none has one where every value is at or
    # below zero, as at a run that starts at a minimiser).
    # Its entries are given (matplotlib leaves out a label that starts with "_").
    labelled = [(ax, drawn) for ax, drawn in zip(axes.flat[:-1], curves, strict=False) if drawn]
    if labelled:
        ax, drawn = labelled[0]
        ax.legend([line for line, _ in drawn], [name for _, name in drawn], fontsize=8)
    fig.tight_layout(rect=(0, 0.03 if off_scale else 0, 1, 1))
    if path is not None:
        write_figure(fig, check_page_path(path, "path"))
    return fig


#: Values above this (and infinite ones) are drawn as markers at this height: beyond it a
#: log axis has no room for ticks (matplotlib overflows near 1e308).
_CEILING = 1e100


def _plot_column(ax: Any, x: Any, y: Any, nan_marked: bool, color: str) -> tuple[Any, bool]:
    """Draw one run's ``y`` against ``x`` on a log scale; return its curve (``None`` where
    no value is on the scale) and whether some value was marked off the scale.

    Non-finite and overflowing values are drawn as what they are, at the top edge: an
    infinite or huge value as a triangle, a NaN as a cross where ``nan_marked`` (``f`` and
    ``||g||``: step, L and R are NaN by design where a rule has none); an ``f`` of ``-inf``
    (unbounded below) as a triangle pointing down at the bottom edge."""
    line = None
    ok = np.isfinite(y) & (y > 0) & (y <= _CEILING)
    if ok.any():  # (one point: a dot, as a line through it draws nothing)
        dot = "o" if ok.sum() == 1 else None
        (line,) = ax.semilogy(x[ok], y[ok], lw=1.3, marker=dot, color=color)
    big = y > _CEILING  # +inf included; NaN compares False
    nan = np.isnan(y) if nan_marked else np.zeros(len(y), bool)
    low = np.isneginf(y)
    if big.any():
        ax.semilogy(x[big], np.full(big.sum(), _CEILING), "^", ms=7, color=color)
    if nan.any():
        ax.semilogy(x[nan], np.full(nan.sum(), _CEILING), "x", ms=7, color=color)
    if low.any():  # (x in data, y in axes coordinates: 0 is the bottom edge)
        at = {"transform": ax.get_xaxis_transform(), "clip_on": False}
        ax.plot(x[low], np.zeros(low.sum()), "v", ms=7, color=color, **at)
    return line, bool(big.any() or nan.any() or low.any())


def _plot_risks(ax: Any, x: Any, flags: Any, run: int, runs: int, name: str, color: str) -> None:
    """Each risk indicator on its own row (the history stores them as bit flags)."""
    flags = np.nan_to_num(np.asarray(flags, dtype=float)).astype(np.int64)
    offset = 0.3 * (run - (runs - 1) / 2) / max(runs, 1)  # runs side by side within a row
    for row, (bit, _) in enumerate(RISKS.values()):
        hits = np.nonzero(flags & bit)[0]
        if hits.size:
            ax.plot(x[hits], np.full(hits.size, row + offset), "o", ms=3, color=color, label=name)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    _pyplot().close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:4px 10px;text-align:right;font-size:14px}
th{background:#f0f0f0} td:first-child,th:first-child{text-align:left}
.ok{color:#116611;font-weight:600} .bad{color:#aa2222;font-weight:600}
img{max-width:100%;border:1px solid #ddd}
"""


def _risks(result: Any) -> dict[str, Any]:
    """The risk summary of a result (an ``OptimizeResult`` of :mod:`lfso.scipy` has one
    only where an indicator fired)."""
    return getattr(result, "risks", None) or {}


def _unbounded(result: Any) -> bool:
    """Whether a run stopped ``UNBOUNDED`` with each recorded ``non_finite`` firing at
    ``f = -inf`` (where :mod:`lfso.monitor`'s warning says the objective appears unbounded)."""
    if status_of(result) is not Status.UNBOUNDED:
        return False
    h = result.history
    fired = (np.asarray(h.risk).astype(np.int64) & RISKS["non_finite"][0]) != 0
    return not np.any(fired & (np.asarray(h.f) != -math.inf))


def _risk_notes(name: str, fired: dict[str, Any]) -> list[str]:
    """The legend's notes on the indicator ``name``, which the runs ``fired`` raised: each
    run's advice as its warning gave it (a guarded run's, the unbounded-below advice for
    ``non_finite`` where a run stopped ``UNBOUNDED`` on it), the generic one otherwise;
    a run whose advice differs from the others' is named beside its own."""
    said: dict[str, list[str]] = {}
    for label, r in fired.items():
        advice = getattr(r, "_risk_advice", {}).get(name)
        if advice is None:
            advice = _UNBOUNDED_ADVICE if name == "non_finite" and _unbounded(r) else RISKS[name][1]
        said.setdefault(advice, []).append(str(label))
    if len(said) == 1:
        return list(said)
    generic = RISKS[name][1]
    notes = [generic] if generic in said else []
    for advice, labels in said.items():
        if advice != generic:
            why = " (stopped UNBOUNDED)" if advice == _UNBOUNDED_ADVICE else ""
            notes.append(f"in {', '.join(labels)}{why}: {advice}")
    return notes


def html_report(
    results: Mapping[str, Result] | Sequence[Result],
    path: str | Path,
    *,
    title: str = "lfso report",
    settings: Mapping[str, Any] | None = None,
) -> Path:
    """Write one self-contained HTML file: summary table, figures and settings.

    No network, no scripts: the figures are PNGs embedded as data URIs and the style is
    inline, so the file opens anywhere, offline. Needs matplotlib for the figures
    (:func:`plot_runs`'s); :func:`compare` writes one with ``output=path``.

    Parameters
    ----------
    results : mapping label -> Result, or a sequence of results (labelled by method)
        :class:`~lfso.Result` objects, or the ``OptimizeResult`` of an :mod:`lfso.scipy`
        method (``scipy.optimize.minimize(..., method=lfso.scipy.lfso_lbfgs)``).
    path : str or Path
        The file to write (replaced atomically if it exists); its folder must exist.
    title : str
        The page's title and heading.
    settings : mapping, optional
        Shown in a table of settings, each value as its ``str``.

    Returns
    -------
    Path
        Where the report was written.
    """
    path = check_page_path(path, "path")
    check_title(title)
    settings = _checked_settings(settings)
    runs = _as_mapping(results)
    rows = []
    for name, r in runs.items():
        h = r.history
        # (0 at a stationary start, none in an empty history: no ratio to show)
        g0 = float(h.grad_norm[0]) if len(h) else 0.0
        ratio = f"{r.grad_norm / g0:.2e}" if g0 != 0.0 else "-"
        risks = ", ".join(
            f"{k} ({v['count']}x from it. {v['first']})" for k, v in _risks(r).items()
        )
        status_class = "ok" if r.success else "bad"
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{c}</td>"
                for c in (
                    html.escape(str(name)),  # (a label may be a number: a step size)
                    r.nit,
                    r.njev,
                    r.nfev,
                    r.noracle,
                    r.rollbacks,
                    f"{h.time[-1]:.3f}" if len(h) else "-",
                    f"{r.fun:.6e}",
                    f"{r.grad_norm:.3e}",
                    ratio,
                )
            )
            + f"<td class='{status_class}'>{status_of(r).name}</td>"
            + f"<td class='{'bad' if risks else 'ok'}'>{html.escape(risks) or 'none'}</td></tr>"
        )
    header = (
        "run",
        "iterations",
        "gradients",
        "functions",
        "oracle calls",
        "rollbacks",
        "time (s)",
        "f at the result",  # (the returned point: the best one where a run diverged)
        "||g|| at the result",
        "||g|| / ||g0||",
        "status",
        "risk indicators",
    )
    table = (
        "<table id='summary'><tr>"
        + "".join(f"<th>{h}</th>" for h in header)
        + "</tr>"
        + "".join(rows)
        + "</table>"
    )
    figure = _png(plot_runs(runs))
    settings_rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in settings.items()
    )
    risk_notes = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(note)}</li>"
        for k in sorted({k for r in runs.values() for k in _risks(r)})
        for note in _risk_notes(k, {n: r for n, r in runs.items() if k in _risks(r)})
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
<h2>Summary</h2>{table}
{f"<h2>What the risk indicators mean</h2><ul>{risk_notes}</ul>" if risk_notes else ""}
<h2>Learning curves, steps and oracle</h2>
<img id="curves" alt="learning curves" src="data:image/png;base64,{figure}">
<h2>Settings</h2><table id="settings"><tr><th>setting</th><th>value</th></tr>{settings_rows}</table>
<p>Generated by lfso.</p>
</body></html>
"""
    return write_atomically(path, page)


def _checked_settings(settings: Any) -> Mapping[str, Any]:
    """``html_report``'s ``settings`` as a mapping (``{}`` for ``None``); a ``TypeError``
    naming it for anything else."""
    if settings is None:
        return {}
    if not isinstance(settings, Mapping):
        raise TypeError(
            "settings must be a mapping name -> value (or None), got "
            f"settings={settings!r} ({type(settings).__name__})"
        )
    return settings


@dataclass
class Comparison:
    """What :func:`compare` ran and wrote."""

    results: dict[str, Result]
    path: Path | None


def _baseline(baseline: Any) -> dict[str, Any]:
    """``compare``'s ``baseline`` as a dict of ``minimize`` options that names its method
    (the fixed step ``1e-3`` where it is ``None``)."""
    if baseline is None:
        return {"method": "gd", "step": 1e-3}
    if not isinstance(baseline, Mapping):
        raise TypeError(
            "baseline must be a mapping of minimize options, e.g. {'method': 'gd', 'step': "
            f"1e-3}}, got baseline={baseline!r} ({type(baseline).__name__})"
        )
    if "x0" in baseline or "objective" in baseline:
        raise TypeError(
            "baseline holds minimize options (the rule used today); x0 and the objective are "
            f"compare's own arguments, got baseline keys {sorted(baseline)}"
        )
    if not all(isinstance(key, str) for key in baseline):
        raise TypeError(
            "baseline's keys must be minimize's option names (str), got baseline keys "
            f"{list(baseline)!r}"
        )
    if baseline.get("method") is None:
        raise ValueError(
            "baseline must name the rule used today, e.g. {'method': 'gd', 'step': 1e-3} "
            f"(without it the baseline would run lfso's default), got baseline={dict(baseline)!r}"
        )
    from ._registry import METHODS
    from .rollout._rules import SCIPY_LBFGS, accepted_methods, check_rule

    method = baseline["method"]
    if method == SCIPY_LBFGS:  # (SciPy's L-BFGS-B, checked as pilot's current)
        return check_rule(baseline, "baseline")
    if isinstance(method, str) and method not in METHODS:
        raise ValueError(
            f"baseline={dict(baseline)!r}: unknown method {method!r}; choose from "
            f"{', '.join(accepted_methods())}"
        )
    return dict(baseline)


def _run_baseline(
    objective: Any, x0: Any, baseline: dict[str, Any], options: Mapping[str, Any]
) -> Result:
    """:func:`compare`'s baseline run: ``baseline`` (with the shared options) by
    :func:`lfso.minimize`, or SciPy's L-BFGS-B by the runner of :mod:`lfso.rollout`'s
    rules, with ``compare``'s objective, ``tol``, ``atol``, ``max_iter`` and callback."""
    import inspect

    from ._minimize import minimize
    from ._validate import integer
    from .rollout._rules import SCIPY_LBFGS, as_model, one_callback, run_rule

    if baseline["method"] != SCIPY_LBFGS:
        return minimize(objective, x0, **baseline)
    default = {k: p.default for k, p in inspect.signature(minimize).parameters.items()}
    stop = {k: options.get(k, default[k]) for k in ("tol", "atol", "max_iter")}
    integer(stop["max_iter"], "max_iter", low=0)  # (SciPy's runner names it cap)
    model = as_model(objective, options.get("grad"), options.get("smoothness"))
    callback = one_callback(options.get("callback"))
    return run_rule({"method": SCIPY_LBFGS}, objective=model, x0=x0, callback=callback, **stop)


#: The options of :func:`compare` that apply to both runs (the loop's, not a rule's).
_SHARED = ("tol", "atol", "max_iter", "grad", "smoothness", "callback", "progress", "monitor")


def compare(
    objective: Any,
    x0: Any,
    *,
    baseline: Mapping[str, Any] | None = None,
    output: str | Path | None = "report.html",
    title: str = "lfso against the current step rule",
    **minimize_options: Any,
) -> Comparison:
    """Run a user's current rule and LFSO on the same problem from the same start.

    Parameters
    ----------
    objective, x0
        As for :func:`lfso.minimize`.
    baseline : mapping
        The ``minimize`` options of the rule used today, naming its ``method``, e.g.
        ``{"method": "gd", "step": 1e-3}`` (the default is that fixed step), or
        ``{"method": "scipy:L-BFGS-B"}`` for SciPy's L-BFGS-B, as
        :func:`lfso.rollout.pilot`'s ``current`` (stopped by the same ``tol``, ``atol``
        and ``max_iter``, its ``nfev`` and ``njev`` SciPy's own; ``progress`` and
        ``monitor`` go to the LFSO run alone).
    output : path or None
        Where to write the HTML report (``None``: no report); its folder must exist, which
        is checked before the runs.
    title : str
        The report's title and heading.
    **minimize_options
        Options for both runs: ``tol``, ``atol``, ``max_iter``, ``grad``, ``callback``,
        ``progress``, ``monitor``, and ``smoothness`` where the baseline's rule takes an
        oracle. The others (``method``, ``eta``, ``radius`` and a rule's own options) apply
        to the LFSO run only. Both runs' options are checked before either runs, by
        :func:`lfso.minimize` on a run of no step (one evaluation at ``x0`` each; a
        minibatch run's, ``batch_size=``, as it starts); an error of the baseline's
        begins with ``baseline={...}:``.

    Returns
    -------
    Comparison

    Raises
    ------
    KeyboardInterrupt
        Where a run was interrupted (Ctrl-C; that run's result as the exception's
        ``.result``): the comparison stops there, with no later run and no report, as a
        comparison with a run cut short compares nothing.

    Examples
    --------
    >>> import numpy as np, lfso
    >>> comparison = lfso.compare(
    ...     lfso.models.PowerSum(2), np.array([1.0, 2.0, -0.5, 3.0]),
    ...     baseline={"method": "gd", "step": 1e-3}, output=None, tol=1e-6, max_iter=1000)
    >>> for label, res in comparison.results.items():
    ...     print(f"{label}: {res.status.name}, {res.njev} gradients")
    baseline: method=gd, step=0.001: MAX_ITER, 1001 gradients
    lfso: defaults: CONVERGED, 13 gradients
    >>> comparison.path is None  # output=None: no report written
    True
    """
    from ._minimize import minimize
    from ._registry import METHODS
    from .rollout._rules import SCIPY_LBFGS

    if output is not None:  # (before the runs, not after them)
        output = check_page_path(output, "output")
    check_title(title)
    baseline = _baseline(baseline)
    shared = {k: v for k, v in minimize_options.items() if k in _SHARED}
    entry = METHODS.get(baseline["method"])
    if entry is None or not entry.needs_oracle:
        shared.pop("smoothness", None)
    label = "baseline: " + ", ".join(f"{k}={v}" for k, v in baseline.items())
    lfso_opts = dict(minimize_options)
    lfso_label = "lfso: " + (
        ", ".join(f"{k}={v}" for k, v in lfso_opts.items() if k in ("method", "eta", "radius"))
        or "defaults"
    )
    runs = {label: {**shared, **baseline}, lfso_label: lfso_opts}
    for what, options in zip(("baseline", "lfso"), runs.values(), strict=True):
        # Checked by minimize itself, on a run of no step (one evaluation at x0), so that
        # a bad option of the lfso run is not reported only after the baseline's run.
        if options.get("batch_size") is not None or options.get("method") == SCIPY_LBFGS:
            continue  # (a run of epochs: no run of no step; SciPy's: checked by _baseline)
        try:
            checked = minimize(objective, x0, **{**options, "max_iter": 0, "progress": False})
        except (TypeError, ValueError) as exc:
            if what != "baseline" or type(exc) not in (TypeError, ValueError):
                raise
            raise type(exc)(f"baseline={dict(baseline)!r}: {exc}") from exc
        stop_if_interrupted(checked, f"the check of the {what} run's options")
    results = {label: _run_baseline(objective, x0, runs[label], minimize_options)}
    stop_if_interrupted(results[label], "the baseline run")
    results[lfso_label] = minimize(objective, x0, **lfso_opts)
    stop_if_interrupted(results[lfso_label], "the lfso run")
    path = None
    if output is not None:
        settings = {
            # (from the shape: a tensor on a GPU or one that requires grad has no NumPy view)
            "x0 size": math.prod(x0.shape if hasattr(x0, "shape") else np.shape(x0)),
            "baseline": dict(baseline),
            "lfso options": {k: v for k, v in lfso_opts.items() if k != "grad"},
        }
        path = html_report(results, output, title=title, settings=settings)
    return Comparison(results, path)
