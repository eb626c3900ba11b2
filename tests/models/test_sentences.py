"""Which part of a concept a sentence describes: the part that carries the effect."""

from __future__ import annotations

from datetime import date

import pytest

from features.engineering import compute_features
from features.history import HistoryBatch
from models.sentence_inputs import ClientHistory
from models.sentences import ConceptEffects, describe


@pytest.fixture
def srs_fell_sharply():
    """Session Rating Scale 39 at session 1, 35 at session 2: below the 36 cut-off, a fall
    of 4 (a change worth naming) and a rupture (3 points or more from one to the next)."""
    client = {
        "client_id": "c1",
        "intake_date": date(2026, 1, 5),
        "age": 34,
        "gender": "female",
        "primary_concern": "depression",
        "prior_treatment": False,
    }
    sessions = [
        {"session_number": n, "session_date": date(2026, 1, 5 + 7 * n), "attended": True,
         "srs": srs}
        for n, srs in ((1, 39.0), (2, 35.0))
    ]  # fmt: skip
    history = HistoryBatch.from_records(client, sessions, as_of_session=2, window=12)
    return compute_features(history)[0], ClientHistory.each(history)[0]


@pytest.mark.parametrize(
    ("effects", "expected"),
    [
        # The rupture carries most of a raised risk: it is named, not the level.
        (
            {"srs_largest_drop": 0.05, "srs_improvement": 0.02, "srs_latest": -0.01},
            "Session Rating Scale fell sharply from 39.0 to 35.0 at session 2 and has not "
            "recovered (an alliance rupture)",
        ),
        # The change carries most: the fall is named.
        (
            {"srs_largest_drop": 0.02, "srs_improvement": 0.05, "srs_latest": -0.01},
            "Session Rating Scale fell from 39.0 to 35.0 (session 1 to 2)",
        ),
        # Only the level raises the risk: the cut-off is named, with the fall beside it.
        (
            {"srs_largest_drop": -0.01, "srs_improvement": -0.01, "srs_latest": 0.05},
            "Session Rating Scale is 35.0 at session 2, below the 36 cut-off "
            "(down from 39.0 at session 1)",
        ),
    ],
)
def test_the_part_of_the_alliance_that_carries_the_effect_is_described(
    srs_fell_sharply, effects, expected
):
    row, client = srs_fell_sharply
    within = ConceptEffects(concept="session_feedback", effects=effects)
    statement, _ = describe(within, row, client, outcome="dropout")
    assert statement == expected
