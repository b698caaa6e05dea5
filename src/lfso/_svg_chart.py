"""Inline SVG line charts with a logarithmic y axis, for pages that carry no scripts.

:func:`log_chart` draws one chart: a polyline per series, the y axis in whole decades
labelled ``10^k`` (never a fractional power), the x axis on round 1-2-5 steps, and a
dashed line where a series was handed over to another rule.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Series", "decades", "log_chart", "round_ticks"]

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


@dataclass(frozen=True)
class Series:
    """One curve: its label, colour and points.

    Points whose ``y`` is not finite and positive are not drawn (a log axis has no place
    for them); a series with one point drawn is a dot. ``mark`` is the x of a hand-over (a
    dashed vertical line), or ``None``.
    """

    label: str
    color: str
    x: np.ndarray
    y: np.ndarray
    mark: float | None = None


def decades(lo: float, hi: float, most: int = 6) -> list[int]:
    """Exponents of the labelled powers of ten for a log axis covering ``[10^lo, 10^hi]``.

    Parameters
    ----------
    lo, hi : float
        log10 of the smallest and largest value drawn, ``lo <= hi``.
    most : int >= 2
        Aim for at most this many labels (one more where the range ends between two).

    Returns
    -------
    list of int
        Ascending integer exponents, spaced by 1, 2 or 5 x 10^n decades; the first is at or
        below ``lo``, the last at or above ``hi``, so the axis spans them.
    """
    a, b = math.floor(lo), math.ceil(hi)
    if a == b:
        a, b = a - 1, b + 1
    k = max(1, math.ceil((b - a) / (most - 1)))
    k = next(m * 10**n for n in range(len(str(k))) for m in (1, 2, 5, 10) if m * 10**n >= k)
    a, b = k * math.floor(a / k), k * math.ceil(b / k)
    return list(range(a, b + 1, k))


def round_ticks(hi: float, most: int = 6) -> list[float]:
    """Ticks ``0, s, 2s, ...`` for a linear axis from 0 covering ``hi > 0``, with ``s`` of
    the form ``1, 2 or 5 x 10^n`` and at most ``most`` ticks; the last is at least ``hi``."""
    raw = hi / (most - 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [step * i for i in range(math.ceil(hi / step - 1e-9) + 1)]


def _power_label(exponent: int) -> str:
    return "1" if exponent == 0 else "10" + str(exponent).translate(_SUPERSCRIPT)


def log_chart(
    series: list[Series],
    *,
    title: str,
    xlabel: str,
    width: int = 560,
    height: int = 250,
    empty: str = "nothing to draw yet",
) -> str:
    """One chart as an ``<svg>`` element (a ``<p>`` saying ``empty`` when no point is drawn).

    Each polyline carries ``data-run`` (its series' label) and a ``<title>`` (a tooltip).
    """
    drawn = []
    for s in series:
        x, y = np.asarray(s.x, dtype=float), np.asarray(s.y, dtype=float)
        ok = np.isfinite(x) & np.isfinite(y) & (y > 0)
        if ok.any():
            drawn.append((s, x[ok], np.log10(y[ok])))
    if not drawn:
        return f'<p class="empty">{html.escape(title)}: {html.escape(empty)}.</p>'
    ticks = decades(
        min(float(y.min()) for _, _, y in drawn), max(float(y.max()) for _, _, y in drawn)
    )
    lo, hi = ticks[0], ticks[-1]
    marks = [s.mark for s, _, _ in drawn if s.mark is not None and math.isfinite(s.mark)]
    xmax = max([float(x.max()) for _, x, _ in drawn] + marks)
    xticks = round_ticks(xmax) if xmax > 0 else [0.0, 1.0]
    xend = xticks[-1]
    left, right, top, bottom = 58, 14, 26, 40
    pw, ph = width - left - right, height - top - bottom

    def px(v: float) -> float:
        return left + pw * v / xend

    def py(v: float) -> float:
        return top + ph * (hi - v) / (hi - lo)

    esc = html.escape
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{esc(title)} against {esc(xlabel)}">',
        f'<text x="{left}" y="16" font-size="13" font-weight="600">{esc(title)}</text>',
    ]
    for e in ticks:
        at = py(e)
        parts.append(
            f'<line x1="{left}" y1="{at:.1f}" x2="{left + pw}" y2="{at:.1f}" stroke="#eee"/>'
            f'<text class="ytick" x="{left - 5}" y="{at + 4:.1f}" font-size="11" '
            f'text-anchor="end">{_power_label(e)}</text>'
        )
    for v in xticks:
        parts.append(
            f'<text class="xtick" x="{px(v):.1f}" y="{height - 24}" font-size="11" '
            f'text-anchor="middle">{v:g}</text>'
        )
    parts.append(
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>'
        f'<text x="{left + pw / 2}" y="{height - 6}" font-size="12" text-anchor="middle">'
        f"{esc(xlabel)}</text>"
    )
    for s, x, y in drawn:
        points = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(x, y, strict=True))
        parts.append(
            f'<polyline data-run="{esc(s.label)}" fill="none" stroke="{s.color}" '
            f'stroke-width="1.5" points="{points}"><title>{esc(s.label)}</title></polyline>'
        )
        if x.size == 1:  # (a polyline of one point draws nothing: a dot instead)
            parts.append(
                f'<circle data-run="{esc(s.label)}" cx="{px(x[0]):.1f}" cy="{py(y[0]):.1f}" '
                f'r="3" fill="{s.color}"><title>{esc(s.label)}</title></circle>'
            )
    for s, _, _ in drawn:
        if s.mark is not None and 0 <= s.mark <= xend:  # (not drawn where it is NaN)
            m = px(s.mark)
            parts.append(
                f'<line x1="{m:.1f}" y1="{top}" x2="{m:.1f}" y2="{top + ph}" stroke="#aa2222" '
                f'stroke-dasharray="5,4"/><text x="{m + 4:.1f}" y="{top + ph - 6}" '
                'font-size="11" fill="#aa2222">hand-over</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
