"""The card a clinician sees when opening a client's record: risk, reasons, signals, a link.

One card per assessment. Its urgency (``indicator``) is kept for what needs it, so that
clinicians do not learn to ignore cards: ``critical`` only for a safety signal (PHQ-9 item
9 endorsed: "follow your service's risk protocol today"), with the model's estimates shown
beside it, never instead; ``warning`` for high risk of either outcome (high is at most 15%
of assessments by the model's budget); ``info`` for other clinical signals, and for a
moderate or a quiet low-risk client only when the clinic asks for it
(``cds_moderate_risk_card``, ``cds_low_risk_card``); otherwise no card.
The summary is one sentence under 140 characters (the spec's limit), always; the detail, in
Markdown, gives both probabilities, the top factors of each with their direction, the
clinical signals, and says plainly that this is decision support, not a diagnosis.
"""

from __future__ import annotations

from typing import Literal

from features.signals import SAFETY_SIGNALS
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

_ARROWS = {"raises": "↑", "lowers": "↓"}


def card_for(
    assessment: AssessmentResponse,
    *,
    card_uuid: str,
    report_url: str,
    model_card_url: str,
    low_risk_card: Literal["info", "none"],
    moderate_risk_card: Literal["info", "none"] = "none",
    caseload_url: str | None = None,
) -> CardOut | None:
    """The card showing ``assessment``; None for a quiet low-risk client when so configured.

    Args:
        assessment: The scored (and recorded) assessment.
        card_uuid: The new card's ``uuid``, which feedback will name.
        report_url: The clinician report page of this assessment.
        model_card_url: The model card, linked from the card's source.
        low_risk_card: ``info`` to show quiet low-risk clients too, ``none`` not to.
        moderate_risk_card: ``info`` to show moderate-risk clients without signals.
        caseload_url: The caseload page of the client's therapist, linked second.
    """
    indicator = indicator_of(
        assessment, low_risk_card=low_risk_card, moderate_risk_card=moderate_risk_card
    )
    if indicator is None:
        return None
    model = assessment.model
    return CardOut(
        uuid=card_uuid,
        summary=summary_of(assessment),
        detail=detail_of(assessment),
        indicator=indicator,
        source=SourceOut(label=f"{model.name} model v{model.version}", url=model_card_url),
        overrideReasons=[
            CodingOut(system=OVERRIDE_SYSTEM, code=code, display=display)
            for code, display in OVERRIDE_REASONS
        ],
        links=[
            LinkOut(label="Open the clinician report", url=report_url, type="absolute"),
            *(
                [LinkOut(label="Open the caseload", url=caseload_url, type="absolute")]
                if caseload_url
                else []
            ),
        ],
    )


def indicator_of(
    assessment: AssessmentResponse,
    *,
    low_risk_card: Literal["info", "none"],
    moderate_risk_card: Literal["info", "none"],
) -> Indicator | None:
    """The card's urgency, or None when the clinic asked for no card (module docstring)."""
    if any(signal.code in SAFETY_SIGNALS for signal in assessment.signals):
        return "critical"
    level = max(
        assessment.dropout.risk_level, assessment.poor_outcome.risk_level, key=RISK_LEVELS.index
    )
    if level == "high":
        return "warning"
    if assessment.signals:
        return "info"
    wanted = moderate_risk_card if level == "moderate" else low_risk_card
    return "info" if wanted == "info" else None


def summary_of(assessment: AssessmentResponse) -> str:
    """One sentence under :data:`SUMMARY_LIMIT` characters: safety first, both risks, signals.

    E.g. "Dropout: high (41%); no reliable recovery: moderate (35%); 2 clinical signals."
    """
    safety = any(signal.code in SAFETY_SIGNALS for signal in assessment.signals)
    text = "PHQ-9 item 9 endorsed: follow your risk protocol today. " if safety else ""
    poor = assessment.poor_outcome
    text += f"Dropout: {_brief(assessment.dropout)}; {poor.outcome}: {_brief(poor)}"
    count = len(assessment.signals)
    if count:
        text += f"; {count} signal{'s' if count > 1 else ''}"
    return fit(text + ".")


def _risk_of(outcome: OutcomeRiskOut) -> str:
    """``risk of no reliable recovery`` (the client's own poor outcome, in words)."""
    return f"risk of {outcome.outcome}"


def fit(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """``text`` if shorter than ``limit``, else cut at a word and marked with an ellipsis."""
    if len(text) < limit:
        return text
    cut = text[: limit - 2].rsplit(" ", 1)[0].rstrip(" ;,.")
    return cut + "…"


def detail_of(assessment: AssessmentResponse) -> str:
    """The Markdown shown on request: probabilities, factors, signals, and what it is not."""
    safety = [s for s in assessment.signals if s.code in SAFETY_SIGNALS]
    lines = [f"**{signal.text}**" for signal in safety]
    if safety:
        lines += ["", "The model's estimates are shown beside this signal, never instead:", ""]
    poor = assessment.poor_outcome
    lines += [
        f"**Dropout risk: {_full(assessment.dropout)}**  ",
        f"**{_risk_of(poor)[0].upper()}{_risk_of(poor)[1:]}: {_full(poor)}**",
        "",
        f"Estimated as of session {assessment.as_of_session}. Probabilities are calibrated: "
        "30% means about 3 in 10 clients like this one.",
    ]
    meanings = [o.risk_level_meaning for o in (assessment.dropout, poor) if o.risk_level_meaning]
    if meanings:
        lines += ["", *meanings]
    for title, outcome in (("dropout risk", assessment.dropout), (_risk_of(poor), poor)):
        factors = outcome.factors[:FACTORS_SHOWN]
        if factors:
            lines += ["", f"**What moves the {title} most**"]
            lines += [f"- {_ARROWS[f.direction]} {f.text}" for f in factors]
    others = [s for s in assessment.signals if s.code not in SAFETY_SIGNALS]
    if others:
        lines += ["", "**Clinical signals**"]
        lines += [f"- {signal.text}" for signal in others]
    if assessment.data_gaps:
        lines += ["", f"_Not recorded so far: {', '.join(assessment.data_gaps)}._"]
    if assessment.warnings:
        lines += ["", *[f"_Note: {warning.rstrip('.')}._" for warning in assessment.warnings]]
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
    low, high = outcome.probability_interval
    text = f"{outcome.risk_level}, {_percent(outcome.probability)}"
    if _percent(low) != _percent(high):
        text += f" (between {_percent(low)} and {_percent(high)})"
    if outcome.base_rate is not None:
        text += f" (average {_percent(outcome.base_rate)})"
    return text
