"""What the report page shows, worked out from one stored assessment (its input and output).

Everything the template prints comes from here: percentages in words, factor bars, the
charts of the client's measures against the expected recovery band, and suggestions drawn
from the clinical signals. The page reads the audit record only, so it shows exactly what
the record system was told, whatever model serves now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from features.instruments import ALLIANCE_MEASURES, INSTRUMENTS, SRS, SYMPTOM_MEASURES
from features.recovery import expected_band
from features.signals import SAFETY_SIGNALS
from features.vocabulary import OUTCOME_TITLES, OUTCOMES
from service.audit import StoredAssessment
from service.reports.charts import Chart, Series, legend, render

OUTCOME_MEANINGS = {
    "dropout": "dropped out of therapy early, without agreement",
    "no reliable recovery": "ended without reliable recovery (reliably better and below the "
    "clinical range)",
    "reliable deterioration": "ended reliably worse than they started",
}
#: Suggestions by clinical signal, worded as options for the clinician, not orders.
SUGGESTIONS = {
    "self_harm_item_endorsed": "Follow your service's risk protocol today: ask about thoughts "
    "of death or self-harm directly and record the risk assessment. The model's estimates do "
    "not replace this.",
    "severe_symptoms": "Symptoms are in the severe range: reviewing whether the current level "
    "of care fits, and considering stepping up, may help.",
    "reliable_deterioration": "The client is reliably worse than at the start: reviewing the "
    "plan with the client, and considering supervision or stepping up, may help.",
    "alliance_rupture": "Consider naming the drop in the working alliance with the client and "
    "exploring together what changed; ruptures that are talked through can be repaired.",
    "alliance_rupture_repaired": "The alliance recovered after a drop: noticing with the client "
    "what helped may consolidate the repair.",
    "srs_below_cutoff": "The session was rated below 36: you might ask which part fitted least "
    "(being heard, goals, approach, the session overall).",
    "not_on_track": "Symptoms are worse than expected for this intake severity: reviewing the "
    "goals and the treatment plan with the client may help.",
    "missed_appointments": "Appointments were missed: exploring practical or motivational "
    "barriers to attending may help.",
}
_HIGH_RISK_WITHOUT_SIGNAL = (
    "The estimate is high although no rule-based signal fired: checking in about the client's "
    "expectations of therapy and its length may help."
)


@dataclass(frozen=True)
class FactorRow:
    """One factor line with its bar: width in % of the largest effect, side by direction."""

    text: str
    points: int
    direction: str
    width: float


@dataclass(frozen=True)
class RiskPanel:
    """One outcome's estimate as the page states it."""

    key: str
    title: str
    meaning: str
    percent: int
    in_words: str
    level: str
    level_meaning: str | None
    average_percent: int | None
    factors: list[FactorRow]
    interval: str | None = None


@dataclass(frozen=True)
class ChartView:
    """A rendered chart with its legend."""

    heading: str
    svg: str
    legend: list[dict[str, str]]
    note: str


@dataclass(frozen=True)
class ReportView:
    """Everything the report page shows."""

    assessment_id: str
    created_at: str
    model_name: str
    model_version: str
    as_of_session: int
    risks: list[RiskPanel]
    safety: list[dict[str, str]]
    signals: list[dict[str, str]]
    suggestions: list[str]
    data_gaps: list[str]
    symptom_charts: list[ChartView]
    alliance_charts: list[ChartView]
    warnings: list[str]


def report_view(stored: StoredAssessment) -> ReportView:
    """The page of one stored assessment."""
    response, request = stored.response, stored.request
    as_of = int(response["as_of_session"])
    sessions = [s for s in request["sessions"] if s["session_number"] <= as_of]
    risks = [_risk_panel(key, response[key]) for key in OUTCOMES]
    signals = list(response.get("signals", []))
    safety = [s for s in signals if s["code"] in SAFETY_SIGNALS]
    return ReportView(
        assessment_id=stored.assessment_id,
        created_at=stored.created_at.strftime("%d %b %Y, %H:%M UTC"),
        model_name=stored.model_name,
        model_version=stored.model_version,
        as_of_session=as_of,
        risks=risks,
        safety=safety,
        signals=[s for s in signals if s not in safety],
        suggestions=_suggestions(signals, risks),
        data_gaps=list(response.get("data_gaps", [])),
        symptom_charts=[
            chart for m in SYMPTOM_MEASURES if (chart := _symptom_chart(m, sessions, as_of))
        ],
        alliance_charts=[
            chart for chart in (_wai_chart(sessions, as_of), _srs_chart(sessions, as_of)) if chart
        ],
        warnings=list(response.get("warnings", [])),
    )


def in_words(probability: float) -> str:
    """A probability as a natural frequency: 0.41 -> "about 2 in 5"."""
    if probability < 0.05:
        return "fewer than 1 in 20"
    if probability > 0.95:
        return "more than 19 in 20"
    candidates = [(k, n) for n in range(2, 11) for k in range(1, n)]
    k, n = min(candidates, key=lambda kn: (abs(kn[0] / kn[1] - probability), kn[1]))
    return f"about {k} in {n}"


def interval_in_words(interval: list[float] | tuple[float, float] | None) -> str | None:
    """``[0.35, 0.48]`` -> "between 35% and 48%" (``None`` when the answer has none)."""
    if not interval:
        return None
    low, high = (round(float(end) * 100) for end in interval)
    return f"about {low}%" if low == high else f"between {low}% and {high}%"


def _risk_panel(key: str, outcome: dict[str, Any]) -> RiskPanel:
    probability = float(outcome["probability"])
    factors = outcome.get("factors", [])
    largest = max((abs(f["effect"]) for f in factors), default=0.0) or 1.0
    base_rate = outcome.get("base_rate")
    # Answers stored before the outcome was named per client carry no "outcome".
    named = outcome.get("outcome") or ("dropout" if key == "dropout" else "no reliable recovery")
    return RiskPanel(
        key=key,
        title=named[:1].upper() + named[1:] if key != "dropout" else OUTCOME_TITLES[key],
        meaning=OUTCOME_MEANINGS[named],
        percent=round(probability * 100),
        in_words=in_words(probability),
        level=outcome["risk_level"],
        level_meaning=outcome.get("risk_level_meaning"),
        average_percent=None if base_rate is None else round(float(base_rate) * 100),
        # Answers stored before intervals were served carry none.
        interval=interval_in_words(outcome.get("probability_interval")),
        factors=[
            FactorRow(
                text=f["text"],
                points=round(abs(f["effect"]) * 100),
                direction=f["direction"],
                width=round(abs(f["effect"]) / largest * 100, 1),
            )
            for f in factors
        ],
    )


def _suggestions(signals: list[dict[str, str]], risks: list[RiskPanel]) -> list[str]:
    found = [SUGGESTIONS[s["code"]] for s in signals if s["code"] in SUGGESTIONS]
    if not found and any(r.level == "high" for r in risks):
        found.append(_HIGH_RISK_WITHOUT_SIGNAL)
    return found


def _scores(sessions: list[dict[str, Any]], measure: str) -> list[tuple[int, float]]:
    return [
        (int(s["session_number"]), float(s[measure]))
        for s in sessions
        if s.get("attended") and s.get(measure) is not None
    ]


def _missed(sessions: list[dict[str, Any]]) -> list[int]:
    return [int(s["session_number"]) for s in sessions if not s.get("attended")]


def _symptom_chart(measure: str, sessions: list[dict[str, Any]], as_of: int) -> ChartView | None:
    points = _scores(sessions, measure)
    if not points:
        return None
    instrument = INSTRUMENTS[measure]
    first_session, intake_score = points[0]
    band_sessions = np.arange(first_session, as_of + 1)
    expected, low, high = expected_band(
        measure, intake_score=intake_score, sessions=band_sessions - first_session
    )
    worse = "lower" if instrument.higher_is_better else "higher"
    scores = ", ".join(f"session {s}: {v:g}" for s, v in points)
    cutoff = instrument.clinical_cutoff
    description = (
        f"{instrument.label} by session ({scores}); {worse} is worse. The shaded band is the "
        f"expected recovery for an intake score of {intake_score:g}: "
        f"{expected[0]:.0f} at intake to {expected[-1]:.0f} by session {as_of}."
        + (f" Clinical cut-off {cutoff:g}." if cutoff is not None else "")
        + _missed_sentence(sessions)
    )
    chart = Chart(
        title=f"{instrument.label} against the expected recovery",
        description=description,
        sessions=as_of,
        low=instrument.low,
        high=instrument.high,
        series=[Series(label=instrument.label, points=points)],
        band=[
            (int(s), float(lo), float(hi))
            for s, lo, hi in zip(band_sessions, low, high, strict=True)
        ],
        band_label="expected recovery band",
        cutoff=None if cutoff is None else (cutoff, f"cut-off {cutoff:g}"),
        missed=_missed(sessions),
    )
    return ChartView(
        heading=instrument.label,
        svg=render(chart, chart_id=f"chart-{measure}"),
        legend=legend([instrument.label]),
        note=f"Shaded: expected recovery band. Dashed red: clinical cut-off. {worse.capitalize()} "
        "is worse.",
    )


def _ruptures(points: list[tuple[int, float]], drop: float) -> list[int]:
    pairs = zip(points[:-1], points[1:], strict=True)
    return [s for (_, before), (s, after) in pairs if before - after >= drop]


def _wai_chart(sessions: list[dict[str, Any]], as_of: int) -> ChartView | None:
    measures = [m for m in ALLIANCE_MEASURES if m != "srs" and _scores(sessions, m)]
    if not measures:
        return None
    series = [Series(INSTRUMENTS[m].label, _scores(sessions, m)) for m in measures]
    ruptures = sorted(
        {s for m, line in zip(measures, series, strict=True)
         for s in _ruptures(list(line.points), INSTRUMENTS[m].rupture_drop or 0.5)}
    )  # fmt: skip
    described = "; ".join(
        f"{line.label}: " + ", ".join(f"session {s}: {v:g}" for s, v in line.points)
        for line in series
    )
    rupture_text = (
        f" Ruptures (a fall of 0.5 or more) at session {', '.join(map(str, ruptures))}."
        if ruptures
        else " No rupture."
    )
    chart = Chart(
        title="Working alliance (WAI-SR, 1 to 5)",
        description=f"{described}. Higher is a stronger alliance.{rupture_text}"
        + _missed_sentence(sessions),
        sessions=as_of,
        low=1.0,
        high=5.0,
        series=series,
        missed=_missed(sessions),
        ruptures=ruptures,
    )
    return ChartView(
        heading="Working alliance (WAI-SR)",
        svg=render(chart, chart_id="chart-wai"),
        legend=legend([line.label for line in series]),
        note="Higher is a stronger alliance. ▼ marks a rupture (a fall of 0.5 or more).",
    )


def _srs_chart(sessions: list[dict[str, Any]], as_of: int) -> ChartView | None:
    points = _scores(sessions, "srs")
    if not points:
        return None
    ruptures = _ruptures(points, SRS.rupture_drop or 3.0)
    scores = ", ".join(f"session {s}: {v:g}" for s, v in points)
    chart = Chart(
        title="Session Rating Scale (0 to 40)",
        description=f"SRS by session ({scores}); below {SRS.clinical_cutoff:g} is of concern."
        + _missed_sentence(sessions),
        sessions=as_of,
        low=SRS.low,
        high=SRS.high,
        series=[Series("Session Rating Scale", points)],
        cutoff=(float(SRS.clinical_cutoff or 36), f"cut-off {SRS.clinical_cutoff:g}"),
        missed=_missed(sessions),
        ruptures=ruptures,
    )
    return ChartView(
        heading="Session Rating Scale",
        svg=render(chart, chart_id="chart-srs"),
        legend=legend(["Session Rating Scale"]),
        note="Below the dashed red line (36) the client may not feel the session fitted.",
    )


def _missed_sentence(sessions: list[dict[str, Any]]) -> str:
    missed = _missed(sessions)
    if not missed:
        return ""
    return f" Missed session{'s' if len(missed) > 1 else ''}: {', '.join(map(str, missed))}."
