"""The report's content, from a stored assessment: numbers in words, factors, charts."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from service.audit import StoredAssessment
from service.reports.pages import model_card_page, report_page
from service.reports.view import in_words, interval_in_words, report_view
from service.schemas import AssessmentRequest
from service.scoring import assess


@pytest.mark.parametrize(
    ("probability", "words"),
    [(0.41, "about 2 in 5"), (0.5, "about 1 in 2"), (0.3, "about 3 in 10"),
     (0.02, "fewer than 1 in 20"), (0.97, "more than 19 in 20"), (0.18, "about 1 in 6")],
)  # fmt: skip
def test_probabilities_in_words(probability, words):
    assert in_words(probability) == words


@pytest.mark.parametrize(
    ("interval", "words"),
    [([0.35, 0.48], "between 35% and 48%"), ((0.401, 0.404), "about 40%"), (None, None)],
)
def test_intervals_in_words(interval, words):
    assert interval_in_words(interval) == words


def _stored(trained, body) -> StoredAssessment:
    request = AssessmentRequest.model_validate(body)
    response = assess(trained.model, request, model_name="dropout-risk", model_version="7")
    return StoredAssessment(
        assessment_id=response.assessment_id,
        created_at=datetime(2026, 3, 9, 14, 30, tzinfo=UTC),
        client_id=response.client_id,
        as_of_session=response.as_of_session,
        model_name="dropout-risk",
        model_version="7",
        input_sha256="0" * 64,
        request=request.model_dump(mode="json"),
        response=response.model_dump(mode="json"),
    )


@pytest.fixture
def five_sessions(example_request):
    """Five sessions: PHQ-9 and GAD-7 not improving, a WAI rupture at 3, session 4 missed."""
    wai = [4.2, 4.1, 3.4, None, 3.5]
    srs = [37, 36, 31, None, 33]
    phq = [18, 18, 19, None, 18]
    sessions = []
    for number in range(1, 6):
        attended = number != 4
        session = {"session_number": number, "session_date": f"2026-03-{number + 1:02d}",
                   "attended": attended}  # fmt: skip
        if attended:
            session |= {"wai_client": wai[number - 1], "srs": srs[number - 1],
                        "phq9": phq[number - 1], "wai_therapist": 4.0}  # fmt: skip
        sessions.append(session)
    example_request["sessions"] = sessions
    return example_request


def test_the_view_states_both_risks_with_factors_and_signals(trained, five_sessions):
    stored = _stored(trained, five_sessions)
    view = report_view(stored)
    dropout, poor = view.risks
    assert dropout.percent == round(stored.response["dropout"]["probability"] * 100)
    assert dropout.average_percent == round(trained.model.dropout.base_rate * 100)
    assert [f.text for f in dropout.factors] == [
        f["text"] for f in stored.response["dropout"]["factors"]
    ]
    assert max(f.width for f in dropout.factors) == 100
    low, high = (round(end * 100) for end in stored.response["dropout"]["probability_interval"])
    assert low <= dropout.percent <= high
    assert dropout.interval in (f"between {low}% and {high}%", f"about {low}%")
    assert dropout.interval in report_page(view, model_card_url="/models/7/card")
    assert "srs_below_cutoff" in {s["code"] for s in view.signals}  # latest SRS 33 < 36
    assert view.suggestions  # each signal brings a suggestion, worded as an option


def test_charts_draw_a_point_per_attended_session_and_mark_what_happened(trained, five_sessions):
    view = report_view(_stored(trained, five_sessions))
    (phq,) = view.symptom_charts
    assert len(re.findall(r'class="point"', phq.svg)) == 4  # sessions 1, 2, 3, 5
    assert 'class="expected-band"' in phq.svg and 'class="cutoff"' in phq.svg
    assert '<g class="missed" data-session="4">' in phq.svg
    wai, srs = view.alliance_charts
    assert len(re.findall(r'class="point"', wai.svg)) == 8  # client and therapist, 4 each
    assert '<g class="rupture" data-session="3">' in wai.svg  # 4.1 -> 3.4
    assert '<g class="rupture" data-session="3">' in srs.svg  # 36 -> 31
    assert "cut-off 36" in srs.svg
    for chart in (phq, wai, srs):
        assert re.search(r"<title id=[^>]+>.+</title>", chart.svg)
        assert re.search(r"<desc id=[^>]+>.*session 1.*</desc>", chart.svg, re.S)


def test_the_page_escapes_what_it_prints(trained, five_sessions):
    stored = _stored(trained, five_sessions)
    stored.response["signals"].append({"code": "x", "text": "<script>alert(1)</script>"})
    html = report_page(report_view(stored), model_card_url="/models/7/card")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Decision support" in html or "decision support" in html


def test_the_model_card_page_renders_markdown_without_raw_html():
    card = "# Card\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<b>x</b>"
    html = model_card_page(name="dropout-risk", version="7", card_markdown=card)
    assert "<h1>Card</h1>" in html and "<table>" in html
    assert "<b>x</b>" not in html
