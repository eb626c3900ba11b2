"""Inline SVG charts, drawn on the server: no script, no font or file from elsewhere.

Every chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` that says in words
what it shows, and series differ by marker shape and line pattern as well as by colour, so
nothing depends on colour alone (WCAG 1.4.1). Colours are dark enough on white for WCAG AA.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

WIDTH, HEIGHT = 560, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 16, 16, 36
INK = "#1b1b1b"
SERIES_STYLES = (
    # colour (contrast >= 4.5:1 on white), dash pattern, marker
    ("#0b4f8a", "", "circle"),
    ("#8a3b00", "6 3", "square"),
    ("#3d5a00", "2 3", "triangle"),
)
BAND_FILL = "#dfe6ee"
CUTOFF_COLOUR = "#9b1c1c"


@dataclass(frozen=True)
class Series:
    """One line of scores: its name and (session, score) points of attended sessions."""

    label: str
    points: Sequence[tuple[int, float]]


@dataclass(frozen=True)
class Chart:
    """What one chart plots (all sessions on the x axis, one scale on the y axis)."""

    title: str
    description: str
    sessions: int
    low: float
    high: float
    series: Sequence[Series]
    band: Sequence[tuple[int, float, float]] = ()
    band_label: str = ""
    cutoff: tuple[float, str] | None = None
    missed: Sequence[int] = ()
    ruptures: Sequence[int] = field(default_factory=tuple)


def render(chart: Chart, *, chart_id: str) -> str:
    """The chart as an accessible inline SVG element."""
    scale = _Scale(chart)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" data-chart="{escape(chart_id)}">',
        f'<title id="{chart_id}-title">{escape(chart.title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(chart.description)}</desc>',
        *_axes(chart, scale),
    ]
    if chart.band:
        parts.append(_band(chart, scale))
    if chart.cutoff is not None:
        parts.extend(_cutoff(chart.cutoff, scale))
    parts.extend(_missed(chart.missed, scale))
    for index, series in enumerate(chart.series):
        parts.extend(_series(series, SERIES_STYLES[index % len(SERIES_STYLES)], scale))
    parts.extend(_ruptures(chart, scale))
    parts.append("</svg>")
    return "\n".join(parts)


class _Scale:
    def __init__(self, chart: Chart) -> None:
        self.sessions = max(chart.sessions, 2)
        self.low, self.high = chart.low, chart.high

    def x(self, session: float) -> float:
        span = WIDTH - _LEFT - _RIGHT
        return round(_LEFT + (session - 1) / (self.sessions - 1) * span, 1)

    def y(self, value: float) -> float:
        span = HEIGHT - _TOP - _BOTTOM
        return round(_TOP + (self.high - value) / (self.high - self.low) * span, 1)


def _axes(chart: Chart, scale: _Scale) -> list[str]:
    bottom, top = HEIGHT - _BOTTOM, _TOP
    parts = [
        f'<line x1="{_LEFT}" y1="{bottom}" x2="{WIDTH - _RIGHT}" y2="{bottom}" stroke="{INK}"/>',
        f'<line x1="{_LEFT}" y1="{top}" x2="{_LEFT}" y2="{bottom}" stroke="{INK}"/>',
    ]
    for session in range(1, scale.sessions + 1):
        x = scale.x(session)
        parts.append(
            f'<text x="{x}" y="{bottom + 14}" font-size="11" text-anchor="middle" '
            f'fill="{INK}">{session}</text>'
        )
    parts.append(
        f'<text x="{(WIDTH + _LEFT) / 2}" y="{HEIGHT - 4}" font-size="11" text-anchor="middle" '
        f'fill="{INK}">session</text>'
    )
    for value in (chart.low, (chart.low + chart.high) / 2, chart.high):
        parts.append(
            f'<text x="{_LEFT - 6}" y="{scale.y(value) + 4}" font-size="11" text-anchor="end" '
            f'fill="{INK}">{value:g}</text>'
        )
    return parts


def _band(chart: Chart, scale: _Scale) -> str:
    upper = " ".join(f"{scale.x(s)},{scale.y(high)}" for s, _, high in chart.band)
    lower = " ".join(f"{scale.x(s)},{scale.y(low)}" for s, low, _ in reversed(chart.band))
    return (
        f'<polygon class="expected-band" points="{upper} {lower}" fill="{BAND_FILL}" '
        f'stroke="#6b7785" stroke-dasharray="1 2"><title>{escape(chart.band_label)}</title>'
        "</polygon>"
    )


def _cutoff(cutoff: tuple[float, str], scale: _Scale) -> list[str]:
    value, label = cutoff
    y = scale.y(value)
    return [
        f'<line class="cutoff" x1="{_LEFT}" y1="{y}" x2="{WIDTH - _RIGHT}" y2="{y}" '
        f'stroke="{CUTOFF_COLOUR}" stroke-width="1.5" stroke-dasharray="8 4"/>',
        f'<text x="{WIDTH - _RIGHT - 4}" y="{y - 4}" font-size="11" text-anchor="end" '
        f'fill="{CUTOFF_COLOUR}">{escape(label)}</text>',
    ]


def _missed(missed: Sequence[int], scale: _Scale) -> list[str]:
    parts = []
    for session in missed:
        x = scale.x(session)
        parts.append(
            f'<g class="missed" data-session="{session}"><line x1="{x}" y1="{_TOP}" x2="{x}" '
            f'y2="{HEIGHT - _BOTTOM}" stroke="#555" stroke-dasharray="2 4"/>'
            f'<text x="{x}" y="{_TOP + 10}" font-size="10" text-anchor="middle" fill="{INK}">'
            "missed</text></g>"
        )
    return parts


def _series(series: Series, style: tuple[str, str, str], scale: _Scale) -> list[str]:
    colour, dash, marker = style
    if not series.points:
        return []
    path = " ".join(f"{scale.x(s)},{scale.y(v)}" for s, v in series.points)
    dash_attribute = f' stroke-dasharray="{dash}"' if dash else ""
    parts = [
        f'<g class="series" data-series="{escape(series.label)}">',
        f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"'
        f"{dash_attribute}/>",
    ]
    for session, value in series.points:
        x, y = scale.x(session), scale.y(value)
        label = f"{series.label}, session {session}: {value:g}"
        parts.append(_marker(marker, x, y, colour, label, session))
    parts.append("</g>")
    return parts


def _marker(shape: str, x: float, y: float, colour: str, label: str, session: int) -> str:
    common = f'class="point" data-session="{session}" fill="{colour}"'
    title = f"<title>{escape(label)}</title>"
    if shape == "square":
        return f'<rect {common} x="{x - 4}" y="{y - 4}" width="8" height="8">{title}</rect>'
    if shape == "triangle":
        points = f"{x},{y - 5} {x - 5},{y + 4} {x + 5},{y + 4}"
        return f'<polygon {common} points="{points}">{title}</polygon>'
    return f'<circle {common} cx="{x}" cy="{y}" r="4">{title}</circle>'


def _ruptures(chart: Chart, scale: _Scale) -> list[str]:
    parts = []
    for session in chart.ruptures:
        x = scale.x(session)
        y = HEIGHT - _BOTTOM - 6
        parts.append(
            f'<g class="rupture" data-session="{session}"><text x="{x}" y="{y}" font-size="11" '
            f'font-weight="bold" text-anchor="middle" fill="{CUTOFF_COLOUR}">'
            "▼ rupture</text></g>"
        )
    return parts


def legend(labels: Sequence[str]) -> list[dict[str, str]]:
    """Legend entries (label, colour, dash, marker) for the series of a chart, in order."""
    entries = []
    for index, label in enumerate(labels):
        colour, dash, marker = SERIES_STYLES[index % len(SERIES_STYLES)]
        entries.append({"label": label, "colour": colour, "dash": dash, "marker": marker})
    return entries
