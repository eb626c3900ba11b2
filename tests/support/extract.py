"""A small, hand-written, contract-valid extract, as CSV text would be read."""

from __future__ import annotations

import pandas as pd

from features.instruments import MEASURE_COLUMNS


def make_clients() -> pd.DataFrame:
    """Three episodes: a completer, a dropout and an ongoing client, as CSV text would be."""
    return pd.DataFrame(
        {
            "client_id": ["c1", "c2", "c3"],
            "clinic_id": ["north", "north", "south"],
            "therapist_id": ["t1", "t2", "t3"],
            "intake_date": ["2026-01-05", "2026-01-12", "2026-02-02"],
            "age": ["34", "22", "61"],
            "gender": ["female", "male", "nonbinary"],
            "primary_concern": ["depression", "anxiety", "other"],
            "prior_treatment": ["false", None, "true"],
            "termination": ["completed", "dropout", "ongoing"],
            "end_date": ["2026-02-20", "2026-02-02", None],
        }
    )


def make_sessions() -> pd.DataFrame:
    """Sessions of :func:`make_clients`: c1 four, c2 three (the last missed), c3 two."""
    rows = [
        ("c1", 1, "2026-01-05", True, {"wai_client": 3.9, "srs": 35.0, "phq9": 18, "gad7": 12}),
        ("c1", 2, "2026-01-12", True, {"wai_client": 4.2, "srs": 37.5, "phq9": 15, "gad7": 11}),
        ("c1", 3, "2026-01-19", True, {"wai_client": 4.4, "srs": 38.0, "phq9": 12}),
        ("c1", 4, "2026-01-26", True, {"wai_client": 4.5, "srs": 39.0, "phq9": 9, "gad7": 7}),
        ("c2", 1, "2026-01-12", True, {"wai_therapist": 3.1, "ors": 14.0, "oq45": 96}),
        ("c2", 2, "2026-01-19", True, {"wai_therapist": 2.6, "ors": 13.5, "oq45": 99}),
        ("c2", 3, "2026-01-26", False, {}),
        ("c3", 1, "2026-02-02", True, {"wai_client": 4.0, "ors": 20.0}),
        ("c3", 2, "2026-02-09", True, {"wai_client": 4.1, "ors": 22.5}),
    ]
    records = [
        {
            "client_id": client_id,
            "session_number": str(number),
            "session_date": day,
            "attended": "true" if attended else "false",
            **{m: (None if m not in measures else str(measures[m])) for m in MEASURE_COLUMNS},
        }
        for client_id, number, day, attended, measures in rows
    ]
    return pd.DataFrame(records)
