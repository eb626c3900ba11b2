"""What the sentences read: one client's values and the reference profile, read once, must be
exactly what reading the numpy arrays gives (the sentences are built from them)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from features.history import HistoryBatch
from features.instruments import MEASURE_COLUMNS
from models.profile import Binned, decile_edges
from models.sentence_inputs import ClientHistory, ReferenceProfile

_WINDOW = 6
_SCORE = st.one_of(st.just(np.nan), st.floats(0, 60, allow_nan=False))


@st.composite
def _histories(draw: st.DrawFn) -> HistoryBatch:
    n = draw(st.integers(1, 4))
    measures = draw(hnp.arrays(float, (n, _WINDOW, len(MEASURE_COLUMNS)), elements=_SCORE))
    attended = draw(hnp.arrays(float, (n, _WINDOW), elements=st.sampled_from([0.0, 1.0, np.nan])))
    return HistoryBatch(
        client_id=np.array([f"c{i}" for i in range(n)], dtype=object),
        as_of_session=np.array(draw(st.lists(st.integers(1, _WINDOW), min_size=n, max_size=n))),
        age=np.array(draw(st.lists(st.floats(18, 90), min_size=n, max_size=n))),
        gender=np.array(["female", "male", "other", "female"][:n], dtype=object),
        primary_concern=np.array(["depression", "anxiety", "other", "trauma"][:n], dtype=object),
        prior_treatment=np.array([1.0, 0.0, np.nan, 1.0][:n]),
        session_day=np.full((n, _WINDOW), np.nan),
        attended=attended,
        measures=measures,
        self_harm_item=np.full((n, _WINDOW), np.nan),
    )


@settings(max_examples=60, deadline=None)
@given(history=_histories())
def test_a_clients_values_are_those_of_its_row_of_the_batch(history):
    clients = ClientHistory.each(history)
    assert len(clients) == len(history)
    for row, client in enumerate(clients):
        assert client.as_of_session == history.as_of_session[row]
        assert client.age == history.age[row]
        assert client.gender == history.gender[row]
        assert client.primary_concern == history.primary_concern[row]
        assert np.array_equal(
            [client.prior_treatment], [history.prior_treatment[row]], equal_nan=True
        )
        assert client.missed_sessions() == list(np.flatnonzero(history.attended[row] == 0) + 1)
        ever = ~np.isnan(history.measures[row]).all(axis=0)
        recorded = [m for m, e in zip(MEASURE_COLUMNS, ever, strict=True) if e]
        assert client.recorded_measures() == recorded
        for column, measure in enumerate(MEASURE_COLUMNS):
            values = history.measures[row, :, column]
            sessions = np.flatnonzero(~np.isnan(values)) + 1
            scores, numbers = client.scores(measure)
            assert scores == values[sessions - 1].tolist()
            assert numbers == sessions.tolist()


def _standing_as_read_from_numpy(profile: dict, value: float) -> float | None:
    """The standing computed from the profile's arrays on every call, as it once was."""
    if not profile or not profile.get("edges"):
        return None
    shares = np.asarray(profile["shares"][:-1], dtype=float)
    if shares.sum() <= 0:
        return None
    index = int(np.searchsorted(np.asarray(profile["edges"]), value, side="right"))
    return float((shares[:index].sum() + shares[index] / 2) / shares.sum())


@settings(max_examples=80, deadline=None)
@given(
    population=hnp.arrays(float, st.integers(1, 200), elements=_SCORE),
    values=st.lists(st.floats(-5, 70, allow_nan=False), min_size=1, max_size=8),
)
def test_a_standing_equals_the_one_read_from_the_profiles_arrays(population, values):
    binned = Binned.of(population, edges=decile_edges(population)).to_dict()
    reference = ReferenceProfile({"features": {"phq9_latest": binned}})
    for value in values:
        # Exactly equal, not close: the words "low" and "high" are cut at a standing.
        assert reference.standing("phq9", value) == _standing_as_read_from_numpy(binned, value)


def test_without_a_profile_no_standing_is_known():
    assert ReferenceProfile(None).standing("phq9", 12.0) is None
    assert ReferenceProfile({"features": {}}).standing("phq9", 12.0) is None
    empty = {"features": {"phq9_latest": {"edges": [], "shares": [0.0, 1.0]}}}
    assert ReferenceProfile(empty).standing("phq9", 12.0) is None
    unrecorded = {"features": {"phq9_latest": {"edges": [5.0], "shares": [0.0, 0.0, 1.0]}}}
    assert ReferenceProfile(unrecorded).standing("phq9", 12.0) is None
