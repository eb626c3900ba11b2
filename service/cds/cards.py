"""The card a clinician sees when opening a client's record: risk, reasons, signals, a link.

One card per assessment. Its urgency (``indicator``) follows the higher of the two risk
levels: low is ``info``, moderate ``warning``, high ``critical``. A client at low risk on both
outcomes with no clinical signal gets an ``info`` card or none at all, as the clinic
configured (``cds_low_risk_card``): cards that say nothing train clinicians to ignore cards.
The summary is one sentence under 140 characters (the spec's limit), always; the detail, in
Markdown, gives both probabilities, the top factors of each with their direction, the
clinical signals, and says plainly that this is decision support, not a diagnosis.
"""

from __future__ import annotations

from typing import Literal

from features.vocabulary import RISK_LEVELS
from service.cds.schemas import CardOut, CodingOut, Indicator, LinkOut, SourceOut
from service.schemas import AssessmentResponse, OutcomeRiskOut

SUMMARY_LIMIT = 140
"""Card summaries are shorter than this (CDS Hooks: "<140-character summary")."""
FACTORS_SHOWN = 3
"""Factors listed per outcome in the card's detail."""
OVERRIDE_SYSTEM = "https://dropout-risk.org/fhir/CodeSystem/cds-override-reason"
"""Code system of the reasons a clinician can give for setting a card aside."""
OVERRIDE_REASONS: tuple[tuple[str, str], ...] = (
    ("already-addressed", "Already discussed with the client"),
    ("clinical-judgement", "My clinical judgement differs"),
    ("record-incomplete", "The record is incomplete or out of date"),
    ("ending-planned", "Ending or referral is already planned"),
)
"""(code, display) of each override reason offered, in the order shown."""

_INDICATORS: dict[str, Indicator] = {"low": "info", "moderate": "warning", "high": "critical"}
_ARROWS = {"raises": "↑", "lowers": "↓"}


def card_for(
    assessment: AssessmentResponse,
    *,
    card_uuid: str,
    report_url: str,
    model_card_url: str,
    low_risk_card: Literal["info", "none"],
) -> CardOut | None:
    """The card showing ``assessment``; None for a quiet low-risk client when so configured.

    Args:
        assessment: The scored (and recorded) assessment.
        card_uuid: The new card's ``uuid``, which feedback will name.
        report_url: The clinician report page of this assessment.
        model_card_url: The model card, linked from the card's source.
        low_risk_card: ``info`` to show quiet low-risk clients too, ``none`` not to.
    """
    level = max(
        assessment.dropout.risk_level, assessment.poor_outcome.risk_level, key=RISK_LEVELS.index
    )
    if level == "low" and not assessment.signals and low_risk_card == "none":
        return None
    model = assessment.model
    return CardOut(
        uuid=card_uuid,
        summary=summary_of(assessment),
        detail=detail_of(assessment),
        indicator=_INDICATORS[level],
        source=SourceOut(label=f"{model.name} model v{model.version}", url=model_card_url),
        overrideReasons=[
            CodingOut(system=OVERRIDE_SYSTEM, code=code, display=display)
            for code, display in OVERRIDE_REASONS
        ],
        links=[LinkOut(label="Open the clinician report", url=report_url, type="absolute")],
    )


def summary_of(assessment: AssessmentResponse) -> str:
    """One sentence under :data:`SUMMARY_LIMIT` characters: both risks and the signal count."""
    text = (
        f"Dropout risk {_brief(assessment.dropout)}; "
        f"poor-outcome risk {_brief(assessment.poor_outcome)}"
    )
    count = len(assessment.signals)
    if count:
        text += f"; {count} clinical signal{'s' if count > 1 else ''}"
    return fit(text + ".")


def fit(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """``text`` if shorter than ``limit``, else cut at a word and marked with an ellipsis."""
    if len(text) < limit:
        return text
    cut = text[: limit - 2].rsplit(" ", 1)[0].rstrip(" ;,.")
    return cut + "…"


def detail_of(assessment: AssessmentResponse) -> str:
    """The Markdown shown on request: probabilities, factors, signals, and what it is not."""
    lines = [
        f"**Dropout risk: {_full(assessment.dropout)}**  ",
        f"**Poor-outcome risk: {_full(assessment.poor_outcome)}**",
        "",
        f"Estimated as of session {assessment.as_of_session}. Probabilities are calibrated: "
        "30% means about 3 in 10 clients like this one.",
    ]
    for title, outcome in (
        ("dropout", assessment.dropout),
        ("poor-outcome", assessment.poor_outcome),
    ):
        factors = outcome.factors[:FACTORS_SHOWN]
        if factors:
            lines += ["", f"**What moves the {title} risk most**"]
            lines += [f"- {_ARROWS[f.direction]} {f.text}" for f in factors]
    if assessment.signals:
        lines += ["", "**Clinical signals**"]
        lines += [f"- {signal.text}" for signal in assessment.signals]
    if assessment.warnings:
        lines += ["", *[f"_Note: {warning}._" for warning in assessment.warnings]]
    lines += [
        "",
        f"_Decision support, not a diagnosis. Model {assessment.model.name} "
        f"v{assessment.model.version}; ↑ raises, ↓ lowers the risk._",
    ]
    return "\n".join(lines)


def _percent(probability: float) -> str:
    return f"{probability:.0%}"


def _brief(outcome: OutcomeRiskOut) -> str:
    """``high (41%)``."""
    return f"{outcome.risk_level} ({_percent(outcome.probability)})"


def _full(outcome: OutcomeRiskOut) -> str:
    """``high, 41%`` with the training average when the model reports it."""
    text = f"{outcome.risk_level}, {_percent(outcome.probability)}"
    if outcome.base_rate is not None:
        text += f" (average {_percent(outcome.base_rate)})"
    return text
