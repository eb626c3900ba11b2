"""The request models enforce the contract; per-request scoring equals batch scoring."""

from __future__ import annotations

import copy
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from models.batch import score_extract
from service.schemas import AssessmentRequest
from service.scoring import assess

EXAMPLE = AssessmentRequest.model_config["json_schema_extra"]["examples"][0]


def _request(**changes) -> dict:
    body = copy.deepcopy(EXAMPLE)
    for path, value in changes.items():
        target = body
        *parents, last = path.split(".")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value
    return body


def test_the_api_example_is_valid_and_scores(trained):
    response = assess(
        trained.model, AssessmentRequest.model_validate(EXAMPLE), model_name="m", model_version="1"
    )
    assert response.as_of_session == 2 and response.warnings == []
    assert 0 < response.dropout.probability < 1
    assert response.dropout.risk_level in ("low", "moderate", "high")
    assert response.dropout.factors and response.dropout.factors[0].text.endswith(".")
    assert {s.code for s in response.signals} >= {"srs_below_cutoff", "missed_appointments"}


@pytest.mark.parametrize(
    ("changes", "location"),
    [
        ({"client.age": 12}, ("client", "age")),
        ({"client.gender": "woman"}, ("client", "gender")),
        ({"client.client_id": ""}, ("client", "client_id")),
        ({"sessions.0.srs": 41}, ("sessions", 0, "srs")),
        ({"sessions.0.phq9": 12.5}, ("sessions", 0, "phq9")),
        ({"sessions.0.wai_client": float("nan")}, ("sessions", 0, "wai_client")),
        ({"sessions.1.gad7": 5}, ("sessions", 1)),
        ({"sessions.0.mood": 3}, ("sessions", 0, "mood")),
        ({"sessions.1.session_number": 3}, ()),
        ({"sessions.1.session_date": "2026-03-01"}, ()),
    ],
)
def test_contract_breaking_requests_name_the_field(changes, location):
    with pytest.raises(ValidationError) as raised:
        AssessmentRequest.model_validate(_request(**changes))
    locations = [tuple(error["loc"]) for error in raised.value.errors()]
    assert any(loc[: len(location)] == location for loc in locations), locations


def test_more_sessions_than_landmarks_score_at_the_last_with_a_warning(trained):
    landmarks = trained.model.max_landmark
    first = date(2026, 3, 2)  # the example's intake
    sessions = [
        {
            "session_number": n,
            "session_date": (first + timedelta(weeks=n - 1)).isoformat(),
            "attended": True,
            "phq9": max(27 - n, 0),
        }
        for n in range(1, landmarks + 3)
    ]
    request = AssessmentRequest.model_validate(_request(sessions=sessions))
    response = assess(trained.model, request, model_name="m", model_version="1")
    assert response.as_of_session == landmarks
    assert f"as of session {landmarks}" in response.warnings[0]


def test_per_request_scoring_equals_batch_scoring(trained, cohort):
    clients, sessions = cohort
    some = clients["client_id"].iloc[:25]
    client_rows = clients[clients["client_id"].isin(some)]
    session_rows = sessions[sessions["client_id"].isin(some)]
    batch = score_extract(trained.model, client_rows, session_rows)
    for client_id, k, probability in batch[
        ["client_id", "as_of_session", "dropout_probability"]
    ].itertuples(index=False, name=None):
        client = client_rows[client_rows["client_id"] == client_id].iloc[0]
        history = session_rows[
            (session_rows["client_id"] == client_id) & (session_rows["session_number"] <= k)
        ]
        body = {
            "client": {key: _plain(client[key]) for key in EXAMPLE["client"]},
            "sessions": [
                {key: _plain(value) for key, value in row.items() if key != "client_id"}
                for row in history.to_dict("records")
            ],
        }
        response = assess(
            trained.model,
            AssessmentRequest.model_validate(body),
            model_name="m",
            model_version="1",
        )
        assert response.dropout.probability == pytest.approx(probability, abs=1e-4)


def _plain(value):
    if isinstance(value, pd.Timestamp):
        return value.date()
    if value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


@pytest.mark.parametrize(
    "path", ["probability_interval.1", "factors.0.effect", "explanation.concepts.attendance"]
)
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_an_answer_holding_a_non_finite_number_is_refused_when_built(trained, path, value):
    """The answer's own JSON is what is sent and stored: pydantic would write NaN as null,
    so a non-finite number must fail the answer, not reach the clinic or the audit."""
    from service.schemas import OutcomeRiskOut

    answer = assess(
        trained.model, AssessmentRequest.model_validate(EXAMPLE), model_name="m", model_version="1"
    )
    dropout = answer.dropout.model_dump()
    target = dropout
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if isinstance(target, tuple):
        target = dropout[parents[0]] = list(target)
    target[int(last) if last.isdigit() else last] = value
    OutcomeRiskOut.model_validate(answer.dropout.model_dump())  # as built, it is valid
    with pytest.raises(ValidationError, match="finite"):
        OutcomeRiskOut.model_validate(dropout)
