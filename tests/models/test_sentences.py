"""Which part of a concept a sentence describes: the part that carries the effect."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from features.engineering import FEATURE_NAMES, compute_features
from features.history import HistoryBatch
from models.sentence_inputs import ClientHistory
from models.sentences import ASPECTS, ConceptEffects, describe


def _srs_client(scores: tuple[float, ...]):
    """A client's feature row and history with these Session Rating Scale scores."""
    client = {
        "client_id": "c1",
        "intake_date": date(2026, 1, 5),
        "age": 34,
        "gender": "female",
        "primary_concern": "depression",
        "prior_treatment": False,
    }
    sessions = [
        {"session_number": n, "session_date": date(2026, 1 + n, 5), "attended": True,
         "srs": srs}
        for n, srs in enumerate(scores, start=1)
    ]  # fmt: skip
    history = HistoryBatch.from_records(client, sessions, as_of_session=len(scores), window=12)
    return compute_features(history)[0], ClientHistory.each(history)[0]


@pytest.fixture
def srs_fell_sharply():
    """Session Rating Scale 39 at session 1, 35 at session 2: below the 36 cut-off, a fall
    of 4 (a change worth naming) and a rupture (3 points or more from one to the next)."""
    return _srs_client((39.0, 35.0))


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


def test_of_two_equal_sharp_falls_the_first_is_named():
    row, client = _srs_client((40.0, 36.0, 36.0, 32.0))
    within = ConceptEffects(concept="session_feedback", effects={"srs_largest_drop": 0.05})
    statement, _ = describe(within, row, client, outcome="dropout")
    assert statement == (
        "Session Rating Scale fell sharply from 40.0 to 36.0 at session 2 and has not "
        "recovered (an alliance rupture)"
    )


@given(
    effects=st.dictionaries(
        st.sampled_from(FEATURE_NAMES), st.floats(-1, 1, allow_nan=False), max_size=12
    )
)
def test_each_aspects_total_in_one_pass_is_its_total_summed_alone(effects):
    within = ConceptEffects(concept="any", effects=effects)
    totals = within.by_aspect()
    for aspect in set(ASPECTS.values()):
        assert float(totals.get(aspect, 0)) == within.of(aspect=aspect)
