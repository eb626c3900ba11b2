"""Cards for 200 synthetic clients: short summaries, the right urgency, the story in detail."""

from __future__ import annotations

import re

import pytest

from service.cds.cards import FACTORS_SHOWN, SUMMARY_LIMIT, card_for, fit
from service.schemas import AssessmentRequest
from service.scoring import assess_many
from tests.support.fhir_bundles import cohort_cases, json_request

ORDER = ("low", "moderate", "high")


@pytest.fixture(scope="module")
def assessments(trained, cohort):
    """200 synthetic clients scored as of different sessions (1 up to all of them)."""
    clients, sessions = cohort
    some = clients.iloc[100:300]
    cases = cohort_cases(some, sessions[sessions["client_id"].isin(some["client_id"])])
    requests = [
        AssessmentRequest.model_validate(json_request(client, rows[: 1 + n % len(rows)]))
        for n, (client, rows) in enumerate(cases)
    ]
    return assess_many(trained.model, requests, model_name="dropout-risk", model_version="7")


def _card(assessment, low_risk_card="info"):
    """The card, with quiet low and moderate clients shown (``info``) or not (``none``)."""
    return card_for(
        assessment,
        card_uuid="7b1d2c8e-6a0f-4a59-9a0e-3f1e2b6c9d10",
        report_url=f"https://risk.example.org/reports/{assessment.assessment_id}",
        model_card_url="https://risk.example.org/model-card",
        low_risk_card=low_risk_card,
        moderate_risk_card=low_risk_card,
    )


def test_every_summary_is_one_sentence_under_140_characters(assessments):
    assert len(assessments) == 200
    for assessment in assessments:
        summary = _card(assessment).summary
        assert len(summary) < SUMMARY_LIMIT, summary
        assert summary.endswith(".") and "\n" not in summary
        for outcome in (assessment.dropout, assessment.poor_outcome):
            assert f"{outcome.risk_level} ({outcome.probability:.0%})" in summary
        assert f"{assessment.poor_outcome.outcome}: " in summary
        if any(s.code == "self_harm_item_endorsed" for s in assessment.signals):
            assert summary.startswith("PHQ-9 item 9 endorsed: follow your risk protocol today.")


def test_only_a_safety_signal_is_critical_and_only_high_risk_a_warning(assessments):
    seen = set()
    for assessment in assessments:
        codes = {signal.code for signal in assessment.signals}
        levels = {assessment.dropout.risk_level, assessment.poor_outcome.risk_level}
        card = _card(assessment, low_risk_card="none")
        if "self_harm_item_endorsed" in codes:
            expected = "critical"
        elif "high" in levels:
            expected = "warning"
        elif codes:
            expected = "info"
        else:
            expected = None
        assert (card.indicator if card else None) == expected, (codes, levels)
        seen.add(expected)
    assert {"critical", "warning", "info"} <= seen  # the cohort shows every urgency


def test_a_moderate_client_without_signals_gets_an_info_card_only_when_configured(assessments):
    moderate = assessments[0].model_copy(
        update={
            "dropout": assessments[0].dropout.model_copy(update={"risk_level": "moderate"}),
            "poor_outcome": assessments[0].poor_outcome.model_copy(update={"risk_level": "low"}),
            "signals": [],
        }
    )
    assert _card(moderate, "none") is None
    assert _card(moderate, "info").indicator == "info"
    configured = card_for(
        moderate,
        card_uuid="7b1d2c8e-6a0f-4a59-9a0e-3f1e2b6c9d10",
        report_url="https://risk.example.org/reports/x",
        model_card_url="https://risk.example.org/model-card",
        low_risk_card="none",
        moderate_risk_card="info",
    )
    assert configured.indicator == "info"


def test_the_detail_gives_probabilities_top_factors_and_signals(assessments):
    for assessment in assessments:
        detail = _card(assessment).detail
        for outcome in (assessment.dropout, assessment.poor_outcome):
            assert f"{outcome.probability:.0%}" in detail
            low, high = (f"{end:.0%}" for end in outcome.probability_interval)
            assert low == high or f"(between {low} and {high})" in detail
            for factor in outcome.factors[:FACTORS_SHOWN]:
                arrow = "↑" if factor.direction == "raises" else "↓"
                assert f"{arrow} {factor.text}" in detail
        bullets = re.findall(r"^- [↑↓] ", detail, flags=re.MULTILINE)
        assert len(bullets) <= 2 * FACTORS_SHOWN
        for signal in assessment.signals:
            if signal.code == "self_harm_item_endorsed":  # first, in bold, before the risks
                assert detail.startswith(f"**{signal.text}**")
            else:
                assert f"- {signal.text}" in detail
        for meaning in (assessment.dropout.risk_level_meaning,):
            assert meaning is None or meaning in detail
        if assessment.data_gaps:
            assert f"Not recorded so far: {', '.join(assessment.data_gaps)}" in detail
        assert "Decision support, not a diagnosis" in detail
        assert f"as of session {assessment.as_of_session}" in detail


def test_a_quiet_low_risk_client_gets_an_info_card_or_none_as_configured(assessments):
    quiet = assessments[0].model_copy(
        update={
            "dropout": assessments[0].dropout.model_copy(update={"risk_level": "low"}),
            "poor_outcome": assessments[0].poor_outcome.model_copy(update={"risk_level": "low"}),
            "signals": [],
        }
    )
    assert _card(quiet, "info").indicator == "info"
    assert _card(quiet, "none") is None
    flagged = quiet.model_copy(
        update={"signals": assessments[0].signals or [_any_signal(assessments)]}
    )
    assert _card(flagged, "none").indicator == "info"  # a signal is worth a card


def _any_signal(assessments):
    return next(signal for a in assessments for signal in a.signals)


def test_the_card_links_the_report_and_the_model_card(assessments):
    card = _card(assessments[0])
    assert card.source.label == "dropout-risk model v7"
    assert card.source.url == "https://risk.example.org/model-card"
    assert card.links[0].url.endswith(assessments[0].assessment_id)
    assert [r.code for r in card.overrideReasons] and all(r.display for r in card.overrideReasons)


@pytest.mark.parametrize("length", [10, 139, 140, 400])
def test_fit_keeps_short_text_and_cuts_long_text_at_a_word(length):
    text = ("word " * 100)[:length]
    fitted = fit(text)
    assert len(fitted) < SUMMARY_LIMIT
    if length < SUMMARY_LIMIT:
        assert fitted == text
    else:
        assert fitted.endswith("…") and fitted[:-1].rstrip() == fitted[:-1]
        assert text.startswith(fitted[:-1])
