"""The feature function: values, missing stays missing, one implementation for every path."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from features.contract import validate_extract
from features.engineering import (
    FEATURE_INDEX,
    FEATURE_NAMES,
    FEATURES,
    compute_features,
    monotone_constraints,
)
from features.history import HistoryBatch
from features.landmarks import build_landmarks, landmark_points


@pytest.fixture
def landmarks(clients, sessions):
    report = validate_extract(clients, sessions)
    return build_landmarks(report.clients, report.sessions, max_landmark=5)


def _row(landmarks, client_id, k):
    examples = landmarks.examples
    index = np.flatnonzero((examples["client_id"] == client_id) & (examples["as_of_session"] == k))
    features = compute_features(landmarks.history.take(index))
    return dict(zip(FEATURE_NAMES, features[0], strict=True))


def test_hand_worked_values(landmarks):
    c1 = _row(landmarks, "c1", 4)
    assert c1["phq9_first"] == 18 and c1["phq9_latest"] == 9
    assert c1["phq9_improvement"] == 9  # falls are improvements for PHQ-9
    assert c1["phq9_slope"] == pytest.approx(3.0)  # 3 points better per session
    assert c1["gad7_latest"] == 7 and c1["gad7_improvement"] == 5
    assert c1["srs_below_cutoff"] == 0 and c1["srs_worst"] == 35
    assert c1["days_since_intake"] == 21 and c1["mean_days_between_sessions"] == 7
    assert c1["missed_sessions"] == 0 and c1["as_of_session"] == 4
    c2 = _row(landmarks, "c2", 3)
    assert c2["missed_sessions"] == 1 and c2["latest_missed"] == 1
    assert c2["missed_share"] == pytest.approx(1 / 3)
    assert c2["wai_therapist_drop_from_previous"] == pytest.approx(0.5)
    assert c2["wai_therapist_rupture_unrepaired"] == 1
    assert c2["wai_therapist_rupture_repaired"] == 0
    assert c2["oq45_improvement"] == -3  # OQ-45.2 rose by 3: worse
    assert c2["gender_male"] == 1 and c2["concern_anxiety"] == 1 and c2["age"] == 22


def test_missing_stays_missing_never_zero(landmarks):
    c3 = _row(landmarks, "c3", 1)
    for name in ("phq9_latest", "wai_therapist_latest", "srs_below_cutoff", "ors_improvement"):
        assert np.isnan(c3[name]), name
    c2 = _row(landmarks, "c2", 1)
    assert np.isnan(c2["prior_treatment"])  # not recorded in the extract


def test_repaired_rupture():
    history = HistoryBatch.from_records(
        {"client_id": "r", "intake_date": _day(0), "age": 30, "gender": "female",
         "primary_concern": "depression", "prior_treatment": None},
        [
            {"session_number": n, "session_date": _day(7 * n), "attended": True, "wai_client": w}
            for n, w in ((1, 4.2), (2, 3.4), (3, 4.1))
        ],
        as_of_session=3, window=5,
    )  # fmt: skip
    row = compute_features(history)[0]
    assert row[FEATURE_INDEX["wai_client_largest_drop"]] == pytest.approx(0.8)
    assert row[FEATURE_INDEX["wai_client_rupture_repaired"]] == 1
    assert row[FEATURE_INDEX["wai_client_rupture_unrepaired"]] == 0


def test_measures_never_recorded_give_nan_without_a_warning():
    # Threads featurise at once (training.featurise), so the feature function may not
    # rely on the process-wide warning filters to hide all-missing slices.
    history = HistoryBatch.from_records(
        {"client_id": "n", "intake_date": _day(0), "age": 30, "gender": "female",
         "primary_concern": "depression", "prior_treatment": None},
        [{"session_number": n, "session_date": _day(7 * n), "attended": n != 2}
         for n in (1, 2, 3)],
        as_of_session=3, window=5,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        row = compute_features(history)[0]
    for name in ("phq9_mean", "phq9_slope", "wai_client_largest_drop", "symptoms_off_track"):
        assert np.isnan(row[FEATURE_INDEX[name]]), name
    assert row[FEATURE_INDEX["missed_sessions"]] == 1


def _day(offset):
    from datetime import date, timedelta

    return date(2026, 1, 5) + timedelta(days=offset)


def test_same_features_in_training_batch_and_request(cohort):
    """One client history gives the same features on all three paths."""
    clients, sessions = cohort
    some = clients["client_id"].iloc[:60]
    client_rows = clients[clients["client_id"].isin(some)]
    session_rows = sessions[sessions["client_id"].isin(some)]
    training = build_landmarks(clients, sessions, max_landmark=5)  # whole extract
    pick = training.examples["client_id"].isin(some).to_numpy()
    training_features = compute_features(training.history.take(np.flatnonzero(pick)))

    points = landmark_points(session_rows, max_landmark=5)
    batch = compute_features(HistoryBatch.from_tables(client_rows, session_rows, points, window=5))

    request = []
    for client_id, k in points.itertuples(index=False, name=None):
        client = _record(client_rows[client_rows["client_id"] == client_id].iloc[0])
        history = [
            _record(s) for _, s in session_rows[session_rows["client_id"] == client_id].iterrows()
        ]
        single = HistoryBatch.from_records(client, history, as_of_session=k, window=5)
        request.append(compute_features(single)[0])
    np.testing.assert_array_equal(training_features, batch)
    np.testing.assert_allclose(batch, np.array(request), rtol=0, atol=1e-12)


def _record(row):
    import pandas as pd

    record = {}
    for key, value in row.items():
        if isinstance(value, pd.Timestamp):
            value = value.date()
        missing = value is pd.NA or (isinstance(value, float) and np.isnan(value))
        record[key] = None if missing else value
    return record


def test_constraints_cover_every_feature_and_follow_the_clinic():
    for outcome in ("dropout", "poor_outcome"):
        assert len(monotone_constraints(outcome)) == len(FEATURES)
    by_name = {f.name: f for f in FEATURES}
    assert by_name["wai_client_latest"].dropout == -1
    assert by_name["missed_sessions"].dropout == 1
    assert by_name["phq9_improvement"].poor_outcome == -1
    with pytest.raises(ValueError, match="unknown outcome"):
        monotone_constraints("relapse")
