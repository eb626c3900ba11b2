"""What a clinician reads, checked as a clinician would: crafted clients, sentence by sentence.

Every factor of every answer is read against the sign of its effect: a sentence that says
the client got better (the alliance rose, symptoms improved, every appointment attended)
must not raise the risk unless it also names what does ("is low at", "less than expected"),
and the other way round. No factor names a measure the client never had, no measure is
said to have one score when it has none, and numbers are grammatical.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from features.history import HistoryBatch
from features.instruments import INSTRUMENTS, MEASURE_COLUMNS
from models.explanations import TOO_LITTLE_WARNING

#: Words that report good news (would lower a risk) ...
GOOD_NEWS = (
    "improved:",
    " rose from",
    "is high at",
    "up from",
    "Attended all",
    "Attended the first",
    "at or above the",
    "outside the clinical range",
    "recovered after a sharp fall",
    "No alliance rupture",
    "improved reliably",
    "milder than for most clients",
    "higher than for most clients",  # only said of alliance measures (higher is better)
)
#: ... and words that report bad news (would raise one).
BAD_NEWS = (
    "is low at",
    " fell from",
    "down from",
    "fell sharply",
    "below the 36",
    "in the clinical range",
    "in the severe range",
    "started in the",
    "worsened",
    "has not improved",
    "less than expected",
    "Missed",
    "stop coming",
    "more severe than for most clients",
    "lower than for most clients",  # only said of alliance measures
)

START = date(2026, 3, 2)


def _client(sessions: list[dict], **client) -> tuple[dict, list[dict]]:
    row = {
        "client_id": "crafted",
        "clinic_id": "north",
        "therapist_id": "t-1",
        "intake_date": START,
        "age": 34,
        "gender": "female",
        "primary_concern": "depression",
        "prior_treatment": False,
    } | client
    dated = [
        {"session_number": i + 1, "session_date": START + timedelta(days=7 * i), "attended": True}
        | s
        for i, s in enumerate(sessions)
    ]
    return row, dated


def _series(**scores: list) -> list[dict]:
    count = max(len(v) for v in scores.values())
    return [
        {m: v[i] for m, v in scores.items() if i < len(v) and v[i] is not None}
        for i in range(count)
    ]


CRAFTED = {
    "low but rising alliance": _client(
        _series(wai_client=[1.2, 1.4, 1.6, 1.9], phq9=[18, 17, 17, 16], gad7=[12, 12, 11, 11])
    ),
    "high but falling alliance": _client(
        _series(wai_client=[4.8, 4.6, 4.4, 4.2], phq9=[14, 12, 10, 9], gad7=[10, 9, 8, 7])
    ),
    "severe and improving": _client(
        _series(phq9=[26, 22, 18, 14], gad7=[20, 16, 13, 10], wai_client=[3.8, 4.0, 4.1, 4.2])
    ),
    "minimal and stable": _client(
        _series(phq9=[2, 2, 3, 2], gad7=[1, 1, 1, 1], wai_client=[4.2, 4.3, 4.2, 4.3])
    ),
    "maximum severity, no change": _client(
        _series(phq9=[27, 27, 27, 27], gad7=[21, 21, 21, 21], wai_client=[3.9, 3.9, 3.9, 3.9])
    ),
    "no measures at all": _client([{}, {}]),
    "item 9 endorsed": _client(
        _series(phq9=[19, 20], gad7=[14, 15], phq9_item9=[1, 2], wai_client=[3.9, 3.8])
    ),
    "missed the latest session": _client(
        [*_series(phq9=[16, 15, 14], gad7=[12, 11, 10], wai_client=[3.6, 3.7, 3.6]), {}]
    ),
    "PCOMS, session rating falling": _client(
        _series(ors=[14.0, 15.5, 16.0, 17.0], srs=[38.5, 37.0, 33.5, 31.0])
    ),
    "OQ-45.2 with a rupture repaired": _client(
        _series(
            oq45=[92, 88, 84, 80, 75],
            wai_client=[4.0, 3.9, 2.9, 3.9, 4.0],
            wai_therapist=[3.8, 3.8, 3.4, 3.7, 3.8],
        )  # fmt: skip
    ),
    "one PHQ-9 score only": _client(_series(phq9=[17], gad7=[None])),
}
# The missed session carries no scores.
CRAFTED["missed the latest session"][1][-1]["attended"] = False


def _assess(model, name: str):
    client, sessions = CRAFTED[name]
    history = HistoryBatch.from_records(
        client,
        sessions,
        as_of_session=min(len(sessions), model.max_landmark),
        window=model.max_landmark,
    )
    (assessment,) = model.assess(history, factors=20)
    return assessment, history


def _recorded(history: HistoryBatch) -> dict[str, int]:
    return {
        column: int((~np.isnan(history.measures[0, :, m])).sum())
        for m, column in enumerate(MEASURE_COLUMNS)
    }


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_every_factor_says_what_its_effect_says(trained, name):
    assessment, history = _assess(trained.model, name)
    recorded = _recorded(history)
    for outcome in (assessment.dropout, assessment.poor_outcome):
        for factor in outcome.factors:
            text = factor.text
            good = [w for w in GOOD_NEWS if w in text]
            bad = [w for w in BAD_NEWS if w in text]
            if factor.direction == "raises":
                assert not good or bad, f"good news raises the risk without a reason: {text}"
            else:
                assert not bad or good, f"bad news lowers the risk without a reason: {text}"
            for column, count in recorded.items():
                label = INSTRUMENTS[column].label
                if count == 0:
                    assert label not in text, f"names a measure never recorded: {text}"
                if f"one {label} score" in text or f"Only one {label}" in text:
                    assert count == 1, text
            assert "not recorded" not in text
            assert "about 1 points" not in text and "about 0 points" not in text


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_the_explanation_with_its_gaps_sums_to_the_score(trained, name):
    assessment, _ = _assess(trained.model, name)
    for outcome in (assessment.dropout, assessment.poor_outcome):
        total = (
            outcome.base_probability
            + sum(outcome.concept_effects.values())
            + outcome.data_gap_effect
        )
        assert total == pytest.approx(outcome.probability, abs=1e-9)


def test_a_client_with_no_measure_is_scored_with_a_warning_and_every_gap_named(trained):
    assessment, _ = _assess(trained.model, "no measures at all")
    assert TOO_LITTLE_WARNING in assessment.warnings
    assert set(assessment.data_gaps) >= {i.label for i in INSTRUMENTS.values()}
    for outcome in (assessment.dropout, assessment.poor_outcome):
        assert all(f.feature not in ("client_alliance", "symptom_level") for f in outcome.factors)


def test_an_endorsed_self_harm_item_is_the_first_signal(trained):
    assessment, _ = _assess(trained.model, "item 9 endorsed")
    first = assessment.signals[0]
    assert first.code == "self_harm_item_endorsed"
    assert "risk protocol today" in first.text and "answered 2" in first.text
    assert 0 < assessment.dropout.probability < 1  # the score is there, beside it


def test_severity_signals_name_their_cut_offs(trained):
    assessment, _ = _assess(trained.model, "maximum severity, no change")
    codes = [s.code for s in assessment.signals]
    assert "severe_symptoms" in codes
    severe = next(s for s in assessment.signals if s.code == "severe_symptoms")
    assert "20 or more" in severe.text and "15 or more" in severe.text


def test_the_poor_outcome_is_named_by_where_the_client_started(trained):
    severe, _ = _assess(trained.model, "maximum severity, no change")
    minimal, _ = _assess(trained.model, "minimal and stable")
    assert severe.poor_outcome.outcome == "no reliable recovery"
    assert minimal.poor_outcome.outcome == "reliable deterioration"
    for factor in minimal.poor_outcome.factors:
        assert "risk of reliable deterioration" in factor.text


def test_maximum_severity_without_change_is_a_higher_poor_outcome_risk_than_minimal_stable(
    trained,
):
    severe, _ = _assess(trained.model, "maximum severity, no change")
    minimal, _ = _assess(trained.model, "minimal and stable")
    assert severe.poor_outcome.probability > minimal.poor_outcome.probability + 0.2


def test_a_missed_latest_session_is_named_and_raises_dropout_risk(trained):
    assessment, _ = _assess(trained.model, "missed the latest session")
    attendance = next(f for f in assessment.dropout.factors if f.feature == "attendance")
    assert attendance.direction == "raises"
    assert "Missed the latest appointment (session 4)" in attendance.text


@pytest.mark.parametrize("measure", ["phq9", "gad7", "oq45", "ors"])
def test_a_score_on_the_healthy_side_is_named_outside_the_range_whichever_way_it_runs(measure):
    from models.sentences import _range_words

    instrument = INSTRUMENTS[measure]
    step = 1 if instrument.higher_is_better else -1
    words, news = _range_words(instrument, instrument.clinical_cutoff + step)
    assert words.startswith("outside the clinical range") and news < 0, words
    assert ("or more" in words) == instrument.higher_is_better, words
