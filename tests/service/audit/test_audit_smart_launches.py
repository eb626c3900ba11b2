"""The SMART launches under way (single use, short-lived) and the lookup of a patient's
latest assessment, on each backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.audit.smart_launches import PendingLaunch

ISS = "https://ehr.example.org/fhir"


def _begin(store, state: str, *, seconds: float = 600) -> None:
    store.smart_launches.begin(
        state=state,
        iss=ISS,
        code_verifier="v" * 86,
        expires_at=datetime.now(UTC) + timedelta(seconds=seconds),
    )


def test_a_launch_is_taken_once(store):
    _begin(store, "s-1")
    _begin(store, "s-2")
    assert store.smart_launches.take("s-1") == PendingLaunch(iss=ISS, code_verifier="v" * 86)
    assert store.smart_launches.take("s-1") is None  # a replay
    assert store.smart_launches.take("never-stored") is None
    assert store.smart_launches.take("s-2") is not None


def test_an_expired_launch_is_not_taken_and_is_dropped(store):
    _begin(store, "old", seconds=-1)
    assert store.smart_launches.take("old") is None
    _begin(store, "old-too", seconds=-1)
    _begin(store, "new")  # storing a launch drops the expired ones
    assert store.smart_launches.take("old-too") is None


def test_a_naive_expiry_is_refused(store):
    with pytest.raises(ValueError, match="timezone-aware"):
        store.smart_launches.begin(
            state="s", iss=ISS, code_verifier="v", expires_at=datetime(2030, 1, 1)
        )


def test_the_latest_assessment_of_a_client_in_some_clinics(store, assess):
    assess(store, client_id="c-1")
    latest = assess(store, client_id="c-1")
    assess(store, client_id="c-2")
    found = store.latest_assessment_id(client_id="c-1", clinics=frozenset({"north"}))
    assert found == latest.assessment_id
    assert store.latest_assessment_id(client_id="c-1", clinics=frozenset({"south"})) is None
    assert store.latest_assessment_id(client_id="c-9", clinics=frozenset({"north"})) is None
